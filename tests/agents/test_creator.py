"""ModelCreator: values, the quarterly plan, reserving, ordering cards, grey bids, feedback and
the week's demand (agents.creator.post_weekly_demand), worked by hand.

Pinned constants (support.small_world.PINNED): 18 $ per GPU-hour per unit of capability edge, a
0.04 training margin, a 0.12 fine-tuning edge, wish-list climate 1.3 (the small world's climate, so a
job is the wish list), duty cycle 0.75, research share 0.15, budget 70% of cash over 26 weeks,
reservations half prepaid, panic beyond a 16-week lead time, own builds from 16,000 GPUs.
"""

from __future__ import annotations

import numpy as np
import pytest
from support.small_world import Line, Offer, Order, Quote, Signed

from agents.creator import post_weekly_demand
from model.mechanisms.finance import card_holding_value
from model.mechanisms.vocabulary import (
    FINETUNE_MODE,
    H100,
    IDLE_MODE,
    INFERENCE,
    LARGE,
    SMALL,
    TRAIN,
    TRAIN_MODE,
)

W = 1.1 ** (1 / 52) - 1                                   # the 10% hurdle, weekly
#: cost per GPU-hour of a card owned for 5 years at 80% use (capex 30,000 + 16,000 $), ~1.83 $/h
OWN_COST = 46_000 * W / (1 - 1.1 ** -5) / (168 * 0.8) + 0.14 / 0.8
GREY_VALUE = 8760 * 0.7 * 2.0                             # a card's hours over 2 years at 70%


@pytest.fixture
def lab(world):
    """A US lab renting from a cloud listing at 4 $/h (reserved: 2.36 $/h 1 y, 1.76 $/h 3 y)."""
    world.new_cards.price = 30_000.0
    return world.add_creator(capability=0.9, train_gpus=1000, cloud=world.add_cloud(list_price=4.0))


# -- values and the plan -------------------------------------------------------------------------
def test_values_from_the_capability_edge_over_open_weights(world, lab):
    world.drivers.climate = 1.5
    v_train, v_ft = lab.values()
    assert v_train == pytest.approx(18 * (0.9 - 0.6) * 1.5)    # 8.1 $/h
    assert v_ft == pytest.approx(18 * 0.12 * 1.5)               # 3.24 $/h


def test_no_training_value_within_the_margin_no_fine_tuning_on_poor_open_weights(world, lab):
    world.drivers.open_quality = 0.88          # edge 0.02 < 0.04
    assert lab.values() == (0.0, pytest.approx(18 * 0.12 * 1.3))
    world.drivers.open_quality = 0.3           # open weights below any fine-tuner's need (0.4)
    assert lab.values() == (pytest.approx(18 * 0.6 * 1.3), 0.0)


@pytest.mark.parametrize("capability, trains", [(0.64, True), (0.63, False)])
def test_training_value_from_an_edge_of_the_margin_on(world, capability, trains):
    lab = world.add_creator(capability=capability)          # edge 0.04 and 0.03 over 0.6
    assert lab.values()[0] == (pytest.approx(18 * 0.04 * 1.3) if trains else 0.0)


def test_plan_trains_when_training_has_the_larger_surplus(world, lab):
    lab.plan()
    # training at the 3-year reserved rate 1.76 (below spot 3.0): (7.02 - 1.76) * 1000 * 0.75 = 3,945
    # fine-tuning at small spot 2.0: (2.808 - 2.0) * 32 = 25.9
    assert (lab.v_train, lab.v_ft) == (pytest.approx(7.02), pytest.approx(2.808))
    assert lab.mode == TRAIN_MODE and lab.deployed


def test_plan_fine_tunes_without_an_edge_to_train_on(world):
    lab = world.add_creator(capability=0.62)   # edge 0.02: no training value
    lab.plan()
    assert lab.mode == FINETUNE_MODE and lab.deployed


