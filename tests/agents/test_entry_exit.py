"""Teams enter and leave, worked by hand: training teams founded when the edge a run would give
them over the best open model pays for compute, their capability against a moving frontier,
start-ups closing when their money runs out or they stop training; fine-tuning teams founded as
open weights meet their needs and hours are cheap, and closing.

Pinned constants (support.small_world.PINNED): 18 $ per GPU-hour per unit of edge, a 0.04
training margin, duty cycle 0.75, an idle team loses half of the frontier's progress, a start-up
closes after 4 reviews without training, a fine-tuning team pays 1.5 M$ a year for its staff and
closes after 26 weeks inactive. The small world's drivers: climate 1.3, frontier 1.0 (expected to
move 0 during a run), open weights 0.6; large clusters expected at 3.0 $/h, small at 2.0 $/h.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from support.small_world import SmallWorld

from agents.creator import CLOSED_MODE, ModelCreator, found_training_teams
from model.mechanisms.vocabulary import IDLE_MODE, LARGE, SMALL, TRAIN_MODE

AFTER_ENTRY = dt.date(2024, 1, 1)      # entry.entry_from is 2023-07-03


@pytest.fixture
def entry_world():
    """Entry open, every would-be team 0.1 behind the frontier, 5,200 would-be teams a year."""
    w = SmallWorld(new_team_lag_min=0.1, new_team_lag_max=0.1, training_candidates_per_year=5200.0,
                   finetune_candidates_per_year=5200.0)
    w.date = AFTER_ENTRY
    w.add_reseller()
    w.add_cloud(list_price=4.0)
    return w


# -- training teams: entry -----------------------------------------------------------------------
def test_a_team_is_founded_when_beating_open_weights_pays_for_compute(entry_world):
    w = entry_world
    # edge of a run: frontier 1.0 - lag 0.1 - open 0.6 = 0.3; worth 18 * 0.3 * 1.3 = 7.02 $/h > 3.0
    made = found_training_teams(w)
    assert len(made) > 0                                      # ~130 would-be teams this week
    assert all(isinstance(t, ModelCreator) for t in made)
    assert w.population.founded == {"creator": len(made)}
    assert w.population.creators[-len(made):] == made          # enrolled
    assert all(w.population.by_id[t.unique_id] is t for t in made)
    for t in made:
        assert t.capability == pytest.approx(0.9) and t.lag == pytest.approx(0.1)
        assert t.founded == w.steps and not t.named and t.plan_on_entry
        assert (t.cloud is None) == t.build_own == (t.region != "US")
    # each has its own accounts in the three ledgers
    accounts = {t.account for t in made}
    assert len(accounts) == len(made)
    assert all(w.cash.names[t.account] == w.cards.names[t.account] for t in made)


@pytest.mark.parametrize("price", [7.03, 8.0])
def test_no_team_is_founded_when_compute_costs_more_than_the_edge_is_worth(entry_world, price):
    w = entry_world
    w.hours.expected[LARGE] = price                           # above the 7.02 $/h an hour is worth
    assert found_training_teams(w) == [] and w.population.founded == {}


def test_no_team_is_founded_within_the_training_margin_or_before_entry_opens(entry_world):
    w = entry_world
    w.drivers.open_quality = 0.87                             # edge 1.0 - 0.1 - 0.87 = 0.03 < 0.04
    assert found_training_teams(w) == []
    w.drivers.open_quality = 0.6
    w.date = dt.date(2023, 7, 2)                              # the day before entry opens
    assert found_training_teams(w) == []


def test_an_expected_frontier_move_founds_teams_on_a_narrow_gap(entry_world):
    w = entry_world
    w.drivers.open_quality = 0.87                             # 0.03 behind: no team...
    w.drivers.frontier_ahead = 0.15                           # ...unless the frontier moves on
    made = found_training_teams(w)
    # edge 1.0 + 0.15 - 0.1 - 0.87 = 0.18, worth 18 * 0.18 * 1.3 = 4.21 $/h > 3.0
    assert made and all(t.values()[0] == pytest.approx(18 * 0.18 * 1.3) for t in made)


def test_a_founded_team_is_funded_and_decides_in_its_first_week(entry_world):
    w = entry_world
    team = found_training_teams(w)[0]
    team.step()
    assert team.funded and team.cash == pytest.approx(team.funding)
    assert team.mode == TRAIN_MODE                            # 7.02 $/h against 3.0: it trains


# -- training teams: capability against a moving frontier ----------------------------------------
def test_a_training_team_keeps_up_with_the_frontier_an_idle_one_falls_behind(world):
    trainer = world.add_creator(capability=0.9)
    idler = world.add_creator(capability=0.9)
    trainer.mode, idler.mode = TRAIN_MODE, IDLE_MODE
    assert trainer.lag == idler.lag == pytest.approx(0.1)
    world.drivers.frontier, world.drivers.frontier_move = 1.2, 0.2   # a release moves it 0.2
    for team in (trainer, idler):
        team.keep_up()
    # the trainer's model moves with the frontier, 0.1 behind; the idler's stays at 0.9 and its
    # next run would land 0.1 + 0.5 * 0.2 = 0.2 behind
    assert trainer.capability == pytest.approx(1.1) and trainer.lag == pytest.approx(0.1)
    assert idler.capability == pytest.approx(0.9) and idler.lag == pytest.approx(0.2)
    assert trainer.reach() == pytest.approx(1.1) and idler.reach() == pytest.approx(1.0)
    # so against open weights at 0.6 training is worth 18 * 0.5 * 1.3 = 11.7 and 18 * 0.4 * 1.3 = 9.36 $/h
    assert trainer.values()[0] == pytest.approx(11.7) and idler.values()[0] == pytest.approx(9.36)


# -- training teams: exit ------------------------------------------------------------------------
@pytest.fixture
def startup(world):
    """A US start-up of 1,000 GPUs renting from a cloud at 4 $/h (3-year reserved 1.76 $/h)."""
    return world.add_creator(capability=0.9, train_gpus=1000, cloud=world.add_cloud(list_price=4.0),
                             named=False)


def test_a_start_up_closes_when_its_money_runs_out(world, startup):
    # a week of its run at the 3-year reserved rate: 1.76 * 1000 * 0.75 * 168 = 221,760 $
    world.fund(startup, 200_000.0)
    before = world.cash["investors"]
    startup.plan()
    assert startup.closed and startup.mode == CLOSED_MODE and not startup.active
    assert startup.cash == 0.0 and world.cash["investors"] == pytest.approx(before + 200_000.0)
    assert world.population.closed == {"creator": 1}
    startup.step()                                            # a closed firm does nothing
    assert world.hours.lines == [] and world.reservations.signed == []


def test_a_start_up_with_a_week_of_money_stays(world, startup):
    world.fund(startup, 221_761.0)
    startup.plan()
    assert not startup.closed and startup.mode == TRAIN_MODE


def test_a_start_up_that_holds_a_reservation_stays_to_use_it(world, startup):
    world.reservations.hold(startup, LARGE, 500.0, future=True)
    startup.plan()
    assert not startup.closed


def test_a_start_up_that_stops_training_for_a_year_closes_a_named_builder_stays(world, startup):
    named = world.add_creator(capability=0.9, train_gpus=1000, cloud=startup.cloud)
    world.fund(startup, 1e9)
    world.fund(named, 1e9)
    world.drivers.open_quality = 0.88                         # edge 0.02: nobody trains
    for review in range(1, 5):
        for team in (startup, named):
            team.plan()
        assert startup.closed == (review == 4)
    assert not named.closed and named.idle_quarters == 4
    assert startup.cash == 0.0                                # its money went back to investors


# -- fine-tuning teams ---------------------------------------------------------------------------
def test_fine_tuning_teams_are_founded_as_open_weights_meet_their_needs(entry_world):
    w = entry_world
    pool = w.add_finetuners(3)
    w.drivers.open_quality = 1.0                              # the frontier's level: every need met
    w.hours.expected[SMALL] = 0.01                        # small clusters nearly free
    n = pool.found()
    assert n > 0 and len(pool) == 3 + n and len(pool.agents) == 3 + n
    new = slice(3, None)
    assert pool.founded[new].all() and pool.active[new].all() and not pool.closed[new].any()
    assert [a.index for a in pool.agents[3:]] == list(range(3, 3 + n))
    assert np.allclose(w.cash.balance[pool.account[new]], pool.funding[new])   # seed rounds
    assert w.population.founded == {"finetuner": n}
    assert len(set(pool.account.tolist())) == len(pool)


def test_no_fine_tuning_team_is_founded_on_poor_open_weights_or_dear_hours(entry_world):
    w = entry_world
    pool = w.add_finetuners(3)
    w.drivers.open_quality = 0.39                             # below every need (from 0.4)
    assert pool.found() == 0
    w.drivers.open_quality = 1.0
    w.hours.expected[SMALL] = 18 * 0.12 * 1.6 * 1.3       # 4.49 $/h: above any team's value
    assert pool.found() == 0 and len(pool) == 3


def test_a_fine_tuning_team_inactive_for_half_a_year_closes_and_returns_its_cash(world):
    pool = world.add_finetuners(2, need=[0.5, 0.5], edge=[0.05, 0.2], gpus=[16.0, 16.0],
                                inference_gpus=[0.0, 0.0], funding=[3e6, 3e6], offset=[1, 1])
    pool.founded[:] = True
    world.fund_many(pool.account, np.array([3e6, 3e6]))
    before = world.cash["investors"]
    # the first is worth 18 * 0.05 * 1.3 = 1.17 $/h < 2.0: inactive; the second 4.68: active
    for week in range(27):
        world.steps = week
        pool.step()
    assert pool.closed.tolist() == [True, False] and pool.active.tolist() == [False, True]
    # 26 weeks of staff paid (28,846 $ each), then the rest goes back to investors at the 27th
    assert world.cash[pool.account[0]] == 0.0
    assert world.cash["investors"] == pytest.approx(before + 3e6 - 27 * 1.5e6 / 52)
    assert world.cash["payroll"] == pytest.approx(2 * 27 * 1.5e6 / 52)
    assert world.population.closed == {"finetuner": 1}
    assert pool.agents[0].mode == "closed"
