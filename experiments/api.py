"""The experiment API: what an outside tool (EMA Workbench, SALib, a notebook, a script) needs to
treat the model as a function from levers to numbers.

    from experiments import levers, outcomes, run_outcomes
    levers()                                   # every lever: key, kind, range, unit, default, meaning
    run_outcomes({"packaging_multiplier": 2})  # one run -> {outcome name: number}
    outcomes(series, {"peak_spot": {"metric": "spot_price", "window": [...], "stat": "max"}})

All three are pure functions of their arguments: the same levers, seed and scenario give the same
numbers, in any process and in any order. Outcomes use the window/statistic language of targets
files and sweep specs (``experiments.targets.STATS``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from experiments.targets import Statistic
from model.errors import InputError

#: The seed of a single run when none is given: the CLI (`h100sim run`), the API and the EMA
#: connector use it; ensembles use seeds 0..N-1, so a single run is their first member.
DEFAULT_SEED = 0

#: The headline outcomes :func:`run_outcomes` returns when none are asked for (windows within
#: the baseline horizon, autumn 2022 to the end of 2026).
DEFAULT_OUTCOMES: dict[str, dict[str, Any]] = {
    "peak_spot_price": {"metric": "spot_price", "window": ["2023-01-01", "2024-12-31"],
                        "stat": "max"},
    "spot_price_2026": {"metric": "spot_price", "window": ["2026-01-01", "2026-12-31"],
                        "stat": "mean"},
    "peak_lead_time": {"metric": "lead_time_weeks", "window": ["2022-10-03", "2026-12-31"],
                       "stat": "max"},
    "training_share_2025": {"metric": "training_share", "window": ["2025-01-01", "2025-12-31"],
                            "stat": "mean"},
    "utilization_2026": {"metric": "utilization", "window": ["2026-01-01", "2026-12-31"],
                         "stat": "mean"},
    "gpus_installed_end": {"metric": "gpus_installed", "window": ["2026-12-01", "2026-12-31"],
                           "stat": "last"},
    "smuggled_cards_total": {"metric": "smuggled_cards", "window": ["2022-10-03", "2026-12-31"],
                             "stat": "sum"},
    "new_capacity_irr_2024": {"metric": "new_capacity_irr", "window": ["2024-01-01", "2024-12-31"],
                              "stat": "mean"},
}


def levers(scenario: str = "baseline") -> list[dict[str, Any]]:
    """Every lever (each scalar key of the scenario file) as a dict: ``key`` (the leaf name that
    ``--set`` and :func:`run_outcomes` take), ``dotted``, ``kind`` (float, int, bool, date),
    ``low``/``high`` (what the model accepts; None for bool and date), ``default`` (its value in
    ``scenario``), ``unit``, ``meaning``, ``explore`` (the app's slider range for the app's
    levers, else None), ``app`` and ``live``."""
    from experiments.catalogue import lever_catalogue

    return [lv.to_dict() for lv in lever_catalogue(scenario)]


def parse_outcomes(spec: Any = None, where: str = "outcomes") -> dict[str, Statistic]:
    """Checked outcome statistics by name. ``spec`` is None (:data:`DEFAULT_OUTCOMES`), a
    mapping ``{name: {metric, window, stat[, base_window, base_stat, window_stat]}}``, or a list
    of such tables with a ``name`` each (a sweep spec's ``[[metrics.summary]]``). InputError
    names the outcome, the field, the value and what is allowed."""
    from experiments.targets import parse_statistic
    from model import SERIES
    from model.record import EXTRA_SERIES
    from model.schema import Fields

    if spec is None:
        spec = DEFAULT_OUTCOMES
    if isinstance(spec, Mapping):
        items = list(spec.items())
    elif isinstance(spec, Sequence) and not isinstance(spec, str):
        items = []
        for i, table in enumerate(spec):
            if isinstance(table, Statistic):
                items.append((getattr(table, "name", f"{table.metric}_{table.stat}"), table))
                continue
            if not isinstance(table, Mapping) or not isinstance(table.get("name"), str):
                raise InputError(f"{where}[{i}] = {table!r} is not allowed; expected a table with "
                                 "name, metric, window and stat")
            items.append((table["name"], {k: v for k, v in table.items() if k != "name"}))
    else:
        raise InputError(f"{where} = {spec!r} is not allowed; expected None, a mapping "
                         "{name: {metric, window, stat}} or a list of tables with a name")
    if not items:
        raise InputError(f"{where} is empty; name at least one outcome")
    series = [s for s in (*SERIES, *EXTRA_SERIES) if s != "date"]
    out: dict[str, Statistic] = {}
    for name, table in items:
        if not isinstance(name, str) or not name:
            raise InputError(f"{where}: outcome name {name!r} is not allowed; expected a string")
        if name in out:
            raise InputError(f"{where}: outcome {name!r} is given twice")
        if isinstance(table, Statistic):
            out[name] = table
            continue
        f = Fields(where, f"outcome {name!r}", noun="field")
        if not isinstance(table, Mapping):
            raise f.refuse(f"{table!r} is not a table with metric, window and stat")
        table = {k: (list(v) if isinstance(v, tuple) else v) for k, v in table.items()}
        f.keys(table, ("metric", "window", "stat", "base_window", "base_stat", "window_stat"))
        for key in ("metric", "window", "stat"):
            if key not in table:
                raise f.missing(key, "metric (a series or 'a / b'), window ([start, end]) and stat")
        out[name] = Statistic(**parse_statistic(f, table, series=series))
    return out


def _plain(value: Any) -> float | dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return float(value)


def outcomes(series: pd.DataFrame, spec: Any = None) -> dict[str, float | dt.date | None]:
    """The named scalar outcomes of one run's series (``m.series()``, ``read_run(dir)`` or a
    frame with a ``date`` column or DatetimeIndex). Numeric statistics are floats (NaN when the
    window holds no value, e.g. no trade); ``date_of_max``/``date_of_min`` are dates (None)."""
    return {name: _plain(st.compute(series)) for name, st in parse_outcomes(spec).items()}


def _check_levers(values: Any) -> dict[str, Any]:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise InputError(f"levers = {values!r} is not allowed; expected a mapping "
                         "{lever key: value}, e.g. {'packaging_multiplier': 2.0}")
    for key in values:
        if not isinstance(key, str):
            raise InputError(f"lever key {key!r} is not allowed; expected a string such as "
                             "'packaging_multiplier'")
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in values.items()}


def _check_seed(seed: Any) -> int:
    if hasattr(seed, "item") and not isinstance(seed, bool):
        seed = seed.item()  # numpy integers, as samplers hand them out
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed = {seed!r} is not allowed; expected an integer >= 0")
    return seed


def run_outcomes(levers: Mapping[str, Any] | None = None, seed: int = DEFAULT_SEED,
                 outcomes: Any = None, scenario: str = "baseline") -> dict[str, Any]:
    """Run the model once and return ``{outcome name: value}``.

    ``levers`` maps lever keys (see :func:`levers`; leaf or dotted names) to values, validated as
    ``--set`` validates them; ``outcomes`` is an outcome spec (see :func:`parse_outcomes`; None:
    :data:`DEFAULT_OUTCOMES`). The model is released after the run (``release_model``), so a
    long-lived worker does not keep every model alive. InputError for bad levers or outcomes,
    raised before the run starts.
    """
    from model import H100Market, release_model

    overrides = _check_levers(levers)
    seed = _check_seed(seed)
    stats = parse_outcomes(outcomes)
    m = H100Market(scenario=scenario, seed=seed, **overrides)
    try:
        m.run_to_end()
        series = m.series()
    finally:
        release_model(m)
    return {name: _plain(st.compute(series)) for name, st in stats.items()}
