"""The vendor's order book: orders, pro-rata allocation of scarce output, the lead time.

The vendor allocates each week's output to its order book pro rata to weighted outstanding orders
(favoured customers weigh more, hyperscalers with their own chips less), with a per-customer quota
cap. Lead time is *measured* from the backlog against planned output, never set. Output itself is
a driver (:func:`model.drivers.weekly_output`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import compress
from typing import NamedTuple

import numpy as np

#: the order book's parallel columns, one entry per order
COLUMNS = ("customer", "product", "region", "nextgen_ok", "weight", "price", "placed", "shell", "outstanding")


def prorata_allocate(supply: float, want, weight, cap) -> np.ndarray:
    """Share `supply` among orders in proportion to weight*want, never above want or cap.

    Water-filling: what a capped order cannot take is shared again among the others.
    """
    want = np.asarray(want, dtype=np.float64)
    got = np.zeros_like(want)
    left = float(supply)
    if left <= 1e-12:  # nothing to share (the vendor makes no next-generation cards yet)
        return got
    limit = np.minimum(want, np.asarray(cap, dtype=np.float64))
    w = np.asarray(weight, dtype=np.float64) * want
    weighted = w > 0
    for _ in range(len(want) + 1):
        room = limit - got
        open_ = (room > 1e-12) & weighted
        if left <= 1e-12 or not open_.any():
            break
        share = left * w * open_ / w[open_].sum()
        take = np.minimum(share, room)
        got += take
        left -= float(take.sum())
    return got


@dataclass
class OrderBook:
    """The vendor's backlog of orders, as parallel arrays (one entry per order)."""

    customer: list = field(default_factory=list)  # account index
    product: list = field(default_factory=list)  # product name ordered
    region: list = field(default_factory=list)
    nextgen_ok: list = field(default_factory=list)  # may be filled with next-generation cards
    weight: list = field(default_factory=list)
    price: list = field(default_factory=list)  # per H100-equivalent, locked at order time
    placed: list = field(default_factory=list)
    shell: list = field(default_factory=list)  # placed by a broker through a shell company
    outstanding: list = field(default_factory=list)
    _per_customer: dict | None = field(default=None, repr=False)

    def place(
        self,
        customer: int,
        product: str,
        qty: float,
        weight: float,
        price: float,
        region: str,
        step: int,
        nextgen_ok: bool,
        shell: bool = False,
    ) -> None:
        if qty <= 0:
            return
        if self._per_customer is not None:
            # A new order goes to the end of the book, so adding it to the cached total gives
            # the same sum (in the same order) as recounting the book.
            self._per_customer[customer] = self._per_customer.get(customer, 0.0) + float(qty)
        self.customer.append(customer)
        self.product.append(product)
        self.region.append(region)
        self.nextgen_ok.append(nextgen_ok)
        self.weight.append(weight)
        self.price.append(price)
        self.placed.append(step)
        self.shell.append(shell)
        self.outstanding.append(float(qty))

    def backlog(self) -> float:
        return float(sum(self.outstanding))

    def backlog_of(self, customer: int) -> float:
        if self._per_customer is None:  # cached until the book changes
            per: dict[int, float] = {}
            for c, q in zip(self.customer, self.outstanding):
                per[c] = per.get(c, 0.0) + q
            self._per_customer = per
        return float(self._per_customer.get(customer, 0.0))

    def cancel(self, keep) -> float:
        """Drop orders where keep[i] is False; returns the quantity cancelled."""
        keep = list(keep)
        self._per_customer = None
        dropped = float(sum(compress(self.outstanding, [not k for k in keep])))
        for name in COLUMNS:
            setattr(self, name, list(compress(getattr(self, name), keep)))
        return dropped

    def allocate(self, hopper: float, nextgen_eq: float, max_share: float) -> list[Delivery]:
        """Allocate a week's output and return what each order receives.

        Next-generation output (in H100-equivalents) goes first to the orders that accept it;
        Hopper output then fills what is left, pro rata to weight, with each customer's total
        capped at `max_share` of the week's output (the quota). Filled orders leave the book.
        """
        d = self.allocate_columns(hopper, nextgen_eq, max_share)
        return [
            Delivery(*row)
            for row in zip(
                d["customer"],
                d["product"],
                d["region"],
                d["price"],
                d["shell"],
                d["hopper"].tolist(),
                d["nextgen_eq"].tolist(),
            )
        ]

    def allocate_columns(self, hopper: float, nextgen_eq: float, max_share: float) -> dict:
        """:meth:`allocate` as columns, one entry per order served (lists for the order's own
        fields, arrays for `hopper` and `nextgen_eq`): what the vendor books each week."""
        n = len(self.outstanding)
        if n == 0:
            return dict(
                customer=[],
                product=[],
                region=[],
                price=[],
                shell=[],
                hopper=np.zeros(0),
                nextgen_eq=np.zeros(0),
            )
        want = np.array(self.outstanding)
        weight = np.array(self.weight)
        customer = np.array(self.customer)  # ledger accounts: small ints
        cust_want = np.bincount(customer, weights=want)[customer]
        cap = max_share * (hopper + nextgen_eq) * want / np.maximum(cust_want, 1e-12)
        ng_ok = np.array(self.nextgen_ok, dtype=bool)
        ng = prorata_allocate(nextgen_eq, np.where(ng_ok, want, 0.0), weight, cap)
        hop = prorata_allocate(hopper, want - ng, weight, np.maximum(cap - ng, 0.0))
        served = (hop + ng) > 0
        if served.all():  # the usual week: every order gets its pro-rata share
            out = dict(
                customer=self.customer[:],
                product=self.product[:],
                region=self.region[:],
                price=self.price[:],
                shell=self.shell[:],
                hopper=hop,
                nextgen_eq=ng,
            )
        else:
            is_served = served.tolist()
            out = dict(
                customer=list(compress(self.customer, is_served)),
                product=list(compress(self.product, is_served)),
                region=list(compress(self.region, is_served)),
                price=list(compress(self.price, is_served)),
                shell=list(compress(self.shell, is_served)),
                hopper=hop[served],
                nextgen_eq=ng[served],
            )
        left = want - ng - hop
        self._per_customer = None
        self.outstanding = left.tolist()
        if (left <= 1e-9).any():
            self.cancel((left > 1e-9).tolist())
        return out


