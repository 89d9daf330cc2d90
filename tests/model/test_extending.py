"""The ODD's "How to add an agent kind", followed to the letter: one file and one scenario section
add a kind that the population builds, the week steps, the markets serve and the agent frame
records; and the names both "How to add" lists use exist in the code."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import mesa
import pytest

from agents.registry import KINDS, unregister
from model import H100Market, InputError, load_scenario, release_model

ROOT = Path(__file__).resolve().parents[2]

KIOSK = '''
"""A toy kind: inference kiosks that rent a few small-cluster GPUs every week."""
from agents.base import Firm
from agents.registry import AgentKind, register, shuffled
from model.mechanisms.vocabulary import INFERENCE, SMALL


class Kiosk(Firm):
    kind = "kiosk"

    @classmethod
    def populate(cls, model):
        s = model.cfg.kiosk
        kiosks = [cls(model, f"kiosk-{k}", "US") for k in range(s.count)]
        for k in kiosks:
            model.fund(k, s.capital_musd * 1e6)
        return kiosks

    def __init__(self, model, name, region):
        super().__init__(model, name, region)
        self.got = 0.0

    def step(self):
        s = self.model.cfg.kiosk
        self.model.hours.bid_for([self.account], [self.unique_id], [INFERENCE], [SMALL], [s.gpus],
                                 [s.limit])

    def on_hours(self, use, wanted, got):
        self.got += got


register(AgentKind("kiosk", Kiosk, build=Kiosk.populate, act=shuffled, week_order=60,
                   build_order=70, colour="#17becf", label="inference kiosk",
                   settings={"count": 3, "gpus": 16.0, "limit": 40.0, "capital_musd": 5.0}))
'''


@pytest.fixture
def kiosk_kind(tmp_path):
    """The toy kind's one file, imported (which registers it); unregistered afterwards."""
    path = tmp_path / "kiosk.py"
    path.write_text(KIOSK)
    spec = importlib.util.spec_from_file_location("kiosk_kind", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["kiosk_kind"] = module
    spec.loader.exec_module(module)
    try:
        yield module
    finally:
        unregister("kiosk")
        sys.modules.pop("kiosk_kind", None)


def test_a_new_kind_from_one_file_and_one_section_runs(kiosk_kind, tmp_path):
    scenario = tmp_path / "with_kiosks.toml"
    scenario.write_text('extends = "baseline"\n[kiosk]\ncount = 4\n')
    m = H100Market(scenario=str(scenario), seed=1, end="2023-09-01")
    try:
        kiosks = m.population.of("kiosk")
        assert len(kiosks) == 4                      # the section's value, not the default 3
        assert m.cfg.kiosk.gpus == 16.0              # a default the section did not set
        start_cash = [k.cash for k in kiosks]
        m.run_to_end()
        # the week stepped them and the hours market served and charged them
        assert all(k.got > 0 for k in kiosks), [k.got for k in kiosks]
        assert all(k.cash < c for k, c in zip(kiosks, start_cash))
        frame = m.agent_frame()
        rows = frame[frame["kind"] == "kiosk"]
        assert rows["agent_id"].nunique() == 4 and (rows["mode"] == "kiosk").all()
        assert abs(m.cash.total()) < 1e-3            # the books still balance
    finally:
        release_model(m)


def test_a_kinds_section_takes_overrides_and_refuses_unknown_keys(kiosk_kind):
    assert load_scenario("baseline", **{"kiosk.count": 2}).kiosk.count == 2
    assert load_scenario("baseline").kiosk.count == 3
    with pytest.raises(InputError, match="did you mean 'count'"):
        load_scenario("baseline", **{"kiosk.cuont": 2})
    with pytest.raises(InputError, match="kiosk.count"):
        load_scenario("baseline", **{"kiosk.count": "many"})


def test_without_the_kind_its_section_is_unknown(tmp_path):
    assert "kiosk" not in KINDS
    scenario = tmp_path / "with_kiosks.toml"
    scenario.write_text('extends = "baseline"\n[kiosk]\ncount = 4\n')
    with pytest.raises(InputError, match=r"unknown section \[kiosk\]"):
        load_scenario(str(scenario))


def _how_to(section: str) -> str:
    text = (ROOT / "docs" / "ODD.md").read_text()
    start = text.index(f"### How to add {section}")
    end = text.index("\n#", start + 5)
    return text[start:end]


@pytest.mark.parametrize("section", ["an agent kind", "a market"])
def test_the_how_to_lists_name_things_that_exist(section):
    """Every `name` in backticks in the list is a file that exists or an attribute of the classes
    the list talks about, so the list cannot drift from the code."""
    import agents.base
    import agents.cloud
    import agents.registry
    import model.markets.base
    import model.record
    from model.market import H100Market as Market

    m = H100Market(seed=0, end="2023-01-01")
    try:
        places = [mesa, mesa.agent, agents.base.Firm, agents.cloud.Cloud, agents.registry, agents.registry.AgentKind, model.markets.base,
                  model.markets.base.Market, model.record, model.record.Recorder, Market, m,
                  m.hours, m.used_cards, m.new_cards, m.grey, m.population]
        text = _how_to(section)
        names = set(re.findall(r"`([^`]+)`", text))
        assert len(names) > 8
        for name in names:
            if "/" in name or name.endswith(".py"):
                path = name.replace("<kind>", "cloud").replace("<name>", "hours")
                assert (ROOT / path).exists(), f"{section}: {name} does not exist"
                continue
            leaf = re.sub(r"[^\w.].*", "", name).split(".")[-1]   # `model.hours.bid_for` -> bid_for
            if not leaf or leaf in {"name", "unit", "<kind>", "<name>"}:
                continue
            fields = agents.registry.AgentKind.__dataclass_fields__
            found = leaf in fields or any(hasattr(place, leaf) or getattr(place, "__name__", "") == leaf
                                          for place in places)
            assert found, f"{section}: {name!r} names nothing in the code"
    finally:
        release_model(m)
