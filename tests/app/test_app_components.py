"""The app without a browser: Solara renders the page into widgets in this process, and the tests
click and type into those widgets. Also the pure pieces behind the panels (explanations, chart specs,
the trade network, the comparison, the launcher)."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket

import ipyvuetify as v
import ipywidgets
import numpy as np
import pandas as pd
import pytest
import solara
import solara.widgets

from model import H100Market, list_scenarios, load_scenario
from viz import explain, levers, network, vega

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def made_models(monkeypatch):
    """Every AppMarket the app builds, in order (Page, preset changes and Reset all go through
    AppMarket.__init__)."""
    built: list[levers.AppMarket] = []
    original = levers.AppMarket.__init__

    def spy(self, **kwargs):
        original(self, **kwargs)
        built.append(self)

    monkeypatch.setattr(levers.AppMarket, "__init__", spy)
    return built


_open_contexts: list = []


@pytest.fixture(autouse=True)
def _close_pages():
    """Unmount every page a test rendered: outside a server all pages share one update counter,
    so a page left mounted would redraw on every later test's steps."""
    yield
    while _open_contexts:
        _open_contexts.pop().close()


def render_page():
    from viz.app import Page

    box, rc = solara.render(solara.AppLayout(children=[Page()]), handle_error=False)
    _open_contexts.append(rc)
    return box, rc


def widgets(root) -> list[ipywidgets.Widget]:
    """Every widget under ``root`` (reacton's finder stops descending at a match)."""
    out, stack, seen = [], [root], set()
    while stack:
        w = stack.pop()
        if id(w) in seen:
            continue
        seen.add(id(w))
        out.append(w)
        for name in getattr(w, "keys", ()):
            val = getattr(w, name, None)
            items = val if isinstance(val, (list, tuple)) else [val]
            stack.extend(x for x in items if isinstance(x, ipywidgets.Widget))
    return out


def texts(box) -> list[str]:
    """Plain text of solara.Text (v.Html spans)."""
    return [c for w in widgets(box) if isinstance(w, v.Html) for c in w.children
            if isinstance(c, str)]


def step_text(box) -> str:
    return next(t for t in texts(box) if t.startswith("Step: "))


def html_text(box) -> str:
    """All markup of solara.HTML pieces."""
    return "\n".join(w.unsafe_innerHTML for w in widgets(box)
                     if isinstance(w, solara.widgets.HTML))


def click(rc, label: str) -> None:
    rc.find(v.Btn, children=[label]).widget.click()


def current(models):
    return models[-1]


# ------------------------------------------------------------------------------------------------
# the page
# ------------------------------------------------------------------------------------------------
def test_page_builds_per_session_with_its_own_model(made_models):
    box1, rc1 = render_page()
    box2, rc2 = render_page()
    assert len(made_models) == 2
    assert made_models[0] is not made_models[1]
    click(rc1, "Step")
    assert made_models[0].steps == 1 and made_models[1].steps == 0
    assert step_text(box1) == "Step: 1" and step_text(box2) == "Step: 0"


@pytest.mark.parametrize("preset", list_scenarios())
def test_every_preset_builds_and_sets_the_sliders(made_models, preset):
    box, rc = render_page()
    rc.find(v.Select, label="Preset").widget.v_model = preset
    m = current(made_models)
    assert m.config.name == preset
    assert any(t.startswith(f"Running: {preset}") for t in texts(box))
    cfg = load_scenario(preset)
    slider = rc.find(v.Slider, label=levers.LEVER_BY_NAME["packaging_multiplier"].label).widget
    assert slider.v_model == pytest.approx(cfg.supply.packaging_multiplier)
    box = rc.find(v.Switch, label=levers.LEVER_BY_NAME["export_controls"].label).widget
    assert box.v_model is cfg.policy.export_controls
    seize = rc.find(v.Slider, label=levers.LEVER_BY_NAME["seizure_odds_multiplier"].label).widget
    assert seize.v_model == pytest.approx(cfg.grey.seizure_odds_multiplier)
    # seven charts on the Market tab (six series, cards by region), built from this preset's model
    charts = rc.find(solara.widgets.VegaLite).widgets
    assert len(charts) == 7
    click(rc, "Step")
    assert m.steps == 1
    click(rc, "Reset")  # Reset without touching a slider rebuilds exactly the preset
    fresh = current(made_models)
    assert fresh is not m and fresh.steps == 0 and fresh.config.flat() == m.config.flat()


