"""Sweep specs: the TOML file that says what a batch sweep runs, parsed and checked up front.

A spec looks like this (``docs/sweeps.md`` has the full reference)::

    [sweep]
    name = "demo"
    base = "baseline"          # scenario name, or a path to a scenario TOML file
    design = "grid"            # grid | random | lhs | sobol | morris
    replications = 2           # seeds per design point
    seed = 20240601            # master seed: design and run seeds derive from it
    # samples = 64             # random/lhs: points; sobol: base samples N; morris: trajectories
    # steps = 26               # run only this many weeks, or
    # end_date = "2024-06-30"  # end the runs on this date (overrides run.end)
    # second_order = false     # sobol: second-order indices too
    # levels = 4               # morris: grid levels

    [overrides]                # fixed for every run
    seizure_odds_multiplier = 2.0

    [parameters.packaging_multiplier]
    values = [0.5, 1.0, 2.0]

    [parameters.pace]
    low = 0.5
    high = 2.0
    dist = "loguniform"        # uniform | loguniform | int
    # num = 3                  # grid design: number of points of a range

    [metrics]
    series = ["spot_price", "utilization"]   # full weekly series to keep ("all" for every one)

    [[metrics.summary]]        # one number per run, as in a targets file
    name = "peak_spot"         # optional column name
    metric = "spot_price"
    window = ["2023-01-01", "2024-12-31"]
    stat = "max"

Everything is checked before any run starts; a bad spec raises :class:`model.errors.InputError`
naming the file, the field, the value and what is allowed (with a close-match suggestion for a
misspelt key). :func:`check_against_model` then checks parameter names and values, metric names
and windows against the model (``model.load_scenario`` and ``model.SERIES``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from experiments.designs import DESIGNS, DISTS, SA_DESIGNS, Param, design_size
from experiments.targets import DATE_STATS, NUMERIC_STATS, STATS, Statistic, parse_statistic  # noqa: F401
from model.errors import InputError
from model.schema import Fields, parse_toml, read_text, suggest


TOP_KEYS = ("sweep", "overrides", "parameters", "metrics")
SWEEP_KEYS = ("name", "description", "base", "design", "samples", "replications", "seed", "steps",
              "end_date", "second_order", "levels")
PARAM_KEYS = ("values", "low", "high", "dist", "num")
METRIC_KEYS = ("series", "summary")
SUMMARY_KEYS = ("name", "metric", "window", "stat", "base_window", "base_stat", "window_stat")
#: columns of the results tables that a parameter or summary metric may not be named
RESERVED = ("run_id", "sample", "replicate", "seed", "status", "step", "date", "elapsed_s",
            "error", "worker", "model_version", "finished")
MAX_RUNS = 5_000_000


@dataclass(frozen=True, kw_only=True)
class SummaryMetric(Statistic):
    """One summary statistic kept per run (the metric/window/stat of a targets file)."""

    name: str

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "metric": self.metric,
                               "window": [d.isoformat() for d in self.window], "stat": self.stat}
        if self.stat == "pct_change":
            out["base_window"] = [d.isoformat() for d in self.base_window]
            out["base_stat"] = self.base_stat
            out["window_stat"] = self.window_stat
        return out


@dataclass
class SweepSpec:
    """A parsed, checked sweep spec."""

    path: str
    name: str
    base: str
    design: str
    replications: int
    seed: int
    params: list[Param]
    overrides: dict[str, Any] = field(default_factory=dict)
    series: list[str] | str = field(default_factory=list)  # names, or "all"
    summary: list[SummaryMetric] = field(default_factory=list)
    samples: int | None = None
    steps: int | None = None
    end_date: dt.date | None = None
    second_order: bool = False
    levels: int = 4
    description: str = ""

    @property
    def n_points(self) -> int:
        return design_size(self.design, len(self.params), self.samples,
                           [len(p.grid_values()) for p in self.params] if self.design == "grid"
                           else (), self.second_order)

    @property
    def n_runs(self) -> int:
        return self.n_points * self.replications

    def model_overrides(self) -> dict[str, Any]:
        """Fixed overrides for every run (``[overrides]`` plus ``run.end`` for end_date)."""
        out = dict(self.overrides)
        if self.end_date is not None:
            out["run.end"] = self.end_date.isoformat()
        return out

    def to_json(self) -> dict[str, Any]:
        """The normalised spec as plain JSON (manifest; hashing)."""
        params = {}
        for p in self.params:
            if p.values is not None:
                params[p.name] = {"values": list(p.values)}
            else:
                d: dict[str, Any] = {"low": p.low, "high": p.high, "dist": p.dist}
                if p.num is not None:
                    d["num"] = p.num
                params[p.name] = d
        return {
            "sweep": {
                "name": self.name, "description": self.description, "base": self.base,
                "design": self.design, "samples": self.samples,
                "replications": self.replications, "seed": self.seed, "steps": self.steps,
                "end_date": self.end_date.isoformat() if self.end_date else None,
                "second_order": self.second_order, "levels": self.levels,
            },
            "overrides": plain(self.overrides),
            "parameters": params,
            "metrics": {"series": self.series if isinstance(self.series, str) else list(self.series),
                        "summary": [m.to_json() for m in self.summary]},
        }

    def spec_hash(self) -> str:
        """sha256 of the normalised spec (the description does not count)."""
        data = self.to_json()
        data["sweep"] = {k: v for k, v in data["sweep"].items() if k != "description"}
        return hashlib.sha256(canonical_json(data).encode()).hexdigest()


def plain(value: Any) -> Any:
    """JSON-able form of TOML values: dates become ISO strings, tuples lists."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    return value


