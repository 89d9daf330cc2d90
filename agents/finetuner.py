"""FineTuner: the many small teams that adapt open-weight models on one to four nodes.

There are thousands of them and they decide alike, so their rule is written once, over the whole
population at a time, with numpy (:class:`FineTunerPool`); each :class:`FineTuner` agent is a view
of one row (its cash lives in the ledger, its state in the pool's arrays). A team starts once the
best open-weight model is good enough for its purpose and the price of a small cluster is below
what an hour is worth to it; it stops when the price rises above that (price-elastic demand). A
team with a deployed model also buys inference hours, up to what the tokens they serve are worth
to it (the cheaper parts compete for those buyers in the hours market).
New teams are founded each week as open weights get better and small-cluster hours cheaper; a
team pays its staff, and closes when its cash runs out or it has been inactive for long.
"""

from __future__ import annotations

import numpy as np

from agents.base import Firm
from agents.registry import AgentKind, register
from model.mechanisms.vocabulary import FINETUNE, HOURS_PER_WEEK, INFERENCE, QUARTER_WEEKS, SMALL

QUARTER = QUARTER_WEEKS


class FineTuner(Firm):
    kind = "finetuner"

    @classmethod
    def populate(cls, model) -> list[FineTuner]:
        """The fine-tuning teams (scaled with the population) and the pool that decides for them."""
        pop = model.cfg.population
        teams = [cls(model, k) for k in range(round(pop.finetuners * pop.scale))]
        model.population.pools[cls.kind] = FineTunerPool(model, teams)
        return teams

    def __init__(self, model, index: int):
        super().__init__(model, f"ft-{index}", "US")
        self.index = index

    @property
    def mode(self) -> str:  # type: ignore[override]  # read from the pool, not stored
        pool = self.model.population.finetuners
        if pool.active[self.index]:
            return "finetune"
        return "closed" if pool.closed[self.index] else "idle"

    def step(self) -> None:
        """Single-agent step (for use on its own); the model steps the whole pool at once."""
        self.model.population.finetuners.step(np.array([self.index]))


