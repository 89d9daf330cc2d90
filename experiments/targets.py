"""Calibration targets: a TOML file of facts the model's series must reproduce.

A targets file is a list of ``[[target]]`` tables::

    [[target]]
    id = "spot-peak-2023"
    metric = "spot_price"              # a model series, or a ratio "a / b" of two series
    window = ["2023-04-01", "2023-12-31"]
    stat = "max"                       # see STATS
    op = "between"                     # ">=" | "<=" | "between"
    value = [6.0, 12.0]                # a number, a [low, high] pair, or ISO dates for date_of_*
    source = "DOMAIN.md §6"
    scenario = "baseline"              # optional; default "baseline"

``stat = "pct_change"`` compares two windows: ``window_stat`` over ``window`` divided by
``base_stat`` over ``base_window``, minus one (both stats default to ``mean``).
Two statistics are for stylized facts: ``volatility`` (the median absolute week-on-week change of
the log of the series; a change needs two consecutive weeks with values) and ``trade_share`` (the
share of weeks in the window with a value: a trade price is NaN in a week without a trade).

Everything is checked when the file is read (:func:`load_targets`): unknown keys, metrics, stats
and operators, windows outside the scenario's run horizon and malformed values raise
:class:`model.errors.InputError` naming the file, the target id, the field, the value and what is
allowed. :func:`compute_stat` is the one place a statistic of a series is computed; the sweep
code imports it too.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from model.errors import InputError
from model.schema import Fields, Window, parse_toml, read_text, suggest

#: statistics of one window; date_of_* return a datetime.date, the others a float
NUMERIC_STATS = ("max", "min", "mean", "median", "sum", "first", "last", "volatility",
                 "trade_share")
DATE_STATS = ("date_of_max", "date_of_min")
STATS = NUMERIC_STATS + DATE_STATS + ("pct_change",)
OPS = (">=", "<=", "between")

REQUIRED_FIELDS = ("id", "metric", "window", "stat", "op", "value", "source")
OPTIONAL_FIELDS = ("scenario", "base_window", "base_stat", "window_stat")
FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
PCT_FIELDS = ("base_window", "base_stat", "window_stat")
TOP_LEVEL_KEYS = ("target", "title", "description")

DateLike = dt.date | str | pd.Timestamp | np.datetime64


# --------------------------------------------------------------------------------------------
# Computing a statistic of a series
# --------------------------------------------------------------------------------------------
def split_metric(metric: str) -> tuple[str, ...]:
    """``"a / b"`` -> ``("a", "b")``; ``"a"`` -> ``("a",)``. Does not check the names."""
    return tuple(p.strip() for p in str(metric).split("/"))


def metric_series(df: pd.DataFrame, metric: str) -> pd.Series:
    """The metric as a float Series indexed by date (DatetimeIndex).

    ``metric`` is a column of ``df`` or a ratio ``"a / b"`` of two columns (a zero denominator
    gives NaN). ``df`` has a ``date`` column or a DatetimeIndex.
    """
    if "date" in df.columns:
        index = pd.DatetimeIndex(pd.to_datetime(df["date"]))
    elif isinstance(df.index, pd.DatetimeIndex):
        index = df.index
    else:
        raise InputError("the frame has neither a 'date' column nor a DatetimeIndex")
    parts = split_metric(metric)
    if len(parts) not in (1, 2) or not all(parts):
        raise InputError(f"metric {metric!r} is not allowed; expected a series name or 'a / b'")
    columns = [c for c in df.columns if c != "date"]
    for name in parts:
        if name not in df.columns or name == "date":
            raise InputError(f"metric {metric!r}: unknown series {name!r}{suggest(name, columns)}; "
                             f"available: {', '.join(columns)}")
    values = df[parts[0]].to_numpy(dtype=float)
    if len(parts) == 2:
        denom = df[parts[1]].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.where(denom != 0, values / np.where(denom != 0, denom, 1.0), np.nan)
    return pd.Series(values, index=index, name=str(metric))


def _as_date(value: DateLike) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return pd.Timestamp(value).date()


def _window_values(series: pd.Series, window: Sequence[DateLike]) -> pd.Series:
    start, end = (_as_date(w) for w in window)
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    part = series[(series.index >= lo) & (series.index <= hi)]
    if part.empty:
        first = series.index.min().date() if len(series) else None
        last = series.index.max().date() if len(series) else None
        raise InputError(f"window [{start}, {end}] holds no row of {series.name!r} "
                         f"(the series runs from {first} to {last}, weekly)")
    return part


#: each statistic of one window, on its valid (non-NaN) values
_STAT_OF: dict[str, Callable[[pd.Series], Any]] = {
    "max": pd.Series.max, "min": pd.Series.min, "mean": pd.Series.mean,
    "median": pd.Series.median, "sum": pd.Series.sum,
    "first": lambda v: v.iloc[0], "last": lambda v: v.iloc[-1],
    "date_of_max": lambda v: v.idxmax().date(), "date_of_min": lambda v: v.idxmin().date(),
}


def _volatility(part: pd.Series) -> float:
    """The median absolute week-on-week change of the log of the series. A change needs two
    consecutive weeks with a (positive) value: a week without one breaks the chain; NaN when
    there is no such pair."""
    values = part.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(values > 0, np.log(np.where(values > 0, values, 1.0)), np.nan)
    changes = np.abs(np.diff(logs))
    changes = changes[~np.isnan(changes)]
    return float(np.median(changes)) if changes.size else math.nan


#: statistics of the whole window, weeks without a value included (they matter: a trade price
#: is NaN in a week without a trade)
_WINDOW_STAT_OF: dict[str, Callable[[pd.Series], float]] = {
    "volatility": _volatility,
    "trade_share": lambda v: float(v.notna().mean()),
}


def _check_stat(name: str, stat: str, allowed: Sequence[str]) -> None:
    if stat not in allowed:
        raise InputError(f"{name} {stat!r} is not allowed{suggest(stat, allowed)}; "
                         f"allowed: {', '.join(allowed)}")


def _one_stat(part: pd.Series, stat: str) -> float | dt.date | None:
    """``stat`` (checked by the caller) of one window's values."""
    if stat in _WINDOW_STAT_OF:
        return _WINDOW_STAT_OF[stat](part)
    valid = part.dropna()
    if valid.empty:
        return None if stat in DATE_STATS else math.nan
    value = _STAT_OF[stat](valid)
    return value if stat in DATE_STATS else float(value)


