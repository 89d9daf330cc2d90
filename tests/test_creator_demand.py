"""Model builders' weekly demand, posted for all builders at once (agents.creator.post_weekly_demand).

The rule is written over arrays for speed; these tests hold it to the per-builder rule it
replaces: posting builder by builder, or all at once, must give the same run to the last bit, and
a builder stepped on its own (outside the model's week) still posts its demand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import model.market as market_mod
from agents.creator import TRAIN_MODE, post_weekly_demand
from model import H100Market, release_model
from model.hours_market import TRAIN

STEPS = 70   # to mid-2024: shortage, reservations, own clusters and the first idle resale


def _run(seed: int, one_at_a_time: bool, monkeypatch) -> tuple[pd.DataFrame, list]:
    if one_at_a_time:
        def each(model, builders):
            for b in builders:
                post_weekly_demand(model, [b])
        monkeypatch.setattr(market_mod, "post_weekly_demand", each)
    m = H100Market(seed=seed, end="2024-02-05")
    try:
        for _ in range(STEPS):
            m.step()
        return m.series(), list(m.trade_log)
    finally:
        release_model(m)
        monkeypatch.undo()


@pytest.mark.parametrize("seed", [2])
def test_all_at_once_equals_one_builder_at_a_time(seed, monkeypatch):
    batch, batch_log = _run(seed, one_at_a_time=False, monkeypatch=monkeypatch)
    single, single_log = _run(seed, one_at_a_time=True, monkeypatch=monkeypatch)
    pd.testing.assert_frame_equal(batch, single, check_exact=True)
    assert batch_log == single_log
    # the run got far enough to exercise the rule: training bids, resold hours, own fleets
    assert batch["gpu_hours_training"].max() > 0 and batch["resold_hours"].max() > 0


def test_a_builder_stepped_alone_bids_at_once():
    m = H100Market(seed=5, end="2023-06-30")
    try:
        for _ in range(30):
            m.step()
        builder = next(b for b in m.creators if b.active and b.mode == TRAIN_MODE
                       and b.region == "US" and not b.build_own)
        before = len(m.demand.arrays()["gpus"])
        m._used = [0.0, 0.0, 0.0]
        builder.step()
        lines = m.demand.arrays()
        mine = lines["owner"][before:] == builder.unique_id
        assert mine.any(), "a training builder stepped alone posted no line"
        assert (lines["use"][before:][mine] == TRAIN).any()
        # what it bids for plus what its reservations cover is what its run needs
        d = m.cfg.demand
        need = builder.job_gpus() * (d.training_duty_cycle + d.research_share)
        bid = float(lines["gpus"][before:][mine & (lines["use"][before:] == TRAIN)].sum())
        assert bid + m._used[TRAIN] == pytest.approx(need, rel=1e-9)
    finally:
        release_model(m)


def test_idle_hours_are_offered_per_tier_at_the_builders_own_ask():
    """A builder with idle reserved or owned hours offers them on each tier through its reseller
    at max(running cost, last spot price of that tier x its adaptive multiple): each tier's own
    price and multiple (the two tiers clear at different prices)."""
    from model.contracts import LARGE, SMALL

    m = H100Market(seed=1, end="2024-12-31")
    try:
        for _ in range(100):
            m.step()
        m.supply = type(m.supply)(m.supply.cols)   # an empty book for this check
        m.spot_hist.append(np.array([1.3, 4.1]))    # distinct prices: [small, large]
        offered = False
        for b in m.creators:
            if not b.active or b.region == "CN":
                continue
            b.ask_mult[:] = (0.7, 1.9)              # distinct multiples per tier
            before = len(m.supply.arrays()["gpus"])
            post_weekly_demand(m, [b])
            asks = m.supply.arrays()
            for k in range(before, len(asks["gpus"])):
                tier = int(asks["tier"][k])
                own = max(m.cfg.cloud.opex_per_gpu_hour, m.last_spot(tier) * b.ask_mult[tier])
                assert asks["holder"][k] == b.unique_id and asks["resale"][k] == 1
                assert asks["price"][k] == b.reseller.ask_price(own, tier)
                offered = True
        assert offered, "no builder had idle hours to offer in week 100"
        assert m.last_spot(SMALL) == 1.3 and m.last_spot(LARGE) == 4.1
    finally:
        release_model(m)
