"""Reseller: the ask it lists a holder's idle hours at, by style, and the fixed-rate listing."""

from __future__ import annotations

import pytest

from model.mechanisms.vocabulary import LARGE, SMALL


@pytest.mark.parametrize("index, style, fee", [(0, "fixed", 0.15), (1, "auction", 0.10),
                                                (2, "marketplace", 0.05), (3, "fixed", 0.15)])
def test_styles_rotate_with_the_index_and_set_the_fee(world, index, style, fee):
    r = world.add_reseller(index)
    assert (r.style, r.fee) == (style, pytest.approx(fee))     # 0.1 x 1.5, 1.0, 0.5


def test_fixed_rate_listing_never_sells_below_its_listed_rate(world):
    fixed = world.add_reseller(0)
    assert fixed.listing.tolist() == [4.0, 4.0]                # starts at the launch price
    assert fixed.ask_price(1.5, LARGE) == 4.0
    assert fixed.ask_price(5.0, SMALL) == 5.0


@pytest.mark.parametrize("index", [1, 2])
def test_auction_and_marketplace_pass_the_holders_ask_through(world, index):
    assert world.add_reseller(index).ask_price(1.5, LARGE) == 1.5


def test_fixed_listing_moves_a_quarter_of_the_way_to_spot_each_month(world):
    fixed = world.add_reseller(0)
    world.hours.last = [2.0, 3.0]
    world.steps = 8
    fixed.step()
    assert fixed.listing.tolist() == pytest.approx([4.0 + 0.25 * (2.0 - 4.0), 4.0 + 0.25 * (3.0 - 4.0)])
    world.steps = 9                                            # not a month's turn: unchanged
    fixed.step()
    assert fixed.listing.tolist() == pytest.approx([3.5, 3.75])
    world.steps = 12
    fixed.step()
    assert fixed.listing.tolist() == pytest.approx([3.5 - 0.25 * 1.5, 3.75 - 0.25 * 0.75])


def test_other_styles_keep_no_listing(world):
    auction = world.add_reseller(1)
    world.hours.last = [2.0, 3.0]
    auction.step()
    assert auction.listing.tolist() == [4.0, 4.0]
