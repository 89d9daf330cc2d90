"""model.config: loading, overrides, validation messages (InputError)."""

import datetime as dt

import pytest

from model.config import (SCHEMA, Config, Section, combination_problems, list_scenarios,
                          load_scenario, parse_override, resolve_key)
from model.errors import InputError


@pytest.fixture(scope="module")
def base():
    return load_scenario("baseline")


def test_baseline_loads_and_is_read_only(base):
    assert base.name == "baseline"
    assert base.run.start == dt.date(2022, 10, 3) and base.run.end == dt.date(2026, 12, 28)
    assert base.grey.seizure_prob == 0.04 and base.grey.seizure_odds_multiplier == 1.0
    assert base.get("grey.seizure_prob") == base.grey.seizure_prob
    with pytest.raises(AttributeError):
        base.grey.seizure_prob = 0.5
    flat = base.flat()
    assert flat["run.start"] == "2022-10-03"
    assert set(list_scenarios()) >= {"baseline", "no_export_controls", "double_packaging",
                                     "no_open_weights", "strict_enforcement"}


@pytest.mark.parametrize("key", ["seizure_odds_multiplier", "grey.seizure_odds_multiplier",
                                 "grey__seizure_odds_multiplier"])
def test_override_by_leaf_dotted_and_double_underscore(key):
    cfg = load_scenario("baseline", **{key: 5})
    assert cfg.grey.seizure_odds_multiplier == 5.0
    assert isinstance(cfg.grey.seizure_odds_multiplier, float)


def test_resolve_key():
    assert resolve_key("fake_share") == "grey.fake_share"
    assert resolve_key("grey.fake_share") == "grey.fake_share"
    assert resolve_key("grey__fake_share") == "grey.fake_share"
    assert resolve_key("end") == "run.end"


def test_unknown_override_names_key_and_suggests():
    with pytest.raises(InputError) as e:
        load_scenario("baseline", seizure_odds_multipler=5)
    msg = str(e.value)
    assert "seizure_odds_multipler" in msg and "did you mean 'seizure_odds_multiplier'" in msg


def test_unknown_dotted_key_refused():
    with pytest.raises(InputError, match="grey.no_such_thing"):
        resolve_key("grey.no_such_thing")
    with pytest.raises(InputError, match="nosection.fake_share"):
        resolve_key("nosection.fake_share")


@pytest.mark.parametrize("key,value,allowed", [
    ("seizure_prob", "high", "a number >= 0 and <= 0.99"),
    ("seizure_prob", 1.5, "a number >= 0 and <= 0.99"),
    ("seizure_prob", -0.1, "a number >= 0 and <= 0.99"),
    ("seizure_prob", True, "a number"),
    ("seizure_prob", float("nan"), "a number"),
    ("export_controls", "yes", "true or false"),
    ("agent_data_every", 2.5, "an integer >= 1 and <= 520"),
    ("agent_data_every", 0, "an integer >= 1 and <= 520"),
    ("hopper_per_wafer", 0.0, "a number > 0"),
    ("start", "not-a-date", "an ISO date"),
])
def test_bad_value_names_key_value_and_allowed(key, value, allowed):
    with pytest.raises(InputError) as e:
        load_scenario("baseline", **{key: value})
    msg = str(e.value)
    dotted = resolve_key(key)
    assert dotted in msg
    assert repr(value) in msg
    assert allowed in msg
    assert msg.startswith("override: ")


def test_int_given_as_whole_float_is_accepted():
    assert load_scenario("baseline", agent_data_every=2.0).run.agent_data_every == 2


def test_series_override_checked():
    with pytest.raises(InputError, match="does not increase"):
        load_scenario("baseline", vendor_packaging_share=[["2023-01-01", 0.3], ["2022-01-01", 0.4]])
    with pytest.raises(InputError, match="out of range"):
        load_scenario("baseline", vendor_packaging_share=[["2023-01-01", 1.3]])
    cfg = load_scenario("baseline", vendor_packaging_share=[["2023-01-01", 0.5]])
    assert cfg.supply.vendor_packaging_share == ((dt.date(2023, 1, 1), 0.5),)