def test_plan_idles_when_hours_cost_more_than_they_are_worth(world):
    lab = world.add_creator(capability=0.62)
    world.hours.expected[SMALL] = 3.0          # above the 2.808 $/h fine-tuning is worth
    lab.plan()
    assert lab.mode == IDLE_MODE and not lab.deployed


def test_plan_prices_training_at_own_cost_for_owners(world):
    """Training is worth 18 * 0.1 * 1.3 = 2.34 $/h: less than 3 $/h spot, more than own cost."""
    world.new_cards.price = 30_000.0
    renter, owner = world.add_creator(capability=0.7), world.add_creator(capability=0.7, build_own=True)
    renter.plan()
    owner.plan()
    assert owner.own_cost() == pytest.approx(OWN_COST)
    assert (renter.mode, owner.mode) == (FINETUNE_MODE, TRAIN_MODE)


@pytest.mark.parametrize("cash, train_gpus, region, list_price, builds", [
    (450e6, 16_000, "US", 10.0, True),    # owning 1.83 < 0.6 * 4.4 (3-year rate) and cash > 441.6 M$
    (400e6, 16_000, "US", 10.0, False),   # cannot pay 60% of 16,000 * 46,000 $
    (450e6, 15_000, "US", 10.0, False),   # too small to build
    (450e6, 16_000, "CN", 10.0, False),   # only US builders leave the clouds
    (450e6, 16_000, "US", 6.5, False),    # renting at 2.86: 0.6 * 2.86 = 1.72 < 1.83
])
def test_plan_switches_the_largest_to_their_own_clusters(world, cash, train_gpus, region, list_price,
                                                         builds):
    world.new_cards.price = 30_000.0
    world.hours.expected = [2.0, 6.0]
    cloud = world.add_cloud(list_price=list_price)
    lab = world.add_creator(capability=1.0, train_gpus=train_gpus, region=region, cloud=cloud, cash=cash)
    lab.plan()
    assert lab.mode == TRAIN_MODE
    assert lab.build_own is builds


# -- reserving -------------------------------------------------------------------------------------
def _reserving(world, lab, cash: float, lead: float = 10.0) -> None:
    world.fund(lab, cash)
    world.new_cards.lead_time_weeks = lead
    world.reservations.hold(lab, LARGE, 200.0, future=True)   # job 1,000: a gap of 800
    lab.mode, lab.v_train = TRAIN_MODE, 7.02


def test_reserve_signs_a_year_for_the_gap_when_reserved_beats_spot(world, lab):
    _reserving(world, lab, cash=100e6)
    lab._reserve()               # 1-year rate 2.36 < 3.0 expected on large clusters
    assert world.reservations.signed == [Signed(lab, lab.cloud, LARGE, 800.0, 52, pytest.approx(2.36), 0.5)]


def test_reserve_signs_three_years_when_the_lead_time_is_long(world, lab):
    _reserving(world, lab, cash=100e6, lead=20.0)
    lab._reserve()
    assert world.reservations.signed == [Signed(lab, lab.cloud, LARGE, 800.0, 156, pytest.approx(1.76), 0.5)]


def test_reserve_as_much_as_the_budget_prepays(world, lab):
    _reserving(world, lab, cash=10e6)
    lab._reserve()
    per_gpu = 0.5 * 2.36 * 168 * 52            # half of a year's hours prepaid: 10,308.48 $
    assert world.reservations.signed[0].gpus == pytest.approx(0.7 * 10e6 / per_gpu)   # 679.05


@pytest.mark.parametrize("change", [
    dict(cash=1e6),                  # the budget prepays 67.9 GPUs < 128, a large cluster's least
    dict(held=900.0),                # gap of 100 < 128
    dict(spot=2.0),                  # reserved 2.36 is dearer than spot, and not rationed
    dict(v_train=2.0),               # reserved 2.36 is more than training is worth
])
def test_reserve_declines(world, lab, change):
    _reserving(world, lab, cash=change.get("cash", 100e6))
    world.reservations.hold(lab, LARGE, change.get("held", 200.0), future=True)
    world.hours.expected[LARGE] = change.get("spot", 3.0)
    lab.v_train = change.get("v_train", 7.02)
    lab._reserve()
    assert world.reservations.signed == []