def test_step_advances_the_date_and_redraws(made_models):
    box, rc = render_page()
    m = current(made_models)
    start = m.date
    chart = rc.find(solara.widgets.VegaLite).widgets[0]
    before = len(chart.spec["layer"][0]["data"]["values"])
    assert f"Week of {start.day} {start:%B %Y}" in html_text(box)
    click(rc, "Step")
    click(rc, "Step")
    assert step_text(box) == "Step: 2"
    new = pd.Timestamp(m.series()["date"].iloc[-1])
    assert new == pd.Timestamp(start) + pd.Timedelta(weeks=2)
    assert f"Week of {new.day} {new:%B %Y}" in html_text(box)
    chart = rc.find(solara.widgets.VegaLite).widgets[0]
    assert len(chart.spec["layer"][0]["data"]["values"]) == before + 2


def test_levers_and_seed_reach_the_model_on_reset(made_models):
    box, rc = render_page()
    rc.find(v.Slider, label=levers.LEVER_BY_NAME["packaging_multiplier"].label).widget.v_model = 3.0
    rc.find(v.Slider, label=levers.LEVER_BY_NAME["finetuners"].label).widget.v_model = 1200
    rc.find(v.Switch, label=levers.LEVER_BY_NAME["export_controls"].label).widget.v_model = False
    seed = rc.find(v.TextField, label="Seed (a whole number)").widget
    seed.v_model = " 42 "
    click(rc, "Step")
    click(rc, "Reset")
    m = current(made_models)
    assert m.steps == 0
    assert m.config.supply.packaging_multiplier == 3.0
    assert m.config.population.finetuners == 1200
    assert m.config.policy.export_controls is False
    assert m.seed_text == "42"
    twin = H100Market(seed=42, packaging_multiplier=3.0, finetuners=1200, export_controls=False)
    for _ in range(3):
        m.step()
        twin.step()
    pd.testing.assert_frame_equal(m.series(), twin.series())


def test_live_levers_act_on_the_running_model(made_models):
    """One control per lever: a live lever's control acts on the running model at once (no
    Reset) and Reset keeps its value; the other levers wait for Reset."""
    box, rc = render_page()
    m = current(made_models)
    click(rc, "Step")
    for lever in levers.LEVERS:  # one control each, the same label as in the lessons
        kind = v.Switch if lever.kind == "bool" else v.Slider
        assert len(rc.find(kind, label=lever.label).widgets) == 1, lever.label
    switch = rc.find(v.Switch, label=levers.LEVER_BY_NAME["export_controls"].label).widget
    switch.v_model = not switch.v_model
    assert m.get_lever("export_controls") is switch.v_model
    enforcement = levers.LEVER_BY_NAME["seizure_odds_multiplier"]
    slider(rc, enforcement.label).v_model = 5.0
    assert m.get_lever("seizure_odds_multiplier") == 5.0
    assert [e[2] for e in m.lever_log] == ["export_controls", "seizure_odds_multiplier"]
    assert m.steps == 1  # no Reset: the same model goes on
    assert "5.0×" in texts(box)
    slider(rc, levers.LEVER_BY_NAME["pace"].label).v_model = 2.0  # waits for Reset
    assert m.config.openweights.pace != 2.0
    click(rc, "Reset")
    fresh = current(made_models)
    assert fresh is not m and fresh.config.grey.seizure_odds_multiplier == 5.0
    assert fresh.config.openweights.pace == 2.0


def test_explain_tab_and_network_tab_render(made_models):
    box, rc = render_page()
    m = current(made_models)
    for _ in range(30):
        click(rc, "Step")
    tabs = rc.find(v.Tabs).widgets[-1]
    tabs.v_model = 1  # Explain
    assert "What is happening" in " ".join(str(c) for w in rc.find(v.CardTitle).widgets
                                           for c in w.children)
    assert "<li>" in html_text(box)
    assert not [w for w in widgets(box) if isinstance(w, ipywidgets.Image)]  # lazy tabs
    tabs.v_model = 2  # Who trades with whom
    net = network_chart(box)
    assert net.listen_to_click and net.spec["layer"]
    assert "Largest flows" in html_text(box)
    assert m.steps == 30


def network_chart(box) -> solara.widgets.VegaLite:
    (chart,) = [w for w in widgets(box) if isinstance(w, solara.widgets.VegaLite)
                and "Trades in the" in str(w.spec.get("title", {}).get("text", ""))]
    return chart


