"""One runner for every batch of model runs: in this process, on local processes or on Dask.

``h100sim validate`` and ``compare`` (through :mod:`experiments.ensemble`), ``h100sim sweep`` and
the app's Compare tab all hand a list of :class:`RunTask` to :func:`run_tasks`, which calls
``handle(payload)`` as each run finishes. A run depends only on its scenario, overrides and seed,
so every engine gives the same per-run results; callers put them back in their own order.

Engines: ``serial`` (in this process), ``processes`` (a spawn-based ProcessPoolExecutor),
``dask`` (a LocalCluster on 127.0.0.1, or an existing cluster given by its scheduler). Runs go
out in chunks sized from the measured run time, so scheduling overhead stays small. A worker
that dies takes its chunk down; those runs go again one at a time, so a run that kills its
worker alone is recorded as failed. A Dask scheduler that goes away is waited for (Dask's
connect timeout), then :class:`SchedulerGone` ends the batch.

Pandas, Dask and the model are imported only where they are used.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import hashlib
import math
import os
import queue
import socket
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from experiments.store import json_value
from model.errors import InputError

ENGINES = ("auto", "serial", "processes", "dask")
#: aim for chunks of about this many seconds of work
TARGET_CHUNK_SECONDS = 3.0
MAX_CHUNK = 500


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
    from experiments.outputs import package_version

    return f"{package_version()}+{digest.hexdigest()[:10]}"


@dataclass(frozen=True)
class RunTask:
    """Everything one run needs; picklable, so it can go to a worker process or a Dask worker.

    ``overrides`` is the full set of config overrides passed to the model (for a sweep: the spec's
    fixed overrides, ``run.end`` for an end date, and this design point's ``params``). ``series``
    and ``summary`` say what a run keeps (:func:`extract`); ``series=None`` keeps the model's
    frame as it is (an ensemble's run). ``model_version`` (None: not checked) is the version the
    run was planned with; a worker with another model code refuses it.
    """

    run_id: str
    base: str
    seed: int
    overrides: dict = field(default_factory=dict)
    sample: int = 0
    replicate: int = 0
    params: dict = field(default_factory=dict)
    steps: int | None = None
    series: tuple | str | None = None
    summary: tuple = ()
    model_version: str | None = None


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


def extract(df, task: RunTask):
    """What a run keeps: (series frame: step, date, kept series as float64; summary dict)."""
    import pandas as pd

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
    return out, {m.name: json_value(m.compute(df)) for m in task.summary}


def execute_task(task: RunTask, run_fn: Callable[[RunTask], Any] | None = None) -> dict[str, Any]:
    """Run one task and return its payload; an exception becomes a failure payload."""
    t0 = time.perf_counter()
    fn = run_fn or run_model

    def payload(**outcome: Any) -> dict[str, Any]:
        return {"run_id": task.run_id, **outcome, "worker": f"{socket.gethostname()}:{os.getpid()}",
                "elapsed_s": time.perf_counter() - t0}

    try:
        if task.model_version is not None and task.model_version != model_version():
            raise RuntimeError(f"this worker has model version {model_version()!r}; the sweep "
                               f"was planned with {task.model_version!r} (install the same "
                               "h100sim on every worker)")
        df = fn(task)
        series, summary = (df, {}) if task.series is None else extract(df, task)
    except Exception as err:  # noqa: BLE001 - a failed run is recorded, the sweep goes on
        return payload(ok=False, error=f"{type(err).__name__}: {err}",
                       traceback=traceback.format_exc())
    return payload(ok=True, series=series, summary=summary)


def run_chunk(tasks: Sequence[RunTask], run_fn: Callable[[RunTask], Any] | None = None) -> list[dict]:
    """Run a chunk of tasks one after the other (in a worker process or a Dask worker)."""
    return [execute_task(t, run_fn) for t in tasks]


class SchedulerGone(Exception):
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
        back; raises :class:`SchedulerGone` once it gives up."""
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
    :class:`SchedulerGone`.
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
            connect = {"scheduler_file" if from_file else "address": scheduler}
            try:
                self.client = Client(**connect, timeout=self.grace)
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
            raise SchedulerGone(self.address, waited)
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


def _auto_chunk(mean_s: float | None, remaining: int, slots: int, fixed: int | None) -> int:
    if fixed:
        return fixed
    if mean_s is None:
        return 1
    by_time = max(1, int(TARGET_CHUNK_SECONDS / max(mean_s, 1e-6)))
    by_balance = max(1, math.ceil(remaining / (2 * max(slots, 1))))
    return max(1, min(by_time, by_balance, MAX_CHUNK))


def _drive(backend: _Backend, todo: list[RunTask], run_fn, chunk_size: int | None,
           handle: Callable[..., None], should_stop: Callable[[], bool] | None = None) -> None:
    """Keep about two chunks per worker slot in flight until every task is handled.

    When a worker dies (a segfault, an out-of-memory kill, a lost Dask worker), every run of the
    chunks it took down becomes a *suspect*: suspects run again one at a time with nothing else
    in flight, so a run that kills its worker alone is recorded as failed and the others finish.

    When the engine loses its scheduler, nothing is submitted until it is back, and the chunks
    lost with it go back in the queue as they were (no run's fault); if the scheduler does not
    come back, ``backend.available()`` raises :class:`SchedulerGone` out of here.
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
        if should_stop and should_stop():
            raise Cancelled
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


class Cancelled(Exception):
    """The caller's ``should_stop()`` said stop; the runs in flight were stopped."""


def pick_engine(engine: str, workers: int, scheduler: str | None,
                chunk_size: int | None = None) -> str:
    """Check the engine options (InputError names the flag) and resolve ``auto``: dask with a
    scheduler, processes with more than one worker, else serial."""
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
    return engine


@contextlib.contextmanager
def open_engine(engine: str, workers: int = 1, scheduler: str | None = None,
                n_tasks: int = 1) -> Iterator[_Backend | None]:
    """The backend of a resolved engine (None: serial, or nothing to run), closed on exit; when
    the caller stops on an exception (Ctrl-C, a cancel, a failed write) the runs in flight are
    stopped, not waited for."""
    backend = None
    if n_tasks and engine == "processes":
        backend = _ProcessBackend(min(workers, n_tasks))
    elif n_tasks and engine == "dask":
        backend = _DaskBackend(scheduler, workers)
    interrupted = False
    try:
        yield backend
    except BaseException:  # Ctrl-C, a cancel, a failed write: the runs in flight are not wanted
        interrupted = True
        raise
    finally:
        if backend is not None:
            backend.close(interrupted=interrupted)


def run_tasks(backend: _Backend | None, tasks: Sequence[RunTask], handle: Callable[..., None], *,
              run_fn: Callable[[RunTask], Any] | None = None, chunk_size: int | None = None,
              should_stop: Callable[[], bool] | None = None) -> None:
    """Run every task, on ``backend`` (None: one after the other in this process), calling
    ``handle(payload, attempts)`` as each finishes (:func:`execute_task`'s payload). Raises
    :class:`Cancelled` when ``should_stop()`` turns true, :class:`SchedulerGone` when a Dask
    scheduler is gone for good."""
    if backend is not None:
        _drive(backend, list(tasks), run_fn, chunk_size, handle, should_stop)
        return
    for task in tasks:
        if should_stop and should_stop():
            raise Cancelled
        handle(execute_task(task, run_fn))
