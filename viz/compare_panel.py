"""The "Compare" tab: two scenarios as ensembles (median and 10-90% band), run in the background.

The work is what ``h100sim compare`` does (:func:`experiments.compare.compare_scenarios`): the same
seeds for both scenarios, a headline table (:func:`experiments.compare.headline_table`) and bands of
every charted column (:func:`experiments.ensemble.bands`), on the same runner
(:func:`experiments.ensemble.run_series`, worker processes always), so the page shows progress run
by run, stays responsive while it works (the runs do not hold the server's interpreter lock), and
Cancel stops the runs at once.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd
import solara
import solara.lab
import solara.widgets

from viz import html, vega
from viz.components import MARKET_CHARTS
from viz.levers import presets

MAX_SEEDS = 20


@dataclass
class CompareResult:
    labels: tuple[str, str]
    seeds: list[int]
    table: pd.DataFrame
    bands: dict[str, dict[str, pd.DataFrame]]
    events: list[tuple]
    seconds: float
    error: str = ""
    cancelled: bool = False
    notes: list[str] = field(default_factory=list)


def default_workers() -> int:
    """Leave one core to the app server."""
    return max(1, (os.cpu_count() or 2) - 1)


def run_comparison(a: str, b: str, n_seeds: int, *, workers: int | None = None,
                   on_progress: Callable[[int, int], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> CompareResult:
    """Run ``a`` and ``b`` for seeds 0..n-1 (each run a job in a process pool) and summarise.

    Returns a CompareResult; errors and cancellation are reported in it, not raised, so the page
    can show them.
    """
    from experiments.charts import chart_columns, merge_events
    from experiments.compare import headline_table, labels_for
    from experiments.ensemble import bands, run_series, scenario_events
    from experiments.runner import Cancelled

    t0 = time.perf_counter()
    seeds = list(range(int(n_seeds)))
    empty = pd.DataFrame()
    try:
        labels = labels_for(a, b)
    except Exception as err:  # an unknown scenario: say so on the page
        return CompareResult(("A", "B"), seeds, empty, {}, [], 0.0, error=str(err))
    runs = [(scen, s, None) for scen in (a, b) for s in seeds]
    total = len(runs)
    done = [0]
    if on_progress:
        on_progress(0, total)

    def one_more() -> None:
        done[0] += 1
        if on_progress:
            on_progress(done[0], total)

    try:
        # always worker processes: runs in the server's own process would hold its GIL
        frames = run_series(runs, workers or default_workers(), engine="processes",
                            on_run=one_more, should_stop=should_stop)
    except Cancelled:
        return CompareResult(labels, seeds, empty, {}, [], time.perf_counter() - t0,
                             cancelled=True)
    except Exception as err:  # a failed run: report it on the page
        return CompareResult(labels, seeds, empty, {}, [], time.perf_counter() - t0,
                             error=f"{type(err).__name__}: {err}")
    frames_a, frames_b = frames[:len(seeds)], frames[len(seeds):]
    table = headline_table(frames_a, frames_b, labels)
    cols = [c for _, _, fields, _ in MARKET_CHARTS for c in fields]
    cols = list(dict.fromkeys(cols + chart_columns()))
    band_map = {labels[0]: bands(frames_a, cols), labels[1]: bands(frames_b, cols)}
    events = merge_events({labels[0]: scenario_events(a), labels[1]: scenario_events(b)})
    return CompareResult(labels, seeds, table, band_map, events, time.perf_counter() - t0)


def table_rows(result: CompareResult) -> list[list[str]]:
    """The headline table: median [p10 .. p90] per scenario, B - A and change %."""
    from experiments.summary import format_headline

    la, lb = result.labels
    rows = []
    for key, r in result.table.iterrows():
        cells = [str(r["headline"])]
        for lab in (la, lb):
            cells.append(f"{format_headline(key, r[f'{lab} median'])} "
                         f"[{format_headline(key, r[f'{lab} p10'])} .. "
                         f"{format_headline(key, r[f'{lab} p90'])}]")
        diff = r["difference"]
        sign = "+" if diff > 0 else "−" if diff < 0 else ""
        cells.append("n/a" if math.isnan(diff) else sign + format_headline(key, abs(diff)))
        pct = r["change %"]
        cells.append("n/a" if math.isnan(pct) else f"{pct:+.1f}%")
        rows.append(cells)
    return rows


def band_specs(result: CompareResult) -> list[dict[str, Any]]:
    return [vega.band_chart(result.bands, title, ylabel, fields, events=result.events)
            for title, ylabel, fields, _ in MARKET_CHARTS]


@solara.component
def ComparePanel():
    names = presets()
    a = solara.use_reactive(names[0])
    b = solara.use_reactive(names[1] if len(names) > 1 else names[0])
    n_seeds = solara.use_reactive(3)

    def job(sa: str, sb: str, n: int) -> CompareResult:
        def progress(done: int, total: int) -> None:
            task.progress = 100.0 * done / max(total, 1)

        return run_comparison(sa, sb, n, on_progress=progress,
                              should_stop=lambda: not task.is_current())

    task = solara.lab.use_task(job, dependencies=None, raise_error=False)

    with solara.Card("Compare two scenarios"):
        html.HTML(html.para(
            "Runs both scenarios to the end for the same seeds (0, 1, …) in background processes, "
            "then shows each scenario's median (line) and 10–90% range across seeds (band)."))
        with solara.Row(style={"align-items": "center", "flex-wrap": "wrap"}):
            solara.Select("Scenario A", values=names, value=a, style={"min-width": "220px"})
            solara.Select("Scenario B", values=names, value=b, style={"min-width": "220px"})
            solara.SliderInt(f"Seeds per scenario: {n_seeds.value}", value=n_seeds, min=2,
                             max=MAX_SEEDS)
        with solara.Row():
            solara.Button("Run comparison", color="primary", disabled=task.pending,
                          on_click=lambda: task(a.value, b.value, n_seeds.value))
            solara.Button("Cancel", disabled=not task.pending, on_click=task.cancel)
        if task.pending:
            pct = task.progress
            solara.ProgressLinear(pct if pct is not None else True)
            runs = 2 * n_seeds.value
            done = round((pct or 0) / 100 * runs)
            solara.Text(f"Running… {done} of {runs} runs done")
        elif task.error:
            solara.Error(f"The comparison failed: {task.exception}")
        elif task.cancelled:
            solara.Warning("Comparison cancelled.")

    result = task.value if task.finished else None
    if result is None:
        return
    if result.error:
        solara.Error(f"The comparison failed: {result.error}")
        return
    if result.cancelled:
        return
    la, lb = result.labels
    with solara.Card(f"{la} (A) vs {lb} (B), {len(result.seeds)} seeds each "
                     f"({result.seconds:.0f} s)"):
        html.HTML(html.table(["headline", f"{la} (A)", f"{lb} (B)", "B − A", "change"],
                             table_rows(result), right=(3, 4)))
    with solara.ColumnsResponsive(12, large=6, xlarge=6):
        for spec in band_specs(result):
            with solara.Card(margin=0, style={"padding": "6px"}):
                solara.widgets.VegaLite.element(spec=spec)
