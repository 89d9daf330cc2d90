"""Sweeps of the real model (tiny horizons): the same per-run results on every engine, Mesa's
Agent._ids released after each run, the shipped specs valid against the model, the CLI end to end
(sweep, then sweep-report with Sobol indices), and mesa.batch_run still working on H100Market."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mesa
import pandas as pd
import pytest

from experiments import load_results
from experiments.cli import main
from experiments.sweep import run_sweep
from experiments.sweepspec import load_spec
from model import SERIES, H100Market, release_model

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "experiments" / "specs"

TINY = """
[sweep]
name = "tiny"
base = "baseline"
design = "grid"
replications = 2
seed = 7
steps = 6

[parameters.packaging_multiplier]
values = [1.0, 2.0]

[metrics]
series = "all"

[[metrics.summary]]
metric = "spot_price"
window = ["2022-10-01", "2022-12-31"]
stat = "max"

[[metrics.summary]]
name = "premium"
metric = "large_cluster_price / small_cluster_price"
window = ["2022-10-01", "2022-12-31"]
stat = "mean"
"""

SOBOL = """
[sweep]
name = "tiny-sobol"
base = "baseline"
design = "sobol"
samples = 2
replications = 1
seed = 3
steps = 8

[parameters.packaging_multiplier]
low = 0.5
high = 2.0
dist = "loguniform"

[parameters.export_controls]
values = [true, false]

[metrics]
series = ["spot_price"]

