"""Hand-worked examples for model.mechanisms.orderbook."""

import datetime as dt
import math
from types import SimpleNamespace

import numpy as np
import pytest

from model.drivers import weekly_output
from model.mechanisms.orderbook import OrderBook, lead_time_weeks, prorata_allocate


# --------------------------------------------------------------------------------------------
# weekly_output
# --------------------------------------------------------------------------------------------
def _cfg(**kw):
    s = dict(
        packaging_wafers_per_month=((dt.date(2022, 1, 1), 5200.0),),
        packaging_multiplier=2.0,
        packaging_multiplier_from=dt.date(2023, 1, 1),
        vendor_packaging_share=((dt.date(2022, 1, 1), 0.5),),
        hopper_per_wafer=10.0,
        hopper_share_of_output=((dt.date(2022, 1, 1), 0.8),),
        h100_first_ship=dt.date(2023, 1, 2),
        nextgen_h100_equivalents=2.5,
    )
    s.update(kw)
    return SimpleNamespace(supply=SimpleNamespace(**s))


def test_weekly_output_after_multiplier_and_first_ship():
    # 5200 wafers/month x 2 = 10400 -> x 12/52 = 2400/week -> x 0.5 vendor share = 1200.
    # Hopper: 1200 x 10 x 0.8 = 9600. Next gen: 1200 x 10 / 2.5 x 0.2 = 960 packages.
    hop, ng = weekly_output(_cfg(), dt.date(2023, 3, 6))
    assert hop == pytest.approx(9600)
    assert ng == pytest.approx(960)
    # the switch to next gen conserves H100-equivalents: 9600 + 960 x 2.5 = 1200 x 10
    assert hop + ng * 2.5 == pytest.approx(1200 * 10)


def test_weekly_output_before_first_ship_has_no_hopper():
    # 2022-12-05: before the multiplier (600 vendor wafers/week) and before the first shipment.
    hop, ng = weekly_output(_cfg(), dt.date(2022, 12, 5))
    assert hop == 0.0
    assert ng == pytest.approx(600 * 10 / 2.5 * 0.2)


def test_weekly_output_interpolates_series():
    # wafers ramp 5200 -> 10400 between 2023-01-01 and 2023-01-31 (30 days): at 2023-01-16, 7800.
    cfg = _cfg(packaging_wafers_per_month=((dt.date(2023, 1, 1), 5200.0), (dt.date(2023, 1, 31), 10400.0)),
               packaging_multiplier=1.0, hopper_share_of_output=((dt.date(2022, 1, 1), 1.0),))
    hop, ng = weekly_output(cfg, dt.date(2023, 1, 16))
    assert hop == pytest.approx(7800 * 12 / 52 * 0.5 * 10)
    assert ng == 0.0


def test_weekly_output_baseline_runs_and_is_nonnegative():
    from model.config import load_scenario
    cfg = load_scenario("baseline")
    for d in (dt.date(2022, 10, 3), dt.date(2023, 6, 5), dt.date(2025, 9, 1)):
        hop, ng = weekly_output(cfg, d)
        assert hop >= 0 and ng >= 0
    assert weekly_output(cfg, dt.date(2022, 10, 3))[0] == 0.0        # before 2023-01-02


# --------------------------------------------------------------------------------------------
# prorata_allocate
# --------------------------------------------------------------------------------------------
def test_prorata_equal_weights_share_by_want():
    # supply 100, wants 50 and 150 -> w = 50:150 -> 25, 75.
    np.testing.assert_allclose(prorata_allocate(100, [50, 150], [1, 1], [np.inf, np.inf]), [25, 75])


def test_prorata_weights_scale_shares():
    # supply 9, wants 10, 10, weights 2, 1 -> 6, 3.
    np.testing.assert_allclose(prorata_allocate(9, [10, 10], [2, 1], [np.inf] * 2), [6, 3])


def test_prorata_cap_redistributes_by_water_filling():
    # supply 10, wants 10, 10, cap [2, inf]: first round 5, 5 -> order 0 capped at 2, 3 left,
    # which goes to order 1 -> [2, 8].
    np.testing.assert_allclose(prorata_allocate(10, [10, 10], [1, 1], [2, np.inf]), [2, 8])


def test_prorata_three_way_water_filling():
    # supply 30, wants 20 each, caps [4, 20, 20]: round 1 10 each -> 4, 10, 10 (6 left);
    # round 2 3 each to the two open -> [4, 13, 13].
    np.testing.assert_allclose(prorata_allocate(30, [20, 20, 20], [1, 1, 1], [4, 20, 20]), [4, 13, 13])


def test_prorata_supply_beyond_wants_gives_each_its_want():
    np.testing.assert_allclose(prorata_allocate(1000, [10, 20], [1, 3], [np.inf] * 2), [10, 20])