def test_network_tab_picks_a_firm_by_click_and_from_the_list(made_models):
    """A click on a firm (the datum the browser sends) shows its trades with units and fades the
    lines of others; the list does the same; a click on the background lets go."""
    box, rc = render_page()
    m = current(made_models)
    for _ in range(40):
        click(rc, "Step")
    rc.find(v.Tabs).widgets[-1].v_model = 2
    net = network_chart(box)
    assert "Trades of" not in html_text(box)
    nodes = next(layer for layer in net.spec["layer"] if layer["mark"]["type"] == "point")
    azure = next(r for r in nodes["data"]["values"] if r["name"] == "Azure")
    net.on_click(azure)
    page = html_text(box)
    assert "Trades of Azure (cloud, US)" in page
    (table,) = [w.unsafe_innerHTML for w in widgets(box) if isinstance(w, solara.widgets.HTML)
                and "Trades of Azure" in w.unsafe_innerHTML]
    assert "amount (with its unit)" in table
    amounts = re.findall(r'<td style="text-align:right">([^<]*)</td>', table)[::2]
    assert amounts and all(re.fullmatch(r"[\d.,]+M? (GPU-hours|GPUs|cards)", a) for a in amounts)
    lines = net.spec["layer"][0]["data"]["values"]
    assert any(not e["faded"] for e in lines) and any(e["faded"] for e in lines)
    assert all(not e["faded"] for e in lines if "Azure" in (e["seller"], e["buyer"]))
    net.on_click(None)
    assert "Trades of" not in html_text(box)
    select = rc.find(v.Select, label="Show the trades of").widget
    select.v_model = "OpenAI"
    assert "Trades of OpenAI (model builder, US)" in html_text(box)
    assert m.steps == 40


def _graph(rows):
    agents = {1: ("cloud", "US", "Cloud A"), 2: ("creator", "CN", "Builder B"),
              3: ("broker", "", "Broker C"), 4: ("creator", "ROW", "Builder D")}
    return network.build_graph(network.trade_frame(rows), agents)


def _line_colors(spec) -> dict[str, str]:
    color = spec["layer"][0]["encoding"]["color"]["scale"]
    return dict(zip(color["domain"], color["range"]))


def test_network_colours_are_the_same_for_a_kind_of_trade_in_every_frame():
    one = network.network_spec(_graph([(1, 1, 2, "spot", "spot GPU-hours", 10.0),
                                       (1, 3, 2, "grey", "grey-market cards", 5.0)]), "t")
    two = network.network_spec(_graph([(2, 3, 4, "grey", "grey-market cards", 2.0),
                                       (2, "vendor", 1, "vendor", "new cards", 50.0),
                                       (2, 1, 4, "used_cards", "used cards", 1.0)]), "t")
    a, b = _line_colors(one), _line_colors(two)
    grey = network.TRADE_VIEW["grey"].label
    assert a[grey] == b[grey] == network.TRADE_VIEW["grey"].color
    assert len(set(b.values())) == len(b) == 3  # one colour per kind shown, no two alike
    assert set(a) == {grey, network.TRADE_VIEW["spot"].label}  # the legend names what is drawn


def test_network_amounts_carry_their_units_and_hours_are_gpu_hours():
    g = _graph([(1, 1, 2, "spot", "spot GPU-hours", 10.0), (1, 3, 2, "grey", "cards", 4.0),
                (1, 1, 4, "reservation", "reserved GPUs", 64.0),
                (1, 1, 4, "newkind", "something new", 3.0)])
    flows = network.top_flows(g)
    by_kind = {r["kind"]: network.amount_text(r["amount"], r["unit"]) for _, r in flows.iterrows()}
    assert by_kind == {"spot": "1,680 GPU-hours", "grey": "4.0 cards", "reservation": "64 GPUs",
                       "newkind": "3.0 units"}  # a kind the app does not know yet: no crash
    table = network.flows_table(flows)
    assert "amount (with its unit)" in table and "1,680 GPU-hours" in table
    rows = network.node_trades(g, next(n for n, d in g.nodes(data=True) if d["label"] == "Builder B"))
    assert {(r["direction"], r["firm"], network.amount_text(r["amount"], r["unit"]))
            for r in rows} == {("bought from", "Cloud A", "1,680 GPU-hours"),
                               ("bought from", "Broker C", "4.0 cards")}
    spec = network.network_spec(g, "t", selected="nobody-such")  # an unknown pick: nothing picked
    assert not any(e["faded"] for e in spec["layer"][0]["data"]["values"])
    tips = {t["field"] for t in spec["layer"][0]["encoding"]["tooltip"]}
    assert {"seller", "buyer", "trade", "amount"} <= tips


# ------------------------------------------------------------------------------------------------
# seeds, presets
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("typed, expected", [
    ("7", 7), (" 12 ", 12), (0, 0), (5, 5), ("abc", None), ("-1", None), ("3.5", None),
    ("1_000", None), ("", None), (-3, None), (True, None),
])
def test_parse_seed_takes_whole_numbers_only(typed, expected):
    assert levers.parse_seed(typed) == expected


def test_app_market_refuses_a_seed_that_is_not_a_whole_number():
    from model import InputError

    assert levers.AppMarket(seed=" 7 ", end="2023-01-01").seed == 7
    assert levers.AppMarket(seed="", end="2023-01-01").seed_text == ""   # blank: a fresh seed
    with pytest.raises(InputError, match="whole number"):
        levers.AppMarket(seed="abc")


