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

Engines: ``serial`` (in this process), ``processes`` (a spawn-based ProcessPoolExecutor),
``dask`` (a LocalCluster on 127.0.0.1, or an existing cluster with ``--scheduler``). Runs go out
in chunks sized from the measured run time, so scheduling overhead stays small; every engine gives
the same per-run results, because a run depends only on its parameters and its seed.

Seeds: with master seed ``S``, design point ``i`` and replication ``r`` run with
``SeedSequence(S).spawn(2)[1].spawn(n_points)[i].spawn(replications)[r]``, given to the model as
``generate_state(1)[0]`` (a uint32). The random designs draw from ``SeedSequence(S).spawn(2)[0]``.

Results: :func:`load_results` (also ``experiments.load_results``).

Pandas, pyarrow, Dask, SALib and tqdm are imported only where they are used (``import
experiments`` exports :func:`load_results` from here).
"""

from __future__ import annotations

import abc

import argparse
import datetime as dt
import functools
import hashlib
import json
import math
import os
import queue
import re
import shlex
import socket
import sys
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from experiments.sweepspec import (ModelInfo, SweepSpec, canonical_json, check_against_model,
                                   load_spec, plain, read_spec, spec_from_json)
from model.errors import InputError

FORMAT = "h100sim-sweep/1"
MANIFEST = "manifest.json"
RUNS = "runs"
FAILURES = "failures"
INDEX = "index.parquet"
LOCK = ".lock"
RUN_META_KEY = b"h100sim.run"
ENGINES = ("auto", "serial", "processes", "dask")
#: aim for chunks of about this many seconds of work
TARGET_CHUNK_SECONDS = 3.0
MAX_CHUNK = 500


# --------------------------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------------------------
def package_version() -> str:
    """The installed h100sim version (pyproject.toml's when not installed)."""
    try:
        from importlib.metadata import version

        return version("h100sim")
    except Exception:  # PackageNotFoundError and broken metadata alike
        pass
    import tomllib

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        return str(tomllib.loads(pyproject.read_text())["project"]["version"])
    except Exception:
        return "0+unknown"


@functools.lru_cache(maxsize=1)
def model_version() -> str:
    """The model's version: ``model.MODEL_VERSION`` (or ``model.__version__``) if the model sets
    one, else the package version plus a hash of the model's code and data (``model/`` and
    ``agents/``: .py, .toml), so runs of two different model codes never share a run id or a
    sweep directory."""
    try:
        import model

        for attr in ("MODEL_VERSION", "__version__"):
            v = getattr(model, attr, None)
            if v:
                return str(v)
    except ImportError:  # pragma: no cover
        pass
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for pkg in ("model", "agents"):
        base = root / pkg
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.suffix in (".py", ".toml") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode())
                digest.update(path.read_bytes())
    return f"{package_version()}+{digest.hexdigest()[:10]}"


# --------------------------------------------------------------------------------------------
# The plan
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunTask:
    """Everything one run needs; picklable, so it can go to a worker process or a Dask worker.

    ``overrides`` is the full set of config overrides passed to the model (the spec's fixed
    overrides, ``run.end`` for an end date, and this design point's ``params``).
    """

    run_id: str
    sample: int
    replicate: int
    seed: int
    base: str
    params: dict
    overrides: dict
    steps: int | None
    series: tuple | str
    summary: tuple
    model_version: str


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


def plan_runs(spec: SweepSpec, version: str) -> tuple[dict[str, Any], list[RunTask]]:
    """The design (as stored in the manifest) and one task per run, in design order."""
    from experiments.designs import make_design

    design = make_design(spec.design, spec.params, samples=spec.samples,
                         seed_sequence=design_seed_sequence(spec.seed),
                         second_order=spec.second_order, levels=spec.levels)
    fixed = spec.model_overrides()
    tasks = []
    ids: set[str] = set()
    series = "all" if spec.series == "all" else tuple(spec.series)
    for i, point in enumerate(design.samples):
        params = plain(point)
        overrides = {**fixed, **params}
        for r in range(spec.replications):
            seed = run_seed(spec.seed, i, r)
            rid = make_run_id(spec.base, overrides, seed, spec.steps, version)
            if rid in ids:  # same parameters and seed twice: a design repeating a point
                continue
            ids.add(rid)
            tasks.append(RunTask(run_id=rid, sample=i, replicate=r, seed=seed, base=spec.base,
                                 params=params, overrides=overrides, steps=spec.steps,
                                 series=series, summary=tuple(spec.summary),
                                 model_version=version))
    design_json = {"kind": design.kind, "names": design.names, "info": plain(design.info),
                   "points": len(design.samples),
                   "unit": None if design.unit is None else design.unit.tolist()}
    return design_json, tasks


