"""Which generation a buyer takes: the cost of a unit of useful work on each part, queue
included (``model.mechanisms.products``), worked by hand."""

from __future__ import annotations

import pytest

from model.mechanisms.products import cost_of_work, prefers_nextgen

# -- which generation a buyer takes ---------------------------------------------------------------
def test_cost_of_work_is_price_per_unit_of_work_plus_the_hours_lost_waiting():
    # 14,000 $ per H100-eq, 1.4x the work for training: 10,000 $; 10 weeks x 168 h x 85% x 2 $/h
    assert cost_of_work(14_000.0, 1.4, 10.0, 2.0) == pytest.approx(10_000.0 + 2_856.0)


def test_frontier_training_takes_the_next_generation_when_its_work_is_cheaper_queue_included():
    # H100: 30,000 $ now (3 weeks); next generation: 18,000 $ per eq, 20 weeks away, 2 $/h hours
    h100 = cost_of_work(30_000.0, 1.0, 3.0, 2.0)          # 30,857
    training = cost_of_work(18_000.0, 1.4, 20.0, 2.0)      # 12,857 + 5,712 = 18,569
    assert training < h100
    assert prefers_nextgen(30_000.0, 3.0, 18_000.0, 20.0, 1.4, 2.0)


def test_scarcity_of_the_next_generation_sends_buyers_back_to_hopper():
    # the same prices, but a year's queue for the new part and hours worth 8 $/h
    assert not prefers_nextgen(30_000.0, 3.0, 18_000.0, 52.0, 1.4, 8.0)
    # with a 45-week queue and hours worth 2.5 $/h (357 $ a week lost): training still gains
    # (12,857 + 16,065 < 30,000 + 1,071), fine-tuning, with no extra work per H100-eq, does not
    # (18,000 + 16,065 > 31,071)
    assert prefers_nextgen(30_000.0, 3.0, 18_000.0, 45.0, 1.4, 2.5)
    assert not prefers_nextgen(30_000.0, 3.0, 18_000.0, 45.0, 1.0, 2.5)


def test_no_next_generation_yet_means_hopper():
    assert not prefers_nextgen(30_000.0, 3.0, float("nan"), float("nan"), 1.4, 2.0)
