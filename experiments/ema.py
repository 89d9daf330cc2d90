"""EMA Workbench connector (the optional extra ``h100sim[ema]``, package ``ema_workbench``).

    from ema_workbench import perform_experiments
    from experiments.ema import ema_model

    model = ema_model(["packaging_multiplier", "pace", "funding_multiplier"], seeds=range(3))
    experiments, outcomes = perform_experiments(model, scenarios=64)

:func:`ema_model` is a ready ``ReplicatorModel``: the levers named become EMA uncertainties (or
EMA levers) with the ranges of the lever catalogue (``experiments.levers()``: the app's slider
range where the app has the lever, else give one), every replication is one seed, and each
outcome is a statistic of the run (the window/statistic language of targets and sweep specs),
aggregated over the seeds by its median. Each run goes through :func:`experiments.run_outcomes`,
so the model is validated as ``--set`` validates it and released after the run.

:func:`sweep_experiments` turns a finished ``h100sim sweep`` into the ``(experiments,
outcomes)`` pair EMA's analysis functions (``feature_scoring``, ``prim``) read, and
:func:`salib_problem` into SALib's ``(problem, X, Y)`` (these two need neither EMA nor SALib).
A date outcome (``date_of_max``/``date_of_min``) is given to EMA and SALib as a decimal year
(2023-07-02 is 2023.5).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.api import DEFAULT_SEED, parse_outcomes, run_outcomes
from model.errors import InputError

AGGREGATES = {"median": np.nanmedian, "mean": np.nanmean}


def decimal_year(value: Any) -> float:
    """A date as a decimal year (2023-01-01 is 2023.0); None/NaT is NaN; numbers pass."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return math.nan
    if isinstance(value, (dt.date, pd.Timestamp, np.datetime64)):
        d = pd.Timestamp(value)
        if pd.isna(d):
            return math.nan
        start = pd.Timestamp(d.year, 1, 1)
        return d.year + (d - start).days / (pd.Timestamp(d.year + 1, 1, 1) - start).days
    return float(value)


def run_numbers(seed: int = DEFAULT_SEED, *, scenario: str = "baseline", outcome_spec: Any = None,
                **levers: Any) -> dict[str, float]:
    """One run as EMA calls it (levers and the seed as keywords): every outcome a float."""
    values = run_outcomes(levers, seed=seed, outcomes=outcome_spec, scenario=scenario)
    return {name: decimal_year(v) for name, v in values.items()}


def _parameter(key: str, rng: Sequence[float] | None, scenario: str):
    """The EMA parameter of a lever (RealParameter, IntegerParameter or BooleanParameter)."""
    from ema_workbench import BooleanParameter, IntegerParameter, RealParameter

    from experiments.catalogue import check_range, lever_info

    lv = lever_info(key, scenario)
    if lv.kind == "bool":
        return BooleanParameter(lv.key)
    if lv.kind not in ("float", "int"):
        raise InputError(f"lever {key!r} is a {lv.kind}; EMA can vary numbers and switches only "
                         "(fix it with constants={...})")
    if rng is None:
        rng = lv.explore
    if rng is None:
        raise InputError(f"lever {key!r} has no range to explore by default (the model accepts "
                         f"{lv.range_text()} {lv.unit}); give one, e.g. "
                         f"ranges={{{lv.key!r}: (low, high)}}")
    if not isinstance(rng, Sequence) or len(rng) != 2:
        raise InputError(f"range of {key!r} = {rng!r} is not allowed; expected (low, high)")
    low, high = rng
    check_range(lv, low, high)
    if lv.kind == "int":
        return IntegerParameter(lv.key, int(low), int(high))
    return RealParameter(lv.key, float(low), float(high))


