"""Entry and exit in full runs (the cached ensemble of tests/support/ensemble_cache.py: seeds
0-4): teams keep being founded and training through 2026 in the baseline, their number not fixed
by the input capabilities; fine-tuning teams are founded and closed every year once they exist;
without open-weight progress there is more training every year.
"""

from __future__ import annotations

import pandas as pd
import pytest

from support import ensemble_cache as ec

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("h100sim-ensemble")]

YEARS = (2024, 2025, 2026)


@pytest.fixture(scope="module")
def frames(request) -> dict:
    cache_dir = request.config.cache.mkdir("h100sim-ensemble")
    return ec.load_ensemble(cache_dir, ec.SCENARIOS, ec.SEEDS, workers=2)


def by_year(df: pd.DataFrame, column: str, how: str = "sum") -> pd.Series:
    years = pd.to_datetime(df["date"]).dt.year
    return df.groupby(years)[column].agg(how)


def test_training_teams_are_founded_and_train_every_year_through_2026(frames):
    for seed in ec.SEEDS:
        df = frames["baseline", seed]
        founded = by_year(df, "training_teams_founded")
        teams = by_year(df, "teams_training", "mean")
        hours = by_year(df, "gpu_hours_training")
        for year in (2023, *YEARS):
            assert hours[year] > 0 and teams[year] > 0, f"seed {seed}: no training in {year}"
        for year in (2025, 2026):
            assert founded[year] > 0, f"seed {seed}: no training team founded in {year}: {founded.to_dict()}"
        # more teams train than the four named builders whose input capability is highest
        assert teams[2025] > 4 and teams[2026] > 4, f"seed {seed}: teams training {teams.to_dict()}"


def test_fine_tuning_teams_are_founded_and_closed_every_year(frames):
    for seed in ec.SEEDS:
        df = frames["baseline", seed]
        founded, closed = by_year(df, "finetune_teams_founded"), by_year(df, "finetune_teams_closed")
        for year in YEARS:
            assert founded[year] > 0 and closed[year] > 0, \
                f"seed {seed}, {year}: founded {founded[year]}, closed {closed[year]}"
        assert founded[2023] > 0   # the first teams start with Llama 2 (none exists before 2023)


def test_no_open_weights_means_more_training_every_year(frames):
    def median_hours(scenario):
        return pd.concat([by_year(frames[scenario, s], "gpu_hours_training") for s in ec.SEEDS],
                         axis=1).median(axis=1)

    base, frozen = median_hours("baseline"), median_hours("no_open_weights")
    for year in (2023, *YEARS):
        assert frozen[year] > base[year], \
            f"{year}: training GPU-hours, no_open_weights {frozen[year]:.4g} <= baseline {base[year]:.4g}"
