"""What every firm has: a cash account and a card account in the model's ledgers, and a fleet."""

from __future__ import annotations

import itertools
from typing import Any, Protocol

import mesa
import numpy as np

from model.mechanisms.finance import card_holding_value
from model.mechanisms.vocabulary import HOURS_PER_WEEK, LARGE, WEEKS_PER_YEAR

QUEUE_WORTH_SKIPPING_WEEKS = 4  # buyers pay to skip the vendor's queue only when it is longer


def reserve_ids(model: mesa.Model, n: int) -> np.ndarray:
    """`n` consecutive Mesa ids for members of a pooled population (rows of arrays, not Mesa
    agents): the ids they would have had as agents, so agents made after them keep theirs."""
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    first = next(mesa.Agent._ids[model])
    mesa.Agent._ids[model] = itertools.count(first + n)
    return np.arange(first, first + n, dtype=np.int64)


class _Holder(Protocol):
    @property
    def model(self) -> Any: ...

    @property
    def account(self) -> int: ...


class Books:
    """Cash and Hopper cards read from the model's ledgers by the holder's ``account`` (a firm,
    or a fine-tuning team's row in its pool)."""

    @property
    def cash(self: _Holder) -> float:
        return self.model.cash.balance.item(self.account)  # Ledger[account], one call less

    @property
    def gpus(self: _Holder) -> float:
        """Hopper cards held (the H100 market's unit)."""
        return self.model.cards.balance.item(self.account)


