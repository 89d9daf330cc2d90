"""Cloud: pricing, ordering, reservations, the used-card market and running costs, worked by hand.

Pinned constants (support.small_world.PINNED): opex 0.14 $/h, infrastructure 16,000 $/card, target
utilisation 0.85, price steps +10% / -12%, credit 50% of the fleet at the 33,750 $ list price,
reserved share 0.85, reserved discounts 0.59 (1 y) and 0.44 (3 y), large-cluster share 0.6.
"""

from __future__ import annotations


import numpy as np
import pytest
from support.small_world import Order, Quote

from model.mechanisms.finance import card_holding_value
from model.mechanisms.hours import turned_away_at
from model.mechanisms.vocabulary import H100, LARGE, SMALL


@pytest.fixture
def cloud(world):
    """A hyperscaler with 1,000 cards (no legacy fleet) listing at 4 $/h."""
    c = world.add_cloud(list_price=4.0)
    world.give_cards(c, 1000)
    return c


# -- reprice ------------------------------------------------------------------------------------
def test_reprice_raises_list_when_turned_away_demand_exceeds_five_percent(cloud):
    cloud.unmet = 60.0                           # 60 / 1000 = 6% of capacity > 5%
    cloud.reprice()
    assert cloud.list_price == pytest.approx(4.0 * 1.10)


def test_reprice_holds_at_exactly_five_percent_and_at_target_utilisation(cloud):
    cloud.unmet, cloud.util_list = 50.0, 0.76    # 5% is not "more than 5%"; 0.76 >= 0.85 - 0.1
    cloud.reprice()
    assert cloud.list_price == 4.0


def test_reprice_private_cloud_cuts_list_when_sales_at_list_leave_the_fleet_idle(world):
    cloud = world.add_cloud(kind="private", list_price=4.0)   # private clouds chase utilisation
    world.give_cards(cloud, 1000)
    cloud.unmet, cloud.util_list = 40.0, 0.70    # 4% turned away; 0.70 < 0.75
    cloud.reprice()
    assert cloud.list_price == pytest.approx(4.0 * 0.88)


def test_turned_away_demand_wins_over_idle_capacity(cloud):
    cloud.unmet, cloud.util_list = 60.0, 0.10
    cloud.reprice()
    assert cloud.list_price == pytest.approx(4.4)


def test_reprice_private_cloud_never_goes_below_three_times_opex(world):
    cloud = world.add_cloud(kind="private", list_price=4.0)
    world.give_cards(cloud, 1000)
    cloud.list_price, cloud.util_list = 0.45, 0.10   # a cut would give 0.45 * 0.88 = 0.396
    cloud.reprice()
    assert cloud.list_price == pytest.approx(3 * 0.14)  # 0.42
    cloud.list_price = 0.20                          # below the floor already: lifted to it
    cloud.unmet = 0.0
    cloud.reprice()
    assert cloud.list_price == pytest.approx(0.42)


def test_step_reprices_on_review_weeks_and_orders_on_order_weeks(world, cloud):
    calls = []
    cloud.reprice = lambda: calls.append("reprice")
    cloud.order = lambda: calls.append("order")
    cloud.offset = 1
    world.steps = 12          # (12 + 1) % 13 == 0: the quarterly review; 13 % 4 != 0
    cloud.step()
    world.steps = 15          # 16 % 4 == 0: the monthly order review only
    cloud.step()
    assert calls == ["reprice", "order"]


# -- order ---------------------------------------------------------------------------------------
def _ready_to_order(world, cloud, cash: float) -> None:
    """Rents of 10 $/h pay a 46,000 $ card back in about 32 weeks: an IRR far above the hurdle."""
    world.fund(cloud, cash)
    world.new_cards.price = 30_000.0
    world.new_cards.lead_time_weeks = 13.0
    world.new_cards.backlog[cloud.account] = 100.0
    cloud.revenue_rate, cloud.util, cloud.unmet = 10.0, 0.9, 200.0
    cloud.list_price = 10.0                  # turning buyers away at list: a new hour sells at 10


