"""The teaching materials (docs/teaching/): the lessons' notebooks run and make the figures the
lessons name, the demo scripts name only presets and levers the app has, the guided-tour file is
valid, and viz/tour.py's pure functions behave.

The notebook runs are slow (a kernel and a few model runs each) and share one xdist group, so
under `pytest -n 2 --dist loadgroup` they run one after another in one worker.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

from model import list_scenarios, load_scenario
from viz import levers, tour

ROOT = Path(__file__).resolve().parents[2]
TEACHING = ROOT / "docs" / "teaching"
NOTEBOOKS = TEACHING / "notebooks"
LESSONS = sorted(TEACHING.glob("lesson*.md"))

FIGURE_RE = re.compile(r"\b(lesson\d+_[A-Za-z0-9_]+\.png)\b")
PRESET_RE = re.compile(r"\bpresets?\s+`([^`]+)`")
LEVER_RE = re.compile(r"\blevers?\s+`([^`]+)`")
LABEL_RE = re.compile(r'\b(?:slider|live control)\s+"([^"]+)"')
# In the tours' plain text, names are written without backticks.
TOUR_PRESET_RE = re.compile(r"\bpresets?\s+`?([a-z][a-z0-9_]*)`?")
TOUR_LEVER_RE = re.compile(r"\blevers?\s+`?([a-z][a-z0-9_]*)`?")


def figures_named(md: Path) -> set[str]:
    return set(FIGURE_RE.findall(md.read_text(encoding="utf-8")))


def notebook_for(md: Path) -> Path:
    return NOTEBOOKS / f"{md.stem}.ipynb"


# ------------------------------------------------------------------------------------------------
# The lessons' text
# ------------------------------------------------------------------------------------------------
def test_four_lessons_and_an_index():
    assert [p.stem for p in LESSONS] == ["lesson1_scarcity", "lesson2_finetuning",
                                         "lesson3_export_controls", "lesson4_buy_an_h100"]
    index = (TEACHING / "README.md").read_text(encoding="utf-8")
    for md in LESSONS:
        assert md.name in index, f"README.md does not link {md.name}"
        assert notebook_for(md).name in index


@pytest.mark.parametrize("md", LESSONS, ids=lambda p: p.stem)
def test_lesson_has_its_sections(md):
    text = md.read_text(encoding="utf-8")
    for heading in ("## Learning goals", "## Live demo", "## Questions for the class",
                    "## Exercises", "*Worked answer.*"):
        assert heading in text, f"{md.name} lacks {heading!r}"
    assert notebook_for(md).exists(), f"no notebook {notebook_for(md).name}"
    assert figures_named(md), f"{md.name} names no figure"


@pytest.mark.parametrize("md", LESSONS, ids=lambda p: p.stem)
def test_demo_names_exist_in_the_app(md):
    text = md.read_text(encoding="utf-8")
    presets = set(PRESET_RE.findall(text))
    named_levers = set(LEVER_RE.findall(text))
    assert presets, f"{md.name} names no preset"
    assert named_levers, f"{md.name} names no lever"
    app_presets = set(list_scenarios())
    assert set(levers.presets()) == app_presets
    assert presets <= app_presets, f"unknown presets {presets - app_presets} in {md.name}"
    unknown = named_levers - set(levers.LEVER_BY_NAME)
    assert not unknown, f"unknown levers {unknown} in {md.name}"
    labels = {lv.label for lv in levers.LEVERS}
    for label in LABEL_RE.findall(text):
        assert label in labels, f"{md.name}: no control labelled {label!r}"


def test_demo_name_parsing_catches_typos():
    text = "Choose preset `no_open_weight` and move lever `seizure_odds` (slider \"Nope\")."
    assert PRESET_RE.findall(text) == ["no_open_weight"]
    assert LEVER_RE.findall(text) == ["seizure_odds"]
    assert "no_open_weight" not in list_scenarios()
    assert "seizure_odds" not in levers.LEVER_BY_NAME
    assert LABEL_RE.findall(text) == ["Nope"]


FACTS = ROOT / "docs" / "facts.md"
OUTSIDE_RE = re.compile(r"shared/DOMAIN|/work/|\.\./\.\./shared")
SECTION_RE = re.compile(r"§(\d+)")


def teaching_texts() -> list[Path]:
    return [*LESSONS, TEACHING / "README.md", TEACHING / "build_notebooks.py",
            TEACHING / "tours.toml", *sorted(NOTEBOOKS.glob("*.ipynb"))]


@pytest.mark.parametrize("path", teaching_texts(), ids=lambda p: p.name)
def test_teaching_material_cites_only_what_ships_with_the_repository(path):
    text = path.read_text(encoding="utf-8")
    assert not OUTSIDE_RE.search(text), f"{path.name} points outside the repository"


@pytest.mark.parametrize("md", LESSONS, ids=lambda p: p.stem)
def test_each_lesson_names_its_sources_in_docs_facts(md):
    text = md.read_text(encoding="utf-8")
    sources = text.split("## Sources", 1)
    assert len(sources) == 2, f"{md.name} has no Sources section"
    assert "(../facts.md)" in sources[1]
    facts = FACTS.read_text(encoding="utf-8")
    headings = set(re.findall(r"^## (\d+)\.", facts, flags=re.M))
    cited = set(SECTION_RE.findall(sources[1]))
    assert cited and cited <= headings, f"{md.name} cites {sorted(cited - headings)} of facts.md"


def test_the_installed_jupyter_has_lab_and_nbconvert_and_make_lab_opens_the_lessons():
    import subprocess
    import sys

    for app in ("lab", "nbconvert"):
        done = subprocess.run([sys.executable, "-m", "jupyter", app, "--version"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stdout.strip()[0].isdigit(), (app, done.stderr)
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "jupyter lab docs/teaching/notebooks/" in makefile.split("\nlab:", 1)[1]
    assert "make lab" in (TEACHING / "README.md").read_text(encoding="utf-8")


def test_generated_notebooks_are_current(tmp_path):
    """The committed notebooks are what build_notebooks.py makes (sources, not outputs)."""
    import importlib.util

    import nbformat

    spec = importlib.util.spec_from_file_location("build_notebooks", TEACHING / "build_notebooks.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    made = build.build(tmp_path)
    assert sorted(p.name for p in made) == sorted(notebook_for(md).name for md in LESSONS)
    for path in made:
        fresh = nbformat.read(path, as_version=4)
        kept = nbformat.read(NOTEBOOKS / path.name, as_version=4)
        assert [c.source for c in fresh.cells] == [c.source for c in kept.cells], (
            f"{path.name} is stale: run docs/teaching/build_notebooks.py")
        text = "\n".join(c.source for c in fresh.cells if c.cell_type == "code")
        assert "H100SIM_FIGURES" in text


# ------------------------------------------------------------------------------------------------
# The notebooks run and make the lessons' figures
# ------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.xdist_group("h100sim-teaching")
@pytest.mark.parametrize("md", LESSONS, ids=lambda p: p.stem)
def test_notebook_runs_and_makes_the_lesson_figures(md, tmp_path):
    """Each lesson's notebook runs with the installed Jupyter, as a lecturer would run it from the
    command line (`jupyter nbconvert --execute`), and makes the figures its lesson names."""
    import subprocess
    import sys

    import nbformat

    figures = tmp_path / "figures"
    env = dict(os.environ, H100SIM_FIGURES=str(figures), MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    done = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
         "--ExecutePreprocessor.timeout=300", "--ExecutePreprocessor.kernel_name=python3",
         "--output-dir", str(tmp_path), str(notebook_for(md))],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    nb = nbformat.read(tmp_path / notebook_for(md).name, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    made = {p.name for p in figures.glob("*.png")}
    missing = figures_named(md) - made
    assert not missing, f"{notebook_for(md).name} did not make {sorted(missing)}"
    for name in figures_named(md):
        data = (figures / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, name


# ------------------------------------------------------------------------------------------------
# Guided tours
# ------------------------------------------------------------------------------------------------
def test_tours_parse_in_date_order_within_the_baseline_horizon():
    tours = tour.load_tours()
    assert set(tours) == {f"lesson{i}" for i in range(1, 5)}
    run = load_scenario("baseline").run
    charts = set(tour.chart_names())
    for lesson in tours.values():
        assert lesson.preset in list_scenarios()
        assert len(lesson.stops) >= 3
        dates = [s.date for s in lesson.stops]
        assert dates == sorted(dates) and len(set(dates)) == len(dates)
        assert run.start <= dates[0] and dates[-1] <= run.end
        for stop in lesson.stops:
            assert stop.title and len(stop.text) > 40
            assert stop.chart in charts, f"{lesson.key}: no chart or tab {stop.chart!r}"
            for name in TOUR_PRESET_RE.findall(stop.text):
                assert name in list_scenarios(), f"{lesson.key} '{stop.title}': preset {name}"
            for name in TOUR_LEVER_RE.findall(stop.text):
                assert name in levers.LEVER_BY_NAME, f"{lesson.key} '{stop.title}': lever {name}"


def test_parse_tours_refuses_bad_input():
    stop = {"date": dt.date(2023, 1, 2), "title": "t", "text": "x", "chart": "Explain"}
    ok = {"l": {"title": "L", "preset": "baseline", "stops": [stop]}}
    assert tour.parse_tours(ok)["l"].stops[0].date == dt.date(2023, 1, 2)
    with pytest.raises(ValueError, match="date order"):
        tour.parse_tours({"l": {"title": "L", "preset": "baseline", "stops": [
            stop, dict(stop, date=dt.date(2022, 12, 1))]}})
    with pytest.raises(ValueError, match="lacks chart"):
        tour.parse_tours({"l": {"title": "L", "preset": "baseline",
                                "stops": [{k: v for k, v in stop.items() if k != "chart"}]}})
    with pytest.raises(ValueError, match="no 'preset'"):
        tour.parse_tours({"l": {"title": "L", "stops": [stop]}})
    with pytest.raises(ValueError, match="not a date"):
        tour.parse_tours({"l": {"title": "L", "preset": "b", "stops": [dict(stop, date="soon")]}})


def test_current_and_next_stop():
    lesson = tour.get_lesson("lesson1")
    first, second, last = lesson.stops[0], lesson.stops[1], lesson.stops[-1]
    before = first.date - dt.timedelta(days=1)
    assert tour.current_stop(lesson, before) is None
    assert tour.next_stop("lesson1", before) == first
    assert tour.current_stop(lesson, first.date) == first
    assert tour.next_stop(lesson, first.date) == second
    between = second.date - dt.timedelta(days=1)
    assert tour.current_stop(lesson, between) == first
    assert tour.next_stop(lesson, between) == second
    assert tour.current_stop(lesson, last.date + dt.timedelta(days=300)) == last
    assert tour.next_stop(lesson, last.date) is None
    # Timestamps and ISO strings work as dates too
    import pandas as pd

    assert tour.next_stop(lesson, pd.Timestamp(before)) == first
    assert tour.current_stop(lesson, first.date.isoformat()) == first
    with pytest.raises(KeyError):
        tour.get_lesson("lesson99")


class FakeModel:
    """Enough of H100Market for run_to: weekly steps to an end date."""

    def __init__(self, start=dt.date(2022, 10, 3), end=dt.date(2023, 3, 27)):
        self.date, self.end, self.steps = start, end, 0
        self.running = True

    def step(self):
        assert self.running
        self.date += dt.timedelta(weeks=1)
        self.steps += 1
        self.running = self.date < self.end


def test_run_to_steps_until_the_date():
    m = FakeModel()
    assert tour.run_to(m, dt.date(2022, 10, 3)) == 0
    taken = tour.run_to(m, dt.date(2022, 11, 1))
    assert m.date == dt.date(2022, 11, 7) and taken == 5
    assert tour.run_to(m, "2022-11-07") == 0  # already there
    assert tour.run_to(m, dt.date(2022, 12, 31), max_steps=2) == 2
    assert m.date == dt.date(2022, 11, 21)
    tour.run_to(m, dt.date(2030, 1, 1))  # beyond the horizon: stops with the model
    assert not m.running and m.date == dt.date(2023, 3, 27)
    assert tour.run_to(m, dt.date(2031, 1, 1)) == 0


def test_run_to_on_the_real_model_reaches_the_next_stop():
    from model import H100Market, release_model

    m = H100Market(scenario="baseline", seed=0, end="2023-06-30")
    try:
        stop = tour.next_stop("lesson1", m.date)
        taken = tour.run_to(m, stop.date)
        assert taken == m.steps > 0
        assert m.date >= stop.date > m.date - dt.timedelta(weeks=1)
        assert tour.current_stop("lesson1", m.date) == stop
        assert m.series()["date"].iloc[-1].date() == m.date
    finally:
        release_model(m)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_guided_tour_component_plays_to_the_next_stop():
    import ipyvuetify as v
    import solara

    from model import H100Market, release_model

    m = H100Market(scenario="baseline", seed=0, end="2023-06-30")
    try:
        ref = solara.reactive(m)  # the component takes the model or a reactive holding it
        box, rc = solara.render(tour.GuidedTour(ref, "lesson1"), handle_error=False)
        first = tour.get_lesson("lesson1").stops[0]
        btn = rc.find(v.Btn).widget
        assert btn.children == [f"Play to next stop: {first.title} ({first.date})"]
        shown = "".join(w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML).widgets)
        assert "The tour starts on" in shown
        btn.click()
        assert first.date <= m.date < first.date + dt.timedelta(weeks=1)
        shown = "".join(w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML).widgets)
        assert "Stop 1 of" in shown and first.title in shown and first.chart in shown
        assert "&amp;" not in shown  # escaped once, not twice
        second = tour.get_lesson("lesson1").stops[1]
        assert rc.find(v.Btn).widget.children == [
            f"Play to next stop: {second.title} ({second.date})"]
    finally:
        release_model(m)