[[metrics.summary]]
name = "mean_spot"
metric = "spot_price"
window = ["2022-10-01", "2022-12-31"]
stat = "mean"
"""


def write(tmp_path: Path, text: str, name: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def frames(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    return load_results(out).drop(columns=["elapsed_s"]), load_results(out, "series")


@pytest.fixture(scope="module")
def serial_tiny(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("tiny")
    spec = write(tmp, TINY, "tiny.toml")
    ids_before = len(mesa.Agent._ids)
    res = run_sweep(spec, tmp / "serial", progress=False, log=lambda m: None)
    assert res.complete and res.ran_now == 4
    # each run's model was released: Mesa's Agent._ids does not keep the four models alive
    assert len(mesa.Agent._ids) == ids_before
    return tmp / "serial"


def test_real_model_runs_are_kept(serial_tiny):
    runs, series = frames(serial_tiny)
    assert len(runs) == 4 and runs["status"].eq("ok").all()
    assert len(series) == 4 * 7  # row 0 (the initial state) and 6 weekly steps
    assert set(SERIES) - {"date"} <= set(series.columns)
    assert series["date"].min() == pd.Timestamp("2022-10-03")
    # summary metrics are experiments.targets.compute_stat of the same run
    from experiments.targets import compute_stat

    first = series[series["run_id"] == runs["run_id"][0]]
    assert runs["spot_price_max"][0] == pytest.approx(
        compute_stat(first, "spot_price", ("2022-10-01", "2022-12-31"), "max"))
    # and a run is the model run for that seed and those parameters
    m = H100Market(scenario="baseline", seed=int(runs["seed"][0]),
                   packaging_multiplier=float(runs["packaging_multiplier"][0]))
    for _ in range(6):
        m.step()
    direct = m.series()
    release_model(m)
    assert first["spot_price"].to_numpy() == pytest.approx(direct["spot_price"].to_numpy(), nan_ok=True)


@pytest.mark.parametrize("engine", ["processes", "dask"])
def test_engines_give_identical_results_on_the_model(serial_tiny, tmp_path, engine):
    spec = write(tmp_path, TINY, "tiny.toml")
    res = run_sweep(spec, tmp_path / engine, workers=2, engine=engine, progress=False,
                    log=lambda m: None)
    assert res.complete and res.ran_now == 4
    a_runs, a_series = frames(serial_tiny)
    b_runs, b_series = frames(tmp_path / engine)
    pd.testing.assert_frame_equal(a_runs, b_runs)
    pd.testing.assert_frame_equal(a_series, b_series)


def test_shipped_specs_are_valid():
    demo = load_spec(SPECS / "demo.toml")
    assert demo.design == "grid" and 12 <= demo.n_runs <= 24
    assert demo.end_date is not None or demo.steps is not None  # short runs
    sobol = load_spec(SPECS / "sobol_main_levers.toml")
    assert sobol.design == "sobol" and sobol.samples >= 256
    names = {p.name for p in sobol.params}
    assert {"packaging_multiplier", "pace", "funding_multiplier", "seizure_odds_multiplier",
            "export_controls"} <= names
    assert len(sobol.summary) >= 5
    assert sobol.n_runs == sobol.samples * (len(sobol.params) + 2) * sobol.replications


def test_unknown_lever_is_refused_by_the_model(tmp_path, capsys):
    spec = write(tmp_path, TINY.replace("packaging_multiplier]", "packaging_multipler]"), "bad.toml")
    code = main(["sweep", str(spec), "--out", str(tmp_path / "never"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "bad.toml" in err and "[parameters.packaging_multipler]" in err
    assert "did you mean 'packaging_multiplier'" in err
    assert not (tmp_path / "never").exists()  # refused before anything was written
    spec = write(tmp_path, TINY.replace("values = [1.0, 2.0]", "values = [1.0, -2.0]"), "neg.toml")
    assert main(["sweep", str(spec), "--out", str(tmp_path / "never"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "[parameters.packaging_multiplier] value -2.0 is refused" in err and ">= 0" in err


def test_cli_sweep_and_report_with_sobol_indices(tmp_path, capsys):
    spec = write(tmp_path, SOBOL, "sobol.toml")
    out = tmp_path / "sobol"
    assert main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "8 of 8 runs finished" in err and "0 failed" in err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["design"]["kind"] == "sobol" and len(manifest["design"]["unit"]) == 8
    assert main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 0  # nothing to do
    assert "(0 now" in capsys.readouterr().err
    assert main(["sweep-report", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| parameter | S1 | S1_conf | ST | ST_conf |" in printed
    report = out / "report"
    table = pd.read_csv(report / "sensitivity.csv")
    assert list(table["parameter"]) == ["packaging_multiplier", "export_controls"]
    assert set(table.columns) == {"metric", "parameter", "S1", "S1_conf", "ST", "ST_conf"}
    for name in ("bands_packaging_multiplier.png", "bands_export_controls.png",
                 "summary_packaging_multiplier.png", "sensitivity_mean_spot.png",
                 "sensitivity.md", "report.md", "runs.csv"):
        assert (report / name).stat().st_size > 200, name


def test_mesa_batch_run_still_works():
    """The model stays usable from mesa.batch_run (keyword arguments, one collect per step)."""
    results = mesa.batch_run(H100Market, {"seed": [1]}, iterations=1, max_steps=5,
                             number_processes=1, data_collection_period=-1,
                             display_progress=False)
    assert len(results) == 1
    row = results[0]
    assert row["seed"] == 1 and set(SERIES) <= set(row)
    # the row batch_run reports is the model's state at that row's date, for that seed
    m = H100Market(seed=1)
    for _ in range(row["Step"] + 1):
        m.step()
    direct = m.series().set_index("date")
    release_model(m)
    assert row["spot_price"] == pytest.approx(direct.loc[pd.Timestamp(row["date"]), "spot_price"])
    assert row["Step"] >= 5


def test_cli_sigterm_stops_cleanly_and_the_same_command_resumes(tmp_path):
    """A batch system's SIGTERM (time limit): exit 130, finished runs kept; re-run completes."""
    spec = write(tmp_path, TINY.replace("replications = 2", "replications = 12"), "long.toml")
    out = tmp_path / "term"
    cmd = [sys.executable, "-m", "experiments.cli", "sweep", str(spec), "--out", str(out),
           "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "runs").is_dir() and len(list((out / "runs").glob("*.parquet"))) >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    err = err.decode()
    assert proc.returncode == 130, err
    assert "interrupted: run the same command again" in err
    done = len(list((out / "runs").glob("*.parquet")))
    assert 2 <= done < 24
    rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"24 of 24 runs finished ({24 - done} now" in rerun.stderr
    assert len(load_results(out)) == 24
