"""Market clearing, vectorised with numpy.

* :func:`clear_uniform` — a call market: bids and asks cross once at one uniform price (the middle
  of the interval of prices that maximise traded volume). Used for spot hours, used cards and the
  grey channel.
* :func:`clear_at_price` — the same book traded at a given price (a marketplace's posted rate):
  whoever bids at least the rate buys from whoever asks at most it, the long side rationed.
  Used for spot hours, whose rate moves only part of the way to the clearing price each week.
* :func:`allocate_posted` — posted prices: sellers with fixed prices and capacities serve buyers in
  a given (random) order. Used for on-demand hours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class Clearing:
    price: float  # NaN when nothing trades
    volume: float
    bid_fill: np.ndarray  # quantity each bid bought
    ask_fill: np.ndarray  # quantity each ask sold
    best_bid: float  # NaN when there are no bids
    best_ask: float  # NaN when there are no asks

    @property
    def traded(self) -> bool:
        return self.volume > 0

    def indicative(self) -> float:
        """The clearing price, else the middle of the spread, else the one quote there is."""
        return self.price if self.traded else mid_of_spread(self.best_bid, self.best_ask)


def mid_of_spread(best_bid: float, best_ask: float) -> float:
    """The middle of the spread, else the one quote there is, else NaN (a book that did not
    trade still says where the price lies)."""
    quotes = [q for q in (best_bid, best_ask) if math.isfinite(q)]
    return sum(quotes) / len(quotes) if quotes else float("nan")


def _book(bid_qty, bid_price, ask_qty, ask_price):
    """A book's four columns as float arrays; quantities must be >= 0."""
    bq = np.asarray(bid_qty, dtype=np.float64)
    bp = np.asarray(bid_price, dtype=np.float64)
    aq = np.asarray(ask_qty, dtype=np.float64)
    ap = np.asarray(ask_price, dtype=np.float64)
    if (bq < 0).any() or (aq < 0).any():
        raise ValueError("order quantities must be >= 0")
    return bq, bp, aq, ap


