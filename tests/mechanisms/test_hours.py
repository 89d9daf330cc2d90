"""Hand-worked examples for model.mechanisms.hours.clear_hours."""

import numpy as np
import pytest

from model.mechanisms.vocabulary import LARGE, SMALL, TRAIN
from model.mechanisms.hours import clear_hours, demand_book, supply_book


def _lines(*rows):
    """rows: (tier, gpus, limit)"""
    b = demand_book()
    for i, (tier, gpus, limit) in enumerate(rows):
        b.add(buyer=100 + i, owner=i, tier=tier, use=TRAIN, gpus=gpus, limit=limit)
    return b.arrays()


def _asks(*rows):
    """rows: (tier, gpus, price)"""
    b = supply_book()
    for i, (tier, gpus, price) in enumerate(rows):
        b.add(seller=200 + i, holder=i, reseller=300, tier=tier, gpus=gpus, price=price, resale=1)
    return b.arrays()


def _clear(lines, asks, cap, price, seed=0, **kw):
    return clear_hours(lines, asks, np.asarray(cap, float), np.asarray(price, float),
                       np.random.default_rng(seed), **kw)


def test_ondemand_sold_out_then_spot():
    # one hyperscaler: 10 small GPUs on demand at $4. Two small lines of 8 @ limit $5:
    # on demand one gets 8 and the other 2 (random order). Residual 0 and 6 meet an agent ask
    # 5 @ $2 on spot: volume 5 on [2, 5] -> price 3.5.
    lines = _lines((SMALL, 8, 5.0), (SMALL, 8, 5.0))
    for seed in range(4):
        r = _clear(lines, _asks((SMALL, 5, 2.0)), [[10, 0]], [4.0], seed=seed)
        assert sorted(r.od_fill) == pytest.approx([2, 8])
        np.testing.assert_array_equal(r.od_cloud, [0, 0])
        np.testing.assert_allclose(r.od_sold, [[10, 0]])
        assert r.spot_fill.sum() == pytest.approx(5)
        assert r.spot_fill[np.argmin(r.od_fill)] == pytest.approx(5)   # only the short line buys
        assert r.spot_price[SMALL] == pytest.approx(3.5)
        assert r.spot_volume[SMALL] == pytest.approx(5)
        assert np.isnan(r.spot_price[LARGE]) and r.spot_volume[LARGE] == 0
        np.testing.assert_allclose(r.ask_fill, [5])


def test_limit_below_ondemand_price_goes_to_spot():
    # on-demand $4 > limit $3 -> nothing on demand; spot ask 10 @ $1 -> 6 at (1 + 3)/2 = 2.
    r = _clear(_lines((SMALL, 6, 3.0)), _asks((SMALL, 10, 1.0)), [[100, 100]], [4.0])
    assert r.od_fill[0] == 0 and r.od_cloud[0] == -1
    assert r.spot_fill[0] == pytest.approx(6) and r.spot_price[SMALL] == pytest.approx(2.0)
    assert r.od_sold.sum() == 0


def test_cheapest_cloud_serves_first():
    # clouds: A small 5 @ $6, B small 5 @ $3. Line 8 @ $10: 5 from B, then 3 from A.
    r = _clear(_lines((SMALL, 8, 10.0)), _asks(), [[5, 0], [5, 0]], [6.0, 3.0])
    assert r.od_fill[0] == pytest.approx(8)
    np.testing.assert_allclose(r.od_sold, [[3, 0], [5, 0]])
    assert r.od_cloud[0] == 1          # the cloud it bought most from


def test_small_jobs_use_large_ondemand_capacity_never_the_reverse():
    # cloud: small 0, large 10. A small line 6 @ $5 buys 6 of the large capacity.
    r = _clear(_lines((SMALL, 6, 5.0)), _asks(), [[0, 10]], [4.0])
    assert r.od_fill[0] == pytest.approx(6)
    np.testing.assert_allclose(r.od_sold, [[0, 6]])
    # a large line cannot use small capacity
    r = _clear(_lines((LARGE, 6, 5.0)), _asks(), [[10, 0]], [4.0])
    assert r.od_fill[0] == 0 and r.od_sold.sum() == 0


def test_large_asks_serve_small_jobs():
    # no on-demand capacity. A large ask 10 @ $3 finds no large buyer, carries to the small round
    # and sells 4 to a small line @ $6 at (3 + 6)/2 = 4.5.
    r = _clear(_lines((SMALL, 4, 6.0)), _asks((LARGE, 10, 3.0)), [[0, 0]], [4.0])
    assert r.spot_fill[0] == pytest.approx(4)
    assert r.spot_price[SMALL] == pytest.approx(4.5)
    assert np.isnan(r.spot_price[LARGE])
    np.testing.assert_allclose(r.ask_fill, [4])
    assert r.asks["tier_cleared"][0] == SMALL


