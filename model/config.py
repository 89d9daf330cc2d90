"""Scenarios as data: TOML files loaded into a typed, validated, read-only config.

Every scenario file is checked against :data:`SCHEMA` (type, range, allowed values). A
counterfactual names ``extends = "baseline"`` and lists only what it changes. Any value can also be
overridden by keyword, by its leaf name (``seizure_odds_multiplier=5``), its dotted name
(``"grey.seizure_odds_multiplier"``) or with a double underscore (``grey__seizure_odds_multiplier``),
so the model works from the CLI, SolaraViz sliders and ``mesa.batch_run`` alike.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.registry import KINDS
from model.errors import InputError
from model.schema import LARGEST, Fields, parse_toml, read_text, suggest
from model.timeline import as_date

SCENARIO_DIR = Path(__file__).parent / "scenarios"

#: every date of a scenario lies in this range (the weekly calendar stays far from year 9999)
FIRST_DATE, LAST_DATE = dt.date(1900, 1, 1), dt.date(2999, 12, 31)


# --------------------------------------------------------------------------------------------
# Field types
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class F:
    """One scalar field: kind in {float, int, bool, str, date}, optional bounds or choices."""

    kind: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False  # lo excluded: "> lo" rather than ">= lo"
    choices: tuple[str, ...] | None = None
    optional: bool = False
    doc: str = ""

    def allowed(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind == "date":
            return f"an ISO date such as 2023-10-23, from {FIRST_DATE} to {LAST_DATE}"
        if self.kind == "bool":
            return "true or false"
        if self.kind == "str":
            return "a string"
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_open else '>='} {self.lo:g}")
        parts.append(f"<= {self.hi if self.hi is not None else LARGEST:g}")
        if self.lo is None:
            parts.append(f">= {-LARGEST:g}")
        noun = "an integer" if self.kind == "int" else "a number"
        return noun + (" " + " and ".join(parts) if parts else "")


@dataclass(frozen=True)
class Series:
    """A time series given as ``[[date, value], ...]`` (dates increasing), values within bounds."""

    lo: float | None = None
    hi: float | None = None
    doc: str = ""

    def allowed(self) -> str:
        rng = []
        if self.lo is not None:
            rng.append(f">= {self.lo:g}")
        rng.append(f"<= {self.hi if self.hi is not None else LARGEST:g}")
        return "a list of [date, value] pairs with increasing dates" + (
            ", values " + " and ".join(rng) if rng else ""
        )


@dataclass(frozen=True)
class Table:
    """A list of tables (``[[section.name]]``), each validated against ``fields``."""

    fields: dict[str, Any]
    key: str = "name"
    doc: str = ""

    def allowed(self) -> str:
        return "a list of tables with keys " + ", ".join(self.fields)


@dataclass(frozen=True)
class StrList:
    doc: str = ""

    def allowed(self) -> str:
        return "a list of strings"


P = F("float", 0.0, 1.0)  # a probability or a share

REGIONS = ("US", "CN", "ROW")

RULE = {
    "name": F("str"),
    "announce": F("date"),
    "effective": F("date"),
    "rescinded": F("date", optional=True),
    "heard": F("date", optional=True, doc="when restricted buyers learn of it (stockpiling)"),
    "regions": StrList(),
    "products": StrList(doc="named products caught regardless of specs"),
    "tpp_min": F("float", 0.0, 1e9, optional=True),
    "io_min_gbps": F("float", 0.0, 1e9, optional=True),
    "alt_tpp_min": F("float", 0.0, 1e9, optional=True),
    "alt_density_min": F("float", 0.0, 1e9, optional=True),
    "licence_fee_share": F(
        "float", 0.0, 1.0, optional=True, doc="sales allowed under licence for this share of revenue"
    ),
}

CREATOR = {
    "name": F("str"),
    "region": F("str", choices=REGIONS),
    "capability": F(
        "float",
        0.0,
        10.0,
        doc="on the frontier scale (the closed frontier at the start = its first release's level)",
    ),
    "train_gpus": F("int", 8, 1_000_000),
    "funding_musd": F("float", 0.0, 1e7, lo_open=True),
    "cloud": F("str"),
    "founded": F("date", optional=True),
    "build_own": F("bool"),
    "favoured": F("bool"),
    "inference_gpus": F("int", 0, 2_000_000),
}

CLOUD = {
    "name": F("str"),
    "kind": F("str", choices=("hyperscaler", "private")),
    "region": F("str", choices=REGIONS),
    "legacy_gpus": F("int", 0, 5_000_000, doc="A100-era fleet at start, in H100-equivalents"),
    "ondemand_price": F("float", 0.0, 1_000.0, lo_open=True),
    "favoured": F("bool"),
    "own_chips": F("bool"),
    "size": F("float", 0.0, 1e4, lo_open=True, doc="relative appetite for new capacity"),
}

RELEASE = {
    "name": F("str"),
    "date": F("date"),
    "quality": F("float", 0.0, 10.0, doc="on the frontier scale (GPT-4 = 1)"),
}

SCHEMA: dict[str, dict[str, Any]] = {
    "run": {
        "start": F("date"),
        "end": F("date"),
        "agent_data_every": F("int", 1, 520),
        "agent_data_teams": F(
            "int",
            0,
            1_000_000,
            doc="fine-tuning teams in the agent frame: all while there are at most this many, "
            "else every k-th team (about this many)",
        ),
    },
    "supply": {
        "packaging_wafers_per_month": Series(0.0, 1e7),
        "packaging_multiplier": F("float", 0.0, 100.0),
        "packaging_multiplier_from": F("date"),
        "vendor_packaging_share": Series(0.0, 1.0),
        "hopper_per_wafer": F("float", 0.0, 1_000.0, lo_open=True),
        "hopper_share_of_output": Series(0.0, 1.0),
        "h100_first_ship": F("date"),
        "nextgen_training_factor": F("float", 0.1, 10.0),
        "nextgen_h100_equivalents": F("float", 0.0, 100.0, lo_open=True),
        "card_life_years": F("float", 0.5, 20.0),
        "legacy_retire_years": F("float", 0.5, 20.0),
    },
    "vendor": {
        "list_price": F("float", 0.0, 1e7, lo_open=True),
        "price_review_weeks": F("int", 1, 104),
        "price_step": F("float", 0.0, 0.5),
        "target_lead_weeks": F("float", 0.0, 520.0, lo_open=True),
        "max_price_multiple": F("float", 1.0, 5.0),
        "min_price_multiple": F("float", 0.1, 1.0),
        "favoured_weight": F("float", 0.0, 1_000.0, lo_open=True),
        "own_chip_weight": F("float", 0.0, 1_000.0, lo_open=True),
        "max_customer_share": F("float", 0.0, 1.0, lo_open=True),
        "end_user_check_catch": P,
        "integration_weeks": F("int", 0, 52),
        "nextgen_price_share": F("float", 0.0, 100.0, lo_open=True),
    },
    "cloud": {
        "infra_capex_per_gpu": F("float", 0.0, 1e7),
        "opex_per_gpu_hour": F("float", 0.0, 1_000.0),
        "power_per_gpu_hour": F("float", 0.0, 1_000.0),
        "hyperscaler_margin": F("float", 0.0, 10.0),
        "hyperscaler_spot_share": F("float", 0.0, 1.0),
        "hyperscaler_hurdle": F("float", 0.0, 1.0),
        "private_hurdle": F("float", 0.0, 1.0),
        "hyperscaler_review_weeks": F("int", 1, 104),
        "private_review_weeks": F("int", 1, 104),
        "hyperscaler_halflife_weeks": F("float", 0.0, 5_200.0, lo_open=True),
        "private_halflife_weeks": F("float", 0.0, 5_200.0, lo_open=True),
        "price_step_up": F("float", 0.0, 1.0),
        "price_step_down": F("float", 0.0, 0.9),
        "reserved_discount_1y": F("float", 0.05, 1.0),
        "reserved_discount_3y": F("float", 0.05, 1.0),
        "max_reserved_share": P,
        "prepaid_share_min": P,
        "prepaid_share_max": P,
        "order_review_weeks": F("int", 1, 52),
        "target_utilization": F("float", 0.1, 1.0),
        "order_aggressiveness": F("float", 0.0, 100.0),
        "spot_floor_share": F("float", 0.0, 1.0),
        "large_tier_share": P,
        "reseller_fee": F("float", 0.0, 0.5),
        "credit_ltv": F("float", 0.0, 1.0),
        "hyperscaler_capital_busd": F("float", 0.0, 1e5),
        "private_capital_busd": F("float", 0.0, 1e5),
    },
    "demand": {
        "funding_climate": Series(0.0, 1_000.0),
        "funding_multiplier": F("float", 0.0, 1_000.0),
        "round_prob_per_quarter": P,
        "value_per_edge_hour": F("float", 0.0, 1e5),
        "compute_budget_share": F("float", 0.0, 1.0, lo_open=True),
        "budget_weeks": F("float", 1.0, 520.0),
        "train_margin": F("float", 0.0, 1.0),
        "finetune_edge": F("float", 0.0, 1.0),
        "training_duty_cycle": F("float", 0.05, 1.0),
        "research_share": F("float", 0.0, 2.0),
        "wishlist_climate": F("float", 0.0, 1_000.0, lo_open=True),
        "finetune_gpus_min": F("int", 1, 32),
        "finetune_gpus_max": F("int", 1, 32),
        "large_cluster_min_gpus": F("int", 8, 100_000),
        "own_build_min_gpus": F("int", 8, 10_000_000),
        "training_run_scale": Series(0.0, 1e6),
        "token_demand": Series(0.0, 1e9),
        "tokens_per_gpu_hour": Series(1e-6, 1e9),
        "inference_value_per_gpu_hour": Series(0.0, 1e5),
        "alt_inference_capacity": Series(0.0, 1e9),
        "alt_inference_cost": Series(0.0, 1e5),
        "inference_gpus_per_finetuner": F("float", 0.0, 1e4),
        "finetuner_funding_musd": F("float", 0.0, 1e6, lo_open=True),
        "finetuner_quality_need_min": P,
        "finetuner_quality_need_max": P,
        "reservation_panic_lead_weeks": F("float", 0.0, 520.0),
    },
    "openweights": {
        "releases": Table(RELEASE),
        "pace": F("float", 0.0, 10.0),
        "freeze_from": F("date", optional=True),
    },
    "frontier": {
        "frontier_releases": Table(RELEASE, doc="the best closed model over time, on the same scale"),
        "outlook_weeks": F(
            "float", 0.0, 520.0, doc="how far ahead teams extrapolate the frontier's past-year pace"
        ),
    },
    "entry": {
        "entry_from": F("date", doc="teams are founded by the entry rule from this date on"),
        "training_candidates_per_year": F(
            "float", 0.0, 1e5, doc="would-be training teams a year at climate 1"
        ),
        "new_team_lag_min": F("float", 0.0, 10.0, doc="a new team's distance behind the frontier, lower end"),
        "new_team_lag_max": F("float", 0.0, 10.0),
        "idle_falls_behind": F("float", 0.0, 1.0, doc="share of the frontier's progress an idle team loses"),
        "training_idle_close_quarters": F("int", 1, 100),
        "finetune_candidates_per_year": F(
            "float", 0.0, 1e7, doc="would-be fine-tuning teams a year at climate 1"
        ),
        "finetuner_burn_musd_per_year": F(
            "float", 0.0, 1e4, doc="a fine-tuning team's staff and running costs"
        ),
        "finetuner_idle_close_weeks": F("int", 1, 520),
    },
    "grey": {
        "seizure_prob": F("float", 0.0, 0.99),
        "seizure_odds_multiplier": F("float", 0.0, 1_000.0),
        "fake_share": P,
        "deposit_share": P,
        "delivery_weeks_min": F("int", 1, 104),
        "delivery_weeks_max": F("int", 1, 104),
        "fx_cny_per_usd": F("float", 0.0, 1_000.0, lo_open=True),
        "broker_markup": F("float", 0.0, 100.0),
        "sourcing_cards_per_week": F("float", 0.0, 1e7),
        "fine_share": F("float", 0.0, 100.0),
        "legal_premium_h100": F("float", 0.0, 100.0),
        "card_value_years": F("float", 0.0, 100.0, lo_open=True),
        "broker_capital_musd": F("float", 0.0, 1e7),
    },
    "policy": {
        "export_controls": F("bool"),
        "rules": Table(RULE),
    },
    "population": {
        "scale": F("float", 0.0, 100.0),
        "mid_creators": F("int", 0, 100_000),
        "cn_mid_creators": F("int", 0, 100_000),
        "row_creators": F("int", 0, 100_000),
        "finetuners": F("int", 0, 1_000_000),
        "resellers": F("int", 1, 1_000),
        "brokers": F("int", 0, 10_000),
        "creators": Table(CREATOR),
        "clouds": Table(CLOUD),
    },
}


def _field_for(default: Any) -> F:
    """The field of an agent kind's setting, typed by its default."""
    for kind, types in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if isinstance(default, types):
            return F(kind)
    raise TypeError(f"setting default {default!r} must be a bool, int, float or str")


