"""The app's own run controls and lever panel (instead of Mesa's generic SolaraViz sidebar).

Why not SolaraViz: its play loop steps the model in one thread while the charts read the model's
series in another (a chart could see a half-appended series), it runs many weeks ahead of what the
browser shows (Pause overshot by 14-26 weeks), its sidebar order changed with the preset and it
showed controls a lecturer has no use for (play and render intervals, threads).

Here:

* every read of the model's state goes through :func:`snapshot`, taken under the model's lock
  (:func:`model_lock`), and every step holds the same lock, so nobody sees a week half-recorded;
* the play loop steps one week, redraws, and waits until the browser has received that week
  (:class:`BrowserAck`: the browser echoes a counter back) before the next, so the browser is never
  more than one week behind the model and Pause stops within one week of the week on screen;
* one control per lever: live levers act on the running model from next week and are kept for
  Reset; the others apply on Reset. Labels sit above the track and every slider shows its value
  and unit.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable

import ipyvue
import pandas as pd
import reacton.core
import solara
import solara.lab
import traitlets
from mesa.visualization.utils import force_update as _bump_counter
from mesa.visualization.utils import update_counter

from model import InputError
from viz import html, regions
from viz.levers import (DEFAULT_SEED, LEVERS, SEED_ERROR, Lever, LeverRefusal, format_value, parse_seed,
                        presets)

#: pause after each week while playing, once the browser has it (seconds): about 5 weeks a second
PLAY_PAUSE_S = 0.12
#: how long the play loop waits for the browser to confirm a week before it goes on anyway
ACK_TIMEOUT_S = 5.0

# ---------------------------------------------------------------------------------------------
# One lock per model, and consistent snapshots of its state
# ---------------------------------------------------------------------------------------------
_locks: "weakref.WeakKeyDictionary[Any, threading.RLock]" = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def model_lock(model) -> threading.RLock:
    """The lock that every step of ``model`` and every read of its state holds."""
    with _locks_guard:
        lock = _locks.get(model)
        if lock is None:
            lock = _locks[model] = threading.RLock()
        return lock


@dataclass(frozen=True)
class Snapshot:
    """The model's state after a whole week: what every component draws from."""

    steps: int
    n_steps: int
    date: dt.date
    running: bool
    series: pd.DataFrame
    events: tuple
    regions: pd.DataFrame  # cards held by region, every few weeks (viz.regions)


_snapshots: "weakref.WeakKeyDictionary[Any, Snapshot]" = weakref.WeakKeyDictionary()


def snapshot(model) -> Snapshot:
    """The model's state now, read under its lock; cached until the model takes another step."""
    with model_lock(model):
        hit = _snapshots.get(model)
        if hit is not None and hit.steps == model.steps:
            return hit
        regions.collect(model)
        snap = Snapshot(model.steps, model.n_steps, model.date, bool(model.running),
                        model.series(), tuple(model.events), regions.region_frame(model))
        _snapshots[model] = snap
        return snap


def step_model(model, weeks: int = 1) -> None:
    """Step ``model`` by up to ``weeks`` weeks, holding its lock."""
    with model_lock(model):
        for _ in range(weeks):
            if not model.running:
                break
            model.step()


def use_redraw() -> Callable[[], None]:
    """A function that redraws everything showing the model after a step, in one render pass.

    Every component that shows model state subscribes to Mesa's ``update_counter``; bumping it
    calls each subscriber in turn, and each would start a render pass of its own (three a step).
    Inside the session's render context, taken as a batch, they make one pass."""
    rc = reacton.core.get_render_context(required=False)

    def redraw() -> None:
        if rc is None:
            _bump_counter()
            return
        with rc:
            _bump_counter()

    return redraw


