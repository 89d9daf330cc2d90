"""The card markets' cheaper paths give the same bits as the plain forms they replace.

Each test runs the kept or shortened form against the straightforward one (written out here) on
random books and compares exactly: values, NaNs and dtypes.
"""

from __future__ import annotations

import numpy as np

from model.mechanisms.contracts import ReservationBook
from model.mechanisms.orderbook import OrderBook, prorata_allocate
from model.mechanisms.products import catalog
from model.mechanisms.rules import ExportRule, RuleBook
from model.mechanisms.vocabulary import LARGE, SMALL


def _same(a, b) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


# -- reservations: committed() kept for the week, with signed rows added ---------------------------
def _committed_plain(rb: ReservationBook, step: int, n: int, tier: int, horizon: int) -> np.ndarray:
    m = (rb.start <= step + horizon) & (step < rb.end) & (rb.tier == tier)
    return np.bincount(rb.provider[m], weights=rb.gpus[m], minlength=n)


def test_kept_committed_equals_a_fresh_count_through_signs_defaults_and_expiry():
    rng = np.random.default_rng(7)
    for _ in range(20):
        rb = ReservationBook()
        n = int(rng.integers(1, 6))
        for step in range(60):
            for _ in range(int(rng.integers(0, 8))):
                action = rng.random()
                if action < 0.6:
                    provider = int(rng.integers(0, n + 1))  # now and then a provider past the count
                    start = step + int(rng.integers(0, 40))
                    gpus = float(rng.uniform(0.1, 500.0)) if rng.random() < 0.9 else int(rng.integers(1, 9))
                    rb.sign(int(rng.integers(0, 30)), provider, int(rng.integers(0, 2)), gpus, start,
                            int(rng.integers(1, 160)), 2.0, 0.5)
                elif action < 0.7 and len(rb):
                    rb.terminate(int(rng.integers(0, len(rb))), step)
                elif action < 0.75:
                    rb.expire(step)
                for tier in (SMALL, LARGE):
                    for horizon in (0, 26, 520):
                        _same(rb.committed(step, n, tier, horizon), _committed_plain(rb, step, n, tier, horizon))


def test_kept_committed_is_read_only():
    rb = ReservationBook()
    rb.sign(0, 1, LARGE, 10.0, 0, 52, 2.0, 0.5)
    got = rb.committed(0, 2, LARGE)
    assert not got.flags.writeable
    rb.sign(1, 1, LARGE, 5.0, 0, 52, 2.0, 0.5)
    assert got[1] == 10.0  # an array handed out earlier does not change under its holder
    assert rb.committed(0, 2, LARGE)[1] == 15.0


# -- the vendor's allocation ----------------------------------------------------------------------
def _prorata_plain(supply, want, weight, cap):
    want = np.asarray(want, dtype=np.float64)
    limit = np.minimum(want, np.asarray(cap, dtype=np.float64))
    w = np.asarray(weight, dtype=np.float64) * want
    got = np.zeros_like(want)
    left = float(supply)
    for _ in range(len(want) + 1):
        room = limit - got
        open_ = (room > 1e-12) & (w > 0)
        if left <= 1e-12 or not open_.any():
            break
        share = left * w * open_ / w[open_].sum()
        take = np.minimum(share, room)
        got += take
        left -= float(take.sum())
    return got


def test_prorata_allocate_equals_the_plain_water_filling():
    rng = np.random.default_rng(3)
    for _ in range(2000):
        n = int(rng.integers(0, 40))
        want = rng.uniform(0, 100, n) * (rng.random(n) < 0.9)
        weight = rng.choice([0.0, 0.6, 1.0, 1.5], n)
        cap = rng.uniform(0, 80, n)
        supply = float(rng.choice([0.0, 1e-13, rng.uniform(0, 3000)]))
        _same(prorata_allocate(supply, want, weight, cap), _prorata_plain(supply, want, weight, cap))


