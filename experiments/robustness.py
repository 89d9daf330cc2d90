"""`h100sim validate --vary`: does a targets file hold across seeds and when assumptions move?

The targets' scenarios are run for seeds 0..N-1 in the base case and in one-at-a-time variations:
each ``--vary KEY=LOW,HIGH`` adds two cases, KEY at LOW and KEY at HIGH, every other value as in
the scenario (``KEY=±20%``, or ``+-20%``: the key's value in the scenario times 0.8 and 1.2).
Every target is evaluated in every case as plain ``validate`` does it (on the median over seeds);
the table gives, target by target, the median and the share of seeds that meet the target in each
case, and marks the target's weakest case.

Runs go through the one runner (:mod:`experiments.runner`), as ``validate``'s ensembles do, and
each finished run's series is kept in ``DIR/runs/<run id>.parquet`` (atomic writes,
:mod:`experiments.store`). A run's id is a hash of its resolved configuration, its seed and the
model version, so re-running the command (after an interruption, or with more seeds or more
``--vary`` keys) runs only what is not there yet. Outputs in ``DIR``: ``robustness.csv`` (one row
per target and case), ``robustness.json``, ``robustness.md`` and the heat map ``robustness.png``.
Exit code 0 when every target holds on the median in every case, 1 otherwise, 2 on bad input.

    h100sim validate --targets model/targets/calibration_2023.toml --seeds 20 --workers 4 \\
        --vary funding_multiplier=±20% --vary value_per_edge_hour=±20% --out results/robustness
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import math
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.store import DirLock, atomic_write, atomic_write_json, clean_temp, json_value
from experiments.targets import Target, TargetResult, format_value, load_targets
from model.errors import InputError

RUNS = "runs"
OUTPUT = "robustness"
SIDES = ("low", "high")
VARY_FORMS = ("KEY=LOW,HIGH (e.g. funding_multiplier=0.8,1.2) or KEY=±P% "
              "(e.g. funding_multiplier=±20%, also written +-20%)")
_PERCENT = re.compile(r"(?:±|\+-|\+/-)\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*%")


# --------------------------------------------------------------------------------------------
# The cases: the base case and one per --vary key and side
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One column of the table: the scenarios as they are (``key`` None), or one key changed."""

    name: str
    key: str | None = None            # dotted config key
    side: str | None = None           # "low" | "high"
    percent: float | None = None      # for KEY=±P%: -P or +P
    values: Mapping[str, Any] = field(default_factory=dict)  # scenario -> the key's value

    @property
    def leaf(self) -> str:
        return self.key.split(".", 1)[1] if self.key else self.name

    @property
    def value_text(self) -> str:
        """The value (the same in every scenario) or the change in percent, e.g. ``0.8 (-20%)``."""
        distinct = {json.dumps(json_value(v), sort_keys=True) for v in self.values.values()}
        pct = f"{self.percent:+g}%" if self.percent is not None else ""
        if len(distinct) != 1:
            return pct
        value = format_value(next(iter(self.values.values())))
        return f"{value} ({pct})" if pct else value

    def overrides(self, scenario: str) -> dict[str, Any]:
        return {self.key: self.values[scenario]} if self.key else {}


BASE = Case(name="base")


def _scalar(key: str, text: str) -> Any:
    """A value as ``--set`` reads it (TOML, or a bare word); None if it is neither."""
    from model.config import parse_override

    try:
        return parse_override(f"{key}={text}")[1]
    except InputError:
        return None


def _round(value: float, like: Any) -> Any:
    """``value`` as the type of ``like`` (an int key stays an int), without float noise."""
    if isinstance(like, int):
        return int(round(value))
    return float(f"{value:.12g}")


