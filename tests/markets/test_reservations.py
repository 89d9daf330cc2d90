"""Weekly settlement of reservations (model.markets.reservations.ReservationMarket.settle): holders pay each active contract's
weekly due to the provider; a holder short of cash for a contract defaults on it (the contract
ends, prepaid money is not returned) while everyone else still pays.

When every holder clearly has the cash, the payments are booked in one go
(Ledger.transfer_in_turn); otherwise contract by contract. Both paths are exercised here."""

from __future__ import annotations

import numpy as np
import pytest

from model import H100Market, release_model
from model.mechanisms.vocabulary import HOURS_PER_WEEK


@pytest.fixture
def market():
    """Mid-2023 (many reservations in force), about to settle the next week."""
    m = H100Market(seed=0, end="2024-06-30")
    try:
        for _ in range(45):
            m.step()
        m.steps += 1          # settle the next week, as step() does after the markets
        yield m
    finally:
        release_model(m)


def _spy_batch(m, monkeypatch) -> list:
    """Record the kind of each booking made in one go."""
    calls = []
    real = m.cash.transfer_in_turn
    def spy(payers, payees, amounts, kind=""):
        calls.append(kind)
        return real(payers, payees, amounts, kind)

    monkeypatch.setattr(m.cash, "transfer_in_turn", spy)
    return calls


def _settle(m) -> None:
    """The week's settlement: reservation dues, then running costs."""
    m.reservations.settle()
    m.population.pay_running_costs()


def _own_opex(agent, m) -> float:
    return agent.own_used * m.cfg.cloud.opex_per_gpu_hour * HOURS_PER_WEEK


def test_everyone_pays_every_due_to_the_provider(market, monkeypatch):
    m = market
    rb = m.reservations.book
    due = rb.weekly_due(m.steps)
    ks = np.flatnonzero(due > 0)
    assert ks.size >= 5, "the fixture should have several contracts due"
    holders = {int(h) for h in rb.holder[ks]}
    cash = {h: m.population.by_id[h].cash for h in holders}
    batch = _spy_batch(m, monkeypatch)
    _settle(m)
    assert batch.count("reservation") == 1, "with cash to spare, the dues should be booked in one go"
    for h in holders:
        owed = float(due[ks][rb.holder[ks] == h].sum())
        assert m.population.by_id[h].cash == pytest.approx(cash[h] - owed - _own_opex(m.population.by_id[h], m),
                                                 rel=1e-12)
    assert (rb.end[ks] > m.steps).all(), "no contract should end"


def test_a_holder_short_of_cash_defaults_and_the_others_still_pay(market, monkeypatch):
    m = market
    rb = m.reservations.book
    due = rb.weekly_due(m.steps)
    ks = np.flatnonzero(due > 0)
    holders = list(dict.fromkeys(int(h) for h in rb.holder[ks]))
    poor, others = holders[0], holders[1:]
    assert others, "the fixture should have more than one holder"
    mine = ks[rb.holder[ks] == poor]
    agent = m.population.by_id[poor]
    left = 0.5 * float(due[mine].min())   # less than any of its dues
    m.cash.transfer(agent.account, m.acct_investors, agent.cash - left)
    before = {h: m.population.by_id[h].cash for h in others}
    batch = _spy_batch(m, monkeypatch)
    _settle(m)
    assert "reservation" not in batch, "a holder short of cash must be settled contract by contract"
    assert (rb.end[mine] == m.steps).all(), "the short holder's contracts should end now"
    assert agent.cash == pytest.approx(left - _own_opex(agent, m))
    for h in others:
        owed = float(due[ks][rb.holder[ks] == h].sum())
        assert m.population.by_id[h].cash == pytest.approx(before[h] - owed - _own_opex(m.population.by_id[h], m),
                                                 rel=1e-12)
    assert abs(m.cash.total()) < 1e-3


def test_holders_accounts_come_from_the_population_once_and_stay(market):
    m = market
    rb = m.reservations.book
    uids = rb.holder.copy()
    expect = np.array([m.population.by_id[u].account for u in uids.tolist()], dtype=np.int64)
    np.testing.assert_array_equal(m.reservations._accounts_of(uids), expect)
    np.testing.assert_array_equal(m.reservations._accounts_of(uids[::-1]), expect[::-1])
    assert m.reservations._accounts_of(uids[:0]).shape == (0,)
