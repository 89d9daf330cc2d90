"""The calendar: one step is one week; exogenous drivers are piecewise-linear series of dates."""

from __future__ import annotations

import datetime as dt

import numpy as np


def as_date(value, allow_time: bool = True) -> dt.date | None:
    """A date from a TOML date, a datetime (its date, unless `allow_time` is False) or an ISO
    string; None when it is none of these (callers word their own error)."""
    if isinstance(value, dt.datetime):
        return value.date() if allow_time else None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def n_steps(start: dt.date, end: dt.date) -> int:
    """Whole weeks from start to end (the run stops on the last week that starts before end)."""
    return max(1, (end - start).days // 7)


def step_dates(start: dt.date, steps: int) -> np.ndarray:
    """Calendar date of step 0..steps as numpy datetime64[D]."""
    return np.datetime64(start, "D") + 7 * np.arange(steps + 1)


def interp(series, when: dt.date) -> float:
    """Value of a ``((date, value), ...)`` series at ``when``: linear between points, flat outside."""
    if len(series) == 1:
        return float(series[0][1])
    x = np.array([d.toordinal() for d, _ in series], dtype=float)
    y = np.array([v for _, v in series], dtype=float)
    return float(np.interp(when.toordinal(), x, y))


def series_on_grid(series, dates: np.ndarray) -> np.ndarray:
    """A series sampled on the weekly grid (vectorised :func:`interp`)."""
    x = np.array([d.toordinal() for d, _ in series], dtype=float)
    y = np.array([v for _, v in series], dtype=float)
    ords = (dates.astype("datetime64[D]").astype(np.int64) + dt.date(1970, 1, 1).toordinal()).astype(float)
    return np.interp(ords, x, y)