def test_reserve_when_rationed_even_above_spot(world, lab):
    _reserving(world, lab, cash=100e6)
    world.hours.expected[LARGE] = 2.0
    lab.rationed = 0.3                          # more than a fifth of its training need unmet
    lab._reserve()
    assert len(world.reservations.signed) == 1


# -- ordering cards for own clusters ---------------------------------------------------------------
@pytest.fixture
def owner(world):
    """A training builder with its own 10,000 cards and 4,000 on order; it wants 20,000 for
    training and 5,000 * 1.2 for inference: 26,000."""
    world.new_cards.price = 30_000.0
    world.drivers.inference_index = 1.2
    lab = world.add_creator(train_gpus=20_000, build_own=True, inference_gpus=5000, cash=1e9)
    world.give_cards(lab, 10_000)
    world.new_cards.backlog[lab.account] = 4000.0
    lab.mode, lab.deployed, lab.v_train = TRAIN_MODE, True, 3.0
    return lab


def test_order_cards_fills_the_gap_to_the_target_fleet(world, owner):
    owner._order_cards()
    assert world.new_cards.orders == [Order(owner, H100, pytest.approx(26_000 - 10_000 - 4000), True)]


def test_order_cards_within_the_budget(world, owner):
    world.cash.transfer(owner.account, world.acct_investors, 700e6)     # 300 M$ left
    owner._order_cards()
    afford = (0.7 * 300e6 - 4000 * 30_000) / 30_000                  # 3,000 cards
    assert world.new_cards.orders[0].qty == pytest.approx(afford)


def test_no_order_when_owning_costs_more_than_renting_or_what_its_hours_are_worth(world, owner):
    world.hours.expected[LARGE], owner.v_train = 1.0, 1.5             # both below 1.83 $/h
    world.drivers.inference_value = 1.2                               # and so is serving its model
    owner._order_cards()
    assert world.new_cards.orders == []


def test_an_owner_serving_a_model_buys_cards_when_its_tokens_pay_for_them(world, owner):
    world.hours.expected[LARGE], owner.v_train = 1.0, 1.5
    world.drivers.inference_value = 2.5                               # 2.5 $/h > 1.83 $/h to own
    owner._order_cards()
    assert world.new_cards.orders == [Order(owner, H100, pytest.approx(26_000 - 10_000 - 4000), True)]


def test_an_idle_owner_buys_only_for_the_model_it_has_deployed(world, owner):
    owner.mode = IDLE_MODE                     # no training: inference 5,000 * 1.2 = 6,000 only
    owner._order_cards()                       # fleet 10,000 + 4,000 on order cover it
    assert world.new_cards.orders == []
    world.drivers.inference_index = 3.2        # 16,000 wanted for inference: 2,000 short
    owner._order_cards()
    assert world.new_cards.orders == [Order(owner, H100, pytest.approx(16_000 - 14_000), True)]


def test_restricted_builder_orders_the_legal_part_and_bids_grey_when_the_queue_is_long(world, owner):
    owner.region = "CN"
    world.rules.barred.add((H100, "CN"))
    world.new_cards.legal = ("H800", 0.85)     # cut I/O: 15% less work in a cluster
    world.new_cards.prices["H800"] = 27_000.0
    world.new_cards.lead_time_weeks = 30.0     # beyond the 26 weeks a budget plans for
    world.grey.transit[owner.unique_id] = 1000.0
    owner._order_cards()
    gap = 26_000 - 10_000 - 4000 - 1000        # the grey cards on their way count too
    assert world.new_cards.orders == [Order(owner, "H800", pytest.approx(gap / 0.85), False)]
    # half of what is not in hand, from brokers: 0.5 * (26,000 - 11,000) = 7,500, a tenth a week
    assert [q.qty for q in world.grey.bids] == pytest.approx([250.0] * 3)
    assert [q.price for q in world.grey.bids] == pytest.approx([w * 3.0 * GREY_VALUE for w in (1, 0.8, 0.6)])