def compute_stat(
    df: pd.DataFrame,
    metric: str,
    window: Sequence[DateLike],
    stat: str,
    *,
    base_window: Sequence[DateLike] | None = None,
    base_stat: str = "mean",
    window_stat: str = "mean",
) -> float | dt.date | None:
    """One statistic of one metric of one run.

    df       a run's series (a ``date`` column or a DatetimeIndex, one row per week)
    metric   a column name, or ``"a / b"`` for the ratio of two columns
    window   ``(start, end)``, inclusive; dates, ISO strings or Timestamps
    stat     one of :data:`STATS`:
             max, min, mean, median, sum, first, last -> float;
             volatility -> the median absolute week-on-week change of log(series) (a change
             needs two consecutive weeks with values);
             trade_share -> the share of weeks with a value (not NaN), 0..1;
             date_of_max, date_of_min -> datetime.date (first occurrence);
             pct_change -> ``window_stat(window) / base_stat(base_window) - 1`` (needs base_window)

    NaN values (e.g. a ratio over a zero) are skipped; a window with no valid value gives NaN
    (None for date_of_*; 0 for trade_share). A window holding no row at all raises InputError.
    """
    _check_stat("stat", stat, STATS)
    series = metric_series(df, metric)
    if stat != "pct_change":
        return _one_stat(_window_values(series, window), stat)
    if base_window is None:
        raise InputError("stat 'pct_change' needs a base_window")
    for name, s in (("window_stat", window_stat), ("base_stat", base_stat)):
        _check_stat(name, s, NUMERIC_STATS)
    now = _one_stat(_window_values(series, window), window_stat)
    base = _one_stat(_window_values(series, base_window), base_stat)
    if base is None or now is None or math.isnan(base) or math.isnan(now) or base == 0:
        return math.nan
    return now / base - 1.0


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Statistic:
    """A checked statistic of a run's series (:func:`parse_statistic`): a target's, or a sweep's
    summary metric. Fields are given by keyword."""

    metric: str
    window: Window
    stat: str
    base_window: Window | None = None
    base_stat: str = "mean"
    window_stat: str = "mean"

    @property
    def is_date(self) -> bool:
        return self.stat in DATE_STATS

    def compute(self, df: pd.DataFrame) -> float | dt.date | None:
        """This statistic on one run."""
        return compute_stat(df, self.metric, self.window, self.stat, base_window=self.base_window,
                            base_stat=self.base_stat, window_stat=self.window_stat)


