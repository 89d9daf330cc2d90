"""The GPU-backed lender (agents/lender.py) on a small world, worked by hand.

Pinned here: SOFR 0 and a 10.4% spread without contracts (so a loan costs 10.4% a year:
0.2% a week), five-year loans (260 weeks), 50% advanced on the cards' value (at most 70%),
LTV covenant 0.8, cover covenant 1.2, forced sales 10% below the mark, a quarter to cure.
A private cloud of 1,000 cards; the vendor's new card costs 30,000.
"""

from __future__ import annotations

import pytest
from support.small_world import Quote, SmallWorld

LENDING = dict(
    lender__sofr=0.0, lender__spread_uncontracted=0.104, lender__spread_contracted=0.05,
    lender__loan_term_years=5.0, lender__advance_rate=0.5, lender__contract_advance=0.5,
    lender__max_advance=0.7, lender__covenant_max_ltv=0.8, lender__covenant_min_dscr=1.2,
    lender__covenant_test_weeks=13, lender__cure_weeks=13, lender__fire_sale_discount=0.1,
    lender__mark_stale_weeks=13, lender__cover_window_weeks=13, lender__service_reserve_weeks=13,
)


@pytest.fixture
def world() -> SmallWorld:
    w = SmallWorld(**LENDING)
    w.new_cards.price = 30_000.0
    w.used_cards.price = float("nan")
    return w


@pytest.fixture
def lender(world):
    return world.add_lender()


@pytest.fixture
def cloud(world):
    c = world.add_cloud(kind="private", list_price=4.0)
    world.give_cards(c, 1000)
    return c


def books_balance(world) -> None:
    for ledger in (world.cash, world.cards, world.nextgen_cards):
        assert ledger.total() == pytest.approx(0.0, abs=1e-6)


def borrow(world, lender, cloud, amount: float, spend: float) -> None:
    """A loan of `amount`, of which `spend` went on the cards (paid to the vendor)."""
    lender.lend(cloud, amount)
    cloud.pay(world.cash.index["vendor"], spend, "cards")


def test_who_borrows_and_how_much(world, lender, cloud):
    hyperscaler = world.add_cloud(kind="hyperscaler")
    world.give_cards(hyperscaler, 1000)
    lender.mark = 25_000.0
    assert lender.finances(cloud) and not lender.finances(hyperscaler)
    # hyperscalers keep their balance-sheet line: 50% of 1,000 cards at the 33,750 list price
    assert hyperscaler.credit_limit() == pytest.approx(0.5 * 1000 * 33_750.0)
    # a private cloud may draw 50% of 1,000 cards marked at 25,000
    assert cloud.credit_limit() == pytest.approx(12_500_000.0)
    borrow(world, lender, cloud, 2_600_000.0, 2_600_000.0)
    # what is drawn is gone, and a quarter's service is held back: 13 x (5,200 + 10,000)
    assert lender.room(cloud) == pytest.approx(9_900_000.0)
    assert cloud.credit_limit() == pytest.approx(9_900_000.0 - 13 * 15_200.0)


def test_interest_and_amortisation_are_paid_exactly(world, lender, cloud):
    lender.mark = 25_000.0
    world.steps = 1                                   # not a covenant test week
    lender.lend(cloud, 1_040_000.0)                   # 10.4% over 260 weeks
    assert cloud.cash == pytest.approx(1_040_000.0)
    lender.settle()
    # interest 1.04M x 0.104 / 52 = 2,080; amortisation 1.04M / 260 = 4,000
    assert cloud.cash == pytest.approx(1_040_000.0 - 6_080.0)
    assert lender.cash == pytest.approx(6_080.0)       # its funders put up the 1.04M
    assert world.cash["lenders"] == pytest.approx(-1_040_000.0)
    assert lender.book.debt(cloud.account) == pytest.approx(1_036_000.0)
    world.steps = 2
    lender.settle()
    # interest on what is left, 1,036,000 x 0.002 = 2,072; the same 4,000 of principal
    assert cloud.cash == pytest.approx(1_040_000.0 - 6_080.0 - 6_072.0)
    assert lender.book.debt(cloud.account) == pytest.approx(1_032_000.0)
    books_balance(world)


