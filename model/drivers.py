"""Exogenous drivers: the paths a scenario sets and no agent moves.

Open-weight quality and the closed frontier (on one capability scale), the funding climate, the
scale of training runs (and of the rounds that fund them), inference demand (tokens served over
tokens a GPU serves in an hour) and what those tokens are worth, the other parts that serve
inference (their capacity and cost) and the vendor's planned output are sampled once onto the
weekly grid (ABIDES keeps
its exogenous "oracle" apart from the agents in the same way). Each week the model reads the
current values; a live lever (the funding multiplier) rescales the climate from now on.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from model.mechanisms.vocabulary import WEEKS_PER_YEAR
from model.timeline import interp, series_on_grid, step_dates

#: the vendor's output plan runs this many weeks past the horizon, so the lead time of an order
#: placed in the last week is still read off a real schedule
PLAN_BEYOND_WEEKS = 104
WEEKS_PER_YEAR_INT = 52  # a year back on the weekly grid


class Drivers:
    """The scenario's exogenous paths on the weekly grid, and their values this week."""

    def __init__(self, cfg, start: dt.date, n_steps: int):
        self.n_steps = n_steps
        self.dates = dates = step_dates(start, n_steps)
        self.open_quality_path = open_weight_quality(cfg.openweights, start, dates)
        self.frontier_path = frontier_quality(cfg.frontier.frontier_releases, dates)
        # What teams expect the frontier to gain over a run: its rise over the past year (from
        # the path up to this week, so nobody reads the future), scaled to `outlook_weeks`.
        year_ago = np.concatenate([np.full(WEEKS_PER_YEAR_INT, self.frontier_path[0]), self.frontier_path])
        past_rise = self.frontier_path - year_ago[: len(self.frontier_path)]
        self.frontier_ahead_path = past_rise * cfg.frontier.outlook_weeks / WEEKS_PER_YEAR
        d = cfg.demand
        self.climate_base = series_on_grid(d.funding_climate, dates)
        self.climate_path = self.climate_base * d.funding_multiplier
        self.alt_cost_path = series_on_grid(d.alt_inference_cost, dates)
        self.alt_capacity_path = series_on_grid(d.alt_inference_capacity, dates)
        self.run_scale_path = series_on_grid(d.training_run_scale, dates)
        # GPUs inference needs: the tokens served over the tokens one GPU serves in an hour
        self.inference_path = series_on_grid(d.token_demand, dates) / series_on_grid(
            d.tokens_per_gpu_hour, dates
        )
        self.inference_value_path = series_on_grid(d.inference_value_per_gpu_hour, dates)
        plan = step_dates(start, n_steps + PLAN_BEYOND_WEEKS)
        self.output_plan = np.array(
            [weekly_output(cfg, dt.date.fromisoformat(str(x))) for x in plan.astype("datetime64[D]")]
        )  # (weeks, [hopper, nextgen])
        self.at(0)

    def at(self, step: int) -> None:
        """Read this week's values (the last week's values past the horizon)."""
        step = min(step, self.n_steps)
        self.open_quality = float(self.open_quality_path[step])
        self.frontier = float(self.frontier_path[step])
        #: how far the frontier moved since last week (what a training team keeps up with)
        self.frontier_move = float(self.frontier_path[step] - self.frontier_path[max(step - 1, 0)])
        #: how far teams expect the frontier to move during a run started now
        self.frontier_ahead = float(self.frontier_ahead_path[step])
        self.climate = float(self.climate_path[step])
        #: the climate as the scenario writes it, without the funding lever: what an hour of edge
        #: is worth follows the boom in what customers pay for better models; the lever moves
        #: only the money (rounds, their size, run sizes, how many teams are founded)
        self.value_climate = float(self.climate_base[step])
        self.alt_cost = float(self.alt_cost_path[step])
        self.inference_index = float(self.inference_path[step])
        self.inference_value = float(self.inference_value_path[step])
        self.alt_capacity = float(self.alt_capacity_path[step])
        self.run_scale = float(self.run_scale_path[step])

    def report(self) -> dict[str, float]:
        """This week's drivers that the series record."""
        return {
            "open_quality": self.open_quality,
            "frontier_quality": self.frontier,
            "funding_climate": self.climate,
        }

    def rescale_funding(self, from_step: int, multiplier: float) -> None:
        """A new funding multiplier from a step on (the investor's live lever)."""
        now = min(from_step, self.n_steps)
        self.climate_path[now:] = self.climate_base[now:] * multiplier
        self.at(now)


def open_weight_quality(ow, start: dt.date, dates: np.ndarray) -> np.ndarray:
    """Quality of the best open-weight model each week: the highest level released so far (a
    release below the best, e.g. a small model, does not lower it); ``pace`` compresses time
    since the start and ``freeze_from`` stops it."""
    releases = [(r.date, r.quality) for r in sorted(ow.releases, key=lambda r: r.date)]
    ords = dates.astype("datetime64[D]").astype(np.int64)
    start_ord = np.datetime64(start, "D").astype(np.int64)
    eff = start_ord + (ords - start_ord) * ow.pace
    if ow.freeze_from is not None:
        eff = np.minimum(eff, np.datetime64(ow.freeze_from, "D").astype(np.int64))
    rel_ords = np.array([np.datetime64(d, "D").astype(np.int64) for d, _ in releases])
    rel_q = np.maximum.accumulate(np.array([q for _, q in releases]))
    k = np.searchsorted(rel_ords, eff, side="right") - 1
    return np.where(k >= 0, rel_q[np.maximum(k, 0)], 0.0)


def frontier_quality(releases, dates: np.ndarray) -> np.ndarray:
    """The closed frontier each week on the same scale: the best closed release so far, and the
    first release's level before it (the frontier existed before the first release listed)."""
    rows = sorted(releases, key=lambda r: r.date)
    ords = dates.astype("datetime64[D]").astype(np.int64)
    rel_ords = np.array([np.datetime64(r.date, "D").astype(np.int64) for r in rows])
    rel_q = np.maximum.accumulate(np.array([r.quality for r in rows]))
    k = np.searchsorted(rel_ords, ords, side="right") - 1
    return rel_q[np.maximum(k, 0)]


def weekly_output(cfg, when: dt.date) -> tuple[float, float]:
    """(Hopper cards, next-generation cards) made in the week starting `when`."""
    s = cfg.supply
    wafers = interp(s.packaging_wafers_per_month, when)
    if when >= s.packaging_multiplier_from:
        wafers *= s.packaging_multiplier
    wafers_week = wafers * 12.0 / WEEKS_PER_YEAR * interp(s.vendor_packaging_share, when)
    hopper_share = interp(s.hopper_share_of_output, when)
    hopper = wafers_week * s.hopper_per_wafer * hopper_share if when >= s.h100_first_ship else 0.0
    # A next-generation package does the work of `nextgen_h100_equivalents` H100s; assume the same
    # H100-equivalents per wafer, so the switch neither adds nor removes compute by itself.
    nextgen = wafers_week * s.hopper_per_wafer / s.nextgen_h100_equivalents * (1.0 - hopper_share)
    return hopper, nextgen