class Delivery(NamedTuple):
    """What one order receives this week (a tuple: the vendor makes ~200 a week)."""

    customer: int
    product: str
    region: str
    price: float  # per H100-equivalent
    shell: bool
    hopper: float  # Hopper cards
    nextgen_eq: float  # next-generation capacity, in H100-equivalents


def lead_time_weeks(backlog: float, planned_output, integration_weeks: float) -> float:
    """Weeks a new order waits: until cumulative planned output covers the backlog ahead of it.

    `planned_output` is the vendor's output for the coming weeks (its booked packaging capacity);
    past its end the last week's rate is assumed. Zero output means an infinite wait.
    """
    planned = np.asarray(planned_output, dtype=np.float64)
    if backlog <= 0:
        return float(integration_weeks)
    cum = np.cumsum(planned)
    if cum.size and cum[-1] >= backlog:
        k = int(np.searchsorted(cum, backlog))  # week index in which the backlog is cleared
        before = cum[k - 1] if k > 0 else 0.0
        frac = (backlog - before) / planned[k] if planned[k] > 0 else 0.0
        return float(k + frac + integration_weeks)
    last = planned[-1] if planned.size else 0.0
    if last <= 0:
        return float("inf")
    done = cum[-1] if cum.size else 0.0
    with np.errstate(over="ignore"):  # next to no output: the wait overflows to infinity, as at zero
        return float(planned.size + (backlog - done) / last + integration_weeks)