def kind_sections() -> dict[str, dict[str, Any]]:
    """One scenario section per registered agent kind with settings (``[<kind>]``): its defaults.
    A kind adds its parameters this way without touching this file."""
    out = {}
    for kind in KINDS.values():
        if kind.settings:
            if kind.name in SCHEMA:
                raise RuntimeError(
                    f"agent kind {kind.name!r} has settings but [{kind.name}] is a "
                    "fixed section of the scenario; rename the kind"
                )
            out[kind.name] = dict(kind.settings)
    return out


def schema() -> dict[str, dict[str, Any]]:
    """The scenario's sections: the fixed ones, then one per registered kind with settings."""
    extra = {
        name: {leaf: _field_for(v) for leaf, v in defaults.items()}
        for name, defaults in kind_sections().items()
    }
    return {**SCHEMA, **extra} if extra else SCHEMA


#: leaf name -> dotted key, for overrides by leaf name (leaf names are unique by design)
LEAVES: dict[str, str] = {}
for _section, _fields in SCHEMA.items():
    for _leaf in _fields:
        if _leaf in LEAVES:
            raise RuntimeError(f"config leaf name {_leaf!r} is not unique")
        LEAVES[_leaf] = f"{_section}.{_leaf}"


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------
def _where(source: str | None) -> str:
    return f"{source}: " if source else ""