def test_no_order_when_the_expected_return_does_not_beat_the_hurdle(world, cloud):
    _ready_to_order(world, cloud, cash=1e9)
    cloud.list_price = 0.5          # the marginal hour sells below running cost over utilisation
    cloud.order()
    assert not (cloud.irr > cloud.hurdle)
    assert world.new_cards.orders == []


def test_order_covers_demand_plus_growth_less_fleet_and_backlog(world, cloud):
    _ready_to_order(world, cloud, cash=1e9)
    cloud.order()
    assert cloud.irr > 0.10 + 0.25 / 0.6     # so growth = min(0.25, 0.6 * excess) = 0.25
    demand = 0.9 * 1000 + 200                # served share of capacity + turned away = 1,100
    target = demand / 0.85 * 1.25            # at target utilisation, plus growth: 1,617.65
    assert world.new_cards.orders == [Order(cloud, H100, pytest.approx(target - 1000 - 100), True)]


def test_order_is_limited_by_cash_and_credit(world, cloud):
    _ready_to_order(world, cloud, cash=5e6)
    cloud.order()
    credit = 0.5 * 1000 * 33_750                          # 16.875 M$
    room = (5e6 + credit - 100 * 30_000) / (30_000 + 16_000)   # 410.3 cards with their racks
    assert world.new_cards.orders == [Order(cloud, H100, pytest.approx(room), True)]


def test_order_extrapolates_half_a_year_of_demand_growth_over_the_lead_time(world, cloud):
    _ready_to_order(world, cloud, cash=1e9)
    cloud.demand_hist.extend([550.0] * 27)   # demand doubled since half a year ago
    cloud.order()
    demand = 1100 * 2.0 ** (13 / 26)         # trend 2, over a 13-week lead time: x sqrt(2)
    target = demand / 0.85 * 1.25
    assert world.new_cards.orders[0].qty == pytest.approx(target - 1000 - 100)


def test_no_order_when_fleet_and_backlog_already_cover_the_target(world, cloud):
    _ready_to_order(world, cloud, cash=1e9)
    world.new_cards.backlog[cloud.account] = 700.0    # 1,000 + 700 > 1,617.65
    cloud.order()
    assert world.new_cards.orders == []


# -- feedback from the hours market --------------------------------------------------------------
def test_on_week_updates_moving_averages_and_its_share_of_turned_away_demand(world):
    cloud = world.add_cloud(list_price=5.0, size=0.5)
    world.give_cards(cloud, 1000)
    unmet = np.array([100.0, 200.0, 300.0])
    limits = np.array([3.0, 5.0, 6.0])       # only buyers willing to pay 5 $/h count: 500 GPUs
    turned_away = turned_away_at(unmet, limits, [cloud.list_price])[cloud.list_price]
    assert turned_away == 500.0
    cloud.on_week(sold=800.0, sold_at_list=600.0, revenue=800 * 168 * 3.5, turned_away=turned_away,
                  market_size=2.0)
    assert cloud.util == pytest.approx(0.8 * 0.5 + 0.2 * 0.8)          # 0.56
    assert cloud.util_list == pytest.approx(0.8 * 0.5 + 0.2 * 0.6)     # 0.52
    share = 500 * 0.5 / 2.0                                             # 125 GPUs, by size
    assert cloud.unmet == pytest.approx(0.2 * share)                    # 25
    assert list(cloud.demand_hist) == [pytest.approx(0.56 * 1000 + 25)]
    assert cloud.revenue_rate == pytest.approx(0.8 * 5.0 + 0.2 * 3.5)  # 4.7 $/h


def test_on_week_without_sales_keeps_the_revenue_rate(world, cloud):
    cloud.on_week(sold=0.0, sold_at_list=0.0, revenue=0.0, turned_away=0.0, market_size=1.0)
    assert cloud.revenue_rate == 4.0 and cloud.unmet == 0.0
    assert cloud.util == pytest.approx(0.4)