def test_prorata_zero_weight_or_want_gets_nothing():
    np.testing.assert_allclose(prorata_allocate(10, [10, 0, 10], [0, 1, 1], [np.inf] * 3), [0, 0, 10])
    np.testing.assert_allclose(prorata_allocate(0, [10, 10], [1, 1], [np.inf] * 2), [0, 0])
    assert prorata_allocate(5, [], [], []).shape == (0,)


def test_prorata_never_exceeds_supply_want_or_cap():
    rng = np.random.default_rng(2)
    for _ in range(100):
        n = rng.integers(1, 8)
        want, weight, cap = rng.uniform(0, 10, n), rng.uniform(0.1, 3, n), rng.uniform(0, 10, n)
        supply = rng.uniform(0, 40)
        got = prorata_allocate(supply, want, weight, cap)
        assert got.sum() <= supply + 1e-9
        assert np.all(got <= np.minimum(want, cap) + 1e-9)
        # all supply used unless every order is full
        assert got.sum() == pytest.approx(min(supply, np.minimum(want, cap).sum()), abs=1e-7)


# --------------------------------------------------------------------------------------------
# OrderBook
# --------------------------------------------------------------------------------------------
def _book(*orders):
    b = OrderBook()
    for cust, qty, ok, w in orders:
        b.place(cust, "H100 SXM5", qty, w, 30000.0, "US", 0, ok)
    return b


def test_place_ignores_nonpositive_and_backlog_of_sums_per_customer():
    b = _book((0, 60, False, 1), (0, 20, False, 1), (1, 120, False, 1), (2, 0, False, 1))
    assert len(b.outstanding) == 3
    assert b.backlog() == 200
    assert b.backlog_of(0) == 80 and b.backlog_of(1) == 120 and b.backlog_of(2) == 0
    b.place(0, "H100 SXM5", 5, 1, 30000.0, "US", 1, False)     # cache must be refreshed
    assert b.backlog_of(0) == 85


def test_allocate_pro_rata_then_filled_order_leaves_book():
    # orders 50 (weight 3) and 150 (weight 1), hopper 100, quota 100%: w = 150:150 -> 50, 50.
    # The first order is filled and leaves; the second keeps 100 outstanding.
    b = _book((0, 50, False, 3), (1, 150, False, 1))
    d = b.allocate(100, 0, 1.0)
    got = {x.customer: x.hopper for x in d}
    assert got == pytest.approx({0: 50, 1: 50})
    assert b.customer == [1] and b.outstanding == pytest.approx([100])
    assert b.backlog_of(0) == 0 and b.backlog_of(1) == pytest.approx(100)


def test_allocate_quota_caps_each_customer():
    # customer 0: orders 60, 20; customer 1: 120. hopper 100, quota 50% -> 50 per customer.
    # Caps per order: c0 50 x 60/80 = 37.5 and 12.5; c1 50. First round by want: 30, 10, 60 ->
    # c1 capped at 50, 10 left shared 60:20 -> 37.5, 12.5.
    b = _book((0, 60, False, 1), (0, 20, False, 1), (1, 120, False, 1))
    d = b.allocate(100, 0, 0.5)
    per = {}
    for x in d:
        per[x.customer] = per.get(x.customer, 0.0) + x.hopper
    assert per == pytest.approx({0: 50, 1: 50})
    assert sorted(x.hopper for x in d) == pytest.approx([12.5, 37.5, 50])
    assert b.backlog() == pytest.approx(100)


def test_allocate_quota_binding_leaves_output_unallocated():
    # two customers, 100 each, quota 25% of 100 -> each gets 25; 50 cards stay unallocated.
    b = _book((0, 100, False, 1), (1, 100, False, 1))
    d = b.allocate(100, 0, 0.25)
    assert [x.hopper for x in d] == pytest.approx([25, 25])


def test_allocate_nextgen_only_to_orders_that_accept_it():
    # A (nextgen ok) 100, B (not) 100; nextgen 40 eq, hopper 60, quota 100%.
    # nextgen: all 40 to A. Hopper shared by remaining want 60:100 -> 22.5, 37.5.
    b = _book((0, 100, True, 1), (1, 100, False, 1))
    d = {x.customer: x for x in b.allocate(60, 40, 1.0)}
    assert d[0].nextgen_eq == pytest.approx(40) and d[1].nextgen_eq == 0
    assert d[0].hopper == pytest.approx(22.5) and d[1].hopper == pytest.approx(37.5)
    assert b.outstanding == pytest.approx([100 - 62.5, 100 - 37.5])


def test_allocate_nextgen_with_no_taker_is_not_given_to_anyone():
    b = _book((0, 10, False, 1))
    d = b.allocate(0, 50, 1.0)
    assert d == [] and b.outstanding == [10.0]