# ------------------------------------------------------------------------------------------------
# explanations
# ------------------------------------------------------------------------------------------------
def frame(n=40, **cols):
    dates = pd.date_range("2023-01-02", periods=n, freq="7D")
    df = pd.DataFrame({"date": dates})
    for k, val in cols.items():
        df[k] = np.asarray(val, dtype=float) if not np.isscalar(val) else float(val)
    return df


def test_explain_resale_up_threefold():
    resold = np.r_[np.full(36, 100.0), np.full(4, 300.0)]  # half a year back: week 13, April
    df = frame(resold_hours=resold)
    text = " ".join(explain.explain(df, []))
    assert "reselling idle hours" in text and "up 3×" in text and "since April 2023" in text
    down = " ".join(explain.explain(frame(resold_hours=np.r_[np.full(30, 300.0),
                                                             np.full(10, 100.0)]), []))
    assert "Less capacity is being resold" in down


def test_explain_lead_time_rising_and_easing():
    rising = frame(lead_time_weeks=np.linspace(10, 40, 40), gpus_installed=np.linspace(1e4, 3e4, 40))
    assert any("getting scarcer" in s for s in explain.explain(rising, []))
    easing = frame(lead_time_weeks=np.r_[np.linspace(10, 50, 20), np.linspace(50, 10, 20)])
    assert any("Lead times are easing" in s and "peak of 50" in s
               for s in explain.explain(easing, []))


def test_explain_names_recent_events_and_releases():
    df = frame(teams_training=np.r_[np.full(20, 30), np.full(20, 29)],
               teams_finetuning=np.r_[np.full(20, 100), np.linspace(100, 400, 20)])
    last = df["date"].iloc[-1].date()
    events = [(last - dt.timedelta(days=14), "Llama 9", "open-weights"),
              (dt.date(2020, 1, 1), "Ancient rule", "policy")]
    out = explain.explain(df, events)
    assert out[0].startswith("Open weights: Llama 9 was released 2 weeks ago")
    assert any("moving from training to fine-tuning" in s and "Llama 9" in s for s in out)
    assert not any("Ancient rule" in s for s in out)


def test_explain_quiet_and_first_week():
    assert "opens" in explain.explain(frame(n=1, spot_price=2.0))[0]
    quiet = explain.explain(frame(spot_price=2.0, ondemand_price=2.6, lead_time_weeks=5.0))
    assert len(quiet) == 1 and "Nothing much" in quiet[0]


def test_explain_on_a_real_run():
    m = H100Market(seed=3)
    for _ in range(60):
        m.step()
    out = explain.explain(m.series(), m.events)
    assert 1 <= len(out) <= 6 and all(isinstance(s, str) and s for s in out)
    assert explain.headline(m.series()).startswith(f"Week of {m.series()['date'].iloc[-1].day}")


# ------------------------------------------------------------------------------------------------
# chart specs
# ------------------------------------------------------------------------------------------------
def test_time_chart_spec():
    df = frame(n=5, spot_price=[1, 2, np.nan, 4, 5], ondemand_price=3.0)
    events = [(dt.date(2023, 1, 10), "A", "policy"), (dt.date(2023, 1, 17), "B", "policy"),
              (dt.date(2023, 1, 24), "C", "open-weights"), (dt.date(2030, 1, 1), "late", "x")]
    spec = vega.time_chart(df, "t", "y", {"spot_price": "spot", "ondemand_price": "od",
                                          "missing": "m"},
                           events=events, x_domain=(dt.date(2023, 1, 2), dt.date(2024, 1, 1)))
    series = spec["layer"][0]
    assert series["transform"][0]["fold"] == ["spot", "od"]
    values = series["data"]["values"]
    assert len(values) == 5 and values[2]["spot"] is None and values[0]["od"] == 3.0
    assert series["encoding"]["x"]["scale"]["domain"] == ["2023-01-02", "2024-01-01"]
    ev = spec["layer"][1]["data"]["values"]
    assert [e["label"] for e in ev] == ["A", "B", "C"]  # the 2030 one is outside the domain
    # numbered in date order; close events alternate between two heights for their numbers
    assert [e["number"] for e in ev] == [1, 2, 3] and [e["row"] for e in ev] == [0, 1, 0]
    assert [e["kind_label"] for e in ev] == ["policy rule", "policy rule",
                                             "open-weight model release"]
    # a week without a trade is a gap in the line, not a bridge over it nor a zero
    assert {"filter": "datum.value !== null"} in series["transform"]
    assert series["encoding"]["detail"]["field"] == "gap"
    # one labelled tick a year and a unit on the y axis
    assert series["encoding"]["x"]["axis"]["tickCount"] == {"interval": "year", "step": 1}
    assert series["encoding"]["y"]["title"] == "y"
    # a chart of one week draws it as a point (a line needs two)
    one = vega.time_chart(df.iloc[:1], "t", "y", {"spot_price": "spot"})
    assert one["layer"][0]["mark"]["point"] is True and series["mark"]["point"] is False
    import json

    json.dumps(spec)  # JSON-able: it goes to the browser as is