class PreparedBook:
    """A spot book made ready once for both ways of trading it (at the price that clears it, at a
    posted rate): its live orders, best quotes and sorted bids are found once a week, not once a
    call. Bid fills come for the live bids only (the fine-tuning pool puts thousands of lines in
    the book, most of them already served on demand, so empty)."""

    def __init__(self, bq: np.ndarray, bp: np.ndarray, aq: np.ndarray, ap: np.ndarray):
        self.bq, self.bp, self.aq, self.ap = bq, bp, aq, ap
        self.lb = (bq > 0).nonzero()[0]
        self.la = (aq > 0).nonzero()[0]
        self.bq_live, self.bp_live = bq[self.lb], bp[self.lb]
        self.aq_live, self.ap_live = aq[self.la], ap[self.la]
        self.best_bid = float(self.bp_live.max()) if self.lb.size else float("nan")
        self.best_ask = float(self.ap_live.min()) if self.la.size else float("nan")
        # a NaN price has no place in a sort or a ranking (max and min pass it on)
        for side, n, best in (("bid", self.lb.size, self.best_bid), ("ask", self.la.size, self.best_ask)):
            if n and math.isnan(best):
                raise ValueError(f"{side} prices must be finite numbers, got NaN in a live {side}")
        self.crosses = bool(self.lb.size and self.la.size and not self.best_bid < self.best_ask)
        self._ob: np.ndarray | None = None
        self._sbp = self.bp_live
        self._desc: np.ndarray | None = None

    @classmethod
    def of(cls, bid_qty, bid_price, ask_qty, ask_price) -> PreparedBook:
        return cls(*_book(bid_qty, bid_price, ask_qty, ask_price))

    def _sorted_bids(self) -> tuple[np.ndarray, np.ndarray]:
        if self._ob is None:
            self._ob = self.bp_live.argsort()
            self._sbp = self.bp_live[self._ob]
        return self._ob, self._sbp

    def _bids_by_priority(self) -> np.ndarray:
        """Live bids (positions among the live ones) best price first, ties in order of arrival:
        the ascending sort read backwards, its runs of equal prices put back in arrival order."""
        if self._desc is None:
            ob, sbp = self._sorted_bids()
            r, pr = ob[::-1], sbp[::-1]
            tie = pr[1:] == pr[:-1]
            if tie.any():
                n = r.size
                g = np.zeros(n, dtype=np.int64)
                np.cumsum(~tie, out=g[1:])
                g *= n
                key = g + r
                key.sort()
                r = key - g
            self._desc = np.ascontiguousarray(r)
        return self._desc

    def uniform_price(self) -> tuple[float, float]:
        """(price, volume) of :func:`clear_uniform`; (NaN, 0) when nothing trades."""
        if not self.crosses:
            return float("nan"), 0.0
        best_bid, best_ask = self.best_bid, self.best_ask
        # Demand D(p): bids priced >= p. Supply S(p): asks priced <= p.
        ob, sbp = self._sorted_bids()
        oa = self.ap_live.argsort()
        sap = self.ap_live[oa]
        suffix = np.concatenate([self.bq_live[ob][::-1].cumsum()[::-1], [0.0]])
        prefix = np.concatenate([[0.0], self.aq_live[oa].cumsum()])
        # Candidate prices: only quotes between the best ask and the best bid can trade (outside
        # that range demand or supply is zero): each bid's price, then each ask's, in that range.
        # D at the i-th sorted bid's price is the suffix from its tie run's first bid; read from
        # a later bid of the run it is no more than that, at the same price, so it moves neither
        # the best volume nor the prices that reach it.
        i0 = int(sbp.searchsorted(best_ask, side="left"))
        cb = sbp[i0:]
        traded_b = np.minimum(suffix[i0:-1], prefix[sap.searchsorted(cb, side="right")])
        ca = sap[: int(sap.searchsorted(best_bid, side="right"))]
        traded_a = np.minimum(
            suffix[sbp.searchsorted(ca, side="left")], prefix[sap.searchsorted(ca, side="right")]
        )
        vmax = float(max(traded_b.max(), traded_a.max()))
        if vmax <= 0:
            return float("nan"), 0.0
        # the middle of the prices that trade the most (to a rounding)
        floor = vmax * (1 - 1e-12)
        at_b, at_a = cb[traded_b >= floor], ca[traded_a >= floor]
        lo = min(at_b.min(initial=math.inf), at_a.min(initial=math.inf))
        hi = max(at_b.max(initial=-math.inf), at_a.max(initial=-math.inf))
        return float(0.5 * (lo + hi)), vmax

    def posted_price(self, price: float) -> tuple[float, float]:
        """(rate, volume) of :func:`clear_at_price`; (NaN, 0) when nothing trades."""
        if not math.isfinite(price):
            raise ValueError(f"price must be finite, got {price}")
        if not self.crosses:
            return float("nan"), 0.0
        p = min(max(float(price), self.best_ask), self.best_bid)
        bids = self.bq_live[self.bp_live >= p].sum()
        volume = float(min(bids, self.aq_live[self.ap_live <= p].sum()))
        if volume <= 0:
            return float("nan"), 0.0
        return p, volume

    def fills(self, price: float, volume: float) -> tuple[np.ndarray, np.ndarray]:
        """Bids priced >= `price` and asks priced <= it share `volume` > 0, best price first, pro
        rata within a price level: (fill of each live bid, fill of each ask)."""
        bid_fill = np.zeros(self.lb.size)
        r = self._bids_by_priority()
        desc = self._sbp[::-1]  # the bids' prices in that order (ties are equal prices)
        k = r.size - int(self._sbp.searchsorted(price, side="left"))  # those priced >= price
        if k:
            r = r[:k]
            _fill_levels(bid_fill, r, self.bq_live[r], desc[:k], volume)
        ask_fill = np.zeros_like(self.aq)
        k = int(np.count_nonzero(self.ap_live <= price))
        if k:
            r = self.ap_live.argsort(kind="stable")[:k]
            _fill_levels(ask_fill, self.la[r], self.aq_live[r], self.ap_live[r], volume)
        return bid_fill, ask_fill

    def clearing(self, price: float, volume: float) -> Clearing:
        """The book's :class:`Clearing` at (price, volume); nothing traded when volume <= 0."""
        if volume <= 0:
            none_b, none_a = np.zeros_like(self.bq), np.zeros_like(self.aq)
            return Clearing(float("nan"), 0.0, none_b, none_a, self.best_bid, self.best_ask)
        live_fill, ask_fill = self.fills(price, volume)
        bid_fill = np.zeros_like(self.bq)
        bid_fill[self.lb] = live_fill
        return Clearing(price, volume, bid_fill, ask_fill, self.best_bid, self.best_ask)


