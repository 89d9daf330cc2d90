"""The forms the hours market cleared with before its book was prepared once a week: the slow
reference for :mod:`model.mechanisms.clearing` (``clear_uniform``, ``clear_at_price``,
``allocate_posted_sparse``) and :func:`model.mechanisms.hours.clear_hours`.
``tests/mechanisms/test_prepared_book.py`` checks that the fast forms give the same numbers, to
the last bit, on random books and weeks."""

from __future__ import annotations

import math

import numpy as np

from model.mechanisms.clearing import Clearing, _book
from model.mechanisms.hours import HoursResult, _nan_to, _posted_totals
from model.mechanisms.vocabulary import LARGE, SMALL


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


def clear_uniform(bid_qty, bid_price, ask_qty, ask_price) -> Clearing:
    """The uniform clearing as it was: candidate prices merged from both sides, ranked fills."""
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
    """The posted-rate clearing as it was: masks over the whole book, levels by ``np.unique``."""
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


def allocate_posted_sparse(capacity, price, bid_qty, bid_limit, priority):
    """The on-demand allocation as it was: buyers still wanting re-listed after every seller."""
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


def _append(asks: dict, **cols) -> None:
    for k, v in cols.items():
        asks[k] = np.concatenate([asks[k], np.asarray(v, dtype=asks[k].dtype)])


