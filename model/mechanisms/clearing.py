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
        if self.traded:
            return self.price
        quotes = [q for q in (self.best_bid, self.best_ask) if math.isfinite(q)]
        return sum(quotes) / len(quotes) if quotes else float("nan")


def _fill_by_priority(qty, price, eligible, volume, descending, levels):
    """Fill `volume` among eligible orders, best price first, pro rata within a price level.

    `levels` holds every eligible price, sorted and unique: orders are ranked by their level's
    index, a small integer, so the stable sort is a radix sort (ties stay in order of arrival).
    """
    fill = np.zeros_like(qty)
    if volume <= 0 or not eligible.any():
        return fill
    e = eligible.nonzero()[0]
    rank = levels.searchsorted(price[e])
    if descending:
        rank = len(levels) - 1 - rank  # smaller rank = higher priority
    if len(levels) < 2**16:
        rank = rank.astype(np.uint16)
    order = rank.argsort(kind="stable")
    sk, sq = rank[order], qty[e[order]]
    # price levels: runs of equal ranks in the sorted order
    new_level = np.empty(sk.size, dtype=bool)
    new_level[0] = True
    np.not_equal(sk[1:], sk[:-1], out=new_level[1:])
    start = new_level.nonzero()[0]
    level_qty = np.add.reduceat(sq, start)
    before = np.concatenate([[0.0], level_qty.cumsum()[:-1]])  # qty at strictly better levels
    share = np.minimum(np.maximum((volume - before) / np.where(level_qty > 0, level_qty, 1.0), 0.0), 1.0)
    fill[e[order]] = sq * share[new_level.cumsum() - 1]
    return fill


def _sorted_unique_between(a, b, lo: float, hi: float) -> np.ndarray:
    """Sorted unique values of two sorted arrays, between lo and hi (both included)."""
    parts = [x[np.searchsorted(x, lo, "left") : np.searchsorted(x, hi, "right")] for x in (a, b)]
    both = np.concatenate(parts)
    both.sort(kind="stable")  # two sorted runs: a merge
    keep = np.empty(both.size, dtype=bool)
    keep[:1] = True
    np.not_equal(both[1:], both[:-1], out=keep[1:])
    return both[keep]


def _book(bid_qty, bid_price, ask_qty, ask_price):
    """A book's four columns as float arrays; quantities must be >= 0."""
    bq = np.asarray(bid_qty, dtype=np.float64)
    bp = np.asarray(bid_price, dtype=np.float64)
    aq = np.asarray(ask_qty, dtype=np.float64)
    ap = np.asarray(ask_price, dtype=np.float64)
    if (bq < 0).any() or (aq < 0).any():
        raise ValueError("order quantities must be >= 0")
    return bq, bp, aq, ap


def clear_uniform(bid_qty, bid_price, ask_qty, ask_price) -> Clearing:
    """Uniform-price double auction. Quantities must be >= 0; prices finite."""
    bq, bp, aq, ap = _book(bid_qty, bid_price, ask_qty, ask_price)
    live_b, live_a = bq > 0, aq > 0
    bp_live, ap_live = bp[live_b], ap[live_a]
    best_bid = float(bp_live.max()) if bp_live.size else float("nan")
    best_ask = float(ap_live.min()) if ap_live.size else float("nan")
    if not bp_live.size or not ap_live.size or best_bid < best_ask:
        return Clearing(float("nan"), 0.0, np.zeros_like(bq), np.zeros_like(aq), best_bid, best_ask)
    # Demand D(p): bids priced >= p. Supply S(p): asks priced <= p.
    ob = bp_live.argsort()
    sbp, sbq = bp_live[ob], bq[live_b][ob]
    oa = ap_live.argsort()
    sap, saq = ap_live[oa], aq[live_a][oa]
    # Candidate prices: only quotes between the best ask and the best bid can trade (outside that
    # range demand or supply is zero).
    cand = _sorted_unique_between(sbp, sap, best_ask, best_bid)
    suffix = np.concatenate([sbq[::-1].cumsum()[::-1], [0.0]])
    demand = suffix[sbp.searchsorted(cand, side="left")]
    prefix = np.concatenate([[0.0], saq.cumsum()])
    supply = prefix[sap.searchsorted(cand, side="right")]
    traded = np.minimum(demand, supply)
    vmax = float(traded.max())
    if vmax <= 0:
        return Clearing(float("nan"), 0.0, np.zeros_like(bq), np.zeros_like(aq), best_bid, best_ask)
    best = (traded >= vmax * (1 - 1e-12)).nonzero()[0]
    price = 0.5 * (cand[best[0]] + cand[best[-1]])
    # Every eligible quote lies between the best ask and the best bid, so it is a candidate.
    bid_fill = _fill_by_priority(bq, bp, live_b & (bp >= price), vmax, True, cand)
    ask_fill = _fill_by_priority(aq, ap, live_a & (ap <= price), vmax, False, cand)
    return Clearing(float(price), vmax, bid_fill, ask_fill, best_bid, best_ask)