# ---------------------------------------------------------------------------------------------
# The browser's acknowledgement of a redraw
# ---------------------------------------------------------------------------------------------
class BrowserAck(ipyvue.VueTemplate):
    """An invisible widget: Python raises ``tick``, the browser copies it into ``ack``.

    The browser handles a session's widget messages in order, so when ``ack`` reaches a tick, the
    browser has received every redraw sent before it.
    """

    template = traitlets.Unicode("""
<template><span style="display:none" class="h100-ack">{{ ack }}</span></template>
<script>
module.exports = { watch: { tick(value) { this.ack = value; } } };
</script>""").tag(sync=True)
    tick = traitlets.Int(0).tag(sync=True)
    ack = traitlets.Int(0).tag(sync=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._event = threading.Event()
        self.observe(lambda _: self._event.set(), "ack")

    def round_trip(self, timeout: float = ACK_TIMEOUT_S) -> bool:
        """Send a new tick and wait until the browser echoes it (False on timeout)."""
        self._event.clear()
        target = self.tick + 1
        self.tick = target
        deadline = time.monotonic() + timeout
        while self.ack < target:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._event.wait(min(left, 0.25))
            self._event.clear()
        return True


# ---------------------------------------------------------------------------------------------
# Run controls: Reset, play / pause, Step, run to a date
# ---------------------------------------------------------------------------------------------
def run_dates(start: dt.date, end: dt.date) -> list[dt.date]:
    """Dates offered by "Run to": the first of every quarter inside the run, and its end."""
    out = []
    y, m = start.year, ((start.month - 1) // 3) * 3 + 1
    while True:
        m += 3
        if m > 12:
            y, m = y + 1, m - 12
        d = dt.date(y, m, 1)
        if d >= end:
            break
        out.append(d)
    out.append(end)
    return out


def date_label(d: dt.date) -> str:
    return f"{d.day} {d:%B %Y}"


@solara.component
def RunControls(model: solara.Reactive, on_reset: Callable[[], None]):
    """Reset, ▶ / ❚❚, Step, the week shown, and "Run to" a chosen date."""
    update_counter.get()
    playing = solara.use_reactive(False)
    target = solara.use_reactive(None)  # a date "Run to" stops at, or None
    generation = solara.use_ref(0)  # each start of play gets a number; an older loop stops
    ack = solara.use_memo(BrowserAck, [])
    redraw = use_redraw()
    m = model.value
    snap = snapshot(m)
    start, end = m.config.run.start, m.config.run.end
    choices = run_dates(start, end)
    chosen = solara.use_reactive(date_label(choices[min(6, len(choices) - 1)]))

    def loop():
        me = generation.current
        while playing.value and generation.current == me:
            mm = model.value
            with model_lock(mm):
                if not playing.value or generation.current != me or not mm.running:
                    break
                stop = target.value
                if stop is not None and mm.date >= stop:
                    break
                mm.step()
            redraw()
            ack.round_trip()
            if target.value is None:
                time.sleep(PLAY_PAUSE_S)
        if generation.current == me:
            playing.value = False
            target.value = None

    solara.lab.use_task(loop, dependencies=[playing.value], prefer_threaded=True)

    def play(until: dt.date | None = None) -> None:
        generation.current += 1
        target.value = until
        playing.value = True

    def pause() -> None:
        generation.current += 1
        playing.value = False
        target.value = None

    def step() -> None:
        step_model(model.value)
        redraw()

    def reset() -> None:
        pause()
        on_reset()

    def run_to() -> None:
        when = next(d for d in choices if date_label(d) == chosen.value)
        play(when)

    with solara.Card("Run", margin=0):
        with solara.Row(justify="space-between"):
            solara.Button("Reset", color="primary", on_click=reset)
            if playing.value:
                solara.Button("❚❚", color="primary", on_click=pause)
            else:
                solara.Button("▶", color="primary", on_click=lambda: play(None),
                              disabled=not snap.running)
            solara.Button("Step", color="primary", on_click=step,
                          disabled=playing.value or not snap.running)
        solara.Text(f"Step: {snap.steps}")
        html.HTML(html.para(f"Week of {date_label(snap.date)} · week {snap.steps} of "
                            f"{snap.n_steps}", small=True))
        with solara.Row(style={"align-items": "center"}):
            solara.Select("Run to", values=[date_label(d) for d in choices], value=chosen,
                          style={"max-width": "190px"})
            solara.Button("Go", on_click=run_to, disabled=playing.value or not snap.running)
        html.HTML(html.para("▶ plays about five weeks a second; ❚❚ stops at the week shown. "
                            "Reset starts the preset afresh with the levers below.",
                            small=True, muted=True))
        solara.Div(children=[ack])


# ---------------------------------------------------------------------------------------------
# Levers
# ---------------------------------------------------------------------------------------------
SLIDER_CSS = """
.h100-lever-box { position: relative; margin-top: 10px; }
.h100-lever-box .h100-value { position: absolute; top: 0; right: 0; font-weight: 600;
  font-size: 14px; white-space: nowrap; }
.h100-lever .v-input__slot { flex-wrap: wrap; }
.h100-lever .v-input__slot > .v-label { flex: 1 0 100%; max-width: 100%; height: auto;
  white-space: normal; line-height: 1.3; margin: 0 0 2px 0 !important; font-size: 14px;
  padding-right: 76px; }
.h100-lever.v-input--switch .v-input__slot > .v-label { flex: 1 1 auto; }
"""


@solara.component
def LeverInput(lever: Lever, value: Any, on_value: Callable[[Any], None], refusals: int = 0):
    """The slider (or switch) of a lever, alone in its component: when ``refusals`` goes up, it
    re-renders and the widget is set to ``value`` again, though ``value`` did not change (the
    browser still shows the refused value)."""
    classes = f"h100-lever h100-lever-{lever.name}"
    if lever.kind == "bool":
        solara.v.Switch(label=lever.label, v_model=bool(value), hide_details=True,
                        class_=classes + " mt-0", on_v_model=lambda v: on_value(bool(v)))
        return
    lo, hi = min(lever.lo, value), max(lever.hi, value)

    def changed(v) -> None:
        on_value(int(round(v)) if lever.kind == "int" else float(v))

    solara.v.Slider(label=lever.label, v_model=value, min=lo, max=hi, step=lever.step,
                    hide_details=True, class_=classes, on_v_model=changed)


@solara.component
def LeverControl(lever: Lever, value: Any, on_value: Callable[[Any], None], refusals: int = 0):
    """One lever: its label above a full-width track, its value and unit at the label's end.

    A bool lever is a switch, its value "on" or "off"."""
    readout = solara.v.Html(tag="span", children=[format_value(lever, value)],
                            class_="h100-value")
    solara.Div(classes=["h100-lever-box", f"h100-lever-box-{lever.name}"],
               children=[LeverInput(lever, value, on_value, refusals), readout])


RESET_REFUSED = ("Reset refused: the model does not accept these lever values together. "
                 "The model that was running is kept as it was.")
LIVE_REFUSED = "Not changed: the running model refused this value and keeps its own."


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
def LeversCard(model, values: dict[str, Any], on_values: Callable[[dict[str, Any]], None]):
    """Every lever once. Live levers act on the running model from next week (and are kept for
    Reset); the others wait for Reset. A live value the model refuses is not applied: the card
    says why and the control shows the model's value again."""
    refused = solara.use_reactive(None)
    refusals = solara.use_reactive(0)  # live values refused so far (the controls show the kept)
    solara.use_effect(lambda: refused.set(None), [model])
    live_ok = callable(getattr(model, "set_lever", None))

    def setter(lever: Lever):
        def on_value(v) -> None:
            if lever.live and live_ok:
                try:
                    with model_lock(model):
                        model.set_lever(lever.name, v)
                except InputError as err:
                    refused.set(LeverRefusal.of(err, {**values, lever.name: v}))
                    refusals.set(refusals.value + 1)
                    return
                refused.set(None)
            on_values({**values, lever.name: v})
        return on_value

    with solara.Card("Levers", margin=0):
        solara.Style(SLIDER_CSS)
        html.HTML("<b>Act now</b>" + html.para(
            "These change the running model from next week on (and are kept by Reset).",
            small=True, muted=True))
        for lever in LEVERS:
            if lever.live:
                LeverControl(lever, values[lever.name], setter(lever),
                             refusals=refusals.value).key(f"lever-{lever.name}")
        LeverRefusalNote(refused.value, LIVE_REFUSED)
        html.HTML("<b>Apply on Reset</b>" + html.para(
            "These shape the world the model starts from: move them, then press Reset.",
            small=True, muted=True), style="margin-top:14px")
        for lever in LEVERS:
            if not lever.live:
                LeverControl(lever, values[lever.name], setter(lever)).key(f"lever-{lever.name}")


SEED_LABEL = "Seed (a whole number)"


@solara.component
def ScenarioCard(preset: str, on_preset: Callable[[str], None], seed_text: str,
                 on_seed: Callable[[str], None], running_text: str):
    """The scenario preset and the seed."""
    with solara.Card("Scenario", margin=0):
        solara.Select("Preset", values=presets(), value=preset, on_value=on_preset)
        html.HTML(html.para("Choosing a preset starts it afresh and sets the levers to its "
                            "values.", small=True, muted=True))
        ok = parse_seed(seed_text) is not None
        solara.InputText(SEED_LABEL, value=seed_text, on_value=on_seed, continuous_update=True,
                         error=None if ok else SEED_ERROR)
        solara.Text(running_text)


def seed_or_default(text: str) -> int:
    seed = parse_seed(text)
    return DEFAULT_SEED if seed is None else seed