def canonical_json(data: Any) -> str:
    return json.dumps(plain(data), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------
def _clean_name(metric: str) -> str:
    text = metric.replace(" / ", "_per_").replace("/", "_per_")
    return re.sub(r"[^A-Za-z0-9_.]+", "_", text).strip("_")


def _parse_param(w: Fields, name: str, table: Any, design: str) -> Param:
    where = f"[parameters.{name}]"
    if not isinstance(table, dict):
        raise w.error(f"parameters.{name}", table,
                      "a table with 'values = [...]' or 'low', 'high' and 'dist'")
    w.keys(table, PARAM_KEYS, where)
    if name in RESERVED:
        raise w.refuse(f"[parameters.{name}]: the name {name!r} is reserved for a "
                         f"results column ({', '.join(RESERVED)})")
    if "values" in table:
        extra = [k for k in ("low", "high", "dist", "num") if k in table]
        if extra:
            raise w.refuse(f"{where}: give either 'values' or a range "
                             f"('low', 'high', 'dist'), not both (found {', '.join(extra)})")
        values = table["values"]
        allowed = "a non-empty list of numbers, true/false or strings, without repeats"
        if not isinstance(values, list) or not values:
            raise w.error(f"{where} values", values, allowed)
        for v in values:
            if isinstance(v, (dict, list)) or (isinstance(v, float) and not math.isfinite(v)):
                raise w.error(f"{where} values", values, allowed)
            if isinstance(v, (dt.date, dt.datetime)):
                raise w.error(f"{where} values", values,
                              allowed + ' (write dates as strings, "2024-06-30")')
        if len({canonical_json(v) for v in values}) != len(values):
            raise w.error(f"{where} values", values, allowed)
        return Param(name=name, values=tuple(values))
    for key in ("low", "high"):
        if key not in table:
            raise w.missing(key, table=where, expected="either 'values = [...]' or a range with 'low' and 'high' "
                                        "(and 'dist', default 'uniform')")
    low = w.number(f"{where} low", table["low"])
    high = w.number(f"{where} high", table["high"])
    dist = w.choice(f"{where} dist", table.get("dist", "uniform"), DISTS)
    if not low < high:
        raise w.error(f"{where} high", high, f"a number above low = {low!r}")
    if dist == "loguniform" and low <= 0:
        raise w.error(f"{where} low", low, "a number > 0 for dist 'loguniform'")
    if dist == "int":
        for key, v in (("low", low), ("high", high)):
            if isinstance(v, float) and not v.is_integer():
                raise w.error(f"{where} {key}", v, "an integer for dist 'int'")
        low, high = int(low), int(high)
    num = None
    if "num" in table:
        if design != "grid":
            raise w.refuse(f"{where}: 'num' is only for the grid design (design is "
                             f"{design!r}; its points come from 'samples')")
        num = w.integer(f"{where} num", table["num"], 1, 10_000)
    elif design == "grid":
        raise w.missing("num", table=where, expected="the number of grid points of the range (design 'grid'), "
                                      "or give explicit 'values'")
    return Param(name=name, low=low, high=high, dist=dist, num=num)


def _parse_summary(w: Fields, i: int, table: Any) -> SummaryMetric:
    where = f"[[metrics.summary]] #{i + 1}"
    if not isinstance(table, dict):
        raise w.error(where, table, "a table with metric, window and stat")
    w.keys(table, SUMMARY_KEYS, where)
    for key in ("metric", "window", "stat"):
        if key not in table:
            raise w.missing(key, table=where, expected="metric (a series or 'a / b'), window ([start, "
                            f"end]) and stat (one of {', '.join(STATS)})")
    stat = parse_statistic(w, table, where)
    name = table.get("name", f"{_clean_name(stat['metric'])}_{stat['stat']}")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name):
        raise w.error(f"{where} name", name, "a column name: letters, digits, '_' or '.', "
                                             "not starting with a digit")
    if name in RESERVED:
        raise w.error(f"{where} name", name, "a name that is not a results column "
                                             f"({', '.join(RESERVED)})")
    return SummaryMetric(name=name, **stat)


