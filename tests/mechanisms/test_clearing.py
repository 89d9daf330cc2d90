"""Hand-worked examples for model.mechanisms.clearing (clear_uniform, clear_at_price, allocate_posted)."""

import numpy as np
import pytest

from model.mechanisms.clearing import allocate_posted, clear_at_price, clear_uniform


# --------------------------------------------------------------------------------------------
# clear_uniform
# --------------------------------------------------------------------------------------------
def test_brief_example_bids_10_at_5_and_5_at_3_against_ask_8_at_2():
    # candidates 2, 3, 5: D = 15, 15, 10; S = 8, 8, 8 -> volume 8 at every candidate,
    # price = middle of [2, 5] = 3.5. Only the $5 bid is >= 3.5, so it takes all 8.
    r = clear_uniform([10, 5], [5, 3], [8], [2])
    assert r.traded
    assert r.volume == pytest.approx(8)
    assert r.price == pytest.approx(3.5)
    np.testing.assert_allclose(r.bid_fill, [8, 0])
    np.testing.assert_allclose(r.ask_fill, [8])
    assert r.best_bid == 5 and r.best_ask == 2
    assert r.indicative() == pytest.approx(3.5)


def test_single_cross_price_is_middle_of_bid_and_ask():
    # 4@9 vs 4@1: volume 4 on [1, 9] -> price 5.
    r = clear_uniform([4], [9], [4], [1])
    assert (r.price, r.volume) == (5.0, 4.0)


def test_bids_tied_at_marginal_price_are_filled_pro_rata():
    # bids 6@5, 4@5; ask 5@5 -> volume 5 at 5; the two bids share 5 in proportion 6:4 -> 3, 2.
    r = clear_uniform([6, 4], [5, 5], [5], [5])
    assert r.price == 5.0 and r.volume == 5.0
    np.testing.assert_allclose(r.bid_fill, [3, 2])
    np.testing.assert_allclose(r.ask_fill, [5])


def test_better_bid_filled_first_then_tie_pro_rata():
    # bids 4@6, 6@5, 4@5; ask 9@5. D(5)=14, S(5)=9 -> 9; D(6)=4 -> 4. Price 5, volume 9.
    # The $6 bid gets all 4; the remaining 5 is split 6:4 among the $5 bids -> 3, 2.
    r = clear_uniform([4, 6, 4], [6, 5, 5], [9], [5])
    assert r.price == 5.0 and r.volume == 9.0
    np.testing.assert_allclose(r.bid_fill, [4, 3, 2])


def test_asks_tied_at_marginal_price_are_filled_pro_rata():
    # asks 3@4, 1@4; bid 2@5. volume 2 on [4, 5] -> price 4.5; asks share 2 as 3:1 -> 1.5, 0.5.
    r = clear_uniform([2], [5], [3, 1], [4, 4])
    assert r.price == pytest.approx(4.5)
    np.testing.assert_allclose(r.ask_fill, [1.5, 0.5])
    np.testing.assert_allclose(r.bid_fill, [2])


def test_cheapest_ask_sells_first():
    # bids 5@10; asks 5@3, 5@6. Volume 5 on [3, 10] -> price 6.5; both asks <= 6.5 but the $3 ask
    # has priority and sells all 5.
    r = clear_uniform([5], [10], [5, 5], [3, 6])
    assert r.price == pytest.approx(6.5)
    np.testing.assert_allclose(r.ask_fill, [5, 0])


def test_no_crossing_means_no_trade_and_indicative_is_mid_of_spread():
    # best bid 3 < best ask 5 -> nothing trades; indicative = (3 + 5) / 2 = 4.
    r = clear_uniform([10, 2], [3, 1], [7], [5])
    assert not r.traded
    assert r.volume == 0 and np.isnan(r.price)
    np.testing.assert_array_equal(r.bid_fill, [0, 0])
    np.testing.assert_array_equal(r.ask_fill, [0])
    assert (r.best_bid, r.best_ask) == (3.0, 5.0)
    assert r.indicative() == pytest.approx(4.0)


def test_no_asks_indicative_is_best_bid():
    r = clear_uniform([1, 2], [3, 7], [], [])
    assert not r.traded and np.isnan(r.best_ask)
    assert r.best_bid == 7.0
    assert r.indicative() == 7.0
    np.testing.assert_array_equal(r.bid_fill, [0, 0])
    assert r.ask_fill.shape == (0,)