def _random_book(rng, n: int) -> OrderBook:
    b = OrderBook()
    for _ in range(n):
        b.place(int(rng.integers(20, 30)), str(rng.choice(["H100 SXM5", "H800", "H20"])),
                float(rng.uniform(0.5, 300.0)), float(rng.choice([0.6, 1.0, 1.5])),
                float(rng.uniform(2e4, 4e4)), str(rng.choice(["US", "EU", "CN"])), 0,
                bool(rng.random() < 0.5), bool(rng.random() < 0.1))
    return b


def _allocate_plain(b: OrderBook, hopper: float, nextgen_eq: float, max_share: float) -> dict:
    want = np.array(b.outstanding)
    weight = np.array(b.weight)
    customer = np.array(b.customer)
    cust_want = np.bincount(customer, weights=want)[customer]
    cap = max_share * (hopper + nextgen_eq) * want / np.maximum(cust_want, 1e-12)
    ng_ok = np.array(b.nextgen_ok, dtype=bool)
    ng = _prorata_plain(nextgen_eq, np.where(ng_ok, want, 0.0), weight, cap)
    hop = _prorata_plain(hopper, want - ng, weight, np.maximum(cap - ng, 0.0))
    rows = ((hop + ng) > 0).nonzero()[0].tolist()
    out = {c: [getattr(b, c)[i] for i in rows] for c in ("customer", "product", "region", "price", "shell")}
    out["hopper"], out["nextgen_eq"] = hop[rows], ng[rows]
    left = (want - ng - hop).tolist()
    out["book"] = {c: [x for x, q in zip(getattr(b, c), left) if q > 1e-9]
                   for c in ("customer", "product", "region", "nextgen_ok", "weight", "price", "placed", "shell")}
    out["book"]["outstanding"] = [q for q in left if q > 1e-9]
    return out


def test_allocate_columns_equals_the_plain_allocation():
    rng = np.random.default_rng(5)
    for _ in range(300):
        n = int(rng.integers(1, 60))
        hopper = float(rng.choice([0.0, rng.uniform(0, 2000), 1e6]))
        nextgen = float(rng.choice([0.0, rng.uniform(0, 500)]))
        share = float(rng.uniform(0.05, 1.0))
        seed = int(rng.integers(1 << 30))
        got_book = _random_book(np.random.default_rng(seed), n)
        plain_book = _random_book(np.random.default_rng(seed), n)
        got = got_book.allocate_columns(hopper, nextgen, share)
        plain = _allocate_plain(plain_book, hopper, nextgen, share)
        for c in ("customer", "product", "region", "price", "shell"):
            assert got[c] == plain[c]
        _same(got["hopper"], plain["hopper"])
        _same(got["nextgen_eq"], plain["nextgen_eq"])
        for c, col in plain["book"].items():
            assert getattr(got_book, c) == col


def test_cancel_keeps_the_orders_kept_and_returns_what_it_dropped():
    rng = np.random.default_rng(11)
    for _ in range(200):
        b = _random_book(rng, int(rng.integers(0, 30)))
        keep = (rng.random(len(b.outstanding)) < 0.7).tolist()
        before = {c: list(getattr(b, c)) for c in ("customer", "product", "outstanding", "placed")}
        dropped = b.cancel(keep)
        assert dropped == float(sum(q for q, k in zip(before["outstanding"], keep) if not k))
        for c, col in before.items():
            assert getattr(b, c) == [x for x, k in zip(col, keep) if k]


# -- export rules: answers kept by the product's identity -----------------------------------------
def test_rule_answers_are_the_same_for_equal_products_and_distinct_objects():
    import dataclasses
    import datetime as dt

    rule = ExportRule("ban", dt.date(2023, 1, 1), dt.date(2023, 1, 1), ("CN",), tpp_min=4800.0)
    rules = RuleBook([rule])
    for p in catalog().values():
        twin = dataclasses.replace(p)
        for when in (dt.date(2022, 6, 1), dt.date(2024, 6, 1)):
            assert rules.verdict(p, "CN", when) == rules.verdict(twin, "CN", when) == rules._decide(p, "CN", when)
            assert rules.pending_ban(p, "CN", when) == rules.pending_ban(twin, "CN", when)
