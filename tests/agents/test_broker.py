"""GreyBroker: its ask, its markup, its cost basis, its sourcing and its used-card bid, by hand.

Pinned constants: 4% seizure risk (odds multiplier 1), base markup 15%, 60 cards a week sourced,
landed cost 2% over the purchase price, a sourcing review every 4 weeks.
"""

from __future__ import annotations

import pytest
from support.small_world import Order, Quote, SmallWorld

from model.mechanisms.vocabulary import H100

LANDED = 1.02


@pytest.fixture
def broker(world):
    b = world.add_broker(cash=50e6)       # cost basis: the 30,000 $ list price when founded
    b.offset = 0
    world.steps = 8                       # a sourcing review week
    return b


def test_ask_covers_landed_cost_seizure_risk_and_markup(broker):
    assert broker.p_seize() == pytest.approx(0.04)
    assert broker.ask() == pytest.approx(30_000 * LANDED * 1.15 / 0.96)       # 36,656.25 $


def test_ask_rises_with_the_odds_of_seizure():
    world = SmallWorld(seizure_odds_multiplier=3.0)
    broker = world.add_broker()
    p = (0.04 / 0.96 * 3) / (1 + 0.04 / 0.96 * 3)                            # odds x3: 1/9
    assert broker.p_seize() == pytest.approx(1 / 9)
    assert broker.ask() == pytest.approx(30_000 * LANDED * 1.15 / (1 - p))    # 39,588.75 $


def test_on_sale_raises_markup_on_sell_out_cuts_it_when_unsold(broker):
    broker.on_sale(1.0)
    assert broker.markup == pytest.approx(0.15 * 1.05 + 0.01)                # 0.1675
    broker.on_sale(0.7)                                                      # most sold: unchanged
    assert broker.markup == pytest.approx(0.1675)
    broker.markup = 0.3
    broker.on_sale(0.3)
    assert broker.markup == pytest.approx(0.27)
    broker.markup = 0.16
    broker.on_sale(0.0)
    assert broker.markup == pytest.approx(0.15)                              # not below the base
    broker.markup = 1.95
    broker.on_sale(1.0)
    assert broker.markup == pytest.approx(2.0)                               # nor above 200%


def test_on_purchase_averages_the_cost_basis(world, broker):
    broker.on_purchase(50, 36_000.0)         # no stock yet: the new price
    assert broker.cost_basis == pytest.approx(36_000.0)
    world.give_cards(broker, 100)
    broker.cost_basis = 30_000.0
    broker.on_purchase(50, 36_000.0)
    assert broker.cost_basis == pytest.approx((100 * 30_000 + 50 * 36_000) / 150)   # 32,000 $


def _stocked(world, broker, demand_seen=1000.0, lead=10.0) -> None:
    world.give_cards(broker, 100)
    world.new_cards.backlog[broker.account] = 200.0
    world.new_cards.lead_time_weeks = lead
    broker.on_demand_seen(demand_seen)


def test_step_sources_through_a_shell_buys_used_and_asks(world, broker):
    _stocked(world, broker)
    broker.step()
    # a lead time (10 weeks) plus a review (4) of sourcing, as far as buyers asked (2 x 1,000),
    # less the 100 in stock and the 200 on order
    assert world.new_cards.orders == [Order(broker, H100, pytest.approx(60 * 14 - 300), False, "ROW", True)]
    limit = 40_000 * 0.96 / 1.15 / LANDED      # the last grey deal less seizure, markup, landing
    assert world.used_cards.bids == [Quote(broker, pytest.approx(60.0), pytest.approx(limit))]
    assert world.grey.asks == [Quote(broker, 100, pytest.approx(30_000 * LANDED * 1.15 / 0.96))]
    assert broker.demand_seen == pytest.approx(900.0)


def test_step_caps_the_lead_time_it_covers_at_a_year(world, broker):
    _stocked(world, broker, demand_seen=5000.0, lead=100.0)
    broker.step()
    assert world.new_cards.orders[0].qty == pytest.approx(60 * (52 + 4) - 300)


@pytest.mark.parametrize("case", ["caught", "barred", "off week", "no demand"])
def test_step_no_order(case):
    world = SmallWorld(end_user_check_catch=1.0 if case == "caught" else 0.0)
    broker = world.add_broker(cash=50e6)
    broker.offset = 0
    world.steps = 9 if case == "off week" else 8
    _stocked(world, broker, demand_seen=0.0 if case == "no demand" else 1000.0)
    if case == "barred":
        world.rules.barred.add((H100, "ROW"))
    broker.step()
    assert world.new_cards.orders == []
    assert broker.caught == (1 if case == "caught" else 0)
    assert len(world.used_cards.bids) == (0 if case == "no demand" else 1)
    assert len(world.grey.asks) == 1          # stock is always offered


def test_used_card_bid_is_limited_by_cash_and_credit(world):
    broker = world.add_broker(cash=1e6)
    broker.on_demand_seen(1000.0)
    broker.step()
    limit = 40_000 * 0.96 / 1.15 / LANDED
    assert world.used_cards.bids == [Quote(broker, pytest.approx(1e6 / limit), pytest.approx(limit))]
    assert world.grey.asks == []              # nothing in stock


def test_used_card_bid_only_for_what_buyers_asked_beyond_the_brokers_stock(world):
    broker = world.add_broker(cash=1e9)
    world.give_cards(broker, 4)
    broker.on_demand_seen(10.0)               # buyers asked for 10; it holds 4
    broker.step()
    assert [q.qty for q in world.used_cards.bids] == pytest.approx([6.0])


def test_used_card_bid_never_above_a_new_card_when_the_vendors_queue_is_short(world):
    broker = world.add_broker(cash=1e9)
    world.grey.trade_price = 80_000.0         # restricted buyers pay a lot
    broker.on_demand_seen(100.0)
    world.new_cards.lead_time_weeks = 3.0     # but a new card comes within weeks
    broker.step()
    assert world.used_cards.bids[0].price == pytest.approx(world.new_cards.price)
    world.used_cards.bids.clear()
    world.new_cards.lead_time_weeks = 20.0    # a long queue: a card in hand is worth the wait
    broker.step()
    assert world.used_cards.bids[0].price == pytest.approx(world.used_cards.queue_skip_price())
