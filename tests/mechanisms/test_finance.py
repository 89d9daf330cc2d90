"""Hand-worked examples for model.mechanisms.finance (weekly cash flows, annual rates)."""

import math

import numpy as np
import pytest

from model.mechanisms.finance import (annuity_factor, cost_price, expected_price_path, gpu_cashflows, irr,
                           new_card_irr, npv, payback_weeks, weekly_rate)


def test_weekly_rate_compounds_to_annual():
    assert (1 + weekly_rate(0.10)) ** 52 == pytest.approx(1.10)
    assert weekly_rate(0.0) == 0.0


def test_npv_one_year_out():
    # -100 now, +110 in 52 weeks at 10%/yr: 110 / 1.1 = 100 -> NPV 0.
    cf = np.zeros(53)
    cf[0], cf[52] = -100, 110
    assert npv(0.10, cf) == pytest.approx(0.0, abs=1e-9)
    # at 0%: plain sum = 10
    assert npv(0.0, cf) == pytest.approx(10.0)
    # at 21%: 110 / 1.21 - 100 = -9.0909
    assert npv(0.21, cf) == pytest.approx(110 / 1.21 - 100)


def test_npv_first_flow_undiscounted():
    assert npv(0.5, [7.0]) == 7.0
    assert npv(0.5, []) == 0.0


def test_irr_recovers_known_annual_rate():
    cf = np.zeros(53)
    cf[0], cf[52] = -100, 110
    assert irr(cf) == pytest.approx(0.10, abs=1e-6)
    cf = np.zeros(105)
    cf[0], cf[104] = -100, 144          # 1.2^2 = 1.44 over two years
    assert irr(cf) == pytest.approx(0.20, abs=1e-6)


def test_irr_of_weekly_annuity_at_known_rate():
    # price the investment so that 52 weekly payments of 1 (weeks 1..52) earn exactly 8%/yr
    r = weekly_rate(0.08)
    pv = sum((1 + r) ** -k for k in range(1, 53))
    cf = np.concatenate([[-pv], np.ones(52)])
    assert irr(cf) == pytest.approx(0.08, abs=1e-6)
    assert npv(0.08, cf) == pytest.approx(0.0, abs=1e-9)


def test_irr_nan_without_sign_change():
    assert math.isnan(irr([1.0, 2.0, 3.0]))          # never invested
    assert math.isnan(irr([-10.0, 1.0, 1.0]))        # never pays back


def test_irr_negative_rate():
    # -100 now, +90 after a year: -10%
    cf = np.zeros(53)
    cf[0], cf[52] = -100, 90
    assert irr(cf) == pytest.approx(-0.10, abs=1e-6)


def test_payback_weeks():
    # cumulative -100, -70, -40, 0, 10 -> non-negative first at week 3
    assert payback_weeks([-100, 30, 30, 40, 10]) == 3.0
    assert payback_weeks([5, -1]) == 0.0
    assert math.isinf(payback_weeks([-100, 10, 10]))
    assert math.isinf(payback_weeks([]))


def test_gpu_cashflows():
    # capex 1000; two weeks at $2/h, 50% used, $0.5/h running cost: 168 x (1 - 0.5) = 84 a week;
    # salvage 100 added to the last week.
    cf = gpu_cashflows(1000, [2.0, 2.0], 0.5, 0.5, salvage=100)
    np.testing.assert_allclose(cf, [-1000, 84, 184])


def test_expected_price_path_half_life():
    path = expected_price_path(4.0, 2.0, 10, 20)
    assert len(path) == 20
    assert path[9] == pytest.approx(3.0)      # week 10: half the gap left
    assert path[19] == pytest.approx(2.5)     # week 20: a quarter left
    assert np.all(np.diff(path) < 0)


def test_annuity_factor():
    # 10% over 5 years: 0.1 / (1 - 1.1^-5) = 0.263797...
    assert annuity_factor(0.10, 5) == pytest.approx(0.2637974808)
    assert annuity_factor(0.0, 4) == 0.25
    assert annuity_factor(-0.1, 4) == 0.25


def test_cost_price_hand_worked_and_monotone_in_rate():
    # weekly convention: r_w = 1.1 ** (1/52) - 1 = 0.0018346; 260 weekly payments repay 30000:
    # pmt = 30000 r_w / (1 - (1 + r_w) ** -260) = 30000 x 0.0048395 = 145.19 per week
    # price = 145.19 / (168 x 0.8) + 0.14 / 0.8 = 1.08025 + 0.175 = 1.25525
    r_w = 1.1 ** (1 / 52) - 1
    pmt = 30000 * r_w / (1 - (1 + r_w) ** -260)
    assert pmt == pytest.approx(145.19, abs=0.01)
    assert cost_price(30000, 0.14, 0.8, 5, 0.10) == pytest.approx(1.25525, abs=1e-4)
    prices = [cost_price(30000, 0.14, 0.8, 5, r) for r in (0.0, 0.05, 0.10, 0.2, 0.5)]
    assert all(a < b for a, b in zip(prices, prices[1:]))
    # at rate 0: straight-line capex recovery over 260 weeks of 168 x 0.8 used hours
    assert prices[0] == pytest.approx(30000 / 260 / 134.4 + 0.175)


