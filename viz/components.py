"""Solara components of the app, each given the live model.

Every component that shows model state reads ``update_counter`` (the run controls of viz.controls
bump it after each step), so it redraws as the model runs, and reads the model through
``viz.controls.snapshot`` (whole weeks only, taken under the model's lock).
"""

from __future__ import annotations

import weakref
from typing import Any, Callable

import pandas as pd
import solara
import solara.widgets
from mesa.visualization.utils import update_counter

from viz import explain as explain_mod
from viz import html, regions, vega
from viz.controls import model_lock, snapshot

#: The market charts: (title, y label, {column: legend label}, stacked)
MARKET_CHARTS: tuple[tuple[str, str, dict[str, str], bool], ...] = (
    ("Price of an H100 hour by tier", "USD per GPU-hour", {
        "spot_price": "spot", "ondemand_price": "on-demand", "reserved_price": "reserved",
        "small_cluster_price": "small cluster (≤4 nodes)",
        "large_cluster_price": "large cluster (≥16 nodes)"}, False),
    ("Lead time for new H100 servers", "weeks", {"lead_time_weeks": "lead time"}, False),
    ("GPU-hours by use", "GPU-hours per week", {
        "gpu_hours_training": "training", "gpu_hours_finetune": "fine-tuning",
        "gpu_hours_inference": "inference"}, True),
    ("Teams training from scratch vs fine-tuning", "teams", {
        "teams_training": "training", "teams_finetuning": "fine-tuning"}, False),
    ("H100 card price", "USD per card", {
        "card_price_new": "new (vendor list)", "card_price_secondary": "secondary market",
        "grey_card_price": "grey market (China)"}, False),
    ("Smuggled and seized cards", "cards per week", {
        "smuggled_cards": "smuggled", "seized_cards": "seized"}, False),
)

def series_of(model) -> pd.DataFrame:
    """The model's series as of its last whole week (a consistent snapshot, see viz.controls)."""
    return snapshot(model).series


#: each model's chart data converted so far, by chart: a week's row never changes once recorded,
#: so a redraw converts only the weeks added since the last one
_chart_rows: "weakref.WeakKeyDictionary[Any, dict[Any, list]]" = weakref.WeakKeyDictionary()


def chart_records(model, fields: dict[str, str], series: pd.DataFrame) -> list[dict[str, Any]]:
    """``vega.wide_records(series, fields)`` for the model's series, converting only new weeks.

    A new list each call (a spec that shares its data with the previous one would compare equal
    to it, and the widget would not send it)."""
    with model_lock(model):
        rows = _chart_rows.setdefault(model, {})
        key = tuple(fields.items())
        done = rows.get(key, [])
        if len(done) > len(series):  # cannot happen for one model; start afresh if it does
            done = []
        if len(done) < len(series):
            done = done + vega.wide_records(series, fields, start=len(done))
            rows[key] = done
        return list(done)


def market_spec(model, index: int) -> dict[str, Any]:
    """The Vega-Lite spec of market chart ``index`` for the model's state now."""
    title, ylabel, fields, stacked = MARKET_CHARTS[index]
    snap = snapshot(model)
    return vega.time_chart(snap.series, title, ylabel, fields, events=list(snap.events),
                           x_domain=vega.horizon(model), stacked=stacked,
                           records=chart_records(model, fields, snap.series))


REGION_CHART = ("H100 cards held, by region", "cards")


def region_spec(model) -> dict[str, Any]:
    """Cards held by firms in the US, China and elsewhere, and brokers' grey stock (stacked)."""
    snap = snapshot(model)
    title, ylabel = REGION_CHART
    return vega.time_chart(snap.regions, title, ylabel, regions.FIELDS, events=list(snap.events),
                           x_domain=vega.horizon(model), stacked=True)


def market_specs(model) -> list[dict[str, Any]]:
    """Every chart of the Market tab, in order (the region chart last)."""
    return [market_spec(model, i) for i in range(len(MARKET_CHARTS))] + [region_spec(model)]


@solara.component
def VegaChart(make_spec: Callable[[], dict[str, Any]], key: Any):
    """A Vega-Lite chart whose spec is rebuilt when ``key`` changes.

    The widget is made once and its ``spec`` trait set directly: passed as an element prop, the
    spec (a few thousand numbers) would be walked by the renderer on every redraw of the page,
    which costs more than building it.
    """
    widget = solara.use_memo(lambda: solara.widgets.VegaLite(spec=make_spec()), [])

    def update():
        widget.spec = make_spec()

    solara.use_effect(update, [key])
    solara.Div(children=[widget])