def _names(levers: Iterable[str] | Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    if levers is None:
        return []
    if isinstance(levers, Mapping):
        return list(levers.items())
    if isinstance(levers, str):
        return [(levers, None)]
    return [(k, None) for k in levers]


def ema_model(uncertainties: Iterable[str] | Mapping[str, Any] = ("packaging_multiplier", "pace",
                                                                   "funding_multiplier"),
              *, levers: Iterable[str] | Mapping[str, Any] | None = None,
              outcomes: Any = None, seeds: Iterable[int] = (0, 1, 2),
              scenario: str = "baseline", constants: Mapping[str, Any] | None = None,
              ranges: Mapping[str, Sequence[float]] | None = None, aggregate: str = "median",
              name: str = "h100sim"):
    """An EMA Workbench ``ReplicatorModel`` of the H100 market.

    uncertainties  lever keys (their catalogue range), or ``{key: (low, high)}``
    levers         policy levers in EMA's sense, given the same way (EMA's ``policies=``)
    outcomes       an outcome spec as :func:`experiments.run_outcomes` takes (None: the default
                   headline outcomes); each becomes a ``ScalarOutcome``
    seeds          one replication per seed (EMA's replications)
    constants      levers fixed in every run, e.g. ``{"end": "2024-06-30"}`` for shorter runs
    ranges         ranges for keys given by name only
    aggregate      "median" or "mean" over the seeds

    Everything is checked here, before EMA starts (InputError naming the lever or outcome).
    """
    try:
        from ema_workbench import Constant, ReplicatorModel, ScalarOutcome
    except ImportError as err:
        raise ImportError("experiments.ema needs EMA Workbench: pip install 'h100sim[ema]'") from err

    if aggregate not in AGGREGATES:
        raise InputError(f"aggregate = {aggregate!r} is not allowed; expected one of "
                         f"{', '.join(AGGREGATES)}")
    stats = parse_outcomes(outcomes)
    seed_list = []
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise InputError(f"seeds: {s!r} is not allowed; expected integers >= 0")
        seed_list.append(int(s))
    if not seed_list or len(set(seed_list)) != len(seed_list):
        raise InputError(f"seeds = {seed_list!r} is not allowed; expected one or more distinct "
                         "seeds (one replication each)")
    ranges = dict(ranges or {})
    from experiments.api import _check_levers
    from model import load_scenario

    fixed = _check_levers(constants)
    load_scenario(scenario, **fixed)  # bad constants fail here, not in every run
    spec = {n: st for n, st in stats.items()}
    model = ReplicatorModel(name, function=functools.partial(
        run_numbers, scenario=scenario, outcome_spec=spec))
    used: set[str] = set(fixed)
    for target, given in (("uncertainties", uncertainties), ("levers", levers)):
        params = []
        for key, rng in _names(given):
            p = _parameter(key, rng if rng is not None else ranges.get(key), scenario)
            if p.name in used:
                raise InputError(f"lever {p.name!r} is given twice (uncertainties, levers and "
                                 "constants name each lever once)")
            used.add(p.name)
            params.append(p)
        setattr(model, target, params)
    model.constants = [Constant(k, v) for k, v in fixed.items()]
    model.outcomes = [ScalarOutcome(n, function=AGGREGATES[aggregate]) for n in stats]
    model.replications = [{"seed": s} for s in seed_list]
    return model


# --------------------------------------------------------------------------------------------
# A finished sweep in EMA's and SALib's formats
# --------------------------------------------------------------------------------------------
def _sweep_runs(directory: str | Path) -> tuple[pd.DataFrame, list[str], list[str], dict]:
    from experiments.sweep import load_results, read_manifest

    manifest = read_manifest(Path(directory))
    spec = manifest["spec"]
    runs = load_results(directory, "runs")
    params = list(spec["parameters"])
    metrics = [m["name"] for m in spec["metrics"]["summary"]]
    if not metrics:
        raise InputError(f"{directory}: the sweep keeps no summary metric ([[metrics.summary]]), "
                         "so there is no outcome to export")
    return runs, params, metrics, spec


def sweep_experiments(directory: str | Path, *, aggregate: str | None = None
                      ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """A finished ``h100sim sweep`` as EMA's ``(experiments, outcomes)``.

    ``experiments`` has one row per run (or per design point with ``aggregate``), a column per
    swept parameter, ``seed`` (runs only), and EMA's ``scenario``, ``policy`` and ``model``
    columns; ``outcomes`` maps each summary metric to a float array in the same order (dates
    as decimal years). ``aggregate`` ("median" or "mean") folds the replications of a design
    point into one row, as EMA's ReplicatorModel does.
    """
    runs, params, metrics, spec = _sweep_runs(directory)
    for m in metrics:
        if runs[m].dtype.kind == "M":
            runs[m] = [decimal_year(v) for v in runs[m]]
    if aggregate is not None:
        if aggregate not in AGGREGATES:
            raise InputError(f"aggregate = {aggregate!r} is not allowed; expected one of "
                             f"{', '.join(AGGREGATES)}")
        runs = (runs.groupby("sample", sort=True)
                .agg({**{p: "first" for p in params}, **{m: aggregate for m in metrics}})
                .reset_index())
        exp = runs[params].copy()
        exp["scenario"] = runs["sample"].to_numpy()
    else:
        exp = runs[[*params, "seed"]].copy()
        exp["scenario"] = runs["sample"].to_numpy()
    exp["policy"] = "none"
    exp["model"] = str(spec["sweep"]["name"])
    outcomes = {m: runs[m].to_numpy(dtype=float) for m in metrics}
    return exp.reset_index(drop=True), outcomes


def salib_problem(directory: str | Path, *, aggregate: str = "mean"
                  ) -> tuple[dict[str, Any], np.ndarray, dict[str, np.ndarray]]:
    """A finished sweep as SALib reads it: ``(problem, X, Y)``.

    ``problem`` is SALib's dict (``num_vars``, ``names``, ``bounds`` from the spec's ranges),
    ``X`` the design points in design order (one row per point), ``Y`` maps each summary metric
    to one value per point (``aggregate`` over its replications). For a Sobol or Morris design
    these are the inputs of ``SALib.analyze.sobol.analyze(problem, Y[name])`` and
    ``morris.analyze(problem, X, Y[name])``.
    """
    exp, outcomes = sweep_experiments(directory, aggregate=aggregate)
    _, params, _, spec = _sweep_runs(directory)
    bounds = []
    for p in params:
        d = spec["parameters"][p]
        if "values" in d:
            bounds.append([float(min(d["values"])), float(max(d["values"]))])
        else:
            bounds.append([float(d["low"]), float(d["high"])])
    problem = {"num_vars": len(params), "names": params, "bounds": bounds}
    return problem, exp[params].to_numpy(dtype=float), outcomes