@dataclass(frozen=True, kw_only=True)
class Target(Statistic):
    """One validated target. ``value`` is a float or date (>=, <=) or a (low, high) pair."""

    id: str
    op: str
    value: Any
    source: str
    scenario: str = "baseline"

    def met_by(self, value: float | dt.date | None) -> bool:
        """Whether ``value`` meets the target (NaN / None never does)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.op == ">=":
            return value >= self.value
        if self.op == "<=":
            return value <= self.value
        lo, hi = self.value
        return lo <= value <= hi

    def describe(self) -> str:
        """The target as text, e.g. ``between 6 and 12`` or ``>= 26``."""
        if self.op == "between":
            lo, hi = self.value
            return f"between {format_value(lo)} and {format_value(hi)}"
        return f"{self.op} {format_value(self.value)}"

    def describe_stat(self) -> str:
        """e.g. ``max over 2023-04-01..2023-12-31``."""
        text = f"{self.stat} over {self.window[0]}..{self.window[1]}"
        if self.stat == "pct_change":
            text = (f"{self.window_stat} over {self.window[0]}..{self.window[1]} vs "
                    f"{self.base_stat} over {self.base_window[0]}..{self.base_window[1]}, change")
        return text


def format_value(value: Any) -> str:
    """Compact text for a target value or a result (dates ISO, numbers 4 significant digits)."""
    if value is None:
        return "n/a"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (int, float, np.floating, np.integer)):
        v = float(value)
        if math.isnan(v):
            return "n/a"
        if v != 0 and (abs(v) >= 1e15 or abs(v) < 1e-3):
            return f"{v:.3g}"
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.4g}"
    return str(value)


def _horizon_from_model(scenario: str) -> Window:
    from model import load_scenario

    cfg = load_scenario(scenario)
    return cfg.run.start, cfg.run.end


def parse_statistic(f: Fields, table: dict[str, Any], where: str = "",
                    series: Sequence[str] | None = None) -> dict[str, Any]:
    """The metric, window, stat and pct_change fields of a target or a sweep's summary metric,
    checked: ``{metric, window, stat, base_window, base_stat, window_stat}``. ``where`` prefixes
    the field names in messages; ``series`` (if given) are the allowed series names."""
    def name(key: str) -> str:
        return f"{where} {key}" if where else key

    metric = table["metric"]
    parts = split_metric(metric) if isinstance(metric, str) else ()
    if not parts or len(parts) > 2 or not all(parts):
        raise f.error(name("metric"), metric, "a series name or a ratio 'a / b' of two series")
    for part in parts if series is not None else ():
        if part not in series:
            raise f.refuse(f"metric = {metric!r}: unknown series {part!r}{suggest(part, series)}; "
                           f"allowed: {', '.join(series)} (or 'a / b')")
    stat = f.choice(name("stat"), table["stat"], STATS)
    out = {"metric": " / ".join(parts), "stat": stat, "window": f.window(name("window"), table["window"]),
           "base_window": None, "base_stat": "mean", "window_stat": "mean"}
    if stat == "pct_change":
        if "base_window" not in table:
            raise f.missing("base_window", "[start, end] (stat 'pct_change' compares window with "
                                           "base_window)", where)
        out["base_window"] = f.window(name("base_window"), table["base_window"])
        for key in ("base_stat", "window_stat"):
            out[key] = f.choice(name(key), table.get(key, "mean"), NUMERIC_STATS)
    else:
        for key in PCT_FIELDS:
            if key in table:
                raise f.refuse(f"{where + ': ' if where else ''}{key!r} is only allowed with "
                               f"stat = 'pct_change' (stat is {stat!r})")
    return out


def _target_value(c: Fields, stat: str, op: str, raw: Any) -> Any:
    """A target's value: a number or a date, or a [low, high] pair of them for op 'between'."""
    one = c.date if stat in DATE_STATS else functools.partial(
        c.number, allowed="a finite number (or [low, high] for op 'between')")
    kind = "ISO dates" if stat in DATE_STATS else "numbers"
    if op != "between":
        if isinstance(raw, list):
            raise c.error("value", raw, f"one {'date' if stat in DATE_STATS else 'number'} for "
                                        f"op {op!r}")
        return one("value", raw, raw)
    if not isinstance(raw, list) or len(raw) != 2:
        raise c.error("value", raw, f"a pair [low, high] of {kind} for op 'between'")
    value = tuple(one("value", v, raw) for v in raw)
    if value[0] > value[1]:
        raise c.error("value", raw, "[low, high] with low <= high")
    return value