def test_restricted_builder_waits_in_a_short_legal_queue(world, owner):
    owner.region = "CN"
    world.rules.barred.add((H100, "CN"))
    world.new_cards.legal = ("H800", 0.85)
    world.new_cards.lead_time_weeks = 20.0
    owner._order_cards()
    assert len(world.new_cards.orders) == 1 and world.grey.bids == []


def test_without_a_useful_legal_part_restricted_builders_bid_grey_for_the_whole_gap(world, owner):
    owner.region = "CN"
    world.rules.barred.add((H100, "CN"))
    world.new_cards.legal = ("H20", 0.15)      # below half an H100: not worth ordering
    owner._order_cards()
    assert world.new_cards.orders == []
    assert sum(q.qty for q in world.grey.bids) == pytest.approx(0.1 * 12_000)   # a tenth of 12,000


def test_stockpile_once_before_a_known_ban(world, owner):
    world.give_cards(owner, 12_000)            # fleet 22,000 + 4,000 on order: no gap
    world.rules.announce(H100, "US", "a coming rule")
    owner._order_cards()
    owner._order_cards()                       # the same rule: no second stockpile
    assert world.new_cards.orders == [Order(owner, H100, pytest.approx(0.5 * 20_000), True)]
    assert owner.ordered_for == "a coming rule"


def test_an_idle_builder_with_nothing_deployed_does_not_stockpile(world):
    """Idle and never deployed, it has nothing to run on the cards a coming ban would deny it."""
    world.new_cards.price = 30_000.0
    lab = world.add_creator(train_gpus=20_000, build_own=True, cash=1e9)
    world.rules.announce(H100, "US", "a coming rule")
    lab._order_cards()
    assert lab.mode == IDLE_MODE and not lab.deployed
    assert world.new_cards.orders == []


# -- grey bids ---------------------------------------------------------------------------------------
def test_bid_grey_in_three_tranches_of_falling_value(world, lab):
    world.new_cards.legal = (None, 0.0)        # no legal part: the H100's hours set the value
    world.fund(lab, 10e6)
    lab.v_train, lab.v_ft = 3.0, 2.0
    lab._bid_grey(2000.0)                      # a tenth of the gap this week: 200 cards
    afford = 0.7 * 10e6 / 200                  # 35,000 $ a card
    value = 3.0 * GREY_VALUE                   # 36,792 $
    assert world.grey.bids == [Quote(lab, pytest.approx(200 / 3), pytest.approx(min(value, afford))),
                               Quote(lab, pytest.approx(200 / 3), pytest.approx(0.8 * value)),
                               Quote(lab, pytest.approx(200 / 3), pytest.approx(0.6 * value))]


def test_bid_grey_small_gaps_whole_no_value_no_bid(world, lab):
    world.new_cards.legal = (None, 0.0)
    world.fund(lab, 10e6)
    lab.mode, lab.v_train, lab.v_ft = FINETUNE_MODE, 0.0, 2.0   # fine-tuning: its value counts
    lab._bid_grey(30.0)                        # under the 50-card minimum: all of it
    assert [q.qty for q in world.grey.bids] == pytest.approx([10.0] * 3)
    assert world.grey.bids[0].price == pytest.approx(2.0 * GREY_VALUE)
    lab.v_ft = 0.0
    lab._bid_grey(30.0)
    assert len(world.grey.bids) == 3