# ------------------------------------------------------------------------------------------------
# the trade network
# ------------------------------------------------------------------------------------------------
def test_trade_frame_reads_five_field_rows_and_orders_reservations():
    log = [(3, -1, 10, "vendor", 8.0), (3, 11, 20, "reservation", 64.0),
           (4, -2, -1, "spot", 5.0), (4, 12, 13, "used_cards", 2.0)]
    df = network.trade_frame(log)
    assert list(df.columns) == network.TRADE_COLUMNS
    assert df.loc[0, ["seller_id", "buyer_id", "market"]].tolist() == ["vendor", 10, "new cards"]
    assert df.loc[1, ["seller_id", "buyer_id"]].tolist() == [20, 11]  # cloud sells to holder
    assert df.loc[2, ["seller_id", "buyer_id"]].tolist() == ["spot-pool", "finetuner-pool"]
    six = network.trade_frame([(1, 5, 6, "x", "cards", 1.0)])
    assert six.loc[0, "market"] == "cards"


def test_build_graph_groups_crowded_kinds_and_keeps_big_traders():
    agents = {i: ("creator", "US", f"startup-{i}") for i in range(30)}
    agents[99] = ("cloud", "US", "BigCloud")
    rows = [(1, 99, i, "spot", "hours", 100.0 if i == 0 else 1.0) for i in range(30)]
    g = network.build_graph(network.trade_frame(rows), agents, group_over=12)
    labels = {d["label"] for _, d in g.nodes(data=True)}
    assert "startup-0" in labels and "BigCloud" in labels
    assert any(lab.startswith("24 other model builders") for lab in labels)
    assert g.number_of_nodes() == 1 + 6 + 1
    total = sum(d["volume"] for _, _, d in g.edges(data=True))
    assert total == pytest.approx(100.0 + 29.0)


def test_network_of_a_real_run():
    m = H100Market(seed=2)
    for _ in range(70):
        m.step()
    idx = network.agent_index(m)
    all_trades = network.trade_frame(m.trade_log)
    res = all_trades[all_trades["kind"] == "reservation"]
    # reservations: the cloud sells, the holder buys
    assert all(idx[s][0] == "cloud" for s in res["seller_id"])
    recent = network.recent_trades(m, 4)
    assert len(recent) and recent["step"].min() >= m.steps - 3
    g = network.build_graph(recent, idx)
    assert g.number_of_nodes() > 3 and g.number_of_edges() > 2
    spec = network.network_spec(g, "t")
    json.dumps(spec)  # it goes to the browser as is
    assert len(network.top_flows(g)) > 0


# ------------------------------------------------------------------------------------------------
# compare (two scenarios, in worker processes)
# ------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_run_comparison_reports_progress_and_bands():
    from viz.compare_panel import band_specs, run_comparison, table_rows

    seen = []
    res = run_comparison("baseline", "no_export_controls", 1, workers=2,
                         on_progress=lambda d, t: seen.append((d, t)))
    assert not res.error and not res.cancelled
    assert seen[0] == (0, 2) and seen[-1] == (2, 2)
    assert set(res.bands) == {"baseline", "no_export_controls"}
    assert "spot_price" in res.bands["baseline"]
    assert len(table_rows(res)) == len(res.table) > 0
    assert len(band_specs(res)) == 6


@pytest.mark.slow
def test_compare_my_current_levers_against_a_preset():
    """"my current levers" is the preset with the levers moved (and only those), run from week 0;
    labels say which side is which; lever values the model refuses are reported, not run."""
    from viz.compare_panel import MINE, describe, my_levers, run_comparison

    values = {**levers.preset_values("baseline"), "funding_multiplier": 2.0, "brokers": 10}
    mine = my_levers("baseline", values)
    assert mine.overrides == (("funding_multiplier", 2.0),) and mine.label == MINE
    assert describe(mine) == "baseline with Funding climate 2.0×"
    res = run_comparison(mine, "baseline", 1, workers=2)
    assert not res.error and res.labels == (MINE, "baseline")
    assert res.notes == [f"{MINE}: baseline with Funding climate 2.0×"]
    mine_spot = res.bands[MINE]["spot_price"]["median"]
    base_spot = res.bands["baseline"]["spot_price"]["median"]
    assert not mine_spot.equals(base_spot)  # the lever reached the runs
    bad = my_levers("baseline", {**values, "brokers": 0, "seizure_odds_multiplier": 5.0})
    refused = run_comparison(bad, "baseline", 1, workers=1)
    assert "grey.seizure_odds_multiplier = 5.0 is not allowed" in refused.error