def _fill_levels(fill, pos, sq, sp, volume) -> None:
    """Fill `volume` among orders already ranked (quantities `sq` > 0 at prices `sp`, best first,
    ties in order of arrival), pro rata within a price level, writing the fills at `pos` of
    `fill`: per level its orders' total, the running total of better levels, and each order's
    share of what is left for its level."""
    new_level = np.empty(sp.size, dtype=bool)
    new_level[0] = True
    np.not_equal(sp[1:], sp[:-1], out=new_level[1:])
    level_qty = np.add.reduceat(sq, new_level.nonzero()[0])
    # qty at strictly better levels (a running sum, as the cumulative sum is)
    before = np.empty(level_qty.size)
    before[0] = 0.0
    np.cumsum(level_qty[:-1], out=before[1:])
    # every level holds orders of positive quantity: no empty level to guard against
    share = volume - before
    share /= level_qty
    np.maximum(share, 0.0, out=share)
    np.minimum(share, 1.0, out=share)
    fill[pos] = sq * share[new_level.cumsum() - 1]


def clear_uniform(bid_qty, bid_price, ask_qty, ask_price) -> Clearing:
    """Uniform-price double auction. Quantities must be >= 0; prices finite."""
    book = PreparedBook.of(bid_qty, bid_price, ask_qty, ask_price)
    return book.clearing(*book.uniform_price())


def clear_at_price(bid_qty, bid_price, ask_qty, ask_price, price: float) -> Clearing:
    """Trade a book at one given price instead of the price that clears it.

    The price is first moved into the range where anything can trade (no lower than the best
    ask, no higher than the best bid), so a book that crosses always trades. At that price the
    bids priced at or above it meet the asks priced at or below it; the volume is the smaller
    side, and the long side is rationed best price first, pro rata within a price level (as in
    :func:`clear_uniform`). With ``price`` equal to :func:`clear_uniform`'s price the two agree.
    """
    book = PreparedBook.of(bid_qty, bid_price, ask_qty, ask_price)
    return book.clearing(*book.posted_price(price))


def allocate_posted(capacity, price, bid_qty, bid_limit, priority):
    """Posted-price allocation.

    Sellers (capacity, price) are visited cheapest first; each serves, in `priority` order, the
    buyers whose limit covers its price, until its capacity runs out. Returns a (sellers x buyers)
    array of quantities bought. A buyer never buys more than it asked for, a seller never sells
    more than its capacity.
    """
    fills = np.zeros((len(np.atleast_1d(capacity)), len(np.atleast_1d(bid_qty))))
    for seller, buyers, take in allocate_posted_sparse(capacity, price, bid_qty, bid_limit, priority):
        fills[seller, buyers] = take
    return fills


def allocate_posted_sparse(capacity, price, bid_qty, bid_limit, priority):
    """:func:`allocate_posted` as a list of ``(seller, buyer indices, quantities)``, one entry per
    seller that sold anything, cheapest seller first (the hours market has thousands of buyers
    and a handful of sellers, so the dense matrix would be mostly zeros)."""
    prio = np.asarray(priority, dtype=np.int64)
    # Work in priority order (permute once).
    want = np.asarray(bid_qty, dtype=np.float64)[prio]
    limit = np.asarray(bid_limit, dtype=np.float64)[prio]
    return serve_posted(capacity, price, want, limit, prio)


def serve_posted(capacity, price, want, limit, prio) -> list:
    """:func:`allocate_posted_sparse` with the buyers' wants and limits already in priority order
    (`want` is used up in place). Buyers still wanting are marked, not listed: a seller's buyers
    are one pass over the marks and the limits, and only the buyers it served change mark."""
    cap = np.asarray(capacity, dtype=np.float64)
    prc = np.asarray(price, dtype=np.float64)
    prio = np.asarray(prio, dtype=np.int64)
    alive = want > 0
    n_alive = int(np.count_nonzero(alive))
    eligible = np.empty_like(alive)
    out = []
    for j in np.argsort(prc, kind="stable").tolist():
        if not n_alive:
            break
        if cap[j] <= 0:
            continue
        np.greater_equal(limit, prc[j], out=eligible)
        eligible &= alive
        idx = eligible.nonzero()[0]
        if not idx.size:
            continue
        w = want[idx]
        before = w.cumsum() - w
        # buyers reached before the capacity runs out (a prefix: `before` never falls)
        k = int(before.searchsorted(cap[j], side="left"))
        idx = idx[:k]
        take = np.minimum(cap[j] - before[:k], w[:k])  # = clip(cap - before, 0, w) there
        left = want[idx] - take
        want[idx] = left
        out.append((j, prio[idx], take))
        done = idx[~(left > 0)]
        alive[done] = False
        n_alive -= done.size
    return out