def test_small_asks_never_serve_large_jobs():
    r = _clear(_lines((LARGE, 4, 6.0)), _asks((SMALL, 10, 1.0)), [[0, 0]], [4.0])
    assert r.spot_fill[0] == 0 and r.ask_fill[0] == 0
    assert np.isnan(r.spot_price[LARGE])
    assert r.spot_indicative[LARGE] == 6.0      # only a bid in the large round
    assert r.spot_indicative[SMALL] == 1.0      # only an ask in the small round


def test_large_leftover_after_large_round_carries_to_small():
    # large ask 10 @ $2. Large line 4 @ $8 -> large round sells 4 at (2 + 8)/2 = 5.
    # The remaining 6 carry to small: small line 3 @ $4 -> 3 at (2 + 4)/2 = 3.
    r = _clear(_lines((LARGE, 4, 8.0), (SMALL, 3, 4.0)), _asks((LARGE, 10, 2.0)), [[0, 0]], [9.0])
    np.testing.assert_allclose(r.spot_fill, [4, 3])
    np.testing.assert_allclose(r.spot_price, [3.0, 5.0])       # [SMALL, LARGE]
    np.testing.assert_allclose(r.ask_fill, [7])


def test_large_asks_floored_at_small_price():
    # large line 10 @ $8, large ask 10 @ $2. Without a floor: price (2 + 8)/2 = 5.
    # With small_price = 5 the ask counts as $5 in the large round: price (5 + 8)/2 = 6.5.
    lines, asks = _lines((LARGE, 10, 8.0)), _asks((LARGE, 10, 2.0))
    assert _clear(lines, asks, [[0, 0]], [9.0]).spot_price[LARGE] == pytest.approx(5.0)
    r = _clear(lines, asks, [[0, 0]], [9.0], small_price=5.0)
    assert r.spot_price[LARGE] == pytest.approx(6.5) and r.spot_volume[LARGE] == 10
    # a large buyer whose limit is under the floor buys nothing in the large round
    r = _clear(_lines((LARGE, 10, 4.0)), asks, [[0, 0]], [9.0], small_price=5.0)
    assert r.spot_fill[0] == 0


def test_private_cloud_offers_leftover_at_floor():
    # private cloud: 10 small on demand at $4, floor $1. Line A 3 @ $5 buys 3 on demand; line B
    # 20 @ $2 cannot afford on demand. The 7 left go on spot at $1: B buys 7 at (1 + 2)/2 = 1.5.
    r = _clear(_lines((SMALL, 3, 5.0), (SMALL, 20, 2.0)), _asks(), [[10, 0]], [4.0],
               cloud_floor=np.array([1.0]), cloud_accounts=np.array([7]),
               cloud_resellers=np.array([9]))
    np.testing.assert_allclose(r.od_fill, [3, 0])
    np.testing.assert_allclose(r.spot_fill, [0, 7])
    assert r.spot_price[SMALL] == pytest.approx(1.5)
    np.testing.assert_allclose(r.od_sold, [[3, 0]])
    np.testing.assert_allclose(r.cloud_spot_sold, [[7, 0]])
    # the cloud's offer is appended to the asks with its seller and reseller accounts
    assert len(r.asks["gpus"]) == 1 and r.asks["seller"][0] == 7 and r.asks["reseller"][0] == 9
    assert r.asks["cloud"][0] == 0 and r.ask_fill[0] == pytest.approx(7)


def test_hyperscaler_leaves_unsold_capacity_idle():
    # same as above but no floor (NaN): nothing is offered on spot.
    r = _clear(_lines((SMALL, 3, 5.0), (SMALL, 20, 2.0)), _asks(), [[10, 0]], [4.0],
               cloud_floor=np.array([np.nan]), cloud_accounts=np.array([7]),
               cloud_resellers=np.array([9]))
    assert r.spot_fill.sum() == 0 and r.cloud_spot_sold.sum() == 0 and len(r.asks["gpus"]) == 0


