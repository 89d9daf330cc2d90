"""Firm (agents/base.py): cohorts, retirement, credit, holding value and skipping the queue."""

from __future__ import annotations

import pytest
from support.small_world import Quote

from agents.base import Firm
from model.mechanisms.vocabulary import LARGE


@pytest.fixture
def firm(world):
    return Firm(world, "acme", "US")


def test_a_firm_opens_the_same_account_in_all_three_ledgers(world, firm):
    assert world.cards.index["firm:acme"] == world.nextgen_cards.index["firm:acme"] == firm.account


def test_deliveries_of_one_week_share_a_cohort_per_generation(world, firm):
    firm.receive_cards(100, 100)
    firm.receive_cards(50, 45)                 # same week, Hopper: the same cohort
    firm.receive_cards(0, 0, nextgen=10, nextgen_eq=25)   # next generation: its own cohort
    firm.receive_cards(20, 20)                 # Hopper again: back into the Hopper cohort
    world.steps = 5
    firm.receive_cards(30, 30)                 # a later week: a new cohort
    assert firm.cohorts == [[0, 170, 0, 165], [0, 0, 10, 25], [5, 30, 0, 30]]
    assert firm.fleet_eq == pytest.approx(165 + 25 + 30)


def test_remove_cards_takes_the_oldest_first_with_their_share_of_equivalents(world, firm):
    world.give_cards(firm, 150, eq=145)        # e.g. some cut-down parts
    world.steps = 3
    world.give_cards(firm, 100)
    buyer = Firm(world, "buyer", "US")
    eq = firm.remove_cards(120, buyer.account)
    assert eq == pytest.approx(120 * 145 / 150)                 # 116 H100-eq
    assert firm.cohorts[0] == [0, 30, 0, pytest.approx(29)]
    assert (world.cards[firm.account], world.cards[buyer.account]) == (130, 120)
    eq = firm.remove_cards(50, buyer.account)  # the last 30 of the first cohort, 20 of the next
    assert eq == pytest.approx(29 + 20)
    assert firm.cohorts == [[3, 80, 0, 80]]   # the emptied cohort is dropped
    assert firm.fleet_eq == pytest.approx(80)


def test_retire_aged_retires_cohorts_at_the_end_of_their_life(world, firm):
    world.give_cards(firm, 100)
    world.nextgen_cards.transfer(world.acct_fab, firm.account, 4, "made")
    firm.receive_cards(0, 0, nextgen=4, nextgen_eq=10)
    world.steps = 10
    world.give_cards(firm, 50)
    world.steps = 259
    firm.retire_aged(260)                      # 259 weeks old: still in service
    assert firm.fleet_eq == pytest.approx(160)
    world.steps = 260
    firm.retire_aged(260)                      # the week-0 cohorts (Hopper and next-gen) go
    assert firm.cohorts == [[10, 50, 0, 50]]
    assert firm.fleet_eq == pytest.approx(50)
    assert world.cards[world.acct_retired] == 100
    assert world.nextgen_cards[world.acct_retired] == 4
    assert world.cards[firm.account] == 50


def test_credit_limit_is_half_the_fleet_at_the_launch_list_price(world, firm):
    world.give_cards(firm, 200, eq=180)
    world.new_cards.price = 20_000.0           # lenders lend against the 33,750 $ list, not today's
    assert firm.credit_limit() == pytest.approx(0.5 * 180 * 33_750)


def test_holding_value_is_the_rest_of_lifes_rent_net_of_running_costs(world, firm):
    """At the long-run cost price the rent just repays capex over 5 years at the 10% hurdle:
    a card kept for the 4 years (80%) of life left is worth 4 of those 5 annuity years."""
    world.new_cards.price = 30_000.0           # capex with the racks: 46,000 $
    w = 1.1 ** (1 / 52) - 1                    # the hurdle, weekly
    payment = 46_000 * w / (1 - 1.1 ** -5)     # weekly rent that repays capex in 260 weeks
    world.hours.expected[LARGE] = payment / (168 * 0.85) + 0.14 / 0.85   # the cost price
    assert firm.holding_value() == pytest.approx(46_000 * (1 - 1.1 ** -4) / (1 - 1.1 ** -5), rel=1e-9)
    world.hours.expected[LARGE] += 1.0         # dearer hours now: the card is worth more
    assert firm.holding_value() > 46_000 * (1 - 1.1 ** -4) / (1 - 1.1 ** -5)


@pytest.mark.parametrize("backlog, lead, cash, bid", [
    (1000.0, 10.0, 3e6, 50.0),       # 5% of the backlog
    (1000.0, 10.0, 1e6, 25.0),       # as many as the cash pays for: 1 M$ / 40,000 $
    (1000.0, 4.0, 3e6, None),        # a queue of a month is worth waiting in
    (0.0, 10.0, 3e6, None),          # nothing on order
    (1000.0, 10.0, 40_000.0, None),  # cannot pay more than one card
])
def test_bid_to_skip_queue(world, firm, backlog, lead, cash, bid):
    world.fund(firm, cash)
    world.new_cards.backlog[firm.account] = backlog
    world.new_cards.lead_time_weeks = lead
    firm.bid_to_skip_queue(world.used_cards, 40_000.0)
    assert world.used_cards.bids == ([] if bid is None else [Quote(firm, pytest.approx(bid), 40_000.0)])