def test_an_overdraft_is_funded_by_a_loan(world, lender, cloud):
    lender.mark = 25_000.0
    world.steps = 1
    cloud.pay(world.cash.index["vendor"], 1_000_000.0, "cards")   # paid on credit: cash -1M
    lender.settle()
    # borrows the 1M (service on it starts next week)
    assert lender.book.debt(cloud.account) == pytest.approx(1_000_000.0)
    assert cloud.cash == pytest.approx(0.0, abs=1e-6)
    world.fund(cloud, 10_000.0)
    world.steps = 2
    lender.settle()
    # the first week's service: 2,000 + 3,846.15
    assert lender.book.debt(cloud.account) == pytest.approx(1_000_000.0 - 1_000_000.0 / 260)
    assert cloud.cash == pytest.approx(10_000.0 - 2_000.0 - 1_000_000.0 / 260)
    books_balance(world)


def test_a_fall_in_the_used_card_price_below_the_covenant_line_forces_a_sale(world, lender, cloud):
    """Debt of 20M on 1,000 cards marked at 25,000 (LTV 0.8, at the line). Used cards then
    trade at 24,000: the LTV goes over 0.8 and the cloud must repay, from cash first, then by
    selling cards 10% below the mark (at 21,600)."""
    lender.mark = 25_000.0
    borrow(world, lender, cloud, 20_000_000.0, 19_800_000.0)     # 200,000 kept in cash
    world.used_cards.price = 24_000.0                             # this week's used-card trade
    world.steps = 13                                              # a covenant test week
    lender.settle()
    # service: 20M x 0.002 = 40,000 + 20M / 260 = 76,923.08; cash left 83,076.92
    service = 40_000.0 + 20_000_000.0 / 260
    assert cloud.cash == pytest.approx(200_000.0 - service)
    assert lender.mark == 24_000.0
    owed = 20_000_000.0 - 20_000_000.0 / 260                      # 19,923,076.92
    # allowed 0.8 x 1,000 x 24,000 = 19.2M: excess 723,076.92; cash repays 83,076.92, and each
    # card sold at 21,600 cures 21,600 - 19,200 = 2,400, so 640,000 / 2,400 = 266.67 cards
    cards = 640_000.0 / 2_400.0
    st = lender.borrowers[cloud.account]
    assert owed - 0.8 * 1000 * 24_000.0 == pytest.approx(723_076.923, rel=1e-9)
    assert st.cure_due == pytest.approx(cloud.cash + cards * 21_600.0)
    assert st.breach_since == 13
    assert lender.events == [(world.date, f"{cloud.name}: forced sale", "debt")]
    assert cloud.credit_limit() == 0.0                            # no new money while in breach
    # next week the lender has the cloud ask for the cards in the used-card market
    world.steps = 14
    lender.step()
    assert world.used_cards.asks == [Quote(cloud, pytest.approx(cards), pytest.approx(21_600.0))]
    # the market sells them (settled here by hand, as the used-card market does) ...
    buyer = world.add_creator(build_own=True, cash=10_000_000.0)
    cloud.remove_cards(cards, buyer.account)
    buyer.receive_cards(cards, cards)
    buyer.pay(cloud.account, cards * 21_600.0, "used_cards")
    world.fund(cloud, 150_000.0)                                  # and a week's revenue comes in
    lender.settle()
    # ... the proceeds and the cash repay the cure; the breach is cured
    assert st.breach_since is None and st.cure_due == 0.0
    left = owed - (200_000.0 - service) - cards * 21_600.0        # 14,080,000
    assert left == pytest.approx(14_080_000.0)
    # then this week's service on what is left: 28,160 interest + 76,923.08 principal
    assert lender.book.debt(cloud.account) == pytest.approx(left - 20_000_000.0 / 260)
    assert cloud.cash == pytest.approx(150_000.0 - 28_160.0 - 20_000_000.0 / 260)
    books_balance(world)