def test_private_large_leftover_reoffered_to_small_not_double_counted():
    # private cloud: large 10 on demand at $4, floor $1. Large line 4 @ $5 buys 4 on demand.
    # 6 large left are offered in the large round (no large buyer left), withdrawn, and re-offered
    # as small: small line 3 @ $3 (below on-demand $4) buys 3 at (1 + 3)/2 = 2.
    r = _clear(_lines((LARGE, 4, 5.0), (SMALL, 3, 3.0)), _asks(), [[0, 10]], [4.0],
               cloud_floor=np.array([1.0]), cloud_accounts=np.array([7]),
               cloud_resellers=np.array([9]))
    np.testing.assert_allclose(r.od_fill, [4, 0])
    np.testing.assert_allclose(r.spot_fill, [0, 3])
    assert r.spot_price[SMALL] == pytest.approx(2.0)
    np.testing.assert_allclose(r.od_sold, [[0, 4]])
    np.testing.assert_allclose(r.cloud_spot_sold, [[3, 0]])
    assert r.od_sold.sum() + r.cloud_spot_sold.sum() <= 10


def test_empty_market():
    r = _clear(_lines(), _asks(), np.zeros((2, 2)), [4.0, 4.0])
    assert r.od_fill.shape == (0,) and r.spot_volume.sum() == 0
    assert np.all(np.isnan(r.spot_price)) and np.all(np.isnan(r.spot_indicative))


@pytest.mark.parametrize("seed", range(25))
def test_hours_sold_never_exceed_offered_or_capacity(seed):
    rng = np.random.default_rng(seed)
    n_lines, n_asks, n_clouds = 12, 6, 3
    lines = _lines(*[(int(rng.integers(0, 2)), float(rng.integers(1, 40)), float(rng.uniform(0.5, 8)))
                     for _ in range(n_lines)])
    asks = _asks(*[(int(rng.integers(0, 2)), float(rng.integers(1, 30)), float(rng.uniform(0.5, 6)))
                   for _ in range(n_asks)])
    cap = rng.integers(0, 40, (n_clouds, 2)).astype(float)
    price = rng.uniform(2, 6, n_clouds)
    floor = np.where(rng.random(n_clouds) < 0.6, rng.uniform(0.5, 2, n_clouds), np.nan)
    r = _clear(lines, asks, cap, price, seed=seed, cloud_floor=floor,
               cloud_accounts=np.arange(n_clouds) + 50, cloud_resellers=np.full(n_clouds, 60),
               small_price=float(rng.uniform(0, 4)))
    # buyers: never more than they asked for
    assert np.all(r.od_fill + r.spot_fill <= lines["gpus"] + 1e-9)
    # asks: never sell more than offered
    assert np.all(r.ask_fill <= r.asks["gpus"] + 1e-9)
    assert np.all(r.ask_fill[:n_asks] >= 0)
    # clouds: on demand + spot never above capacity; hyperscalers (NaN floor) sell nothing on spot
    sold = r.od_sold + r.cloud_spot_sold
    assert np.all(sold.sum(axis=1) <= cap.sum(axis=1) + 1e-9)
    assert np.all(r.od_sold[:, SMALL] <= cap[:, SMALL] + 1e-9)
    assert np.all(sold[:, LARGE] <= cap[:, LARGE] + 1e-9)
    assert np.all(r.cloud_spot_sold[np.isnan(floor)] == 0)
    # spot volume = what buyers bought on spot = what asks sold
    assert r.spot_fill.sum() == pytest.approx(r.spot_volume.sum())
    assert r.ask_fill.sum() == pytest.approx(r.spot_volume.sum())
    # nobody pays more than their limit on demand
    bought = r.od_fill > 0
    assert np.all(price[r.od_cloud[bought]] <= lines["limit"][bought] + 1e-9)


def test_private_large_leftover_is_not_offered_twice():
    # as above, but the small line wants 10 @ $3: only the 6 large GPUs left exist, so it gets 6
    # (the large-round offer is withdrawn before the same capacity is re-offered as small).
    r = _clear(_lines((LARGE, 4, 5.0), (SMALL, 10, 3.0)), _asks(), [[0, 10]], [4.0],
               cloud_floor=np.array([1.0]), cloud_accounts=np.array([7]),
               cloud_resellers=np.array([9]))
    np.testing.assert_allclose(r.spot_fill, [0, 6])
    assert r.spot_volume[SMALL] == pytest.approx(6)
    assert r.od_sold.sum() + r.cloud_spot_sold.sum() == pytest.approx(10)


