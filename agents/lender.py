"""Lender: the GPU-backed lenders (DOMAIN §10), one agent that lends against cards.

It lends to private clouds and to model builders that run their own clusters, secured on their
cards: how much on the cards' value and on the revenue contracts still owe them (lenders size
loans on contracted revenue), at SOFR plus a spread that is low for the part contracted revenue
backs and high otherwise. A borrower draws when its cash runs short (a delivery of cards, its
running costs, its debt service), up to the room the lender leaves it; that room is what
``Firm.credit_limit`` returns for the firms it finances. Hyperscalers finance from their balance
sheet (assumption) and keep their old credit line.

Each week borrowers pay interest and amortisation over the card's life. Every quarter the lender
tests two covenants: loan-to-value, marked to the used-card price, and debt-service cover (cash
earned over the last quarter ÷ debt service; clouds only). A borrower in breach must repay enough
to cure within a quarter: from cash, else the lender has it sell cards in the used-card market at
a discount. A breach that a sale cannot cure, a cure not done in time, or a payment missed is a
default: the lender takes every card and sells the Hopper cards in the used-card market. Every
dollar goes through the cash ledger and every card through the card ledgers; the numbers of the
machinery are pure functions in ``model/mechanisms/debt.py``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from agents.base import Firm
from agents.registry import AgentKind, each, in_turn, register
from model.mechanisms import debt
from model.mechanisms.vocabulary import HOURS_PER_WEEK, WEEKS_PER_YEAR

TINY = 1e-6

#: The ``[lender]`` scenario section: defaults and sources (docs/ODD.md, Parameters).
SETTINGS = dict(
    sofr=0.05,  # assumption: SOFR averaged ~5% over 2023-2025 (not in DOMAIN)
    spread_contracted=0.0625,  # DOMAIN §10: SOFR + 6.0-6.5% with investment-grade contracts
    spread_uncontracted=0.13,  # DOMAIN §10: SOFR + 13% otherwise
    loan_term_years=5.0,  # amortised over the card's life: DOMAIN §8 (5 years), §10 (4-6 years)
    advance_rate=0.5,  # assumption: share of the cards' value lent (LTV not public, DOMAIN §10)
    contract_advance=0.5,  # assumption: share of contracted revenue lent against (DOMAIN §10)
    max_advance=0.7,  # assumption: never more than this share of the cards' value
    covenant_max_ltv=0.8,  # assumption: loan-to-value covenant
    covenant_min_dscr=1.2,  # assumption: debt-service cover covenant
    covenant_test_weeks=13,  # assumption: covenants tested quarterly
    cure_weeks=13,  # assumption: a quarter to cure a breach or pay arrears
    service_reserve_weeks=13,  # assumption: room held back for a quarter's debt service
    fire_sale_discount=0.1,  # assumption: forced and lenders' sales ask 10% below the mark
    mark_stale_weeks=13,  # assumption: a used-card trade older than this is no mark
    cover_window_weeks=13,  # assumption: cover measured over the last quarter
    hyperscalers_borrow=False,  # assumption: hyperscalers finance from their balance sheet
)


@dataclass
class Borrower:
    """What the lender keeps about one borrower."""

    earned: deque = field(default_factory=deque)  # cash earned per week (trailing window)
    service: deque = field(default_factory=deque)  # debt service due per week (trailing window)
    cure_due: float = 0.0  # principal still to repay to cure a breach (USD)
    breach_since: int | None = None  # week the breach was found


class Lender(Firm):
    kind = "lender"
    mode = "lender"

    @classmethod
    def populate(cls, model) -> list[Lender]:
        lender = cls(model, "GPU lenders", "US")
        model.lender = lender
        return [lender]

    def __init__(self, model, name: str, region: str):
        super().__init__(model, name, region)
        self.acct_funders = model.cash.index["lenders"]
        self.book = debt.LoanBook()
        self.mark = float(model.cfg.vendor.list_price)  # USD per H100-eq the collateral is worth
        self.last_trade, self.last_trade_step = float("nan"), -(10**9)
        self.borrowers: dict[int, Borrower] = {}  # by ledger account
        self.defaulted: set[int] = set()  # accounts it no longer lends to
        self.selling: set[int] = set()  # borrowers (unique ids) told to sell cards this week
        self.events: list[tuple] = []  # (date, label, "debt")
        self.written_off = 0.0  # principal lost to defaults (USD)
        self.capitalised = 0.0  # unpaid interest added to loans (USD)
        self.week_defaults = 0
        self.week_forced_cards = 0.0
        self._contracted: tuple | None = None  # (week, contracts signed) -> revenue per cloud

    # -- who and how much --------------------------------------------------------------------------
    def finances(self, agent) -> bool:
        """Private clouds and own-cluster builders borrow here (hyperscalers only if the scenario
        says so); a firm that defaulted stays a borrower with no room."""
        if agent.account in self.defaulted:
            return True
        if agent.kind == "cloud":
            return bool(agent.private or self.model.cfg.lender.hyperscalers_borrow)
        return agent.kind == "creator" and bool(agent.build_own)

    def contracted(self, agent) -> float:
        """Revenue a cloud's signed reservations still owe it (not prepaid), USD."""
        if agent.kind != "cloud":
            return 0.0
        m = self.model
        book = getattr(m.reservations, "book", None)
        if book is None:
            return 0.0
        key = (m.steps, len(book), float(book.gpus.sum()))
        if self._contracted is None or self._contracted[0] != key:
            owed = debt.contracted_revenue(
                m.steps,
                len(m.population.clouds),
                book.provider,
                book.start,
                book.end,
                book.price,
                book.gpus,
                book.prepaid_share,
            )
            self._contracted = (key, owed)
        return float(self._contracted[1][agent.cloud_index])

    def capacity(self, agent) -> float:
        """All the lender will lend a borrower: on its cards' value and contracted revenue."""
        c = self.model.cfg.lender
        value = agent.fleet_eq * self.mark
        return debt.loan_capacity_of(
            value, self.contracted(agent), c.advance_rate, c.contract_advance, c.max_advance
        )

    def headroom(self, agent) -> float:
        """What a borrower may still spend on credit (``Firm.credit_limit``): the room left under
        its capacity less a reserve for `service_reserve_weeks` of debt service; nothing after a
        default or while in breach. (``room`` and ``capacity`` inlined: every credit limit asks.)"""
        account, book = agent.account, self.book
        interest, amort, _, _ = book.due(account)
        c = self.model.cfg.lender
        reserve = c.service_reserve_weeks * (interest + amort)
        st = self.borrowers.get(account)
        if account in self.defaulted or (st is not None and st.breach_since is not None):
            room = 0.0
        else:
            value, owed = agent.fleet_eq * self.mark, self.contracted(agent)
            cap = debt.loan_capacity_of(value, owed, c.advance_rate, c.contract_advance, c.max_advance)
            room = max(0.0, cap - book.debt(account))
        return max(0.0, room - reserve)

    def room(self, agent) -> float:
        """What a borrower may still draw in all (the reserve included)."""
        st = self.borrowers.get(agent.account)
        if agent.account in self.defaulted or (st is not None and st.breach_since is not None):
            return 0.0
        return max(0.0, self.capacity(agent) - self.book.debt(agent.account))

    def sale_price(self) -> float:
        return (1.0 - self.model.cfg.lender.fire_sale_discount) * self.mark

    # -- the week: sell what must be sold (before the used-card market clears) ---------------------
    def step(self) -> None:
        """Ask in the used-card market for the cards borrowers in breach must sell, and for the
        Hopper cards taken from defaulted borrowers."""
        m = self.model
        price = self.sale_price()
        self.selling = set()
        for agent in self._borrowers():
            st = self.borrowers.get(agent.account)
            if st is None or st.cure_due <= TINY:
                continue
            qty = min(agent.gpus, max(st.cure_due - max(agent.cash, 0.0), 0.0) / price)
            if qty > TINY:
                m.used_cards.ask(agent, qty, price)
                self.selling.add(agent.unique_id)
        if self.gpus > TINY:
            m.used_cards.ask(self, self.gpus, price)
            self.selling.add(self.unique_id)

    # -- the week's settlement (after the markets and running costs) -------------------------------
    def settle(self) -> None:
        """Sweep cure money, lend what borrowers are short, collect debt service, re-mark the
        collateral and, on test weeks, test the covenants."""
        m = self.model
        c = m.cfg.lender
        self.week_defaults = 0
        self.week_forced_cards = self._sold_under_orders()
        window = int(c.cover_window_weeks)
        for agent in self._borrowers():
            st = self.borrowers.get(agent.account)
            if st is None:  # a new borrower (not one built every week and thrown away)
                st = self.borrowers[agent.account] = Borrower(deque(maxlen=window), deque(maxlen=window))
            self._sweep(agent, st)
            self._service(agent, st)
            if st.breach_since is not None and m.steps - st.breach_since >= c.cure_weeks:
                self._default(agent, "did not cure a breach in time")
        self._update_mark()
        if m.steps % int(c.covenant_test_weeks) == 0:
            self.test_covenants()
        self.book.drop_repaid()

    def _borrowers(self) -> list:
        """The firms it finances that have not defaulted (``finances`` inlined: asked of every
        cloud and model builder three times a week)."""
        pop = self.model.population
        gone = self.defaulted
        any_cloud = bool(self.model.cfg.lender.hyperscalers_borrow)
        return [
            a
            for a in pop.clouds + pop.creators
            if a.account not in gone
            and ((a.private or any_cloud) if a.kind == "cloud" else (a.kind == "creator" and a.build_own))
        ]

    def _sweep(self, agent, st: Borrower) -> None:
        """Cash a borrower in breach holds goes to repay the loan until the breach is cured."""
        if st.breach_since is None:
            return
        owed = self.book.debt(agent.account)
        pay = min(max(agent.cash, 0.0), st.cure_due, owed)
        if pay > 0:
            agent.pay(self.account, pay, "debt_prepayment")
            self.book.repay(agent.account, pay)
            st.cure_due -= pay
        if st.cure_due <= TINY or owed - pay <= TINY:
            st.cure_due, st.breach_since = 0.0, None

    def _service(self, agent, st: Borrower) -> None:
        """Lend what the borrower is short (its overdraft and this week's service, within its
        room), then collect interest and amortisation. What it cannot pay is in arrears: unpaid
        interest is added to the loan, and the arrears must be paid (from cash or a forced sale)
        within `cure_weeks`, like a breach."""
        interest, amort, rows, per_loan = self.book.due(agent.account)
        due = interest + amort
        short = due - agent.cash
        if short > TINY:
            draw = min(short, self.room(agent))
            if draw > TINY:
                self.lend(agent, draw)
        st.service.append(due)
        st.earned.append(operating_cash(agent))
        if due <= 0:
            return
        cash = max(agent.cash, 0.0)
        paid_interest = min(interest, cash)
        paid_amort = min(amort, cash - paid_interest)
        agent.pay(self.account, paid_interest, "interest")
        agent.pay(self.account, paid_amort, "amortisation")
        self.book.amortise(rows, per_loan * (paid_amort / amort if amort > 0 else 0.0))
        arrears = due - paid_interest - paid_amort
        if arrears > TINY * max(1.0, due):
            self.book.capitalise(agent.account, interest - paid_interest)
            self.capitalised += interest - paid_interest
            if st.breach_since is None:
                st.breach_since = self.model.steps
                self.events.append((self.model.date, f"{agent.name}: arrears, forced sale", "debt"))
            st.cure_due += arrears

    def lend(self, agent, amount: float) -> None:
        """A new loan, amortised over the card's life, at SOFR plus the blended spread."""
        m = self.model
        c = m.cfg.lender
        backed = c.contract_advance * self.contracted(agent)
        total = self.book.debt(agent.account) + amount
        rate = debt.loan_rate_of(c.sofr, c.spread_contracted, c.spread_uncontracted, backed, total)
        term = int(round(c.loan_term_years * WEEKS_PER_YEAR))
        if self.cash < amount:  # the lender's own funders put up the money
            m.cash.transfer(self.acct_funders, self.account, amount - max(self.cash, 0.0), "lender_funding")
        self.pay(agent.account, amount, "loan")
        self.book.lend(agent.account, amount, rate, m.steps, term, agent.fleet_eq)
        self._log(self.unique_id, agent.unique_id, "loan", amount)

    def _update_mark(self) -> None:
        """Mark the collateral: the last used-card trade (if recent), else what a card earns its
        holder over the rest of its life; never above the vendor's price of a new card."""
        m = self.model
        c = m.cfg.lender
        traded = float(getattr(m.used_cards, "price", float("nan")))
        if np.isfinite(traded) and traded > 0:
            self.last_trade, self.last_trade_step = traded, m.steps
        if m.steps - self.last_trade_step <= c.mark_stale_weeks:
            basis = self.last_trade
        else:
            basis = self.holding_value()
        self.mark = float(max(min(m.new_cards.price, basis), 0.0))

    # -- covenants --------------------------------------------------------------------------------
    def test_covenants(self) -> None:
        """Loan-to-value at the mark, and cover over the last quarter. A new breach gets a cure
        order (cash now, else a forced sale); a breach not cured within `cure_weeks`, or one a
        sale cannot cure, is a default."""
        m = self.model
        c = m.cfg.lender
        price = self.sale_price()
        for agent in self._borrowers():
            st = self.borrowers.get(agent.account)
            owed = self.book.debt(agent.account)
            if st is None or owed <= TINY:
                continue
            ltv = debt.loan_to_value([owed], [agent.fleet_eq], self.mark)
            earned = np.array(st.earned, dtype=np.float64)
            cover = (
                debt.cover_ratio(earned, np.array(st.service))
                if np.isfinite(earned).all()
                else np.array([np.nan])
            )
            ltv_b, cover_b = debt.breaches(ltv, cover, c.covenant_max_ltv, c.covenant_min_dscr)
            if not (ltv_b[0] or cover_b[0]):
                continue  # arrears, if any, stay to be paid
            need, curable = 0.0, True
            if ltv_b[0]:
                cash, cards, curable = debt.ltv_cure(
                    owed, agent.fleet_eq, self.mark, c.covenant_max_ltv, price, agent.cash
                )
                need = cash + cards * price
            if cover_b[0]:
                weekly = float(np.mean(earned)) if len(earned) else 0.0
                keep = debt.sustainable_debt(
                    weekly,
                    c.covenant_min_dscr,
                    self.book.mean_rate(agent.account),
                    c.loan_term_years * WEEKS_PER_YEAR,
                )
                need = max(need, owed - keep)
            need = max(min(need, owed), st.cure_due)
            if not curable or need > max(agent.cash, 0.0) + agent.gpus * price + TINY:
                self._default(agent, "cannot cure a covenant breach")
                continue
            if st.breach_since is None:
                st.breach_since = m.steps
                if need > max(agent.cash, 0.0) + TINY:
                    self.events.append((m.date, f"{agent.name}: forced sale", "debt"))
            st.cure_due = need

    def _default(self, agent, why: str) -> None:
        """The lender takes every card, writes the loans off, and will sell the Hopper cards."""
        m = self.model
        self.written_off += self.book.write_off(agent.account)
        hopper, nextgen = agent.hand_over_fleet(self)
        self.defaulted.add(agent.account)
        self.borrowers.pop(agent.account, None)
        self.week_defaults += 1
        self.events.append((m.date, f"{agent.name} defaults", "debt"))
        self._log(agent.unique_id, self.unique_id, "seizure", hopper + nextgen)
        self.last_default_reason = why

    # -- what it reports ----------------------------------------------------------------------------
    def _sold_under_orders(self) -> float:
        """Used cards sold this week by borrowers told to sell, and by the lender itself."""
        log = getattr(getattr(self.model, "recorder", None), "trade_log", None)
        if not log or not self.selling:
            return 0.0
        now, total = self.model.steps, 0.0
        for step, seller, _buyer, kind, _market, volume in reversed(log):
            if step != now:
                break
            if kind == "used_cards" and seller in self.selling:
                total += volume
        return total

    def _log(self, seller, buyer, kind: str, volume: float) -> None:
        recorder = getattr(self.model, "recorder", None)
        if recorder is not None:
            recorder.log_trade(seller, buyer, kind, volume)

    def report(self) -> dict[str, float]:
        return {
            "debt_outstanding": self.book.total(),
            "forced_sale_cards": self.week_forced_cards,
            "defaults": float(self.week_defaults),
        }


