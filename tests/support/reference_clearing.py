"""The slow reference for the fast clearing: a uniform-price double auction, one order at a time.

:func:`model.mechanisms.clearing.clear_uniform` replaced this plain per-order Python implementation; it is
kept here, beside the tests, as the rule written the obvious way. ``tests/tooling/test_bench.py`` checks
that both agree on hand-made and random books, and ``h100sim bench`` times it against the fast
clearing when it runs from a checkout (it loads this file by path; without it the benchmark
times the fast clearing alone).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Order:
    """One order, as an agent would hold it."""
    qty: float
    price: float
    fill: float = 0.0


def _fill_orders(orders: list[Order], volume: float, descending: bool) -> None:
    """Fill `volume` among `orders`, best price first, pro rata within a price level."""
    ranked = sorted(orders, key=lambda o: -o.price if descending else o.price)
    before = 0.0
    i = 0
    while i < len(ranked):
        j = i
        level_qty = 0.0
        while j < len(ranked) and ranked[j].price == ranked[i].price:
            level_qty += ranked[j].qty
            j += 1
        share = (volume - before) / level_qty if level_qty > 0 else 0.0
        share = min(1.0, max(0.0, share))
        for o in ranked[i:j]:
            o.fill = o.qty * share
        before += level_qty
        i = j


def reference_clear(bids: list[Order], asks: list[Order]) -> tuple[float, float]:
    """Uniform-price double auction, one order at a time in plain Python.

    Same rule as :func:`model.mechanisms.clearing.clear_uniform`: the price is the middle of the interval of
    prices (among the orders' own prices) that maximise traded volume; bids at or above it and asks
    at or below it are filled best price first, pro rata within a price level. Sets ``fill`` on
    every order and returns (price, volume); price is NaN when nothing trades.
    """
    for o in bids:
        o.fill = 0.0
    for o in asks:
        o.fill = 0.0
    live_b = [o for o in bids if o.qty > 0]
    live_a = [o for o in asks if o.qty > 0]
    if not live_b or not live_a:
        return float("nan"), 0.0
    if max(o.price for o in live_b) < min(o.price for o in live_a):
        return float("nan"), 0.0
    # Walk both curves over the candidate prices, low to high: supply S(p) (asks priced <= p)
    # grows as p rises; demand D(p) (bids priced >= p) shrinks.
    b_sorted = sorted(live_b, key=lambda o: o.price)
    a_sorted = sorted(live_a, key=lambda o: o.price)
    cands = sorted({o.price for o in live_b} | {o.price for o in live_a})
    demand = 0.0
    for o in b_sorted:
        demand += o.qty
    supply = 0.0
    ib = ia = 0
    traded: list[float] = []
    for p in cands:
        while ib < len(b_sorted) and b_sorted[ib].price < p:   # bids below p drop out
            demand -= b_sorted[ib].qty
            ib += 1
        while ia < len(a_sorted) and a_sorted[ia].price <= p:  # asks at or below p come in
            supply += a_sorted[ia].qty
            ia += 1
        traded.append(min(demand, supply))
    vmax = max(traded)
    if vmax <= 0:
        return float("nan"), 0.0
    best = [k for k, v in enumerate(traded) if v >= vmax * (1 - 1e-12)]
    price = 0.5 * (cands[best[0]] + cands[best[-1]])
    _fill_orders([o for o in live_b if o.price >= price], vmax, descending=True)
    _fill_orders([o for o in live_a if o.price <= price], vmax, descending=False)
    return price, vmax




def compare_clearing(bq, bp, aq, ap, rtol: float = 1e-9) -> dict[str, Any]:
    """Clear one book both ways; return both results and whether they agree."""
    from model.mechanisms.clearing import clear_uniform

    res = clear_uniform(bq, bp, aq, ap)
    bids = [Order(float(q), float(p)) for q, p in zip(bq, bp)]
    asks = [Order(float(q), float(p)) for q, p in zip(aq, ap)]
    price, volume = reference_clear(bids, asks)
    bf = np.array([o.fill for o in bids])
    af = np.array([o.fill for o in asks])
    atol = rtol * max(1.0, volume)
    same_price = (math.isnan(price) and math.isnan(res.price)) or math.isclose(
        price, res.price, rel_tol=rtol, abs_tol=1e-12)
    agree = bool(same_price and math.isclose(volume, res.volume, rel_tol=rtol, abs_tol=atol)
                 and np.allclose(bf, res.bid_fill, rtol=rtol, atol=atol)
                 and np.allclose(af, res.ask_fill, rtol=rtol, atol=atol))
    return dict(agree=agree, price=res.price, volume=res.volume, ref_price=price,
                ref_volume=volume)


