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
from typing import Any, Callable, Mapping

import pandas as pd
import solara
import solara.lab
import solara.widgets

from viz import html, vega
from viz.components import MARKET_CHARTS, EventsKey
from viz.levers import LEVER_BY_NAME, format_value, preset_values, presets, refusal

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


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a preset, or a preset with the levers as the user set them."""

    scenario: str
    overrides: tuple[tuple[str, Any], ...] = ()
    label: str = ""  # in legends and the table; the scenario's name if empty


MINE = "my current levers"


def my_levers(preset: str, values: Mapping[str, Any]) -> Side:
    """The preset with every lever the user moved away from it (from the start of the run)."""
    base = preset_values(preset)
    moved = tuple((k, v) for k, v in values.items() if k in base and v != base[k])
    return Side(preset, moved, MINE)


def describe(side: Side) -> str:
    """"baseline with Funding climate 2.0×, …" (or just the preset)."""
    if not side.overrides:
        return f"{side.scenario} (no lever moved)"
    moved = ", ".join(f"{LEVER_BY_NAME[k].label.removesuffix(' ×')} "
                      f"{format_value(LEVER_BY_NAME[k], v)}" for k, v in side.overrides)
    return f"{side.scenario} with {moved}"


def _side(x: str | Side) -> Side:
    return x if isinstance(x, Side) else Side(x)


def run_comparison(a: str | Side, b: str | Side, n_seeds: int, *, workers: int | None = None,
                   on_progress: Callable[[int, int], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> CompareResult:
    """Run ``a`` and ``b`` (preset names, or :class:`Side` with lever values) for seeds 0..n-1
    (each run a job in a process pool) and summarise.

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
    sa, sb = _side(a), _side(b)
    try:
        labels = labels_for(sa.scenario, sb.scenario)
        for side in (sa, sb):
            problem = refusal(side.scenario, dict(side.overrides))
            if problem is not None:
                raise ValueError(problem.reason)
    except Exception as err:  # an unknown scenario or refused levers: say so on the page
        return CompareResult(("A", "B"), seeds, empty, {}, [], 0.0, error=str(err))
    if sa.label or sb.label:  # names alike are no longer ambiguous: drop labels_for's A:/B:
        plain = [lab.split(": ", 1)[1] if lab[:3] in ("A: ", "B: ") else lab for lab in labels]
        labels = (sa.label or plain[0], sb.label or plain[1])
    if labels[0] == labels[1]:
        labels = (f"A: {labels[0]}", f"B: {labels[1]}")
    runs = [(side.scenario, s, dict(side.overrides) or None) for side in (sa, sb) for s in seeds]
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
    events = merge_events({lab: scenario_events(side.scenario, dict(side.overrides))
                           for lab, side in zip(labels, (sa, sb))})
    notes = [f"{lab}: {describe(side)}" for lab, side in zip(labels, (sa, sb)) if side.label]
    return CompareResult(labels, seeds, table, band_map, events, time.perf_counter() - t0,
                         notes=notes)


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
def ComparePanel(preset: str | None = None, values: Mapping[str, Any] | None = None):
    """Two scenarios side by side; with ``preset`` and ``values`` (the sidebar's), "my current
    levers" is one of the choices: the preset with the levers as set, from the start of the run."""
    names = presets()
    mine = my_levers(preset, values) if preset is not None and values is not None else None
    choices = ([MINE] if mine is not None else []) + names
    a = solara.use_reactive(choices[0])
    b = solara.use_reactive(names[0] if mine is not None else
                            (names[1] if len(names) > 1 else names[0]))
    n_seeds = solara.use_reactive(3)

    def side(choice: str) -> str | Side:
        return mine if choice == MINE and mine is not None else choice

    def job(sa: str | Side, sb: str | Side, n: int) -> CompareResult:
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
            solara.Select("Scenario A", values=choices, value=a, style={"min-width": "220px"})
            solara.Select("Scenario B", values=choices, value=b, style={"min-width": "220px"})
            solara.SliderInt(f"Seeds per scenario: {n_seeds.value}", value=n_seeds, min=2,
                             max=MAX_SEEDS)
        if mine is not None and MINE in (a.value, b.value):
            html.HTML(html.para(f"{MINE.capitalize()}: {describe(mine)}; applied from the start "
                                "of the run (a live lever moved mid-run counts from week 0 here)."
                                , small=True))
        with solara.Row():
            solara.Button("Run comparison", color="primary", disabled=task.pending,
                          on_click=lambda: task(side(a.value), side(b.value), n_seeds.value))
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
        if result.notes:
            html.HTML(html.para("; ".join(result.notes), small=True))
        html.HTML(html.table(["headline", f"{la} (A)", f"{lb} (B)", "B − A", "change"],
                             table_rows(result), right=(3, 4)))
    EventsKey(result.events)
    # one chart a row below full-HD width, as on the Market tab: legends and ticks need the room
    with solara.ColumnsResponsive(12, xlarge=6):
        for spec in band_specs(result):
            with solara.Card(margin=0, style={"padding": "6px"}):
                solara.widgets.VegaLite.element(spec=spec)