def clear_hours(
    lines: dict,
    asks: dict,
    od_capacity: np.ndarray,
    od_price: np.ndarray,
    rng: np.random.Generator,
    cloud_floor: np.ndarray | None = None,
    cloud_accounts: np.ndarray | None = None,
    cloud_resellers: np.ndarray | None = None,
    small_price: float = 0.0,
    cloud_holdback: np.ndarray | None = None,
    quote: np.ndarray | None = None,
    recent_volume: np.ndarray | None = None,
) -> HoursResult:
    """One week as it was cleared before the book was prepared once: the same arguments and
    result as :func:`model.mechanisms.hours.clear_hours`, whose docstring says what they mean."""
    n, n_clouds = len(lines["gpus"]), od_capacity.shape[0]
    floor = np.full(n_clouds, np.nan) if cloud_floor is None else np.asarray(cloud_floor, float)
    asks = {k: np.asarray(v).copy() for k, v in asks.items()}
    asks["tier_cleared"] = asks["tier"].copy()
    asks["cloud"] = np.full(len(asks["gpus"]), -1, dtype=np.int64)
    od_fill = np.zeros(n)
    od_cloud = np.full(n, -1, dtype=np.int64)
    od_sold = np.zeros((n_clouds, 2))
    spot_fill = np.zeros(n)
    ask_fill = np.zeros(len(asks["gpus"]))
    ask_value = np.zeros(len(asks["gpus"]))
    price = np.full(2, np.nan)
    indicative = np.full(2, np.nan)
    volume = np.zeros(2)
    cap = od_capacity.astype(np.float64).copy()
    n_agent_asks = len(asks["gpus"])
    private = np.isfinite(floor)
    for tier in (LARGE, SMALL):
        idx = (lines["tier"] == tier).nonzero()[0]
        # 1. on-demand: small jobs may also use large capacity left over
        tier_cap = cap[:, tier] + (cap[:, LARGE] if tier == SMALL else 0.0)
        if idx.size and tier_cap.sum() > 0:
            prio = rng.permutation(idx.size)
            served = allocate_posted_sparse(tier_cap, od_price, lines["gpus"][idx], lines["limit"][idx], prio)
            got, sold = _posted_totals(served, idx.size, n_clouds)
            od_fill[idx] = got
            # the cloud each buyer bought most from (the first such cloud, by index)
            best = np.zeros(idx.size)
            for j, buyers, take in sorted(served, key=lambda s: s[0]):
                better = take > best[buyers]
                best[buyers[better]] = take[better]
                od_cloud[idx[buyers[better]]] = j
            from_tier = np.minimum(sold, cap[:, tier])
            od_sold[:, tier] += from_tier
            cap[:, tier] -= from_tier
            if tier == SMALL:
                od_sold[:, LARGE] += sold - from_tier
                cap[:, LARGE] -= sold - from_tier
        # 2. private clouds put what is left of this tier (and, for small, of large) on spot
        if private.any():
            left = cap[:, tier] + (cap[:, LARGE] if tier == SMALL else 0.0)
            if cloud_holdback is not None:
                left = np.maximum(left - cloud_holdback, 0.0)
            offer = (private & (left > 1e-9)).nonzero()[0]
            if offer.size:
                assert cloud_accounts is not None and cloud_resellers is not None, (
                    "private clouds need accounts"
                )
                _append(
                    asks,
                    seller=cloud_accounts[offer],
                    holder=np.full(offer.size, -1),
                    reseller=cloud_resellers[offer],
                    tier=np.full(offer.size, tier),
                    gpus=left[offer],
                    price=floor[offer],
                    resale=np.zeros(offer.size),
                    tier_cleared=np.full(offer.size, tier),
                    cloud=offer,
                )
                ask_fill = np.concatenate([ask_fill, np.zeros(offer.size)])
                ask_value = np.concatenate([ask_value, np.zeros(offer.size)])
        # 3. spot: residual demand against the pool (agents' asks of this tier, unsold large asks
        #    carried to small, and this tier's cloud offers)
        is_agent = np.arange(len(asks["gpus"])) < n_agent_asks
        this_round = np.where(
            is_agent,
            (asks["tier"] == tier) | ((tier == SMALL) & (asks["tier"] == LARGE)),
            (asks["tier_cleared"] == tier) & (asks["tier"] == tier),
        )
        if tier == SMALL:  # cloud offers made in the large round are withdrawn (capacity re-offered)
            this_round &= ~((~is_agent) & (asks["tier"] == LARGE))
        a_idx = (this_round & (asks["gpus"] - ask_fill > 1e-9)).nonzero()[0]
        resid = np.maximum(lines["gpus"][idx] - od_fill[idx], 0.0)
        a_price = asks["price"][a_idx]
        if tier == LARGE:
            a_price = np.maximum(a_price, small_price)
        book = (resid, lines["limit"][idx], asks["gpus"][a_idx] - ask_fill[a_idx], a_price)
        res = clear_uniform(*book)
        indicative_now = res.indicative()
        last = np.nan if quote is None else float(quote[tier])
        lately = 0.0 if recent_volume is None else float(recent_volume[tier])
        if res.traded and lately > 0 and np.isfinite(last):
            weight = res.volume / (res.volume + lately)
            res = clear_at_price(*book, last + weight * (res.price - last))
            indicative_now = res.price
        elif not res.traded and np.isfinite(last):
            # nothing crossed: the rate stays, but inside the spread (a rate above an ask would
            # be undercut, one below a bid would be taken)
            indicative_now = min(max(last, _nan_to(res.best_bid, -np.inf)), _nan_to(res.best_ask, np.inf))
        spot_fill[idx] = res.bid_fill
        sold_now = res.ask_fill > 0
        asks["tier_cleared"][a_idx[sold_now]] = tier
        ask_fill[a_idx] += res.ask_fill
        if res.traded:
            ask_value[a_idx] += res.ask_fill * res.price
        price[tier], indicative[tier], volume[tier] = res.price, indicative_now, res.volume
        # capacity private clouds sold on spot is no longer free
        cloud_rows = a_idx[(asks["cloud"][a_idx] >= 0) & sold_now]
        for k in cloud_rows:
            c = asks["cloud"][k]
            take = res.ask_fill[np.searchsorted(a_idx, k)]
            from_tier = min(take, cap[c, tier])
            cap[c, tier] -= from_tier
            if tier == SMALL:
                cap[c, LARGE] -= take - from_tier
    cloud_spot_sold = np.zeros((n_clouds, 2))
    crow = (asks["cloud"] >= 0).nonzero()[0]
    if crow.size:
        np.add.at(cloud_spot_sold, (asks["cloud"][crow], asks["tier_cleared"][crow]), ask_fill[crow])
    return HoursResult(
        od_fill,
        od_cloud,
        od_sold,
        spot_fill,
        asks,
        ask_fill,
        ask_value,
        cloud_spot_sold,
        price,
        indicative,
        volume,
    )