def operating_cash(agent) -> float:
    """Cash a borrower earned this week for the cover covenant: a cloud's revenue on the hours it
    sold (its recent revenue per hour and utilisation) less their power and the site and staff of
    every installed card; NaN for own-cluster builders, which earn nothing from their cards and
    are not tested on cover."""
    if agent.kind != "cloud":
        return float("nan")
    c = agent.model.cfg.cloud
    capacity = float(agent.capacity_total())
    used = agent.util * capacity
    earned = (agent.revenue_rate - c.power_per_gpu_hour) * used * HOURS_PER_WEEK
    return earned - agent.site_cost_per_week() * capacity


def report(model, lenders: list) -> dict[str, float]:
    out = {"debt_outstanding": 0.0, "forced_sale_cards": 0.0, "defaults": 0.0}
    for lender in lenders:
        for k, v in lender.report().items():
            out[k] += v
    return out


def events(model, lenders: list) -> list[tuple]:
    return [e for lender in lenders for e in lender.events]


register(
    AgentKind(
        "lender",
        Lender,
        build=Lender.populate,
        act=in_turn,
        upkeep=each("settle"),
        week_order=90,
        build_order=200,
        frame_order=60,
        colour="#e377c2",
        label="lender",
        settings=SETTINGS,
        report=report,
        events=events,
    )
)