def _task_json(t: RunTask) -> dict[str, Any]:
    return {"run_id": t.run_id, "sample": t.sample, "replicate": t.replicate, "seed": t.seed,
            "params": t.params}


RUN_ID_RE = re.compile(r"[0-9a-f]{16}")


def _tasks_from_manifest(manifest: dict[str, Any], spec: SweepSpec) -> list[RunTask]:
    fixed = spec.model_overrides()
    series = "all" if spec.series == "all" else tuple(spec.series)
    out = []
    for r in manifest["runs"]:
        rid = r.get("run_id") if isinstance(r, dict) else None
        if not isinstance(rid, str) or not RUN_ID_RE.fullmatch(rid):
            # run ids become file names under DIR/runs and DIR/failures: never a path
            raise InputError(f"{MANIFEST}: run_id = {rid!r} is not allowed; expected 16 hex digits "
                             "(the manifest was edited or damaged)")
        out.append(RunTask(run_id=r["run_id"], sample=int(r["sample"]),
                           replicate=int(r["replicate"]), seed=int(r["seed"]), base=spec.base,
                           params=r["params"], overrides={**fixed, **r["params"]},
                           steps=spec.steps, series=series, summary=tuple(spec.summary),
                           model_version=manifest["model_version"]))
    return out


# --------------------------------------------------------------------------------------------
# One run (in a worker)
# --------------------------------------------------------------------------------------------
def run_model(task: RunTask):
    """The production run function: build H100Market, run it, return its series.

    Runs ``task.steps`` weeks (or to the scenario's end) and frees Mesa's ``Agent._ids`` entry
    (``model.release_model``) so long-lived workers do not keep every model alive.
    """
    from model import H100Market, release_model

    m = H100Market(scenario=task.base, seed=int(task.seed), **task.overrides)
    try:
        if task.steps is None:
            m.run_to_end(progress=False)
        else:
            for _ in range(int(task.steps)):
                if not m.running:
                    break
                m.step()
        return m.series()
    finally:
        release_model(m)


def _json_value(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):  # numpy scalars
        v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            return None
    return v


def extract(df, task: RunTask):
    """What a run keeps: (series frame: step, date, kept series as float64; summary dict)."""
    import pandas as pd

    from experiments.targets import compute_stat

    if "date" not in df.columns:
        raise ValueError("the run's frame has no 'date' column")
    names = [c for c in df.columns if c != "date"] if task.series == "all" else list(task.series)
    missing = [c for c in names if c not in df.columns]
    if missing:
        raise ValueError(f"the run's frame has no series {', '.join(missing)}")
    out = pd.DataFrame({"step": range(len(df))})
    out["date"] = pd.to_datetime(df["date"]).to_numpy().astype("datetime64[ns]")
    for c in names:
        out[c] = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype="float64")
    summary = {}
    for m in task.summary:
        value = compute_stat(df, m.metric, m.window, m.stat, base_window=m.base_window,
                             base_stat=m.base_stat, window_stat=m.window_stat)
        summary[m.name] = _json_value(value)
    return out, summary


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def execute_task(task: RunTask, run_fn: Callable[[RunTask], Any] | None = None) -> dict[str, Any]:
    """Run one task and return its payload; an exception becomes a failure payload."""
    t0 = time.perf_counter()
    fn = run_fn or run_model
    try:
        if task.model_version != model_version():
            raise RuntimeError(f"this worker has model version {model_version()!r}; the sweep "
                               f"was planned with {task.model_version!r} (install the same "
                               "h100sim on every worker)")
        df = fn(task)
        series, summary = extract(df, task)
    except Exception as err:  # noqa: BLE001 - a failed run is recorded, the sweep goes on
        return {"run_id": task.run_id, "ok": False, "error": f"{type(err).__name__}: {err}",
                "traceback": traceback.format_exc(), "worker": _worker_name(),
                "elapsed_s": time.perf_counter() - t0}
    return {"run_id": task.run_id, "ok": True, "series": series, "summary": summary,
            "worker": _worker_name(), "elapsed_s": time.perf_counter() - t0}