def parse_spec(data: dict[str, Any], *, path: str = "<spec>", base_dir: Path | None = None) -> SweepSpec:
    """Check the parsed TOML of a spec (a dict) and build a :class:`SweepSpec`."""
    w = Fields(path)
    if not isinstance(data, dict):
        raise w.refuse("a sweep spec is a TOML table")
    w.keys(data, TOP_KEYS, "the spec (top level)")
    sweep = data.get("sweep")
    if not isinstance(sweep, dict):
        raise w.refuse("missing table [sweep] (with base, design, replications, seed)")
    w.keys(sweep, SWEEP_KEYS, "[sweep]")
    for key in ("design", "seed"):
        if key not in sweep:
            raise w.missing(key, table="[sweep]", expected={"design": "one of " + ", ".join(DESIGNS),
                                             "seed": "the master seed, an integer >= 0"}[key])
    design = w.choice("[sweep] design", sweep["design"], DESIGNS)
    seed = w.integer("[sweep] seed", sweep["seed"], 0, 2**63 - 1)
    replications = w.integer("[sweep] replications", sweep.get("replications", 1), 1, 100_000)
    name = w.text("[sweep] name", sweep.get("name", Path(path).stem if path != "<spec>" else "sweep"))
    description = sweep.get("description", "")
    if not isinstance(description, str):
        raise w.error("[sweep] description", description, "a string")
    base = w.text("[sweep] base", sweep.get("base", "baseline"),
                  "a scenario name or a path to a scenario .toml file")
    if (base.endswith(".toml") or "/" in base) and base_dir is not None:
        candidate = (base_dir / base)
        if not Path(base).is_absolute():
            # A relative path names a file in the spec's directory (or below): it may not climb
            # out of it (an absolute path says where it goes, and is taken as given).
            root = base_dir.resolve()
            if not candidate.resolve().is_relative_to(root):
                raise w.error("[sweep] base", base,
                              f"a scenario name, a path inside the spec's directory {root}, or "
                              "an absolute path")
            if candidate.is_file():
                base = str(candidate.resolve())
    samples = None
    if design == "grid":
        if "samples" in sweep:
            raise w.refuse("[sweep] samples is not used by the grid design (it runs "
                             "every combination of the parameters' values); remove it")
    else:
        if "samples" not in sweep:
            what = {"random": "the number of random points", "lhs": "the number of points",
                    "sobol": "the number of base samples N, a power of 2 (runs = N (D + 2))",
                    "morris": "the number of trajectories (runs = samples (D + 1))"}[design]
            raise w.missing("samples", table="[sweep]", expected=what + f" for design {design!r}")
        samples = w.integer("[sweep] samples", sweep["samples"], 1, MAX_RUNS)
        if design == "sobol" and samples & (samples - 1):
            lo = 1 << (samples.bit_length() - 1)
            raise w.error("[sweep] samples", samples,
                          f"a power of 2 for the sobol design (e.g. {lo} or {lo * 2})")
        if design == "morris" and samples < 2:
            raise w.error("[sweep] samples", samples, "at least 2 trajectories for design 'morris'")
    second_order = sweep.get("second_order", False)
    if not isinstance(second_order, bool):
        raise w.error("[sweep] second_order", second_order, "true or false")
    if "second_order" in sweep and design != "sobol":
        raise w.refuse(f"[sweep] second_order is only for the sobol design "
                         f"(design is {design!r})")
    levels = 4
    if "levels" in sweep:
        if design != "morris":
            raise w.refuse(f"[sweep] levels is only for the morris design "
                             f"(design is {design!r})")
        levels = w.integer("[sweep] levels", sweep["levels"], 2, 100)
        if levels % 2:
            raise w.error("[sweep] levels", levels, "an even number of levels (e.g. 4 or 6)")
    steps = w.integer("[sweep] steps", sweep["steps"], 1, 100_000) if "steps" in sweep else None
    end_date = w.date("[sweep] end_date", sweep["end_date"]) if "end_date" in sweep else None

    overrides = data.get("overrides", {})
    if not isinstance(overrides, dict):
        raise w.error("[overrides]", overrides, "a table of config values (key = value)")
    for key, value in overrides.items():
        try:
            plain(value)
        except ValueError:
            raise w.error(f"[overrides] {key}", value, "a finite value") from None

    raw_params = data.get("parameters", {})
    if not isinstance(raw_params, dict):
        raise w.error("[parameters]", raw_params, "tables [parameters.NAME]")
    if not raw_params and design != "grid":
        raise w.refuse(f"no [parameters.NAME] tables; design {design!r} needs at least "
                         "one parameter to vary")
    params = [_parse_param(w, name, table, design) for name, table in raw_params.items()]
    for p in params:
        if p.name in overrides:
            raise w.refuse(f"{p.name!r} is both in [overrides] and [parameters]; "
                             "a value is either fixed or varied")
    if design in SA_DESIGNS and len(params) < 2:
        raise w.refuse(f"design {design!r} needs at least 2 parameters to compare "
                         f"(found {len(params)})")

    metrics = data.get("metrics")
    if not isinstance(metrics, dict):
        raise w.refuse("missing table [metrics]; say what to keep: series = [...] "
                         "and/or [[metrics.summary]] tables (metric, window, stat)")
    w.keys(metrics, METRIC_KEYS, "[metrics]")
    series = metrics.get("series", [])
    if series != "all":
        if not isinstance(series, list) or not all(isinstance(s, str) and s for s in series):
            raise w.error("[metrics] series", series, 'a list of series names, or "all"')
        if len(set(series)) != len(series):
            raise w.error("[metrics] series", series, "a list without repeats")
        if "date" in series:
            raise w.error("[metrics] series", series, "series names ('date' is always kept)")
    raw_summary = metrics.get("summary", [])
    if not isinstance(raw_summary, list):
        raise w.error("[metrics] summary", raw_summary, "[[metrics.summary]] tables")
    summary = [_parse_summary(w, i, t) for i, t in enumerate(raw_summary)]
    names = [m.name for m in summary]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise w.refuse(f"[[metrics.summary]] name {dupes[0]!r} is used twice; give "
                         "each summary metric its own name = \"...\"")
    clash = sorted(set(names) & {p.name for p in params})
    if clash:
        raise w.refuse(f"{clash[0]!r} names both a parameter and a summary metric")
    if not summary and not series:
        raise w.refuse("[metrics] keeps nothing; give series = [...] and/or "
                         "[[metrics.summary]] tables")
    if design in SA_DESIGNS and not summary:
        raise w.refuse(f"design {design!r} needs at least one [[metrics.summary]] "
                         "table: sensitivity indices are computed for summary metrics")
    spec = SweepSpec(path=path, name=name.strip(), base=base, design=design,
                     replications=replications, seed=seed, params=params,
                     overrides=plain(overrides), series=series, summary=summary, samples=samples,
                     steps=steps, end_date=end_date, second_order=second_order, levels=levels,
                     description=description)
    if spec.n_runs > MAX_RUNS:
        raise w.refuse(f"the design has {spec.n_runs:,} runs; at most {MAX_RUNS:,} are "
                         "allowed in one sweep (split it)")
    return spec


