"""`h100sim sweep`: batch parameter sweeps, on a laptop or on a Dask cluster, resumable.

    h100sim sweep SPEC.toml --out DIR [--workers N] [--engine serial|processes|dask]
                            [--scheduler tcp://HOST:PORT] [--resume] [--chunk-size K]

The spec (:mod:`experiments.sweepspec`) is checked before anything runs. The plan (every run's
parameters and seed) goes to ``DIR/manifest.json`` first; each finished run is then written as its
own Parquet file ``DIR/runs/<run_id>.parquet`` (a temporary file, fsync, ``os.replace``), and each
failed run as ``DIR/failures/<run_id>.json`` with its traceback. Re-running the same command (or
``--resume``) skips the runs that are on disk, so an interrupted sweep loses at most the runs in
flight and never runs one twice. A Dask scheduler that goes away mid-sweep and does not come back
within Dask's connect timeout stops the sweep the same way, with :class:`SchedulerLost` (the CLI:
one message, exit code 75) and no run recorded as failed for it.

Engines (``serial``, ``processes``, ``dask``: :mod:`experiments.runner`) give the same per-run
results, because a run depends only on its parameters and its seed.

Seeds: with master seed ``S``, design point ``i`` and replication ``r`` run with
``SeedSequence(S).spawn(2)[1].spawn(n_points)[i].spawn(replications)[r]``, given to the model as
``generate_state(1)[0]`` (a uint32). The random designs draw from ``SeedSequence(S).spawn(2)[0]``.

Results: :func:`load_results` (also ``experiments.load_results``).

Pandas, pyarrow, Dask, SALib and tqdm are imported only where they are used (``import
experiments`` exports :func:`load_results` from here).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from experiments.runner import (ENGINES, RunTask, SchedulerGone, model_version, open_engine,
                                pick_engine, run_tasks)
from experiments.store import LOCK, DirLock, atomic_write, atomic_write_json, clean_temp, fsync_dir
from experiments.sweepspec import (ModelInfo, SweepSpec, canonical_json, check_against_model,
                                   load_spec, plain, read_spec, spec_from_json)
from model.errors import InputError
from model.schema import parse_json, read_text

FORMAT = "h100sim-sweep/1"
MANIFEST = "manifest.json"
RUNS = "runs"
FAILURES = "failures"
INDEX = "index.parquet"
RUN_META_KEY = b"h100sim.run"


# --------------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------------
def run_seed(master: int, sample: int, replicate: int) -> int:
    """The model seed of design point ``sample``, replication ``replicate``.

    Equal to ``SeedSequence(master).spawn(2)[1].spawn(n)[sample].spawn(r)[replicate]
    .generate_state(1)[0]`` for any ``n > sample``, ``r > replicate`` (spawned children are
    ``SeedSequence(master, spawn_key=(1, sample, replicate))``).
    """
    import numpy as np

    ss = np.random.SeedSequence(master, spawn_key=(1, int(sample), int(replicate)))
    return int(ss.generate_state(1)[0])


def design_seed_sequence(master: int):
    """``SeedSequence(master).spawn(2)[0]``: the stream the random designs draw from."""
    import numpy as np

    return np.random.SeedSequence(master, spawn_key=(0,))


def make_run_id(base: str, overrides: dict, seed: int, steps: int | None, version: str) -> str:
    """sha256 of the run's parameters (base scenario, every override, steps), seed and model
    version; the first 16 hex digits."""
    text = canonical_json({"base": base, "overrides": overrides, "steps": steps, "seed": int(seed),
                           "model_version": version})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


#: a plan of more runs than this shows a progress bar while its run ids are computed
PLAN_PROGRESS_FROM = 20_000


def plan_runs(spec: SweepSpec, version: str, log: Callable[[str], None] | None = None,
              progress: bool = False) -> tuple[dict[str, Any], list[RunTask]]:
    """The design (as stored in the manifest) and one task per run, in design order. ``log``
    hears the sweep's size before the runs are planned; ``progress`` shows a bar for a plan
    of more than :data:`PLAN_PROGRESS_FROM` runs."""
    from experiments.designs import make_design

    design = make_design(spec.design, spec.params, samples=spec.samples,
                         seed_sequence=design_seed_sequence(spec.seed),
                         second_order=spec.second_order, levels=spec.levels)
    n_points = len(design.samples)
    if log is not None:
        log(f"sweep {spec.name}: {n_points * spec.replications} runs ({n_points} design points "
            f"x {spec.replications} replications)")
    fixed = spec.model_overrides()
    tasks = []
    ids: set[str] = set()
    points: Any = enumerate(design.samples)
    if progress and n_points * spec.replications > PLAN_PROGRESS_FROM:
        from tqdm.auto import tqdm

        points = tqdm(points, total=n_points, unit="point", desc="planning", file=sys.stderr)
    for i, point in points:
        params = plain(point)
        for r in range(spec.replications):
            seed = run_seed(spec.seed, i, r)
            rid = make_run_id(spec.base, {**fixed, **params}, seed, spec.steps, version)
            if rid in ids:  # same parameters and seed twice: a design repeating a point
                continue
            ids.add(rid)
            tasks.append(_task(spec, version, {"run_id": rid, "sample": i, "replicate": r,
                                               "seed": seed, "params": params}))
    design_json = {"kind": design.kind, "names": design.names, "info": plain(design.info),
                   "points": len(design.samples),
                   "unit": None if design.unit is None else design.unit.tolist()}
    return design_json, tasks


def _task(spec: SweepSpec, version: str, run: dict[str, Any]) -> RunTask:
    """The task of one planned run (``run`` as in the manifest: :func:`_task_json`)."""
    return RunTask(run_id=run["run_id"], sample=int(run["sample"]),
                   replicate=int(run["replicate"]), seed=int(run["seed"]), base=spec.base,
                   params=run["params"], overrides={**spec.model_overrides(), **run["params"]},
                   steps=spec.steps, series="all" if spec.series == "all" else tuple(spec.series),
                   summary=tuple(spec.summary), model_version=version)


def _task_json(t: RunTask) -> dict[str, Any]:
    return {"run_id": t.run_id, "sample": t.sample, "replicate": t.replicate, "seed": t.seed,
            "params": t.params}


RUN_ID_RE = re.compile(r"[0-9a-f]{16}")


def _tasks_from_manifest(manifest: dict[str, Any], spec: SweepSpec) -> list[RunTask]:
    out = []
    for r in manifest["runs"]:
        rid = r.get("run_id") if isinstance(r, dict) else None
        if not isinstance(rid, str) or not RUN_ID_RE.fullmatch(rid):
            # run ids become file names under DIR/runs and DIR/failures: never a path
            raise InputError(f"{MANIFEST}: run_id = {rid!r} is not allowed; expected 16 hex digits "
                             "(the manifest was edited or damaged)")
        out.append(_task(spec, manifest["model_version"], r))
    return out


# --------------------------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------------------------
def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _write_parquet(path: Path, table) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = pa.BufferOutputStream()
    pq.write_table(table, buf)
    atomic_write(path, buf.getvalue().to_pybytes())


def write_run(out: Path, task: RunTask, payload: dict[str, Any]) -> dict[str, Any]:
    """Write a finished run as ``runs/<run_id>.parquet`` (atomically); return its record."""
    import pyarrow as pa

    record = {**_task_json(task), "summary": payload["summary"],
              "elapsed_s": round(float(payload["elapsed_s"]), 6), "worker": payload["worker"],
              "model_version": task.model_version, "finished": _now()}
    frame = payload["series"].copy()
    frame.insert(0, "run_id", task.run_id)
    if task.series != "all" and not task.series:
        frame = frame.iloc[0:0]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    _write_parquet(out / RUNS / f"{task.run_id}.parquet",
                   table.replace_schema_metadata({RUN_META_KEY: json.dumps(record).encode()}))
    (out / FAILURES / f"{task.run_id}.json").unlink(missing_ok=True)  # an earlier failure
    return record


def write_failure(out: Path, task: RunTask, payload: dict[str, Any], attempts: int = 1) -> None:
    data = {**_task_json(task), "base": task.base,
            "overrides": task.overrides, "steps": task.steps, "error": payload["error"],
            "traceback": payload["traceback"], "worker": payload.get("worker"),
            "attempts": attempts, "model_version": task.model_version, "time": _now()}
    atomic_write_json(out / FAILURES / f"{task.run_id}.json", data)


def _ids(d: Path, suffix: str) -> set[str]:
    """The run ids of the files ``<run_id><suffix>`` in ``d`` (not temporary files)."""
    if not d.is_dir():
        return set()
    return {p.name[:-len(suffix)] for p in d.iterdir()
            if p.name.endswith(suffix) and not p.name.startswith(".")}


def finished_ids(out: Path) -> set[str]:
    return _ids(out / RUNS, ".parquet")


def failed_ids(out: Path) -> set[str]:
    return _ids(out / FAILURES, ".json")


def read_manifest(out: Path) -> dict[str, Any]:
    path = Path(out) / MANIFEST
    if not path.is_file():
        raise InputError(f"{out} is not a sweep directory (no {MANIFEST}); run "
                         "`h100sim sweep SPEC.toml --out DIR` first")
    data = parse_json(read_text(path, "sweep manifest"), path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise InputError(f"{path}: format {found!r} is not {FORMAT!r} (a sweep manifest of this "
                         "version of h100sim)")
    return data


#: the exit code of `h100sim sweep` when the Dask scheduler went away (EX_TEMPFAIL: try again)
EXIT_SCHEDULER_LOST = 75


class SchedulerLost(ConnectionError):
    """The Dask scheduler went away mid-sweep and did not come back.

    Raised by :func:`run_sweep` only after everything finished is on disk, the temporary files are
    gone and the index is written, so the directory is ready to resume; the message names the
    scheduler, says how many runs are on disk and gives the command that finishes the sweep.
    ``result`` is the :class:`SweepResult` so far. The runs in flight are not recorded as failed:
    they were lost with the scheduler, not by a fault of their own, and run again on resume.
    """

    def __init__(self, message: str, *, address: str, result: "SweepResult"):
        super().__init__(message)
        self.address = address
        self.result = result


# --------------------------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------------------------
@dataclass
class SweepResult:
    """What a call of :func:`run_sweep` did."""

    out: Path
    planned: int
    finished: int
    ran_now: int
    failed: list[str] = field(default_factory=list)
    interrupted: bool = False
    elapsed_s: float = 0.0
    engine: str = ""

    @property
    def complete(self) -> bool:
        return self.finished == self.planned


def _prepare_dir(out: Path, spec: SweepSpec | None, resume: bool, version: str,
                 spec_path: str | None, log: Callable[[str], None], progress: bool
                 ) -> tuple[SweepSpec, dict[str, Any], list[RunTask], bool]:
    """Create or reopen a sweep directory. Returns (spec, manifest, tasks, created)."""
    from experiments.outputs import package_version

    manifest_path = out / MANIFEST
    if manifest_path.is_file():
        manifest = read_manifest(out)
        old = spec_from_json(manifest["spec"], path=str(manifest_path))
        if spec is not None and spec.spec_hash() != manifest["spec_hash"]:
            raise InputError(
                f"{out} holds another sweep ({manifest['spec']['sweep']['name']!r} from "
                f"{manifest.get('spec_path')}, started {manifest.get('created')}); "
                f"{spec_path} differs from it. Use another --out, or the same spec to resume")
        if manifest["model_version"] != version:
            raise InputError(f"{out} was started with model version {manifest['model_version']!r}; "
                             f"this is {version!r}. Runs of two model versions do not mix: use "
                             "another --out")
        spec = spec or old
        return spec, manifest, _tasks_from_manifest(manifest, spec), False
    if resume:
        raise InputError(f"--resume: {out} holds no sweep to resume (no {MANIFEST})")
    if spec is None:
        raise InputError("a spec file is needed to start a sweep")
    if out.is_dir() and any(p.name != LOCK and not p.name.endswith(".tmp") for p in out.iterdir()):
        raise InputError(f"--out {out} exists and is not a sweep directory (no {MANIFEST}); "
                         "use a new or empty directory")
    design, tasks = plan_runs(spec, version, log, progress)
    manifest = {
        "format": FORMAT,
        "name": spec.name,
        "spec_hash": spec.spec_hash(),
        "spec_path": spec_path,
        "spec": spec.to_json(),
        "package_version": package_version(),
        "model_version": version,
        "created": _now(),
        "python": sys.version.split()[0],
        "seeding": "seed = SeedSequence(master).spawn(2)[1].spawn(points)[sample]"
                   ".spawn(replications)[replicate].generate_state(1)[0]",
        "design": design,
        "runs": [_task_json(t) for t in tasks],
    }
    return spec, manifest, tasks, True


def run_sweep(
    spec: SweepSpec | str | Path | None,
    out: str | Path,
    *,
    workers: int = 1,
    engine: str = "auto",
    scheduler: str | None = None,
    resume: bool = False,
    retry_failed: bool = True,
    chunk_size: int | None = None,
    progress: bool = True,
    run_fn: Callable[[RunTask], Any] | None = None,
    model_info: ModelInfo | None = None,
    check_model: bool = True,
    version: str | None = None,
    log: Callable[[str], None] | None = None,
) -> SweepResult:
    """Run (or resume) a sweep into ``out``. Returns a :class:`SweepResult`.

    ``spec``: a :class:`SweepSpec` or a spec path (``None`` with ``resume=True``: the spec in the
    manifest). ``run_fn(task) -> DataFrame`` replaces the model (tests, other entry points); it
    must be importable by the workers. ``model_info`` replaces the model checks of the spec
    (``check_model=False``: the caller has checked it already).
    KeyboardInterrupt stops the sweep after recording everything finished, then propagates.
    A Dask scheduler that goes away and does not come back within :func:`scheduler_grace_s`
    stops it the same way, then raises :class:`SchedulerLost`.
    """
    t_start = time.perf_counter()
    out = Path(out)
    log = log or (lambda msg: print(msg, file=sys.stderr))
    spec_path = None
    if isinstance(spec, (str, Path)):
        spec_path = str(spec)
        spec = read_spec(spec)
    elif spec is not None:
        spec_path = spec.path
    if spec is not None and check_model:
        check_against_model(spec, model_info)
    engine = pick_engine(engine, workers, scheduler, chunk_size)
    version = version or model_version()
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; expected a directory")

    out.mkdir(parents=True, exist_ok=True)
    with DirLock(out):
        spec, manifest, tasks, created = _prepare_dir(out, spec, resume, version, spec_path,
                                                      log, progress)
        if created:  # the plan is on disk before any run starts
            atomic_write_json(out / MANIFEST, manifest)
            fsync_dir(out)
        (out / RUNS).mkdir(exist_ok=True)
        (out / FAILURES).mkdir(exist_ok=True)
        clean_temp(out, out / RUNS, out / FAILURES)
        done = finished_ids(out)
        before_failed = failed_ids(out)
        todo = [t for t in tasks if t.run_id not in done]
        if not retry_failed:
            todo = [t for t in todo if t.run_id not in before_failed]
        by_id = {t.run_id: t for t in tasks}
        result = SweepResult(out=out, planned=len(tasks), finished=len(done & set(by_id)),
                             ran_now=0, engine=engine)
        failed_now: set[str] = (before_failed & set(by_id)) - done
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(tasks), initial=result.finished, unit="run", desc=spec.name,
                       dynamic_ncols=True, file=sys.stderr)
            bar.set_postfix(failed=len(failed_now), refresh=False)
        if todo and (len(done) or before_failed):
            log(f"resuming {out}: {result.finished} of {len(tasks)} runs on disk, "
                f"{len(todo)} to run")

        def handle(payload: dict[str, Any], attempts: int = 1) -> None:
            task = by_id[payload["run_id"]]
            if payload["ok"]:
                write_run(out, task, payload)
                result.finished += 1
                result.ran_now += 1
                failed_now.discard(task.run_id)
            else:
                write_failure(out, task, payload, attempts)
                failed_now.add(task.run_id)
            if bar is not None:
                bar.set_postfix(failed=len(failed_now), refresh=False)
                bar.update(1 if payload["ok"] else 0)
                if not payload["ok"]:
                    bar.refresh()

        interrupted = False
        gone: SchedulerGone | None = None
        try:
            with open_engine(engine, workers, scheduler, len(todo)) as backend:
                if backend is not None:
                    result.engine = backend.describe()
                run_tasks(backend, todo, handle, run_fn=run_fn, chunk_size=chunk_size)
        except KeyboardInterrupt:
            interrupted = True
            raise
        except SchedulerGone as err:  # raised as SchedulerLost below, once all is tidy
            gone = err
        finally:
            if bar is not None:
                bar.close()
            clean_temp(out, out / RUNS, out / FAILURES)  # a write cut short by Ctrl-C (we hold the lock: no one else writes)
            result.interrupted = interrupted
            result.failed = sorted(failed_ids(out) & set(by_id))
            result.elapsed_s = time.perf_counter() - t_start
            try:
                write_index(out)
            except Exception as err:  # noqa: BLE001 - the index only speeds up loading
                log(f"note: could not write {out / INDEX}: {err}")
            log(summary_text(result, manifest))
    if gone is not None:
        text = scheduler_lost_text(gone, result, scheduler=scheduler, workers=workers,
                                   retry_failed=retry_failed, chunk_size=chunk_size)
        raise SchedulerLost(text, address=gone.address, result=result)
    return result


def resume_command(out: Path, *, scheduler: str | None = None, engine: str = "auto",
                   workers: int = 1, retry_failed: bool = True,
                   chunk_size: int | None = None) -> str:
    """The `h100sim sweep` command that finishes the sweep in ``out`` (with --resume: the spec is
    the one in its manifest, so the command is right wherever the spec file went)."""
    words = ["h100sim", "sweep", "--resume", "--out", str(out)]
    if scheduler:
        words += ["--scheduler", scheduler]
    else:
        if engine == "dask":
            words += ["--engine", "dask"]
        if workers > 1:
            words += ["--workers", str(workers)]
    if not retry_failed:
        words.append("--skip-failed")
    if chunk_size:
        words += ["--chunk-size", str(chunk_size)]
    return shlex.join(words)


def scheduler_lost_text(gone: SchedulerGone, result: SweepResult, *, scheduler: str | None,
                        workers: int, retry_failed: bool, chunk_size: int | None) -> str:
    """The one message of a sweep whose Dask scheduler went away: which scheduler, how much of
    the sweep is on disk, and the commands that finish it (on a scheduler again, or on this
    machine)."""
    same = resume_command(result.out, scheduler=scheduler, engine="dask", workers=workers,
                          retry_failed=retry_failed, chunk_size=chunk_size)
    if scheduler:
        local_workers = os.cpu_count() or 1  # --workers meant nothing with --scheduler
        who = f"the Dask scheduler at {gone.address}"
        again = f"run the same command again once a scheduler is up ({same})"
    else:
        local_workers = workers
        who = f"the scheduler of the local Dask cluster ({gone.address})"
        again = f"run the same command again ({same})"
    here = resume_command(result.out, workers=local_workers, retry_failed=retry_failed,
                          chunk_size=chunk_size)
    return (f"lost {who}: the connection dropped and was not back after {gone.waited_s:.0f} s. "
            f"{result.finished} of {result.planned} runs are on disk in {result.out}; the runs "
            f"in flight were lost with the scheduler and are not recorded as failed. To finish "
            f"the sweep, {again}, or run the rest on this machine: {here}")


def summary_text(result: SweepResult, manifest: dict[str, Any]) -> str:
    """The lines printed at the end of a sweep."""
    name = manifest.get("name", "sweep")
    lines = [f"sweep {name!r} in {result.out}: {result.finished} of {result.planned} runs "
             f"finished ({result.ran_now} now, {result.elapsed_s:.1f} s, {result.engine}); "
             f"{len(result.failed)} failed"]
    for rid in result.failed[:10]:
        path = result.out / FAILURES / f"{rid}.json"
        try:
            info = json.loads(path.read_text())
            what = f"sample {info['sample']}, replicate {info['replicate']}: {info['error']}"
        except (OSError, ValueError, KeyError):
            what = "see the file"
        lines.append(f"  failed {rid} ({what[:200]}) -> {path}")
    if len(result.failed) > 10:
        lines.append(f"  ... and {len(result.failed) - 10} more in {result.out / FAILURES}")
    if result.interrupted:
        lines.append(f"interrupted: run the same command again (or add --resume) to finish the "
                     f"{result.planned - result.finished} remaining runs")
    elif result.failed:
        lines.append("re-run the same command to try the failed runs again")
    lines.append(f"results: experiments.load_results({str(result.out)!r}); charts: "
                 f"h100sim sweep-report {result.out}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Loading results
# --------------------------------------------------------------------------------------------
def _records(out: Path) -> list[dict[str, Any]]:
    """Records of every finished run: the index plus the footers of runs not in it."""
    import pyarrow.parquet as pq

    done = finished_ids(out)
    records: dict[str, dict[str, Any]] = {}
    index = out / INDEX
    if index.is_file():
        try:
            for text in pq.read_table(index, columns=["record"]).column("record").to_pylist():
                rec = json.loads(text)
                if rec["run_id"] in done:
                    records[rec["run_id"]] = rec
        except Exception:  # noqa: BLE001 - a damaged index is only a cache
            records = {}
    for rid in sorted(done - set(records)):  # the record is in the run file's footer
        meta = pq.read_schema(out / RUNS / f"{rid}.parquet").metadata or {}
        records[rid] = json.loads(meta[RUN_META_KEY])
    return list(records.values())


def write_index(out: Path) -> None:
    """Cache every finished run's record in ``index.parquet`` (the runs table, one row per run)."""
    import pyarrow as pa

    recs = _records(out)
    _write_parquet(out / INDEX, pa.table({
        "run_id": pa.array([r["run_id"] for r in recs], pa.string()),
        "record": pa.array([json.dumps(r) for r in recs], pa.string())}))


