"""FineTuner: the many small teams that adapt open-weight models on one to four nodes.

There are thousands (up to a million) of them and they decide alike, so the kind is one
:class:`FineTunerPool`: columns of numpy arrays, one row per team, with its rule written once over
the whole population. No Mesa agent is made per team (a million would cost seconds to build and
much memory); each team still has its Mesa id (reserved, so later agents keep theirs) and its
accounts in the ledgers, and :class:`FineTuner` is a view of one row for code that wants a team.
A team starts once the best open-weight model is good enough for its purpose and the price of a
small cluster is below what an hour is worth to it; it stops when the price rises above that
(price-elastic demand). A team with a deployed model also buys inference hours, up to what the
tokens they serve are worth to it (the cheaper parts compete for those buyers in the hours market).
New teams are founded each week as open weights get better and small-cluster hours cheaper; a
team pays its staff, and closes when its cash runs out or it has been inactive for long.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from agents.base import Books, reserve_ids
from agents.registry import AgentKind, register
from model.mechanisms.vocabulary import FINETUNE, HOURS_PER_WEEK, INFERENCE, QUARTER_WEEKS, SMALL

QUARTER = QUARTER_WEEKS
#: the teams' ledger accounts are named ACCOUNT_PREFIX + row ("finetuner:ft-17")
ACCOUNT_PREFIX = "finetuner:ft-"


class FineTuner(Books):
    """One fine-tuning team: a view of its row in the pool, made when asked for (the model keeps
    no object per team). Its state is the pool's arrays; its cash and cards are in the ledgers."""

    kind = "finetuner"
    region = "US"

    def __init__(self, pool: FineTunerPool, index: int):
        self.pool = pool
        self.index = index

    @classmethod
    def populate(cls, model) -> TeamViews:
        """The fine-tuning teams (scaled with the population) as one pool; returns its rows."""
        pop = model.cfg.population
        pool = FineTunerPool(model, round(pop.finetuners * pop.scale))
        model.population.pools[cls.kind] = pool
        return pool.agents

    @property
    def model(self):
        return self.pool.model

    @property
    def unique_id(self) -> int:
        return int(self.pool.ids[self.index])

    @property
    def account(self) -> int:
        return int(self.pool.account[self.index])

    @property
    def name(self) -> str:
        return f"ft-{self.index}"

    @property
    def mode(self) -> str:
        pool = self.pool
        if pool.active[self.index]:
            return "finetune"
        return "closed" if pool.closed[self.index] else "idle"

    def step(self) -> None:
        """Single-team step (for use on its own); the model steps the whole pool at once."""
        self.pool.step(np.array([self.index]))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FineTuner) and other.pool is self.pool and other.index == self.index

    def __hash__(self) -> int:
        return hash((id(self.pool), self.index))

    def __repr__(self) -> str:
        return f"FineTuner(ft-{self.index}, id {self.unique_id})"


class TeamViews(Sequence):
    """The pool's teams as a sequence of :class:`FineTuner` views (made on access)."""

    def __init__(self, pool: FineTunerPool):
        self.pool = pool

    def __len__(self) -> int:
        return len(self.pool)

    def __getitem__(self, i):  # type: ignore[override]
        n = len(self.pool)
        if isinstance(i, slice):
            return [FineTuner(self.pool, k) for k in range(*i.indices(n))]
        i = int(i)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(i)
        return FineTuner(self.pool, i)


class _Column:
    """A column of the pool: a view of its first ``len(pool)`` rows of a store that grows by
    doubling (teams founded each week are appended without copying a million rows a week).
    Assigning a whole column writes into the store."""

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, pool, owner=None) -> Any:
        if pool is None:
            return self
        return pool._store[self.name][: pool._n]

    def __set__(self, pool, values) -> None:
        pool._store[self.name][: pool._n] = values