class Firm(Books, mesa.Agent):
    """A firm with books. Cash and cards live in the model's ledgers, so they always balance.

    Class attributes say what a kind is (the model reads them instead of checking classes):
    ``favoured`` and ``own_chips`` for the vendor's allocation, ``builds_datacentres`` (pays for
    racks and power on delivery), ``fee`` (a reseller's share of what it sells), ``mode`` (what
    the agent frame shows; model builders change theirs)."""

    kind = "firm"
    mode = "firm"
    favoured = False
    own_chips = False
    builds_datacentres = False
    fee = 0.0

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "mode" not in cls.__dict__:
            cls.mode = cls.kind

    def __init__(self, model, name: str, region: str):
        super().__init__(model)
        self.name = name
        self.region = region
        self.account = model.cash.open(f"{self.kind}:{name}")
        model.cards.open(f"{self.kind}:{name}")  # same index in both ledgers
        model.nextgen_cards.open(f"{self.kind}:{name}")
        self.cohorts: list[list[float]] = []  # [delivery step, hopper cards, nextgen cards, H100-eq]
        self._eq = 0.0  # running total of the cohorts' H100-eq
        self._tiny = False  # a cohort may hold next to nothing (see remove_cards)

    # -- books ----------------------------------------------------------------------------------
    @property
    def fleet_eq(self) -> float:
        """Owned compute in H100-equivalents (Hopper variants and next-generation cards).

        Kept as a running total: it is read many times a week and fleets hold many cohorts."""
        eq = self._eq
        return 0.0 if eq < 0.0 else eq  # max(eq, 0.0) without the call

    def receive_cards(
        self, hopper: float, hopper_eq: float, nextgen: float = 0.0, nextgen_eq: float = 0.0
    ) -> None:
        """Add delivered cards as cohorts (one per generation, so each ages and sells on its own)."""
        now = self.model.steps
        cohorts = self.cohorts
        for cards, eq, gen in ((hopper, hopper_eq, 1), (nextgen, nextgen_eq, 2)):
            if cards <= 0:
                continue
            same = None  # this week's cohort of this generation: the last or the one before
            for c in cohorts[:-3:-1]:
                if c[0] == now and c[3 - gen] == 0.0:
                    same = c
                    break
            if same is not None:  # one cohort per generation per week
                same[gen] += cards
                same[3] += eq
            else:
                row = same = [now, 0.0, 0.0, eq]
                row[gen] = cards
                self.cohorts.append(row)
            if same[1] <= 1e-9 and same[2] <= 1e-9:
                self._tiny = True
            self._eq += eq

    def remove_cards(self, hopper: float, to: int) -> float:
        """Take Hopper cards out of the fleet (oldest first) to account `to`; returns H100-eq removed."""
        left, eq_removed = hopper, 0.0
        for c in self.cohorts:
            if left <= 0:
                break
            if c[1] <= 0:
                continue
            take = min(c[1], left)
            eq_take = c[3] * take / c[1]
            c[1] -= take
            c[3] -= eq_take
            self._eq -= eq_take
            eq_removed += eq_take
            left -= take
            if c[1] <= 1e-9 and c[2] <= 1e-9:
                self._tiny = True
        self.model.cards.transfer(self.account, to, hopper - left, "card_sale")
        if self._tiny:
            # Drop emptied cohorts. Every way a cohort can end up (next to) empty sets the flag,
            # so the list is only rebuilt when there is something to drop.
            self.cohorts = [c for c in self.cohorts if c[1] > 1e-9 or c[2] > 1e-9]
            self._tiny = False
        return eq_removed

    # -- credit ----------------------------------------------------------------------------------
    def credit_limit(self) -> float:
        """What the firm may still borrow: the room its GPU-backed lender leaves it, if a lender
        finances it (``agents/lender.py``), else its balance-sheet credit."""
        lender = getattr(self.model, "lender", None)
        if lender is not None and lender.finances(self):
            return lender.headroom(self)
        return self.balance_sheet_credit()

    def balance_sheet_credit(self) -> float:
        """Credit a firm raises on its own balance sheet (hyperscalers, brokers): `credit_ltv` of
        its fleet's value at list price (cards serve as collateral, DOMAIN §1); no covenants."""
        cfg = self.model.cfg
        return cfg.cloud.credit_ltv * self.fleet_eq * cfg.vendor.list_price

    def hand_over_fleet(self, to: Firm) -> tuple[float, float]:
        """Every card (both generations, cohort by cohort, ages kept) to firm `to`, through the
        ledgers (a lender taking its collateral); returns (Hopper cards, next-generation cards)."""
        m = self.model
        hopper = sum(c[1] for c in self.cohorts)
        nextgen = sum(c[2] for c in self.cohorts)
        m.cards.transfer(self.account, to.account, hopper, "seized")
        m.nextgen_cards.transfer(self.account, to.account, nextgen, "seized")
        for c in self.cohorts:
            to.cohorts.append(list(c))
            to._eq += c[3]
        to.cohorts.sort(key=lambda c: c[0])
        self.cohorts, self._eq = [], 0.0
        return hopper, nextgen

    def oldest_life_left(self) -> float:
        """Share of its useful life the oldest Hopper card in the fleet has left (cards are sold
        oldest first); 0.8 for a fleet without cards."""
        m = self.model
        oldest = next((c[0] for c in self.cohorts if c[1] > 0), None)
        if oldest is None:
            return 0.8
        life_weeks = m.cfg.supply.card_life_years * WEEKS_PER_YEAR
        return round(max(0.05, 1.0 - (m.steps - oldest) / life_weeks), 2)

    def holding_value(self, utilization: float | None = None, life_left: float = 0.8) -> float:
        """What a card is worth to keep: its expected rents on large clusters over the rest of its
        life (`life_left`), net of running costs (an owner sells to anyone who pays more).
        `utilization` is the share of hours this owner expects to sell (default: the market's
        target)."""
        m = self.model
        c = m.cfg.cloud
        return card_holding_value(
            m.new_cards.price + c.infra_capex_per_gpu,
            c.opex_per_gpu_hour,
            c.target_utilization,
            m.cfg.supply.card_life_years,
            c.hyperscaler_hurdle,
            c.hyperscaler_halflife_weeks,
            m.hours.expected_price(LARGE),
            None if utilization is None else round(float(utilization), 2),
            life_left,
        )

    def debt_service_per_gpu_hour(self) -> float:
        """What the owner owes its GPU-backed lender this week (interest and amortisation), per
        GPU-hour of its fleet; nothing for a firm no lender finances."""
        lender = getattr(self.model, "lender", None)
        if lender is None or self.fleet_eq <= 0 or not lender.finances(self):
            return 0.0
        interest, amort, _, _ = lender.book.due(self.account)
        return (interest + amort) / (HOURS_PER_WEEK * self.fleet_eq)

    def cash_cost(self) -> float:
        """USD per GPU-hour an owner pays in cash to sell one more hour of its own cards: the power
        (site and staff are paid on every installed card, sold or not), plus what its lenders are
        owed per hour while it still has cash to wait for a better price (DOMAIN §8, §10)."""
        c = self.model.cfg.cloud
        debt = self.debt_service_per_gpu_hour()
        if debt > 0 and self.cash < debt * HOURS_PER_WEEK * max(self.fleet_eq, 1.0):
            debt = 0.0  # out of cash: any hour above the power bill helps
        return c.power_per_gpu_hour + debt

    def site_cost_per_week(self) -> float:
        """Site and staff for every installed card, used or not (the running cost less power)."""
        c = self.model.cfg.cloud
        return max(c.opex_per_gpu_hour - c.power_per_gpu_hour, 0.0) * HOURS_PER_WEEK

    def bid_to_skip_queue(self, market, price: float) -> None:
        """An owner still waiting for the vendor bids for a slice of its backlog used, when the
        queue is long (over a month) and it can pay `price`, what skipping the queue is worth."""
        m = self.model
        backlog = m.new_cards.backlog_of(self.account)
        if backlog > 0 and m.new_cards.lead_time_weeks > QUEUE_WORTH_SKIPPING_WEEKS and self.cash > price:
            market.bid(self, min(backlog * 0.05, self.cash / price), price)

    def on_hours(self, use: int, wanted: float, got: float) -> None:
        """How a line for hours did this week (GPUs wanted, GPUs got)."""

    def on_ask(self, tier: int, sold_share: float) -> None:
        """How an ask of idle hours did this week (share sold)."""

    def on_purchase(self, cards: float, price: float) -> None:
        """Cards bought at `price` are about to arrive (brokers track their cost basis)."""

    def on_delivery(self, eq: float) -> None:
        """Cards (H100-eq) arrived and are in the fleet (clouds build them into clusters)."""

    def retire_aged(self, life_weeks: int) -> None:
        """Retire the cohorts that reached the end of their useful life."""
        if self.cohorts and self.model.steps - self.cohorts[0][0] >= life_weeks:
            self.retire(life_weeks)

    def retire(self, life_weeks: int) -> float:
        """Retire cohorts older than their useful life; returns H100-eq retired."""
        now = self.model.steps
        eq = 0.0
        keep = []
        for c in self.cohorts:
            if now - c[0] >= life_weeks:
                self.model.cards.transfer(self.account, self.model.acct_retired, c[1], "retired")
                self.model.nextgen_cards.transfer(self.account, self.model.acct_retired, c[2], "retired")
                eq += c[3]
                self._eq -= c[3]
            else:
                keep.append(c)
        self.cohorts = keep
        return eq

    def pay(self, to: int, amount: float, kind: str) -> None:
        self.model.cash.transfer(self.account, to, amount, kind)

    def rng(self) -> np.random.Generator:
        return self.model.rng
