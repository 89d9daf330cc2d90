"""Guided tours of the app for the teaching lessons (docs/teaching/).

A tour is a list of *stops* read from ``docs/teaching/tours.toml``: each stop has a date, a title,
an explanation and the chart (or app tab) to look at. While the model runs, the tour shows the
stop for the model's current date, and a button plays the model on to the next stop.

API (everything but ``GuidedTour`` is a pure function, testable without a browser)::

    from viz.tour import GuidedTour, load_tours, get_lesson, current_stop, next_stop, run_to

    load_tours(path=None) -> dict[str, Lesson]     # all lessons of the TOML file, by key
    get_lesson("lesson1") -> Lesson                 # a Lesson is also accepted (returned as is)
    current_stop(lesson, date) -> Stop | None       # last stop with stop.date <= date
    next_stop(lesson, date) -> Stop | None          # first stop with stop.date > date
    run_to(model, date) -> int                      # step until model.date >= date (or the model
                                                    # stops running); returns the steps taken

    GuidedTour(model, lesson="lesson1")             # solara component; ``model`` is the model or
                                                    # a reactive holding it (solara.Reactive or
                                                    # anything with ``.value``)

``Lesson``: key, title, preset (the app preset the tour is written for), stops (date order).
``Stop``: date (datetime.date), title, text, chart (a market-chart title of
``viz.components.MARKET_CHARTS`` or an app tab name, see ``CHART_NAMES``).

Wiring into viz/app.py (for the lead), e.g. as another tab::

    with solara.lab.Tab("Guided tour"):
        GuidedTour(model, lesson="lesson1")

``lesson`` may be a key or ``None``: then the component shows a selector of all lessons. The
component reads Mesa's ``update_counter`` so it follows the running model, and after "Play to
next stop" it bumps the counter (``viz.controls.use_redraw``) so the app's charts redraw. Playing runs the model
synchronously in the click handler (a few seconds for a year of weeks).
"""

from __future__ import annotations

import datetime as dt
import tomllib

from model.timeline import as_date
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

ROOT = Path(__file__).resolve().parents[1]
TOURS_FILE = ROOT / "docs" / "teaching" / "tours.toml"

#: Tabs of the app a stop may point at besides the market charts.
APP_TABS = ("Market", "Explain", "Who trades with whom", "Compare")


@dataclass(frozen=True)
class Stop:
    date: dt.date
    title: str
    text: str
    chart: str


@dataclass(frozen=True)
class Lesson:
    key: str
    title: str
    preset: str
    stops: tuple[Stop, ...]


def chart_names() -> tuple[str, ...]:
    """Names a stop's ``chart`` may take: the app's market-chart titles and its tab names."""
    from viz.components import MARKET_CHARTS

    return tuple(c[0] for c in MARKET_CHARTS) + APP_TABS


def _as_date(value: Any, where: str) -> dt.date:
    parsed = as_date(value)
    if parsed is None:
        raise ValueError(f"{where}: date {value!r} is not a date (write it as 2023-04-03)")
    return parsed


def parse_tours(data: Mapping[str, Any]) -> dict[str, Lesson]:
    """Lessons from parsed TOML: ``[lesson1] title, preset, [[lesson1.stops]] date, title, text,
    chart``. Raises ValueError on a missing field or stops out of date order."""
    out: dict[str, Lesson] = {}
    for key, body in data.items():
        if not isinstance(body, Mapping):
            raise ValueError(f"tours: [{key}] must be a table")
        for field in ("title", "preset", "stops"):
            if field not in body:
                raise ValueError(f"tours: [{key}] has no {field!r}")
        stops = []
        for i, row in enumerate(body["stops"]):
            where = f"tours: {key} stop {i + 1}"
            missing = [f for f in ("date", "title", "text", "chart") if f not in row]
            if missing:
                raise ValueError(f"{where} lacks {', '.join(missing)}")
            stops.append(Stop(_as_date(row["date"], where), str(row["title"]),
                              " ".join(str(row["text"]).split()), str(row["chart"])))
        if not stops:
            raise ValueError(f"tours: [{key}] has no stops")
        for a, b in zip(stops, stops[1:]):
            if not a.date < b.date:
                raise ValueError(f"tours: [{key}] stops out of date order: {a.date} then {b.date}")
        out[key] = Lesson(key, str(body["title"]), str(body["preset"]), tuple(stops))
    return out