def test_run_comparison_reports_bad_input_and_cancel():
    from viz.compare_panel import run_comparison

    bad = run_comparison("baseline", "no_such_scenario", 1)
    assert bad.error and "no_such_scenario" in bad.error
    stopped = run_comparison("baseline", "baseline", 2, workers=1, should_stop=lambda: True)
    assert stopped.cancelled


# ------------------------------------------------------------------------------------------------
# the launcher
# ------------------------------------------------------------------------------------------------
def test_launch_defaults_to_loopback_and_refuses_a_busy_port(capsys):
    from experiments.cli import main
    from experiments import app_cmd as launch

    cmd = launch.solara_command("127.0.0.1", 8765)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and "--production" in cmd
    assert launch.is_loopback("127.0.0.1") and launch.is_loopback("::1")
    assert not launch.is_loopback("0.0.0.0")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        assert main(["app", "--port", str(port)]) == 2
    assert f"127.0.0.1:{port}" in capsys.readouterr().err
    assert main(["app", "--port", "70000"]) == 2


def test_guided_tour_tab_plays_the_app_model_to_the_next_stop(made_models):
    """The lecturer's one-handed mode: the tour tab shows the lesson and its button plays the
    page's own model (not a copy) on to the next stop's date."""
    from viz.tour import get_lesson, next_stop

    box, rc = render_page()
    m = current(made_models)
    tabs = rc.find(v.Tabs).widgets[-1]
    tabs.v_model = 4  # Guided tour
    lesson = get_lesson("lesson1")
    assert any(f"Guided tour: {lesson.title}" in str(c) for w in rc.find(v.CardTitle).widgets
               for c in w.children)
    target = next_stop(lesson, m.date)
    button = [b for b in rc.find(v.Btn).widgets
              if any(str(c).startswith("Play to next stop") for c in b.children)]
    assert len(button) == 1
    button[0].click()
    assert m.date >= target.date and m is current(made_models)


# ------------------------------------------------------------------------------------------------
# refused lever values (issue 8): in the page, never a crash
# ------------------------------------------------------------------------------------------------
ENFORCEMENT = levers.LEVER_BY_NAME["seizure_odds_multiplier"]
BROKERS = levers.LEVER_BY_NAME["brokers"]


def alerts(rc) -> list[str]:
    """Text of every solara.Error / Info box on the page (its label and any HTML inside)."""
    out = []
    for w in rc.find(v.Alert).widgets:
        parts = [c if isinstance(c, str) else getattr(c, "unsafe_innerHTML", "")
                 for c in w.children]
        out.append(" ".join(parts))
    return out


def slider(rc, label: str):
    return rc.find(v.Slider, label=label).widget


def test_reset_with_nonsensical_levers_keeps_the_running_model_and_says_why(made_models):
    from viz.controls import RESET_REFUSED

    box, rc = render_page()
    m = current(made_models)
    click(rc, "Step")
    click(rc, "Step")
    slider(rc, BROKERS.label).v_model = 0
    slider(rc, ENFORCEMENT.label).v_model = 5.0
    click(rc, "Reset")  # would raise InputError out of SolaraViz's button handler unguarded
    assert {id(x) for x in made_models} == {id(m)}  # no new model: the running one is kept
    assert m.steps == 2 and step_text(box) == "Step: 2"
    # brokers wait for Reset; enforcement is live, so the running model took it at once
    assert m.config.population.brokers == 10 and m.get_lever("seizure_odds_multiplier") == 5.0
    (note,) = alerts(rc)
    assert note.startswith(RESET_REFUSED)
    assert "grey.seizure_odds_multiplier = 5.0 is not allowed with population.brokers = 0" in note
    assert "set population.brokers above 0 or grey.seizure_odds_multiplier to 1" in note
    assert f"<li>{BROKERS.label} = 0</li>" in note and f"<li>{ENFORCEMENT.label} = 5.0</li>" in note
    assert ".toml" not in note  # the scenario file's path means nothing in the page
    click(rc, "Step")  # the page still works, on the same model
    assert m.steps == 3 and step_text(box) == "Step: 3"
    # what the note says to change: enforcement back to 1; Reset then builds that world
    slider(rc, ENFORCEMENT.label).v_model = 1.0
    click(rc, "Reset")
    fresh = current(made_models)
    assert fresh is not m and fresh.steps == 0 and step_text(box) == "Step: 0"
    assert fresh.config.population.brokers == 0 and not fresh.population.brokers
    assert alerts(rc) == []  # the note goes with the model it was about