# -- capacity and reservations -------------------------------------------------------------------
def test_capacity_splits_fleet_and_ageing_legacy_into_tiers(world):
    cloud = world.add_cloud(legacy=3000.0)
    world.give_cards(cloud, 1000)
    cloud.large_eq = 400.0
    world.steps = 52                       # a year on: legacy 3,000 * (1 - 1/3) = 2,000
    large = 400 + 2000 * 0.6
    assert cloud.capacity().tolist() == pytest.approx([1000 + 2000 - large, large])


def test_reservation_starts_now_when_the_reserved_share_has_room(world, cloud):
    cloud.large_eq = 400.0                 # capacity: 600 small, 400 large
    world.steps = 10
    world.reservations.commit(LARGE, horizon=520, gpus=[200.0])
    assert cloud.reservation_start(LARGE, 100.0) == 10    # room 0.85 * 400 - 200 = 140
    assert world.new_cards.orders == []


def test_reservation_without_room_starts_after_the_lead_time_and_orders_the_shortfall(world, cloud):
    cloud.large_eq = 400.0
    world.steps = 10
    world.new_cards.lead_time_weeks = 7.2
    world.reservations.commit(LARGE, horizon=520, gpus=[200.0])
    assert cloud.reservation_start(LARGE, 200.0) == 10 + 8      # ceil(7.2)
    shortfall = 200 - 140                                        # cards for 60 reserved GPUs,
    assert world.new_cards.orders == [Order(cloud, H100, pytest.approx(shortfall / 0.85), True)]


def test_reservation_shortfall_counts_no_negative_room(world, cloud):
    world.reservations.commit(SMALL, horizon=520, gpus=[1000.0])   # over-committed: room -150
    cloud.reservation_start(SMALL, 50.0)
    assert world.new_cards.orders[0].qty == pytest.approx(50 / 0.85)


def test_reserved_rate_is_one_year_discount_up_to_52_weeks_then_three_year(cloud):
    assert cloud.reserved_rate(52) == pytest.approx(4.0 * 0.59)
    assert cloud.reserved_rate(53) == pytest.approx(4.0 * 0.44)
    assert cloud.reserved_rate(156) == pytest.approx(4.0 * 0.44)


def test_on_delivery_builds_large_clusters_by_share(world, cloud):
    cloud.on_delivery(100.0)
    assert cloud.large_eq == pytest.approx(60.0)          # 0.6 of the delivery


def test_on_delivery_builds_what_large_reservations_need_up_to_the_delivery(world, cloud):
    cloud.large_eq = 300.0
    world.reservations.commit(LARGE, horizon=26, gpus=[380.0])
    cloud.on_delivery(100.0)                  # gap 380 - 300 = 80 > 60
    assert cloud.large_eq == pytest.approx(380.0)
    world.reservations.commit(LARGE, horizon=26, gpus=[2000.0])
    cloud.on_delivery(100.0)                  # gap 1,620: capped at the 100 delivered
    assert cloud.large_eq == pytest.approx(480.0)


# -- spot floor ----------------------------------------------------------------------------------
def test_spot_floor_private_cloud_asks_a_quarter_of_list_at_least_its_cash_cost(world):
    private = world.add_cloud(kind="private", list_price=4.0)
    assert private.spot_floor() == pytest.approx(1.0)            # 0.25 * 4
    private.list_price = 0.2
    assert private.spot_floor() == pytest.approx(0.087)          # power > 0.25 * 0.2


def test_spot_floor_hyperscalers_sell_surplus_as_preemptible_at_35_percent_of_list(cloud):
    assert cloud.spot_floor() == pytest.approx(0.35 * 4.0)


def test_private_and_hyperscaler_terms(world, cloud):
    private = world.add_cloud(kind="private")
    assert (private.hurdle, private.review_weeks, private.halflife) == (0.14, 4, 80.0)
    assert (cloud.hurdle, cloud.review_weeks, cloud.halflife) == (0.10, 13, 40.0)