def test_choice_field_suggests():
    clouds = [dict(c.to_dict()) for c in load_scenario("baseline").population.clouds]
    clouds[0]["kind"] = "privat"
    with pytest.raises(InputError) as e:
        load_scenario("baseline", clouds=clouds)
    msg = str(e.value)
    assert "kind" in msg and "'privat'" in msg and "did you mean 'private'" in msg


def test_end_before_start_refused():
    with pytest.raises(InputError) as e:
        load_scenario("baseline", end=dt.date(2022, 1, 1))
    msg = str(e.value)
    assert "run.end" in msg and "2022-01-01" in msg and "run.start" in msg
    with pytest.raises(InputError):
        load_scenario("baseline", end=dt.date(2022, 10, 3))        # equal to start


def test_delivery_weeks_max_below_min_refused():
    with pytest.raises(InputError, match="grey.delivery_weeks_max"):
        load_scenario("baseline", delivery_weeks_min=10, delivery_weeks_max=5)


def test_unknown_scenario_suggests():
    with pytest.raises(InputError) as e:
        load_scenario("basline")
    msg = str(e.value)
    assert "'basline'" in msg and "did you mean 'baseline'" in msg and "available" in msg


def test_missing_file(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(InputError, match="does not exist"):
        load_scenario(missing)
    with pytest.raises(InputError, match="does not exist"):
        load_scenario(str(missing))


def test_malformed_toml(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('extends = "baseline"\n[grey\nfake_share = 0.1\n')
    with pytest.raises(InputError) as e:
        load_scenario(p)
    assert "malformed TOML" in str(e.value) and "bad.toml" in str(e.value)


def test_extends_merges_sections(tmp_path, base):
    p = tmp_path / "child.toml"
    p.write_text('extends = "baseline"\ndescription = "test"\n[grey]\nfake_share = 0.5\n')
    cfg = load_scenario(p)
    assert cfg.name == "child"
    assert cfg.grey.fake_share == 0.5
    # the rest of [grey] and every other section come from the baseline
    assert cfg.grey.seizure_prob == base.grey.seizure_prob
    assert cfg.supply.to_dict() == base.supply.to_dict()
    # overrides apply on top of the file
    assert load_scenario(p, fake_share=0.25).grey.fake_share == 0.25


def test_extends_chain_and_shipped_counterfactuals(tmp_path, base):
    assert load_scenario("strict_enforcement").grey.seizure_odds_multiplier == 5.0
    assert load_scenario("double_packaging").supply.packaging_multiplier == 2.0
    assert load_scenario("no_export_controls").policy.export_controls is False
    assert load_scenario("no_export_controls").policy.rules == base.policy.rules
    (tmp_path / "a.toml").write_text('extends = "strict_enforcement"\n[grey]\nfake_share = 0.2\n')
    cfg = load_scenario(tmp_path / "a.toml")
    assert cfg.grey.seizure_odds_multiplier == 5.0 and cfg.grey.fake_share == 0.2


def test_extends_cycle_refused(tmp_path):
    (tmp_path / "x.toml").write_text(f'extends = "{tmp_path / "y.toml"}"\n')
    (tmp_path / "y.toml").write_text(f'extends = "{tmp_path / "x.toml"}"\n')
    with pytest.raises(InputError, match="cycle"):
        load_scenario(tmp_path / "x.toml")


def test_unknown_key_in_file_names_key_and_suggests(tmp_path):
    p = tmp_path / "typo.toml"
    p.write_text('extends = "baseline"\n[grey]\nseizure_odds_multipler = 5\n')
    with pytest.raises(InputError) as e:
        load_scenario(p)
    msg = str(e.value)
    assert "typo.toml" in msg and "grey.seizure_odds_multipler" in msg
    assert "did you mean 'seizure_odds_multiplier'" in msg


def test_unknown_section_in_file(tmp_path):
    p = tmp_path / "sec.toml"
    p.write_text('extends = "baseline"\n[gery]\nfake_share = 0.1\n')
    with pytest.raises(InputError) as e:
        load_scenario(p)
    assert "[gery]" in str(e.value) and "did you mean 'grey'" in str(e.value)


def test_bad_value_in_file_names_file(tmp_path):
    p = tmp_path / "val.toml"
    p.write_text('extends = "baseline"\n[grey]\nfake_share = 2.0\n')
    with pytest.raises(InputError) as e:
        load_scenario(p)
    msg = str(e.value)
    assert "val.toml" in msg and "grey.fake_share = 2.0" in msg and "<= 1" in msg


def test_missing_key_in_standalone_file(tmp_path):
    p = tmp_path / "bare.toml"
    p.write_text('[run]\nstart = 2023-01-02\nend = 2024-01-01\nagent_data_every = 4\n')
    with pytest.raises(InputError, match="missing key"):
        load_scenario(p)


def test_rule_effective_before_announce_refused(base):
    rules = [r.to_dict() for r in base.policy.rules]
    rules[0]["effective"] = "2022-01-01"
    with pytest.raises(InputError, match="before its announce date"):
        load_scenario("baseline", rules=rules)


def test_parse_override():
    assert parse_override("seizure_odds_multiplier=5") == ("seizure_odds_multiplier", 5)
    assert parse_override(" grey.fake_share = 0.25 ") == ("grey.fake_share", 0.25)
    assert parse_override("export_controls=false") == ("export_controls", False)
    assert parse_override("end=2024-06-03") == ("end", dt.date(2024, 6, 3))
    assert parse_override("freeze_from=2023-03-01")[1] == dt.date(2023, 3, 1)
    # a bare word is a string (then refused by the schema if wrong)
    assert parse_override("export_controls=maybe") == ("export_controls", "maybe")


@pytest.mark.parametrize("text,needle", [
    ("seizure_odds_multiplier", "expected key=value"),
    ("=5", "key before '=' is empty"),
    ("seizure_odds_multipler=5", "did you mean 'seizure_odds_multiplier'"),
    ("fake_share=[1, ", "not a TOML value"),
])
def test_parse_override_errors(text, needle):
    with pytest.raises(InputError) as e:
        parse_override(text)
    assert needle in str(e.value)


def test_parsed_override_round_trip():
    key, value = parse_override("grey__seizure_odds_multiplier=5")
    assert load_scenario("baseline", **{key: value}).grey.seizure_odds_multiplier == 5.0


@pytest.mark.parametrize("key", ["grey.fake_shar", "grey__fake_shar", "fake_shar"])
def test_misspelt_override_in_any_form_suggests(key):
    with pytest.raises(InputError) as e:
        load_scenario("baseline", **{key: 0.1})
    msg = str(e.value)
    assert repr(key) in msg and "fake_share" in msg and "did you mean" in msg


# ------------------------------------------------------------------------------------------------
# Lever combinations that make no sense (combination_problems, issue 8)
# ------------------------------------------------------------------------------------------------
def with_values(cfg: Config, **dotted) -> Config:
    """``cfg`` with some values replaced (``{"grey.seizure_prob": 0.0}``) and NOT re-checked, so a
    rule can be tested on the config it would refuse."""
    sections = dict(cfg.sections)
    for key, value in dotted.items():
        section, leaf = key.split(".")
        data = {k: sections[section][k] for k in SCHEMA[section]}
        sections[section] = Section({**data, leaf: value})
    return Config(cfg.name, sections, cfg.source)


def test_shipped_scenarios_have_no_combination_problems():
    for name in list_scenarios():
        assert combination_problems(load_scenario(name)) == [], name


def test_a_market_without_model_builders_is_not_refused(base):
    """Fine-tuners and clouds alone are an odd but meaningful world (it runs: test_properties)."""
    none = with_values(base, **{"population.creators": (), "population.mid_creators": 0,
                                "population.cn_mid_creators": 0, "population.row_creators": 0})
    assert combination_problems(none) == []


def test_enforcement_without_brokers_refused(base):
    (msg,) = combination_problems(with_values(base, **{"population.brokers": 0,
                                                       "grey.seizure_odds_multiplier": 5.0}))
    assert msg == ("grey.seizure_odds_multiplier = 5.0 is not allowed with population.brokers = 0: "
                   "with no grey-market broker no card is smuggled, so there is no shipment to "
                   "seize; set population.brokers above 0 or grey.seizure_odds_multiplier to 1")
    # lowered enforcement is as meaningless as raised
    assert len(combination_problems(with_values(base, **{"population.brokers": 0,
                                                         "grey.seizure_odds_multiplier": 0.0}))) == 1
    # either lever alone is a question the model answers
    assert combination_problems(with_values(base, **{"population.brokers": 0})) == []
    assert combination_problems(with_values(base, **{"population.brokers": 1,
                                                     "grey.seizure_odds_multiplier": 5.0})) == []
    # controls off with enforcement set is allowed: the live switch can turn the controls back on
    assert combination_problems(with_values(base, **{"policy.export_controls": False,
                                                     "grey.seizure_odds_multiplier": 100.0})) == []


def test_enforcement_on_zero_seizure_odds_refused(base):
    (msg,) = combination_problems(with_values(base, **{"grey.seizure_prob": 0.0,
                                                       "grey.seizure_odds_multiplier": 3.0}))
    assert msg.startswith("grey.seizure_odds_multiplier = 3.0 is not allowed with "
                          "grey.seizure_prob = 0")
    assert msg.endswith("set grey.seizure_prob above 0 or grey.seizure_odds_multiplier to 1")
    assert combination_problems(with_values(base, **{"grey.seizure_prob": 0.0})) == []
    both = with_values(base, **{"grey.seizure_prob": 0.0, "population.brokers": 0,
                                "grey.seizure_odds_multiplier": 3.0})
    assert len(combination_problems(both)) == 2


def test_pace_with_open_weights_frozen_from_the_start_refused(base):
    start = base.run.start  # 2022-10-03
    frozen = {"openweights.freeze_from": start, "openweights.pace": 2.0}
    (msg,) = combination_problems(with_values(base, **frozen))
    assert msg.startswith("openweights.pace = 2.0 is not allowed with openweights.freeze_from = "
                          "2022-10-03 (not after run.start = 2022-10-03)")
    assert msg.endswith("set openweights.pace to 1 or openweights.freeze_from after run.start")
    before = {"openweights.freeze_from": dt.date(2020, 1, 1), "openweights.pace": 0.0}
    assert len(combination_problems(with_values(base, **before))) == 1
    # frozen one day after the start, pace still moves releases before it: fine
    later = {"openweights.freeze_from": start + dt.timedelta(days=1), "openweights.pace": 2.0}
    assert combination_problems(with_values(base, **later)) == []
    assert combination_problems(with_values(base, **{"openweights.freeze_from": start})) == []
    assert combination_problems(load_scenario("no_open_weights", pace=3.0)) == []


def test_loader_refuses_a_nonsensical_combination_naming_file_overrides_and_keys():
    with pytest.raises(InputError) as e:
        load_scenario("strict_enforcement", brokers=0)
    msg = str(e.value)
    assert msg.startswith(f"{load_scenario('strict_enforcement').source} with overrides brokers: ")
    assert "grey.seizure_odds_multiplier = 5.0 is not allowed with population.brokers = 0" in msg
    # several problems are all named, in one message
    with pytest.raises(InputError) as e:
        load_scenario("baseline", brokers=0, seizure_odds_multiplier=2, pace=2,
                      freeze_from=dt.date(2022, 1, 3))
    assert "population.brokers = 0" in str(e.value) and "openweights.pace = 2.0" in str(e.value)
    # odd but valid worlds the property tests run are not refused
    load_scenario("baseline", finetuners=0, funding_multiplier=0.0, packaging_multiplier=0.0,
                  seizure_odds_multiplier=100.0, export_controls=False, pace=5.0,
                  population__scale=0.05)


def test_cli_set_refuses_a_nonsensical_combination(capsys, monkeypatch, tmp_path):
    from experiments.cli import main

    monkeypatch.chdir(tmp_path)
    code = main(["run", "--set", "brokers=0", "--set", "seizure_odds_multiplier=5",
                 "--set", "end=2023-01-02"])
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in out + err
    (line,) = err.strip().splitlines()
    assert line.startswith("h100sim run: error: ")
    assert "grey.seizure_odds_multiplier = 5.0 is not allowed with population.brokers = 0" in line
    assert not (tmp_path / "results").exists()
