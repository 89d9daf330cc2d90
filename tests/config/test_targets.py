"""Targets files: every statistic and operator on hand-made series, and refusal of bad files."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest

from experiments.ensemble import band
from experiments.targets import (
    STATS,
    Target,
    compute_stat,
    evaluate_target,
    load_targets,
    metric_series,
    parse_targets,
)
from model.errors import InputError

# The SERIES names of docs/CONTRACT.md; the model-backed test below checks they match model.SERIES.
SERIES = ["date", "spot_price", "ondemand_price", "reserved_price", "small_cluster_price",
          "large_cluster_price", "card_price_new", "card_price_secondary", "grey_card_price",
          "lead_time_weeks", "utilization", "gpus_installed", "gpu_hours_training",
          "gpu_hours_finetune", "gpu_hours_inference", "training_share", "teams_training",
          "teams_finetuning", "resold_hours", "smuggled_cards", "seized_cards", "new_card_orders",
          "new_capacity_irr"]
START, END = dt.date(2022, 10, 3), dt.date(2026, 12, 28)


def horizon(scenario: str):
    if scenario in ("baseline", "short"):
        return (START, END) if scenario == "baseline" else (START, dt.date(2023, 6, 30))
    raise InputError(f"unknown scenario {scenario!r}")


def frame(spot, start="2023-01-02", **cols) -> pd.DataFrame:
    """A weekly frame (Mondays) with spot_price and any other given columns."""
    dates = pd.date_range(start, periods=len(spot), freq="7D")
    data = {"date": dates, "spot_price": np.asarray(spot, dtype=float)}
    data.update({k: np.asarray(v, dtype=float) for k, v in cols.items()})
    return pd.DataFrame(data)


# weeks:   01-02 01-09 01-16 01-23 01-30 02-06 02-13 02-20
SPOT = [4.0, 6.0, 9.0, 7.0, 9.0, 3.0, 2.0, 5.0]
DF = frame(SPOT, card_price_new=[10, 10, 10, 10, 0, 20, 20, 20],
           card_price_secondary=[11, 12, 13, 14, 15, 10, 22, 30])
ALL = ("2023-01-01", "2023-03-01")


# --------------------------------------------------------------------------------------------
# compute_stat
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stat,expected", [
    ("max", 9.0), ("min", 2.0), ("mean", sum(SPOT) / 8), ("median", 5.5), ("sum", 45.0),
    ("first", 4.0), ("last", 5.0),
    # |log changes|: ln 1.5, ln 1.5, ln 9/7, ln 9/7, ln 3, ln 1.5, ln 2.5; the middle one is ln 1.5
    ("volatility", math.log(1.5)),
    ("trade_share", 1.0),
    ("date_of_max", dt.date(2023, 1, 16)),  # first of the two 9.0s
    ("date_of_min", dt.date(2023, 2, 13)),
])
def test_every_stat_on_the_whole_series(stat, expected):
    assert compute_stat(DF, "spot_price", ALL, stat) == pytest.approx(expected)


def test_window_is_inclusive_and_restricts_rows():
    w = (dt.date(2023, 1, 9), dt.date(2023, 1, 23))  # 6, 9, 7
    assert compute_stat(DF, "spot_price", w, "sum") == 22.0
    assert compute_stat(DF, "spot_price", w, "first") == 6.0
    assert compute_stat(DF, "spot_price", w, "last") == 7.0
    assert compute_stat(DF, "spot_price", ("2023-01-10", "2023-01-22"), "sum") == 9.0


def test_pct_change_with_window_and_base_stats():
    base = ("2023-01-02", "2023-01-09")     # 4, 6: mean 5, max 6
    now = ("2023-02-13", "2023-02-20")      # 2, 5: mean 3.5, min 2
    assert compute_stat(DF, "spot_price", now, "pct_change", base_window=base) == \
        pytest.approx(3.5 / 5 - 1)
    assert compute_stat(DF, "spot_price", now, "pct_change", base_window=base,
                        base_stat="max", window_stat="min") == pytest.approx(2 / 6 - 1)
    with pytest.raises(InputError, match="base_window"):
        compute_stat(DF, "spot_price", now, "pct_change")
    with pytest.raises(InputError, match="base_stat"):
        compute_stat(DF, "spot_price", now, "pct_change", base_window=base, base_stat="date_of_max")


def test_ratio_metric_skips_zero_denominator():
    r = metric_series(DF, "card_price_secondary / card_price_new")
    assert math.isnan(r.iloc[4])
    assert r.iloc[0] == pytest.approx(1.1)
    assert compute_stat(DF, "card_price_secondary / card_price_new", ALL, "max") == pytest.approx(1.5)
    assert compute_stat(DF, "card_price_secondary/card_price_new", ALL, "min") == pytest.approx(0.5)
    # the max of the ratio is not the ratio of the maxima
    assert compute_stat(DF, "card_price_secondary", ALL, "max") / \
        compute_stat(DF, "card_price_new", ALL, "max") == pytest.approx(1.5)


def test_nan_values_are_skipped_and_all_nan_gives_nan():
    df = frame([np.nan, 2.0, np.nan, 4.0])
    assert compute_stat(df, "spot_price", ALL, "first") == 2.0
    assert compute_stat(df, "spot_price", ALL, "mean") == 3.0
    empty = frame([np.nan, np.nan])
    assert math.isnan(compute_stat(empty, "spot_price", ALL, "max"))
    assert compute_stat(empty, "spot_price", ALL, "date_of_max") is None


def test_volatility_and_trade_share_by_hand():
    # weeks:        01-02 01-09 01-16 01-23 01-30 02-06 02-13 02-20
    df = frame([2.0, np.nan, 4.0, 6.0, 3.0, np.nan, np.nan, 12.0])
    # Changes need two consecutive weeks with a value: 4 -> 6 (ln 1.5) and 6 -> 3 (ln 2 in
    # absolute value); 2 .. 4 and 3 .. 12 jump over weeks without a trade and do not count.
    assert compute_stat(df, "spot_price", ALL, "volatility") == \
        pytest.approx((math.log(1.5) + math.log(2.0)) / 2)
    assert compute_stat(df, "spot_price", ALL, "trade_share") == pytest.approx(5 / 8)
    # the window restricts both: 01-16..01-30 is 4, 6, 3
    w = ("2023-01-16", "2023-01-30")
    assert compute_stat(df, "spot_price", w, "trade_share") == 1.0
    assert compute_stat(df, "spot_price", w, "volatility") == \
        pytest.approx((math.log(1.5) + math.log(2.0)) / 2)
    # a switch between $3 and $10 every week: |ln(10/3)| each week, whatever the level
    switch = frame([3.0, 10.0] * 4)
    assert compute_stat(switch, "spot_price", ALL, "volatility") == pytest.approx(math.log(10 / 3))
    assert compute_stat(frame([5.0] * 8), "spot_price", ALL, "volatility") == 0.0
    # no pair of consecutive weeks: NaN volatility; no value at all: trade share 0
    sparse = frame([1.0, np.nan, 2.0, np.nan])
    assert math.isnan(compute_stat(sparse, "spot_price", ALL, "volatility"))
    assert compute_stat(sparse, "spot_price", ALL, "trade_share") == 0.5
    empty = frame([np.nan, np.nan])
    assert compute_stat(empty, "spot_price", ALL, "trade_share") == 0.0
    assert math.isnan(compute_stat(empty, "spot_price", ALL, "volatility"))
    # as the window statistic of a pct_change: trade share 5/8 over the whole series vs 1/2
    # over its first two weeks
    assert compute_stat(df, "spot_price", ALL, "pct_change", base_window=("2023-01-02", "2023-01-09"),
                        base_stat="trade_share", window_stat="trade_share") == \
        pytest.approx((5 / 8) / (1 / 2) - 1)


def test_window_without_rows_and_unknown_names_are_refused():
    with pytest.raises(InputError, match="holds no row"):
        compute_stat(DF, "spot_price", ("2023-01-03", "2023-01-05"), "max")
    with pytest.raises(InputError, match="did you mean 'spot_price'"):
        compute_stat(DF, "spot_prise", ALL, "max")
    with pytest.raises(InputError, match="did you mean 'median'"):
        compute_stat(DF, "spot_price", ALL, "medain")


def test_datetime_index_frames_work_too():
    indexed = DF.set_index("date")
    assert compute_stat(indexed, "spot_price", ALL, "max") == 9.0


# --------------------------------------------------------------------------------------------
# operators and ensemble evaluation
# --------------------------------------------------------------------------------------------
def target(**kw) -> Target:
    base = dict(id="t", metric="spot_price", window=(dt.date(2023, 1, 1), dt.date(2023, 3, 1)),
                stat="max", op=">=", value=5.0, source="test")
    base.update(kw)
    return Target(**base)


@pytest.mark.parametrize("op,value,inside,outside", [
    (">=", 5.0, [5.0, 7.0], [4.999, math.nan, None]),
    ("<=", 5.0, [5.0, -1.0], [5.001, math.nan]),
    ("between", (6.0, 12.0), [6.0, 9.0, 12.0], [5.99, 12.01, math.nan]),
])
def test_numeric_ops_are_inclusive(op, value, inside, outside):
    t = target(op=op, value=value)
    assert all(t.met_by(v) for v in inside)
    assert not any(t.met_by(v) for v in outside)


def test_date_ops():
    d = dt.date(2023, 6, 1)
    assert target(stat="date_of_max", op=">=", value=d).met_by(dt.date(2023, 6, 1))
    assert not target(stat="date_of_max", op=">=", value=d).met_by(dt.date(2023, 5, 31))
    assert target(stat="date_of_max", op="<=", value=d).met_by(dt.date(2023, 5, 31))
    between = target(stat="date_of_max", op="between", value=(d, dt.date(2023, 9, 1)))
    assert between.met_by(dt.date(2023, 7, 1)) and not between.met_by(dt.date(2023, 9, 2))
    assert not between.met_by(None)


def test_evaluate_uses_the_median_over_seeds():
    frames = [frame([1, 4]), frame([1, 6]), frame([1, 7]), frame([1, 12]), frame([1, 13])]
    res = evaluate_target(target(op="between", value=(6.0, 12.0)), frames)
    assert res.values == [4.0, 6.0, 7.0, 12.0, 13.0]
    assert res.median == 7.0 and res.passed
    assert res.seed_pass_share == pytest.approx(3 / 5)
    assert res.p10 == pytest.approx(np.quantile([4, 6, 7, 12, 13], 0.1))
    assert res.p90 == pytest.approx(np.quantile([4, 6, 7, 12, 13], 0.9))
    # the median misses although one seed meets the target
    res = evaluate_target(target(op=">=", value=10.0), frames[:3] + [frame([1, 11])])
    assert not res.passed and res.seed_pass_share == 0.25
    j = res.to_json()
    assert set(j) == {"id", "metric", "median", "p10", "p90", "target", "passed", "seed_pass_share"}
    assert j["passed"] is False and j["target"]["value"] == 10.0
    json.dumps(j)


def test_evaluate_date_stat_and_nan_seeds():
    frames = [frame([1, 5, 2]), frame([1, 2, 5]), frame([9, 2, 5])]
    t = target(stat="date_of_max", op="<=", value=dt.date(2023, 1, 9))
    res = evaluate_target(t, frames)
    assert res.values == [dt.date(2023, 1, 9), dt.date(2023, 1, 16), dt.date(2023, 1, 2)]
    assert res.median == dt.date(2023, 1, 9) and res.passed
    assert res.to_json()["median"] == "2023-01-09"
    allnan = evaluate_target(target(), [frame([np.nan]), frame([np.nan])])
    assert not allnan.passed and allnan.seed_pass_share == 0.0
    assert allnan.to_json()["median"] is None


def test_describe():
    assert target(op="between", value=(6.0, 12.0)).describe() == "between 6 and 12"
    assert target(op=">=", value=26.0).describe() == ">= 26"
    assert target(op=">=", value=250000.0).describe() == ">= 250,000"


def test_band_median_and_percentiles_per_date():
    frames = [frame([float(i), 10.0 * i]) for i in range(11)]  # 0..10 and 0..100
    b = band(frames, "spot_price")
    assert list(b.columns) == ["median", "p10", "p90"]
    assert b["median"].tolist() == [5.0, 50.0]
    assert b["p10"].tolist() == pytest.approx([1.0, 10.0])
    assert b["p90"].tolist() == pytest.approx([9.0, 90.0])
    assert isinstance(b.index, pd.DatetimeIndex)


# --------------------------------------------------------------------------------------------
# Parsing targets files
# --------------------------------------------------------------------------------------------
GOOD = """
title = "test"
[[target]]
id = "spot-peak"
metric = "spot_price"
window = ["2023-04-01", "2023-12-31"]
stat = "max"
op = "between"
value = [6.0, 12]
source = "DOMAIN.md §6"

