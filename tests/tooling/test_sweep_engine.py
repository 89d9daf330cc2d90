"""The sweep engine on a toy model: the same per-run results on every engine (serial, local
processes, a Dask LocalCluster on loopback), manifest and atomic run files, failures recorded
without stopping the sweep, interrupted and killed sweeps resumed without losing or duplicating a
run, a Dask scheduler that goes away (a clear stop, no false failures, resumed on a new scheduler or
locally), and refusals (another spec in the directory, another model version, a busy directory)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from experiments import load_results
from experiments.runner import _auto_chunk, _Backend, _drive, model_version, run_chunk
from experiments.store import DirLock
from experiments.sweep import EXIT_SCHEDULER_LOST, FAILURES, MANIFEST, RUNS, run_sweep
from experiments.sweepspec import parse_spec
from model.errors import InputError
from support.sweep_helpers import (PIN_MODEL_VERSION, TOY_INFO, toy_run, toy_run_crash_worker,
                                toy_run_failing, toy_run_interrupt, toy_spec_text)

ROOT = Path(__file__).resolve().parents[2]
TESTS = Path(__file__).resolve().parents[1]   # tests/, so support.* imports in child processes
VOLATILE = ["elapsed_s"]
#: the sweeps below give up on a lost scheduler after this long (Dask's connect timeout; 30 s by
#: default)
GRACE = "5s"


@pytest.fixture(autouse=True, scope="module")
def one_model_version():
    """Every process of these tests (scripts, pool and Dask workers) uses this process's model
    version, whatever is edited in model/ meanwhile (see support.sweep_helpers.PIN_MODEL_VERSION)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PIN_MODEL_VERSION, model_version())
        yield


