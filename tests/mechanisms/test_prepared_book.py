"""The hours market's fast clearing (a book prepared once a week, posted-price buyers marked
rather than listed) gives the same numbers, to the last bit, as the forms it replaced
(tests/support/reference_hours.py), on random books and weeks with many tied prices, empty orders
and private clouds."""

from __future__ import annotations

import numpy as np
import pytest
from support import reference_hours as ref

from model.mechanisms import clearing, hours
from model.mechanisms.vocabulary import LARGE, SMALL


def _same(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _same_clearing(x, y) -> None:
    for f in ("price", "volume", "bid_fill", "ask_fill", "best_bid", "best_ask"):
        assert _same(getattr(x, f), getattr(y, f)), f


def _prices(rng, n, grid):
    """Prices either from a coarse grid (many ties) or continuous."""
    if grid:
        return rng.integers(1, 12, n) * 0.25
    return rng.uniform(0.5, 3.0, n)


def _qty(rng, n):
    q = rng.choice([0.0, 1.0, 8.0, 0.1], n) * (rng.random(n) < 0.5) + rng.random(n) * 10 * (
        rng.random(n) < 0.7
    )
    return q


def random_book(rng):
    nb, na = int(rng.integers(0, 300)), int(rng.integers(0, 40))
    grid = bool(rng.random() < 0.6)
    return _qty(rng, nb), _prices(rng, nb, grid), _qty(rng, na), _prices(rng, na, grid)


@pytest.mark.parametrize("seed", range(300))
def test_uniform_and_posted_clearing_match_the_ranked_forms(seed):
    rng = np.random.default_rng(seed)
    bq, bp, aq, ap = random_book(rng)
    _same_clearing(clearing.clear_uniform(bq, bp, aq, ap), ref.clear_uniform(bq, bp, aq, ap))
    u = ref.clear_uniform(bq, bp, aq, ap)
    for price in (u.price, float(rng.uniform(0.0, 3.5)), 1.5):
        if np.isfinite(price):
            _same_clearing(
                clearing.clear_at_price(bq, bp, aq, ap, price), ref.clear_at_price(bq, bp, aq, ap, price)
            )


def test_a_nan_price_in_a_live_order_is_refused_by_name():
    with pytest.raises(ValueError, match="bid prices must be finite"):
        clearing.clear_uniform([1.0, 2.0, 3.0], [2.0, np.nan, 1.5], [2.0, 2.0], [1.0, 1.2])
    with pytest.raises(ValueError, match="ask prices must be finite"):
        clearing.clear_at_price([1.0], [2.0], [2.0, 2.0], [np.nan, 1.2], 1.3)
    # an empty order's price is never read: the book clears as without it
    r = clearing.clear_uniform([1.0, 0.0], [2.0, np.nan], [2.0], [1.0])
    assert r.traded and r.price == 1.5 and r.volume == 1.0


@pytest.mark.parametrize("seed", range(300))
def test_posted_allocation_matches_the_listed_form(seed):
    rng = np.random.default_rng(seed)
    n, s = int(rng.integers(0, 200)), int(rng.integers(0, 8))
    cap = rng.choice([0.0, 5.0, 50.0, 400.0], s) * rng.random(s)
    price = rng.integers(1, 5, s) * 0.5
    want = _qty(rng, n)
    limit = _prices(rng, n, bool(rng.random() < 0.5))
    prio = rng.permutation(n)
    new = clearing.allocate_posted_sparse(cap, price, want, limit, prio)
    old = ref.allocate_posted_sparse(cap, price, want, limit, prio)
    assert len(new) == len(old)
    for (j, b, t), (j0, b0, t0) in zip(new, old):
        assert j == j0 and _same(b, b0) and _same(t, t0)


def random_week(rng):
    n, n_asks, n_clouds = int(rng.integers(0, 400)), int(rng.integers(0, 30)), int(rng.integers(1, 7))
    grid = bool(rng.random() < 0.6)
    lines = hours.demand_book()
    lines.extend(
        buyer=rng.integers(0, 50, n),
        owner=np.where(rng.random(n) < 0.1, rng.integers(0, 20, n), -1),
        tier=np.where(rng.random(n) < 0.2, LARGE, SMALL),
        use=rng.integers(0, 3, n),
        gpus=_qty(rng, n) * 10,
        limit=_prices(rng, n, grid) * 2,
    )
    asks = hours.supply_book()
    asks.extend(
        seller=rng.integers(100, 150, n_asks),
        holder=rng.integers(0, 20, n_asks),
        reseller=rng.integers(200, 203, n_asks),
        tier=rng.integers(0, 2, n_asks),
        gpus=_qty(rng, n_asks) * 20,
        price=_prices(rng, n_asks, grid),
        resale=rng.integers(0, 2, n_asks),
    )
    od_cap = rng.choice([0.0, 30.0, 300.0, 3000.0], (n_clouds, 2)) * rng.random((n_clouds, 2))
    od_price = rng.integers(2, 10, n_clouds) * 0.5
    floor = np.where(rng.random(n_clouds) < 0.5, rng.uniform(0.5, 2.0, n_clouds), np.nan)
    kw = dict(
        cloud_floor=floor,
        cloud_accounts=np.arange(300, 300 + n_clouds),
        cloud_resellers=np.arange(400, 400 + n_clouds),
        small_price=float(rng.uniform(0.5, 2.5)),
        cloud_holdback=rng.uniform(0.0, 50.0, n_clouds) if rng.random() < 0.7 else None,
        quote=rng.uniform(0.5, 3.0, 2) if rng.random() < 0.8 else None,
        recent_volume=rng.choice([0.0, 10.0, 1000.0], 2) if rng.random() < 0.8 else None,
    )
    return lines.arrays(), asks.arrays(), od_cap, od_price, kw


@pytest.mark.parametrize("seed", range(200))
def test_clear_hours_matches_the_old_form(seed):
    lines, asks, od_cap, od_price, kw = random_week(np.random.default_rng(seed))
    rng_new, rng_old = np.random.default_rng(seed + 1), np.random.default_rng(seed + 1)
    copies = ({k: v.copy() for k, v in lines.items()}, {k: v.copy() for k, v in asks.items()})
    new = hours.clear_hours(lines, asks, od_cap, od_price, rng_new, **kw)
    old = ref.clear_hours(*copies, od_cap, od_price, rng_old, **kw)
    assert rng_new.bit_generator.state == rng_old.bit_generator.state
    for f in ("od_fill", "od_cloud", "od_sold", "spot_fill", "ask_fill", "ask_value", "cloud_spot_sold"):
        assert _same(getattr(new, f), getattr(old, f)), f
    for f in ("spot_price", "spot_indicative", "spot_volume"):
        assert _same(getattr(new, f), getattr(old, f)), f
    assert new.asks.keys() == old.asks.keys()
    for k in new.asks:
        assert _same(new.asks[k], old.asks[k]), k
    # the inputs are left as they were
    for k in lines:
        assert _same(lines[k], copies[0][k])