def test_allocate_delivery_carries_order_fields():
    b = OrderBook()
    b.place(7, "H800", 10, 1.0, 25000.0, "CN", 3, False, shell=True)
    (d,) = b.allocate(100, 0, 1.0)
    assert (d.customer, d.product, d.region, d.price, d.shell, d.hopper, d.nextgen_eq) == \
        (7, "H800", "CN", 25000.0, True, 10.0, 0.0)
    assert b.backlog() == 0 and b.allocate(5, 5, 1.0) == []


def test_allocate_never_delivers_more_than_output():
    rng = np.random.default_rng(3)
    for _ in range(30):
        b = OrderBook()
        for i in range(8):
            b.place(int(rng.integers(0, 4)), "H100 SXM5", float(rng.uniform(1, 50)),
                    float(rng.uniform(0.5, 2)), 1.0, "US", 0, bool(rng.integers(0, 2)))
        before = b.backlog()
        hop, ng, share = rng.uniform(0, 100), rng.uniform(0, 50), rng.uniform(0.1, 1)
        d = b.allocate(hop, ng, share)
        assert sum(x.hopper for x in d) <= hop + 1e-7
        assert sum(x.nextgen_eq for x in d) <= ng + 1e-7
        delivered = sum(x.hopper + x.nextgen_eq for x in d)
        assert b.backlog() == pytest.approx(before - delivered)
        per = {}
        for x in d:
            per[x.customer] = per.get(x.customer, 0.0) + x.hopper + x.nextgen_eq
        assert all(v <= share * (hop + ng) + 1e-7 for v in per.values())
        assert all(q > 0 for q in b.outstanding)


def test_cancel_drops_orders_and_returns_quantity():
    b = _book((0, 10, False, 1), (1, 20, False, 1), (0, 30, True, 1))
    assert b.backlog_of(0) == 40
    dropped = b.cancel([True, False, False])
    assert dropped == 50
    assert b.customer == [0] and b.outstanding == [10.0] and b.nextgen_ok == [False]
    assert all(len(getattr(b, c)) == 1 for c in ("product", "region", "weight", "price", "placed", "shell"))
    assert b.backlog_of(0) == 10 and b.backlog_of(1) == 0


# --------------------------------------------------------------------------------------------
# lead_time_weeks
# --------------------------------------------------------------------------------------------
def test_lead_time_empty_backlog_is_integration_only():
    assert lead_time_weeks(0, [10, 20], 3) == 3.0
    assert lead_time_weeks(-5, [], 3) == 3.0


def test_lead_time_with_growing_output():
    # planned 10, 20, 30 -> cumulative 10, 30, 60.
    # backlog 25: cleared in week index 1, 15 of its 20 -> 1.75 (+3 integration) = 4.75.
    assert lead_time_weeks(25, [10, 20, 30], 3) == pytest.approx(4.75)
    # backlog 30: exactly end of week 1 -> 1 + 20/20 = 2.
    assert lead_time_weeks(30, [10, 20, 30], 0) == pytest.approx(2.0)
    # backlog 5: half of week 0 -> 0.5.
    assert lead_time_weeks(5, [10, 20, 30], 0) == pytest.approx(0.5)
    # backlog 100: beyond the plan; last rate 30 continues -> 3 + 40/30.
    assert lead_time_weeks(100, [10, 20, 30], 0) == pytest.approx(3 + 40 / 30)


def test_lead_time_zero_weeks_in_plan():
    # planned 0, 10: backlog 5 is cleared half way through week 1 -> 1.5.
    assert lead_time_weeks(5, [0, 10], 0) == pytest.approx(1.5)
    # planned 10, 0, 10: backlog 10 is cleared at end of week 0 -> 1.
    assert lead_time_weeks(10, [10, 0, 10], 0) == pytest.approx(1.0)


def test_lead_time_no_output_is_infinite():
    assert math.isinf(lead_time_weeks(1, [], 2))
    assert math.isinf(lead_time_weeks(1, [0, 0, 0], 2))
    # output ends in zeros and the plan does not cover the backlog
    assert math.isinf(lead_time_weeks(50, [10, 0], 2))


def test_lead_time_grows_with_backlog():
    plan = [10, 20, 30]
    t = [lead_time_weeks(b, plan, 1) for b in (1, 10, 25, 60, 61, 200)]
    assert all(a < b for a, b in zip(t, t[1:]))


def test_next_to_no_output_is_an_infinite_wait_without_a_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")   # an overflow warning would fail the test
        assert lead_time_weeks(1e6, np.array([1e-310]), 3) == float("inf")
    assert lead_time_weeks(1e6, np.array([0.0]), 3) == float("inf")
