"""Owners who must pay, in full runs (the cached ensemble of tests/support/ensemble_cache.py:
seeds 0-4). What the baseline must show from 2024 to 2026:
(a) spot never trades below the sellers' cash cost while no capacity is idle;
(b) hyperscaler lists change a few times a year at most (tested on the agents: see below);
(c) used cards trade in every quarter, at or below the new price when the vendor's queue is short;
(d) installed Hopper cards keep growing through 2024;
(e) forced sales or defaults happen in some seeds, each marked as an event;
and, for the frontier: next-generation cards are installed from 2025 at their own price, and the
grey channel delivers in every half-year in which a rule bars the H100 to China.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from support import ensemble_cache as ec

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("h100sim-ensemble")]

QUEUE_AT_FLOOR_WEEKS = 4.0  # a lead time this short: buying new means no real wait


@pytest.fixture(scope="module")
def frames(request) -> dict:
    cache_dir = request.config.cache.mkdir("h100sim-ensemble")
    return ec.load_ensemble(cache_dir, ec.SCENARIOS, ec.SEEDS, workers=2)


def dated(df: pd.DataFrame) -> pd.DataFrame:
    return df.set_index(pd.to_datetime(df["date"]))


def test_a_spot_never_trades_below_cash_cost_while_no_capacity_idles(frames):
    for seed in ec.SEEDS:
        s = dated(frames["baseline", seed]).loc["2024":"2026"]
        below = s[(s["spot_price"] < s["cash_cost"]) & (s["idle_gpus"] <= 0)]
        assert below.empty, f"seed {seed}: spot below cash cost with nothing idle on {list(below.index[:5])}"


def test_c_used_cards_trade_every_quarter_and_not_above_new_with_a_short_queue(frames):
    for seed in ec.SEEDS:
        s = dated(frames["baseline", seed]).loc["2024":"2026"]
        traded = s["secondary_volume"].resample("QE").sum()
        assert (traded > 0).all(), f"seed {seed}: quarters without a used-card trade: {list(traded[traded <= 0].index.date)}"
        short = s[(s["lead_time_weeks"] <= QUEUE_AT_FLOOR_WEEKS) & (s["secondary_volume"] > 0)]
        assert len(short) > 0
        dear = short[short["card_price_secondary"] > short["card_price_new"] * (1 + 1e-9)]
        assert dear.empty, f"seed {seed}: used above new with a short queue on {list(dear.index.date[:5])}"


def test_d_installed_hopper_cards_keep_growing_through_2024(frames):
    for seed in ec.SEEDS:
        s = dated(frames["baseline", seed])
        quarter_end = s["gpus_installed"].resample("QE").last().loc["2023-12":"2024-12"]
        growth = quarter_end.diff().dropna()
        assert (growth > 0).all(), f"seed {seed}: Hopper installed by quarter {quarter_end.round(-3).tolist()}"


def test_e_forced_sales_or_defaults_happen_in_some_seeds(frames):
    hit = [
        seed
        for seed in ec.SEEDS
        if (frames["baseline", seed]["forced_sale_cards"].sum() > 0)
        or (frames["baseline", seed]["defaults"].sum() > 0)
    ]
    assert hit, "no forced sale or default in any baseline seed"


def test_next_generation_cards_are_installed_from_2025_at_their_own_price(frames):
    for seed in ec.SEEDS:
        s = dated(frames["baseline", seed])
        assert s["nextgen_installed"].loc[:"2024-06"].max() == 0
        by_year = s["nextgen_installed"].resample("YE").last()
        assert by_year.loc["2025"].iloc[0] > 0 and by_year.loc["2026"].iloc[0] > by_year.loc["2025"].iloc[0]
        price = s["nextgen_card_price"].loc["2025":]
        assert price.notna().all()
        assert not np.allclose(price.to_numpy(), s["card_price_new"].loc["2025":].to_numpy())


def test_the_grey_channel_delivers_in_every_half_year_a_rule_bars_the_h100_to_china(frames):
    for seed in ec.SEEDS:
        s = dated(frames["baseline", seed]).loc["2023":"2026"]
        halves = s["smuggled_cards"].resample("6MS").sum()
        assert (halves > 0).all(), f"seed {seed}: smuggled cards by half-year {halves.round().tolist()}"