def test_no_bids_indicative_is_best_ask():
    r = clear_uniform([], [], [4, 4], [2.5, 1.5])
    assert not r.traded and np.isnan(r.best_bid)
    assert r.indicative() == 1.5


def test_both_sides_empty_indicative_is_nan():
    r = clear_uniform([], [], [], [])
    assert not r.traded and np.isnan(r.indicative())


def test_zero_quantity_orders_are_ignored():
    # a 0@100 bid must not set the best bid nor buy; a 0@0.01 ask must not set the best ask.
    r = clear_uniform([0, 3], [100, 4], [0, 3], [0.01, 2])
    assert r.best_bid == 4 and r.best_ask == 2
    assert r.price == pytest.approx(3.0) and r.volume == 3
    np.testing.assert_allclose(r.bid_fill, [0, 3])
    np.testing.assert_allclose(r.ask_fill, [0, 3])


def test_all_zero_quantities_trade_nothing():
    r = clear_uniform([0], [5], [0], [1])
    assert not r.traded and np.isnan(r.best_bid) and np.isnan(r.best_ask)


@pytest.mark.parametrize("bq,aq", [([-1, 2], [3]), ([2], [3, -0.5])])
def test_negative_quantity_raises(bq, aq):
    with pytest.raises(ValueError):
        clear_uniform(bq, [5] * len(bq), aq, [1] * len(aq))


def test_touching_prices_trade_at_that_price():
    # bid 5@4, ask 3@4: trades 3 at exactly 4 (best_bid == best_ask is a cross).
    r = clear_uniform([5], [4], [3], [4])
    assert r.price == 4.0 and r.volume == 3.0


def test_fills_balance_and_respect_limits_on_a_random_book():
    rng = np.random.default_rng(0)
    for _ in range(50):
        bq, bp = rng.integers(0, 10, 8).astype(float), rng.integers(1, 20, 8).astype(float)
        aq, ap = rng.integers(0, 10, 6).astype(float), rng.integers(1, 20, 6).astype(float)
        r = clear_uniform(bq, bp, aq, ap)
        assert r.bid_fill.sum() == pytest.approx(r.volume)
        assert r.ask_fill.sum() == pytest.approx(r.volume)
        assert np.all(r.bid_fill <= bq + 1e-9) and np.all(r.ask_fill <= aq + 1e-9)
        if r.traded:
            assert np.all(bp[r.bid_fill > 0] >= r.price)   # nobody buys above their limit
            assert np.all(ap[r.ask_fill > 0] <= r.price)   # nobody sells below their ask
            # volume is the maximum tradeable: no extra unit could be matched at any price
            for p in np.unique(np.concatenate([bp, ap])):
                assert min(bq[bp >= p].sum(), aq[ap <= p].sum()) <= r.volume + 1e-9


# --------------------------------------------------------------------------------------------
# allocate_posted
# --------------------------------------------------------------------------------------------
def test_posted_cheapest_seller_serves_first():
    # sellers: A 5 @ $3, B 10 @ $2. One buyer wants 8 @ limit 4.
    # B (cheaper) is visited first and sells 8; A sells nothing.
    f = allocate_posted([5, 10], [3, 2], [8], [4], [0])
    np.testing.assert_allclose(f, [[0], [8]])


def test_posted_priority_order_decides_who_gets_scarce_capacity():
    # one seller 10 @ $2; buyers 0: 6, 1: 6, both limit 5. Priority [1, 0]: buyer 1 gets 6,
    # buyer 0 the remaining 4. With priority [0, 1] it is the other way round.
    np.testing.assert_allclose(allocate_posted([10], [2], [6, 6], [5, 5], [1, 0]), [[4, 6]])
    np.testing.assert_allclose(allocate_posted([10], [2], [6, 6], [5, 5], [0, 1]), [[6, 4]])


def test_posted_limit_below_price_buys_nothing_from_that_seller():
    # sellers: cheap 3 @ $2, dear 10 @ $6. Buyer 0 wants 5 @ limit 4 -> 3 from cheap, none from
    # dear. Buyer 1 (priority second) wants 5 @ limit 10 -> 0 from cheap (sold out), 5 from dear.
    f = allocate_posted([3, 10], [2, 6], [5, 5], [4, 10], [0, 1])
    np.testing.assert_allclose(f, [[3, 0], [0, 5]])