def child_env() -> dict[str, str]:
    """The environment of the processes a test starts: the project and the toy models importable,
    the short grace period for a lost scheduler."""
    path = os.pathsep.join([str(ROOT), str(TESTS), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": GRACE}


def toy_spec(text: str | None = None, path: str = "toy.toml"):
    return parse_spec(tomllib.loads(text or toy_spec_text()), path=path)


def sweep(out: Path, spec=None, **kw):
    kw.setdefault("run_fn", toy_run)
    kw.setdefault("model_info", TOY_INFO)
    kw.setdefault("progress", False)
    kw.setdefault("log", lambda msg: None)
    return run_sweep(spec or toy_spec(), out, **kw)


def results(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs = load_results(out).drop(columns=VOLATILE)
    series = load_results(out, "series")
    return runs, series


def assert_same(a: Path, b: Path) -> None:
    ra, sa = results(a)
    rb, sb = results(b)
    pd.testing.assert_frame_equal(ra, rb)
    pd.testing.assert_frame_equal(sa, sb)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The toy grid sweep run serially, uninterrupted."""
    out = tmp_path_factory.mktemp("ref") / "sweep"
    res = sweep(out)
    assert res.complete and res.ran_now == 12 and not res.failed
    return out


def test_serial_sweep_writes_manifest_and_one_file_per_run(reference):
    manifest = json.loads((reference / MANIFEST).read_text())
    spec = toy_spec()
    assert manifest["spec_hash"] == spec.spec_hash()
    assert manifest["spec"] == spec.to_json()
    assert manifest["model_version"] == model_version()
    assert manifest["package_version"]
    assert len(manifest["runs"]) == 12
    assert {r["replicate"] for r in manifest["runs"]} == {0, 1}
    assert len({r["seed"] for r in manifest["runs"]}) == 12
    points = {(r["params"]["a"], round(r["params"]["b"], 12)) for r in manifest["runs"]}
    assert points == {(a, b) for a in (1.0, 3.0, 5.0) for b in (0.05, 0.5)}
    files = sorted(p.name for p in (reference / RUNS).iterdir())
    assert files == sorted(f"{r['run_id']}.parquet" for r in manifest["runs"])
    assert not list((reference / FAILURES).iterdir())
    runs, series = results(reference)
    assert list(runs.columns) == ["run_id", "sample", "replicate", "seed", "a", "b", "price_max",
                                  "late_volume", "status"]
    assert len(runs) == 12 and runs["status"].eq("ok").all()
    assert runs["price_max"].notna().all() and runs["late_volume"].notna().all()
    # 21 weekly rows per run (row 0 + 20 steps), long in time
    assert len(series) == 12 * 21
    assert list(series.columns) == ["run_id", "sample", "replicate", "seed", "a", "b", "step",
                                    "date", "price"]
    # the summary metric is the targets-file statistic of the kept series
    one = series[series["run_id"] == runs["run_id"][0]]
    window = one[(one["date"] >= "2023-01-01") & (one["date"] <= "2023-03-31")]
    assert runs["price_max"][0] == pytest.approx(window["price"].max())


def test_run_ids_hash_parameters_seed_and_version(reference):
    from experiments.sweep import make_run_id

    manifest = json.loads((reference / MANIFEST).read_text())
    r = manifest["runs"][0]
    overrides = {"c": 1.5, **r["params"]}
    assert make_run_id("toy", overrides, r["seed"], None, model_version()) == r["run_id"]
    assert make_run_id("toy", overrides, r["seed"] + 1, None, model_version()) != r["run_id"]
    assert make_run_id("toy", overrides, r["seed"], None, "other") != r["run_id"]
    assert len(r["run_id"]) == 16


def test_process_pool_gives_identical_results(reference, tmp_path):
    res = sweep(tmp_path / "p", workers=2, engine="processes")
    assert res.complete and res.ran_now == 12
    assert "2 local worker processes" in res.engine
    assert_same(reference, tmp_path / "p")


def test_dask_local_cluster_gives_identical_results(reference, tmp_path):
    res = sweep(tmp_path / "d", workers=2, engine="dask", chunk_size=5)
    assert res.complete and res.ran_now == 12
    assert "127.0.0.1" in res.engine
    assert_same(reference, tmp_path / "d")


def test_dask_scheduler_address(reference, tmp_path):
    """--scheduler: runs go to an existing cluster, which is left running afterwards."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        res = sweep(tmp_path / "s", scheduler=cluster.scheduler_address)
        assert res.complete and cluster.scheduler_address in res.engine
        with Client(cluster.scheduler_address) as client:  # still up
            assert len(client.nthreads()) == 1
        # a scheduler file (as `dask scheduler --scheduler-file` writes on HPC systems)
        sched = tmp_path / "scheduler.json"
        sched.write_text(json.dumps({"type": "Scheduler", "address": cluster.scheduler_address}))
        res = sweep(tmp_path / "f", scheduler=str(sched))
        assert res.complete and res.ran_now == 12
    assert_same(reference, tmp_path / "s")
    assert_same(reference, tmp_path / "f")


def test_rerun_skips_finished_runs(reference, tmp_path):
    out = tmp_path / "again"
    sweep(out)
    mtimes = {p: p.stat().st_mtime_ns for p in (out / RUNS).iterdir()}
    res = sweep(out)  # the same command again
    assert res.ran_now == 0 and res.complete
    assert {p: p.stat().st_mtime_ns for p in (out / RUNS).iterdir()} == mtimes
    res = sweep(out, resume=True)
    assert res.ran_now == 0


def test_failed_run_is_recorded_and_the_sweep_goes_on(reference, tmp_path):
    out = tmp_path / "fail"
    res = sweep(out, run_fn=toy_run_failing)
    # a = 3 fails: 2 values of b x 2 replications
    assert len(res.failed) == 4 and res.finished == 8 and not res.complete
    for rid in res.failed:
        data = json.loads((out / FAILURES / f"{rid}.json").read_text())
        assert data["params"]["a"] == 3.0
        assert "ValueError: toy model cannot handle a = 3" in data["error"]
        assert "Traceback" in data["traceback"] and "toy_run_failing" in data["traceback"]
        assert data["seed"] > 0 and data["run_id"] == rid
    table = load_results(out, include_failed=True)
    assert table["status"].value_counts().to_dict() == {"ok": 8, "failed": 4}
    assert table.loc[table["status"] == "failed", "a"].eq(3.0).all()
    from experiments.sweep import SweepResult, summary_text

    text = summary_text(res, json.loads((out / MANIFEST).read_text()))
    assert "4 failed" in text and all(rid in text for rid in res.failed)
    # once fixed, re-running the same sweep runs only the failed ones and clears their records
    res = sweep(out, run_fn=toy_run)
    assert res.ran_now == 4 and res.complete and not res.failed
    assert not list((out / FAILURES).iterdir())
    assert_same(reference, out)
    assert isinstance(res, SweepResult)


def test_skip_failed_leaves_failed_runs_alone(tmp_path):
    out = tmp_path / "skip"
    sweep(out, run_fn=toy_run_failing)
    res = sweep(out, run_fn=toy_run, retry_failed=False)
    assert res.ran_now == 0 and len(res.failed) == 4


def test_worker_crash_is_recorded_and_the_others_finish(tmp_path):
    text = toy_spec_text().replace("values = [1.0, 3.0, 5.0]", "values = [1.0, 7.0, 5.0]")
    res = sweep(tmp_path / "crash", toy_spec(text), run_fn=toy_run_crash_worker, workers=2,
                engine="processes", chunk_size=3)
    assert res.finished == 8
    assert len(res.failed) == 4
    for rid in res.failed:
        data = json.loads((tmp_path / "crash" / FAILURES / f"{rid}.json").read_text())
        assert data["params"]["a"] == 7.0
        assert "worker died" in data["error"] and "BrokenProcessPool" in data["error"]


def test_keyboard_interrupt_then_resume(reference, tmp_path, monkeypatch):
    out = tmp_path / "ctrl-c"
    monkeypatch.setenv("TOY_COUNTER", str(tmp_path / "counter"))
    monkeypatch.setenv("TOY_STOP_AFTER", "5")
    with pytest.raises(KeyboardInterrupt):
        sweep(out, run_fn=toy_run_interrupt)
    assert len(list((out / RUNS).iterdir())) == 5
    assert not list(out.rglob("*.tmp"))
    res = sweep(out)
    assert res.ran_now == 7 and res.complete
    assert len(list((out / RUNS).iterdir())) == 12
    assert_same(reference, out)


def _script(out: Path, engine: str, workers: int) -> str:
    return textwrap.dedent(f"""
        import sys, tomllib
        sys.path[:0] = [{str(ROOT)!r}, {str(TESTS)!r}]
        from experiments.sweep import run_sweep
        from experiments.sweepspec import parse_spec
        from support.sweep_helpers import TOY_INFO, toy_run_slow, toy_spec_text

        if __name__ == "__main__":
            spec = parse_spec(tomllib.loads(toy_spec_text()), path="toy.toml")
            run_sweep(spec, {str(out)!r}, run_fn=toy_run_slow, model_info=TOY_INFO,
                      engine={engine!r}, workers={workers}, progress=False, chunk_size=1)
    """)


def _start_and_stop(tmp_path: Path, out: Path, engine: str, workers: int, sig: int,
                    after: int) -> tuple[int, str]:
    script = tmp_path / f"run_{engine}.py"
    script.write_text(_script(out, engine, workers))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=child_env(), start_new_session=True)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            done = len(list((out / RUNS).glob("*.parquet"))) if (out / RUNS).is_dir() else 0
            if done >= after or proc.poll() is not None:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the sweep finished before it could be stopped"
        if sig == signal.SIGKILL:
            os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers, like `kill -9`
        else:
            os.kill(proc.pid, sig)  # Ctrl-C to the sweep process only
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, output.decode(errors="replace")


def test_killed_sweep_resumes_to_the_uninterrupted_result(reference, tmp_path):
    out = tmp_path / "killed"
    code, _ = _start_and_stop(tmp_path, out, "processes", 2, signal.SIGKILL, after=3)
    assert code == -signal.SIGKILL
    done_before = len(list((out / RUNS).glob("*.parquet")))
    assert 3 <= done_before < 12
    res = sweep(out)  # resume (serially: every engine gives the same runs)
    assert res.ran_now == 12 - done_before and res.complete
    assert sorted(p.name for p in (out / RUNS).iterdir()) == sorted(
        f"{r['run_id']}.parquet" for r in json.loads((out / MANIFEST).read_text())["runs"])
    assert_same(reference, out)


def test_sigint_sweep_stops_cleanly_and_resumes(reference, tmp_path):
    out = tmp_path / "sigint"
    code, output = _start_and_stop(tmp_path, out, "processes", 2, signal.SIGINT, after=4)
    assert code != 0
    assert "interrupted: run the same command again" in output, output
    done_before = len(list((out / RUNS).glob("*.parquet")))
    assert 4 <= done_before < 12
    assert not list(out.rglob("*.tmp"))
    res = sweep(out, workers=2, engine="processes")
    assert res.ran_now == 12 - done_before and res.complete
    assert_same(reference, out)


def test_another_spec_in_the_directory_is_refused(reference, tmp_path):
    other = toy_spec(toy_spec_text().replace("seed = 12345", "seed = 999"), path="other.toml")
    with pytest.raises(InputError, match="holds another sweep .* other.toml differs"):
        sweep(reference, other)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="exists and is not a sweep directory"):
        sweep(tmp_path / "junk")
    with pytest.raises(InputError, match="holds no sweep to resume"):
        sweep(tmp_path / "empty", resume=True)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InputError, match="is a file; expected a directory"):
        sweep(tmp_path / "afile")


