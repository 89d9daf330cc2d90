"""Accounting and market invariants, checked after EVERY step of a full run of each scenario.

* the cash, card and next-generation-card books each sum to zero (relative to gross flows);
* no card account (Hopper or next-generation) is negative except the fab, the only source;
* every agent's card balance equals the cards in its cohorts;
* every ledger account is an agent's or a named external one (teams are founded mid-run);
* GPUs used in a week never exceed the capacity there is (clouds' capacity plus the own fleets
  of creators that build their own), measured when the hours market clears;
* the hours market never sells more than is offered or asked for (a wrapper around
  model.mechanisms.hours.clear_hours checks each week's result against its inputs);
* the model's series are finite, posted prices and quotes positive, and a trade price is printed
  exactly in the weeks its market traded (support/model_checks.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import model.markets.hours as market_mod
from model import SERIES, H100Market, release_model
from model.mechanisms.vocabulary import LARGE, SMALL
from model.market import EXTRA_SERIES, EXTERNAL

SCENARIOS = ("baseline", "no_open_weights", "no_export_controls", "double_packaging",
             "strict_enforcement")
SEED = 7
REL = 1e-9        # relative tolerance of sums against gross flows / magnitudes
ABS = 1e-6        # absolute tolerance (cards, GPUs)
from support.model_checks import check_frame, check_signals  # noqa: E402


# ------------------------------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------------------------------
def check_books(m: H100Market) -> None:
    where = f"step {m.steps} ({m.date}) of {m.config.name}"
    for ledger in (m.cash, m.cards, m.nextgen_cards):
        n = len(ledger.names)
        bal = ledger.balance[:n]
        assert np.all(np.isfinite(bal)), f"{where}: non-finite {ledger.quantity} balances"
        gross = max(float(np.abs(bal).sum()), float(sum(ledger.flows.values())), 1.0)
        total = ledger.total()
        assert abs(total) <= REL * gross + ABS, \
            f"{where}: {ledger.quantity} books sum to {total!r} (gross {gross:.4g})"
    fab = m.acct_fab
    for ledger in (m.cards, m.nextgen_cards):
        bal = ledger.balance[: len(ledger.names)]
        neg = [(ledger.names[i], float(bal[i])) for i in np.flatnonzero(bal < -ABS) if i != fab]
        assert not neg, f"{where}: negative {ledger.quantity} accounts {neg[:5]}"
    # Every agent's ledger balance is the sum of its cohorts.
    bad = []
    for a in m.population.owners:
        for ledger, col in ((m.cards, 1), (m.nextgen_cards, 2)):
            held = float(ledger.balance[a.account])
            in_cohorts = float(sum(c[col] for c in a.cohorts))
            if abs(held - in_cohorts) > REL * max(abs(held), 1.0) + ABS:
                bad.append((a.name, ledger.quantity, held, in_cohorts))
    # Fine-tuning teams (rows of a pool, no fleet): the same, with every cohort list empty.
    pool = m.population.finetuners
    for ledger in (m.cards, m.nextgen_cards):
        held = ledger.balance[pool.account]
        off = np.flatnonzero(np.abs(held) > REL * np.maximum(np.abs(held), 1.0) + ABS)
        bad += [(pool.agents[i].name, ledger.quantity, float(held[i]), 0.0) for i in off]
    assert not bad, f"{where}: ledger != cohorts for {len(bad)} accounts, e.g. {bad[:5]}"


def check_accounts_covered(m: H100Market) -> None:
    """The books hold only agents' accounts and the named external ones."""
    agent_accts = {int(a.account) for a in m.population.owners} | {int(x) for x in m.population.finetuners.account}
    external = {m.cash.index[name] for name in EXTERNAL}
    for ledger in (m.cash, m.cards, m.nextgen_cards):
        assert ledger.names == m.cash.names, f"{ledger.quantity} ledger accounts differ from cash's"
    all_accts = set(range(len(m.cash.names)))
    orphans = sorted(all_accts - agent_accts - external)
    assert not orphans, f"accounts of no agent: {[m.cash.names[i] for i in orphans][:10]}"
    assert not (agent_accts & external), "an agent shares an external account"
    assert m.acct_fab == m.cash.index["fab"] and m.acct_investors == m.cash.index["investors"]


