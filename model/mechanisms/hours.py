"""The weekly market for GPU-hours, by cluster tier (small: <=4 nodes; large: >=16 nodes, IB).

Buyers arrive with *lines* (what they still need after using their own fleets and reservations):
tier, GPUs for the week, a limit price per GPU-hour, and a use (training, fine-tuning, inference).
They meet, in order:

1. on-demand capacity at each cloud's posted price (sticky), served in random order;
2. the spot pool: idle hours that reservation holders, owners and private clouds hand to
   resellers, cleared at one uniform price per tier (:func:`model.mechanisms.clearing.clear_uniform`).

Large capacity can serve small jobs (a 16-node cluster can be split), never the reverse, so large
on-demand capacity and large spot asks left over after the large market carry to the small one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.mechanisms.books import Book
from model.mechanisms.clearing import PreparedBook, mid_of_spread, serve_posted
from model.mechanisms.vocabulary import LARGE, SMALL


def demand_book() -> Book:
    # buyer: ledger account; owner: index into the model's line-owner table (feedback); use: TRAIN..
    return Book(("buyer", "owner", "tier", "use", "gpus", "limit"))


def supply_book() -> Book:
    # seller: ledger account; holder: index into the ask-owner table; reseller: account taking the fee
    return Book(("seller", "holder", "reseller", "tier", "gpus", "price", "resale"))


@dataclass
class HoursResult:
    od_fill: np.ndarray  # per line: GPUs bought on demand
    od_cloud: np.ndarray  # per line: index of the cloud it bought from (-1 if none)
    od_sold: np.ndarray  # (clouds x 2 tiers) GPUs sold on demand
    spot_fill: np.ndarray  # per line: GPUs bought on spot
    asks: dict  # the agents' asks followed by the clouds' unsold hours
    ask_fill: np.ndarray  # per ask (in `asks`): GPUs sold
    ask_value: np.ndarray  # per ask: USD per hour earned, each round's sales at its price
    cloud_spot_sold: np.ndarray  # (clouds x 2 tiers) GPUs private clouds sold through resellers
    spot_price: np.ndarray  # per tier: clearing price (NaN if no trade)
    spot_indicative: np.ndarray  # per tier: clearing price or mid of the spread
    spot_volume: np.ndarray  # per tier


def _posted_totals(served, n_buyers: int, n_sellers: int) -> tuple[np.ndarray, np.ndarray]:
    """Per buyer and per seller totals of a sparse posted-price allocation, summed exactly as the
    dense (sellers x buyers) matrix would be: buyers over sellers in seller order, sellers over
    a full row of buyers."""
    got = np.zeros(n_buyers)
    sold = np.zeros(n_sellers)
    row = np.zeros(n_buyers)
    for j, buyers, take in sorted(served, key=lambda s: s[0]):
        got[buyers] += take
        row[buyers] = take
        sold[j] = row.sum()
        row[buyers] = 0.0
    return got, sold


def turned_away_at(unmet: np.ndarray, limits: np.ndarray, prices) -> dict[float, float]:
    """GPUs of the week's unmet lines whose limit reaches each list price, once per distinct
    price (clouds often list alike): the demand a cloud at that price turned away."""
    out: dict[float, float] = {}
    for p in prices:
        if p not in out:
            # np.compress picks the same lines as a boolean index, in order, faster on a long book
            out[p] = float(np.compress(limits >= p, unmet).sum()) if len(unmet) else 0.0
    return out


def _nan_to(x: float, default: float) -> float:
    return default if np.isnan(x) else x


def _spot_round(resid, limit, a_qty, a_price, last: float, lately: float):
    """One tier's spot round: the book cleared (its rate moved toward the clearing price by the
    week's weight, see :func:`clear_hours`). Returns (rate, volume, indicative price, live bid
    positions, their fills, each ask's fill)."""
    book = PreparedBook(resid, limit, a_qty, a_price)
    price, volume = book.uniform_price()
    if volume > 0:
        indicative_now = price
        if lately > 0 and np.isfinite(last):
            weight = volume / (volume + lately)
            price, volume = book.posted_price(last + weight * (price - last))
            indicative_now = price
    else:
        indicative_now = mid_of_spread(book.best_bid, book.best_ask)
        if np.isfinite(last):
            # nothing crossed: the rate stays, but inside the spread (a rate above an ask would
            # be undercut, one below a bid would be taken)
            indicative_now = min(max(last, _nan_to(book.best_bid, -np.inf)), _nan_to(book.best_ask, np.inf))
    if volume > 0:
        bid_fill, ask_fill = book.fills(price, volume)
    else:
        bid_fill, ask_fill = np.zeros(book.lb.size), np.zeros(len(a_qty))
    return price, volume, indicative_now, book.lb, bid_fill, ask_fill


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
    """Clear one week.

    od_capacity is (clouds x 2 tiers) GPUs free for on-demand sale at od_price. Clouds with a
    finite cloud_floor (private clouds) offer what on-demand buyers leave on the spot pool at that
    floor; the others leave it idle (sticky list prices). A large cluster can always be split and
    sold as small ones, so in the large round no large ask goes below `small_price` (last week's
    small-cluster price): large clusters keep whatever premium large buyers pay. A cloud keeps
    `cloud_holdback` GPUs (per cloud) of what is left idle for on-demand buyers to come, off spot.

    Spot trades at the pool's posted rate: last week's `quote` (per tier) moved toward the price
    that would clear this week's book by the weight of this week's book in the trade of recent
    weeks, v / (v + `recent_volume`), with v the volume the clearing would trade. A thin week
    (a few GPUs against thousands a week lately) barely moves the rate; a week as heavy as the
    recent ones moves it half way; with nothing traded lately it moves all the way (without a
    quote or `recent_volume` the clearing price itself). At the rate the long side is rationed.
    """
    n, n_clouds = len(lines["gpus"]), od_capacity.shape[0]
    floor = np.full(n_clouds, np.nan) if cloud_floor is None else np.asarray(cloud_floor, float)
    # the agents' asks; the clouds' offers of each round are added at the end
    agent = {k: np.asarray(v) for k, v in asks.items()}
    n_agent_asks = len(agent["gpus"])
    a_tier = agent["tier"]
    a_gpus = agent["gpus"]
    a_tier_cleared = a_tier.copy()
    a_fill = np.zeros(n_agent_asks)
    a_value = np.zeros(n_agent_asks)
    offers: list[dict] = []  # per round with offers: the clouds' columns, fills and values
    od_fill = np.zeros(n)
    od_cloud = np.full(n, -1, dtype=np.int64)
    od_sold = np.zeros((n_clouds, 2))
    spot_fill = np.zeros(n)
    price = np.full(2, np.nan)
    indicative = np.full(2, np.nan)
    volume = np.zeros(2)
    cap = od_capacity.astype(np.float64).copy()
    private = np.isfinite(floor)
    any_private = bool(private.any())
    gpus, limits, line_tier = lines["gpus"], lines["limit"], lines["tier"]
    for tier in (LARGE, SMALL):
        idx = (line_tier == tier).nonzero()[0]
        # 1. on-demand: small jobs may also use large capacity left over
        tier_cap = cap[:, tier] + (cap[:, LARGE] if tier == SMALL else 0.0)
        if idx.size and tier_cap.sum() > 0:
            prio = rng.permutation(idx.size)
            order = idx[prio]
            served = serve_posted(tier_cap, od_price, gpus[order], limits[order], prio)
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
        offer = np.zeros(0, dtype=np.int64)
        if any_private:
            left = cap[:, tier] + (cap[:, LARGE] if tier == SMALL else 0.0)
            if cloud_holdback is not None:
                left = np.maximum(left - cloud_holdback, 0.0)
            offer = (private & (left > 1e-9)).nonzero()[0]
            if offer.size:
                assert cloud_accounts is not None and cloud_resellers is not None, (
                    "private clouds need accounts"
                )
        # 3. spot: residual demand against the pool (agents' asks of this tier, unsold large asks
        #    carried to small, and this tier's cloud offers; offers made in the large round are
        #    withdrawn from the small one, their capacity re-offered)
        this_round = (a_tier == tier) | (a_tier == LARGE) if tier == SMALL else a_tier == tier
        a_idx = (this_round & (a_gpus - a_fill > 1e-9)).nonzero()[0]
        n_a = a_idx.size
        a_qty = a_gpus[a_idx] - a_fill[a_idx]
        a_price = agent["price"][a_idx]
        if offer.size:
            a_qty = np.concatenate([a_qty, left[offer].astype(a_gpus.dtype)])
            a_price = np.concatenate([a_price, floor[offer].astype(a_price.dtype)])
        resid = np.maximum(gpus[idx] - od_fill[idx], 0.0)
        if tier == LARGE:
            a_price = np.maximum(a_price, small_price)
        last = np.nan if quote is None else float(quote[tier])
        lately = 0.0 if recent_volume is None else float(recent_volume[tier])
        p, v, indicative_now, live, bid_fill, ask_fill = _spot_round(
            resid, limits[idx], a_qty, a_price, last, lately
        )
        spot_fill[idx[live]] = bid_fill
        sold_now = ask_fill[:n_a] > 0
        a_tier_cleared[a_idx[sold_now]] = tier
        a_fill[a_idx] += ask_fill[:n_a]
        if v > 0:
            a_value[a_idx] += ask_fill[:n_a] * p
        price[tier], indicative[tier], volume[tier] = p, indicative_now, v
        if offer.size:
            o_fill = ask_fill[n_a:]
            offers.append(
                dict(
                    cloud=offer,
                    gpus=left[offer].astype(a_gpus.dtype),
                    tier=tier,
                    fill=o_fill + 0.0,  # a fresh ask's fill, as 0 + fill
                    value=o_fill * p + 0.0 if v > 0 else np.zeros(offer.size),
                )
            )
            # capacity private clouds sold on spot is no longer free
            for c, take in zip(offer[o_fill > 0].tolist(), o_fill[o_fill > 0].tolist()):
                from_tier = min(take, cap[c, tier])
                cap[c, tier] -= from_tier
                if tier == SMALL:
                    cap[c, LARGE] -= take - from_tier
    # all asks: the agents' followed by the clouds' offers, round by round
    all_asks = {k: v.copy() for k, v in agent.items()}
    all_asks["tier_cleared"] = a_tier_cleared
    all_asks["cloud"] = np.full(n_agent_asks, -1, dtype=np.int64)
    ask_fill_all, ask_value_all = a_fill, a_value
    if offers:
        assert cloud_accounts is not None and cloud_resellers is not None
        cloud = np.concatenate([o["cloud"] for o in offers])
        k = cloud.size
        tiers = np.concatenate([np.full(o["cloud"].size, o["tier"]) for o in offers])
        cols = dict(
            seller=cloud_accounts[cloud],
            holder=np.full(k, -1),
            reseller=cloud_resellers[cloud],
            tier=tiers,
            gpus=np.concatenate([o["gpus"] for o in offers]),
            price=floor[cloud],
            resale=np.zeros(k),
            tier_cleared=tiers,
            cloud=cloud,
        )
        for key, col in cols.items():
            all_asks[key] = np.concatenate([all_asks[key], np.asarray(col, dtype=all_asks[key].dtype)])
        ask_fill_all = np.concatenate([a_fill] + [o["fill"] for o in offers])
        ask_value_all = np.concatenate([a_value] + [o["value"] for o in offers])
    cloud_spot_sold = np.zeros((n_clouds, 2))
    crow = (all_asks["cloud"] >= 0).nonzero()[0]
    if crow.size:
        np.add.at(
            cloud_spot_sold, (all_asks["cloud"][crow], all_asks["tier_cleared"][crow]), ask_fill_all[crow]
        )
    return HoursResult(
        od_fill,
        od_cloud,
        od_sold,
        spot_fill,
        all_asks,
        ask_fill_all,
        ask_value_all,
        cloud_spot_sold,
        price,
        indicative,
        volume,
    )
