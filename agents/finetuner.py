"""FineTuner: the many small teams that adapt open-weight models on one to four nodes.

There are thousands of them and they decide alike, so their rule is written once, over the whole
population at a time, with numpy (:class:`FineTunerPool`); each :class:`FineTuner` agent is a view
of one row (its cash lives in the ledger, its state in the pool's arrays). A team starts once the
best open-weight model is good enough for its purpose and the price of a small cluster is below
what an hour is worth to it; it stops when the price rises above that (price-elastic demand). A
team with a deployed model also buys inference hours, up to what the tokens they serve are worth
to it (the cheaper parts compete for those buyers in the hours market).
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
        return "finetune" if self.model.population.finetuners.active[self.index] else "idle"

    def step(self) -> None:
        """Single-agent step (for use on its own); the model steps the whole pool at once."""
        self.model.population.finetuners.step(np.array([self.index]))


class FineTunerPool:
    """Vectorised state and decision rule of all fine-tuning teams."""

    def __init__(self, model, agents: list[FineTuner]):
        self.model = model
        d = model.cfg.demand
        rng = model.rng
        n = len(agents)
        self.agents = agents
        self.account = np.array([a.account for a in agents], dtype=np.int64)
        self.need = rng.uniform(d.finetuner_quality_need_min, d.finetuner_quality_need_max, n)
        self.edge = d.finetune_edge * rng.uniform(0.4, 1.6, n)
        self.gpus = rng.integers(d.finetune_gpus_min, d.finetune_gpus_max + 1, n).astype(float)
        self.inference_gpus = d.inference_gpus_per_finetuner * rng.uniform(0.5, 1.5, n)
        self.inference_worth = rng.uniform(0.5, 1.5, n)  # its tokens' worth relative to the typical
        self.funding = d.finetuner_funding_musd * 1e6 * np.exp(rng.normal(0.0, 0.5, n))
        self.offset = rng.integers(0, QUARTER, n)
        self.active = np.zeros(n, dtype=bool)
        self.deployed = np.zeros(n, dtype=bool)
        self.founded = np.zeros(n, dtype=bool)

    def __len__(self) -> int:
        return len(self.account)

    def value(self) -> np.ndarray:
        m = self.model
        return m.cfg.demand.value_per_edge_hour * self.edge * m.drivers.climate

    def step(self, idx: np.ndarray | None = None) -> None:
        m = self.model
        drv = m.drivers
        # The whole pool (the model's week) is read through views; a subset by index.
        sel = slice(None) if idx is None else idx
        n = len(self) if idx is None else idx.size
        if n == 0:
            return
        account = self.account[sel]
        founded = self.founded[sel]
        was_active = self.active[sel]
        cash = m.cash.balance[account]
        value = self.value()[sel]
        price = m.hours.expected_price(SMALL)
        usable = drv.open_quality >= self.need[sel]
        # Enter when an hour is worth more than it costs; leave when it is worth 20% less.
        start = usable & ~was_active & (value > price)
        stop = was_active & (~usable | (value < 0.8 * price) | (cash <= 0) & founded)
        new = start & ~founded
        if new.any():  # a new team raises its seed round when it starts
            m.fund_many(account[new], self.funding[sel][new])
            self.founded[(np.arange(len(self)) if idx is None else idx)[new]] = True
            founded = self.founded[sel]
        # Follow-on rounds, quarterly, likelier in a warm climate.
        due = founded & ((m.steps + self.offset[sel]) % QUARTER == 0)
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

    def count_active(self) -> int:
        return int(self.active.sum())


register(
    AgentKind(
        "finetuner",
        FineTuner,
        build=FineTuner.populate,
        act=lambda model, teams: model.population.finetuners.step(),
        week_order=40,
        build_order=50,
        frame_order=50,
        frame=True,
        pooled=True,
        colour="#2ca02c",
        label="fine-tuning team",
    )
)