def check_clearing(m: H100Market, lines: dict, asks: dict, od_capacity: np.ndarray,
                   od_price: np.ndarray, res) -> None:
    """One week's hours market sells no more than offered and buys no more than asked for."""
    where = f"step {m.steps} ({m.date}) of {m.config.name}"
    tol = ABS
    gpus = lines["gpus"]
    for name in ("od_fill", "spot_fill", "ask_fill"):
        arr = getattr(res, name)
        assert np.all(np.isfinite(arr)) and np.all(arr >= -tol), f"{where}: bad {name}"
    over_line = res.od_fill + res.spot_fill - gpus
    assert np.all(over_line <= tol + REL * gpus), \
        f"{where}: lines got more than they asked for (max excess {over_line.max():.4g})"
    offered = res.asks["gpus"]
    n_agent = len(asks["gpus"])
    assert np.array_equal(offered[:n_agent], asks["gpus"]), f"{where}: agents' asks were altered"
    over_ask = res.ask_fill - offered
    assert np.all(over_ask <= tol + REL * offered), \
        f"{where}: spot sold more than offered (max excess {over_ask.max():.4g} GPUs)"
    bought, sold = float(res.spot_fill.sum()), float(res.ask_fill.sum())
    assert abs(bought - sold) <= tol + REL * max(bought, sold), \
        f"{where}: spot bought {bought:.6g} GPUs but sold {sold:.6g}"
    assert abs(float(res.spot_volume.sum()) - bought) <= tol + REL * bought, \
        f"{where}: spot volume {res.spot_volume.sum():.6g} != fills {bought:.6g}"
    # On demand and private clouds' spot sales stay within each cloud's free capacity.
    assert abs(float(res.od_sold.sum()) - float(res.od_fill.sum())) <= tol + REL * float(res.od_fill.sum()), \
        f"{where}: on-demand sold {res.od_sold.sum():.6g} != bought {res.od_fill.sum():.6g}"
    used = res.od_sold.sum(axis=1) + res.cloud_spot_sold.sum(axis=1)
    cap = od_capacity.sum(axis=1)
    assert np.all(used <= cap + tol + REL * cap), \
        f"{where}: a cloud sold more than its free capacity ({used} > {cap})"
    # Individual rationality at the clearing prices.
    for tier in (SMALL, LARGE):
        p = res.spot_price[tier]
        got = (lines["tier"] == tier) & (res.spot_fill > tol)
        if got.any():
            assert np.isfinite(p) and p > 0, f"{where}: spot traded on tier {tier} at {p!r}"
            assert np.all(lines["limit"][got] >= p * (1 - 1e-9)), \
                f"{where}: a tier-{tier} buyer paid above its limit"
        sold_here = (res.asks["tier_cleared"] == tier) & (res.ask_fill > tol)
        if sold_here.any():
            assert np.all(res.asks["price"][sold_here] <= p * (1 + 1e-9)), \
                f"{where}: a tier-{tier} ask sold below its price"
    od = res.od_fill > tol
    if od.any():
        assert np.all(lines["limit"][od] >= od_price[res.od_cloud[od]] * (1 - 1e-9)), \
            f"{where}: an on-demand buyer paid above its limit"


def capacity_now(m: H100Market) -> float:
    """GPUs that can be used this week: the clouds' fleets and the own-cluster builders' fleets."""
    return float(sum(c.capacity().sum() for c in m.population.clouds)
                 + sum(cr.fleet_eq for cr in m.population.creators if cr.build_own))