def test_live_lever_refused_by_the_model_shows_why_and_changes_nothing(made_models):
    from viz.controls import LIVE_REFUSED

    box, rc = render_page()
    slider(rc, BROKERS.label).v_model = 0
    click(rc, "Reset")  # no brokers, enforcement as calibrated: a valid world
    m = current(made_models)
    assert m.config.population.brokers == 0
    click(rc, "Step")
    live = slider(rc, ENFORCEMENT.label)
    live.v_model = 5.0  # set_lever raises InputError: enforcement with nobody to seize from
    assert m.get_lever("seizure_odds_multiplier") == 1.0 and m.lever_log == []
    (note,) = alerts(rc)
    assert note.startswith(LIVE_REFUSED)
    assert "grey.seizure_odds_multiplier = 5.0 is not allowed with population.brokers = 0" in note
    # the control shows the model's value again, not the refused one
    assert slider(rc, ENFORCEMENT.label).v_model == 1.0
    click(rc, "Step")
    assert m.steps == 2 and step_text(box) == "Step: 2"
    # a lever the model accepts clears the note and acts
    switch = rc.find(v.Switch, label=levers.LEVER_BY_NAME["export_controls"].label)
    switch.widget.v_model = False
    assert m.get_lever("export_controls") is False and alerts(rc) == []
    assert [e[2] for e in m.lever_log] == ["export_controls"]


def test_lever_refusal_names_the_levers_and_drops_the_file_path():
    from model import InputError

    err = InputError("/some/dir/baseline.toml with overrides brokers, seizure_odds_multiplier: "
                     "grey.seizure_odds_multiplier = 5.0 is not allowed with population.brokers = 0"
                     ": ...; set population.brokers above 0")
    r = levers.LeverRefusal.of(err, {"brokers": 0, "seizure_odds_multiplier": 5.0, "pace": 2.0,
                                     "export_controls": False})
    assert r.reason.startswith("grey.seizure_odds_multiplier = 5.0 is not allowed")
    assert [lv.name for lv, _ in r.levers] == ["seizure_odds_multiplier", "brokers"]  # LEVERS order
    assert r.lever_lines() == [f"{ENFORCEMENT.label} = 5.0", f"{BROKERS.label} = 0"]
    # a value out of range: the loader's "override: " goes too
    out = levers.LeverRefusal.of(InputError("override: population.row_creators = -1 is not "
                                            "allowed; expected an integer >= 0"),
                                 {"row_creators": -1, "mid_creators": 3})
    assert out.reason.startswith("population.row_creators = -1")
    assert [lv.name for lv, _ in out.levers] == ["row_creators"]  # not mid_creators, not a prefix
    # a key that only contains a lever's key is not that lever
    near = levers.LeverRefusal.of(InputError("population.cn_mid_creators_x = 1"),
                                  {"cn_mid_creators": 1})
    assert near.levers == ()
    assert levers.lever_value_text(levers.LEVER_BY_NAME["export_controls"], False) == "off"


def test_refusal_is_none_for_every_preset_and_a_reason_for_a_nonsensical_mix():
    for preset in list_scenarios():
        assert levers.refusal(preset, levers.preset_values(preset)) is None
    r = levers.refusal("strict_enforcement", {"brokers": 0})  # the preset's enforcement is 5
    assert r is not None and "grey.seizure_odds_multiplier = 5.0" in r.reason
    assert [lv.name for lv, _ in r.levers] == ["brokers"]  # only the values tried are listed


# ------------------------------------------------------------------------------------------------
# texts that follow the state (issue 15): start, peak, glut, end of the app's default run
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def default_run():
    m = levers.build_model()
    m.run_to_end()
    return m.series(), list(m.events)


def test_explain_texts_follow_the_state(default_run):
    df, events = default_run
    lead = df["lead_time_weeks"].to_numpy(dtype=float)
    peak = int(np.nanargmax(lead))
    start = " ".join(explain.explain(df.iloc[:1], events))
    assert "The market opens" in start
    at_peak = " ".join(explain.explain(df.iloc[: peak + 1], events))
    assert "easing" not in at_peak and "queue for new servers is gone" not in at_peak
    # the glut: a year or more after the peak, once the queue is gone (with teams founded in 2024
    # the queue lasts a few weeks past the peak's first anniversary), spot far below on-demand
    glut_i = next(i for i in range(peak + 52, len(lead)) if lead[i] <= 4)
    assert glut_i <= peak + 78
    glut = " ".join(explain.explain(df.iloc[: glut_i + 1], events))
    assert "spare capacity" in glut or "no longer the bottleneck" in glut or "gone" in glut
    end = " ".join(explain.explain(df, events))
    assert lead[-1] <= 3.5  # at its floor
    assert "easing" not in end  # not easing: it has stopped falling
    assert "skip the vendor's queue" not in end  # there is no queue to skip
    assert "queue for new servers is gone" in end
    # when the queue is long, a premium for used cards is the queue's
    rows = [i for i in range(60, len(df)) if lead[i] >= 8
            and df["card_price_secondary"].iloc[i] > 1.05 * df["card_price_new"].iloc[i]]
    assert rows
    assert "skip the vendor's queue" in explain._cards(df.iloc[: rows[0] + 1], events).text
    # at the end the queue is gone and used cards sell at or below the vendor's list (owners who
    # need cards buy from owners who do not; no one pays a premium for a card in hand)
    end_card = explain._cards(df, events)
    assert end_card is not None and "few sellers" not in end_card.text
    assert "nobody pays more for one in hand" in end_card.text or "no longer the bottleneck" in end_card.text