# ---------------------------------------------------------------------------------------------
# Components
# ---------------------------------------------------------------------------------------------
HEADLINE_CSS = """
.h100-figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(135px, 1fr));
  gap: 8px; margin: 4px 0 10px 0; }
.h100-figure { border: 1px solid #ddd; border-radius: 6px; padding: 6px 10px;
  background: #fafafa; }
.h100-figure .label { font-size: 12px; color: #555; }
.h100-figure .value { font-size: 20px; font-weight: 600; white-space: nowrap; }
.h100-figure .unit { font-size: 12px; color: #555; font-weight: 400; display: block;
  margin-top: -3px; }
.h100-figure .change { font-size: 12px; color: #444; }
"""


def figures_html(figures: list[explain_mod.Figure]) -> str:
    tiles = "".join(
        f'<div class="h100-figure"><div class="label">{html.text(f.label)}</div>'
        f'<div class="value">{html.text(f.value)} <span class="unit">{html.text(f.unit)}</span>'
        f'</div><div class="change">{html.text(f.change)}</div></div>' for f in figures)
    return f'<div class="h100-figures">{tiles}</div>'


@solara.component
def Headline(model):
    """The week, the run, and the headline figures with their units and change over a year."""
    update_counter.get()
    snap = snapshot(model)
    scen = model.config.name
    seed = getattr(model, "seed_text", "")
    solara.Style(HEADLINE_CSS)
    html.HTML(f"<b>{html.text(explain_mod.headline(snap.series))}</b> · "
              f"{html.text(scen)}, seed {html.text(seed or 'random')} · week {snap.steps} of "
              f"{snap.n_steps}" + figures_html(explain_mod.headline_figures(snap.series)),
              style="font-size:15px")


@solara.component
def EventsStrip(model):
    """The events the charts mark, numbered as on the charts, coloured by kind."""
    snap = snapshot(model)
    EventsKey(list(snap.events), vega.horizon(model))


@solara.component
def EventsKey(events: list, domain: tuple | None = None):
    """Numbered events as the charts number them (all events when ``domain`` is None)."""
    evs = vega.event_records(events, domain)
    if not evs:
        return
    kinds = []
    for e in evs:
        if e["kind"] not in kinds:
            kinds.append(e["kind"])
    key = " ".join(f'<span style="color:{vega.event_color(k)}">┊ {html.text(vega.event_kind_label(k))}'
                   f"</span>" for k in kinds)
    items = "".join(
        f'<span style="white-space:nowrap;margin-right:14px;color:{vega.event_color(e["kind"])}">'
        f'<b>{e["number"]}</b> {html.text(e["label"])} '
        f'<span style="color:#666">({html.text(pd.Timestamp(e["date"]).strftime("%b %Y"))})'
        f"</span></span> " for e in evs)
    html.HTML(f'<div style="font-size:13px;line-height:1.7"><b>Events on the charts</b> '
              f'(dashed lines, numbered at the top; hover a line for its name) · {key}<br>'
              f"{items}</div>", style="margin:0 0 6px 0")


@solara.component
def MarketCharts(model):
    """Prices, lead time, GPU-hours, teams, card prices, grey market, cards by region; events
    marked."""
    update_counter.get()
    snap = snapshot(model)
    key = (id(model), snap.steps)
    EventsStrip(model)
    # one chart a row up to full-HD width, so legends and ticks have room; two from there
    with solara.ColumnsResponsive(12, xlarge=6):
        for i in range(len(MARKET_CHARTS)):
            with solara.Card(margin=0, style={"padding": "6px"}):
                VegaChart(lambda i=i: market_spec(model, i), key).key(f"market-chart-{i}")
        with solara.Card(margin=0, style={"padding": "6px"}):
            VegaChart(lambda: region_spec(model), key).key("region-chart")


@solara.component
def ExplainPanel(model):
    """What is happening now and why, in sentences computed from the series."""
    update_counter.get()
    snap = snapshot(model)
    df = snap.series
    sentences = explain_mod.explain(df, list(snap.events))
    with solara.Card("What is happening, and why"):
        html.HTML(f"<b>{html.text(explain_mod.headline(df))}</b>" + html.bullets(sentences)
                  + html.para("Read from the model's weekly series: each line compares this week "
                              "with a quarter or half a year ago and names the change that moved "
                              "most; events are the scenario's policy rules, launches and "
                              "open-weight model releases.", small=True, muted=True),
                  style="font-size:15px")
