"""The experiment API outside tools call (experiments.levers / outcomes / run_outcomes) and the
context a run's files carry (Parquet metadata, read_run)."""

from __future__ import annotations

import datetime as dt
import math

import mesa
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from experiments import DEFAULT_SEED, levers, outcomes, read_run, run_outcomes
from experiments.catalogue import SERIES_INFO, lever_catalogue, stat_label, stat_unit
from experiments.outputs import write_run
from model import SERIES, H100Market, InputError, load_scenario, release_model
from model.config import SCHEMA, F
from model.record import EXTRA_SERIES

END = "2023-03-27"
SHORT = {"peak_spot": {"metric": "spot_price", "window": ["2023-01-01", "2023-03-31"],
                       "stat": "max"},
         "installed": {"metric": "gpus_installed", "window": ("2023-03-01", "2023-03-31"),
                       "stat": "last"},
         "peak_date": {"metric": "lead_time_weeks", "window": ["2022-10-03", "2023-03-31"],
                       "stat": "date_of_max"}}


# ------------------------------------------------------------------------------------------------
# levers()
# ------------------------------------------------------------------------------------------------
def test_levers_list_every_scalar_key_with_range_unit_default_and_meaning():
    cat = {lv["dotted"]: lv for lv in levers()}
    cfg = load_scenario("baseline")
    for section, fields in SCHEMA.items():
        for leaf, spec in fields.items():
            if not isinstance(spec, F) or spec.kind == "str":
                assert f"{section}.{leaf}" not in cat
                continue
            lv = cat[f"{section}.{leaf}"]
            assert lv["key"] == leaf and lv["kind"] == spec.kind
            assert lv["meaning"], f"{leaf} has no meaning"
            assert lv["unit"] or spec.kind == "bool", f"{leaf} has no unit"
            default = cfg.get(f"{section}.{leaf}")
            assert lv["default"] == (default.isoformat() if isinstance(default, dt.date)
                                     else default)
            if spec.kind in ("float", "int"):
                assert lv["low"] == spec.lo and lv["high"] == spec.hi


def test_lever_defaults_follow_the_scenario():
    assert {lv["key"]: lv["default"] for lv in levers("double_packaging")}[
        "packaging_multiplier"] == 2.0


def test_the_apps_levers_explore_the_apps_slider_ranges():
    from viz.levers import LEVERS

    cat = {lv.key: lv for lv in lever_catalogue()}
    assert {lv.name for lv in LEVERS} == {k for k, lv in cat.items() if lv.app}
    for app_lever in LEVERS:
        lv = cat[app_lever.name]
        assert lv.kind == app_lever.kind and lv.live == app_lever.live
        if lv.kind != "bool":
            assert lv.explore == (app_lever.lo, app_lever.hi)
            assert lv.low <= app_lever.lo and app_lever.hi <= lv.high


def test_every_series_has_a_unit_and_a_name():
    assert set(SERIES_INFO) == set(SERIES) | set(EXTRA_SERIES)
    assert all(s.unit and s.label for s in SERIES_INFO.values())
    assert stat_unit("smuggled_cards", "sum") == "cards"
    assert stat_unit("card_price_secondary / card_price_new", "max") == "×"
    assert stat_label("spot_price", "max") == "peak spot price (USD/GPU-h)"


# ------------------------------------------------------------------------------------------------
# outcomes()
# ------------------------------------------------------------------------------------------------
def weekly(values, start="2022-10-03", **more) -> pd.DataFrame:
    dates = pd.date_range(start, periods=len(values), freq="7D")
    return pd.DataFrame({"date": dates, "spot_price": values, **more})


def test_outcomes_compute_named_statistics_of_a_frame():
    df = weekly([1.0, 4.0, np.nan, 2.0], smuggled_cards=[1.0, 2.0, 3.0, 4.0])
    spec = {"peak": {"metric": "spot_price", "window": ["2022-10-03", "2022-10-24"], "stat": "max"},
            "total": {"metric": "smuggled_cards", "window": ["2022-10-03", "2022-10-24"],
                      "stat": "sum"},
            "when": {"metric": "spot_price", "window": ["2022-10-03", "2022-10-24"],
                     "stat": "date_of_max"},
            "traded": {"metric": "spot_price", "window": ["2022-10-03", "2022-10-24"],
                       "stat": "trade_share"}}
    got = outcomes(df, spec)
    assert got == {"peak": 4.0, "total": 10.0, "when": dt.date(2022, 10, 10), "traded": 0.75}
    # the same as a list of [[metrics.summary]] tables, and on a DatetimeIndex
    as_list = [{"name": k, **v} for k, v in spec.items()]
    assert outcomes(df.set_index("date"), as_list) == got


@pytest.mark.parametrize("spec, message", [
    ({"x": {"metric": "spot_prize", "window": ["2023-01-01", "2023-02-01"], "stat": "max"}},
     r"outcome 'x': metric = 'spot_prize': unknown series 'spot_prize' \(did you mean 'spot_price'"),
    ({"x": {"metric": "spot_price", "stat": "max"}}, r"outcome 'x': missing field 'window'"),
    ({"x": {"metric": "spot_price", "window": ["2023-01-01", "2023-02-01"], "stat": "peak"}},
     r"outcome 'x': stat = 'peak' is not allowed; expected one of 'max'"),
    ({"x": {"metric": "spot_price", "window": ["2023-01-01", "2023-02-01"], "stat": "max",
            "colour": 1}}, r"unknown field 'colour'"),
    ([{"metric": "spot_price"}], r"outcomes\[0\] = .* expected a table with name"),
    ({}, "empty"),
])
def test_bad_outcome_specs_name_the_outcome_the_field_and_what_is_allowed(spec, message):
    with pytest.raises(InputError, match=message):
        outcomes(weekly([1.0, 2.0]), spec)