def test_headline_figures_have_units_and_a_year_on_year_change(default_run):
    df, _ = default_run
    first = explain.headline_figures(df.iloc[:1])
    assert [f.label for f in first][:5] == ["Spot price", "On-demand price (clouds)",
                                            "Lead time, new servers", "H100 cards installed",
                                            "Training's share of hours"]
    assert first[0].value == "—" and first[0].change == "no trade yet"  # no trade in week 0
    mid = explain.headline_figures(df.iloc[:92])  # 1 July 2024
    by = {f.label: f for f in mid}
    assert all(f.unit for f in mid)
    assert by["On-demand price (clouds)"].change.endswith("on a year before")
    od_now, od_then = df["ondemand_price"].iloc[91], df["ondemand_price"].iloc[91 - 52]
    pct = round((od_now / od_then - 1) * 100)
    assert by["On-demand price (clouds)"].change.startswith(("+" if pct > 0 else "−") + str(abs(pct)))
    smuggled = df["smuggled_cards"].iloc[:92][pd.to_datetime(df["date"].iloc[:92]).dt.year == 2024]
    assert by["Smuggled cards in 2024"].value == f"{smuggled.sum():,.0f}"
    # a week without a trade shows the last trade and says when it was
    gap = [i for i in range(60, len(df)) if np.isnan(df["spot_price"].iloc[i])]
    if gap:
        f = explain.headline_figures(df.iloc[: gap[0] + 1])[0]
        assert "last trade" in f.change and f.value.startswith("$")


# ------------------------------------------------------------------------------------------------
# cards by region
# ------------------------------------------------------------------------------------------------
def test_cards_by_region_match_the_agent_frame_and_fill_weeks_not_seen():
    """The sums the app reads from the agents in collection weeks are the agent frame's sums; weeks
    played without a redraw (the guided tour) are filled from the agent frame; the bands add up to
    the model's installed cards."""
    from viz import regions

    m = levers.build_model()
    for _ in range(9):
        m.step()
        regions.collect(m)  # as every redraw does
    for _ in range(12):  # twelve weeks in one go, no redraw
        m.step()
    regions.collect(m)
    got = regions.region_frame(m)
    assert len(got) == 1 + 21 // 4  # weeks 0, 4, ..., 20
    want = regions.totals_from_frame(m.agent_frame())
    for (_, row), step in zip(got.iterrows(), range(0, 21, 4)):
        for col in regions.FIELDS:
            assert row[col] == pytest.approx(want[step][col], rel=1e-12, abs=1e-9)
    installed = m.series()["gpus_installed"].iloc[20]
    assert got.iloc[-1][list(regions.FIELDS)].sum() == pytest.approx(installed)


def test_chart_labels_are_plain_vega_field_names():
    """Series labels become Vega field names: a quote, a dot or a bracket in one breaks the chart
    in the browser ("Access path missing closing quote")."""
    from viz import components, regions

    labels = [lab for _, _, fields, _ in components.MARKET_CHARTS for lab in fields.values()]
    for label in [*labels, *regions.FIELDS.values()]:
        assert not set(label) & set("'\".[]\\"), label


def test_region_chart_is_in_the_market_tab_and_draws_week_zero(made_models):
    from viz import components

    box, rc = render_page()
    m = current(made_models)
    spec = components.region_spec(m)
    layer = spec["layer"][0]
    assert layer["mark"]["type"] == "area" and layer["mark"]["point"]  # one week: a point
    assert [r["date"] for r in layer["data"]["values"]] == ["2022-10-03"]
    assert spec["layer"][0]["encoding"]["y"]["title"] == "cards"
    charts = [w for w in widgets(box) if isinstance(w, solara.widgets.VegaLite)]
    assert any(w.spec["title"]["text"] == "H100 cards held, by region" for w in charts)