def test_cost_price_repays_capex_with_weekly_flows_at_the_rate():
    # the convention cost_price uses: 260 weekly rents of 168 x (0.8 x price - 0.14) repay the
    # capex at exactly `rate`, discounted weekly (as new_card_irr does).
    price = cost_price(30000, 0.14, 0.8, 5, 0.12)
    weekly = 168 * (0.8 * price - 0.14)
    r_w = 1.12 ** (1 / 52) - 1
    pv = sum(weekly / (1 + r_w) ** k for k in range(1, 261))
    assert pv == pytest.approx(30000)


@pytest.mark.parametrize("rate", [0.10, 0.14])   # the baseline hurdles (hyperscaler, private)
def test_cost_price_is_break_even_of_new_card_irr(rate):
    # agents/cloud.py orders when new_card_irr(..., p_longrun=cost_price(..., hurdle)) beats the
    # hurdle, and cost_price's docstring says it is "the price at which a new GPU just earns
    # `rate`". So a card rented at the cost price for its whole life should have IRR == rate.
    # It does not: cost_price annuitises annually (year-end payments, 8760 h), while
    # new_card_irr discounts weekly flows (paid through the year, 8736 h), so at the long-run
    # price the IRR is 12.2% for a 10% hurdle and 17.3% for 14% (baseline capex 33750 + 16000).
    capex, opex, util, life = 49750.0, 0.14, 0.8, 5.0
    p = cost_price(capex, opex, util, life, rate)
    assert new_card_irr(capex, p, p, 40.0, util, opex, life) == pytest.approx(rate, abs=0.005)


def test_new_card_irr_rises_with_price():
    lo = new_card_irr(30000, 2.0, 2.0, 40, 0.8, 0.14, 5)
    hi = new_card_irr(30000, 4.0, 2.0, 40, 0.8, 0.14, 5)
    assert hi > lo


def _geometric_case(r):
    from model.mechanisms.finance import irr_geometric  # noqa: F401 - the function under test
    from model.mechanisms.vocabulary import HOURS_PER_WEEK, WEEKS_PER_YEAR

    capex, p0, pl = r.uniform(2e4, 6e4), r.uniform(0.3, 12.0), r.uniform(0.5, 4.0)
    hl, u, opex = r.uniform(2.0, 300.0), r.uniform(0.2, 1.0), r.uniform(0.1, 0.9)
    weeks = int(round(r.choice([3.0, 4.0, 5.0, 6.0]) * WEEKS_PER_YEAR))
    cf = gpu_cashflows(capex, expected_price_path(p0, pl, hl, weeks), u, opex)
    a, b = HOURS_PER_WEEK * (pl * u - opex), HOURS_PER_WEEK * (p0 - pl) * u
    return cf, a, b, 0.5 ** (1.0 / hl)


@pytest.mark.parametrize("seed", range(4))
def test_closed_form_bisection_is_irr_to_the_last_bit(seed):
    """The closed-form signs steer the same bisection: the same number, or NaN for NaN, on random
    cards (prices from 0.3 to 12 $/h, some never paying back, some with negative rates)."""
    from model.mechanisms.finance import irr_geometric

    r = np.random.default_rng(seed)
    seen_nan = seen_negative = 0
    for _ in range(400):
        cf, a, b, q = _geometric_case(r)
        want, got = irr(cf), irr_geometric(cf, a, b, q)
        assert got == want or (math.isnan(got) and math.isnan(want)), (want, got)
        seen_nan += math.isnan(want)
        seen_negative += want < 0
    assert seen_nan and seen_negative  # the cases cover both ends


def test_closed_form_bisection_takes_numpy_scalars():
    """The model passes numpy floats (a price read off an array); the signs must still work
    (numpy booleans cannot be subtracted) and give irr()'s number."""
    from model.mechanisms.finance import irr_geometric

    r = np.random.default_rng(11)
    for _ in range(50):
        cf, a, b, q = _geometric_case(r)
        got = irr_geometric(cf, np.float64(a), np.float64(b), np.float64(q))
        want = irr(cf)
        assert got == want or (math.isnan(got) and math.isnan(want)), (want, got)


def test_closed_form_bisection_falls_back_where_the_flows_are_not_geometric():
    from model.mechanisms.finance import irr_geometric

    cf = np.array([-100.0, 30.0, 40.0, 50.0])
    assert irr_geometric(cf, 30.0, 0.0, 1.5) == irr(cf)   # q outside (0, 1): plain irr


@pytest.mark.parametrize("seed", range(2))
def test_closed_form_bisection_near_a_zero_rate_is_irr_to_the_last_bit(seed):
    """Cards whose IRR is within a few percent of zero (the weekly discount within 1e-3 of 1, where
    the closed form takes its well-conditioned form) give irr()'s number, bit for bit."""
    from model.mechanisms.finance import irr_geometric

    r = np.random.default_rng(100 + seed)
    near = 0
    while near < 150:
        cf, a, b, q = _geometric_case(r)
        want = irr(cf)
        if not (abs(want) < 0.06):
            continue
        near += 1
        assert irr_geometric(cf, a, b, q) == want, want
