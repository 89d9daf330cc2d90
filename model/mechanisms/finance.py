"""The economics of owning a GPU: NPV, IRR and payback for a price path (DOMAIN §8).

Agents use these to decide (a cloud orders cards when a new card's IRR beats its hurdle rate) and
the outputs report them (`new_capacity_irr`). Cash flows are weekly; rates are annual.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from model.mechanisms.vocabulary import HOURS_PER_WEEK, WEEKS_PER_YEAR


def weekly_rate(annual: float) -> float:
    return (1.0 + annual) ** (1.0 / WEEKS_PER_YEAR) - 1.0


def npv(annual_rate: float, cashflows) -> float:
    """Net present value of weekly cash flows, the first at week 0 (undiscounted)."""
    cf = np.asarray(cashflows, dtype=np.float64)
    return float(cf @ _discount(annual_rate, len(cf)))


@lru_cache(maxsize=32, typed=True)  # typed: a numpy rate is discounted with numpy's power, as before
def _discount(annual_rate: float, n: int) -> np.ndarray:
    """Weekly discount factors of :func:`npv` (owners value their cards at one hurdle rate over
    a few horizons, many times a week)."""
    out = (1.0 + weekly_rate(annual_rate)) ** _minus_weeks(n)
    out.setflags(write=False)
    return out


@lru_cache(maxsize=8)
def _minus_weeks(n: int) -> np.ndarray:
    """-0, -1, ..., -(n-1): the exponents of weekly discounting (IRR bisection asks many times)."""
    out = -np.arange(n)
    out.setflags(write=False)
    return out


def _irr_bracket(cf: np.ndarray, lo: float, hi: float) -> tuple[float, float, float] | None:
    """The first interval of the rate grid on which the NPV changes sign, and the NPV at its
    lower end (one matrix product over the grid); None when it never does."""
    grid, discount = _irr_grid(lo, hi, len(cf))
    values = discount @ cf
    signs = np.sign(values)
    change = (signs[:-1] != signs[1:]).nonzero()[0]
    if change.size == 0:
        return None
    k = change[0]
    return float(grid[k]), float(grid[k + 1]), float(values[k])


def irr(cashflows, lo: float = -0.99, hi: float = 1000.0, tol: float = 1e-7) -> float:
    """Annual internal rate of return of weekly cash flows.

    The NPV is evaluated on a grid of rates in one matrix product to bracket the root, then the
    bracket is bisected. Returns NaN when the NPV does not change sign on [lo, hi] (no investment
    to speak of, or it never pays back).
    """
    cf = np.asarray(cashflows, dtype=np.float64)
    bracket = _irr_bracket(cf, lo, hi)
    if bracket is None:
        return float("nan")
    lo, hi, f_lo = bracket
    weeks = _minus_weeks(len(cf))
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        f_mid = float(cf @ (1.0 + weekly_rate(mid)) ** weeks)  # npv(mid, cf), inlined
        if (f_mid > 0) - (f_mid < 0) == (f_lo > 0) - (f_lo < 0):  # same sign
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@lru_cache(maxsize=16)
def _irr_grid(lo: float, hi: float, n: int):
    """Rates to bracket an IRR, and their weekly discount factors (cached: agents ask often)."""
    grid = np.concatenate([np.linspace(lo, 1.0, 200, endpoint=False), np.geomspace(1.0, hi, 56)])
    weekly = (1.0 + grid) ** (1.0 / WEEKS_PER_YEAR)
    discount = weekly[:, None] ** -np.arange(n)[None, :]
    discount.setflags(write=False)
    return grid, discount


def payback_weeks(cashflows) -> float:
    """Weeks until cumulative cash flow turns non-negative (inf if never)."""
    cum = np.cumsum(np.asarray(cashflows, dtype=np.float64))
    hit = np.flatnonzero(cum >= 0)
    return float(hit[0]) if hit.size else float("inf")


def gpu_cashflows(capex: float, price_path, utilization: float, opex_per_hour: float, salvage: float = 0.0):
    """Weekly cash flows of one GPU: capex at week 0, then rent on used hours less running cost."""
    prices = np.asarray(price_path, dtype=np.float64)
    cf = np.empty(len(prices) + 1)
    cf[0] = -capex
    cf[1:] = HOURS_PER_WEEK * (prices * utilization - opex_per_hour)
    cf[-1] += salvage
    return cf


def expected_price_path(p_now: float, p_longrun: float, halflife_weeks: float, weeks: int):
    """Adaptive expectation: today's price reverting to a long-run level with a half-life."""
    return p_longrun + (p_now - p_longrun) * _halvings(weeks, halflife_weeks)


@lru_cache(maxsize=32)
def _halvings(weeks: int, halflife_weeks: float) -> np.ndarray:
    """0.5 ** (k / halflife) for k = 1..weeks (the same few horizons are asked every week)."""
    out = 0.5 ** (np.arange(1, weeks + 1) / halflife_weeks)
    out.setflags(write=False)
    return out


def annuity_factor(annual_rate: float, years: float) -> float:
    """Annual payment that repays 1 over `years` at `annual_rate`."""
    if annual_rate <= 0:
        return 1.0 / years
    return annual_rate / (1.0 - (1.0 + annual_rate) ** -years)