def load_results(directory: str | Path, kind: str = "runs", *, dataset: bool = False,
                 include_failed: bool = False):
    """The results of a sweep directory.

    kind="runs" (default): a pandas DataFrame with one row per finished run: ``run_id``,
    ``sample`` (design point), ``replicate``, ``seed``, one column per swept parameter, one per
    summary metric (``date_of_*`` as datetime64), ``elapsed_s``, ``status`` ("ok"). With
    ``include_failed=True`` failed runs are added with status "failed" and their ``error``.

    kind="series": the kept weekly series, long in time: one row per run and step with
    ``run_id, sample, replicate, seed, <parameters>, step, date, <series...>``.
    ``dataset=True`` returns a ``pyarrow.dataset.Dataset`` over the run files instead
    (columns ``run_id, step, date, <series...>``; join the parameters from kind="runs" on
    ``run_id``), for sweeps too large for memory.

    Rows are in design order (sample, replicate).
    """
    import pandas as pd

    out = Path(directory)
    manifest = read_manifest(out)
    spec = manifest["spec"]
    param_names = list(spec["parameters"])
    summary_defs = {m["name"]: m for m in spec["metrics"]["summary"]}
    if kind not in ("runs", "series"):
        raise InputError(f"kind {kind!r} is not allowed; expected 'runs' or 'series'")
    if kind == "series":
        files = sorted(f for f in (out / RUNS).glob("*.parquet") if not f.name.startswith("."))
        if dataset:
            import pyarrow.dataset as ds

            return ds.dataset([str(f) for f in files], format="parquet")
        import pyarrow.parquet as pq

        runs = load_results(out, "runs")
        keep = ["run_id", "sample", "replicate", "seed", *param_names]
        frames = [frame for f in files if len(frame := pq.read_table(f).to_pandas())]
        if not frames:
            return pd.DataFrame(columns=[*keep, "step", "date"])
        series = pd.concat(frames, ignore_index=True)
        merged = runs[keep].merge(series, on="run_id", how="inner")
        return merged.sort_values(["sample", "replicate", "step"], kind="stable").reset_index(drop=True)
    if dataset:
        raise InputError("dataset=True is for kind='series' (the runs table fits in memory)")
    def row(run: dict[str, Any], summary: dict[str, Any], **rest: Any) -> dict[str, Any]:
        """A row of the runs table from a record (or a planned run of the manifest)."""
        return {**{k: run[k] for k in ("run_id", "sample", "replicate", "seed")},
                **{p: run["params"].get(p) for p in param_names},
                **{n: summary.get(n) for n in summary_defs}, **rest}

    rows = [row(rec, rec["summary"], elapsed_s=rec.get("elapsed_s"), status="ok")
            for rec in _records(out)]
    if include_failed:
        runs_by_id = {r["run_id"]: r for r in manifest["runs"]}
        done = {r["run_id"] for r in rows}
        for rid in sorted(failed_ids(out) - done):
            if rid not in runs_by_id:
                continue
            try:
                err = json.loads((out / FAILURES / f"{rid}.json").read_text()).get("error")
            except (OSError, ValueError):
                err = None
            rows.append(row(runs_by_id[rid], {}, elapsed_s=None, status="failed", error=err))
    columns = ["run_id", "sample", "replicate", "seed", *param_names, *summary_defs,
               "elapsed_s", "status"] + (["error"] if include_failed else [])
    df = pd.DataFrame(rows, columns=columns)
    for name, m in summary_defs.items():
        if m["stat"] in ("date_of_max", "date_of_min"):
            df[name] = pd.to_datetime(df[name])
        else:
            df[name] = pd.to_numeric(df[name], errors="coerce").astype("float64")
    df["seed"] = df["seed"].astype("int64")
    return df.sort_values(["sample", "replicate"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", metavar="SPEC.toml",
                        help="the sweep spec (optional with --resume: the one in DIR)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="the sweep directory (created; re-use it to resume)")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="worker processes (default 1: serial, in this process)")
    parser.add_argument("--engine", choices=ENGINES, default="auto",
                        help="serial | processes (a local process pool) | dask (a local Dask "
                             "cluster on 127.0.0.1, or --scheduler); auto: dask with --scheduler, "
                             "processes with --workers > 1, else serial")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="send the runs to an existing Dask cluster: tcp://HOST:8786, or a "
                             "scheduler file (dask scheduler --scheduler-file FILE.json)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the sweep in DIR (re-running the same command does too)")
    parser.add_argument("--skip-failed", action="store_true",
                        help="on resume, do not run again the runs that failed before")
    parser.add_argument("--chunk-size", type=int, metavar="K",
                        help="runs per task sent to a worker (default: sized from the run time)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def execute(args: argparse.Namespace) -> int:
    import signal

    if args.spec is None and not args.resume:
        raise InputError("give a spec file (h100sim sweep SPEC.toml --out DIR), or --resume to "
                         "continue the sweep in DIR")
    spec = load_spec(args.spec) if args.spec else None  # checked against the model here

    def on_term(signum, frame):  # a batch system's SIGTERM: stop like Ctrl-C, keep what is done
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        result = run_sweep(spec, args.out, workers=args.workers, engine=args.engine,
                           scheduler=args.scheduler, resume=args.resume,
                           retry_failed=not args.skip_failed, chunk_size=args.chunk_size,
                           progress=not args.no_progress, check_model=False)
    except SchedulerLost as err:  # not a bug and not bad input: say what to do, no traceback
        if getattr(args, "debug", False):
            raise
        print(f"h100sim sweep: error: {err}", file=sys.stderr)
        return EXIT_SCHEDULER_LOST
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0 if not result.failed else 1