#: the pool's columns and their types
COLUMNS: dict[str, type] = dict(
    ids=np.int64,
    account=np.int64,
    need=np.float64,
    edge=np.float64,
    gpus=np.float64,
    inference_gpus=np.float64,
    funding=np.float64,
    offset=np.int64,
    inference_worth=np.float64,
    active=bool,
    deployed=bool,
    founded=bool,
    closed=bool,
    idle_weeks=np.int64,
)


class FineTunerPool:
    """State and decision rule of all fine-tuning teams, as columns (one row per team).

    Rows are teams: the initial pool (``population.finetuners``, would-be teams that start once
    open weights are good enough for them) and teams founded mid-run (:meth:`found`), appended in
    chunks; a team that closes keeps its row (and its account in the books), inactive for good.
    ``ids`` are the teams' Mesa ids and ``account`` their ledger accounts."""

    ids = _Column()
    account = _Column()
    need = _Column()  # the open-weight quality it needs
    edge = _Column()
    gpus = _Column()  # GPUs it fine-tunes on
    inference_gpus = _Column()
    funding = _Column()  # its seed round (USD)
    offset = _Column()  # week of the quarter it looks for follow-on funding
    inference_worth = _Column()  # its tokens' worth relative to the typical operator
    active = _Column()
    deployed = _Column()
    founded = _Column()
    closed = _Column()
    idle_weeks = _Column()  # weeks inactive in a row, once founded

    def __init__(self, model, n: int):
        self.model = model
        self._n = 0
        self._store: dict[str, np.ndarray] = {name: np.zeros(0, dtype=t) for name, t in COLUMNS.items()}
        self.agents = TeamViews(self)
        ids, account = self._enrol(n)
        rows = draw_teams(model, n)
        self._append(dict(ids=ids, account=account, **rows))

    def __len__(self) -> int:
        return self._n

    def _enrol(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Mesa ids and ledger accounts (cash, cards, next generation) for `n` new teams, the ones
        they would get as agents made one after another."""
        m = self.model
        ids = reserve_ids(m, n)
        account = m.cash.open_block(ACCOUNT_PREFIX, self._n, n)
        for ledger in (m.cards, m.nextgen_cards):
            if not np.array_equal(ledger.open_block(ACCOUNT_PREFIX, self._n, n), account):
                raise RuntimeError("the ledgers' accounts are out of step")
        return ids, account

    def _append(self, rows: dict[str, np.ndarray]) -> None:
        """Append rows (every column; flags default to False, counters to 0)."""
        k = len(rows["account"])
        n, store = self._n, self._store
        size = len(store["account"])
        if n + k > size:
            size = max(n + k, 2 * size)
            for name, col in store.items():
                grown = np.zeros(size, dtype=col.dtype)
                grown[:n] = col[:n]
                store[name] = grown
        for name, values in rows.items():
            store[name][n : n + k] = values
        self._n = n + k

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
        """Append founded teams (their parameters in `rows`): rows with their Mesa ids and
        accounts, active, funded with their seed round."""
        m = self.model
        k = len(rows["need"])
        ids, accounts = self._enrol(k)
        on = np.ones(k, dtype=bool)
        self._append(dict(ids=ids, account=accounts, **rows, active=on, deployed=on, founded=on))
        m.fund_many(accounts, rows["funding"])
        m.population.count_founded(FineTuner.kind, k)

    # -- the week ----------------------------------------------------------------------------------
    def step(self, idx: np.ndarray | None = None) -> None:
        """The teams' week (all of them, or the rows `idx` in that order): staff paid and teams
        closed, entry and exit, seed and follow-on rounds, then their lines for hours.

        A team never founded has no state yet (not active, deployed or closed, no cash, no idle
        weeks): for it the week is only the entry test. So the rule runs over the founded rows and
        tests the others for entry alone; every number is the one the rule over all rows gives."""
        m = self.model
        drv = m.drivers
        rows = np.arange(len(self)) if idx is None else np.asarray(idx, dtype=np.int64)
        n = rows.size
        if n == 0:
            return
        if idx is None and self.founded.all():
            self._step_all_founded(rows)
            return
        founded_at = self.founded[rows] if idx is not None else self.founded
        old = np.flatnonzero(founded_at)  # positions in `rows` of teams founded before this week
        self._pay_and_close(rows[old])
        fresh = np.flatnonzero(~founded_at)
        d = m.cfg.demand
        price = m.hours.expected_price(SMALL)
        # Would-be teams start when the open model serves their need and an hour is worth its price.
        r_new = rows[fresh]
        value_new = d.value_per_edge_hour * self.edge[r_new] * drv.value_climate
        starts = (drv.open_quality >= self.need[r_new]) & (value_new > price)
        new = fresh[starts]
        r_old = rows[old]
        closed = self.closed[r_old]
        was_active = self.active[r_old]
        cash = m.cash.balance[self.account[r_old]]
        value_old = d.value_per_edge_hour * self.edge[r_old] * drv.value_climate
        usable = drv.open_quality >= self.need[r_old]
        start, stop = _enter_and_leave(usable, was_active, ~closed, value_old, price, cash)
        if new.size:  # a new team raises its seed round when it starts
            r = rows[new]
            m.fund_many(self.account[r], self.funding[r])
            self.founded[r] = True
            m.population.count_founded(FineTuner.kind, int(new.size))
        # From here on: every founded team (before or now), in the order of `rows`.
        if new.size:  # merge the two sorted sets of positions (a mask: no sort, no hashing)
            is_new = np.zeros(n, dtype=bool)
            is_new[new] = True
            mark = is_new.copy()
            mark[old] = True
            live = np.flatnonzero(mark)
            was_old = ~is_new[live]
        else:
            live, was_old = old, np.ones(old.size, dtype=bool)
        r_live = rows[live]
        account = self.account[r_live]
        value = np.empty(live.size)
        value[was_old], value[~was_old] = value_old, value_new[starts]
        active = np.ones(live.size, dtype=bool)  # the new ones start
        active[was_old] = (was_active | start) & ~stop
        closed_live = np.zeros(live.size, dtype=bool)
        closed_live[was_old] = closed
        # Follow-on rounds, quarterly, likelier in a warm climate.
        due = ~closed_live & ((m.steps + self.offset[r_live]) % QUARTER == 0)
        if due.any():
            p = min(0.95, d.round_prob_per_quarter * drv.climate)
            lucky = due & (m.rng.random(n)[live] < p)
            if lucky.any():
                r = r_live[lucky]
                m.fund_many(
                    self.account[r],
                    self.funding[r] * drv.climate * m.rng.uniform(0.3, 1.0, lucky.sum()),
                )
        self.active[r_live] = active
        deployed = self.deployed[r_live] | active
        self.deployed[r_live] = deployed
        self.idle_weeks[r_live] = np.where(~closed_live & ~active, self.idle_weeks[r_live] + 1, 0)
        self._bid_for_hours(
            account,
            value,
            active,
            deployed,
            self.gpus[r_live],
            self.inference_gpus[r_live],
            self.inference_worth[r_live],
        )

    def _step_all_founded(self, rows: np.ndarray) -> None:
        """The week of a pool whose every team was founded (most of a run): the rule of
        :meth:`step` over whole columns, without the index gathers and merges it needs while
        some teams are still would-be ones. Same numbers, same draws."""
        m = self.model
        drv = m.drivers
        d = m.cfg.demand
        n = rows.size
        self._pay_and_close(rows)
        price = m.hours.expected_price(SMALL)
        closed = self.closed  # not written again this week
        was_active = self.active.copy()
        account = self.account
        cash = m.cash.balance[account]
        value = d.value_per_edge_hour * self.edge * drv.value_climate
        usable = drv.open_quality >= self.need
        open_ = ~closed
        start, stop = _enter_and_leave(usable, was_active, open_, value, price, cash)
        active = (was_active | start) & ~stop
        # Follow-on rounds, quarterly, likelier in a warm climate.
        due = open_ & ((m.steps + self.offset) % QUARTER == 0)
        if due.any():
            p = min(0.95, d.round_prob_per_quarter * drv.climate)
            lucky = due & (m.rng.random(n) < p)
            if lucky.any():
                r = np.flatnonzero(lucky)
                m.fund_many(
                    account[r],
                    self.funding[r] * drv.climate * m.rng.uniform(0.3, 1.0, lucky.sum()),
                )
        self.active = active
        deployed = self.deployed | active
        self.deployed = deployed
        self.idle_weeks = np.where(open_ & ~active, self.idle_weeks + 1, 0)
        self._bid_for_hours(
            account, value, active, deployed, self.gpus, self.inference_gpus, self.inference_worth
        )

    def _bid_for_hours(self, account, value, active, deployed, gpus, inference_gpus, inference_worth):
        """Founded teams' lines for hours: the active fine-tune and every deployed model's
        inference, each at most what an hour is worth, within a budget that plans half a year of
        the current job at most."""
        m = self.model
        drv = m.drivers
        d = m.cfg.demand
        cash = m.cash.balance[account]
        inf_need = np.where(deployed, inference_gpus * drv.inference_index, 0.0)
        ft_need = np.where(active, gpus, 0.0)
        hours = (ft_need + inf_need) * HOURS_PER_WEEK * d.budget_weeks
        budget = np.where(
            hours > 0,
            d.compute_budget_share * np.maximum(cash, 0.0) / np.maximum(hours, 1e-9),
            0.0,
        )
        ft_limit = np.minimum(value, budget)
        inf_limit = np.minimum(drv.inference_value * inference_worth, budget)
        ok_ft = (ft_need > 0) & (ft_limit > 0)
        ok_inf = (inf_need > 0) & (inf_limit > 0)
        m.hours.bid_pooled(account[ok_ft], FINETUNE, SMALL, ft_need[ok_ft], ft_limit[ok_ft])
        m.hours.bid_pooled(account[ok_inf], INFERENCE, SMALL, inf_need[ok_inf], inf_limit[ok_inf])

    def _pay_and_close(self, rows: np.ndarray) -> None:
        """Founded teams (`rows`) pay their staff and overheads (`finetuner_burn_musd_per_year`, as
        far as their cash reaches); a team closes when its cash is gone or it has been inactive for
        `finetuner_idle_close_weeks`: it stops, and what cash it has left goes back to investors."""
        m = self.model
        e = m.cfg.entry
        live = ~self.closed[rows]
        if not live.any():
            return
        rows = rows[live]
        account = self.account[rows]
        burn = e.finetuner_burn_musd_per_year * 1e6 / 52.0
        cash = m.cash.balance[account]
        pay = np.minimum(burn, np.maximum(cash, 0.0))
        payers = pay > 0
        if payers.any():
            m.cash.transfer_many(
                account[payers], np.full(int(payers.sum()), m.acct_payroll), pay[payers], "payroll"
            )
        cash = m.cash.balance[account]
        broke = cash <= 0 if burn > 0 else np.zeros(len(rows), dtype=bool)
        shut = broke | (self.idle_weeks[rows] >= e.finetuner_idle_close_weeks)
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


def act(model, teams: TeamViews) -> None:
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


def _enter_and_leave(usable, was_active, open_, value, price: float, cash):
    """Founded teams that start (open, the model serves their need, an hour is worth more than
    it costs) and stop (the model no longer serves it, an hour is worth 20% less than it costs,
    or the cash is gone) this week."""
    start = usable & ~was_active & open_ & (value > price)
    stop = was_active & (~usable | (value < 0.8 * price) | (cash <= 0))
    return start, stop