def load_tours(path: str | Path | None = None) -> dict[str, Lesson]:
    """All lessons of the tours TOML file (default: docs/teaching/tours.toml)."""
    with open(path or TOURS_FILE, "rb") as fh:
        return parse_tours(tomllib.load(fh))


def get_lesson(lesson: str | Lesson, path: str | Path | None = None) -> Lesson:
    if isinstance(lesson, Lesson):
        return lesson
    tours = load_tours(path)
    if lesson not in tours:
        raise KeyError(f"no tour {lesson!r}; tours: {', '.join(tours)}")
    return tours[lesson]


def _date_of(when: Any) -> dt.date:
    if hasattr(when, "date") and not isinstance(when, dt.date) and callable(when.date):
        return when.date()  # pandas Timestamp
    if isinstance(when, dt.datetime):
        return when.date()
    return _as_date(when, "date")


def current_stop(lesson: str | Lesson, date: Any) -> Stop | None:
    """The last stop on or before ``date`` (None before the first stop)."""
    d = _date_of(date)
    found = None
    for stop in get_lesson(lesson).stops:
        if stop.date <= d:
            found = stop
    return found


def next_stop(lesson: str | Lesson, date: Any) -> Stop | None:
    """The first stop after ``date`` (None after the last stop)."""
    d = _date_of(date)
    for stop in get_lesson(lesson).stops:
        if stop.date > d:
            return stop
    return None


def run_to(model, date: Any, max_steps: int | None = None) -> int:
    """Step ``model`` until ``model.date >= date`` or it stops running; return the steps taken.

    ``max_steps`` caps the number of steps (None: no cap beyond the model's horizon).
    """
    target = _date_of(date)
    taken = 0
    while model.running and model.date < target:
        if max_steps is not None and taken >= max_steps:
            break
        model.step()
        taken += 1
    return taken


def _resolve(model_or_ref):
    """The model itself, from the model or a reactive holding it."""
    if hasattr(model_or_ref, "step") and hasattr(model_or_ref, "date"):
        return model_or_ref
    return getattr(model_or_ref, "value", model_or_ref)


def stop_html(stop: Stop, lesson: Lesson, now: dt.date) -> str:
    from viz import html

    n = lesson.stops.index(stop) + 1
    return (f"<b>Stop {n} of {len(lesson.stops)} · {html.text(stop.date.isoformat())} · "
            f"{html.text(stop.title)}</b>"
            + html.para(stop.text)
            + f'<p style="font-size:12px">Look at: <b>{html.text(stop.chart)}</b> '
              f"(model date {html.text(str(now))})</p>")


try:  # the component needs solara; the pure functions above do not
    import solara
except ImportError:  # pragma: no cover
    solara = None

if solara is not None:

    @solara.component
    def GuidedTour(model, lesson: str | None = "lesson1"):
        """The current stop of a lesson's tour and a "Play to next stop" button."""
        from mesa.visualization.utils import update_counter

        from viz import html
        from viz.controls import use_redraw

        update_counter.get()
        m = _resolve(model)
        tours = solara.use_memo(load_tours, [])
        chosen = solara.use_reactive(lesson if lesson in tours else next(iter(tours)))
        busy = solara.use_reactive(False)
        redraw = use_redraw()
        les = tours[chosen.value]
        now = m.date
        stop = current_stop(les, now)
        upcoming = next_stop(les, now)

        def play() -> None:
            if upcoming is None:
                return
            from viz.controls import model_lock

            busy.set(True)
            try:
                with model_lock(m):  # the charts read whole weeks only
                    run_to(m, upcoming.date)
            finally:
                busy.set(False)
            redraw()

        with solara.Card(f"Guided tour: {les.title}"):
            if lesson is None:
                solara.Select("Lesson", values=list(tours), value=chosen)
            if m.config.name != les.preset:
                html.HTML(html.para(f"This tour is written for preset {les.preset}; the app "
                                    f"runs {m.config.name}.", small=True, muted=True))
            if stop is None:
                first = les.stops[0]
                html.HTML(html.para(f"The tour starts on {first.date}: {first.title}. Press "
                                    "the button to play the model there."))
            else:
                html.HTML(stop_html(stop, les, now))
            if upcoming is not None:
                solara.Button(f"Play to next stop: {upcoming.title} ({upcoming.date})",
                              on_click=play, disabled=busy.value or not m.running)
            else:
                solara.Text("Last stop reached.")