_to_date = as_date


def _check_scalar(f: F, value: Any, key: str, source: str | None) -> Any:
    fields = Fields(source)

    def bad() -> InputError:
        return fields.error(key, value, f.allowed())

    if f.kind == "date":
        d = _to_date(value)
        if d is None or not FIRST_DATE <= d <= LAST_DATE:
            raise bad()
        return d
    if f.kind == "bool":
        if not isinstance(value, bool):
            raise bad()
        return value
    if f.kind == "str":
        if not isinstance(value, str):
            raise bad()
        return fields.choice(key, value, f.choices) if f.choices else value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad()
    if f.kind == "int":
        if isinstance(value, float):
            if not value.is_integer():  # also NaN and infinities
                raise bad()
            value = int(value)
    elif isinstance(value, int):
        try:
            value = float(value)
        except OverflowError:  # an int too large for a float
            raise bad() from None
    if not _within(value, f.lo, f.hi) or (f.lo_open and value == f.lo):
        raise bad()
    return value


def _within(value: float, lo: float | None, hi: float | None) -> bool:
    """Finite (no NaN, no infinity) and in [lo, hi]; a missing bound is +-LARGEST, so no input
    is large enough to overflow what the model computes from it. (No conversion: an int too
    large for a float compares fine.)"""
    lo = -LARGEST if lo is None else lo
    hi = LARGEST if hi is None else hi
    return (isinstance(value, int) or math.isfinite(value)) and lo <= value <= hi


