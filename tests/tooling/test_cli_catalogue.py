"""The command line tells what it is and what it takes: --version, `h100sim scenarios`,
`h100sim levers`, units in its tables, scenario and seed in its chart titles, one default seed,
and which extra to install when an optional package is missing."""

from __future__ import annotations

import json

import pytest

from experiments import cli
from experiments.api import DEFAULT_SEED
from model import list_scenarios


def run(capsys, *argv):
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_version_names_h100sim_mesa_and_python(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("h100sim 0.") and "Mesa 3.3" in out and "Python 3.11" in out


def test_scenarios_lists_every_scenario_with_what_it_changes(capsys):
    code, out, _ = run(capsys, "scenarios")
    assert code == 0
    for name in list_scenarios():
        assert name in out
    assert "supply.packaging_multiplier = 2.0" in out and "policy.export_controls = false" in out
    code, out, _ = run(capsys, "scenarios", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["strict_enforcement"]["extends"] == "baseline"
    assert rows["strict_enforcement"]["changes"] == ["grey.seizure_odds_multiplier = 5.0"]


def test_levers_prints_key_range_unit_default_and_meaning(capsys):
    code, out, _ = run(capsys, "levers")
    assert code == 0
    header = out.splitlines()[0].split()
    assert header == ["key", "range", "explore", "unit", "default", "meaning"]
    line = next(x for x in out.splitlines() if x.startswith("packaging_multiplier"))
    assert "0..100" in line and "0.25..4" in line and "×" in line and "CoWoS" in line
    assert "11 levers" in out
    code, out, _ = run(capsys, "levers", "--all", "--scenario", "double_packaging", "--json")
    rows = {r["key"]: r for r in json.loads(out)}
    assert rows["packaging_multiplier"]["default"] == 2.0
    assert rows["hopper_per_wafer"]["unit"] == "cards/wafer"


def test_levers_with_an_unknown_scenario_is_bad_input(capsys):
    code, _, err = run(capsys, "levers", "--scenario", "basline")
    assert code == 2
    assert "unknown scenario 'basline'" in err and "did you mean 'baseline'" in err


def test_one_default_seed_for_the_cli_and_the_api():
    import argparse

    from experiments import run_cmd

    parser = argparse.ArgumentParser()
    run_cmd.configure(parser)
    args = parser.parse_args(["--set", "end=2022-12-26"])
    assert run_cmd.resolve_run(args)["seed"] == DEFAULT_SEED == 0
    import inspect

    from experiments import run_outcomes
    from experiments.ema import run_numbers

    assert inspect.signature(run_outcomes).parameters["seed"].default == DEFAULT_SEED
    assert inspect.signature(run_numbers).parameters["seed"].default == DEFAULT_SEED


def test_a_missing_optional_package_names_the_extra_to_install(capsys, monkeypatch):
    import importlib.util

    assert cli.missing_extra("SALib") == "pip install 'h100sim[sweep]'"
    assert cli.missing_extra("ema_workbench.analysis") == "pip install 'h100sim[ema]'"
    assert cli.missing_extra("numpy") is None
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "solara" else real(name, *a))
    code, _, err = run(capsys, "app")
    assert code == 1 and "pip install 'h100sim[app]'" in err


def test_validate_and_compare_tables_carry_units():
    from experiments.compare import format_table
    from experiments.validate import table_rows

    assert table_rows([])[0][:3] == ["id", "metric", "unit"]
    import pandas as pd

    table = pd.DataFrame([{"key": "grey_volume_total", "headline": "smuggled cards, total",
                           "a median": 10.0, "a p10": 9.0, "a p90": 11.0, "b median": 12.0,
                           "b p10": 11.0, "b p90": 13.0, "difference": 2.0, "change %": 20.0},
                          {"key": "peak_spot", "headline": "peak spot price",
                           "a median": 5.0, "a p10": 4.0, "a p90": 6.0, "b median": 6.0,
                           "b p10": 5.0, "b p90": 7.0, "difference": 1.0, "change %": 20.0},
                          ]).set_index("key")
    lines = format_table(table, ("a", "b")).splitlines()
    assert lines[0].split()[:2] == ["headline", "unit"]
    assert "cards" in lines[2] and "USD/GPU-h" in lines[3]


def test_chart_titles_name_the_scenario_and_seed(monkeypatch, tmp_path):
    from experiments import charts
    from tests.tooling.test_outputs import fake_series

    titles = []
    monkeypatch.setattr(charts, "_save", lambda fig, path: titles.append(
        fig.axes[0].get_title()) or path)
    charts.write_run_charts(fake_series(), [], tmp_path, label="baseline",
                            context="baseline, seed 3")
    assert len(titles) == len(charts.CHARTS)
    assert all(t.endswith("(baseline, seed 3)") for t in titles)
