"""The h100sim browser app: `h100sim app` (or `solara run viz/app.py`).

This file only composes components. The model is built per browser session inside ``Page`` (a
model built at module level would be shared by every tab). The sidebar holds, in a fixed order,
the run controls (viz.controls.RunControls: Reset, ▶ / ❚❚, Step, run to a date), the scenario
preset and seed, and one control per lever. Reset rebuilds the model from the preset, the seed and
the levers; lever values the model refuses do not reach it: the running model is kept and the page
says why (``LeverRefusalNote``).
"""

from __future__ import annotations

import solara
import solara.lab

from model import release_model
from viz.compare_panel import ComparePanel
from viz.components import ExplainPanel, Headline, MarketCharts
from viz.controls import (LeverRefusalNote, LeversCard, RunControls, ScenarioCard,
                          seed_or_default)
from viz.levers import (DEFAULT_PRESET, DEFAULT_SEED, SEED_ERROR, LeverRefusal, build_model,
                        parse_seed, preset_values, refusal)
from viz.network import TradeNetwork
from viz.tour import GuidedTour

TITLE = "h100sim: the H100 compute market"
#: the page scrolls as a whole (no inner scroll box) and the app bar scrolls with it, so print and
#: full-page screenshots show everything once; tab labels wrap instead of sliding out of view
PAGE_CSS = """
html { overflow-y: auto !important; height: auto !important; }
html body.solara-no-ssg, html body { overflow: visible !important; height: auto !important; }
.v-navigation-drawer.solara-content-main { position: absolute !important; height: auto !important;
  max-height: none !important; }
.v-navigation-drawer__content { overflow: visible !important; height: auto !important; }
div:has(> b > a[href="https://solara.dev"]) { display: none !important; }
html body div[style*="height: 100vh"] { height: auto !important; min-height: 100vh; }
html body div[style*="max-height: 100%; overflow: auto"] { height: auto !important;
  max-height: none !important; overflow: visible !important; }
@media print { .v-navigation-drawer { position: static !important; } }
header.v-app-bar { position: absolute !important; }
.v-tabs .v-slide-group__prev, .v-tabs .v-slide-group__next { display: none !important; }
.v-tabs .v-slide-group__wrapper { overflow: visible !important; }
.v-tabs .v-slide-group__content { flex-wrap: wrap; transform: none !important; }
.v-tabs .v-tabs-bar { height: auto !important; }
"""


@solara.component
def Page():
    preset = solara.use_reactive(DEFAULT_PRESET)
    first = solara.use_memo(lambda: build_model(DEFAULT_PRESET), [])
    model = solara.use_reactive(first)
    start_values = solara.use_memo(lambda: preset_values(DEFAULT_PRESET), [])
    values = solara.use_reactive(start_values)
    seed_text = solara.use_reactive(str(DEFAULT_SEED))
    refused = solara.use_reactive(None)

    # Mesa keeps every model alive through Agent._ids; drop a model once it is replaced
    # (Reset, a new preset) or the session ends.
    current = model.value
    solara.use_effect(lambda: (lambda: release_model(current)), [current])
    solara.use_effect(lambda: refused.set(None), [current])

    def choose_preset(name: str) -> None:
        if name == preset.value:
            return
        model.set(build_model(name, seed_or_default(seed_text.value)))
        values.set(preset_values(name))
        preset.set(name)

    def reset() -> None:
        seed = parse_seed(seed_text.value)
        if seed is None:
            refused.set(LeverRefusal(f"Seed {seed_text.value!r}: {SEED_ERROR}"))
            return
        problem = refusal(preset.value, values.value)
        if problem is not None:
            refused.set(problem)
            return
        model.set(build_model(preset.value, seed_text.value.strip(), **values.value))

    solara.Title(TITLE)
    solara.Style(PAGE_CSS)
    with solara.AppBar():
        solara.AppBarTitle(TITLE)
    with solara.Sidebar():
        with solara.Column(gap="12px"):
            RunControls(model, reset)
            ScenarioCard(preset.value, choose_preset, seed_text.value, seed_text.set,
                         f"Running: {model.value.config.name}, seed "
                         f"{getattr(model.value, 'seed_text', '') or 'random'}")
            LeversCard(model.value, values.value, values.set)

    LeverRefusalNote(refused.value)
    Headline(model.value)
    with solara.lab.Tabs(lazy=True):
        with solara.lab.Tab("Market"):
            MarketCharts(model.value)
        with solara.lab.Tab("Explain"):
            ExplainPanel(model.value)
        with solara.lab.Tab("Who trades with whom"):
            TradeNetwork(model.value)
        with solara.lab.Tab("Compare"):
            ComparePanel(preset.value, values.value)
        with solara.lab.Tab("Guided tour"):
            GuidedTour(model, lesson=None)