def parse_vary(text: str, scenarios: Sequence[str]) -> list[Case]:
    """The two cases of one ``--vary`` argument, checked against every scenario (InputError)."""
    from model import load_scenario
    from model.config import resolve_key

    where = f"--vary {text!r}"
    key, sep, spec = text.partition("=")
    key, spec = key.strip(), spec.strip()
    if not sep or not key:
        raise InputError(f"{where} is not allowed; expected {VARY_FORMS}")
    try:
        dotted = resolve_key(key)
    except InputError as err:
        raise InputError(f"{where}: {err}") from None
    percent = _PERCENT.fullmatch(spec)
    values: dict[str, dict[str, Any]] = {side: {} for side in SIDES}
    if percent:
        p = float(percent.group(1))
        if not 0 < p < 100:
            raise InputError(f"{where}: {p:g}% is not allowed; expected a percentage above 0 "
                             "and below 100")
        for s in scenarios:
            base = load_scenario(s).get(dotted)
            if isinstance(base, bool) or not isinstance(base, (int, float)):
                raise InputError(f"{where}: {dotted} is {json.dumps(json_value(base))} in "
                                 f"scenario {s!r}, not a number, so ±{p:g}% means nothing; "
                                 "give KEY=LOW,HIGH")
            values["low"][s] = _round(base * (1 - p / 100), base)
            values["high"][s] = _round(base * (1 + p / 100), base)
        shift = {"low": -p, "high": p}
    else:
        parts = spec.split(",")
        pair = [_scalar(key, v) for v in parts] if len(parts) == 2 else []
        if len(pair) != 2 or any(v is None for v in pair):
            raise InputError(f"{where}: value {spec!r} is not allowed; expected {VARY_FORMS}")
        if pair[0] == pair[1]:
            raise InputError(f"{where}: LOW and HIGH are both {spec.split(',')[0].strip()}; "
                             "expected two different values")
        for s in scenarios:
            values["low"][s], values["high"][s] = pair
        shift = {"low": None, "high": None}
    cases = []
    for side in SIDES:
        for s in scenarios:
            try:
                load_scenario(s, **{dotted: values[side][s]})
            except InputError as err:
                msg = str(err).removeprefix("override: ")
                scen = f" (scenario {s!r})" if len(scenarios) > 1 else ""
                raise InputError(f"{where}: the {side} value{scen}: {msg}") from None
        case = Case(name="", key=dotted, side=side, percent=shift[side], values=values[side])
        cases.append(dataclasses.replace(case, name=f"{case.leaf}={case.value_text}"))
    return cases


def parse_cases(varies: Sequence[str], scenarios: Sequence[str]) -> list[Case]:
    """The base case, then low and high of each ``--vary`` (a key given twice is refused)."""
    cases, seen = [BASE], set()
    for text in varies:
        pair = parse_vary(text, scenarios)
        if pair[0].key in seen:
            raise InputError(f"--vary {text!r}: {pair[0].key} is varied twice; give each key once")
        seen.add(pair[0].key)
        cases += pair
    return cases


# --------------------------------------------------------------------------------------------
# Runs: planned by id, kept in DIR/runs, run through the one runner
# --------------------------------------------------------------------------------------------
def run_id(config: Mapping[str, Any], seed: int) -> str:
    """sha256 of the resolved configuration (``Config.flat()``), the seed and the model version
    (16 hex digits): the same run under another name (a leaf or dotted key, a copy of the
    scenario file) has the same id, and a changed model or scenario file gets new ones."""
    from experiments.runner import model_version
    from experiments.sweepspec import canonical_json

    text = canonical_json({"config": config, "seed": int(seed), "model_version": model_version()})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan(cases: Sequence[Case], scenarios: Sequence[str], seeds: Sequence[int]):
    """``{(case name, scenario): [run id per seed]}`` and the tasks, one per distinct run."""
    from experiments.runner import RunTask
    from model import load_scenario

    ids: dict[tuple[str, str], list[str]] = {}
    tasks: dict[str, RunTask] = {}
    for case in cases:
        for s in scenarios:
            overrides = case.overrides(s)
            config = load_scenario(s, **overrides).flat()
            ids[case.name, s] = []
            for seed in seeds:
                rid = run_id(config, seed)
                ids[case.name, s].append(rid)
                tasks.setdefault(rid, RunTask(run_id=rid, base=s, seed=int(seed),
                                              overrides=overrides))
    return ids, list(tasks.values())


def run_missing(out: Path, tasks: Sequence, workers: int, progress: bool) -> int:
    """Run the tasks whose series is not in ``out/runs`` yet, writing each as it finishes;
    returns how many ran. A failed run stops the batch (:class:`RunFailed`); what finished stays."""
    from tqdm.auto import tqdm

    from experiments.ensemble import RunFailed
    from experiments.runner import open_engine, pick_engine, run_tasks

    runs = out / RUNS
    todo = [t for t in tasks if not (runs / f"{t.run_id}.parquet").is_file()]
    if not todo:
        return 0
    with tqdm(total=len(todo), desc=f"robustness: {len(todo)} runs", unit="run", leave=False,
              disable=not progress) as bar:
        def handle(payload: dict[str, Any], attempts: int = 1) -> None:
            if not payload["ok"]:
                raise RunFailed(payload["error"], payload.get("traceback", ""))
            atomic_write(runs / f"{payload['run_id']}.parquet", payload["series"].to_parquet())
            bar.update(1)

        engine = pick_engine("auto", workers, None)
        with open_engine(engine, workers, None, len(todo)) as backend:
            run_tasks(backend, todo, handle)
    return len(todo)


