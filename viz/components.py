"""Solara components of the app, each given the live model.

Every component that shows model state reads ``update_counter`` (Mesa's SolaraViz bumps it after
each step or Reset), so it redraws as the model runs.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable

import pandas as pd
import solara
import solara.widgets
from mesa.visualization.utils import force_update, update_counter

from model import InputError
from viz import explain as explain_mod
from viz import html
from viz import vega
from viz.levers import (LEVERS, LIVE_LEVERS, Lever, LeverRefusal, ResetGuard, live_label,
                        presets)

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

# ---------------------------------------------------------------------------------------------
# Model data, computed once per step however many components read it
# ---------------------------------------------------------------------------------------------
_series_cache: "weakref.WeakKeyDictionary[Any, tuple[int, pd.DataFrame]]" = \
    weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def series_of(model) -> pd.DataFrame:
    """``model.series()``, cached until the model takes another step."""
    with _cache_lock:
        hit = _series_cache.get(model)
        if hit is not None and hit[0] == model.steps:
            return hit[1]
    df = model.series()
    with _cache_lock:
        _series_cache[model] = (model.steps, df)
    return df


def market_spec(model, index: int) -> dict[str, Any]:
    """The Vega-Lite spec of market chart ``index`` for the model's state now."""
    title, ylabel, fields, stacked = MARKET_CHARTS[index]
    return vega.time_chart(series_of(model), title, ylabel, fields, events=list(model.events),
                           x_domain=vega.horizon(model), stacked=stacked)


def market_specs(model) -> list[dict[str, Any]]:
    return [market_spec(model, i) for i in range(len(MARKET_CHARTS))]


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
@solara.component
def Headline(model):
    """Date and the main prices, one line."""
    update_counter.get()
    df = series_of(model)
    text = explain_mod.headline(df)
    scen = model.config.name
    html.HTML(f"<b>{html.text(scen)}</b> · {html.text(text)} · step {model.steps} of "
              f"{model.n_steps}", style="font-size:15px")


@solara.component
def MarketCharts(model):
    """Prices, lead time, GPU-hours, teams, card prices, grey market; events marked."""
    update_counter.get()
    key = (id(model), model.steps)
    with solara.ColumnsResponsive(12, large=6, xlarge=6):
        for i in range(len(MARKET_CHARTS)):
            with solara.Card(margin=0, style={"padding": "6px"}):
                VegaChart(lambda i=i: market_spec(model, i), key).key(f"market-chart-{i}")


@solara.component
def ExplainPanel(model):
    """What is happening now and why, in sentences computed from the series."""
    update_counter.get()
    df = series_of(model)
    sentences = explain_mod.explain(df, list(model.events))
    with solara.Card("What is happening, and why"):
        html.HTML(f"<b>{html.text(explain_mod.headline(df))}</b>" + html.bullets(sentences)
                  + html.para("Read from the model's weekly series: each line compares this week "
                              "with a quarter or half a year ago and names the change that moved "
                              "most; events are the scenario's policy rules, launches and "
                              "open-weight model releases.", small=True, muted=True),
                  style="font-size:15px")


@solara.component
def PresetCard(preset: str, on_preset: Callable[[str], None], model):
    """The scenario preset; choosing one rebuilds the model and resets the sliders to it."""
    with solara.Card("Scenario preset"):
        solara.Select("Preset", values=presets(), value=preset, on_value=on_preset)
        html.HTML(html.para("Choosing a preset starts it afresh and sets the sliders below to "
                            "its values. Move sliders, then press Reset to run with them.",
                            small=True))
        seed = getattr(model, "seed_text", "")
        solara.Text(f"Running: {model.config.name}, seed {seed or 'random'}")


def _live_value(model, lever: Lever):
    getter = getattr(model, "get_lever", None)
    if callable(getter):
        return getter(lever.name)
    return model.config.get(lever.dotted)


# ---------------------------------------------------------------------------------------------
# Refused lever values
# ---------------------------------------------------------------------------------------------
RESET_REFUSED = ("Reset refused: the model does not accept these lever values together. "
                 "The model that was running is kept as it was.")
LIVE_REFUSED = "Not changed: the running model refused this value and keeps its own."


def use_reset_guard(model: solara.Reactive) -> tuple[ResetGuard, LeverRefusal | None]:
    """A ResetGuard for this session's model (see viz.levers), and the refusal to show now.

    The refusal stays until the model changes (a Reset that succeeds, or a new preset).
    """
    refused = solara.use_reactive(None)
    guard = solara.use_memo(lambda: ResetGuard(lambda: model.value, refused.set), [])
    solara.use_effect(lambda: refused.set(None), [model.value])
    return guard, refused.value


@solara.component
def LeverRefusalNote(refusal: LeverRefusal | None, title: str = RESET_REFUSED):
    """Why lever values were refused: the model's reason (keys, values, what to change) and the
    levers it concerns with the values tried. Nothing when there is no refusal."""
    if refusal is None:
        return solara.Div()
    lines = refusal.lever_lines()
    body = html.para(refusal.reason)
    if lines:
        body += html.para("Levers involved:") + html.bullets(lines)
    return solara.Error(label=title, children=[html.HTML(body, style="font-size:14px")])


@solara.component
def LiveLevers(model):
    """Levers that act on the running model at once (no Reset): they call ``model.set_lever``.

    A value the model refuses (InputError) is not applied: the card says why, and its controls go
    back to the model's values (they are keyed by the number of refusals, so they are rebuilt).
    """
    refused = solara.use_reactive(None)
    refusals = solara.use_reactive(0)
    solara.use_effect(lambda: refused.set(None), [model])
    with solara.Card("Change while running"):
        if not callable(getattr(model, "set_lever", None)):
            html.HTML(html.para(
                f"This model version cannot change levers while it runs "
                f"({type(model).__name__}.set_lever is missing); use the sliders above and "
                "press Reset.", small=True))
            return
        html.HTML(html.para("These act on the running model from the next week on.",
                            small=True))
        for lever in LIVE_LEVERS:
            value = _live_value(model, lever)

            def on_value(v, lever=lever):
                try:
                    model.set_lever(lever.name, v)
                except InputError as err:
                    tried = {lv.name: _live_value(model, lv) for lv in LEVERS}
                    refused.set(LeverRefusal.of(err, {**tried, lever.name: v}))
                    refusals.set(refusals.value + 1)
                    return
                refused.set(None)
                force_update()

            key = f"live-{lever.name}-{refusals.value}"
            if lever.kind == "bool":
                solara.Switch(label=live_label(lever), value=bool(value),
                              on_value=on_value).key(key)
            else:
                solara.SliderFloat(live_label(lever), value=float(value), on_value=on_value,
                                   min=min(lever.lo, float(value)),
                                   max=max(lever.hi, float(value)), step=lever.step).key(key)
        LeverRefusalNote(refused.value, LIVE_REFUSED)


@solara.component
def _SidebarLast(model):
    with solara.Sidebar():
        LiveLevers(model)


@solara.component
def LiveLeversSidebar(model):
    """LiveLevers at the bottom of the sidebar, under SolaraViz's cards.

    The sidebar orders what it collects by how deep in the component tree it was added; SolaraViz
    adds its cards one level below the page, so this adds two levels below.
    """
    _SidebarLast(model)
