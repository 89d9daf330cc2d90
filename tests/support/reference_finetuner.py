"""The fine-tuning teams' week as it was first written: every rule over every row of the pool at
once (`agents.finetuner.FineTunerPool.step` now tests never-founded teams for entry alone). Kept
beside the tests to check that the two give the same numbers to the last bit."""

from __future__ import annotations

import numpy as np

from agents.finetuner import QUARTER, FineTuner
from model.mechanisms.vocabulary import FINETUNE, HOURS_PER_WEEK, INFERENCE, SMALL


def reference_step(pool, idx: np.ndarray | None = None) -> None:
    m = pool.model
    drv = m.drivers
    # The whole pool (the model's week) is read through views; a subset by index.
    sel = slice(None) if idx is None else idx
    rows = np.arange(len(pool)) if idx is None else idx
    n = len(pool) if idx is None else idx.size
    if n == 0:
        return
    account = pool.account[sel]
    reference_pay_and_close(pool, rows, account)
    founded = pool.founded[sel]
    closed = pool.closed[sel]
    was_active = pool.active[sel]
    cash = m.cash.balance[account]
    value = (m.cfg.demand.value_per_edge_hour * pool.edge * m.drivers.value_climate)[sel]
    price = m.hours.expected_price(SMALL)
    usable = drv.open_quality >= pool.need[sel]
    # Enter when an hour is worth more than it costs; leave when it is worth 20% less.
    start = usable & ~was_active & ~closed & (value > price)
    stop = was_active & (~usable | (value < 0.8 * price) | (cash <= 0) & founded)
    new = start & ~founded
    if new.any():  # a new team raises its seed round when it starts
        m.fund_many(account[new], pool.funding[sel][new])
        pool.founded[rows[new]] = True
        founded = pool.founded[sel]
        m.population.count_founded(FineTuner.kind, int(new.sum()))
    # Follow-on rounds, quarterly, likelier in a warm climate.
    due = founded & ~closed & ((m.steps + pool.offset[sel]) % QUARTER == 0)
    if due.any():
        p = min(0.95, m.cfg.demand.round_prob_per_quarter * drv.climate)
        lucky = due & (m.rng.random(n) < p)
        if lucky.any():
            m.fund_many(
                account[lucky],
                pool.funding[sel][lucky] * drv.climate * m.rng.uniform(0.3, 1.0, lucky.sum()),
            )
    active = (was_active | start) & ~stop
    pool.active[sel] = active
    pool.deployed[sel] |= active
    pool.idle_weeks[sel] = np.where(founded & ~closed & ~active, pool.idle_weeks[sel] + 1, 0)
    cash = m.cash.balance[account]
    # Budget: plan half a year of the current job at most.
    inf_need = np.where(pool.deployed[sel], pool.inference_gpus[sel] * drv.inference_index, 0.0)
    ft_need = np.where(active, pool.gpus[sel], 0.0)
    hours = (ft_need + inf_need) * HOURS_PER_WEEK * m.cfg.demand.budget_weeks
    budget = np.where(
        hours > 0,
        m.cfg.demand.compute_budget_share * np.maximum(cash, 0.0) / np.maximum(hours, 1e-9),
        0.0,
    )
    ft_limit = np.minimum(value, budget)
    inf_limit = np.minimum(drv.inference_value * pool.inference_worth[sel], budget)
    ok_ft = (ft_need > 0) & (ft_limit > 0)
    ok_inf = (inf_need > 0) & (inf_limit > 0)
    m.hours.bid_pooled(account[ok_ft], FINETUNE, SMALL, ft_need[ok_ft], ft_limit[ok_ft])
    m.hours.bid_pooled(account[ok_inf], INFERENCE, SMALL, inf_need[ok_inf], inf_limit[ok_inf])


def reference_pay_and_close(pool, rows: np.ndarray, account: np.ndarray) -> None:
    """Founded teams pay their staff and overheads (`finetuner_burn_musd_per_year`, as far as
    their cash reaches); a team closes when its cash is gone or it has been inactive for
    `finetuner_idle_close_weeks`: it stops, and what cash it has left goes back to investors."""
    m = pool.model
    e = m.cfg.entry
    live = pool.founded[rows] & ~pool.closed[rows]
    if not live.any():
        return
    burn = e.finetuner_burn_musd_per_year * 1e6 / 52.0
    cash = m.cash.balance[account]
    pay = np.where(live, np.minimum(burn, np.maximum(cash, 0.0)), 0.0)
    payers = pay > 0
    if payers.any():
        m.cash.transfer_many(
            account[payers], np.full(int(payers.sum()), m.acct_payroll), pay[payers], "payroll"
        )
    cash = m.cash.balance[account]
    broke = cash <= 0 if burn > 0 else np.zeros(len(rows), dtype=bool)
    shut = live & (broke | (pool.idle_weeks[rows] >= e.finetuner_idle_close_weeks))
    if not shut.any():
        return
    gone = rows[shut]
    left = np.maximum(m.cash.balance[pool.account[gone]], 0.0)
    back = left > 0
    if back.any():
        m.cash.transfer_many(
            pool.account[gone][back], np.full(int(back.sum()), m.acct_investors), left[back], "exit"
        )
    pool.closed[gone] = True
    pool.active[gone] = False
    pool.deployed[gone] = False
    m.population.count_closed(FineTuner.kind, len(gone))