# --------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------
def margin(target: Target, value: Any) -> float:
    """How far ``value`` lies inside the target (negative: outside; dates in days), -inf for no
    value: what orders the cases of one target that the same share of seeds meets."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return -math.inf

    def num(v: Any) -> float:
        return float(v.toordinal()) if isinstance(v, dt.date) else float(v)

    if target.op == ">=":
        return num(value) - num(target.value)
    if target.op == "<=":
        return num(target.value) - num(value)
    lo, hi = target.value
    return min(num(value) - num(lo), num(hi) - num(value))


@dataclass
class Robustness:
    """Every target in every case: ``results[target id][i]`` is case ``cases[i]``."""

    targets: list[Target]
    cases: list[Case]
    results: dict[str, list[TargetResult]]
    seeds: int
    targets_path: str = ""
    command: str = ""

    def weakest(self, target_id: str) -> set[int]:
        """The indices of the target's weakest case: the fewest seeds meeting it, then the median
        nearest the edge of the target (or farthest outside); every case that ties exactly.
        Empty when every case holds in every seed."""
        row = self.results[target_id]
        if all(r.passed and r.seed_pass_share == 1.0 for r in row):
            return set()
        rank = [(r.seed_pass_share, margin(r.target, r.median)) for r in row]
        return {i for i, k in enumerate(rank) if k == min(rank)}

    def holds(self, target_id: str) -> bool:
        return all(r.passed for r in self.results[target_id])

    @property
    def all_hold(self) -> bool:
        return all(self.holds(t.id) for t in self.targets)


def evaluate_cases(targets: Sequence[Target], cases: Sequence[Case], frames: Mapping[str, pd.DataFrame],
                   ids: Mapping[tuple[str, str], list[str]], path: str = "") -> dict[str, list]:
    from experiments.validate import evaluate

    scenarios = list(dict.fromkeys(t.scenario for t in targets))
    results: dict[str, list[TargetResult]] = {t.id: [] for t in targets}
    for case in cases:
        by_scenario = {s: [frames[rid] for rid in ids[case.name, s]] for s in scenarios}
        for r in evaluate(targets, by_scenario, path=path):
            results[r.target.id].append(r)
    return results


def cell_text(r: TargetResult, weakest: bool) -> str:
    text = f"{format_value(r.median)} {100 * r.seed_pass_share:.0f}%"
    return text + (" FAIL" if not r.passed else "") + (" <" if weakest else "")


def _groups(cases: Sequence[Case]) -> list[tuple[str, list[str]]]:
    """Column groups: (key, [low value, high value]) per varied key, the base first."""
    groups: list[tuple[str, list[str]]] = [("base", [""])]
    for case in cases[1:]:
        if case.side == "low":
            groups.append((case.leaf, []))
        groups[-1][1].append(case.value_text)
    return groups


def text_table(rob: Robustness) -> str:
    """The table as plain text: a row per target, a column per case under its key."""
    groups = [("id", [""]), ("target", [""]), *_groups(rob.cases)]
    heads = [h for _, hs in groups for h in hs]
    rows = []
    for t in rob.targets:
        weak = rob.weakest(t.id)
        rows.append([t.id, t.describe()] + [cell_text(r, i in weak)
                                             for i, r in enumerate(rob.results[t.id])])
    widths = [max(len(row[i]) for row in [heads, *rows]) for i in range(len(heads))]
    top, i = [], 0
    for title, hs in groups:
        n = len(hs)
        span = sum(widths[i:i + n]) + 2 * (n - 1)
        if len(title) > span:  # widen the group's last column to fit its title
            widths[i + n - 1] += len(title) - span
            span = len(title)
        top.append(title.ljust(span))
        i += n

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    return "\n".join(["  ".join(top).rstrip(), line(heads),
                      line(["-" * w for w in widths]), *map(line, rows)])


LEGEND = ("each cell: the median over seeds and the share of seeds that meet the target; "
          "FAIL: the median misses the target; <: the target's weakest case")


def markdown(rob: Robustness) -> str:
    """The report as Markdown: how it was made, the table (a column per case), the heat map."""
    head = ["id", "target"] + [c.name for c in rob.cases]
    out = [f"# Robustness of `{rob.targets_path}`", "",
           f"- seeds: {rob.seeds} (0..{rob.seeds - 1}) in every case",
           f"- cases: the base case and {len(rob.cases) - 1} one-at-a-time variations",
           f"- result: **{sum(rob.holds(t.id) for t in rob.targets)} of {len(rob.targets)} "
           "targets hold on the median in every case**",
           f"- command: `{rob.command}`", "",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for t in rob.targets:
        weak = rob.weakest(t.id)
        cells = [t.id, t.describe()] + [cell_text(r, i in weak)
                                         for i, r in enumerate(rob.results[t.id])]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    out += ["", LEGEND + ".", "", f"![heat map]({OUTPUT}.png)", ""]
    return "\n".join(out)


def records(rob: Robustness) -> list[dict[str, Any]]:
    """One record per target and case (the CSV's rows)."""
    rows = []
    for t in rob.targets:
        weak = rob.weakest(t.id)
        for i, (case, r) in enumerate(zip(rob.cases, rob.results[t.id])):
            rows.append({"target": t.id, "metric": t.metric, "stat": t.stat,
                         "target_text": t.describe(), "case": case.name, "key": case.key or "",
                         "side": case.side or "", "value": case.value_text if case.key else "",
                         "median": json_value(r.median), "p10": json_value(r.p10),
                         "p90": json_value(r.p90), "seed_pass_share": r.seed_pass_share,
                         "median_passes": bool(r.passed), "weakest": i in weak})
    return rows


def to_json(rob: Robustness) -> dict[str, Any]:
    cases = [{"name": c.name, "key": c.key, "side": c.side, "percent": c.percent,
              "values": {s: json_value(v) for s, v in c.values.items()}} for c in rob.cases]
    targets = []
    for t in rob.targets:
        weak = rob.weakest(t.id)
        cells = [{"case": c.name, **r.to_json(), "weakest": i in weak}
                 for i, (c, r) in enumerate(zip(rob.cases, rob.results[t.id]))]
        for cell in cells:
            del cell["id"], cell["metric"], cell["target"]
        targets.append({"id": t.id, "metric": t.metric, "stat": t.stat, "scenario": t.scenario,
                        "target": t.describe(), "holds": rob.holds(t.id), "cells": cells})
    return {"targets_file": rob.targets_path, "seeds": rob.seeds, "command": rob.command,
            "all_hold": rob.all_hold, "cases": cases, "targets": targets}


def write_csv(path: Path, rob: Robustness) -> Path:
    rows = records(rob)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    return atomic_write(path, buf.getvalue())


def heat_map(rob: Robustness, path: Path) -> Path:
    """Targets x cases, coloured by the share of seeds that meet the target; each cell gives
    that share and the median, FAIL where the median misses, a frame round the weakest case(s)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    n_t, n_c = len(rob.targets), len(rob.cases)
    share = np.array([[r.seed_pass_share for r in rob.results[t.id]] for t in rob.targets])
    longest_x = max(len(c.name) for c in rob.cases)
    longest_y = max(len(f"{t.stat} {t.metric} {t.describe()}") for t in rob.targets)
    fig = Figure(figsize=(max(7.0, 1.3 + 0.07 * longest_y + 1.05 * n_c),
                          max(3.5, 1.6 + 0.06 * longest_x + 0.62 * n_t)), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(share, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(n_c), [c.name for c in rob.cases], rotation=35, ha="right",
                  rotation_mode="anchor")
    ax.set_yticks(range(n_t), [f"{t.id}\n{t.stat} {t.metric} {t.describe()}"
                               for t in rob.targets], fontsize=8.5)
    ax.tick_params(length=0)
    for k in range(n_t + 1):
        ax.axhline(k - 0.5, color="white", lw=1)
    for k in range(n_c + 1):
        ax.axvline(k - 0.5, color="white", lw=3 if k == 1 else 1)
    for y, t in enumerate(rob.targets):
        weak = rob.weakest(t.id)
        for x, r in enumerate(rob.results[t.id]):
            text = f"{100 * r.seed_pass_share:.0f}%\n{format_value(r.median)}"
            red, green, blue, _ = image.cmap(image.norm(r.seed_pass_share))
            dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
            ax.text(x, y, text + ("\nFAIL" if not r.passed else ""), ha="center", va="center",
                    fontsize=7.5, fontweight="bold" if not r.passed else "normal",
                    color="white" if dark else "black")
            if x in weak:
                ax.add_patch(Rectangle((x - 0.45, y - 0.45), 0.9, 0.9, fill=False,
                                       edgecolor="black", lw=2.5, ls="--"))
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label("share of seeds that meet the target")
    bar.ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(xmax=1.0))
    ax.set_title(f"Robustness of {rob.targets_path}, {rob.seeds} seeds (0..{rob.seeds - 1})\n"
                 "cell: share of seeds meeting the target, median over seeds; "
                 "FAIL: the median misses; dashed frame: the target's weakest case(s)", fontsize=9)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", pad_inches=0.15)
    return atomic_write(path, buf.getvalue())


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------
def command_line(args: argparse.Namespace, out: Path) -> str:
    """The command that reproduces (or resumes) this run."""
    words = ["h100sim", "validate", "--targets", str(args.targets), "--seeds", str(args.seeds)]
    for v in args.vary:
        words += ["--vary", v]
    if args.workers != 1:
        words += ["--workers", str(args.workers)]
    words += ["--out", str(out)]
    return " ".join(shlex.quote(w) for w in words)


def default_out(targets_path: str) -> Path:
    return Path("results") / f"robustness-{Path(targets_path).stem}"


def robustness(targets_path: str, seeds: int, varies: Sequence[str], out: Path, *,
               workers: int = 1, progress: bool = True, command: str = "") -> Robustness:
    """Check the input, run what ``out/runs`` lacks, evaluate every target in every case."""
    targets = load_targets(targets_path)
    scenarios = list(dict.fromkeys(t.scenario for t in targets))
    cases = parse_cases(varies, scenarios)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {str(out)!r} is not allowed: it is a file")
    ids, tasks = plan(cases, scenarios, list(range(seeds)))
    out.mkdir(parents=True, exist_ok=True)
    with DirLock(out):
        clean_temp(out, out / RUNS)
        run_missing(out, tasks, workers, progress)
        frames = {t.run_id: pd.read_parquet(out / RUNS / f"{t.run_id}.parquet") for t in tasks}
    results = evaluate_cases(targets, cases, frames, ids, path=targets_path)
    return Robustness(targets=targets, cases=cases, results=results, seeds=seeds,
                      targets_path=targets_path, command=command)


def write_outputs(rob: Robustness, out: Path) -> list[Path]:
    return [write_csv(out / f"{OUTPUT}.csv", rob),
            atomic_write_json(out / f"{OUTPUT}.json", to_json(rob)),
            atomic_write(out / f"{OUTPUT}.md", markdown(rob)),
            heat_map(rob, out / f"{OUTPUT}.png")]


def execute(args: argparse.Namespace) -> int:
    """``h100sim validate`` with ``--vary`` (``--seeds`` and ``--workers`` already checked)."""
    if not args.vary:
        raise InputError("--out goes with --vary (a robustness run); plain validate writes "
                         "with --json and --report")
    for flag in ("json", "report"):
        if getattr(args, flag, None) is not None:
            raise InputError(f"--{flag} goes with plain validate; with --vary the table, the "
                             "heat map and the runs go to --out")
    out = Path(args.out) if args.out is not None else default_out(args.targets)
    rob = robustness(str(args.targets), args.seeds, args.vary, out, workers=args.workers,
                     progress=not args.quiet, command=command_line(args, out))
    scenarios = ", ".join(dict.fromkeys(t.scenario for t in rob.targets))
    print(f"{args.targets}: {len(rob.targets)} targets, scenario(s) {scenarios}, {args.seeds} "
          f"seeds; the base case and {len(rob.cases) - 1} variations, one key at a time\n")
    print(text_table(rob))
    print(f"\n{LEGEND}")
    held = sum(rob.holds(t.id) for t in rob.targets)
    print(f"{held} of {len(rob.targets)} targets hold on the median in every case")
    for p in write_outputs(rob, out):
        print(f"wrote {p}")
    return 0 if rob.all_hold else 1

