"""Ensembles: one scenario run for several seeds, and the median / 10-90% band across them.

Runs go through the one runner (:mod:`experiments.runner`): in this process, or with
``workers > 1`` on local processes (spawned: ``import mesa`` sets the start method). Results come
back in the order asked for whatever the number of workers, so outputs are identical for any
``workers``.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from model.errors import InputError


class RunFailed(RuntimeError):
    """A run raised; the message is its error (type and text), ``traceback`` the worker's."""

    def __init__(self, error: str, traceback: str = ""):
        super().__init__(error)
        self.traceback = traceback


def run_series(runs: Sequence[tuple[str, int, Mapping[str, Any] | None]], workers: int = 1, *,
               engine: str = "auto", on_run: Callable[[], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> list[pd.DataFrame]:
    """The series of each ``(scenario, seed, overrides)`` run, in the order given.

    ``on_run()`` is called as each run finishes; ``should_stop()`` (polled) cancels the batch
    with :class:`experiments.runner.Cancelled`. A run that raises stops the batch with
    :class:`RunFailed`.
    """
    from experiments.runner import RunTask, open_engine, pick_engine, run_tasks

    tasks = [RunTask(run_id=str(i), base=scenario, seed=int(seed), overrides=dict(overrides or {}))
             for i, (scenario, seed, overrides) in enumerate(runs)]
    frames: dict[str, pd.DataFrame] = {}

    def handle(payload: dict[str, Any], attempts: int = 1) -> None:
        if not payload["ok"]:
            raise RunFailed(payload["error"], payload.get("traceback", ""))
        frames[payload["run_id"]] = payload["series"]
        if on_run is not None:
            on_run()

    engine = pick_engine(engine, workers, None)
    with open_engine(engine, workers, None, len(tasks)) as backend:
        run_tasks(backend, tasks, handle, should_stop=should_stop)
    return [frames[t.run_id] for t in tasks]


def _check_args(seeds: Sequence[int], workers: int) -> list[int]:
    seeds = list(seeds)
    if not seeds:
        raise InputError("an ensemble needs at least one seed")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise InputError(f"seed {s!r} is not allowed; expected a non-negative integer")
    if len(set(seeds)) != len(seeds):
        raise InputError(f"seeds {seeds!r} repeat; each run of an ensemble needs its own seed")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"workers = {workers!r} is not allowed; expected an integer >= 1")
    return [int(s) for s in seeds]


def run_ensemble(
    scenario: str,
    seeds: Sequence[int],
    workers: int = 1,
    overrides: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> list[pd.DataFrame]:
    """Series of ``scenario`` for each seed, in the order of ``seeds``.

    ``overrides`` are config values as for ``H100Market(**overrides)``. Bad scenarios or
    overrides raise InputError before any run starts.
    """
    from model import load_scenario

    seeds = _check_args(seeds, workers)
    overrides = dict(overrides or {})
    load_scenario(scenario, **overrides)  # refuse bad input here, not inside a worker
    from tqdm.auto import tqdm

    with tqdm(total=len(seeds), desc=f"{scenario} x{len(seeds)} seeds", unit="run", leave=False,
              disable=not progress) as bar:
        return run_series([(scenario, s, overrides) for s in seeds], workers,
                          on_run=lambda: bar.update(1))


def band(frames: Sequence[pd.DataFrame], column: str) -> pd.DataFrame:
    """Median, 10th and 90th percentile across runs, per date.

    ``column`` is a series name or a ratio ``"a / b"``. Returns a DataFrame indexed by date
    (DatetimeIndex named ``date``) with columns ``median``, ``p10``, ``p90``. Runs with different
    dates are aligned on date; a date missing from a run (or a NaN) is skipped for that run;
    infinite values count as such (see :func:`experiments.targets.nan_quantile`).
    """
    from experiments.targets import metric_series, nan_quantile

    if not frames:
        raise ValueError("band needs at least one run")
    wide = pd.concat([metric_series(df, column).rename(i) for i, df in enumerate(frames)], axis=1)
    wide = wide.sort_index()
    values = wide.to_numpy(dtype=float)
    out = pd.DataFrame(index=wide.index)
    out["median"] = nan_quantile(values, 0.5, axis=1)
    out["p10"] = nan_quantile(values, 0.1, axis=1)
    out["p90"] = nan_quantile(values, 0.9, axis=1)
    out.index.name = "date"
    return out


def bands(frames: Sequence[pd.DataFrame], columns: Sequence[str]) -> dict[str, pd.DataFrame]:
    """:func:`band` for several columns; missing columns are skipped."""
    have = set(frames[0].columns) if frames else set()
    return {c: band(frames, c) for c in columns if all(p.strip() in have for p in c.split("/"))}


def scenario_events(scenario: str, overrides: Mapping[str, Any] | None = None) -> list[tuple]:
    """The scenario's chart markers ``[(date, label, kind), ...]`` (``H100Market.events``).

    Builds the model without running it; events come from the scenario's configuration.
    """
    from model import H100Market, release_model

    m = H100Market(scenario=scenario, seed=0, **dict(overrides or {}))
    try:
        return [tuple(ev) for ev in m.events]
    finally:
        release_model(m)
