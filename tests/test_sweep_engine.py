"""The sweep engine on a toy model: the same per-run results on every engine (serial, local
processes, a Dask LocalCluster on loopback), manifest and atomic run files, failures recorded
without stopping the sweep, interrupted and killed sweeps resumed without losing or duplicating a
run, and refusals (another spec in the directory, another model version, a busy directory)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from experiments import load_results
from experiments.sweep import (FAILURES, MANIFEST, RUNS, _auto_chunk, _DirLock, model_version,
                               run_sweep)
from experiments.sweepspec import parse_spec
from model.errors import InputError
from test_sweep_helpers import (TOY_INFO, toy_run, toy_run_crash_worker, toy_run_failing,
                                toy_run_interrupt, toy_spec_text)

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
VOLATILE = ["elapsed_s"]


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
        from test_sweep_helpers import TOY_INFO, toy_run_slow, toy_spec_text

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
                            stderr=subprocess.STDOUT, start_new_session=True)
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
    with _DirLock(out):
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
