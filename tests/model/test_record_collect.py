"""The recorder reads the weekly series and the agent frame itself, without a Mesa call per value
or per agent: what it keeps must be what Mesa's DataCollector would have kept, value for value."""

from __future__ import annotations

import mesa
import pandas as pd
from pandas.testing import assert_frame_equal

from model.market import H100Market

REPORTERS = {"name": "name", "region": "region", "cash": "cash", "gpus": "gpus", "mode": "mode"}


def test_series_and_agent_rows_are_what_mesa_collects():
    m = H100Market(seed=3, end="2023-06-01")
    rec = m.recorder
    framed = [k.cls for k in rec._framed]
    agents = mesa.DataCollector(agenttype_reporters={cls: dict(REPORTERS) for cls in framed})
    series = mesa.DataCollector(model_reporters=dict(rec.series_collector.model_reporters))
    agents.collect(m)
    series.collect(m)
    while m.running:
        m.step()
        series.collect(m)
        if m.steps % m.cfg.run.agent_data_every == 0:
            agents.collect(m)
    assert_frame_equal(rec.series_collector.get_model_vars_dataframe(), series.get_model_vars_dataframe(),
                       check_exact=True)
    assert list(rec._agent_rows) == list(agents._agenttype_records)
    for cls in framed:
        want = agents.get_agenttype_vars_dataframe(cls)
        got = rec._agent_type_frame(cls)
        assert len(got) > 0
        assert_frame_equal(got, want, check_exact=True)
        for step, week in agents._agenttype_records.items():  # the same rows, of the same types
            assert rec._agent_rows[step][cls] == week[cls]
            assert [tuple(map(type, r)) for r in rec._agent_rows[step][cls]] == [
                tuple(map(type, r)) for r in week[cls]
            ]
    assert isinstance(rec.series(), pd.DataFrame)