@lru_cache(maxsize=512)  # pure, and asked with the same prices all week
def cost_price(
    capex: float, opex_per_hour: float, utilization: float, life_years: float, rate: float
) -> float:
    """Rental price per GPU-hour at which a new GPU just earns `rate` (the long-run anchor).

    Uses the same convention as :func:`new_card_irr` (capex at week 0, weekly rent on used hours
    for the card's life), so a card rented at this price for life has an IRR of exactly `rate`.
    """
    weeks = int(round(life_years * WEEKS_PER_YEAR))
    r = weekly_rate(rate)
    payment = capex / weeks if r <= 0 else capex * r / (1.0 - (1.0 + r) ** -weeks)
    return payment / (HOURS_PER_WEEK * utilization) + opex_per_hour / utilization


def new_card_irr(
    capex: float,
    p_now: float,
    p_longrun: float,
    halflife_weeks: float,
    utilization: float,
    opex_per_hour: float,
    life_years: float,
) -> float:
    weeks = int(round(life_years * WEEKS_PER_YEAR))
    path = expected_price_path(p_now, p_longrun, halflife_weeks, weeks)
    cf = gpu_cashflows(capex, path, utilization, opex_per_hour)
    # The rent is a constant plus a geometric decay: cf_k = a + b q^k for k >= 1.
    a = HOURS_PER_WEEK * (p_longrun * utilization - opex_per_hour)
    b = HOURS_PER_WEEK * (p_now - p_longrun) * utilization
    return irr_geometric(cf, a, b, 0.5 ** (1.0 / halflife_weeks) if halflife_weeks > 0 else 2.0)


#: the closed-form NPV decides a bisection step only when its value is this far from zero,
#: relative to the size of the discounted flows (its own error is below 1e-12 of that)
SIGN_MARGIN = 1e-9
#: ... and only where the geometric sums are well conditioned (|1 - ratio| at least this); the
#: discount's sum near a zero rate is taken in a form that stays well conditioned there
SUM_GUARD = 1e-3


def irr_geometric(
    cf, a: float, b: float, q: float, lo: float = -0.99, hi: float = 1000.0, tol: float = 1e-7
) -> float:
    """:func:`irr` of weekly cash flows ``cf`` whose flows after the first are ``a + b q^k``
    (k = 1, 2, ...), to the last bit, cheaper.

    The bracket is found as :func:`irr` finds it; each bisection step needs only the sign of
    the NPV at the midpoint, which the closed form -cf0 + a S(x) + b S(qx), S(y) = y (1 - y^n) /
    (1 - y), x = 1 / (1 + weekly rate), gives in a few operations instead of a 209-week discount
    vector. Near a zero rate (x close to 1), S(x) = -expm1(-n log1p(d)) / d with d = 1/x - 1
    (exact in floats), which keeps its accuracy where x (1 - x^n) / (1 - x) loses it; the IRRs of
    the model's cards sit there often. Where the closed form is not clearly away from zero (near
    the root) or not well conditioned, the step takes the NPV exactly as :func:`irr` does, so
    every step, and the result, is the same."""
    cf = np.asarray(cf, dtype=np.float64)
    a, b, q = float(a), float(b), float(q)  # numpy scalars would make the signs numpy booleans
    if not 0.0 < q < 1.0:
        return irr(cf, lo, hi, tol)
    bracket = _irr_bracket(cf, lo, hi)
    if bracket is None:
        return float("nan")
    lo, hi, f_lo = bracket
    s_lo = (f_lo > 0) - (f_lo < 0)
    n = len(cf) - 1
    cf0, size = float(cf[0]), abs(a) + abs(b)
    weeks = _minus_weeks(len(cf))
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        base = 1.0 + weekly_rate(mid)
        x = 1.0 / base
        qx = q * x
        s_mid = 0
        if abs(1.0 - qx) > SUM_GUARD:
            if abs(1.0 - x) > SUM_GUARD:
                sx = x * (1.0 - x**n) / (1.0 - x)
            else:  # d = base - 1 is exact (base is within a factor 2 of 1)
                d = base - 1.0
                sx = -math.expm1(-n * math.log1p(d)) / d if d != 0.0 else float(n)
            f = cf0 + a * sx + b * qx * (1.0 - qx**n) / (1.0 - qx)
            if abs(f) > SIGN_MARGIN * (abs(cf0) + size * sx):
                s_mid = (f > 0) - (f < 0)
        if s_mid == 0:  # near the root: the exact NPV, as irr() takes it
            f_mid = float(cf @ (1.0 + weekly_rate(mid)) ** weeks)
            s_mid = (f_mid > 0) - (f_mid < 0)
        if s_mid == s_lo:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@lru_cache(maxsize=256)
def card_holding_value(
    capex: float,
    opex_per_hour: float,
    utilization: float,
    life_years: float,
    hurdle: float,
    halflife_weeks: float,
    p_now: float,
    own_utilization: float | None = None,
    life_left: float = 0.8,
) -> float:
    """What a card is worth to its owner: the rents it will earn over the rest of its life
    (`life_left`, a share of its useful life; 80% on average in a growing fleet), with the rent
    reverting from today's toward the long-run cost price, less running costs, discounted at the
    hurdle rate. Never negative (an owner can idle it).

    The long-run price is the market's (cost price at `utilization`); the rents are the owner's
    own (`own_utilization`, default the same): an idle owner values a card less than a busy one,
    which is why cards change hands."""
    p_lr = cost_price(capex, opex_per_hour, utilization, life_years, hurdle)
    weeks = max(1, int(life_years * WEEKS_PER_YEAR * life_left))
    path = expected_price_path(p_now, p_lr, halflife_weeks, weeks)
    own = utilization if own_utilization is None else own_utilization
    flows = HOURS_PER_WEEK * (path * own - opex_per_hour)
    return max(0.0, npv(hurdle, np.concatenate([[0.0], flows])))