def parse_targets(
    text: str,
    *,
    path: str = "<targets>",
    series: Sequence[str] | None = None,
    horizon: Callable[[str], Window] | None = None,
) -> list[Target]:
    """Parse and validate the text of a targets file.

    ``series`` (the allowed series names) defaults to ``model.SERIES``; ``horizon(scenario)``
    returning ``(run.start, run.end)`` defaults to ``model.load_scenario``. Both can be given to
    check a file without the model.
    """
    raw = parse_toml(text, path)
    top = Fields(path)
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            raise top.refuse(f"unknown top-level key {key!r}{suggest(key, TOP_LEVEL_KEYS)}; "
                             f"allowed: {', '.join(TOP_LEVEL_KEYS)} (targets go in [[target]] tables)")
    for key in ("title", "description"):
        if key in raw and not isinstance(raw[key], str):
            raise top.error(key, raw[key], "a string")
    tables = raw.get("target")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise top.refuse("no targets; expected one or more [[target]] tables")
    if series is None:
        from model import SERIES as series
    series_names = [s for s in series if s != "date"]
    horizon = horizon or _horizon_from_model
    horizons: dict[str, Window] = {}
    targets: list[Target] = []
    seen: set[str] = set()
    for i, t in enumerate(tables):
        tid = Fields(path, f"target #{i + 1}").text("id", t.get("id"))
        if tid in seen:
            raise Fields(path, f"target {tid!r}").refuse("id is used twice; ids must be unique")
        seen.add(tid)
        c = Fields(path, f"target {tid!r}", noun="field")
        c.keys(t, FIELDS)
        for key in REQUIRED_FIELDS:
            if key not in t:
                raise c.missing(key, "every one of " + ", ".join(REQUIRED_FIELDS))
        stat = parse_statistic(c, t, series=series_names)
        op = c.choice("op", t["op"], OPS)
        source = c.text("source", t["source"], "a non-empty string naming where the number "
                                               "comes from")
        scenario = c.text("scenario", t.get("scenario", "baseline"),
                          "a scenario name or a path to a scenario file")
        value = _target_value(c, stat["stat"], op, t["value"])
        if scenario not in horizons:
            try:
                horizons[scenario] = horizon(scenario)
            except InputError as err:
                raise c.refuse(f"scenario = {scenario!r}: {err}") from None
        start, end = horizons[scenario]
        for key in ("window", "base_window"):
            w = stat[key]
            if w is not None and (w[0] < start or w[1] > end):
                raise c.refuse(f"{key} = [{w[0]}, {w[1]}] is not allowed; it must lie within the "
                               f"run horizon of scenario {scenario!r}, {start} to {end}")
        if stat["stat"] in DATE_STATS:
            dates = value if op == "between" else (value,)
            if any(d < start or d > end for d in dates):
                raise c.error("value", t["value"], f"dates within the run horizon {start} to {end}")
        targets.append(Target(id=tid, op=op, value=value, source=source.strip(),
                              scenario=scenario, **stat))
    return targets


