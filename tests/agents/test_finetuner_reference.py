"""The pool's week (`FineTunerPool.step`, which tests never-founded teams for entry alone) gives the
same numbers to the last bit as the rule run over every row (`support.reference_finetuner`): on
random pools of every state, over many weeks, for the whole pool and for a subset of rows."""

from __future__ import annotations

import numpy as np
import pytest
from support.reference_finetuner import reference_step
from support.small_world import SmallWorld


def _world(seed: int, n: int, burn: float) -> SmallWorld:
    """A world with `n` teams in every state: would-be, active, idle, closed; cash and idle
    weeks around the limits that close a team; needs around the open model's quality."""
    w = SmallWorld(seed=seed, demand__round_prob_per_quarter=0.5, entry__finetuner_burn_musd_per_year=burn)
    w.drivers.climate, w.drivers.inference_index = 1.1, 1.5
    pool = w.add_finetuners(n)
    r = np.random.default_rng(seed)  # the test's own draws, not the world's
    pool.need = r.uniform(0.3, 0.9, n)
    pool.edge = r.uniform(0.05, 0.3, n)
    pool.inference_worth = r.uniform(0.5, 1.5, n)
    pool.founded = r.random(n) < 0.5
    pool.closed = pool.founded & (r.random(n) < 0.2)
    pool.active = pool.founded & ~pool.closed & (r.random(n) < 0.5)
    pool.deployed = pool.active | (pool.founded & ~pool.closed & (r.random(n) < 0.5))
    pool.idle_weeks = np.where(pool.founded & ~pool.closed & ~pool.active, r.integers(0, 30, n), 0)
    cash = np.where(pool.founded & ~pool.closed, r.choice([0.0, 1e4, 5e5, 3e6], n), 0.0)
    w.fund_many(pool.account[cash > 0], cash[cash > 0])
    return w


def _state(w: SmallWorld) -> dict:
    pool = w.population.finetuners
    cols = ("active", "deployed", "founded", "closed", "idle_weeks")
    return dict(
        **{c: getattr(pool, c).copy() for c in cols},
        cash=w.cash.balance.copy(),
        flows=dict(w.cash.flows),
        lines=list(w.hours.lines),
        rng=w.rng.bit_generator.state,
        founded_count=dict(w.population.founded),
        closed_count=dict(w.population.closed),
    )


def _same(a: dict, b: dict, week: int) -> None:
    for key in a:
        if isinstance(a[key], np.ndarray):
            assert np.array_equal(a[key], b[key]), f"week {week}: {key}"
        else:
            assert a[key] == b[key], f"week {week}: {key}"


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("subset", [False, True], ids=["whole pool", "rows"])
@pytest.mark.parametrize("burn", [1.5, 0.0], ids=["staff paid", "no staff cost"])
def test_the_pool_week_is_the_rule_over_every_row(seed, subset, burn):
    n = 600
    new, ref = _world(seed, n, burn), _world(seed, n, burn)
    rows = np.sort(np.random.default_rng(seed + 10).choice(n, 150, replace=False)) if subset else None
    quality = np.linspace(0.4, 0.8, 12)
    price = [2.0, 2.5, 4.0, 1.5] * 3  # small clusters' expected price: teams start and stop
    for week in range(12):
        for w in (new, ref):
            w.steps = week
            w.drivers.open_quality = float(quality[week])
            w.hours.expected[0] = price[week]
        new.population.finetuners.step(rows)
        reference_step(ref.population.finetuners, rows)
        _same(_state(new), _state(ref), week)
    pool = new.population.finetuners
    # the runs exercised every branch: starts, stops, closures, follow-on rounds, lines
    assert new.population.founded and new.hours.lines and (new.population.closed or burn == 0)
    assert pool.active.any() and (pool.founded & ~pool.active & ~pool.closed).any()


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("burn", [1.5, 0.0], ids=["staff paid", "no staff cost"])
def test_a_pool_of_founded_teams_takes_the_short_way_to_the_same_numbers(seed, burn):
    """Once every team was founded (most of a run) the pool's week runs over whole columns:
    the same numbers and draws as the rule over every row."""
    n = 600
    new, ref = _world(seed, n, burn), _world(seed, n, burn)
    for w in (new, ref):
        pool = w.population.finetuners
        late = ~pool.founded  # the would-be teams were founded too: some active, some not
        pool.founded = np.ones(n, dtype=bool)
        pool.active = pool.active | (late & (np.arange(n) % 3 == 0))
        pool.deployed = pool.deployed | pool.active
        w.fund_many(pool.account[late], np.full(int(late.sum()), 2e5))
    quality = np.linspace(0.4, 0.8, 12)
    price = [2.0, 2.5, 4.0, 1.5] * 3
    for week in range(12):
        for w in (new, ref):
            w.steps = week
            w.drivers.open_quality = float(quality[week])
            w.hours.expected[0] = price[week]
        assert new.population.finetuners.founded.all()
        new.population.finetuners.step()
        reference_step(ref.population.finetuners)
        _same(_state(new), _state(ref), week)
    pool = new.population.finetuners
    assert new.hours.lines and (new.population.closed or burn == 0)
    assert pool.active.any() and (~pool.active & ~pool.closed).any()