def _check_series(s: Series, value: Any, key: str, source: str | None) -> tuple:
    def bad(detail: str) -> InputError:
        return InputError(
            f"{_where(source)}{key} = {value!r} is not allowed ({detail}); expected {s.allowed()}"
        )

    if not isinstance(value, (list, tuple)) or not value:
        raise bad("not a non-empty list")
    out: list[tuple] = []
    for point in value:
        if not isinstance(point, (list, tuple)) or len(point) != 2:
            raise bad(f"point {point!r} is not a [date, value] pair")
        d = _to_date(point[0])
        if d is None:
            raise bad(f"{point[0]!r} is not a date")
        v = point[1]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            raise bad(f"{v!r} is not a number")
        if not _within(v, s.lo, s.hi):
            raise bad(f"{v!r} is out of range")
        if out and d <= out[-1][0]:
            raise bad(f"date {d} does not increase")
        out.append((d, float(v)))
    return tuple(out)


def _check_table(t: Table, value: Any, key: str, source: str | None) -> tuple:
    if not isinstance(value, (list, tuple)):
        raise InputError(f"{_where(source)}{key} is not allowed; expected {t.allowed()}")
    rows = []
    for i, row in enumerate(value):
        label = f"{key}[{i}]"
        if not isinstance(row, dict):
            raise InputError(f"{_where(source)}{label} = {row!r} is not a table; expected {t.allowed()}")
        if t.key in row and isinstance(row[t.key], str):
            label = f"{key}[{row[t.key]!r}]"
        clean = {}
        for k, v in row.items():
            if k not in t.fields:
                raise InputError(
                    f"{_where(source)}{label}: unknown key {k!r}{suggest(k, t.fields)}; "
                    f"allowed keys: {', '.join(t.fields)}"
                )
            clean[k] = _check_any(t.fields[k], v, f"{label}.{k}", source)
        for k, spec in t.fields.items():
            if k not in clean:
                if isinstance(spec, StrList):
                    clean[k] = ()
                elif isinstance(spec, F) and spec.optional:
                    clean[k] = None
                else:
                    raise InputError(f"{_where(source)}{label}: missing key {k!r} ({spec.allowed()})")
        rows.append(Section(clean))
    return tuple(rows)


