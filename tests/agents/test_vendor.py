"""Vendor: allocation weights, the price of each part, and the quarterly review of the list."""

from __future__ import annotations

import pytest

from agents.vendor import Vendor


@pytest.fixture
def vendor(world):
    return Vendor(world)


@pytest.mark.parametrize("favoured, own_chips, weight", [
    (False, False, 1.0), (True, False, 1.5), (False, True, 0.6), (True, True, 1.5 * 0.6)])
def test_weight_of_favoured_and_own_chip_customers(world, vendor, favoured, own_chips, weight):
    buyer = world.add_cloud(favoured=favoured, own_chips=own_chips)
    assert vendor.weight_of(buyer) == pytest.approx(weight)


@pytest.mark.parametrize("part, price", [
    ("H100 SXM5", 30_000.0), ("H800", 30_000.0),   # as much work as an H100
    ("H100 PCIe", 0.7 * 30_000),
    ("H20", 0.35 * 30_000),                         # 0.15 of the work, priced at the 0.35 floor
    ("B200", 2.5 * 30_000)])
def test_price_of_a_part_by_the_work_it_does(world, vendor, part, price):
    assert vendor.price_of(world.catalog[part], 30_000.0) == pytest.approx(price)


def test_review_raises_the_list_while_the_queue_is_long_up_to_the_cap(world, vendor):
    world.steps = 13
    vendor.review_prices(20.0)                    # 20 weeks > the 12-week target
    assert vendor.multiple == pytest.approx(1.08)
    assert vendor.h100_price() == pytest.approx(33_750 * 1.08)
    world.steps = 26
    vendor.review_prices(20.0)                    # 1.08 * 1.08 = 1.1664 > the 1.16 cap
    assert vendor.multiple == pytest.approx(1.16)


def test_review_cuts_the_list_when_the_queue_is_short_down_to_the_floor(world, vendor):
    world.steps = 13
    vendor.review_prices(5.0)                     # under half the target (6 weeks)
    assert vendor.multiple == pytest.approx(0.92)
    vendor.multiple = 0.62
    vendor.review_prices(0.0)
    assert vendor.multiple == pytest.approx(0.6)


@pytest.mark.parametrize("step, lead", [(13, 8.0), (13, 6.0), (13, 12.0), (14, 20.0), (12, 0.0)])
def test_review_holds_between_half_and_the_target_and_off_review_weeks(world, vendor, step, lead):
    world.steps = step
    vendor.review_prices(lead)
    assert vendor.multiple == 1.0
