"""Owners who must pay: two kinds of clouds' list prices, running costs on installed cards, asks
that know their cost and used cards bought by owners who need them, worked by hand.

Pinned constants (support.small_world.PINNED): running cost 0.14 $/h of which power 0.087 $/h
(site and staff 0.053 $/h on every installed card), infrastructure 16,000 $/card, target
utilisation 0.85, price steps +10% / -12%, hurdles 10% (hyperscaler) and 14% (private), card life
5 years, hyperscaler margin 30% over full cost, hyperscaler spot at 35% of list, private spot at
25% of list. The stand-in vendor lists a card at 30,000 $.
"""

from __future__ import annotations

import pytest

from model.mechanisms.vocabulary import HOURS_PER_WEEK, IDLE_MODE, LARGE, SMALL

SITE = 0.14 - 0.087  # $/GPU-hour paid on every installed card


def hand_cost_price(capex: float, rate: float) -> float:
    """finance.cost_price written out: the weekly annuity on capex over 260 weeks, spread over the
    hours sold at 85% utilisation, plus the running cost per hour sold."""
    r = (1.0 + rate) ** (1.0 / 52.0) - 1.0
    payment = capex * r / (1.0 - (1.0 + r) ** -260)
    return payment / (168.0 * 0.85) + 0.14 / 0.85


@pytest.fixture
def hyperscaler(world):
    c = world.add_cloud(kind="hyperscaler", list_price=4.0)
    world.give_cards(c, 1000)
    return c


@pytest.fixture
def private(world):
    c = world.add_cloud(kind="private", list_price=4.0)
    world.give_cards(c, 1000)
    return c


# -- two kinds of clouds: posted lists ------------------------------------------------------------
def test_full_cost_is_the_price_at_which_a_card_bought_today_earns_the_hurdle(hyperscaler, private):
    assert hyperscaler.full_cost() == pytest.approx(hand_cost_price(46_000.0, 0.10))  # ~1.72 $/h
    assert private.full_cost() == pytest.approx(hand_cost_price(46_000.0, 0.14))


def test_a_hyperscaler_does_not_cut_an_idle_list_that_rivals_do_not_undercut_and_that_earns_its_cost(
    world, hyperscaler
):
    hyperscaler.util_list, hyperscaler.util, hyperscaler.unmet = 0.40, 0.60, 0.0  # idle fleet
    hyperscaler.revenue_rate = 4.0  # 4.0 * 0.60 = 2.4 $ per installed hour > full cost ~1.72
    world.hours.private_ondemand_price = 3.5  # 4.0 <= 1.3 * 3.5 = 4.55: not undercut
    hyperscaler.reprice()
    assert hyperscaler.list_price == 4.0


def test_a_hyperscaler_cuts_one_step_when_private_clouds_undercut_it(world, hyperscaler):
    hyperscaler.util_list, hyperscaler.util, hyperscaler.revenue_rate = 0.40, 0.60, 4.0
    world.hours.private_ondemand_price = 3.0  # 4.0 > 1.3 * 3.0 = 3.9
    hyperscaler.reprice()
    assert hyperscaler.list_price == pytest.approx(4.0 * 0.88)


def test_a_hyperscaler_cuts_when_its_hours_earn_less_than_a_new_cards_full_cost(world, hyperscaler):
    hyperscaler.util_list, hyperscaler.util, hyperscaler.revenue_rate = 0.40, 0.40, 4.0  # 1.6 < 1.72
    hyperscaler.reprice()
    assert hyperscaler.list_price == pytest.approx(4.0 * 0.88)


def test_a_hyperscaler_never_cuts_while_its_utilisation_is_near_target(world, hyperscaler):
    hyperscaler.util_list, hyperscaler.util, hyperscaler.revenue_rate = 0.80, 0.80, 0.5
    world.hours.private_ondemand_price = 1.0  # undercut and losing money, but busy
    hyperscaler.reprice()
    assert hyperscaler.list_price == 4.0


def test_a_hyperscaler_lists_at_least_full_cost_plus_its_margin(world, hyperscaler):
    hyperscaler.list_price, hyperscaler.util_list, hyperscaler.util = 2.0, 0.1, 0.1
    hyperscaler.reprice()  # 2.0 * 0.88 = 1.76 < 1.3 * 1.72 = 2.24: lifted to the floor
    assert hyperscaler.list_price == pytest.approx(1.3 * hand_cost_price(46_000.0, 0.10))


def test_a_private_cloud_chases_utilisation_down_to_what_keeps_it_open(world, private):
    private.util_list = 0.10
    private.reprice()
    assert private.list_price == pytest.approx(4.0 * 0.88)
    private.list_price = 0.3
    private.reprice()  # floor: max(3 x 0.14, power 0.087 + site 0.053) = 0.42
    assert private.list_price == pytest.approx(0.42)


def test_both_kinds_hand_spare_hours_to_spot_at_a_discount_never_below_cash_cost(hyperscaler, private):
    assert hyperscaler.spot_floor() == pytest.approx(0.35 * 4.0)
    assert private.spot_floor() == pytest.approx(0.25 * 4.0)
    private.list_price = 0.2
    assert private.spot_floor() == pytest.approx(0.087)  # 0.25 * 0.2 = 0.05 < power