class FineTunerPool:
    """Vectorised state and decision rule of all fine-tuning teams.

    Rows are teams: the initial pool (``population.finetuners``, would-be teams that start once
    open weights are good enough for them) and teams founded mid-run (:meth:`found`), appended in
    chunks; a team that closes keeps its row (and its account in the books), inactive for good."""

    def __init__(self, model, agents: list[FineTuner]):
        self.model = model
        n = len(agents)
        self.agents = agents
        self.account = np.array([a.account for a in agents], dtype=np.int64)
        rows = draw_teams(model, n)
        self.need, self.edge, self.gpus = rows["need"], rows["edge"], rows["gpus"]
        self.inference_gpus, self.funding, self.offset = (
            rows["inference_gpus"],
            rows["funding"],
            rows["offset"],
        )
        self.inference_worth = rows["inference_worth"]  # its tokens' worth relative to the typical
        self.active = np.zeros(n, dtype=bool)
        self.deployed = np.zeros(n, dtype=bool)
        self.founded = np.zeros(n, dtype=bool)
        self.closed = np.zeros(n, dtype=bool)
        self.idle_weeks = np.zeros(n, dtype=np.int64)  # weeks inactive in a row, once founded

    def __len__(self) -> int:
        return len(self.account)

    def value(self) -> np.ndarray:
        m = self.model
        return m.cfg.demand.value_per_edge_hour * self.edge * m.drivers.value_climate

    # -- entry -------------------------------------------------------------------------------------
    def found(self) -> int:
        """Teams founded this week (from `entry.entry_from`): would-be teams arrive at
        `finetune_candidates_per_year` × climate a year (Poisson), each needing an open model of
        a quality drawn up to today's closed frontier (what users compare with); one is founded if
        the best open model meets its need and an hour is worth more to it than the expected
        small-cluster price. So better open weights and cheaper hours found more teams."""
        m = self.model
        e, drv = m.cfg.entry, m.drivers
        if m.date < e.entry_from or e.finetune_candidates_per_year <= 0:
            return 0
        n = int(m.rng.poisson(e.finetune_candidates_per_year / 52.0 * max(drv.climate, 0.0)))
        if n == 0:
            return 0
        d = m.cfg.demand
        hi = max(d.finetuner_quality_need_min, drv.frontier)
        rows = draw_teams(m, n, need_max=hi)
        value = d.value_per_edge_hour * rows["edge"] * drv.value_climate
        ok = (drv.open_quality >= rows["need"]) & (value > m.hours.expected_price(SMALL))
        k = int(ok.sum())
        if k == 0:
            return 0
        self.grow({name: v[ok] for name, v in rows.items()})
        return k

    def grow(self, rows: dict[str, np.ndarray]) -> None:
        """Append founded teams (their parameters in `rows`): a FineTuner agent each (a Mesa
        agent with its accounts), active, funded with their seed round."""
        m = self.model
        k = len(rows["need"])
        first = len(self)
        teams = [FineTuner(m, first + j) for j in range(k)]
        self.agents.extend(teams)
        accounts = np.array([a.account for a in teams], dtype=np.int64)
        self.account = np.concatenate([self.account, accounts])
        for name, values in rows.items():
            setattr(self, name, np.concatenate([getattr(self, name), values]))
        on = np.ones(k, dtype=bool)
        self.active = np.concatenate([self.active, on])
        self.deployed = np.concatenate([self.deployed, on])
        self.founded = np.concatenate([self.founded, on])
        self.closed = np.concatenate([self.closed, ~on])
        self.idle_weeks = np.concatenate([self.idle_weeks, np.zeros(k, dtype=np.int64)])
        m.population.add(FineTuner.kind, teams)
        m.fund_many(accounts, rows["funding"])
        m.population.count_founded(FineTuner.kind, k)

    # -- the week ----------------------------------------------------------------------------------
    def step(self, idx: np.ndarray | None = None) -> None:
        m = self.model
        drv = m.drivers
        # The whole pool (the model's week) is read through views; a subset by index.
        sel = slice(None) if idx is None else idx
        rows = np.arange(len(self)) if idx is None else idx
        n = len(self) if idx is None else idx.size
        if n == 0:
            return
        account = self.account[sel]
        self._pay_and_close(rows, account)
        founded = self.founded[sel]
        closed = self.closed[sel]
        was_active = self.active[sel]
        cash = m.cash.balance[account]
        value = self.value()[sel]
        price = m.hours.expected_price(SMALL)
        usable = drv.open_quality >= self.need[sel]
        # Enter when an hour is worth more than it costs; leave when it is worth 20% less.
        start = usable & ~was_active & ~closed & (value > price)
        stop = was_active & (~usable | (value < 0.8 * price) | (cash <= 0) & founded)
        new = start & ~founded
        if new.any():  # a new team raises its seed round when it starts
            m.fund_many(account[new], self.funding[sel][new])
            self.founded[rows[new]] = True
            founded = self.founded[sel]
            m.population.count_founded(FineTuner.kind, int(new.sum()))
        # Follow-on rounds, quarterly, likelier in a warm climate.
        due = founded & ~closed & ((m.steps + self.offset[sel]) % QUARTER == 0)
        if due.any():
            p = min(0.95, m.cfg.demand.round_prob_per_quarter * drv.climate)
            lucky = due & (m.rng.random(n) < p)
            if lucky.any():
                m.fund_many(
                    account[lucky],
                    self.funding[sel][lucky] * drv.climate * m.rng.uniform(0.3, 1.0, lucky.sum()),
                )
        active = (was_active | start) & ~stop
        self.active[sel] = active
        self.deployed[sel] |= active
        self.idle_weeks[sel] = np.where(founded & ~closed & ~active, self.idle_weeks[sel] + 1, 0)
        cash = m.cash.balance[account]
        # Budget: plan half a year of the current job at most.
        inf_need = np.where(self.deployed[sel], self.inference_gpus[sel] * drv.inference_index, 0.0)
        ft_need = np.where(active, self.gpus[sel], 0.0)
        hours = (ft_need + inf_need) * HOURS_PER_WEEK * m.cfg.demand.budget_weeks
        budget = np.where(
            hours > 0,
            m.cfg.demand.compute_budget_share * np.maximum(cash, 0.0) / np.maximum(hours, 1e-9),
            0.0,
        )
        ft_limit = np.minimum(value, budget)
        inf_limit = np.minimum(drv.inference_value * self.inference_worth[sel], budget)
        ok_ft = (ft_need > 0) & (ft_limit > 0)
        ok_inf = (inf_need > 0) & (inf_limit > 0)
        m.hours.bid_pooled(account[ok_ft], FINETUNE, SMALL, ft_need[ok_ft], ft_limit[ok_ft])
        m.hours.bid_pooled(account[ok_inf], INFERENCE, SMALL, inf_need[ok_inf], inf_limit[ok_inf])

    def _pay_and_close(self, rows: np.ndarray, account: np.ndarray) -> None:
        """Founded teams pay their staff and overheads (`finetuner_burn_musd_per_year`, as far as
        their cash reaches); a team closes when its cash is gone or it has been inactive for
        `finetuner_idle_close_weeks`: it stops, and what cash it has left goes back to investors."""
        m = self.model
        e = m.cfg.entry
        live = self.founded[rows] & ~self.closed[rows]
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
        shut = live & (broke | (self.idle_weeks[rows] >= e.finetuner_idle_close_weeks))
        if not shut.any():
            return
        gone = rows[shut]
        left = np.maximum(m.cash.balance[self.account[gone]], 0.0)
        back = left > 0
        if back.any():
            m.cash.transfer_many(
                self.account[gone][back], np.full(int(back.sum()), m.acct_investors), left[back], "exit"
            )
        self.closed[gone] = True
        self.active[gone] = False
        self.deployed[gone] = False
        m.population.count_closed(FineTuner.kind, len(gone))

    def count_active(self) -> int:
        return int(self.active.sum())


