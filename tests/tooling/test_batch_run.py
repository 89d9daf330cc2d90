"""`mesa.batch_run` on the model as Mesa users run it: every week, the last one included, each
row labelled with its own week, seeds as a parameter list, and the same numbers as a single run.
"""

from __future__ import annotations

import mesa
import pandas as pd
import pytest

from experiments.batch import BatchMarket
from model import H100Market, InputError, release_model

END = "2023-02-27"  # a short run: 21 weeks from 2022-10-03


def single_run(seed: int, **overrides) -> pd.DataFrame:
    m = H100Market(seed=seed, end=END, **overrides).run_to_end()
    try:
        return m.series()
    finally:
        release_model(m)


def batch(parameters, **kw) -> pd.DataFrame:
    return pd.DataFrame(mesa.batch_run(BatchMarket, parameters=parameters, number_processes=1,
                                       display_progress=False, **kw))


def test_every_week_is_reported_with_its_own_step_and_the_numbers_of_a_single_run():
    rows = batch({"seed": [0, 1], "end": END}, data_collection_period=1)
    for seed in (0, 1):
        got = rows[rows["seed"] == seed].reset_index(drop=True)
        want = single_run(seed)
        assert list(got["Step"]) == list(range(len(want)))  # 0..N, the last week included
        assert got["date"].iloc[-1] == want["date"].iloc[-1].date()
        for col in ("spot_price", "gpus_installed", "lead_time_weeks", "teams_training"):
            pd.testing.assert_series_equal(got[col], want[col].reset_index(drop=True),
                                           check_names=False, check_dtype=False)
    # the seeds give different runs
    a, b = (rows[rows["seed"] == s]["gpus_installed"].to_numpy() for s in (0, 1))
    assert (a != b).any()


def test_the_default_period_reports_the_last_week_as_the_end():
    rows = batch({"seed": 3, "end": END, "packaging_multiplier": [1.0, 2.0]})
    want = {mult: single_run(3, packaging_multiplier=mult) for mult in (1.0, 2.0)}
    assert len(rows) == 2
    for _, row in rows.iterrows():
        last = want[row["packaging_multiplier"]].iloc[-1]
        assert row["Step"] == len(want[row["packaging_multiplier"]]) - 1
        assert row["date"] == last["date"].date()
        assert row["gpus_installed"] == last["gpus_installed"]


def test_max_steps_is_the_last_step_reported():
    rows = batch({"seed": 0, "end": END}, data_collection_period=1, max_steps=5)
    assert list(rows["Step"]) == [0, 1, 2, 3, 4, 5]
    pd.testing.assert_series_equal(rows["spot_price"], single_run(0)["spot_price"].iloc[:6]
                                   .reset_index(drop=True), check_names=False)


def test_plain_h100market_loses_the_last_week_in_mesa_3_3():
    """Why BatchMarket exists (Mesa issue #2514): if this starts failing, Mesa reads every row
    and BatchMarket can go."""
    rows = pd.DataFrame(mesa.batch_run(H100Market, parameters={"seed": 0, "end": END},
                                       data_collection_period=1, number_processes=1,
                                       display_progress=False))
    assert len(rows) == len(single_run(0)) - 1


def test_a_batch_without_seeds_is_refused_with_the_way_to_give_them():
    with pytest.raises(InputError, match=r"parameters=\{'seed': range"):
        BatchMarket(end=END)