def test_a_grey_bid_is_capped_by_the_legal_substitute_and_rises_when_a_rule_removes_it(world, lab):
    """Worth of a smuggled H100: 3 $/h x 8,760 h x 70% x 2 years = 36,792 $; a legal H800 does
    0.85 of its work for 27,000 $ with a 10-week queue: 27,000 / 0.85 + 10 x 3 x 168 x 0.7."""
    lab.region, lab.v_train = "CN", 3.0
    world.rules.barred.add((H100, "CN"))
    world.new_cards.legal = ("H800", 0.85)
    world.new_cards.prices["H800"] = 27_000.0
    world.new_cards.lead_time_weeks = 10.0
    substitute = 27_000 / 0.85 + 10 * 3.0 * 168 * 0.7          # 35,293 $
    assert lab.grey_card_value() == pytest.approx(substitute)
    world.new_cards.legal = (None, 0.0)       # a rule bars the H800 too
    assert lab.grey_card_value() == pytest.approx(3.0 * GREY_VALUE)
    assert lab.grey_card_value() > substitute


def test_a_deployed_restricted_builder_values_grey_cards_by_what_its_tokens_are_worth(world, lab):
    world.new_cards.legal = (None, 0.0)
    lab.region, lab.mode, lab.deployed = "CN", IDLE_MODE, True
    world.drivers.inference_value = 2.0
    assert lab.grey_card_value() == pytest.approx(2.0 * GREY_VALUE)


# -- procurement routing -------------------------------------------------------------------------
@pytest.mark.parametrize("build_own, mode, called", [
    (True, IDLE_MODE, "order"), (False, TRAIN_MODE, "reserve"), (False, FINETUNE_MODE, None)])
def test_procure_owners_order_renters_reserve_for_training(lab, build_own, mode, called):
    calls = []
    lab._order_cards = lambda week=None: calls.append("order")
    lab._reserve = lambda: calls.append("reserve")
    lab.build_own, lab.mode = build_own, mode
    lab.procure()
    assert calls == ([called] if called else [])


# -- feedback --------------------------------------------------------------------------------------
def test_on_hours_averages_the_rationed_share_of_training(lab):
    lab.on_hours(TRAIN, wanted=100.0, got=40.0)
    assert lab.rationed == pytest.approx(0.3 * 0.6)
    lab.on_hours(TRAIN, wanted=100.0, got=100.0)
    assert lab.rationed == pytest.approx(0.7 * 0.18)
    lab.on_hours(INFERENCE, wanted=100.0, got=0.0)      # only training counts
    lab.on_hours(TRAIN, wanted=0.0, got=0.0)
    assert lab.rationed == pytest.approx(0.126)


def test_on_ask_cuts_unsold_asks_raises_sold_out_ones_within_bounds(lab):
    lab.on_ask(SMALL, 0.3)
    lab.on_ask(LARGE, 1.0)
    assert lab.ask_mult.tolist() == pytest.approx([0.92, 1.05])
    lab.on_ask(SMALL, 0.7)                              # half to all but 1% sold: unchanged
    assert lab.ask_mult[SMALL] == pytest.approx(0.92)
    lab.ask_mult[:] = [0.105, 1.99]
    lab.on_ask(SMALL, 0.0)
    lab.on_ask(LARGE, 1.0)
    assert lab.ask_mult.tolist() == pytest.approx([0.1, 2.0])


# -- used cards ------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode, region, build_own, asks", [
    (IDLE_MODE, "US", True, True), (TRAIN_MODE, "US", True, False), (FINETUNE_MODE, "US", True, False),
    (IDLE_MODE, "CN", True, False), (IDLE_MODE, "US", False, False)])
def test_offer_used_cards_a_tenth_of_an_unused_own_cluster(world, mode, region, build_own, asks):
    world.new_cards.price = 30_000.0
    lab = world.add_creator(region=region, build_own=build_own)
    world.give_cards(lab, 500)
    lab.mode = mode
    lab.offer_used_cards(world.used_cards)
    worth = card_holding_value(46_000.0, 0.14, 0.85, 5.0, 0.10, 40.0, 3.0)
    assert world.used_cards.asks == ([Quote(lab, pytest.approx(50.0), pytest.approx(0.9 * worth))]
                                     if asks else [])


@pytest.mark.parametrize("region, build_own, bids", [("US", True, True), ("CN", True, False),
                                                      ("US", False, False)])