def test_a_hyperscaler_keeps_its_headroom_off_spot_and_a_private_cloud_sells_it(hyperscaler, private):
    assert hyperscaler.spot_holdback() == pytest.approx(0.15 * 1000)
    assert private.spot_holdback() == 0.0


def test_new_capacity_is_judged_on_the_price_of_the_marginal_hour(world, hyperscaler):
    world.hours.expected = [1.5, 2.5]  # spot: small, large
    hyperscaler.util_list, hyperscaler.unmet = 0.85, 0.0
    assert hyperscaler.marginal_price() == 4.0  # it sells out at list: a new hour sells at list
    hyperscaler.util_list = 0.5
    assert hyperscaler.marginal_price() == 2.5  # idle: a new hour sells on spot at best
    hyperscaler.unmet = 100.0  # but buyers turned away at list take it at list
    assert hyperscaler.marginal_price() == 4.0


# -- running costs: power on hours run, site on every card ----------------------------------------
def test_an_idle_card_is_powered_down_but_still_pays_its_site(world, private):
    private.util = 0.5  # 500 of 1,000 cards run
    world.fund(private, 1e6)
    before = private.cash
    private.pay_running_costs()
    bill = 500 * 0.087 * HOURS_PER_WEEK + 1000 * SITE * HOURS_PER_WEEK
    assert before - private.cash == pytest.approx(bill)


def test_an_own_cluster_pays_site_on_cards_it_does_not_run(world):
    from agents.creator import pay_own_clusters

    b = world.add_creator(build_own=True, cash=1e6)
    world.give_cards(b, 100)
    b.own_used = 40.0
    before = b.cash
    pay_own_clusters(world, [b])
    assert before - b.cash == pytest.approx((40 * 0.087 + 100 * SITE) * HOURS_PER_WEEK)


# -- asks that know their cost ----------------------------------------------------------------------
def test_own_idle_hours_are_never_offered_below_the_owners_cash_cost(world):
    from agents.creator import post_weekly_demand

    b = world.add_creator(build_own=True, cash=1e6)
    world.give_cards(b, 1000)
    b.mode = IDLE_MODE  # nothing to run: the whole fleet idles
    b.ask_mult[:] = 0.01  # the adaptive ask has fallen far: 3.0 * 0.01 = 0.03 $/h
    post_weekly_demand(world, [b])
    (offer,) = [o for o in world.hours.offers if o.tier == LARGE]
    assert offer.price == pytest.approx(0.087)  # power: the cash cost of running it


def test_cash_cost_carries_debt_service_only_while_the_owner_can_wait(world):
    b = world.add_creator(build_own=True, cash=1e6)
    world.give_cards(b, 100)
    b.debt_service_per_gpu_hour = lambda: 0.5
    assert b.cash_cost() == pytest.approx(0.587)  # 1e6 covers 0.5 x 168 x 100 = 8,400 a week
    world.cash.transfer(b.account, world.acct_investors, b.cash - 1000.0, "test")
    assert b.cash_cost() == pytest.approx(0.087)  # out of cash: any hour above power helps


# -- used cards: owners who need cards buy them from owners who do not ------------------------------
def test_a_busy_cloud_bids_for_used_cards_at_what_they_earn_never_above_a_new_card(world, private):
    world.new_cards.lead_time_weeks = 3.0  # no queue worth skipping
    private.util_list, private.util = 0.9, 0.9
    world.fund(private, 1e8)
    private.bid_used_cards(world.used_cards, price=99_999.0)
    ((qty, price),) = [(q.qty, q.price) for q in world.used_cards.bids]
    assert qty == pytest.approx(0.02 * 1000)
    assert price == pytest.approx(min(private.holding_value(), world.new_cards.price))
    assert price <= world.new_cards.price
    private.offer_used_cards(world.used_cards)
    assert world.used_cards.asks == []  # a buyer this week does not also sell


def test_an_idle_cloud_values_its_cards_at_its_own_utilisation(world, private):
    world.new_cards.lead_time_weeks = 3.0
    private.util_list, private.util = 0.2, 0.2
    private.bid_used_cards(world.used_cards, price=99_999.0)
    assert world.used_cards.bids == []
    private.offer_used_cards(world.used_cards)
    (ask,) = world.used_cards.asks
    assert ask.price == pytest.approx(private.holding_value(0.2, life_left=1.0))  # new cards
    assert private.holding_value(0.2) < private.holding_value()  # worth less idle than busy


def test_an_owner_asks_less_for_older_cards(world, private):
    world.new_cards.lead_time_weeks = 3.0
    private.util_list, private.util = 0.2, 0.2
    world.steps = 156  # the cards are three years old: 2 of their 5 years left
    assert private.oldest_life_left() == pytest.approx(0.4)
    private.offer_used_cards(world.used_cards)
    (ask,) = world.used_cards.asks
    assert ask.price == pytest.approx(private.holding_value(0.2, life_left=0.4))
    assert ask.price < private.holding_value(0.2, life_left=1.0)


def test_hours_market_stand_in_prices_tiers_small_then_large(world):
    assert world.hours.expected_price(SMALL) < world.hours.expected_price(LARGE)