# -- used cards ----------------------------------------------------------------------------------
def test_offer_used_cards_sells_a_slice_of_the_fleet_and_more_of_its_idle_part(world, cloud):
    world.new_cards.price = 30_000.0
    world.hours.expected[LARGE] = 3.0
    cloud.util = 0.5                          # idle: (1 - 0.5 / 0.85) * 1,000 = 411.8
    cloud.offer_used_cards(world.used_cards)
    # worth to this owner: the market's long-run price, the owner's own utilisation of 50%, over
    # the whole life of its oldest cards (delivered this week)
    worth = card_holding_value(46_000.0, 0.14, 0.85, 5.0, 0.10, 40.0, 3.0, 0.5, 1.0)
    idle = (1 - 0.5 / 0.85) * 1000
    assert world.used_cards.asks == [Quote(cloud, pytest.approx(0.02 * 1000 + 0.1 * idle),
                                           pytest.approx(worth))]


def test_offer_used_cards_busy_fleet_offers_two_percent_small_fleet_none(world, cloud):
    cloud.util = 0.95                          # above target: nothing idle
    cloud.offer_used_cards(world.used_cards)
    assert world.used_cards.asks[0].qty == pytest.approx(20.0)
    small = world.add_cloud()
    world.give_cards(small, 40)                # 0.02 * 40 = 0.8 cards: not worth an ask
    small.util = 0.95
    small.offer_used_cards(world.used_cards)
    assert len(world.used_cards.asks) == 1


def test_bid_used_cards_skips_the_queue_for_a_slice_of_the_backlog(world, cloud):
    world.fund(cloud, 3e6)
    world.new_cards.backlog[cloud.account] = 1000.0
    world.new_cards.lead_time_weeks = 10.0
    cloud.bid_used_cards(world.used_cards, 40_000.0)
    assert world.used_cards.bids == [Quote(cloud, pytest.approx(50.0), 40_000.0)]   # 5% of 1,000


# -- running costs -------------------------------------------------------------------------------
def test_pay_running_costs_pays_power_for_the_hours_used_and_site_for_every_card(world, cloud):
    world.fund(cloud, 100_000.0)
    cloud.util = 0.5
    cloud.pay_running_costs()
    cost = 0.5 * 1000 * 0.087 * 168 + 1000 * (0.14 - 0.087) * 168   # 7,308 + 8,904 $
    assert world.cash[world.acct_power] == pytest.approx(cost)
    assert cloud.cash == pytest.approx(100_000.0 - cost)


def test_pay_running_costs_as_far_as_cash_and_credit_reach(world):
    legacy_only = world.add_cloud(legacy=1000.0, cash=5_000.0)   # no cards of its own: no credit
    legacy_only.util = 0.5
    legacy_only.pay_running_costs()
    assert world.cash[world.acct_power] == pytest.approx(5_000.0)
    assert legacy_only.cash == pytest.approx(0.0)


def test_capacity_total_is_the_sum_of_the_tiers_to_the_bit(world):
    rng = np.random.default_rng(4)
    cloud = world.add_cloud(legacy=3000.0)
    for step in range(0, 200, 7):
        world.steps = step
        world.give_cards(cloud, float(rng.uniform(0, 500)))
        cloud.large_eq = float(rng.uniform(0, 2 * cloud.fleet_eq))
        total = cloud.capacity_total()
        assert type(total) is np.float64 and total == cloud.capacity().sum()


def test_turned_away_is_counted_once_per_distinct_list_price():
    rng = np.random.default_rng(9)
    for _ in range(3):
        unmet = rng.uniform(0, 50, 400) * (rng.random(400) < 0.1)
        limits = rng.uniform(0, 5, 400)
        prices = [2.0, 3.0, 2.0, 3.5]
        got = turned_away_at(unmet, limits, prices)
        assert list(got) == [2.0, 3.0, 3.5]
        for p in prices:
            assert got[p] == float(unmet[limits >= p].sum())  # the boolean index's sum, to the bit
    assert turned_away_at(np.zeros(0), np.zeros(0), [2.0]) == {2.0: 0.0}
