"""The EMA Workbench connector (experiments/ema.py) through EMA's own perform_experiments, and a
finished sweep exported to the (experiments, outcomes) pair EMA reads and SALib's inputs.

EMA Workbench is the optional extra [ema] (part of [dev], so `make test` runs this)."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest

ema = pytest.importorskip("ema_workbench")

from experiments import run_outcomes  # noqa: E402
from experiments.ema import decimal_year, ema_model, salib_problem, sweep_experiments  # noqa: E402
from model import InputError  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

END = "2023-03-27"
OUTCOMES = {"peak_spot": {"metric": "spot_price", "window": ["2023-01-01", "2023-03-31"],
                          "stat": "max"},
            "installed": {"metric": "gpus_installed", "window": ["2023-03-01", "2023-03-31"],
                          "stat": "last"},
            "peak_lead_date": {"metric": "lead_time_weeks", "window": ["2022-10-03", "2023-03-31"],
                               "stat": "date_of_max"}}


def test_a_tiny_lhs_experiment_through_emas_perform_experiments():
    from ema_workbench import SequentialEvaluator, perform_experiments

    model = ema_model(["packaging_multiplier", "pace", "export_controls", "resellers"],
                      outcomes=OUTCOMES, seeds=[0, 1], constants={"end": END})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with SequentialEvaluator(model) as evaluator:
            experiments, outcomes = perform_experiments(model, scenarios=3, evaluator=evaluator)
    assert len(experiments) == 3 and set(outcomes) == set(OUTCOMES)
    assert experiments["packaging_multiplier"].between(0.25, 4.0).all()  # the app's range
    assert experiments["resellers"].between(1, 12).all()
    # each outcome is the median over the seeds of the run the API gives for those levers
    for i, row in experiments.iterrows():
        levers = {"packaging_multiplier": row["packaging_multiplier"], "pace": row["pace"],
                  "export_controls": bool(row["export_controls"]),
                  "resellers": int(row["resellers"]), "end": END}
        runs = [run_outcomes(levers, seed=s, outcomes=OUTCOMES) for s in (0, 1)]
        assert outcomes["peak_spot"][i] == pytest.approx(np.median([r["peak_spot"] for r in runs]))
        assert outcomes["installed"][i] == pytest.approx(np.median([r["installed"] for r in runs]))
        dates = [decimal_year(r["peak_lead_date"]) for r in runs]
        assert outcomes["peak_lead_date"][i] == pytest.approx(np.median(dates))


def test_the_model_takes_its_parameters_from_the_lever_catalogue():
    from ema_workbench import BooleanParameter, IntegerParameter, RealParameter

    model = ema_model({"pace": None, "brokers": (2, 5)}, levers=["funding_multiplier"],
                      ranges={"pace": (0.5, 2.0)}, seeds=range(4))
    by_name = {p.name: p for p in model.uncertainties}
    assert isinstance(by_name["pace"], RealParameter)
    assert (by_name["pace"].lower_bound, by_name["pace"].upper_bound) == (0.5, 2.0)
    assert isinstance(by_name["brokers"], IntegerParameter)
    assert (by_name["brokers"].lower_bound, by_name["brokers"].upper_bound) == (2, 5)
    lever = model.levers["funding_multiplier"]
    assert (lever.lower_bound, lever.upper_bound) == (0.0, 3.0)
    assert [dict(r) for r in model.replications] == [{"seed": s} for s in range(4)]
    assert isinstance(ema_model(["export_controls"]).uncertainties["export_controls"],
                      BooleanParameter)


@pytest.mark.parametrize("kwargs, message", [
    ({"uncertainties": ["hopper_per_wafer"]}, r"'hopper_per_wafer' has no range to explore.*"
                                              r"ranges=\{'hopper_per_wafer': \(low, high\)\}"),
    ({"uncertainties": {"pace": (0.0, 50.0)}}, r"pace: range \[0, 50\] is not allowed; the model "
                                                r"accepts 0\.\.10"),
    ({"uncertainties": ["freeze_from"]}, r"'freeze_from' is a date"),
    ({"uncertainties": ["pace"], "levers": ["pace"]}, r"'pace' is given twice"),
    ({"uncertainties": ["pace"], "seeds": [0, 0]}, r"distinct"),
    ({"uncertainties": ["pace"], "constants": {"end": "someday"}}, r"run.end = 'someday'"),
    ({"uncertainties": ["pase"]}, r"unknown parameter 'pase'.*did you mean 'pace'"),
    ({"uncertainties": ["pace"], "aggregate": "max"}, r"aggregate = 'max' is not allowed"),
])
def test_bad_connector_input_is_refused_before_ema_starts(kwargs, message):
    with pytest.raises(InputError, match=message):
        ema_model(**kwargs)


def test_decimal_years():
    assert decimal_year(dt.date(2023, 1, 1)) == 2023.0
    assert decimal_year(dt.date(2024, 7, 2)) == pytest.approx(2024 + 183 / 366)
    assert np.isnan(decimal_year(None)) and decimal_year(2.5) == 2.5


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    from experiments.sweep import run_sweep

    root = tmp_path_factory.mktemp("sweep")
    spec = root / "tiny.toml"
    spec.write_text(f"""