def _check_any(spec: Any, value: Any, key: str, source: str | None) -> Any:
    if isinstance(spec, F):
        if value is None and spec.optional:
            return None
        return _check_scalar(spec, value, key, source)
    if isinstance(spec, Series):
        return _check_series(spec, value, key, source)
    if isinstance(spec, Table):
        return _check_table(spec, value, key, source)
    if isinstance(spec, StrList):
        if not isinstance(value, (list, tuple)) or not all(isinstance(x, str) for x in value):
            raise InputError(f"{_where(source)}{key} = {value!r} is not allowed; expected {spec.allowed()}")
        return tuple(value)
    raise TypeError(spec)  # pragma: no cover - schema bug


# --------------------------------------------------------------------------------------------
# Config objects
# --------------------------------------------------------------------------------------------
class Section:
    """Read-only attribute access to one validated section or table row."""

    def __init__(self, data: dict[str, Any]):
        object.__setattr__(self, "_data", dict(data))
        # Values also live in the instance dict: the model reads them hundreds of thousands of
        # times a run, and a plain attribute is ~10x faster than a __getattr__ fallback.
        for k, v in self._data.items():
            if not hasattr(Section, k):
                self.__dict__[k] = v

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        raise AttributeError("config is read-only; pass overrides when building the model")

    def __getitem__(self, name: str) -> Any:
        return self._data[name]

    def get(self, name: str, default=None):
        return self._data.get(name, default)

    def to_dict(self) -> dict[str, Any]:
        return {k: _plain(v) for k, v in self._data.items()}

    def __repr__(self) -> str:
        return f"Section({self._data!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Section) and self.to_dict() == other.to_dict()


def _plain(v: Any) -> Any:
    """JSON-able form (dates as ISO strings, sections as dicts, tuples as lists)."""
    if isinstance(v, Section):
        return v.to_dict()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