def load_targets(
    path: str | Path,
    *,
    series: Sequence[str] | None = None,
    horizon: Callable[[str], Window] | None = None,
) -> list[Target]:
    """Read and validate a targets file (see :func:`parse_targets`). Raises InputError."""
    text = read_text(path, "targets file", "a TOML file of [[target]] tables")
    return parse_targets(text, path=str(path), series=series, horizon=horizon)


# --------------------------------------------------------------------------------------------
# Evaluation over an ensemble
# --------------------------------------------------------------------------------------------
def nan_quantile(values: Any, q: float, axis: int = -1) -> Any:
    """Quantile ``q`` (linear interpolation, as numpy's default) ignoring NaN, exact with +-inf.

    ``np.nanquantile`` turns ``[inf, inf]`` into NaN (it computes inf - inf) and warns; here the
    quantile of values that include infinities is the limit (e.g. median of [5, inf] is inf).
    All-NaN slices give NaN. Works along ``axis`` of an array, or on a 1-D sequence.
    """
    a = np.sort(np.moveaxis(np.asarray(values, dtype=float), axis, -1), axis=-1)  # NaN last
    n = np.sum(~np.isnan(a), axis=-1)
    pos = q * np.maximum(n - 1, 0)
    lo = np.floor(pos).astype(int)
    hi = np.ceil(pos).astype(int)
    frac = pos - lo
    a_lo = np.take_along_axis(a, lo[..., None], axis=-1)[..., 0]
    a_hi = np.take_along_axis(a, hi[..., None], axis=-1)[..., 0]
    with np.errstate(invalid="ignore"):
        out = a_lo + frac * (a_hi - a_lo)
    out = np.where((a_lo == a_hi) | (frac == 0), a_lo, out)
    out = np.where(np.isinf(a_hi) & ~np.isinf(a_lo) & (frac > 0), a_hi, out)
    out = np.where(np.isinf(a_lo) & ~np.isinf(a_hi) & (frac > 0), a_lo, out)
    out = np.where(n == 0, np.nan, out)
    return float(out) if np.ndim(out) == 0 else out


def _quantile(values: Sequence[float | dt.date | None], q: float, is_date: bool):
    if is_date:
        ords = [v.toordinal() for v in values if v is not None]
        if not ords:
            return None
        return dt.date.fromordinal(int(round(float(np.quantile(ords, q)))))
    return nan_quantile([np.nan if v is None else float(v) for v in values], q)


@dataclass
class TargetResult:
    """A target evaluated on an ensemble: per-seed values, median, 10-90% range, verdict."""

    target: Target
    values: list = field(default_factory=list)
    median: Any = None
    p10: Any = None
    p90: Any = None
    passed: bool = False
    seed_pass_share: float = 0.0

    def to_json(self) -> dict[str, Any]:
        from experiments.store import json_value as plain

        t = self.target
        target = {"op": t.op, "value": [plain(v) for v in t.value] if t.op == "between"
                  else plain(t.value), "text": t.describe()}
        return {"id": t.id, "metric": t.metric, "median": plain(self.median), "p10": plain(self.p10),
                "p90": plain(self.p90), "target": target, "passed": bool(self.passed),
                "seed_pass_share": float(self.seed_pass_share)}


def evaluate_target(target: Target, frames: Sequence[pd.DataFrame]) -> TargetResult:
    """Evaluate ``target`` on each run; it passes when the median over runs meets it."""
    if not frames:
        raise ValueError("evaluate_target needs at least one run")
    values = [target.compute(df) for df in frames]
    median = _quantile(values, 0.5, target.is_date)
    return TargetResult(
        target=target,
        values=values,
        median=median,
        p10=_quantile(values, 0.1, target.is_date),
        p90=_quantile(values, 0.9, target.is_date),
        passed=target.met_by(median),
        seed_pass_share=sum(target.met_by(v) for v in values) / len(values),
    )
