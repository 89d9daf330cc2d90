"""GPU-backed debt: loans secured on cards, their weekly service and the lender's covenants.

Pure arithmetic over arrays, no model: a book of loans (one row per loan: borrower, principal
lent, principal outstanding, annual rate, start week, term in weeks, cards pledged), what each
loan owes in a week (interest on what is outstanding plus straight-line amortisation of the
principal over the term, the card's life), loan-to-value marked to a card price, the
debt-service cover ratio over a trailing window, which borrowers breach which covenant, and what
a borrower must repay, in cash or from a forced sale of cards, to cure a breach. How much a lender
will lend (on the collateral's value and on contracted revenue) and at what rate are here too.
DOMAIN §10 gives the facts (GPU-backed loans, SOFR + 6-6.5% with investment-grade contracts, SOFR +
13% otherwise, loans sized on contracted revenue); the agent that lends is ``agents/lender.py``.
"""

from __future__ import annotations

import numpy as np

from model.mechanisms.vocabulary import HOURS_PER_WEEK, WEEKS_PER_YEAR

TINY = 1e-9


def weekly_service(
    outstanding: np.ndarray, principal: np.ndarray, rate: np.ndarray, term_weeks: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """What each loan owes this week: interest (outstanding × annual rate ÷ 52) and amortisation
    (the principal lent ÷ term, at most what is left)."""
    outstanding = np.asarray(outstanding, dtype=np.float64)
    interest = outstanding * np.asarray(rate, dtype=np.float64) / WEEKS_PER_YEAR
    amort = np.minimum(
        outstanding, np.asarray(principal, dtype=np.float64) / np.maximum(np.asarray(term_weeks), 1)
    )
    return interest, amort


def loan_to_value(debt, cards, mark: float) -> np.ndarray:
    """Debt ÷ (cards × mark); 0 without debt, infinite for debt without collateral value."""
    debt = np.asarray(debt, dtype=np.float64)
    value = np.asarray(cards, dtype=np.float64) * float(mark)
    out = np.zeros_like(debt)
    has = debt > TINY
    ok = has & (value > TINY)
    out[ok] = debt[ok] / value[ok]
    out[has & ~ok] = np.inf
    return out


def cover_ratio(earned, service) -> np.ndarray:
    """Debt-service cover: cash earned ÷ debt service, each summed over a trailing window (the
    last axis); infinite when nothing was due."""
    e = np.atleast_1d(np.asarray(earned, dtype=np.float64).sum(axis=-1))
    s = np.atleast_1d(np.asarray(service, dtype=np.float64).sum(axis=-1))
    out = np.full(s.shape, np.inf)
    due = s > TINY
    out[due] = e[due] / s[due]
    return out


def breaches(ltv, dscr, max_ltv: float, min_dscr: float) -> tuple[np.ndarray, np.ndarray]:
    """Who breaches the loan-to-value covenant (LTV above the line) and who the cover covenant
    (cover below the line; NaN cover, for borrowers not tested on it, never breaches)."""
    ltv = np.asarray(ltv, dtype=np.float64)
    dscr = np.asarray(dscr, dtype=np.float64)
    return ltv > max_ltv + TINY, np.nan_to_num(dscr, nan=np.inf) < min_dscr - TINY


def ltv_cure(
    debt: float, cards: float, mark: float, max_ltv: float, sale_price: float, cash: float
) -> tuple[float, float, bool]:
    """What curing an LTV breach takes: (cash repaid, cards sold, curable).

    Cash repays first (up to what the breach needs). Each card then sold at `sale_price` repays
    that much debt and takes `mark` × `max_ltv` off the allowed debt, so q cards cure an excess e
    when q × (sale_price − max_ltv × mark) >= e. If a sale cannot cure (the sale price is at or
    below the covenant's share of the mark, or the fleet is too small), all cards are to be sold
    and `curable` is False."""
    excess = debt - max_ltv * cards * mark
    if excess <= TINY:
        return 0.0, 0.0, True
    from_cash = min(max(cash, 0.0), excess)
    excess -= from_cash
    if excess <= TINY:
        return from_cash, 0.0, True
    gain = sale_price - max_ltv * mark
    if gain <= TINY:
        return from_cash, cards, False
    q = excess / gain
    return (from_cash, q, True) if q <= cards else (from_cash, cards, False)


def sustainable_debt(earned_per_week: float, min_dscr: float, rate: float, term_weeks: float) -> float:
    """The largest debt whose weekly service (interest + amortisation over `term_weeks`) the cash
    earned covers `min_dscr` times (0 when nothing is earned)."""
    per_dollar = rate / WEEKS_PER_YEAR + 1.0 / max(term_weeks, 1.0)
    return max(earned_per_week, 0.0) / (min_dscr * per_dollar)


def loan_capacity(
    collateral_value, contracted, advance_rate: float, contract_advance: float, max_advance: float
) -> np.ndarray:
    """How much a lender will lend in all: a share of the collateral's value, plus a share of the
    contracted revenue still to come (lenders size loans on contracted revenue, DOMAIN §10), never
    more than `max_advance` of the collateral's value."""
    v = np.asarray(collateral_value, dtype=np.float64)
    c = np.asarray(contracted, dtype=np.float64)
    return np.minimum(max_advance * v, advance_rate * v + contract_advance * c)


def loan_capacity_of(
    collateral_value: float,
    contracted: float,
    advance_rate: float,
    contract_advance: float,
    max_advance: float,
) -> float:
    """:func:`loan_capacity` of one borrower in plain floats (asked for every credit limit; the
    same operations in the same order, so the same bits, NaN included)."""
    cap = max_advance * collateral_value
    other = advance_rate * collateral_value + contract_advance * contracted
    if other < cap or other != other:
        return other
    return cap


def loan_rate(sofr: float, spread_contracted: float, spread_other: float, backed, debt) -> np.ndarray:
    """Annual rate of a borrower's new loan: SOFR plus a spread, blended by the share of its debt
    that contracted revenue backs (DOMAIN §10: SOFR + 6-6.5% with investment-grade contracts,
    SOFR + 13% otherwise)."""
    backed = np.asarray(backed, dtype=np.float64)
    debt = np.asarray(debt, dtype=np.float64)
    share = np.where(debt > TINY, np.clip(backed / np.maximum(debt, TINY), 0.0, 1.0), 0.0)
    return sofr + share * spread_contracted + (1.0 - share) * spread_other


def loan_rate_of(
    sofr: float, spread_contracted: float, spread_other: float, backed: float, debt: float
) -> float:
    """:func:`loan_rate` of one new loan in plain floats (the same operations in the same order,
    so the same bits, NaN included)."""
    share = min(max(backed / debt, 0.0), 1.0) if debt > TINY else 0.0
    return sofr + share * spread_contracted + (1.0 - share) * spread_other


def contracted_revenue(step: int, n_providers: int, provider, start, end, price, gpus, prepaid) -> np.ndarray:
    """Revenue each provider is still owed under signed contracts (reservations): the part not
    prepaid, for the weeks from now (or the start) to the end, per provider."""
    provider = np.asarray(provider, dtype=np.int64)
    start, end = np.asarray(start, dtype=np.int64), np.asarray(end, dtype=np.int64)
    weeks = np.maximum(end - np.maximum(start, step), 0)
    owed = (1.0 - np.asarray(prepaid, dtype=np.float64)) * np.asarray(price) * np.asarray(gpus)
    return np.bincount(provider, weights=owed * weeks * HOURS_PER_WEEK, minlength=n_providers)


class LoanBook:
    """Loans as arrays, one row per loan. ``borrower`` is the borrower's ledger account.

    Change the loans only through the methods below: a borrower's rows, dues and debt are asked
    many times a week (every credit limit, every owner's cash cost) and are kept until the next
    change of that borrower's loans. ``version`` counts the changes of the book."""

    _cols = ("borrower", "principal", "outstanding", "rate", "start", "term", "cards")

    def __init__(self):
        self.borrower = np.zeros(0, dtype=np.int64)
        self.principal = np.zeros(0)  # USD lent
        self.outstanding = np.zeros(0)  # USD still owed
        self.rate = np.zeros(0)  # annual
        self.start = np.zeros(0, dtype=np.int64)  # week lent
        self.term = np.zeros(0, dtype=np.int64)  # weeks to amortise over
        self.cards = np.zeros(0)  # H100-eq pledged when lent (the whole fleet secures each loan)
        self.version = 0
        # each borrower's rows, dues and debt since its loans last changed (a change to one
        # borrower's loans leaves the others' as they were; dropping repaid rows renumbers all)
        self._rows: dict[int, np.ndarray] = {}
        self._dues: dict[int, tuple[float, float, np.ndarray, np.ndarray]] = {}
        self._debt: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self.outstanding)

    def _changed(self, borrower: int) -> None:
        self.version += 1
        self._dues.pop(borrower, None)
        self._debt.pop(borrower, None)

    def lend(self, borrower: int, amount: float, rate: float, start: int, term: int, cards: float) -> None:
        self._changed(borrower)
        self._rows.pop(borrower, None)  # a new row at the end: other borrowers' rows stay
        for col, v in zip(self._cols, (borrower, amount, amount, rate, start, term, cards)):
            setattr(self, col, np.append(getattr(self, col), v))

    def of(self, borrower: int) -> np.ndarray:
        """The borrower's rows, oldest loan first (shared until its loans change: do not write)."""
        rows = self._rows.get(borrower)
        if rows is None:
            rows = np.flatnonzero(self.borrower == borrower)
            rows.setflags(write=False)
            self._rows[borrower] = rows
        return rows

    def debt(self, borrower: int) -> float:
        known = self._debt.get(borrower)
        if known is None:
            # the rows in book order, as a mask selects them: the same sum
            known = self._debt[borrower] = float(self.outstanding[self.of(borrower)].sum())
        return known

    def debt_by(self, accounts) -> np.ndarray:
        """Outstanding per account in `accounts` (in that order)."""
        accounts = np.asarray(accounts, dtype=np.int64)
        return np.array([self.outstanding[self.borrower == a].sum() for a in accounts.tolist()])

    def total(self) -> float:
        return float(self.outstanding.sum())

    def due(self, borrower: int) -> tuple[float, float, np.ndarray, np.ndarray]:
        """This week's (interest, amortisation) of a borrower, and the per-loan amortisation (the
        arrays are shared with later askers until the book changes: read them, do not write)."""
        known = self._dues.get(borrower)
        if known is not None:
            return known
        rows = self.of(borrower)
        owed = self.outstanding[rows]
        if borrower not in self._debt:  # the same sum debt() takes (its credit limit asks next)
            self._debt[borrower] = float(owed.sum())
        i, a = weekly_service(owed, self.principal[rows], self.rate[rows], self.term[rows])
        out = self._dues[borrower] = (float(i.sum()), float(a.sum()), rows, a)
        return out

    def mean_rate(self, borrower: int) -> float:
        rows = self.of(borrower)
        w = self.outstanding[rows]
        return float((self.rate[rows] * w).sum() / w.sum()) if w.sum() > TINY else float("nan")

    def repay(self, borrower: int, amount: float) -> float:
        """Repay principal ahead of schedule, oldest loan first; returns what was applied."""
        self._changed(borrower)
        left = amount
        for r in self.of(borrower).tolist():
            if left <= TINY:
                break
            take = min(left, self.outstanding[r])
            self.outstanding[r] -= take
            left -= take
        return amount - max(left, 0.0)

    def capitalise(self, borrower: int, amount: float) -> None:
        """Unpaid interest is added to the borrower's newest loan."""
        self._changed(borrower)
        rows = self.of(borrower)
        if len(rows) and amount > 0:
            self.outstanding[rows[-1]] += amount

    def amortise(self, rows: np.ndarray, amounts: np.ndarray) -> None:
        for b in set(self.borrower[rows].tolist()):
            self._changed(b)
        self.outstanding[rows] = np.maximum(self.outstanding[rows] - amounts, 0.0)

    def write_off(self, borrower: int) -> float:
        """A defaulted borrower's loans end (the lender takes the cards instead); returns the
        principal written off."""
        self._changed(borrower)
        rows = self.of(borrower)
        lost = float(self.outstanding[rows].sum())
        self.outstanding[rows] = 0.0
        return lost

    def drop_repaid(self) -> None:
        """Drop the loans repaid in full (a book without any keeps its rows, dues and debts)."""
        keep = self.outstanding > TINY
        if not keep.all():
            self.version += 1
            self._rows.clear()
            self._dues.clear()
            self._debt.clear()
            for col in self._cols:
                setattr(self, col, getattr(self, col)[keep])
