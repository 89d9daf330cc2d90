"""Fine-tuning teams are rows of a pool, not Mesa agents: they keep the Mesa ids and ledger
accounts they would have had as agents, and the agent frame keeps every team or, above
`run.agent_data_teams`, every k-th one (agent data flat in the population size)."""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from model import H100Market, release_model
from model.mechanisms.ledger import Ledger
from model.record import team_stride

SHORT = dict(end="2023-06-26", finetuners=300)


def _run(**overrides) -> H100Market:
    m = H100Market(seed=3, **{**SHORT, **overrides})
    m.run_to_end()
    return m


@pytest.fixture(scope="module")
def full_and_sampled():
    full, sampled = _run(agent_data_teams=1_000_000), _run(agent_data_teams=100)
    yield full, sampled
    release_model(full)
    release_model(sampled)


def test_team_stride():
    assert team_stride(4_000, 20_000) == 1 and team_stride(20_000, 20_000) == 1
    assert team_stride(20_001, 20_000) == 2 and team_stride(1_000_000, 20_000) == 50
    assert team_stride(300, 100) == 3 and team_stride(301, 100) == 4
    assert team_stride(10, 0) == 0


def test_a_block_of_accounts_is_the_same_as_opening_them_one_by_one():
    one, block = Ledger("cash"), Ledger("cash")
    for ledger in (one, block):
        ledger.open("investors")
    singles = [one.open(f"team:{k}") for k in range(5, 105)]
    acc = block.open_block("team:", 5, 100)
    assert acc.tolist() == singles and block.open("later") == one.open("later") == 101
    assert block.names == one.names and list(block.names) == list(one.names)
    assert block.names[57] == "team:61" and block.names[-1] == "later"
    assert block.open("team:61") == 57  # re-opening a name finds its account
    assert len(block.balance) == len(one.balance)


def test_teams_are_rows_with_the_ids_and_accounts_agents_would_have(full_and_sampled):
    m, _ = full_and_sampled
    pool = m.population.finetuners
    assert len(pool) >= 300 and len(pool.agents) == len(pool)
    assert not any(type(a).__name__ == "FineTuner" for a in m.agents)  # no Mesa agent per team
    ids = [a.unique_id for a in m.agents] + pool.ids.tolist()
    assert len(set(ids)) == len(ids)                                   # ids stay unique
    assert max(ids) < next(mesa.Agent._ids[m])                        # and below the next one
    team = pool.agents[17]
    assert team.unique_id == pool.ids[17] and m.cash.names[team.account] == "finetuner:ft-17"
    assert team.mode in ("finetune", "idle", "closed") and team.cash == m.cash.balance[pool.account[17]]
    assert m.population.size() == len(m.agents) + len(pool)


def test_the_frame_keeps_every_kth_team_above_the_limit(full_and_sampled):
    full, sampled = full_and_sampled
    a, b = full.agent_frame(), sampled.agent_frame()
    assert "finetuner_sample_every" not in a.attrs and b.attrs["finetuner_sample_every"] == 3
    others_a, others_b = a[a["kind"] != "finetuner"], b[b["kind"] != "finetuner"]
    assert_frame_equal(others_a.reset_index(drop=True), others_b.reset_index(drop=True))
    teams_a, teams_b = a[a["kind"] == "finetuner"], b[b["kind"] == "finetuner"]
    kept = set(full.population.finetuners.ids[::3].tolist())
    assert set(teams_b["agent_id"]) == kept & set(teams_a["agent_id"])
    expected = teams_a[teams_a["agent_id"].isin(kept)].reset_index(drop=True)
    assert_frame_equal(teams_b.reset_index(drop=True), expected)
    per_week = teams_b.groupby("step").size()
    assert per_week.iloc[0] == 100 and (per_week <= len(sampled.population.finetuners) // 3 + 1).all()


def test_no_team_rows_when_asked_for_none():
    m = _run(agent_data_teams=0, end="2022-12-26")
    try:
        frame = m.agent_frame()
        assert not (frame["kind"] == "finetuner").any() and len(frame) > 0
        assert frame.attrs["finetuner_sample_every"] == 0
        assert isinstance(frame["date"].iloc[0], pd.Timestamp)
        assert np.isfinite(m.series()["teams_finetuning"]).all()
    finally:
        release_model(m)
