"""Model builders' weekly demand, posted for all builders at once (agents.creator.post_weekly_demand).

The rule is written over arrays for speed; these tests hold it to the per-builder rule it
replaces: posting builder by builder, or all at once, must give the same run to the last bit, and
a builder on its own (outside the model's week) posts its demand with ``post_demand``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import agents.creator as creator_mod
from agents.creator import post_weekly_demand
from model import H100Market, release_model
from model.mechanisms.vocabulary import LARGE, SMALL, TRAIN, TRAIN_MODE

STEPS = 70   # to mid-2024: shortage, reservations, own clusters and the first idle resale


def _run(seed: int, one_at_a_time: bool, monkeypatch) -> tuple[pd.DataFrame, list]:
    if one_at_a_time:
        def each(model, builders):
            for b in builders:
                post_weekly_demand(model, [b])
        monkeypatch.setattr(creator_mod, "post_weekly_demand", each)
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


def test_a_builder_on_its_own_posts_its_demand():
    m = H100Market(seed=5, end="2023-06-30")
    try:
        for _ in range(30):
            m.step()
        builder = next(b for b in m.population.creators if b.active and b.mode == TRAIN_MODE
                       and b.region == "US" and not b.build_own)
        before = len(m.hours.lines.arrays()["gpus"])
        m.hours.used = [0.0, 0.0, 0.0]
        builder.step()
        builder.post_demand()
        lines = m.hours.lines.arrays()
        mine = lines["owner"][before:] == builder.unique_id
        assert mine.any(), "a training builder stepped alone posted no line"
        assert (lines["use"][before:][mine] == TRAIN).any()
        # what it bids for plus what its reservations cover is what its run needs
        d = m.cfg.demand
        need = builder.job_gpus() * (d.training_duty_cycle + d.research_share)
        bid = float(lines["gpus"][before:][mine & (lines["use"][before:] == TRAIN)].sum())
        assert bid + m.hours.used[TRAIN] == pytest.approx(need, rel=1e-9)
    finally:
        release_model(m)


def test_idle_hours_are_offered_per_tier_at_the_builders_own_ask():
    """A builder with idle reserved or owned hours offers them on each tier through its reseller
    at max(running cost, last spot price of that tier x its adaptive multiple): each tier's own
    price and multiple (the two tiers clear at different prices)."""
    m = H100Market(seed=1, end="2024-12-31")
    try:
        for _ in range(100):
            m.step()
        m.hours.asks = type(m.hours.asks)(m.hours.asks.cols)   # an empty book for this check
        m.hours.spot_hist.append(np.array([1.3, 4.1]))         # distinct prices: [small, large]
        offered = False
        for b in m.population.creators:
            if not b.active or b.region == "CN":
                continue
            b.ask_mult[:] = (0.7, 1.9)              # distinct multiples per tier
            before = len(m.hours.asks.arrays()["gpus"])
            post_weekly_demand(m, [b])
            asks = m.hours.asks.arrays()
            for k in range(before, len(asks["gpus"])):
                tier = int(asks["tier"][k])
                own = max(m.cfg.cloud.opex_per_gpu_hour, m.hours.last_spot(tier) * b.ask_mult[tier])
                assert asks["holder"][k] == b.unique_id and asks["resale"][k] == 1
                assert asks["price"][k] == b.reseller.ask_price(own, tier)
                offered = True
        assert offered, "no builder had idle hours to offer in week 100"
        assert m.hours.last_spot(SMALL) == 1.3 and m.hours.last_spot(LARGE) == 4.1
    finally:
        release_model(m)
