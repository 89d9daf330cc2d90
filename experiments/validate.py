"""`h100sim validate`: check the model against a targets file.

Each scenario the targets name is run for seeds 0..N-1; every target is evaluated on every run,
and it passes when the median over seeds of its statistic meets it. Exit code 0 when all pass,
1 when any fails, 2 on bad input.

    h100sim validate --targets model/targets/calibration_2023.toml --seeds 10 --workers 2 \
        --json results/validate.json --report results/validate/
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from experiments.store import atomic_write
from experiments.summary import text_table
from experiments.targets import Target, TargetResult, evaluate_target, format_value, load_targets
from model.errors import InputError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--targets", required=True, metavar="FILE", help="a targets TOML file")
    parser.add_argument("--seeds", type=int, default=10,
                        help="runs per scenario, seeds 0..N-1 (default: 10)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default: 1)")
    parser.add_argument("--json", metavar="PATH", default=None,
                        help="also write the results as a JSON list")
    parser.add_argument("--report", metavar="DIR", default=None,
                        help="also write a Markdown report with one chart per target")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--vary", action="append", default=[], metavar="KEY=LOW,HIGH",
                        help="robustness: also run with KEY at LOW and at HIGH, one key at a time "
                             "(KEY=±20%% or +-20%%: the scenario's value times 0.8 and 1.2); "
                             "repeatable; see docs/validation.md")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="with --vary: the runs, the table (CSV, JSON, Markdown) and the heat "
                             "map; re-run to resume (default: results/robustness-<targets name>)")


def evaluate(targets: Sequence[Target], frames_by_scenario: Mapping[str, Sequence[pd.DataFrame]],
             path: str = "") -> list[TargetResult]:
    """Evaluate every target on its scenario's runs (InputError names the target)."""
    results = []
    for t in targets:
        try:
            results.append(evaluate_target(t, frames_by_scenario[t.scenario]))
        except InputError as err:
            raise InputError(f"{path + ': ' if path else ''}target {t.id!r}: {err}") from None
    return results


def _range(r: TargetResult) -> str:
    return f"{format_value(r.p10)} .. {format_value(r.p90)}"


def table_rows(results: Sequence[TargetResult]) -> list[list[str]]:
    from experiments.catalogue import stat_unit

    header = ["id", "metric", "unit", "median", "10-90%", "target", "result", "seeds pass"]
    rows = [header]
    for r in results:
        t = r.target
        stat = t.stat if t.stat != "pct_change" else f"pct_change({t.window_stat}/{t.base_stat})"
        rows.append([t.id, f"{stat} {t.metric}", stat_unit(t.metric, t.stat) or "-",
                     format_value(r.median), _range(r), t.describe(),
                     "pass" if r.passed else "FAIL", f"{100 * r.seed_pass_share:.0f}%"])
    return rows


def markdown_table(results: Sequence[TargetResult]) -> str:
    rows = table_rows(results)
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    for row in rows[1:]:
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return "\n".join(out)


def write_json(path: str | Path, results: Sequence[TargetResult]) -> Path:
    p = Path(path)
    atomic_write(p, json.dumps([r.to_json() for r in results], indent=2) + "\n")
    return p


def write_report(out_dir: str | Path, results: Sequence[TargetResult],
                 frames_by_scenario: Mapping[str, Sequence[pd.DataFrame]],
                 events_by_scenario: Mapping[str, list] | None = None, *, targets_path: str = "",
                 seeds: int = 0) -> Path:
    """A Markdown report with one PNG chart per target; returns the report's path."""
    from experiments.charts import safe_name, target_chart
    from experiments.ensemble import band
    from experiments.targets import compute_stat

    out = Path(out_dir)
    (out / "charts").mkdir(parents=True, exist_ok=True)
    n_pass = sum(r.passed for r in results)
    lines = [
        "# Validation report",
        "",
        f"- targets: `{targets_path}`",
        f"- scenarios: {', '.join(f'`{s}`' for s in frames_by_scenario)}",
        f"- seeds per scenario: {seeds} (0..{seeds - 1}); a target passes when the median over "
        "seeds meets it",
        f"- written: {dt.datetime.now().replace(microsecond=0).isoformat()}",
        f"- result: **{n_pass} of {len(results)} targets pass**",
        "",
        markdown_table(results),
        "",
    ]
    used: set[str] = set()
    for r in results:
        t = r.target
        frames = frames_by_scenario[t.scenario]
        base_value = None
        if t.stat == "pct_change":
            bases = [compute_stat(df, t.metric, t.base_window, t.base_stat) for df in frames]
            base_value = float(pd.Series(bases, dtype=float).median())
        name = safe_name(t.id)
        while name in used:
            name += "_"
        used.add(name)
        chart = target_chart(band(frames, t.metric), t, out / "charts" / f"{name}.png", result=r,
                             base_value=base_value,
                             events=(events_by_scenario or {}).get(t.scenario),
                             context=f"{t.scenario}, seeds 0..{len(frames) - 1}")
        lines += [
            f"## {t.id}: {'pass' if r.passed else 'FAIL'}",
            "",
            f"- metric: `{t.metric}` ({t.describe_stat()}), scenario `{t.scenario}`",
            f"- target: {t.describe()}; source: {t.source}",
            f"- median {format_value(r.median)}, 10-90% {_range(r)}, "
            f"seeds passing {100 * r.seed_pass_share:.0f}%",
            "",
            f"![{t.id}](charts/{chart.name})",
            "",
        ]
    report = out / "report.md"
    atomic_write(report, "\n".join(lines))
    return report


def execute(args: argparse.Namespace) -> int:
    from experiments.ensemble import run_ensemble, scenario_events

    if args.seeds < 1:
        raise InputError(f"--seeds {args.seeds} is not allowed; expected an integer >= 1")
    if args.workers < 1:
        raise InputError(f"--workers {args.workers} is not allowed; expected an integer >= 1")
    if args.vary or args.out is not None:
        from experiments.robustness import execute as execute_robustness

        return execute_robustness(args)
    for flag, value in (("--json", args.json), ("--report", args.report)):
        if value is not None and Path(value).exists() and (
                (flag == "--json") == Path(value).is_dir()):
            kind = "a directory" if flag == "--json" else "a file"
            raise InputError(f"{flag} {value!r} is not allowed: it is {kind}")
    targets = load_targets(args.targets)
    scenarios = list(dict.fromkeys(t.scenario for t in targets))
    seeds = list(range(args.seeds))
    frames = {s: run_ensemble(s, seeds, workers=args.workers, progress=not args.quiet)
              for s in scenarios}
    results = evaluate(targets, frames, path=str(args.targets))

    n_pass = sum(r.passed for r in results)
    print(f"{args.targets}: {len(targets)} targets, scenario(s) {', '.join(scenarios)}, "
          f"{args.seeds} seeds each; a target passes when the median over seeds meets it\n")
    print(text_table(table_rows(results)))
    print(f"\n{n_pass} of {len(results)} targets pass")
    if args.json:
        print(f"wrote {write_json(args.json, results)}")
    if args.report:
        events = {s: scenario_events(s) for s in scenarios}
        report = write_report(args.report, results, frames, events, targets_path=str(args.targets),
                              seeds=args.seeds)
        print(f"wrote {report}")
    return 0 if n_pass == len(results) else 1