def read_spec(path: str | Path) -> SweepSpec:
    """Read and check a spec file (without the model checks)."""
    data = parse_toml(read_text(path, "sweep spec", "a TOML file"), path)
    return parse_spec(data, path=str(path), base_dir=Path(path).parent)


def spec_from_json(data: dict[str, Any], path: str = "manifest.json") -> SweepSpec:
    """Rebuild a spec from its normalised JSON (``SweepSpec.to_json``), e.g. from a manifest."""
    raw = json.loads(json.dumps(data))
    sweep = {k: v for k, v in raw["sweep"].items() if v is not None}
    design = sweep.get("design")
    if design != "sobol":
        sweep.pop("second_order", None)
    if design != "morris":
        sweep.pop("levels", None)
    if design == "grid":
        sweep.pop("samples", None)
    raw["sweep"] = sweep
    for table in raw["metrics"]["summary"]:
        if table.get("stat") != "pct_change":
            for key in ("base_window", "base_stat", "window_stat"):
                table.pop(key, None)
    return parse_spec(raw, path=path)


# --------------------------------------------------------------------------------------------
# Checks against the model
# --------------------------------------------------------------------------------------------
@dataclass
class ModelInfo:
    """What the spec checks need to know about the model.

    ``series``: the names of the model's series; ``horizon(base, overrides)``: the run's
    ``(start, end)`` dates; ``check(base, overrides)``: raise InputError for a bad scenario or
    override; ``canonical(key)``: the dotted name of an override key (aliases must not repeat).
    The default, :func:`real_model_info`, asks ``model``; tests may pass a toy.
    """

    series: Sequence[str]
    horizon: Callable[[str, dict[str, Any]], tuple[dt.date, dt.date]]
    check: Callable[[str, dict[str, Any]], None]
    canonical: Callable[[str], str] = lambda key: key