def test_split_ask_sales_can_be_priced_consistently():
    # The caller (model/markets/hours.py) pays each ask its ask_value (each round's sales at that round's
    # price) and charges each line spot_fill x spot_price[line tier]; the two must match or the
    # pool does not net to zero. Example: one large ask 10 @ $2; large line 4 @ $8, small 3 @ $4.
    # Large round: 4 at (2 + 8)/2 = $5. Small round: the 6 left carry over, 3 sell at (2 + 4)/2 = $3.
    # Buyers pay 4 x 5 + 3 x 3 = 29 per hour. The ask sold 7, but its one tier_cleared (SMALL after
    # the second sale) would price all 7 at $3 = 21 and lose the large-tier premium; ask_value
    # keeps 4 x 5 + 3 x 3 = 29.
    lines = _lines((LARGE, 4, 8.0), (SMALL, 3, 4.0))
    r = _clear(lines, _asks((LARGE, 10, 2.0)), [[0, 0]], [9.0])
    paid = float((r.spot_fill * r.spot_price[lines["tier"]]).sum())
    received = float(r.ask_value.sum())
    assert paid == pytest.approx(29.0)
    assert received == pytest.approx(paid)


# ---- the spot rate: last week's rate moved by this week's weight in recent trade ----------------


def test_spot_rate_moves_by_the_weight_of_this_weeks_book():
    # One small line 4 @ limit 6 against an ask 4 @ 2: the book alone clears at 4 (mid of 2 and
    # 6), volume 4. Last week's rate 3, 12 GPUs traded in the recent weeks: weight 4/(4+12) =
    # 1/4, so the rate is 3 + (4 - 3)/4 = 3.25, and all 4 GPUs trade at it.
    r = _clear(_lines((SMALL, 4, 6.0)), _asks((SMALL, 4, 2.0)), [[0, 0]], [9.0],
               quote=np.array([3.0, 3.0]), recent_volume=np.array([12.0, 0.0]))
    assert r.spot_price[SMALL] == pytest.approx(3.25)
    assert r.spot_indicative[SMALL] == pytest.approx(3.25)
    assert r.spot_fill[0] == pytest.approx(4)
    assert r.ask_value[0] == pytest.approx(3.25 * 4)


def test_a_thin_week_barely_moves_the_rate():
    # 1 GPU offered against a deep book priced far above: alone it would print 10 (mid of 2 and
    # 18); after 999 GPUs a week lately the rate moves 1/1000 of the way from 3.
    r = _clear(_lines((SMALL, 50, 18.0)), _asks((SMALL, 1, 2.0)), [[0, 0]], [99.0],
               quote=np.array([3.0, 3.0]), recent_volume=np.array([999.0, 0.0]))
    assert r.spot_price[SMALL] == pytest.approx(3.0 + (10.0 - 3.0) / 1000)


def test_without_recent_trade_the_rate_is_the_clearing_price():
    r = _clear(_lines((SMALL, 4, 6.0)), _asks((SMALL, 4, 2.0)), [[0, 0]], [9.0],
               quote=np.array([3.0, 3.0]), recent_volume=np.zeros(2))
    assert r.spot_price[SMALL] == pytest.approx(4.0)


def test_rate_below_every_ask_trades_at_the_best_ask():
    # Last rate 1, an ask at 2 and a bid at 6 (clearing alone: 4, volume 4, weight 1/2): the
    # rate would be 2.5, inside [2, 6], so it trades there; a rate far below moves up to the ask.
    r = _clear(_lines((SMALL, 4, 6.0)), _asks((SMALL, 4, 2.0)), [[0, 0]], [9.0],
               quote=np.array([1.0, 1.0]), recent_volume=np.array([4.0, 0.0]))
    assert r.spot_price[SMALL] == pytest.approx(2.5)
    r = _clear(_lines((SMALL, 4, 6.0)), _asks((SMALL, 4, 2.0)), [[0, 0]], [9.0],
               quote=np.array([-10.0, 0.0]), recent_volume=np.array([4.0, 0.0]))
    assert r.spot_price[SMALL] == pytest.approx(2.0)


def test_without_a_cross_the_rate_stays_inside_the_spread():
    # bid 5 @ 1, ask 5 @ 2: no trade. A rate of 1.5 stays; 3.0 falls to the best ask; 0.5 rises
    # to the best bid.
    for last, expect in ((1.5, 1.5), (3.0, 2.0), (0.5, 1.0)):
        r = _clear(_lines((SMALL, 5, 1.0)), _asks((SMALL, 5, 2.0)), [[0, 0]], [9.0],
                   quote=np.array([last, last]), recent_volume=np.array([10.0, 0.0]))
        assert np.isnan(r.spot_price[SMALL])
        assert r.spot_indicative[SMALL] == pytest.approx(expect)