def draw_teams(model, n: int, need_max: float | None = None) -> dict[str, np.ndarray]:
    """Parameters of `n` fine-tuning teams: the open-weight quality each needs (up to `need_max`,
    by default `finetuner_quality_need_max`), its edge, cluster, inference fleet, seed round and
    review offset."""
    d = model.cfg.demand
    rng = model.rng
    hi = d.finetuner_quality_need_max if need_max is None else need_max
    return dict(
        need=rng.uniform(d.finetuner_quality_need_min, hi, n),
        edge=d.finetune_edge * rng.uniform(0.4, 1.6, n),
        gpus=rng.integers(d.finetune_gpus_min, d.finetune_gpus_max + 1, n).astype(float),
        inference_gpus=d.inference_gpus_per_finetuner * rng.uniform(0.5, 1.5, n),
        funding=d.finetuner_funding_musd * 1e6 * np.exp(rng.normal(0.0, 0.5, n)),
        offset=rng.integers(0, QUARTER, n),
        inference_worth=rng.uniform(0.5, 1.5, n),
    )


def act(model, teams) -> None:
    """The fine-tuning teams' week: new teams are founded, then the whole pool decides."""
    pool = model.population.finetuners
    pool.found()
    pool.step()


register(
    AgentKind(
        "finetuner",
        FineTuner,
        build=FineTuner.populate,
        act=act,
        week_order=40,
        build_order=50,
        frame_order=50,
        frame=True,
        pooled=True,
        colour="#2ca02c",
        label="fine-tuning team",
    )
)