[[target]]
id = "grey-premium"
metric = "grey_card_price/card_price_new"
window = [2023-07-01, 2023-12-31]
stat = "mean"
op = ">="
value = 1.3
source = "DOMAIN.md §6"
scenario = "baseline"

[[target]]
id = "peak-date"
metric = "lead_time_weeks"
window = ["2023-01-01", "2024-12-31"]
stat = "date_of_max"
op = "between"
value = ["2023-06-01", 2024-03-31]
source = "DOMAIN.md §4"

[[target]]
id = "fall"
metric = "spot_price"
window = ["2025-01-01", "2025-12-31"]
stat = "pct_change"
base_window = ["2023-07-01", "2023-12-31"]
base_stat = "max"
op = "<="
value = -0.4
source = "DOMAIN.md §1"
"""


def parse(text: str, path: str = "t.toml"):
    return parse_targets(text, path=path, series=SERIES, horizon=horizon)


def test_good_file_parses_to_typed_targets(tmp_path):
    p = tmp_path / "good.toml"
    p.write_text(GOOD, encoding="utf-8")
    ts = load_targets(p, series=SERIES, horizon=horizon)
    assert [t.id for t in ts] == ["spot-peak", "grey-premium", "peak-date", "fall"]
    assert ts[0].window == (dt.date(2023, 4, 1), dt.date(2023, 12, 31))
    assert ts[0].value == (6.0, 12.0) and ts[0].scenario == "baseline"
    assert ts[1].metric == "grey_card_price / card_price_new" and ts[1].value == 1.3
    assert ts[2].value == (dt.date(2023, 6, 1), dt.date(2024, 3, 31)) and ts[2].is_date
    assert ts[3].base_window == (dt.date(2023, 7, 1), dt.date(2023, 12, 31))
    assert ts[3].base_stat == "max" and ts[3].window_stat == "mean"


def one(**fields) -> str:
    """A file with one target; a field given as None is left out."""
    base = {"id": '"x"', "metric": '"spot_price"', "window": '["2023-04-01", "2023-12-31"]',
            "stat": '"max"', "op": '">="', "value": "6.0", "source": '"s"'}
    base.update(fields)
    lines = [f"{k} = {v}" for k, v in base.items() if v is not None]
    return "[[target]]\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize("text,needles", [
    (one(metirc='"spot_price"'), ["'x'", "unknown field 'metirc'", "did you mean 'metric'"]),
    (one(metric='"spot_prise"'), ["'x'", "metric", "spot_prise", "did you mean 'spot_price'"]),
    (one(metric='"spot_price / card_prise_new"'), ["'x'", "card_prise_new",
                                                    "did you mean 'card_price_new'"]),
    (one(metric='"a / b / c"'), ["'x'", "metric", "a / b"]),
    (one(metric='"date"'), ["'x'", "metric", "unknown series 'date'"]),
    (one(stat='"maximum"'), ["'x'", "stat = 'maximum'", "did you mean 'max'", "median"]),
    (one(op='"=="'), ["'x'", "op = '=='", "'between'"]),
    (one(window='["2021-01-01", "2023-12-31"]'), ["'x'", "window", "run horizon", "2022-10-03"]),
    (one(window='["2023-01-01", "2027-06-30"]'), ["'x'", "window", "2026-12-28"]),
    (one(window='["2023-04-01", "2023-12-31"]', scenario='"short"'), ["'x'", "window", "short",
                                                                      "2023-06-30"]),
    (one(window='["2023-12-31", "2023-04-01"]'), ["'x'", "window", "on or before"]),
    (one(window='["2023-04-01"]'), ["'x'", "window", "pair"]),
    (one(window='["2023-04-01", "April"]'), ["'x'", "window", "ISO dates"]),
    (one(window='[2023-04-01T10:00:00, 2023-12-31]'), ["'x'", "window", "time of day"]),
    (one(value='"six"'), ["'x'", "value = 'six'", "number"]),
    (one(value="true"), ["'x'", "value = True", "number"]),
    (one(value="[6.0, 12.0]"), ["'x'", "value", "one number"]),
    (one(op='"between"', value="6.0"), ["'x'", "value = 6.0", "[low, high]"]),
    (one(op='"between"', value="[12.0, 6.0]"), ["'x'", "low <= high"]),
    (one(op='"between"', value="[1.0, 2.0, 3.0]"), ["'x'", "value", "pair"]),
    (one(stat='"date_of_max"', value="6.0"), ["'x'", "value = 6.0", "ISO dates"]),
    (one(stat='"date_of_max"', value='"2030-01-01"'), ["'x'", "value", "run horizon"]),
    (one(source=None), ["'x'", "missing field 'source'"]),
    (one(source='""'), ["'x'", "source"]),
    (one(scenario='"basline"'), ["'x'", "scenario = 'basline'", "unknown scenario"]),
    (one(base_window='["2023-01-01", "2023-02-01"]'), ["'x'", "base_window", "pct_change"]),
    (one(stat='"pct_change"'), ["'x'", "missing field 'base_window'"]),
    (one(stat='"pct_change"', base_window='["2023-01-01", "2023-02-01"]', base_stat='"date_of_max"'),
     ["'x'", "base_stat", "'mean'"]),
    (one() + one(), ["'x'", "id is used twice"]),
    (one(id='""'), ["target #1", "id"]),
    ("", ["no targets"]),
    ("targets = 1\n", ["unknown top-level key 'targets'", "did you mean 'target'"]),
    ('title = "a"\n[[target]]\nid = "x"\nmetric = \n', ["malformed TOML", "line"]),
    ('[[target]]\nid = "x"\nvalue = [1, 2\n', ["malformed TOML"]),
])
def test_bad_targets_are_refused_with_a_precise_message(text, needles):
    with pytest.raises(InputError) as err:
        parse(text, path="bad.toml")
    msg = str(err.value)
    assert msg.startswith("bad.toml")
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"


def test_missing_file_and_directory_are_refused(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_targets(tmp_path / "nope.toml", series=SERIES, horizon=horizon)
    with pytest.raises(InputError, match="is a directory"):
        load_targets(tmp_path, series=SERIES, horizon=horizon)
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe[[target]]")
    with pytest.raises(InputError, match="UTF-8"):
        load_targets(bad, series=SERIES, horizon=horizon)


def test_every_stat_is_accepted_in_a_file():
    for stat in STATS:
        extra = {"base_window": '["2023-01-01", "2023-03-31"]'} if stat == "pct_change" else {}
        value = '"2023-06-01"' if stat.startswith("date_of") else "1.0"
        (t,) = parse(one(stat=f'"{stat}"', value=value, **extra))
        assert t.stat == stat


def test_contract_series_names_match_the_model():
    from model import SERIES as MODEL_SERIES

    assert list(MODEL_SERIES) == SERIES


def test_nan_quantile_matches_numpy_and_handles_infinity():
    from experiments.targets import nan_quantile

    rng = np.random.default_rng(1)
    data = rng.normal(size=(50, 7))
    data[rng.random(data.shape) < 0.2] = np.nan
    data[3] = np.nan
    for q in (0.1, 0.5, 0.9):
        with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
            expected = np.nanquantile(data, q, axis=1)
        np.testing.assert_allclose(nan_quantile(data, q, axis=1), expected, equal_nan=True)
    inf = np.inf
    assert nan_quantile([inf, inf], 0.5) == inf
    assert nan_quantile([5.0, inf], 0.5) == inf
    assert nan_quantile([5.0, inf, inf], 0.1) == inf  # between 5 and inf: the limit
    assert nan_quantile([5.0, 6.0, inf], 0.5) == 6.0
    assert nan_quantile([-inf, 1.0, np.nan], 0.5) == -inf
    assert nan_quantile([np.nan], 0.5) != nan_quantile([np.nan], 0.5)  # NaN
    res = evaluate_target(target(op=">=", value=26.0), [frame([1, inf]), frame([1, inf])])
    assert res.median == inf and res.passed and res.to_json()["median"] is None
