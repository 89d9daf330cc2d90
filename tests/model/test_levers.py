"""Live levers: what a regulator or investor changes while the model runs (H100Market.set_lever,
add_export_rule), validated like any override and logged."""

from __future__ import annotations

import datetime as dt

import pytest

from model import H100Market, InputError


def stepped(n: int = 20) -> H100Market:
    m = H100Market(seed=3, end="2023-12-31")
    for _ in range(n):
        m.step()
    return m


def test_funding_lever_changes_the_climate_from_now_on_only():
    m = stepped()
    past, now = m.drivers.climate_path[: m.steps].copy(), m.drivers.climate
    m.set_lever("funding_multiplier", 2.0)
    assert m.drivers.climate == pytest.approx(2.0 * now)          # base multiplier is 1
    assert (m.drivers.climate_path[: m.steps] == past).all()          # history is not rewritten
    assert m.get_lever("funding_multiplier") == 2.0
    assert m.lever_log[-1][2:] == ("funding_multiplier", 2.0)


def test_funding_lever_moves_the_money_not_what_an_hour_is_worth():
    # The lever scales the climate where it is money (rounds, run sizes, foundings); a builder's
    # value of an hour follows the climate as the scenario writes it, so it does not move.
    m = stepped()
    base_climate = m.drivers.climate
    builder = next(c for c in m.population.creators if c.values()[0] > 0)
    before = builder.values()
    m.set_lever("funding_multiplier", 2.0)
    assert m.drivers.climate == pytest.approx(2.0 * base_climate)
    assert m.drivers.value_climate == pytest.approx(base_climate)
    assert builder.values() == pytest.approx(before)
    pool = m.population.finetuners
    worth_now = pool.value().copy()
    m.set_lever("funding_multiplier", 0.5)
    assert pool.value() == pytest.approx(worth_now)
    # a scenario with a lower multiplier from the start: the same values, less money
    low = H100Market(seed=3, end="2023-12-31", funding_multiplier=0.5)
    assert low.drivers.value_climate == pytest.approx(H100Market(seed=3, end="2023-12-31").drivers.value_climate)
    assert low.drivers.climate == pytest.approx(0.5 * low.drivers.value_climate)


def test_non_live_levers_and_bad_values_are_refused_by_name():
    m = stepped(2)
    with pytest.raises(InputError, match="pace.*cannot change while the model runs"):
        m.set_lever("pace", 2.0)
    with pytest.raises(InputError, match=r"grey\.seizure_odds_multiplier = -1\.0 .*>= 0"):
        m.set_lever("seizure_odds_multiplier", -1)
    with pytest.raises(InputError, match="unknown parameter"):
        m.set_lever("seizure_oods", 2)
    assert m.lever_log == []                              # nothing half-applied


def test_added_rule_bites_and_survives_switching_controls_off_and_on():
    m = stepped(2)
    h20 = m.catalog["H20"]
    later = m.date + dt.timedelta(days=7)
    assert m.rules.allowed(h20, "CN", later)              # legal in Oct 2022
    m.add_export_rule(name="classroom ban", regions=["CN"], tpp_min=1000.0)
    assert not m.rules.allowed(h20, "CN", later)
    m.set_lever("export_controls", False)
    assert m.rules.allowed(h20, "CN", later) and m.rules.allowed(m.catalog["H100 SXM5"], "CN", later)
    m.set_lever("export_controls", True)
    assert not m.rules.allowed(h20, "CN", later)
    with pytest.raises(InputError, match="regions"):
        m.add_export_rule(name="bad", regions="CN", tpp_min=1.0)
    m.step()                                              # the model goes on
    assert [e[2] for e in m.lever_log] == ["add_export_rule", "export_controls", "export_controls"]


def test_live_lever_refused_when_the_combination_makes_no_sense():
    """With no brokers, enforcement has nothing to seize: set_lever refuses it like a bad value,
    names both keys, and leaves the model as it was (config, climate, log), still able to step."""
    m = H100Market(seed=3, end="2023-12-31", brokers=0)
    for _ in range(2):
        m.step()
    cfg = m.config
    with pytest.raises(InputError) as e:
        m.set_lever("seizure_odds_multiplier", 4.0)
    msg = str(e.value)
    assert "grey.seizure_odds_multiplier = 4.0 is not allowed with population.brokers = 0" in msg
    assert "set population.brokers above 0 or grey.seizure_odds_multiplier to 1" in msg
    assert m.config is cfg and m.get_lever("seizure_odds_multiplier") == 1.0
    assert m.lever_log == []
    m.set_lever("export_controls", False)                 # other live levers still act
    m.step()
    assert m.steps == 3 and [e[2] for e in m.lever_log] == ["export_controls"]


def test_live_levers_in_an_odd_but_valid_world_are_accepted():
    """Export controls off with raised enforcement is allowed (switching the controls back on
    makes the enforcement bite), and so is enforcement changed in the strict preset."""
    m = H100Market(scenario="strict_enforcement", seed=3, end="2023-12-31")
    m.step()
    m.set_lever("export_controls", False)
    m.set_lever("seizure_odds_multiplier", 20.0)
    m.set_lever("export_controls", True)
    m.step()
    assert [e[2:] for e in m.lever_log] == [("export_controls", False),
                                            ("seizure_odds_multiplier", 20.0),
                                            ("export_controls", True)]