def clear_at_price(bid_qty, bid_price, ask_qty, ask_price, price: float) -> Clearing:
    """Trade a book at one given price instead of the price that clears it.

    The price is first moved into the range where anything can trade (no lower than the best
    ask, no higher than the best bid), so a book that crosses always trades. At that price the
    bids priced at or above it meet the asks priced at or below it; the volume is the smaller
    side, and the long side is rationed best price first, pro rata within a price level (as in
    :func:`clear_uniform`). With ``price`` equal to :func:`clear_uniform`'s price the two agree.
    """
    bq, bp, aq, ap = _book(bid_qty, bid_price, ask_qty, ask_price)
    if not math.isfinite(price):
        raise ValueError(f"price must be finite, got {price}")
    live_b, live_a = bq > 0, aq > 0
    best_bid = float(bp[live_b].max()) if live_b.any() else float("nan")
    best_ask = float(ap[live_a].min()) if live_a.any() else float("nan")
    none = Clearing(float("nan"), 0.0, np.zeros_like(bq), np.zeros_like(aq), best_bid, best_ask)
    if not live_b.any() or not live_a.any() or best_bid < best_ask:
        return none
    p = min(max(float(price), best_ask), best_bid)
    buy, sell = live_b & (bp >= p), live_a & (ap <= p)
    volume = float(min(bq[buy].sum(), aq[sell].sum()))
    if volume <= 0:
        return none
    levels = np.unique(np.concatenate([bp[buy], ap[sell]]))
    bid_fill = _fill_by_priority(bq, bp, buy, volume, True, levels)
    ask_fill = _fill_by_priority(aq, ap, sell, volume, False, levels)
    return Clearing(p, volume, bid_fill, ask_fill, best_bid, best_ask)


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
    cap = np.asarray(capacity, dtype=np.float64)
    prc = np.asarray(price, dtype=np.float64)
    prio = np.asarray(priority, dtype=np.int64)
    # Work in priority order (permute once); buyers still wanting are kept as a shrinking list.
    want = np.asarray(bid_qty, dtype=np.float64)[prio]
    limit = np.asarray(bid_limit, dtype=np.float64)[prio]
    alive = (want > 0).nonzero()[0]
    out = []
    for j in np.argsort(prc, kind="stable"):
        if not alive.size:
            break
        if cap[j] <= 0:
            continue
        idx = alive[limit[alive] >= prc[j]]
        if not idx.size:
            continue
        w = want[idx]
        before = w.cumsum() - w
        # buyers reached before the capacity runs out (a prefix: `before` never falls)
        k = int(before.searchsorted(cap[j], side="left"))
        idx = idx[:k]
        take = np.minimum(cap[j] - before[:k], w[:k])  # = clip(cap - before, 0, w) there
        want[idx] -= take
        out.append((int(j), prio[idx], take))
        alive = alive[want[alive] > 0]
    return out