def run_chunk(tasks: Sequence[RunTask], run_fn: Callable[[RunTask], Any] | None = None) -> list[dict]:
    """Run a chunk of tasks one after the other (in a worker process or a Dask worker)."""
    return [execute_task(t, run_fn) for t in tasks]


# --------------------------------------------------------------------------------------------
# Storage
# --------------------------------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same directory, fsync, then ``os.replace``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=1, sort_keys=False) + "\n").encode())


def _run_record(task: RunTask, payload: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": task.run_id, "sample": task.sample, "replicate": task.replicate,
            "seed": task.seed, "params": task.params, "summary": payload["summary"],
            "elapsed_s": round(float(payload["elapsed_s"]), 6), "worker": payload["worker"],
            "model_version": task.model_version,
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def write_run(out: Path, task: RunTask, payload: dict[str, Any]) -> dict[str, Any]:
    """Write a finished run as ``runs/<run_id>.parquet`` (atomically); return its record."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    record = _run_record(task, payload)
    frame = payload["series"].copy()
    frame.insert(0, "run_id", task.run_id)
    if task.series != "all" and not task.series:
        frame = frame.iloc[0:0]
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({RUN_META_KEY: json.dumps(record).encode()})
    final = out / RUNS / f"{task.run_id}.parquet"
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        pq.write_table(table, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    stale = out / FAILURES / f"{task.run_id}.json"
    if stale.exists():
        stale.unlink()
    return record


def write_failure(out: Path, task: RunTask, payload: dict[str, Any], attempts: int = 1) -> None:
    data = {"run_id": task.run_id, "sample": task.sample, "replicate": task.replicate,
            "seed": task.seed, "params": task.params, "base": task.base,
            "overrides": task.overrides, "steps": task.steps, "error": payload["error"],
            "traceback": payload["traceback"], "worker": payload.get("worker"),
            "attempts": attempts, "model_version": task.model_version,
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    atomic_write_json(out / FAILURES / f"{task.run_id}.json", data)


def finished_ids(out: Path) -> set[str]:
    d = out / RUNS
    if not d.is_dir():
        return set()
    return {p.name[:-8] for p in d.iterdir() if p.name.endswith(".parquet")
            and not p.name.startswith(".")}


def failed_ids(out: Path) -> set[str]:
    d = out / FAILURES
    if not d.is_dir():
        return set()
    return {p.stem for p in d.iterdir() if p.suffix == ".json" and not p.name.startswith(".")}


def _clean_temp(out: Path) -> None:
    for sub in (out, out / RUNS, out / FAILURES):
        if sub.is_dir():
            for p in sub.iterdir():
                if p.name.startswith(".") and p.name.endswith(".tmp"):
                    p.unlink(missing_ok=True)


def read_manifest(out: Path) -> dict[str, Any]:
    path = Path(out) / MANIFEST
    if not path.is_file():
        raise InputError(f"{out} is not a sweep directory (no {MANIFEST}); run "
                         "`h100sim sweep SPEC.toml --out DIR` first")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: unreadable ({err})") from None
    if data.get("format") != FORMAT:
        raise InputError(f"{path}: format {data.get('format')!r} is not {FORMAT!r}")
    return data


class _DirLock:
    """An exclusive lock on the sweep directory (two sweeps must not write into one)."""

    def __init__(self, out: Path):
        self.path = out / LOCK
        self.fh = None

    def __enter__(self):
        import fcntl

        self.fh = open(self.path, "a+")
        try:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.seek(0)
            owner = self.fh.read().strip() or "another process"
            self.fh.close()
            raise InputError(f"{self.path.parent} is in use by another sweep ({owner}); wait for "
                             "it to finish or stop it first") from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        self.fh.flush()
        return self

    def __exit__(self, *exc):
        import fcntl

        fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
        self.fh.close()


# --------------------------------------------------------------------------------------------
# Engines
# --------------------------------------------------------------------------------------------
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


class _SchedulerGone(Exception):
    """Raised by a backend when its scheduler is gone for good; run_sweep turns it into
    :class:`SchedulerLost` once it has cleaned up (it knows the directory and the counts)."""

    def __init__(self, address: str, waited_s: float):
        super().__init__(f"lost the Dask scheduler at {address}")
        self.address = address
        self.waited_s = waited_s


class _Backend(abc.ABC):
    """submit(chunk) -> future; completed futures are put on ``self.done`` (a queue).

    Each engine (processes, Dask) says how many chunks it runs at once, how it submits one and how
    it names itself; the rest has defaults."""

    def __init__(self):
        self.done: queue.Queue = queue.Queue()

    def _watch(self, fut) -> None:
        fut.add_done_callback(self.done.put)

    @abc.abstractmethod
    def slots(self) -> int:
        """How many chunks may be in flight at once."""

    @abc.abstractmethod
    def submit(self, chunk, run_fn):
        """Start a chunk of runs; returns a future watched with :meth:`_watch`."""

    def result(self, fut):
        return fut.result()

    def broken(self, err: BaseException) -> bool:
        """Whether ``err`` means the pool must be rebuilt."""
        return False

    def available(self) -> bool:
        """Whether chunks may be submitted now. False while the engine waits to get its scheduler
        back; raises :class:`_SchedulerGone` once it gives up."""
        return True

    def dropped(self, err: BaseException) -> bool:
        """Whether ``err`` (from a chunk's future or a submit) means the chunk was lost with the
        scheduler, not by its runs: it goes back in the queue, not among the suspects."""
        return False

    def rebuild(self) -> None:
        pass

    def close(self, interrupted: bool = False) -> None:
        pass

    @abc.abstractmethod
    def describe(self) -> str:
        """One line for the log: which engine, how many workers."""


class _ProcessBackend(_Backend):
    def __init__(self, workers: int):
        super().__init__()
        self.workers = workers
        self.pool = None
        self.rebuild()

    def rebuild(self) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = ProcessPoolExecutor(max_workers=self.workers,
                                        mp_context=multiprocessing.get_context("spawn"))

    def slots(self) -> int:
        return self.workers

    def submit(self, chunk, run_fn):
        fut = self.pool.submit(run_chunk, chunk, run_fn)
        self._watch(fut)
        return fut

    def broken(self, err: BaseException) -> bool:
        from concurrent.futures.process import BrokenProcessPool

        return isinstance(err, BrokenProcessPool)

    def close(self, interrupted: bool = False) -> None:
        if self.pool is None:
            return
        if interrupted:
            # Do not wait for the chunks in flight: their runs are lost and will be run again.
            procs = list(getattr(self.pool, "_processes", {}).values())
            self.pool.shutdown(wait=False, cancel_futures=True)
            for p in procs:
                if p.is_alive():
                    p.terminate()
            for p in procs:
                p.join(timeout=5)
        else:
            self.pool.shutdown(wait=True)
        self.pool = None

    def describe(self) -> str:
        return f"{self.workers} local worker processes"


def scheduler_grace_s() -> float:
    """How long a sweep waits for its Dask scheduler: to connect at the start, and to reconnect
    after the connection dropped before it gives up (then the Dask client closes itself). Dask's
    own setting ``distributed.comm.timeouts.connect``, 30 s by default; shorten it with e.g.
    ``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=10s``."""
    import dask
    from dask.utils import parse_timedelta

    return float(parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"),
                                 default="seconds"))


#: after the grace period the Dask client closes itself; this long more and the sweep stops
#: waiting for it anyway
GRACE_MARGIN_S = 5.0


class _DaskBackend(_Backend):
    """A Dask client on an existing scheduler (``--scheduler``) or on a LocalCluster.

    When the connection to the scheduler drops, the client cancels every future and tries to
    reconnect for :func:`scheduler_grace_s`. Meanwhile nothing is submitted and the cancelled
    chunks go back in the queue (they were lost with the scheduler, not by a worker); if the
    client gets back, the sweep goes on, otherwise :meth:`available` raises
    :class:`_SchedulerGone`.
    """

    def __init__(self, scheduler: str | None, workers: int):
        super().__init__()
        from distributed import Client, LocalCluster

        self.cluster = None
        self.grace = scheduler_grace_s()
        self._away_since: float | None = None
        if scheduler:
            # a scheduler file, as written by `dask scheduler --scheduler-file`
            from_file = scheduler.endswith(".json") and Path(scheduler).is_file()
            try:
                if from_file:
                    self.client = Client(scheduler_file=scheduler, timeout=self.grace)
                else:
                    self.client = Client(scheduler, timeout=self.grace)
            except (OSError, TimeoutError, ValueError) as err:
                raise InputError(f"--scheduler {scheduler!r}: cannot connect ({err}); start a "
                                 "scheduler there (dask scheduler) or check the address") from None
            self.where = f"Dask cluster at {scheduler}"
            self.address = self.client.scheduler.address
            if from_file:
                self.address += f" (from {scheduler})"
        else:
            import warnings

            with warnings.catch_warnings():
                # The scheduler's small HTTP endpoint (health checks; the dashboard is off) moves
                # to a free loopback port when 8787 is taken, and says so.
                warnings.filterwarnings("ignore", message="Port .* is already in use")
                self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1,
                                            processes=True, host="127.0.0.1",
                                            dashboard_address=None,
                                            worker_dashboard_address=None)
            self.client = Client(self.cluster, timeout=self.grace)
            self.where = f"local Dask cluster of {workers} worker processes on 127.0.0.1"
            self.address = self.cluster.scheduler_address
        self._slots = 1
        self._slots_at = 0.0
        self._n = 0

    def slots(self) -> int:
        now = time.monotonic()
        # (not while reconnecting: the RPC would wait for the connect timeout)
        if now - self._slots_at > 5.0 and self.client.status == "running":
            try:
                self._slots = max(1, int(sum(self.client.nthreads().values())))
            except Exception:  # noqa: BLE001 - keep the last count if the scheduler is busy
                pass
            self._slots_at = now
        return self._slots

    def submit(self, chunk, run_fn):
        self._n += 1
        key = f"h100sim-sweep-{chunk[0].run_id}-{len(chunk)}-{self._n}"
        fut = self.client.submit(run_chunk, list(chunk), run_fn, pure=False, key=key)
        self._watch(fut)
        return fut

    def available(self) -> bool:
        status = self.client.status
        if status == "running":
            self._away_since = None
            return True
        now = time.monotonic()
        if self._away_since is None:
            self._away_since = now
        waited = now - self._away_since
        # "closed": the client gave up reconnecting (or its LocalCluster is closing)
        if status in ("closing", "closed") or waited > self.grace + GRACE_MARGIN_S:
            raise _SchedulerGone(self.address, waited)
        return False

    def dropped(self, err: BaseException) -> bool:
        if getattr(err, "reason", None) == "scheduler-connection-lost":  # FutureCancelledError
            return True
        return self.client.status != "running"

    def close(self, interrupted: bool = False) -> None:
        lost = self._away_since is not None or self.client.status != "running"
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self._close_cluster(lost)

    def _close_cluster(self, lost: bool) -> None:
        """Close the LocalCluster (its workers first, directly). Without its scheduler, do not
        send it the shutdown RPC (that would wait for the connect timeout), and give the rest a
        few seconds at most."""
        if not lost:
            self.cluster.close()
            return
        self.cluster.shutdown_scheduler = False
        try:
            self.cluster.close(timeout=GRACE_MARGIN_S)
        except Exception:  # noqa: BLE001 - a TimeoutError or a comm error of a dead scheduler
            pass

    def describe(self) -> str:
        return self.where


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
                 spec_path: str | None) -> tuple[SweepSpec, dict[str, Any], list[RunTask], bool]:
    """Create or reopen a sweep directory. Returns (spec, manifest, tasks, created)."""
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
    design, tasks = plan_runs(spec, version)
    manifest = {
        "format": FORMAT,
        "name": spec.name,
        "spec_hash": spec.spec_hash(),
        "spec_path": spec_path,
        "spec": spec.to_json(),
        "package_version": package_version(),
        "model_version": version,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "seeding": "seed = SeedSequence(master).spawn(2)[1].spawn(points)[sample]"
                   ".spawn(replications)[replicate].generate_state(1)[0]",
        "design": design,
        "runs": [_task_json(t) for t in tasks],
    }
    return spec, manifest, tasks, True


def _auto_chunk(mean_s: float | None, remaining: int, slots: int, fixed: int | None) -> int:
    if fixed:
        return fixed
    if mean_s is None:
        return 1
    by_time = max(1, int(TARGET_CHUNK_SECONDS / max(mean_s, 1e-6)))
    by_balance = max(1, math.ceil(remaining / (2 * max(slots, 1))))
    return max(1, min(by_time, by_balance, MAX_CHUNK))


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
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"--workers {workers!r} is not allowed; expected an integer >= 1")
    if engine not in ENGINES:
        raise InputError(f"--engine {engine!r} is not allowed; expected one of {', '.join(ENGINES)}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise InputError(f"--chunk-size {chunk_size!r} is not allowed; expected an integer >= 1")
    if scheduler and engine not in ("auto", "dask"):
        raise InputError(f"--scheduler sends runs to Dask; it cannot go with --engine {engine}")
    if engine == "auto":
        engine = "dask" if scheduler else ("processes" if workers > 1 else "serial")
    version = version or model_version()
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; expected a directory")

    out.mkdir(parents=True, exist_ok=True)
    with _DirLock(out):
        spec, manifest, tasks, created = _prepare_dir(out, spec, resume, version, spec_path)
        if created:  # the plan is on disk before any run starts
            atomic_write_json(out / MANIFEST, manifest)
            _fsync_dir(out)
        (out / RUNS).mkdir(exist_ok=True)
        (out / FAILURES).mkdir(exist_ok=True)
        _clean_temp(out)
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

        backend = None
        interrupted = False
        gone: _SchedulerGone | None = None
        try:
            if not todo:
                pass
            elif engine == "serial":
                for task in todo:
                    handle(execute_task(task, run_fn))
            else:
                if engine == "processes":
                    backend = _ProcessBackend(min(workers, len(todo)))
                else:
                    backend = _DaskBackend(scheduler, workers)
                result.engine = backend.describe()
                _drive(backend, todo, run_fn, chunk_size, handle)
        except KeyboardInterrupt:
            interrupted = True
            raise
        except _SchedulerGone as err:  # raised as SchedulerLost below, once all is tidy
            gone = err
        finally:
            if backend is not None:
                backend.close(interrupted=interrupted)
            if bar is not None:
                bar.close()
            _clean_temp(out)  # a write cut short by Ctrl-C (we hold the lock: no one else writes)
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


def scheduler_lost_text(gone: _SchedulerGone, result: SweepResult, *, scheduler: str | None,
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


def _drive(backend: _Backend, todo: list[RunTask], run_fn, chunk_size: int | None,
           handle: Callable[..., None]) -> None:
    """Keep about two chunks per worker slot in flight until every task is handled.

    When a worker dies (a segfault, an out-of-memory kill, a lost Dask worker), every run of the
    chunks it took down becomes a *suspect*: suspects run again one at a time with nothing else
    in flight, so a run that kills its worker alone is recorded as failed and the others finish.

    When the engine loses its scheduler, nothing is submitted until it is back, and the chunks
    lost with it go back in the queue as they were (no run's fault); if the scheduler does not
    come back, ``backend.available()`` raises :class:`_SchedulerGone` out of here.
    """
    pending: deque[RunTask] = deque(todo)
    suspects: set[str] = set()
    inflight: dict[Any, list[RunTask]] = {}
    alone = None  # the future of a suspect running by itself
    run_time_sum = 0.0
    run_count = 0

    def fresh_pool() -> None:
        backend.rebuild()
        backend.done = queue.Queue()

    while pending or inflight:
        slots = backend.slots() if backend.available() else 0
        while pending and alone is None and len(inflight) < 2 * slots:
            if pending[0].run_id in suspects:
                if inflight:
                    break  # let the pool drain, then run the suspect by itself
                chunk = [pending.popleft()]
            else:
                mean = run_time_sum / run_count if run_count else None
                size = _auto_chunk(mean, len(pending), slots, chunk_size)
                chunk = [pending.popleft() for _ in range(min(size, len(pending)))]
            try:
                fut = backend.submit(chunk, run_fn)
            except Exception as err:  # noqa: BLE001
                if backend.dropped(err):  # the scheduler went away just now
                    pending.extendleft(reversed(chunk))
                    break
                if not backend.broken(err):
                    raise
                # The pool broke under a chunk in flight: put this one back; the broken chunks
                # come out of the queue below, where the pool is rebuilt.
                pending.extendleft(reversed(chunk))
                if not inflight:
                    fresh_pool()
                    continue
                break
            inflight[fut] = chunk
            if chunk[0].run_id in suspects:
                alone = fut
        try:
            fut = backend.done.get(timeout=1.0)
        except queue.Empty:
            continue
        chunk = inflight.pop(fut, None)
        if chunk is None:
            continue
        was_alone = fut is alone
        if was_alone:
            alone = None
        try:
            payloads = backend.result(fut)
        except Exception as err:  # noqa: BLE001 - the worker died (or Dask lost it)
            if backend.dropped(err):  # lost with the scheduler: run it again as it was
                pending.extendleft(reversed(chunk))
                continue
            lost = [chunk]
            if backend.broken(err):
                lost += list(inflight.values())  # the whole pool went down with it
                inflight.clear()
                alone = None
                fresh_pool()
            if was_alone:  # it took its worker down by itself: record it
                t = chunk[0]
                handle({"run_id": t.run_id, "ok": False,
                        "error": f"worker died: {type(err).__name__}: {err}",
                        "traceback": "".join(traceback.format_exception(err)),
                        "worker": None, "elapsed_s": 0.0}, attempts=2)
                lost = lost[1:]
            for ch in reversed(lost):
                for t in reversed(ch):
                    suspects.add(t.run_id)
                    pending.appendleft(t)
            continue
        for p in payloads:
            run_time_sum += float(p.get("elapsed_s", 0.0))
            run_count += 1
            handle(p, 2 if p["run_id"] in suspects else 1)


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
def _read_record(path: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta[RUN_META_KEY])


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
    for rid in sorted(done - set(records)):
        records[rid] = _read_record(out / RUNS / f"{rid}.parquet")
    return list(records.values())


def write_index(out: Path) -> None:
    """Cache every finished run's record in ``index.parquet`` (the runs table, one row per run)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    recs = _records(out)
    table = pa.table({"run_id": pa.array([r["run_id"] for r in recs], pa.string()),
                      "record": pa.array([json.dumps(r) for r in recs], pa.string())})
    buf = pa.BufferOutputStream()
    pq.write_table(table, buf)
    atomic_write_bytes(out / INDEX, buf.getvalue().to_pybytes())


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
        files = sorted((out / RUNS).glob("*.parquet"))
        files = [f for f in files if not f.name.startswith(".")]
        if dataset:
            import pyarrow.dataset as ds

            return ds.dataset([str(f) for f in files], format="parquet")
        runs = load_results(out, "runs")
        if not files:
            return pd.DataFrame(columns=["run_id", "sample", "replicate", "seed", *param_names,
                                         "step", "date"])
        import pyarrow.parquet as pq

        frames = [pq.read_table(f).to_pandas() for f in files]
        frames = [f for f in frames if len(f)]
        if not frames:
            return pd.DataFrame(columns=["run_id", "sample", "replicate", "seed", *param_names,
                                         "step", "date"])
        series = pd.concat(frames, ignore_index=True)
        keep = ["run_id", "sample", "replicate", "seed", *param_names]
        merged = runs[keep].merge(series, on="run_id", how="inner")
        return merged.sort_values(["sample", "replicate", "step"], kind="stable").reset_index(drop=True)
    if dataset:
        raise InputError("dataset=True is for kind='series' (the runs table fits in memory)")
    rows = []
    for rec in _records(out):
        row = {"run_id": rec["run_id"], "sample": rec["sample"], "replicate": rec["replicate"],
               "seed": rec["seed"]}
        for p in param_names:
            row[p] = rec["params"].get(p)
        for name in summary_defs:
            row[name] = rec["summary"].get(name)
        row["elapsed_s"] = rec.get("elapsed_s")
        row["status"] = "ok"
        rows.append(row)
    if include_failed:
        runs_by_id = {r["run_id"]: r for r in manifest["runs"]}
        done = {r["run_id"] for r in rows}
        for rid in sorted(failed_ids(out) - done):
            if rid not in runs_by_id:
                continue
            r = runs_by_id[rid]
            try:
                err = json.loads((out / FAILURES / f"{rid}.json").read_text()).get("error")
            except (OSError, ValueError):
                err = None
            row = {"run_id": rid, "sample": r["sample"], "replicate": r["replicate"],
                   "seed": r["seed"], **{p: r["params"].get(p) for p in param_names},
                   **{n: None for n in summary_defs}, "elapsed_s": None, "status": "failed",
                   "error": err}
            rows.append(row)
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
