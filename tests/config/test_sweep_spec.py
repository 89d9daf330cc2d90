"""Sweep specs: a good spec parses; each kind of bad spec is refused before anything runs, with a
message naming the file, the field, the value and what is allowed."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from experiments import sweepspec
from experiments.sweepspec import check_against_model, load_spec, parse_spec, read_spec
from model.errors import InputError
from support.sweep_helpers import TOY_INFO, toy_spec_text


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def refused(tmp_path: Path, text: str, *needles: str, model: bool = True) -> str:
    """Load the spec; it must raise InputError whose message names the file and each needle."""
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        spec = read_spec(path)
        if model:
            check_against_model(spec, TOY_INFO)
    msg = str(info.value)
    assert str(path) in msg, msg
    for needle in needles:
        assert needle in msg, f"{needle!r} not in: {msg}"
    return msg


def test_good_spec_parses(tmp_path):
    spec = load_spec(write(tmp_path, toy_spec_text()), TOY_INFO)
    assert spec.design == "grid"
    assert [p.name for p in spec.params] == ["a", "b"]
    assert spec.params[0].values == (1.0, 3.0, 5.0)
    assert spec.params[1].dist == "loguniform" and spec.params[1].num == 2
    assert spec.n_points == 6 and spec.n_runs == 12
    assert spec.overrides == {"c": 1.5}
    assert spec.series == ["price"]
    assert [m.name for m in spec.summary] == ["price_max", "late_volume"]
    assert spec.summary[0].window[0].isoformat() == "2023-01-01"


def test_run_counts_of_each_design(tmp_path):
    params = "\n[parameters.a]\nlow = 1.0\nhigh = 5.0\n\n[parameters.b]\nlow = 0.1\nhigh = 0.5\n"
    counts = {"random": ("samples = 10", 10), "lhs": ("samples = 7", 7),
              "sobol": ("samples = 8", 8 * (2 + 2)),
              "morris": ("samples = 5\nlevels = 6", 5 * (2 + 1))}
    for design, (extra, points) in counts.items():
        spec = parse_spec(tomllib.loads(toy_spec_text(design, extra_sweep=extra, params=params)))
        assert spec.n_points == points, design
        assert spec.n_runs == 2 * points
    spec = parse_spec(tomllib.loads(toy_spec_text(
        "sobol", extra_sweep="samples = 8\nsecond_order = true", params=params)))
    assert spec.n_points == 8 * (2 * 2 + 2)


def test_spec_hash_ignores_description_only(tmp_path):
    a = parse_spec(tomllib.loads(toy_spec_text()))
    b = parse_spec(tomllib.loads(toy_spec_text(extra_sweep='description = "other words"')))
    c = parse_spec(tomllib.loads(toy_spec_text().replace("seed = 12345", "seed = 12346")))
    assert a.spec_hash() == b.spec_hash()
    assert a.spec_hash() != c.spec_hash()
    # the normalised JSON round-trips (a manifest's spec is the spec)
    again = sweepspec.spec_from_json(a.to_json())
    assert again.spec_hash() == a.spec_hash()


def test_stats_agree_with_targets_module():
    from experiments import targets

    assert sweepspec.STATS == targets.STATS
    assert sweepspec.NUMERIC_STATS == targets.NUMERIC_STATS
    assert sweepspec.DATE_STATS == targets.DATE_STATS


def test_misspelt_keys_get_suggestions(tmp_path):
    refused(tmp_path, toy_spec_text().replace("[metrics]", "[metrcs]"),
            "unknown key 'metrcs'", "did you mean 'metrics'", "allowed: sweep, overrides")
    refused(tmp_path, toy_spec_text().replace("replications = 2", "replicatons = 2"),
            "unknown key 'replicatons' in [sweep]", "did you mean 'replications'")
    refused(tmp_path, toy_spec_text().replace('dist = "loguniform"', 'dsit = "loguniform"'),
            "unknown key 'dsit' in [parameters.b]", "did you mean 'dist'")
    refused(tmp_path, toy_spec_text().replace('stat = "max"', 'stta = "max"'),
            "unknown key 'stta'", "did you mean 'stat'")


def test_bad_values_are_refused(tmp_path):
    base = toy_spec_text()
    refused(tmp_path, base.replace('design = "grid"', 'design = "sobel"'),
            "[sweep] design = 'sobel'", "did you mean 'sobol'", "'grid', 'random', 'lhs'")
    refused(tmp_path, base.replace('dist = "loguniform"', 'dist = "normal"'),
            "dist = 'normal'", "'uniform', 'loguniform', 'int'")
    refused(tmp_path, base.replace("replications = 2", "replications = 0"),
            "[sweep] replications = 0", "an integer >= 1")
    refused(tmp_path, base.replace("seed = 12345", "seed = -3"), "[sweep] seed = -3", ">= 0")
    refused(tmp_path, base.replace("seed = 12345", 'seed = "x"'), "[sweep] seed = 'x'")
    refused(tmp_path, base.replace("low = 0.05", "low = 0.9"), "high = 0.5", "above low = 0.9")
    refused(tmp_path, base.replace("low = 0.05", "low = 0.0"),
            "low = 0.0", "> 0 for dist 'loguniform'")
    refused(tmp_path, base.replace('stat = "max"', 'stat = "maximum"'),
            "stat = 'maximum'", "'max', 'min', 'mean'")
    refused(tmp_path, base.replace('window = ["2023-01-01", "2023-03-31"]',
                                   'window = ["2023-03-31", "2023-01-01"]'),
            "window = ['2023-03-31', '2023-01-01']", "start date on or before the end date")
    refused(tmp_path, base.replace('window = ["2023-01-01", "2023-03-31"]',
                                   'window = ["2023-13-01", "2023-03-31"]'), "ISO date")
    refused(tmp_path, base.replace("values = [1.0, 3.0, 5.0]", "values = []"),
            "values = []", "non-empty list")
    refused(tmp_path, base.replace("values = [1.0, 3.0, 5.0]", "values = [1.0, 1.0]"),
            "without repeats")
    refused(tmp_path, toy_spec_text(extra_sweep="steps = 0"), "[sweep] steps = 0")
    refused(tmp_path, toy_spec_text(extra_sweep='end_date = "soon"'), "[sweep] end_date = 'soon'")


def test_design_rules_are_enforced(tmp_path):
    params = "\n[parameters.a]\nlow = 1.0\nhigh = 5.0\n\n[parameters.b]\nlow = 0.1\nhigh = 0.5\n"
    refused(tmp_path, toy_spec_text("sobol", extra_sweep="samples = 100", params=params),
            "[sweep] samples = 100", "power of 2", "64 or 128")
    refused(tmp_path, toy_spec_text("lhs", params=params), "missing key 'samples'")
    refused(tmp_path, toy_spec_text(extra_sweep="samples = 4"), "samples is not used by the grid")
    refused(tmp_path, toy_spec_text(params=params), "missing key 'num' in [parameters.a]")
    refused(tmp_path, toy_spec_text("random", extra_sweep="samples = 4"),
            "'num' is only for the grid design")
    refused(tmp_path, toy_spec_text("random", extra_sweep="samples = 4\nlevels = 4",
                                    params=params), "levels is only for the morris design")
    refused(tmp_path, toy_spec_text("morris", extra_sweep="samples = 4\nlevels = 5",
                                    params=params), "[sweep] levels = 5", "even")
    one = "\n[parameters.a]\nlow = 1.0\nhigh = 5.0\n"
    refused(tmp_path, toy_spec_text("sobol", extra_sweep="samples = 8", params=one),
            "needs at least 2 parameters")
    no_summary = '\n[metrics]\nseries = ["price"]\n'
    refused(tmp_path, toy_spec_text("sobol", extra_sweep="samples = 8", params=params,
                                    metrics=no_summary), "needs at least one [[metrics.summary]]")
    refused(tmp_path, toy_spec_text(metrics="\n[metrics]\nseries = []\n"), "keeps nothing")
    refused(tmp_path, toy_spec_text(metrics=""), "missing table [metrics]")
    refused(tmp_path, toy_spec_text().replace("[overrides]\nc = 1.5", "[overrides]\na = 1.5"),
            "'a' is both in [overrides] and [parameters]")
    two = toy_spec_text().replace('name = "late_volume"', 'name = "price_max"')
    refused(tmp_path, two, "name 'price_max' is used twice")
    refused(tmp_path, toy_spec_text().replace('name = "late_volume"', 'name = "seed"'),
            "name = 'seed'", "not a results column")
    refused(tmp_path, toy_spec_text().replace("[parameters.a]", "[parameters.step]"),
            "reserved")


def test_model_checks(tmp_path):
    # a parameter the model does not know
    msg = refused(tmp_path, toy_spec_text().replace("[parameters.a]", "[parameters.aa]"),
                  "[parameters.aa]", "unknown parameter 'aa'")
    assert "value 1.0" in msg
    # a value the model refuses (a in 0..100)
    refused(tmp_path, toy_spec_text().replace("values = [1.0, 3.0, 5.0]", "values = [1.0, 300.0]"),
            "[parameters.a] value 300.0 is refused by the model", "<= 100.0")
    # a fixed override the model refuses
    refused(tmp_path, toy_spec_text().replace("c = 1.5", "c = 1000.0"), "[overrides]",
            "c = 1000.0")
    # an unknown base scenario
    refused(tmp_path, toy_spec_text().replace('base = "toy"', 'base = "tyo"'),
            "[sweep] base = 'tyo'", "unknown scenario")
    # an unknown series, kept or summarised
    refused(tmp_path, toy_spec_text().replace('series = ["price"]', 'series = ["prcie"]'),
            "unknown series 'prcie'", "did you mean 'price'")
    refused(tmp_path, toy_spec_text().replace('metric = "volume"', 'metric = "volume / prise"'),
            "unknown series 'prise'", "did you mean 'price'")
    # a window outside the runs' horizon (20 weeks from 2023-01-02; 4 with steps = 4)
    refused(tmp_path, toy_spec_text().replace('["2023-03-01", "2023-05-31"]',
                                              '["2024-03-01", "2024-05-31"]'),
            "window = [2024-03-01, 2024-05-31]", "2023-01-02 to 2023-05-22")
    refused(tmp_path, toy_spec_text(extra_sweep="steps = 4"), "late_volume",
            "2023-01-02 to 2023-01-30")


def test_file_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_spec(tmp_path / "nope.toml")
    path = write(tmp_path, "[sweep\nbase = 1")
    with pytest.raises(InputError, match=re.escape(str(path)) + ": malformed TOML"):
        read_spec(path)
    path = write(tmp_path, "[metrics]\nseries = ['price']\n")
    with pytest.raises(InputError, match=r"missing table \[sweep\]"):
        read_spec(path)