[sweep]
name = "tiny"
base = "baseline"
design = "grid"
replications = 2
seed = 7
end_date = "{END}"

[parameters.packaging_multiplier]
values = [1.0, 2.0]

[metrics]
series = []

[[metrics.summary]]
name = "peak_spot"
metric = "spot_price"
window = ["2023-01-01", "2023-03-27"]
stat = "max"

[[metrics.summary]]
name = "peak_lead_date"
metric = "lead_time_weeks"
window = ["2022-10-03", "2023-03-27"]
stat = "date_of_max"
""")
    run_sweep(str(spec), root / "out", progress=False)
    return root / "out"


def test_a_sweep_exports_to_emas_experiments_and_outcomes(tiny_sweep):
    from experiments import load_results

    runs = load_results(tiny_sweep)
    exp, out = sweep_experiments(tiny_sweep)
    assert list(exp.columns) == ["packaging_multiplier", "seed", "scenario", "policy", "model"]
    assert len(exp) == 4 and list(exp["seed"]) == list(runs["seed"])
    np.testing.assert_array_equal(out["peak_spot"], runs["peak_spot"].to_numpy())
    assert out["peak_lead_date"][0] == pytest.approx(decimal_year(runs["peak_lead_date"][0]))
    # folded over the replications, as EMA's ReplicatorModel reports
    exp2, out2 = sweep_experiments(tiny_sweep, aggregate="median")
    assert list(exp2["packaging_multiplier"]) == [1.0, 2.0] and "seed" not in exp2
    want = runs.groupby("sample")["peak_spot"].median().to_numpy()
    np.testing.assert_allclose(out2["peak_spot"], want)
    # EMA's own analysis reads the pair
    from ema_workbench.analysis import feature_scoring

    scores = feature_scoring.get_feature_scores_all(exp[["packaging_multiplier", "seed"]], out)
    assert set(scores.columns) == set(out)


def test_a_sweep_exports_to_salibs_problem(tiny_sweep):
    problem, X, Y = salib_problem(tiny_sweep)
    assert problem == {"num_vars": 1, "names": ["packaging_multiplier"], "bounds": [[1.0, 2.0]]}
    assert X.shape == (2, 1) and set(Y) == {"peak_spot", "peak_lead_date"}
    assert Y["peak_spot"].shape == (2,)


def test_the_documented_example_builds_its_model():
    """docs/examples/ema_lhs.py (its output is in docs/sweeps.md): its outcomes and levers are
    valid, so the example does not rot when a series or a lever changes."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "docs" / "examples" / "ema_lhs.py"
    spec = importlib.util.spec_from_file_location("ema_lhs", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)  # the experiment itself runs only under __main__
    model = ema_model(["packaging_multiplier", "funding_multiplier", "pace"],
                      outcomes=example.OUTCOMES, seeds=[0, 1], constants={"end": "2024-06-30"})
    assert [o.name for o in model.outcomes] == list(example.OUTCOMES)
