"""Determinism: the same scenario and seed give the identical series; another seed does not.

A run is repeated in the same process (catches state leaking between models: module-level caches,
Mesa's id counters) and in a fresh spawned process (another PYTHONHASHSEED, so iteration over
sets or hash-ordered containers would show). These runs are fresh, never taken from a cache.
One test per scenario makes all its runs, so tests split over xdist workers never repeat a run.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from support import ensemble_cache as ec
from model import H100Market, release_model

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("h100sim-determinism")]

SCENARIOS = ("baseline", "strict_enforcement")
SEED, OTHER_SEED = 3, 4
#: The sources this process imported the model from (a spawned process imports them afresh).
IMPORT_KEY = ec.source_key()


def run(scenario: str, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    m = H100Market(scenario=scenario, seed=seed)
    try:
        m.run_to_end(progress=False)
        return m.series(), m.agent_frame()
    finally:
        release_model(m)


def differs(a: pd.DataFrame, b: pd.DataFrame) -> str | None:
    try:
        assert_frame_equal(a, b, check_exact=True)
    except AssertionError as err:
        return str(err).splitlines()[0] + " " + " ".join(str(err).splitlines()[1:3])
    return None


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_determinism(scenario):
    with ProcessPoolExecutor(max_workers=1) as pool:
        spawned = pool.submit(ec.run_series, scenario, SEED)   # runs beside the in-process runs
        first, agents_first = run(scenario, SEED)
        second, agents_second = run(scenario, SEED)
        other, _ = run(scenario, OTHER_SEED)
        in_child = spawned.result()
    if ec.source_key() != IMPORT_KEY:
        pytest.fail("model/ or agents/ changed since this process imported them; the spawned run "
                    "used other code (rerun on a quiet tree)", pytrace=False)
    problems = []
    for label, a, b in (("series, same process", first, second),
                        ("agent_frame, same process", agents_first, agents_second),
                        ("series, spawned process", first, in_child)):
        why = differs(a, b)
        if why:
            problems.append(f"{scenario} seed {SEED}: {label} differs: {why}")
    # Another seed: same calendar, different outcomes.
    if not first["date"].equals(other["date"]):
        problems.append("seeds should change outcomes, not the calendar")
    values = [c for c in first.columns if c != "date"]
    same = [c for c in values if first[c].equals(other[c])]
    if len(same) > len(values) // 2:
        problems.append(f"seeds {SEED} and {OTHER_SEED} give identical {same}")
    assert not problems, "\n".join(problems)
