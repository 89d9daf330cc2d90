"""What every series and every lever means: units, human names and ranges, in one place.

The series table is the one README.md and docs/CONTRACT.md print; it goes into the Parquet
metadata of every run, the units of the validate and compare tables and the titles of sweep
charts. The lever catalogue is built from the scenario schema (``model.config.schema()``: the
keys ``--set``, ``mesa.batch_run`` and the app accept, with their allowed ranges) and the
baseline's values, with a unit and a one-line meaning from ``levers.toml`` beside this file.
The app's eleven levers (``viz/levers.py``) carry their slider range as the range to explore.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.errors import InputError

# --------------------------------------------------------------------------------------------
# Series
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesInfo:
    name: str
    unit: str
    label: str  # a human name, as a chart title or a table shows it
    trade: bool = False  # a trade price: NaN in a week its market traded nothing
    whole: bool = False  # the model counts it in whole numbers (int64 in every output)


def _s(name: str, unit: str, label: str, **kw: Any) -> SeriesInfo:
    return SeriesInfo(name, unit, label, **kw)


SERIES_INFO: dict[str, SeriesInfo] = {s.name: s for s in (
    _s("date", "date", "week (Monday)"),
    _s("spot_price", "USD/GPU-h", "spot price", trade=True),
    _s("ondemand_price", "USD/GPU-h", "on-demand list price"),
    _s("reserved_price", "USD/GPU-h", "1-year reserved rate"),
    _s("small_cluster_price", "USD/GPU-h", "small-cluster spot price", trade=True),
    _s("large_cluster_price", "USD/GPU-h", "large-cluster spot price", trade=True),
    _s("card_price_new", "USD/card", "new H100 price (vendor)"),
    _s("card_price_secondary", "USD/card", "used-card price", trade=True),
    _s("grey_card_price", "USD/card", "grey-market card price", trade=True),
    _s("lead_time_weeks", "weeks", "lead time for new cards"),
    _s("utilization", "share 0-1", "utilisation"),
    _s("gpus_installed", "cards", "installed H100s"),
    _s("gpu_hours_training", "GPU-h/week", "GPU-hours used for training"),
    _s("gpu_hours_finetune", "GPU-h/week", "GPU-hours used for fine-tuning"),
    _s("gpu_hours_inference", "GPU-h/week", "GPU-hours used for inference"),
    _s("training_share", "share 0-1", "training share of hours used"),
    _s("teams_training", "teams", "teams training from scratch", whole=True),
    _s("teams_finetuning", "teams", "teams fine-tuning", whole=True),
    _s("resold_hours", "GPU-h/week", "resold GPU-hours"),
    _s("smuggled_cards", "cards/week", "smuggled cards delivered"),
    _s("seized_cards", "cards/week", "smuggled cards seized"),
    _s("new_card_orders", "cards/week", "new-card orders"),
    _s("new_capacity_irr", "annual rate", "IRR of a new card"),
    _s("open_quality", "index 0-1", "open-weight model quality"),
    _s("funding_climate", "index", "funding climate"),
    _s("backlog_cards", "cards", "vendor order backlog"),
    _s("reservations_gpus", "cards", "reserved GPUs"),
    _s("grey_card_price_cny", "CNY/card", "grey-market card price (CNY)", trade=True),
    _s("vendor_output", "cards/week", "vendor output"),
    _s("unmet_gpus", "cards", "unmet GPU demand"),
    _s("spot_volume", "GPU-h/week", "spot volume"),
    _s("small_cluster_volume", "GPU-h/week", "small-cluster spot volume"),
    _s("large_cluster_volume", "GPU-h/week", "large-cluster spot volume"),
    _s("secondary_volume", "cards/week", "used-card volume"),
    _s("grey_volume", "cards/week", "grey-market volume"),
    _s("small_cluster_quote", "USD/GPU-h", "small-cluster standing quote"),
    _s("large_cluster_quote", "USD/GPU-h", "large-cluster standing quote"),
    _s("secondary_quote", "USD/card", "used-card standing quote"),
    _s("grey_quote", "USD/card", "grey-market standing quote"),
    _s("frontier_quality", "capability (GPT-4 = 1)", "closed frontier"),
    _s("hyperscaler_ondemand_price", "USD/GPU-h", "hyperscalers' on-demand list"),
    _s("private_ondemand_price", "USD/GPU-h", "private clouds' on-demand list"),
    _s("nextgen_installed", "cards", "installed next-generation cards"),
    _s("nextgen_card_price", "USD/card", "next-generation card price (vendor)"),
    _s("nextgen_lead_time_weeks", "weeks", "lead time for next-generation cards"),
    _s("alt_inference_hours", "H100-eq h/week", "inference hours on other parts"),
    _s("cash_cost", "USD/GPU-h", "owners' cash cost of an hour"),
    _s("full_cost", "USD/GPU-h", "full cost of a new card's hour"),
    _s("idle_gpus", "H100-eq", "idle capacity (powered down)"),
    _s("training_teams_founded", "teams/week", "training teams founded", whole=True),
    _s("training_teams_closed", "teams/week", "training teams closed", whole=True),
    _s("finetune_teams_founded", "teams/week", "fine-tuning teams founded", whole=True),
    _s("finetune_teams_closed", "teams/week", "fine-tuning teams closed", whole=True),
    _s("debt_outstanding", "USD", "GPU-backed debt outstanding"),
    _s("forced_sale_cards", "cards/week", "cards sold under lenders' orders"),
    _s("defaults", "borrowers/week", "GPU-backed loan defaults", whole=True),
    _s("gpus_installed_us", "cards", "Hopper-class cards held in the US"),
    _s("gpus_installed_cn", "cards", "Hopper-class cards held in China"),
    _s("gpus_installed_row", "cards", "Hopper-class cards held elsewhere"),
)}

#: the unit of a statistic of a series, where it is not the series' own
_STAT_UNITS = {"volatility": "log change/week", "trade_share": "share 0-1",
               "pct_change": "change (share)", "date_of_max": "date", "date_of_min": "date"}
#: a sum over weeks of a flow per week is a total
_FLOW_TOTALS = {"cards/week": "cards", "GPU-h/week": "GPU-h"}


def series_unit(metric: str) -> str:
    """The unit of a series, or of a ratio ``"a / b"`` of two ("USD/card per USD/card" reads
    as a ratio, ``×``)."""
    parts = [p.strip() for p in str(metric).split("/")] if " / " in str(metric) else [str(metric)]
    units = [SERIES_INFO[p].unit if p in SERIES_INFO else "" for p in parts]
    if len(units) == 2:
        return "×" if units[0] == units[1] and units[0] else f"{units[0]} per {units[1]}".strip()
    return units[0]


def series_label(metric: str) -> str:
    """A human name of a series, or of a ratio ``"a / b"``."""
    parts = [p.strip() for p in str(metric).split(" / ")]
    names = [SERIES_INFO[p].label if p in SERIES_INFO else p for p in parts]
    return " / ".join(names)


def stat_unit(metric: str, stat: str) -> str:
    """The unit of ``stat`` of ``metric`` (a sum of a weekly flow is a total)."""
    if stat in _STAT_UNITS:
        return _STAT_UNITS[stat]
    unit = series_unit(metric)
    if stat == "sum":
        return _FLOW_TOTALS.get(unit, unit)
    return unit


_STAT_WORDS = {"max": "peak", "min": "lowest", "mean": "mean", "median": "median", "sum": "total",
               "first": "first", "last": "last", "volatility": "volatility of",
               "trade_share": "share of weeks with a trade of", "pct_change": "change in",
               "date_of_max": "date of the peak", "date_of_min": "date of the low"}


def stat_label(metric: str, stat: str, window: tuple | None = None) -> str:
    """e.g. ``peak spot price, 2023-01-01..2023-12-31 (USD/GPU-h)``."""
    words = _STAT_WORDS.get(stat, stat)
    name = series_label(metric)
    text = f"{words} {name}" if not words.startswith("date") else f"{words} of {name}"
    if window is not None:
        text += f", {window[0]}..{window[1]}"
    unit = stat_unit(metric, stat)
    return f"{text} ({unit})" if unit and unit != "date" else text


# --------------------------------------------------------------------------------------------
# Levers
# --------------------------------------------------------------------------------------------
LEVER_TEXT = Path(__file__).with_name("levers.toml")


@dataclass(frozen=True)
class LeverInfo:
    """One scalar key of the scenario that ``--set``, ``run_outcomes`` and EMA can set.

    ``low``/``high`` are the values the model accepts (``None``: a date, or no bound but the
    schema's largest number); ``explore`` is a range worth sampling (the app's slider range for
    the app's levers, else ``None``: choose one). ``default`` is the baseline's value.
    """

    key: str  # leaf name, as --set takes it
    dotted: str
    kind: str  # float | int | bool | date
    low: float | None
    high: float | None
    default: Any
    unit: str
    meaning: str
    explore: tuple[float, float] | None = None
    app: bool = False  # one of the app's levers
    live: bool = False  # may change while the model runs (H100Market.set_lever)

    def range_text(self) -> str:
        if self.kind == "bool":
            return "true/false"
        if self.kind == "date":
            return "a date"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        return f"{lo}..{hi}"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "dotted": self.dotted, "kind": self.kind, "low": self.low,
                "high": self.high, "default": self.default, "unit": self.unit,
                "meaning": self.meaning, "explore": list(self.explore) if self.explore else None,
                "app": self.app, "live": self.live}


#: The app's levers (viz/levers.py): the range its slider offers, which is the range worth
#: exploring. Kept here so that the experiment API does not import the app; a test checks that
#: both agree.
APP_LEVERS: dict[str, tuple[float, float] | None] = {
    "packaging_multiplier": (0.25, 4.0),
    "pace": (0.0, 3.0),
    "funding_multiplier": (0.0, 3.0),
    "export_controls": None,
    "seizure_odds_multiplier": (0.0, 20.0),
    "mid_creators": (0, 200),
    "cn_mid_creators": (0, 60),
    "row_creators": (0, 30),
    "finetuners": (0, 10000),
    "resellers": (1, 12),
    "brokers": (0, 40),
}
LIVE_LEVERS = ("funding_multiplier", "export_controls", "seizure_odds_multiplier")


@functools.lru_cache(maxsize=1)
def _texts() -> dict[str, dict[str, str]]:
    with LEVER_TEXT.open("rb") as fh:
        return tomllib.load(fh)


@functools.lru_cache(maxsize=8)
def lever_catalogue(scenario: str = "baseline") -> tuple[LeverInfo, ...]:
    """Every scalar key of the scenario schema, with its default in ``scenario``."""
    from model.config import F, load_scenario, schema

    cfg = load_scenario(scenario)
    texts = _texts()
    out = []
    for section, fields in schema().items():
        for leaf, spec in fields.items():
            if not isinstance(spec, F) or spec.kind == "str":
                continue
            text = texts.get(f"{section}.{leaf}", {})
            default = cfg.get(f"{section}.{leaf}")
            if isinstance(default, dt.date):
                default = default.isoformat()
            lo = None if spec.lo is None else (int(spec.lo) if spec.kind == "int" else spec.lo)
            hi = None if spec.hi is None else (int(spec.hi) if spec.kind == "int" else spec.hi)
            if spec.kind in ("bool", "date"):
                lo = hi = None
            out.append(LeverInfo(
                key=leaf, dotted=f"{section}.{leaf}", kind=spec.kind, low=lo, high=hi,
                default=default, unit=text.get("unit", ""),
                meaning=text.get("meaning", spec.doc or ""),
                explore=APP_LEVERS.get(leaf), app=leaf in APP_LEVERS, live=leaf in LIVE_LEVERS))
    return tuple(out)


def lever_info(key: str, scenario: str = "baseline") -> LeverInfo:
    """The catalogue entry of a leaf, dotted or double-underscore key (InputError if none)."""
    from model.config import resolve_key

    dotted = resolve_key(key)
    for lv in lever_catalogue(scenario):
        if lv.dotted == dotted:
            return lv
    raise InputError(f"{key!r} is not a lever: it is a list or table of the scenario file "
                     "(set it in a scenario file, not as one value)")


def check_range(lever: LeverInfo, low: float, high: float) -> None:
    """Refuse (InputError) a range to explore outside what the model accepts."""
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InputError(f"{lever.key}: {name} = {v!r} is not allowed; expected a finite number")
    if low > high:
        raise InputError(f"{lever.key}: range [{low}, {high}] is not allowed; expected low <= high")
    if (lever.low is not None and low < lever.low) or (lever.high is not None and high > lever.high):
        raise InputError(f"{lever.key}: range [{low:g}, {high:g}] is not allowed; the model "
                         f"accepts {lever.range_text()}")