@dataclass(frozen=True)
class Config:
    """A fully resolved scenario: every section of :data:`SCHEMA`, validated."""

    name: str
    sections: dict[str, Section] = field(repr=False)
    source: str = ""

    def __post_init__(self):
        # Sections as plain attributes (read on every agent decision; see Section).
        for k, v in self.sections.items():
            if not hasattr(Config, k):
                self.__dict__[k] = v

    def __getattr__(self, name: str) -> Section:
        sections = object.__getattribute__(self, "sections")
        if name in sections:
            return sections[name]
        raise AttributeError(name)

    def get(self, dotted: str) -> Any:
        section, leaf = dotted.split(".", 1)
        return self.sections[section][leaf]

    def flat(self) -> dict[str, Any]:
        """``{dotted key: JSON-able value}`` for manifests, sweeps and comparisons."""
        return {f"{s}.{k}": _plain(v) for s, sec in self.sections.items() for k, v in sec._data.items()}

    def to_dict(self) -> dict[str, Any]:
        return {s: sec.to_dict() for s, sec in self.sections.items()}


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------
def list_scenarios() -> list[str]:
    """Names of the scenarios shipped in ``model/scenarios/``."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def _read_toml(path: Path, label: str) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"scenario file {label!r} does not exist")
    return parse_toml(read_text(path, "scenario file"), path)


def _resolve_path(scenario: str | Path) -> tuple[str, Path]:
    text = str(scenario)
    if text.endswith(".toml") or "/" in text or Path(text).is_file():
        path = Path(text)
        if not path.is_file():
            raise InputError(f"scenario file {text!r} does not exist")
        return path.stem, path
    path = SCENARIO_DIR / f"{text}.toml"
    if not path.is_file():
        raise InputError(
            f"unknown scenario {text!r}{suggest(text, list_scenarios())}; "
            f"available: {', '.join(list_scenarios())} (or a path to a .toml file)"
        )
    return text, path


def _raw_scenario(scenario: str | Path, seen: tuple[str, ...] = ()) -> tuple[str, dict, str]:
    name, path = _resolve_path(scenario)
    if str(path.resolve()) in seen:
        raise InputError(f"{path}: 'extends' makes a cycle: {' -> '.join(seen)}")
    raw = _read_toml(path, str(scenario))
    parent = raw.pop("extends", None)
    raw.pop("description", None)
    if parent is None:
        return name, raw, str(path)
    if not isinstance(parent, str):
        raise InputError(f"{path}: extends = {parent!r} is not allowed; expected a scenario name")
    if "/" in parent or parent.endswith(".toml"):
        parent_path = Path(parent)
        if not parent_path.is_absolute():  # relative to the file that extends it
            parent_path = path.parent / parent_path
        parent = str(parent_path)
    _, base, _ = _raw_scenario(parent, (*seen, str(path.resolve())))
    _check_sections(raw, str(path))
    for section, values in raw.items():
        base.setdefault(section, {}).update(values)
    return name, base, str(path)


def _check_sections(raw: dict, source: str) -> None:
    sections = schema()
    for section, values in raw.items():
        if section not in sections:
            raise InputError(
                f"{source}: unknown section [{section}]{suggest(section, sections)}; "
                f"allowed: {', '.join(sections)}"
            )
        if not isinstance(values, dict):
            raise InputError(f"{source}: [{section}] must be a table")
        for leaf in values:
            if leaf not in sections[section]:
                raise InputError(
                    f"{source}: unknown key {section}.{leaf}"
                    f"{suggest(leaf, sections[section])}; allowed in [{section}]: "
                    f"{', '.join(sections[section])}"
                )


def resolve_key(key: str) -> str:
    """Map a leaf, dotted or double-underscore key to its dotted name, or refuse it."""
    k = key.replace("__", ".")
    sections = schema()
    if "." in k:
        section, leaf = k.split(".", 1)
        if section in sections and leaf in sections[section]:
            return k
    elif k in LEAVES:
        return LEAVES[k]
    if "." in k and k.split(".", 1)[0] in sections:
        section, leaf = k.split(".", 1)
        raise InputError(
            f"unknown parameter {key!r}{suggest(leaf, sections[section])}; "
            f"allowed in [{section}]: {', '.join(sections[section])}"
        )
    options = list(LEAVES) + list(LEAVES.values())
    raise InputError(
        f"unknown parameter {key!r}{suggest(k, options)}; "
        "use a key of the scenario file, e.g. seizure_odds_multiplier or grey.fake_share"
    )


def load_scenario(scenario: str | Path = "baseline", **overrides: Any) -> Config:
    """Load, merge (``extends``), override and validate a scenario. Raises InputError."""
    name, raw, source = _raw_scenario(scenario)
    _check_sections(raw, source)
    raw = copy.deepcopy(raw)
    named: dict[str, str] = {}
    for key, value in overrides.items():
        dotted = resolve_key(key)
        if dotted in named:
            raise InputError(
                f"{dotted} is given twice, as {named[dotted]!r} and as {key!r}; give each parameter once"
            )
        named[dotted] = key
        section, leaf = dotted.split(".", 1)
        raw.setdefault(section, {})[leaf] = value
    sections = {}
    defaults = kind_sections()
    for section, fields in schema().items():
        values = {**defaults.get(section, {}), **raw.get(section, {})}
        clean: dict[str, Any] = {}
        for leaf, spec in fields.items():
            key = f"{section}.{leaf}"
            src = "override" if _overridden(overrides, key) else source
            if leaf not in values:
                if isinstance(spec, F) and spec.optional:
                    clean[leaf] = None
                    continue
                raise InputError(f"{source}: missing key {key} ({spec.allowed()})")
            clean[leaf] = _check_any(spec, values[leaf], key, src)
        sections[section] = Section(clean)
    cfg = Config(name=name, sections=sections, source=source)
    try:
        _check_consistency(cfg)
    except InputError as err:
        # Name the file (and the overrides, which may be where the clash comes from).
        given = f" with overrides {', '.join(map(str, overrides))}" if overrides else ""
        raise InputError(f"{source}{given}: {err}") from None
    return cfg


def _overridden(overrides: dict, dotted: str) -> bool:
    return any(resolve_key(k) == dotted for k in overrides)


def _check_consistency(cfg: Config) -> None:
    """Cross-field rules that a per-field check cannot see."""
    r = cfg.run
    if r.end <= r.start:
        raise InputError(f"run.end = {r.end} is not allowed; it must be after run.start = {r.start}")
    if (r.end - r.start).days > 366 * 30:
        raise InputError(f"run.end = {r.end} is not allowed; the horizon is limited to 30 years")
    g = cfg.grey
    if g.delivery_weeks_max < g.delivery_weeks_min:
        raise InputError(
            f"grey.delivery_weeks_max = {g.delivery_weeks_max} is not allowed; "
            f"it must be >= grey.delivery_weeks_min = {g.delivery_weeks_min}"
        )
    d = cfg.demand
    if d.finetune_gpus_max < d.finetune_gpus_min:
        raise InputError(
            f"demand.finetune_gpus_max = {d.finetune_gpus_max} is not allowed; "
            f"it must be >= demand.finetune_gpus_min = {d.finetune_gpus_min}"
        )
    e = cfg.entry
    if e.new_team_lag_max < e.new_team_lag_min:
        raise InputError(
            f"entry.new_team_lag_max = {e.new_team_lag_max} is not allowed; "
            f"it must be >= entry.new_team_lag_min = {e.new_team_lag_min}"
        )
    if d.finetuner_quality_need_max < d.finetuner_quality_need_min:
        raise InputError("demand.finetuner_quality_need_max must be >= demand.finetuner_quality_need_min")
    c = cfg.cloud
    if c.prepaid_share_max < c.prepaid_share_min:
        raise InputError(
            f"cloud.prepaid_share_max = {c.prepaid_share_max} is not allowed; "
            f"it must be >= cloud.prepaid_share_min = {c.prepaid_share_min}"
        )
    clouds = {cl.name for cl in cfg.population.clouds}
    if not clouds:
        raise InputError("population.clouds is not allowed to be empty; at least one cloud sells hours")
    for cr in cfg.population.creators:
        if cr.cloud not in clouds and cr.cloud != "own":
            raise InputError(
                f"population.creators[{cr.name!r}].cloud = {cr.cloud!r} is not allowed; "
                f"expected 'own' or a cloud name{suggest(cr.cloud, clouds)}"
            )
    _check_lists(cfg)
    for rule in cfg.policy.rules:
        if rule.effective < rule.announce:
            raise InputError(
                f"policy.rules[{rule.name!r}].effective = {rule.effective} is before "
                f"its announce date {rule.announce}"
            )
        if rule.rescinded is not None and rule.rescinded <= rule.effective:
            raise InputError(
                f"policy.rules[{rule.name!r}].rescinded = {rule.rescinded} is not allowed; it must "
                f"be after its effective date {rule.effective} (a rule rescinded before it takes "
                "effect never acts)"
            )
        if rule.heard is not None and rule.heard > rule.effective:
            raise InputError(
                f"policy.rules[{rule.name!r}].heard = {rule.heard} is not allowed; it must be on "
                f"or before its effective date {rule.effective}"
            )
        if not rule.regions:
            raise InputError(
                f"policy.rules[{rule.name!r}].regions = [] is not allowed; a rule with no regions "
                f"catches no buyer: name one or more of {', '.join(REGIONS)}"
            )
        for reg in rule.regions:
            if reg not in REGIONS:
                raise InputError(
                    f"policy.rules[{rule.name!r}].regions has {reg!r}; allowed: "
                    f"{', '.join(REGIONS)}{suggest(reg, REGIONS)}"
                )
    problems = combination_problems(cfg)
    if problems:
        raise InputError("; ".join(problems))


def _check_lists(cfg: Config) -> None:
    """Lists of named entries: open-weight releases (at least one, in date order), rules and
    agents (no name twice; a creator and a cloud are accounts of one market, so not both)."""
    releases = cfg.openweights.releases
    for key, rows, what in (
        ("openweights.releases", releases, "open-weight quality"),
        ("frontier.frontier_releases", cfg.frontier.frontier_releases, "the closed frontier"),
    ):
        if not rows:
            raise InputError(
                f"{key} = [] is not allowed; {what} is a step function of the releases: give at "
                "least one release"
            )
        for before, after in itertools.pairwise(rows):
            if after.date < before.date:
                raise InputError(
                    f"{key}[{after.name!r}].date = {after.date} is not allowed; "
                    f"releases are listed in date order and it comes after {before.name!r} "
                    f"({before.date})"
                )
    for key, rows in (
        ("openweights.releases", releases),
        ("frontier.frontier_releases", cfg.frontier.frontier_releases),
        ("policy.rules", cfg.policy.rules),
        ("population.creators and population.clouds", (*cfg.population.creators, *cfg.population.clouds)),
    ):
        seen: set[str] = set()
        for row in rows:
            if row.name in seen:
                raise InputError(f"{key}: the name {row.name!r} is given twice; names must be unique")
            seen.add(row.name)


def combination_problems(cfg: Config) -> list[str]:
    """Lever combinations that make no sense in this model, one message each (empty: none).

    Each value may be valid alone; together they describe a market the model cannot run, or a
    lever that cannot act at any point of the run, so a result would look like an answer to a
    question the model never asked. Odd but meaningful worlds pass: no model builders, no
    fine-tuners, no funding, no packaging growth, export controls off with any enforcement (the
    live switch can turn the controls back on mid-run). ``population.brokers`` is read as given:
    a population scaled so small that no broker is drawn is a sample-size choice (the property
    tests run such worlds), not a claim that there are none. Each message names the keys, their
    values and what to
    change, like every InputError.
    """
    problems = []
    pop, grey, ow = cfg.population, cfg.grey, cfg.openweights

    odds = grey.seizure_odds_multiplier
    if odds != 1.0 and pop.brokers == 0:
        problems.append(
            f"grey.seizure_odds_multiplier = {odds!r} is not allowed with population.brokers = 0: "
            "with no grey-market broker no card is smuggled, so there is no shipment to seize; "
            "set population.brokers above 0 or grey.seizure_odds_multiplier to 1"
        )
    if odds != 1.0 and grey.seizure_prob == 0:
        problems.append(
            f"grey.seizure_odds_multiplier = {odds!r} is not allowed with grey.seizure_prob = 0: "
            "zero odds of a seizure stay zero at any multiple; set grey.seizure_prob above 0 or "
            "grey.seizure_odds_multiplier to 1"
        )

    if ow.pace != 1.0 and ow.freeze_from is not None and ow.freeze_from <= cfg.run.start:
        problems.append(
            f"openweights.pace = {ow.pace!r} is not allowed with openweights.freeze_from = "
            f"{ow.freeze_from} (not after run.start = {cfg.run.start}): open-weight quality is "
            "frozen for the whole run, so no release can come sooner or later; set "
            "openweights.pace to 1 or openweights.freeze_from after run.start"
        )
    return problems


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``key=value`` (value in TOML syntax; bare words are strings) for ``--set``."""
    if "=" not in text:
        raise InputError(
            f"--set {text!r} is not allowed; expected key=value, e.g. --set seizure_odds_multiplier=5"
        )
    bad = [ch for ch in text if ord(ch) < 32 or 127 <= ord(ch) < 160]
    if bad:
        raise InputError(
            f"--set {text!r} is not allowed; it holds the control character {bad[0]!r} "
            "(type the value as plain text)"
        )
    key, _, value = text.partition("=")
    key = key.strip()
    if not key:
        raise InputError(f"--set {text!r} is not allowed; the key before '=' is empty")
    resolve_key(key)
    value = value.strip()
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        if value and all(ch.isalnum() or ch in "-_." for ch in value):
            parsed = value
        else:
            raise InputError(
                f"--set {text!r}: value {value!r} is not a TOML value "
                "(a number, true/false, a date, a quoted string or a list)"
            ) from None
    return key, parsed