def test_a_default_is_liquidated_by_its_lender(world, lender, cloud):
    """Used cards trade at 20,000: the excess over the line (19.92M - 16M) cannot be cured by
    selling at 18,000 (each card cures only 18,000 - 16,000 = 2,000, 1,960 cards needed), so
    the cloud defaults: the lender takes its cards and sells them."""
    lender.mark = 25_000.0
    borrow(world, lender, cloud, 20_000_000.0, 20_000_000.0 - 76_923.077 - 40_000.0)
    world.used_cards.price = 20_000.0
    world.steps = 13
    lender.settle()
    assert cloud.gpus == 0.0 and cloud.fleet_eq == 0.0 and cloud.cohorts == []
    assert lender.gpus == pytest.approx(1000.0)
    assert sum(c[1] for c in lender.cohorts) == pytest.approx(1000.0)
    assert lender.book.debt(cloud.account) == 0.0
    assert lender.written_off == pytest.approx(20_000_000.0 - 20_000_000.0 / 260)
    assert lender.week_defaults == 1 and lender.report()["defaults"] == 1.0
    assert (world.date, f"{cloud.name} defaults", "debt") in lender.events
    assert cloud.credit_limit() == 0.0                            # never lent to again
    books_balance(world)
    # the lender asks for all of them 10% below the mark, and sells them
    world.steps = 14
    lender.step()
    assert world.used_cards.asks == [Quote(lender, pytest.approx(1000.0), pytest.approx(18_000.0))]
    buyer = world.add_creator(build_own=True, cash=20_000_000.0)
    lender.remove_cards(1000.0, buyer.account)
    buyer.receive_cards(1000.0, 1000.0)
    buyer.pay(lender.account, 18_000_000.0, "used_cards")
    assert lender.gpus == 0.0 and buyer.gpus == pytest.approx(1000.0)
    books_balance(world)


def test_missed_payments_are_arrears_to_cure(world, lender, cloud):
    """No cash and no room (debt above what the lender now lends on the cards): the week's
    service is not paid; unpaid interest joins the loan and the arrears must be paid."""
    lender.mark = 25_000.0
    borrow(world, lender, cloud, 15_000_000.0, 15_000_000.0)      # room: 12.5M - 15M < 0
    world.steps = 1
    lender.settle()
    st = lender.borrowers[cloud.account]
    assert st.cure_due == pytest.approx(30_000.0 + 15_000_000.0 / 260)
    assert lender.book.debt(cloud.account) == pytest.approx(15_030_000.0)
    assert st.breach_since == 1
    # a quarter later, still unpaid: default
    world.steps = 14
    lender.settle()
    assert cloud.account in lender.defaulted and lender.gpus == pytest.approx(1000.0)
    books_balance(world)


def test_headroom_is_room_less_the_service_reserve_to_the_bit(world, lender, cloud):
    """``headroom`` reads room and capacity inline: the same number as room less the reserve, in
    every state (no loan, loans, a breach, a default)."""
    import numpy as np

    from agents.lender import Borrower

    builder = world.add_creator(build_own=True)
    world.give_cards(builder, 300)

    def composed(agent):
        interest, amort, _, _ = lender.book.due(agent.account)
        reserve = lender.model.cfg.lender.service_reserve_weeks * (interest + amort)
        return max(0.0, lender.room(agent) - reserve)

    r = np.random.default_rng(0)
    for step in range(12):
        lender.mark = float(r.uniform(5_000.0, 40_000.0))
        for agent in (cloud, builder):
            assert lender.headroom(agent) == composed(agent)
            if step in (2, 5, 7):
                lender.lend(agent, float(r.uniform(1e5, 3e6)))
        if step == 8:
            lender.borrowers.setdefault(builder.account, Borrower()).breach_since = 0
        if step == 10:
            lender.defaulted.add(cloud.account)
    assert lender.headroom(cloud) == composed(cloud) == 0.0
    assert lender.headroom(builder) == composed(builder) == 0.0