def test_posted_limit_equal_to_price_buys():
    np.testing.assert_allclose(allocate_posted([5], [4], [2], [4], [0]), [[2]])


def test_posted_zero_capacity_and_zero_demand():
    assert allocate_posted([0, 0], [1, 2], [5], [9], [0]).sum() == 0
    assert allocate_posted([5], [1], [0, 0], [9, 9], [0, 1]).sum() == 0
    assert allocate_posted([], [], [3], [9], [0]).shape == (0, 1)


def test_posted_capacity_and_wants_never_exceeded():
    rng = np.random.default_rng(1)
    for _ in range(50):
        cap = rng.integers(0, 20, 4).astype(float)
        price = rng.integers(1, 10, 4).astype(float)
        want = rng.integers(0, 15, 7).astype(float)
        limit = rng.integers(1, 10, 7).astype(float)
        f = allocate_posted(cap, price, want, limit, rng.permutation(7))
        assert np.all(f >= 0)
        assert np.all(f.sum(axis=1) <= cap + 1e-9)
        assert np.all(f.sum(axis=0) <= want + 1e-9)
        # nobody buys from a seller priced above their limit
        assert np.all(f[price[:, None] > limit[None, :]] == 0)
        # a buyer left short means every seller within its limit is sold out
        short = f.sum(axis=0) < want - 1e-9
        for b in np.flatnonzero(short):
            ok = price <= limit[b]
            np.testing.assert_allclose(f[ok].sum(axis=1), cap[ok])


# ---- trading a book at a posted rate (clear_at_price) ----------------------------------------------


def test_at_price_below_clearing_rations_buyers_best_bid_first():
    # bids 10 @ 5 and 5 @ 3, ask 8 @ 2. At a rate of 2.5 both bids want (15 in all) and 8 are
    # for sale: best price first, so the bid at 5 gets all 8 and the bid at 3 none.
    r = clear_at_price([10, 5], [5.0, 3.0], [8], [2.0], 2.5)
    assert r.price == 2.5 and r.volume == pytest.approx(8)
    np.testing.assert_allclose(r.bid_fill, [8, 0])
    np.testing.assert_allclose(r.ask_fill, [8])


def test_at_price_above_clearing_rations_sellers_cheapest_first():
    # asks 6 @ 1 and 6 @ 2 against one bid 4 @ 5, at a rate of 3: 12 for sale, 4 wanted.
    r = clear_at_price([4], [5.0], [6, 6], [1.0, 2.0], 3.0)
    assert r.price == 3.0 and r.volume == pytest.approx(4)
    np.testing.assert_allclose(r.ask_fill, [4, 0])


def test_at_price_outside_the_crossing_range_moves_into_it():
    # a rate above every bid trades at the best bid; below every ask at the best ask
    hi = clear_at_price([3], [4.0], [5], [2.0], 9.0)
    lo = clear_at_price([3], [4.0], [5], [2.0], 0.5)
    assert (hi.price, hi.volume) == (4.0, 3.0)
    assert (lo.price, lo.volume) == (2.0, 3.0)


def test_at_price_no_cross_trades_nothing():
    r = clear_at_price([3], [1.0], [5], [2.0], 1.5)
    assert not r.traded and np.isnan(r.price)
    assert (r.best_bid, r.best_ask) == (1.0, 2.0)


def test_at_price_equal_to_clearing_price_agrees_with_uniform_clearing():
    rng = np.random.default_rng(7)
    for _ in range(20):
        bq, aq = rng.uniform(0, 10, 30), rng.uniform(0, 10, 30)
        bp, ap = rng.integers(100, 600, 30) / 100, rng.integers(100, 600, 30) / 100
        u = clear_uniform(bq, bp, aq, ap)
        if not u.traded:
            continue
        a = clear_at_price(bq, bp, aq, ap, u.price)
        assert a.volume == pytest.approx(u.volume)
        np.testing.assert_allclose(a.bid_fill, u.bid_fill)
        np.testing.assert_allclose(a.ask_fill, u.ask_fill)


def test_at_price_rejects_a_rate_that_is_not_finite():
    with pytest.raises(ValueError, match="finite"):
        clear_at_price([1], [2.0], [1], [1.0], float("nan"))
