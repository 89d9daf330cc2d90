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
from model.mechanisms.clearing import allocate_posted_sparse, clear_at_price, clear_uniform
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


def _nan_to(x: float, default: float) -> float:
    return default if np.isnan(x) else x


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