def test_bid_used_cards_only_us_own_cluster_builders(world, region, build_own, bids):
    lab = world.add_creator(region=region, build_own=build_own, cash=3e6)
    world.new_cards.backlog[lab.account] = 1000.0
    world.new_cards.lead_time_weeks = 10.0
    lab.bid_used_cards(world.used_cards, 40_000.0)
    assert len(world.used_cards.bids) == int(bids)


# -- the week's demand -----------------------------------------------------------------------------
def test_post_weekly_demand_own_fleet_and_reservations_first_the_rest_bid(world):
    """A training owner: 600 own cards and 150 reserved large GPUs (750 large), 50 reserved small.
    Needs: training 1,000 * 0.75 = 750 (large), research 1,000 * 0.15 = 150 (small), inference
    100 * 2.0 = 200 (small). Budget: 0.7 * 20 M$ over 26 weeks of 1,100 GPUs' hours."""
    world.drivers.inference_index, world.drivers.inference_value = 2.0, 1.5
    lab = world.add_creator(train_gpus=1000, build_own=True, inference_gpus=100, cash=20e6)
    world.give_cards(lab, 600)
    world.reservations.hold(lab, LARGE, 150.0)
    world.reservations.hold(lab, SMALL, 50.0)
    lab.mode, lab.deployed, lab.v_train = TRAIN_MODE, True, 5.0
    post_weekly_demand(world, [lab])
    budget = 0.7 * 20e6 / (1100 * 168 * 26)              # 2.914 $/h
    # training takes all 750 large; research takes the 50 small and bids for 100; inference bids 200
    assert world.hours.own == pytest.approx([750 + 50, 0.0, 0.0])
    me = (lab.account, lab.unique_id)
    assert world.hours.lines == [
        Line(*me, TRAIN, SMALL, pytest.approx(100.0), pytest.approx(min(5.0, budget))),
        Line(*me, INFERENCE, SMALL, pytest.approx(200.0), pytest.approx(min(1.5, budget))),
    ]
    assert lab.own_used == pytest.approx(600.0)          # all its own cards ran
    assert world.hours.offers == []


def test_post_weekly_demand_idle_reserved_hours_go_to_the_reseller(world):
    """A fine-tuning renter with 300 reserved large GPUs: fine-tuning takes 32 and inference 200;
    68 are left, offered at spot 3.0 times its ask multiple 0.5 (through an auction house)."""
    world.drivers.inference_index = 2.0
    lab = world.add_creator(inference_gpus=100, cash=1e6)
    world.reservations.hold(lab, LARGE, 300.0)
    world.reservations.hold(lab, LARGE, 300.0, future=True)
    lab.mode, lab.deployed, lab.v_ft = FINETUNE_MODE, True, 2.0
    lab.ask_mult = np.array([0.8, 0.5])
    lab.post_demand()
    assert world.hours.own == pytest.approx([0.0, 32.0, 200.0])
    assert world.hours.lines == []
    assert world.hours.offers == [Offer(lab, LARGE, pytest.approx(68.0), pytest.approx(1.5), True)]
    assert lab.own_used == 0.0


def test_post_weekly_demand_restricted_builders_neither_rent_nor_resell(world):
    lab = world.add_creator(region="CN", build_own=True, cash=1e9)
    world.give_cards(lab, 100)
    world.reservations.hold(lab, SMALL, 500.0)
    lab.mode, lab.deployed, lab.v_train = TRAIN_MODE, True, 5.0
    post_weekly_demand(world, [lab])
    assert world.hours.own[TRAIN] == pytest.approx(100 + 150)     # own fleet, then small research
    assert world.hours.lines == [] and world.hours.offers == []


def test_post_weekly_demand_an_idle_builder_with_nothing_posts_nothing(world):
    lab = world.add_creator(cash=1e9)
    lab.own_used = 7.0
    post_weekly_demand(world, [lab])
    assert world.hours.own == [0.0, 0.0, 0.0] and world.hours.lines == [] and lab.own_used == 7.0
