"""sweep-report on toy sweeps: bands per parameter value, summary charts, and the Sobol and Morris
tables computed from the sweep's own files (Ishigami through the whole engine; a toy whose
important factor Morris must rank first)."""

from __future__ import annotations

import math
import tomllib

import numpy as np
import pandas as pd
import pytest
from SALib.test_functions import Ishigami

from experiments import load_results
from experiments.designs import sensitivity
from experiments.sweep import read_manifest, run_sweep
from experiments.sweep_report import make_report, markdown_table, parameter_groups
from experiments.sweepspec import parse_spec
from model.errors import InputError
from support.sweep_helpers import TOY_INFO, toy_run, toy_run_failing, toy_spec_text

PI = math.pi
ISHIGAMI_PARAMS = "".join(f"\n[parameters.x{i}]\nlow = {-PI!r}\nhigh = {PI!r}\n" for i in (1, 2, 3))
Y_METRIC = """
[metrics]
[[metrics.summary]]
name = "y"
metric = "y"
window = ["2023-01-01", "2023-01-08"]
stat = "first"
"""


def sweep(out, text, run_fn=toy_run, **kw):
    spec = parse_spec(tomllib.loads(text), path="toy.toml")
    return run_sweep(spec, out, run_fn=run_fn, model_info=TOY_INFO, progress=False,
                     log=lambda m: None, **kw)


def test_grid_report_has_bands_per_value(tmp_path):
    out = tmp_path / "grid"
    sweep(out, toy_spec_text(), run_fn=toy_run_failing)  # a = 3 fails: reported, not plotted
    res = make_report(out)
    names = {f.name for f in res["files"]}
    assert names == {"runs.csv", "bands_a.png", "bands_b.png", "summary_a.png", "summary_b.png",
                     "report.md"}
    for f in res["files"]:
        assert f.stat().st_size > 200
    runs = pd.read_csv(out / "report" / "runs.csv")
    assert runs["status"].value_counts().to_dict() == {"ok": 8, "failed": 4}
    text = (out / "report" / "report.md").read_text()
    assert "finished: 8; failed: 4; missing: 0" in text
    assert res["sensitivity"] is None  # no indices for a grid


def test_parameter_groups():
    few = pd.Series([1.0, 2.0, 1.0, 2.0])
    labels, order = parameter_groups(few)
    assert order == ["1", "2"] and list(labels) == ["1", "2", "1", "2"]
    many = pd.Series(np.linspace(0, 1, 90))
    labels, order = parameter_groups(many, max_levels=8, bins=3)
    assert len(order) == 3 and labels.value_counts().to_dict() == {k: 30 for k in order}
    flags = pd.Series([True, False, True])
    assert parameter_groups(flags)[1] == ["False", "True"]


def test_ishigami_sobol_through_the_sweep_engine(tmp_path):
    out = tmp_path / "ishigami"
    text = toy_spec_text("sobol", extra_sweep="samples = 128", params=ISHIGAMI_PARAMS,
                         metrics=Y_METRIC).replace("replications = 2", "replications = 1")
    res = sweep(out, text)
    assert res.complete and res.planned == 128 * 5
    report = make_report(out)
    table = pd.read_csv(out / "report" / "sensitivity.csv")
    # the report analysed exactly the sampled design and the runs' outputs
    manifest = read_manifest(out)
    unit = np.asarray(manifest["design"]["unit"])
    x = -PI + unit * 2 * PI
    direct, notes = sensitivity(manifest["design"]["info"], unit, Ishigami.evaluate(x), seed=12345)
    assert notes == {"used": 128, "dropped": 0}
    np.testing.assert_allclose(table[["S1", "ST"]].to_numpy(), direct[["S1", "ST"]].to_numpy(),
                               rtol=1e-9, atol=1e-12)
    # and the indices are near the analytic ones (0.314, 0.442, 0; ST 0.558, 0.442, 0.244)
    assert table["S1"].to_numpy() == pytest.approx([0.314, 0.442, 0.0], abs=0.15)
    assert table["ST"].to_numpy() == pytest.approx([0.558, 0.442, 0.244], abs=0.15)
    assert (out / "report" / "sensitivity_y.png").stat().st_size > 1000
    md = (out / "report" / "sensitivity.md").read_text()
    assert "128 base samples used, 0 left out" in md and "| parameter | S1 |" in md
    assert report["notes"]["y"]["used"] == 128


def test_morris_report_ranks_the_important_factor_first(tmp_path):
    out = tmp_path / "morris"
    params = """
[parameters.a]
low = 0.0
high = 50.0

[parameters.b]
low = 0.05
high = 0.5

[parameters.c]
low = 0.0
high = 1.0
"""
    metrics = """
[metrics]
[[metrics.summary]]
name = "start_price"
metric = "price"
window = ["2023-01-01", "2023-01-08"]
stat = "first"
"""
    text = toy_spec_text("morris", extra_sweep="samples = 20", params=params, metrics=metrics)
    text = text.replace("[overrides]\nc = 1.5", "[overrides]")
    sweep(out, text)
    res = make_report(out)
    table = res["sensitivity"]
    ranked = list(table.sort_values("mu_star", ascending=False)["parameter"])
    assert ranked[0] == "a"  # price at week 0 = a + c + noise: a spans 50, c spans 1, b none
    mu = table.set_index("parameter")["mu_star"]
    assert mu["a"] > 10 * mu["c"]
    assert (out / "report" / "sensitivity_start_price.png").exists()


def test_sobol_report_leaves_out_blocks_with_failed_runs(tmp_path):
    out = tmp_path / "holes"
    params = """
[parameters.a]
values = [1.0, 3.0, 5.0, 6.0]

[parameters.b]
low = 0.05
high = 0.5
"""
    metrics = Y_METRIC.replace('metric = "y"', 'metric = "price"')
    text = toy_spec_text("sobol", extra_sweep="samples = 16", params=params, metrics=metrics)
    res = sweep(out, text, run_fn=toy_run_failing)
    assert res.failed  # the a = 3 points
    runs = load_results(out)
    blocks_with_a3 = {s // 4 for s in
                      {r["sample"] for r in read_manifest(out)["runs"] if r["params"]["a"] == 3.0}}
    report = make_report(out)
    note = report["notes"]["y"]
    assert note["dropped"] == len(blocks_with_a3) and note["used"] == 16 - len(blocks_with_a3)
    assert len(runs) == res.finished


def test_report_refuses_an_empty_or_foreign_directory(tmp_path):
    with pytest.raises(InputError, match="not a sweep directory"):
        make_report(tmp_path)


def test_markdown_table():
    df = pd.DataFrame({"parameter": ["a", "b"], "S1": [0.5, float("nan")]})
    assert markdown_table(df).splitlines() == ["| parameter | S1 |", "| --- | --- |",
                                               "| a | 0.5 |", "| b | n/a |"]