# ------------------------------------------------------------------------------------------------
# The test
# ------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_invariants_every_step(scenario, monkeypatch):
    m = H100Market(scenario=scenario, seed=SEED)
    try:
        check_accounts_covered(m)
        check_books(m)
        check_signals(m, f"step {m.steps} ({m.date}) of {m.config.name}")
        seen = {"calls": 0, "capacity": None}
        real_clear_hours = market_mod.clear_hours

        def checked_clear_hours(lines, asks, od_capacity, od_price, *args, **kwargs):
            lines_in = {k: np.array(v, copy=True) for k, v in lines.items()}
            asks_in = {k: np.array(v, copy=True) for k, v in asks.items()}
            cap_in, price_in = np.array(od_capacity, copy=True), np.array(od_price, copy=True)
            res = real_clear_hours(lines, asks, od_capacity, od_price, *args, **kwargs)
            check_clearing(m, lines_in, asks_in, cap_in, price_in, res)
            seen["calls"] += 1
            seen["capacity"] = capacity_now(m)
            return res

        monkeypatch.setattr(market_mod, "clear_hours", checked_clear_hours)
        worst = 0.0
        while m.running and m.steps < m.n_steps:
            calls = seen["calls"]
            m.step()
            assert seen["calls"] == calls + 1, f"step {m.steps}: the hours market did not clear once"
            used = np.asarray(m.hours.used, dtype=float)
            cap = seen["capacity"]
            assert np.all(used >= -ABS), f"step {m.steps}: negative use {used}"
            assert used.sum() <= cap * (1 + REL) + ABS, \
                (f"step {m.steps} ({m.date}) of {scenario}: {used.sum():.6g} GPUs used "
                 f"> capacity {cap:.6g} (clouds + own fleets)")
            if cap > 0:
                worst = max(worst, used.sum() / cap)
            check_books(m)
            check_accounts_covered(m)      # teams founded mid-run open accounts
            check_signals(m, f"step {m.steps} ({m.date}) of {m.config.name}")
        assert m.steps == m.n_steps
        df = m.series()
        assert len(df) == m.n_steps + 1
        assert list(df.columns[: len(SERIES)]) == list(SERIES)
        check_frame(df, scenario)
        assert pd.api.types.is_datetime64_any_dtype(df["date"])
        print(f"{scenario}: max weekly use / capacity = {worst:.4f}")
    finally:
        release_model(m)


# ------------------------------------------------------------------------------------------------
# The checks themselves catch what they are for (a broken check would pass silently)
# ------------------------------------------------------------------------------------------------
def test_checks_catch_broken_books_and_overselling(monkeypatch):
    m = H100Market(scenario="baseline", seed=SEED)
    try:
        captured = {}
        real_clear_hours = market_mod.clear_hours

        def capture(lines, asks, od_capacity, od_price, *args, **kwargs):
            res = real_clear_hours(lines, asks, od_capacity, od_price, *args, **kwargs)
            captured.update(lines={k: np.array(v) for k, v in lines.items()},
                            asks={k: np.array(v) for k, v in asks.items()},
                            cap=np.array(od_capacity), price=np.array(od_price), res=res)
            return res

        monkeypatch.setattr(market_mod, "clear_hours", capture)
        while m.steps < 40:   # into 2023: cards delivered, hours traded on spot
            m.step()
        check_books(m)
        check_clearing(m, captured["lines"], captured["asks"], captured["cap"], captured["price"],
                       captured["res"])
        holder = next(a for a in m.population.owners if a.cohorts)
        # A card that appears from nowhere unbalances the books.
        m.cards.balance[holder.account] += 1.0
        with pytest.raises(AssertionError, match="sum to"):
            check_books(m)
        m.cards.balance[holder.account] -= 1.0
        # A card moved in the ledger but not in the cohorts is caught.
        m.cards.transfer(m.acct_fab, holder.account, 1.0, "test")
        with pytest.raises(AssertionError, match="cohorts"):
            check_books(m)
        m.cards.transfer(holder.account, m.acct_fab, 1.0, "test")
        check_books(m)
        # A price printed in a week its market did not trade is caught, and so is a trade with
        # no price.
        now = m.recorder.now
        saved = dict(now)
        now["secondary_volume"], now["card_price_secondary"] = 0.0, 40000.0
        with pytest.raises(AssertionError, match="printed without a trade"):
            check_signals(m, "tampered")
        now["secondary_volume"], now["card_price_secondary"] = 3.0, float("nan")
        with pytest.raises(AssertionError, match="not a positive number"):
            check_signals(m, "tampered")
        now.update(saved)
        check_signals(m, "restored")
        # Selling more spot hours than offered is caught.
        res = captured["res"]
        sold = np.flatnonzero(res.ask_fill > 0)
        assert sold.size, "no spot sale in week 40 to tamper with"
        res.ask_fill[sold[0]] = res.asks["gpus"][sold[0]] * 2 + 10
        with pytest.raises(AssertionError, match="more than offered"):
            check_clearing(m, captured["lines"], captured["asks"], captured["cap"],
                           captured["price"], res)
    finally:
        release_model(m)