def real_model_info() -> ModelInfo:
    from model import SERIES, load_scenario

    def horizon(base: str, overrides: dict[str, Any]) -> tuple[dt.date, dt.date]:
        cfg = load_scenario(base, **overrides)
        return cfg.run.start, cfg.run.end

    def check(base: str, overrides: dict[str, Any]) -> None:
        load_scenario(base, **overrides)

    from model.config import resolve_key as canonical

    return ModelInfo(series=list(SERIES), horizon=horizon, check=check, canonical=canonical)


def check_against_model(spec: SweepSpec, info: ModelInfo | None = None) -> None:
    """Refuse a spec the model cannot run: unknown parameters, values out of range, unknown
    series, summary windows outside the run horizon. Raises InputError naming the file."""
    info = info or real_model_info()
    path = spec.path
    fixed = spec.model_overrides()
    try:
        info.check(spec.base, fixed)
    except InputError as err:
        raise InputError(f"{path}: [sweep] base = {spec.base!r} with [overrides]: {err}") from None
    seen: dict[str, str] = {}
    for key in list(fixed) + [p.name for p in spec.params]:
        try:
            dotted = info.canonical(key)
        except InputError as err:
            where = "[overrides]" if key in fixed else f"[parameters.{key}]"
            raise InputError(f"{path}: {where}: {err}") from None
        if dotted in seen:
            raise InputError(f"{path}: {key!r} and {seen[dotted]!r} set the same config value "
                             f"{dotted!r}; give it once")
        seen[dotted] = key
    for p in spec.params:
        if p.values is not None:
            probes = list(p.values)
        else:
            probes = [p.low, p.high]
            if spec.design == "grid":
                probes = p.grid_values()
        for v in probes:
            try:
                info.check(spec.base, {**fixed, p.name: v})
            except InputError as err:
                raise InputError(f"{path}: [parameters.{p.name}] value {v!r} is refused by the "
                                 f"model: {err}") from None
    names = [s for s in info.series if s != "date"]
    if spec.series != "all":
        for s in spec.series:
            if s not in names:
                raise InputError(f"{path}: [metrics] series: unknown series {s!r}{suggest(s, names)}; "
                                 f"allowed: {', '.join(names)}")
    start, end = info.horizon(spec.base, fixed)
    if spec.steps is not None:
        end = min(end, start + dt.timedelta(weeks=spec.steps))
    for i, m in enumerate(spec.summary):
        where = f"[[metrics.summary]] #{i + 1} ({m.name})"
        for part in m.metric.split(" / "):
            if part not in names:
                raise InputError(f"{path}: {where}: metric = {m.metric!r}: unknown series "
                                 f"{part!r}{suggest(part, names)}; allowed: {', '.join(names)}")
        for key, wdw in (("window", m.window), ("base_window", m.base_window)):
            if wdw is None:
                continue
            if wdw[1] < start or wdw[0] > end:
                raise InputError(f"{path}: {where}: {key} = [{wdw[0]}, {wdw[1]}] is not allowed; "
                                 f"it must overlap the runs' horizon, {start} to {end}")


def load_spec(path: str | Path, info: ModelInfo | None = None, *, check_model: bool = True) -> SweepSpec:
    """Read a spec file and check it, against the model too (unless ``check_model=False``)."""
    spec = read_spec(path)
    if check_model:
        check_against_model(spec, info)
    return spec