# ------------------------------------------------------------------------------------------------
# run_outcomes()
# ------------------------------------------------------------------------------------------------
def test_run_outcomes_is_a_pure_function_of_levers_seed_and_scenario():
    levers_ = {"end": END, "packaging_multiplier": 2.0}
    first = run_outcomes(levers_, seed=3, outcomes=SHORT)
    assert set(first) == set(SHORT)
    assert isinstance(first["peak_spot"], float) and isinstance(first["peak_date"], dt.date)
    assert run_outcomes(dict(levers_), seed=3, outcomes=SHORT) == first
    assert run_outcomes({"end": END}, seed=3, outcomes=SHORT) != first
    # the same numbers as the model run by hand
    m = H100Market(seed=3, **levers_).run_to_end()
    try:
        assert outcomes(m.series(), SHORT) == first
    finally:
        release_model(m)


def test_run_outcomes_defaults_to_the_headline_outcomes_and_the_default_seed():
    from experiments.api import DEFAULT_OUTCOMES

    got = run_outcomes()
    assert DEFAULT_SEED == 0
    assert set(got) == set(DEFAULT_OUTCOMES)
    assert all(isinstance(v, float) and math.isfinite(v) for v in got.values())
    assert run_outcomes(seed=0) == got


def test_run_outcomes_releases_its_model():
    before = len(mesa.Agent._ids)
    run_outcomes({"end": END}, outcomes=SHORT)
    assert len(mesa.Agent._ids) == before


@pytest.mark.parametrize("kwargs, message", [
    ({"levers": {"packaging_multiplyer": 2}}, r"unknown parameter 'packaging_multiplyer'.*"
                                              r"did you mean 'packaging_multiplier'"),
    ({"levers": {"packaging_multiplier": -1}}, r"supply.packaging_multiplier = -1.0 is not allowed"),
    ({"levers": [("pace", 2)]}, r"levers = .* expected a mapping"),
    ({"seed": -1}, r"seed = -1 is not allowed; expected an integer >= 0"),
    ({"seed": 1.5}, r"seed = 1.5 is not allowed"),
    ({"scenario": "baseline2"}, r"unknown scenario 'baseline2'"),
])
def test_run_outcomes_refuses_bad_input_before_running(kwargs, message):
    with pytest.raises(InputError, match=message):
        run_outcomes(**{"outcomes": SHORT, **kwargs})


# ------------------------------------------------------------------------------------------------
# Outputs that carry their context
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def written_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "baseline-4"
    m = H100Market(seed=4, end=END, pace=2.0).run_to_end()
    try:
        series = m.series()
        write_run(m, out, {"seed": 4, "overrides": {"pace": 2.0}}, charts=False)
    finally:
        release_model(m)
    return out, series


def test_the_parquet_file_carries_scenario_seed_hash_version_and_units(written_run):
    out, series = written_run
    schema = pq.read_schema(out / "series.parquet")
    import json

    meta = json.loads(schema.metadata[b"h100sim"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert meta["scenario"] == "baseline" and meta["seed"] == 4
    assert meta["params_hash"] == manifest["params_hash"] and meta["version"] == manifest["version"]
    assert meta["units"]["spot_price"] == "USD/GPU-h" and meta["units"]["smuggled_cards"] == "cards/week"
    assert set(meta["units"]) == set(series.columns)
    assert schema.field("gpus_installed").metadata[b"unit"] == b"cards"
    assert schema.field("date").type.unit == "ns"
    agents = pq.read_schema(out / "agents.parquet")
    assert agents.field("cash").metadata[b"unit"] == b"USD"


def test_read_run_returns_the_series_by_date_with_their_context(written_run):
    out, series = written_run
    df = read_run(out)
    assert isinstance(df.index, pd.DatetimeIndex) and df.index.dtype == "datetime64[ns]"
    assert df.index.name == "date" and len(df) == len(series)
    assert df["teams_training"].dtype == "int64" and df["teams_finetuning"].dtype == "int64"
    pd.testing.assert_frame_equal(df.reset_index(drop=True),
                                  series.drop(columns="date").reset_index(drop=True),
                                  check_dtype=False, check_names=False)
    assert df.attrs["scenario"] == "baseline" and df.attrs["seed"] == 4
    assert df.attrs["params"]["openweights.pace"] == 2.0 and df.attrs["overrides"] == {"pace": 2.0}
    assert df.attrs["units"]["lead_time_weeks"] == "weeks"
    # outcomes read the frame as they read m.series()
    assert outcomes(df, SHORT) == outcomes(series, SHORT)


def test_read_run_reads_a_file_written_without_metadata(written_run, tmp_path):
    out, series = written_run
    old = tmp_path / "old"
    old.mkdir()
    series.to_parquet(old / "series.parquet", index=False)
    (old / "manifest.json").write_text((out / "manifest.json").read_text())
    df = read_run(old)
    assert df.index.dtype == "datetime64[ns]" and df.attrs["seed"] == 4
    assert df.attrs["units"]["spot_price"] == "USD/GPU-h"


def test_read_run_of_a_directory_without_a_run_says_so(tmp_path):
    with pytest.raises(InputError, match=r"holds no series\.parquet"):
        read_run(tmp_path)
