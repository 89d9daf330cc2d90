"""Inference on the other parts (L40S, MI300X, TPUs): a competing supply with its own limit, not a
cap on every bid (``HoursMarket.serve_on_other_parts``), worked by hand on the real model's books."""

from __future__ import annotations

import numpy as np
import pytest

from model import H100Market
from model.mechanisms.vocabulary import FINETUNE, HOURS_PER_WEEK, INFERENCE, SMALL, TRAIN
from model.population import release_model


@pytest.fixture
def market():
    m = H100Market(seed=3)
    yield m
    release_model(m)


def lines_for(m, uses, gpus, limits):
    """Three buyers' lines (the first three clouds' accounts stand in for them), funded."""
    buyers = np.array([c.account for c in m.population.clouds[:3]], dtype=np.int64)
    for b in buyers:
        m.cash.transfer(m.acct_investors, int(b), 1e9, "test")
    return dict(
        buyer=buyers,
        owner=np.full(3, -1),
        tier=np.full(3, SMALL),
        use=np.array(uses),
        gpus=np.array(gpus, dtype=float),
        limit=np.array(limits, dtype=float),
    )


def test_inference_buyers_who_value_an_hour_above_the_parts_cost_share_their_capacity(market):
    m = market
    m.drivers.alt_cost, m.drivers.alt_capacity = 1.5, 300.0
    m.hours.spot_hist.append(np.array([2.0, 2.5]))  # an H100 small-cluster hour: ~2 $ (4-week mean)
    m.hours._expected = None
    lines = lines_for(m, [INFERENCE, INFERENCE, INFERENCE], [400.0, 200.0, 500.0], [2.0, 1.6, 1.2])
    before = m.cash[m.acct_other_parts]
    m.hours.serve_on_other_parts(lines)
    # eligible: the first two (limit >= 1.5), 600 GPUs wanted for 300 of capacity: half each
    assert lines["gpus"].tolist() == pytest.approx([200.0, 100.0, 500.0])
    assert m.hours.alt_gpus == pytest.approx(300.0)
    assert m.cash[m.acct_other_parts] - before == pytest.approx(300 * HOURS_PER_WEEK * 1.5)


def test_other_parts_serve_only_inference_and_only_when_cheaper_than_an_h100_hour(market):
    m = market
    m.drivers.alt_cost, m.drivers.alt_capacity = 1.5, 1e6
    lines = lines_for(m, [TRAIN, FINETUNE, INFERENCE], [100.0, 100.0, 100.0], [9.0, 9.0, 9.0])
    m.hours.spot_hist.append(np.array([1.0, 1.0]))  # H100 hours are the cheaper: nobody moves
    m.hours.spot_hist.extend([np.array([1.0, 1.0])] * 3)
    m.hours._expected = None
    m.hours.serve_on_other_parts(lines)
    assert lines["gpus"].tolist() == [100.0, 100.0, 100.0] and m.hours.alt_gpus == 0.0
    m.hours.spot_hist.extend([np.array([3.0, 3.0])] * 4)
    m.hours._expected = None
    m.hours.serve_on_other_parts(lines)  # now they are dearer: only the inference line moves
    assert lines["gpus"].tolist() == [100.0, 100.0, 0.0]
