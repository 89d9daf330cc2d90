"""The builders' week written for speed holds to the forms it replaced, to the last bit: the legal
channel read once per region, and own clusters that ask their credit limit only when their cash
does not cover the bill."""

from __future__ import annotations

import mesa
import numpy as np
import pytest

from agents.creator import REGIONS, legal_channel, pay_own_clusters
from model import H100Market, release_model
from model.mechanisms.vocabulary import H100, HOURS_PER_WEEK


class _Member(mesa.Agent):
    pass


def _old_pay_own_clusters(model, builders) -> np.ndarray:
    """The bill as first written: every running builder's credit limit read."""
    running = [b for b in builders if b.own_used > 0 or (b.build_own and b.fleet_eq > 0)]
    m = model
    power = m.cfg.cloud.power_per_gpu_hour * HOURS_PER_WEEK
    site = running[0].site_cost_per_week()
    cost = np.array([b.own_used * power + b.fleet_eq * site for b in running])
    accounts = np.array([b.account for b in running], dtype=np.int64)
    credit = np.array([b.credit_limit() for b in running])
    room = np.maximum(m.cash.balance[accounts] + credit, 0.0)
    return np.minimum(cost, room)


@pytest.fixture(scope="module")
def midrun():
    m = H100Market(seed=0, end="2025-06-30")
    for _ in range(110):  # own clusters run, some builders short of cash
        m.step()
    yield m
    release_model(m)


@pytest.mark.parametrize("squeeze", [0.0, 0.3, 1.0])
def test_own_clusters_pay_what_the_old_rule_paid(midrun, squeeze, monkeypatch):
    m = midrun
    builders = list(m.population.creators)
    r = np.random.default_rng(7)
    running = [b for b in builders if b.own_used > 0 or (b.build_own and b.fleet_eq > 0)]
    assert running
    balance = m.cash.balance.copy()
    try:
        for b in running:  # some builders' cash below their bill, some far above, some negative
            if r.random() < squeeze:
                m.cash.balance[b.account] = float(r.choice([-1e6, 0.0, 10.0, 1e4]))
        expected = _old_pay_own_clusters(m, builders)
        paid = {}

        def capture(payers, payees, amounts, kind=""):
            paid["payers"], paid["amounts"] = np.asarray(payers), np.asarray(amounts)

        monkeypatch.setattr(m.cash, "transfer_in_turn", capture)
        pay_own_clusters(m, builders)
        assert np.array_equal(paid["payers"], [b.account for b in running])
        assert np.array_equal(paid["amounts"], expected)
    finally:
        m.cash.balance[:] = balance


def test_the_legal_channel_is_the_markets_answer_by_region(midrun):
    m = midrun
    week: dict = {}
    for _ in range(2):  # asked again: the memo gives the same answers
        for region in REGIONS:
            product, perf = m.new_cards.best_legal_product(region)
            pending = m.rules.pending_ban(m.catalog[product], region, m.date) if product else None
            barred = not m.rules.allowed(m.catalog[H100], region, m.date)
            assert legal_channel(m, region, week) == (product, perf, pending, barred)
            assert legal_channel(m, region) == (product, perf, pending, barred)
    assert set(week) == set(REGIONS)


def test_a_builder_out_of_the_market_only_clears_its_hours(midrun):
    """What the week skips for a builder not (yet, or no longer) in the market is its step."""
    m = midrun
    out = [b for b in m.population.creators if b.closed or m.steps < b.founded]
    if not out:
        pytest.skip("every builder is in the market this week")
    b = out[0]
    before = dict(vars(b), own_used=0.0)
    state = m.rng.bit_generator.state
    b.own_used = 12.0
    b.step()
    assert dict(vars(b)) == before and m.rng.bit_generator.state == state