def test_resume_without_spec_uses_the_manifest(reference, tmp_path):
    out = tmp_path / "nospec"
    sweep(out, run_fn=toy_run_failing)
    res = run_sweep(None, out, resume=True, run_fn=toy_run, progress=False, log=lambda m: None)
    assert res.complete and res.ran_now == 4
    assert_same(reference, out)


def test_another_model_version_is_refused(reference):
    with pytest.raises(InputError, match="was started with model version .* this is '9.9'"):
        sweep(reference, version="9.9")


def test_a_busy_directory_is_refused(tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    with DirLock(out):
        with pytest.raises(InputError, match="in use by another sweep"):
            sweep(out)


def test_series_as_pyarrow_dataset(reference):
    import pyarrow.dataset as ds

    dataset = load_results(reference, "series", dataset=True)
    assert isinstance(dataset, ds.Dataset)
    table = dataset.to_table(columns=["run_id", "step", "price"])
    assert table.num_rows == 12 * 21
    assert set(table.column("run_id").to_pylist()) == set(load_results(reference)["run_id"])


def test_bad_engine_arguments_are_refused(tmp_path):
    with pytest.raises(InputError, match="--workers 0"):
        sweep(tmp_path / "x", workers=0)
    with pytest.raises(InputError, match="--engine 'gpu'"):
        sweep(tmp_path / "x", engine="gpu")
    with pytest.raises(InputError, match="--scheduler .* cannot go with --engine processes"):
        sweep(tmp_path / "x", engine="processes", scheduler="tcp://127.0.0.1:1")
    with pytest.raises(InputError, match="--chunk-size 0"):
        sweep(tmp_path / "x", chunk_size=0)


def test_chunk_sizes_follow_run_time():
    assert _auto_chunk(None, 1000, 4, None) == 1           # nothing measured yet
    assert _auto_chunk(1.0, 1000, 4, None) == 3            # ~3 s of work per chunk
    assert _auto_chunk(0.001, 100_000, 4, None) == 500     # capped
    assert _auto_chunk(0.001, 40, 4, None) == 5            # two chunks per slot at the end
    assert _auto_chunk(0.001, 40, 4, 7) == 7               # --chunk-size wins


def test_full_disk_mid_sweep_then_resume(reference, tmp_path, monkeypatch):
    """A disk that fills up mid-sweep (simulated: the fifth run file gets half written, then
    ENOSPC) stops the sweep with the OS error, leaves no half-written run that looks finished, and
    re-running completes exactly the uninterrupted sweep."""
    import errno

    import pyarrow.parquet as pq

    real = pq.write_table
    calls = {"n": 0}

    def full_disk(table, where, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 4:
            where.write(b"PAR1 half a file")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(table, where, *args, **kwargs)

    out = tmp_path / "full"
    monkeypatch.setattr(pq, "write_table", full_disk)
    with pytest.raises(OSError) as err:
        sweep(out)
    assert err.value.errno == errno.ENOSPC
    assert len(list((out / RUNS).glob("*.parquet"))) == 4
    monkeypatch.setattr(pq, "write_table", real)
    res = sweep(out)
    assert res.complete and res.ran_now == 8 and not res.failed
    assert not list(out.rglob("*.tmp"))
    assert_same(reference, out)


# --------------------------------------------------------------------------------------------
# A Dask scheduler that goes away
# --------------------------------------------------------------------------------------------


def _runs_on_disk(out: Path) -> int:
    return len(list((out / RUNS).glob("*.parquet"))) if (out / RUNS).is_dir() else 0


def _wait_for(what: str, ready, timeout: float = 60.0):
    """Poll ``ready()`` until it returns something true; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (value := ready()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)
    return value


@contextmanager
def _children():
    """A list for the processes a test starts (each in its own session); at the end every one
    still running is killed with its process group, so no scheduler or worker outlives a test."""
    procs: list[subprocess.Popen] = []
    try:
        yield procs
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)


def _start(procs: list, args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as fh:
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=child_env(),
                                start_new_session=True)
    procs.append(proc)
    return proc


def _dask_cluster(procs: list, tmp_path: Path, name: str) -> tuple[subprocess.Popen, str]:
    """A Dask scheduler and one single-threaded worker, each in its own process on 127.0.0.1 (so
    the scheduler can be killed alone); returns the scheduler's process and address."""
    file = tmp_path / f"{name}-scheduler.json"
    scheduler = _start(procs, [sys.executable, "-m", "distributed.cli.dask_scheduler",
                               "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(file)], tmp_path / f"{name}-scheduler.log")

    def address():
        assert scheduler.poll() is None, (tmp_path / f"{name}-scheduler.log").read_text()
        try:
            return json.loads(file.read_text())["address"]
        except (OSError, ValueError, KeyError):  # not written yet
            return None

    addr = _wait_for("the Dask scheduler's file", address)
    _start(procs, [sys.executable, "-m", "distributed.cli.dask_worker", addr, "--nthreads", "1",
                   "--no-nanny", "--no-dashboard"], tmp_path / f"{name}-worker.log")
    return scheduler, addr


def _cli_script(argv: list[str], close_local_scheduler_after: int | None) -> str:
    """`h100sim sweep ARGV` (experiments.cli.main) on the toy model: 0.15 s a run. With
    ``close_local_scheduler_after``, the scheduler of the sweep's LocalCluster (it lives in the
    sweep process) is closed once that many runs are on disk."""
    return textwrap.dedent(f"""
        import asyncio, functools, sys, threading, time, tomllib
        from pathlib import Path
        sys.path[:0] = [{str(ROOT)!r}, {str(TESTS)!r}]
        import experiments.runner as runner
        import experiments.sweep as sweep
        from experiments.cli import main
        from experiments.sweepspec import parse_spec
        from support.sweep_helpers import TOY_INFO, toy_run_slow

        sweep.load_spec = lambda path: parse_spec(tomllib.loads(Path(path).read_text()), path=path)
        sweep.run_sweep = functools.partial(sweep.run_sweep, run_fn=toy_run_slow,
                                            model_info=TOY_INFO)
        ARGV = {argv!r}
        CLOSE_AFTER = {close_local_scheduler_after!r}


        def close_local_scheduler(out, after):
            backends = []
            real_init = runner._DaskBackend.__init__

            def spy(self, *args, **kwargs):
                real_init(self, *args, **kwargs)
                backends.append(self)

            def close():
                while not backends or len(list((out / "runs").glob("*.parquet"))) < after:
                    time.sleep(0.02)
                cluster = backends[0].cluster
                asyncio.run_coroutine_threadsafe(cluster.scheduler.close(reason="test"),
                                                 cluster.loop.asyncio_loop).result(30)

            runner._DaskBackend.__init__ = spy
            threading.Thread(target=close, daemon=True).start()


        if __name__ == "__main__":
            if CLOSE_AFTER:
                close_local_scheduler(Path(ARGV[ARGV.index("--out") + 1]), CLOSE_AFTER)
            sys.exit(main(ARGV))
    """)


def _sweep_until_scheduler_lost(procs: list, tmp_path: Path, out: Path, options: list[str],
                                scheduler: subprocess.Popen | None) -> tuple[int, str]:
    """Run `h100sim sweep toy.toml --out OUT OPTIONS` in a subprocess and take its scheduler away
    once 3 runs are on disk: SIGKILL ``scheduler`` (a process), or with None close the sweep's own
    LocalCluster scheduler. Returns the exit code and the output."""
    spec = tmp_path / "toy.toml"
    spec.write_text(toy_spec_text())
    argv = ["sweep", str(spec), "--out", str(out), "--chunk-size", "1", "--no-progress", *options]
    script = tmp_path / "sweep_cli.py"
    script.write_text(_cli_script(argv, 3 if scheduler is None else None))
    log = tmp_path / "sweep_cli.log"
    proc = _start(procs, [sys.executable, str(script)], log)
    if scheduler is not None:
        _wait_for("3 runs on disk", lambda: _runs_on_disk(out) >= 3 or proc.poll() is not None)
        assert proc.poll() is None, "the sweep finished before its scheduler could be killed"
        os.killpg(scheduler.pid, signal.SIGKILL)
    proc.wait(timeout=90)
    return proc.returncode, log.read_text(errors="replace")


def _assert_stopped_cleanly(out: Path, output: str, code: int, who: str, resume: str) -> int:
    """The sweep ended with exit code 75 and, last, one message naming the scheduler, the runs on
    disk and the command that resumes; no run failed, no temporary file is left, the index is
    written. Returns the number of runs on disk."""
    import pyarrow.parquet as pq

    assert code == EXIT_SCHEDULER_LOST, output
    last = output.strip().splitlines()[-1]
    assert last.startswith(f"h100sim sweep: error: lost {who}"), output
    done = _runs_on_disk(out)
    assert 3 <= done < 12
    assert f"{done} of 12 runs are on disk in {out}" in last
    assert resume in last
    assert not list((out / FAILURES).iterdir()), "runs lost with the scheduler recorded as failed"
    assert not list(out.rglob("*.tmp"))
    assert pq.read_table(out / "index.parquet").num_rows == done
    return done


def test_killed_scheduler_stops_the_sweep_cleanly_and_a_new_one_finishes_it(reference, tmp_path):
    """SIGKILL of the Dask scheduler mid-sweep: the sweep gives up after the grace period with one
    message and exit code 75 (no traceback, no run recorded as failed); the same sweep on a new
    scheduler then completes exactly the uninterrupted sweep."""
    out = tmp_path / "lost"
    with _children() as procs:
        scheduler, address = _dask_cluster(procs, tmp_path, "first")
        code, output = _sweep_until_scheduler_lost(procs, tmp_path, out,
                                                   ["--scheduler", address], scheduler)
        done = _assert_stopped_cleanly(out, output, code, f"the Dask scheduler at {address}",
                                       f"h100sim sweep --resume --out {out} --scheduler {address}")
        assert "Traceback" not in output
        _, new_address = _dask_cluster(procs, tmp_path, "second")
        res = sweep(out, scheduler=new_address)
    assert res.complete and res.ran_now == 12 - done and not res.failed
    assert_same(reference, out)


def test_lost_local_cluster_scheduler_stops_the_sweep_then_processes_finish_it(reference,
                                                                              tmp_path):
    """--engine dask without --scheduler: when the LocalCluster's scheduler goes away the sweep
    stops the same way; resuming with local processes completes the uninterrupted sweep."""
    out = tmp_path / "lost-local"
    with _children() as procs:
        code, output = _sweep_until_scheduler_lost(procs, tmp_path, out, ["--engine", "dask"],
                                                   None)
    done = _assert_stopped_cleanly(out, output, code, "the scheduler of the local Dask cluster",
                                   f"h100sim sweep --resume --out {out} --engine dask")
    res = sweep(out, workers=2, engine="processes")
    assert res.complete and res.ran_now == 12 - done and not res.failed
    assert_same(reference, out)


class _CancelledWithTheScheduler(Exception):
    """What a chunk's future raises when the scheduler connection drops (Dask cancels it)."""

    reason = "scheduler-connection-lost"


class _SchedulerBlip(_Backend):
    """An engine whose scheduler drops once, after ``drop_after`` chunks have finished: the chunks
    in flight come back cancelled, the engine is unavailable for ``away`` polls, then it is back.
    Chunks run in the calling thread, one per poll."""

    def __init__(self, drop_after: int, away: int):
        super().__init__()
        self.drop_after = drop_after
        self.away = away
        self.waiting: list = []
        self.finished_chunks = 0
        self.dropped_chunks = 0
        self.submitted_while_away = 0

    def slots(self) -> int:
        return 1

    def describe(self) -> str:
        return "a scheduler that drops once"

    def submit(self, chunk, run_fn):
        fut = Future()
        self._watch(fut)
        self.waiting.append((fut, list(chunk), run_fn))
        if self.dropped_chunks and self.away:
            self.submitted_while_away += 1
        return fut

    def available(self) -> bool:
        if self.finished_chunks == self.drop_after and self.waiting and not self.dropped_chunks:
            for fut, _, _ in self.waiting:
                fut.set_exception(_CancelledWithTheScheduler())
            self.dropped_chunks = len(self.waiting)
            self.waiting.clear()
        if self.dropped_chunks and self.away:
            self.away -= 1
            return False
        if self.waiting:
            fut, chunk, run_fn = self.waiting.pop(0)
            self.finished_chunks += 1
            fut.set_result(run_chunk(chunk, run_fn))
        return True

    def dropped(self, err: BaseException) -> bool:
        return getattr(err, "reason", None) == "scheduler-connection-lost"


def test_chunks_lost_with_the_scheduler_run_again_once_it_is_back():
    """A scheduler that drops and comes back within the grace period: nothing is submitted while
    it is away, and the chunks lost with it run again as they were (once each, not as suspects
    of a worker crash)."""
    from experiments.sweep import plan_runs

    _, tasks = plan_runs(toy_spec(), model_version())
    backend = _SchedulerBlip(drop_after=3, away=3)
    handled = []
    _drive(backend, tasks, toy_run, 1, lambda p, attempts=1: handled.append((p, attempts)))
    assert backend.dropped_chunks >= 1 and backend.away == 0  # the blip happened
    assert backend.submitted_while_away == 0
    assert sorted(p["run_id"] for p, _ in handled) == sorted(t.run_id for t in tasks)
    assert all(p["ok"] and attempts == 1 for p, attempts in handled)


def test_a_sweep_says_its_size_before_it_plans_and_shows_progress_for_a_big_plan(monkeypatch,
                                                                                  capsys):
    """Issue 16: a sweep of many runs prints its size first, and planning shows a bar."""
    import experiments.sweep as sweep

    heard: list[str] = []
    _, tasks = sweep.plan_runs(toy_spec(), model_version(), log=heard.append, progress=True)
    assert len(heard) == 1 and heard[0].startswith(f"sweep {toy_spec().name}: {len(tasks)} runs")
    assert "planning" not in capsys.readouterr().err  # a small plan: no bar
    monkeypatch.setattr(sweep, "PLAN_PROGRESS_FROM", 1)
    sweep.plan_runs(toy_spec(), model_version(), log=heard.append, progress=True)
    assert "planning" in capsys.readouterr().err
