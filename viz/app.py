"""The h100sim browser app: `h100sim app` (or `solara run viz/app.py`).

This file only composes components. The model is built per browser session inside ``Page`` (a
model built at module level would be shared by every tab), and SolaraViz drives it: its sidebar
has the Step / ▶ / Reset controls and the lever sliders, and Reset rebuilds the model as
``AppMarket(**params)``. Lever values the model refuses do not reach it: a Reset with them keeps
the running model and the page says why (``use_reset_guard``, ``LeverRefusalNote``).
"""

from __future__ import annotations

import solara
import solara.lab
from mesa.visualization import SolaraViz

from model import release_model
from viz.compare_panel import ComparePanel
from viz.components import (ExplainPanel, Headline, LeverRefusalNote, LiveLeversSidebar,
                             MarketCharts, PresetCard, use_reset_guard)
from viz.levers import DEFAULT_PRESET, build_model, model_params
from viz.network import TradeNetwork
from viz.tour import GuidedTour

TITLE = "h100sim: the H100 compute market"
PLAY_INTERVAL_MS = 50
RENDER_INTERVAL = 1  # odd: the slider (min 1, step 2) snaps even values up


@solara.component
def Page():
    preset = solara.use_reactive(DEFAULT_PRESET)
    first = solara.use_memo(lambda: build_model(DEFAULT_PRESET), [])
    model = solara.use_reactive(first)
    guard, refused = use_reset_guard(model)
    params = solara.use_memo(lambda: model_params(preset.value, guard=guard), [preset.value])

    # Mesa keeps every model alive through Agent._ids; drop a model once it is replaced
    # (Reset, a new preset) or the session ends.
    current = model.value
    solara.use_effect(lambda: (lambda: release_model(current)), [current])

    def choose_preset(name: str) -> None:
        if name == preset.value:
            return
        model.set(build_model(name))
        preset.set(name)

    with solara.Sidebar():
        PresetCard(preset.value, choose_preset, model.value)

    # Keyed by preset: a new preset remounts SolaraViz so its sliders start at the preset.
    SolaraViz(model, components=[], model_params=params, name=TITLE,
              play_interval=PLAY_INTERVAL_MS, render_interval=RENDER_INTERVAL,
              ).key(f"viz-{preset.value}")

    LiveLeversSidebar(model.value)

    LeverRefusalNote(refused)
    Headline(model.value)
    with solara.lab.Tabs(lazy=True):
        with solara.lab.Tab("Market"):
            MarketCharts(model.value)
        with solara.lab.Tab("Explain"):
            ExplainPanel(model.value)
        with solara.lab.Tab("Who trades with whom"):
            TradeNetwork(model.value)
        with solara.lab.Tab("Compare"):
            ComparePanel()
        with solara.lab.Tab("Guided tour"):
            GuidedTour(model, lesson=None)
