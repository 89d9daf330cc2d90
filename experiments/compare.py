"""`h100sim compare A B`: two scenarios side by side, as ensembles.

Both scenarios run for the same seeds; every chart of a run is drawn with each scenario's median
and 10-90% band overlaid, and a table gives the headline differences (peak spot price, spot at
the end of 2024, training share in 2025, total grey volume, ...).

    h100sim compare baseline no_open_weights --seeds 10 --workers 2 --out results/compare/
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from experiments.summary import text_table
from model.errors import InputError

#: headline keys (experiments.summary.HEADLINES) in the comparison table
COMPARE_KEYS = ("peak_spot", "spot_end_2024", "training_share_2025", "grey_volume_total",
                "peak_lead", "seized_total", "installed_end")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", metavar="A", help="first scenario (name or TOML file)")
    parser.add_argument("b", metavar="B", help="second scenario (name or TOML file)")
    parser.add_argument("--seeds", type=int, default=10,
                        help="runs per scenario, seeds 0..N-1 (default: 10)")
    parser.add_argument("--workers", type=int, default=1, help="parallel processes (default: 1)")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="output directory (default: results/compare-<A>-<B>/)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def labels_for(a: str, b: str) -> tuple[str, str]:
    """Display labels of two scenarios (their names; marked A/B when the names coincide)."""
    from model import load_scenario

    na, nb = load_scenario(a).name, load_scenario(b).name
    return (f"A: {na}", f"B: {nb}") if na == nb else (na, nb)


def headline_table(frames_a: Sequence[pd.DataFrame], frames_b: Sequence[pd.DataFrame],
                   labels: tuple[str, str], keys: Sequence[str] = COMPARE_KEYS) -> pd.DataFrame:
    """Median and 10-90% of each headline for both ensembles, and their difference."""
    from experiments.summary import BY_KEY, headline_value
    from experiments.targets import nan_quantile

    rows = []
    for key in keys:
        h = BY_KEY[key]
        row: dict[str, Any] = {"key": key, "headline": h.label}
        medians = []
        for label, frames in zip(labels, (frames_a, frames_b)):
            vals = [np.nan if (v := headline_value(df, h)) is None else float(v) for df in frames]
            med = nan_quantile(vals, 0.5)
            row[f"{label} median"] = med
            row[f"{label} p10"] = nan_quantile(vals, 0.1)
            row[f"{label} p90"] = nan_quantile(vals, 0.9)
            medians.append(med)
        finite = all(math.isfinite(m) for m in medians)
        row["difference"] = medians[1] - medians[0] if finite else math.nan
        row["change %"] = (100.0 * (medians[1] / medians[0] - 1.0)
                           if finite and medians[0] != 0 else math.nan)
        rows.append(row)
    return pd.DataFrame(rows).set_index("key")


def compare_scenarios(a: str, b: str, seeds: int | Sequence[int] = 10, *, workers: int = 1,
                      overrides_a: Mapping[str, Any] | None = None,
                      overrides_b: Mapping[str, Any] | None = None,
                      progress: bool = True) -> tuple[pd.DataFrame, dict[str, dict[str, pd.DataFrame]]]:
    """Run both scenarios for the same seeds; return (headline table, bands).

    ``seeds`` is a count (seeds 0..N-1) or a list. The table is indexed by headline key with
    columns ``headline``, ``<label> median/p10/p90`` for both scenarios, ``difference`` (B - A
    medians) and ``change %``. ``bands`` maps each scenario label to ``{column: band}`` for every
    charted column (see :func:`experiments.ensemble.band`).
    """
    from experiments.charts import chart_columns
    from experiments.ensemble import bands, run_ensemble

    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if seeds < 1:
            raise InputError(f"--seeds {seeds} is not allowed; expected an integer >= 1")
        seeds = list(range(int(seeds)))
    labels = labels_for(a, b)
    frames_a = run_ensemble(a, seeds, workers=workers, overrides=overrides_a, progress=progress)
    frames_b = run_ensemble(b, seeds, workers=workers, overrides=overrides_b, progress=progress)
    table = headline_table(frames_a, frames_b, labels)
    cols = chart_columns()
    return table, {labels[0]: bands(frames_a, cols), labels[1]: bands(frames_b, cols)}


def format_table(table: pd.DataFrame, labels: tuple[str, str]) -> str:
    """The headline table as aligned text: median [p10..p90] per scenario, then the difference."""
    from experiments.summary import BY_KEY, format_headline, headline_unit

    header = ["headline", "unit", labels[0], labels[1], "B - A", "change"]
    rows = [header]
    for key, r in table.iterrows():
        cells = [r["headline"], headline_unit(key)]
        for label in labels:
            cells.append(f"{format_headline(key, r[f'{label} median'])} "
                         f"[{format_headline(key, r[f'{label} p10'])} .. "
                         f"{format_headline(key, r[f'{label} p90'])}]")
        diff = r["difference"]
        sign = "+" if diff > 0 else "-" if diff < 0 else ""
        if math.isnan(diff):
            cells.append("n/a")
        elif BY_KEY[key].unit == "share":  # a difference of shares is in percentage points
            cells.append(f"{100 * diff:+.1f} pp")
        else:
            cells.append(sign + format_headline(key, abs(diff)))
        pct = r["change %"]
        cells.append("n/a" if math.isnan(pct) else f"{pct:+.1f}%")
        rows.append(cells)
    return text_table(rows)


def execute(args: argparse.Namespace) -> int:
    from experiments.charts import write_band_charts
    from experiments.ensemble import scenario_events
    from experiments.store import atomic_write

    if args.seeds < 1:
        raise InputError(f"--seeds {args.seeds} is not allowed; expected an integer >= 1")
    if args.workers < 1:
        raise InputError(f"--workers {args.workers} is not allowed; expected an integer >= 1")
    table, band_map = compare_scenarios(args.a, args.b, args.seeds, workers=args.workers,
                                        progress=not args.quiet)
    labels = tuple(band_map)
    out = Path(args.out) if args.out else Path("results") / (
        "compare-" + "-".join(lab.split(": ")[-1] for lab in labels))
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {str(out)!r} is a file; expected a directory")
    events = {labels[0]: scenario_events(args.a), labels[1]: scenario_events(args.b)}
    seeds = f"seeds 0..{args.seeds - 1}" if args.seeds > 1 else "seed 0"
    charts = write_band_charts(band_map, events, out / "charts",
                               context=f"{labels[0]} vs {labels[1]}, {seeds}")
    text = format_table(table, labels)
    header = f"{labels[0]} (A) vs {labels[1]} (B), {args.seeds} seeds each: median [10% .. 90%]\n"
    atomic_write(out / "table.csv", table.to_csv())
    atomic_write(out / "table.txt", header + "\n" + text + "\n")
    print("\n" + header)
    print(text)
    print(f"\nwrote {out}/: table.csv, table.txt, charts/ ({', '.join(p.name for p in charts)})")
    return 0
