"""Run outputs: files, charts, manifest, atomic replacement and overwrite protection.

The first part uses hand-made frames; the slow part runs the model through `h100sim run`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.charts import CHARTS, chart_columns, merge_events, target_chart, write_band_charts
from experiments.ensemble import band
from experiments.outputs import check_out_dir, read_manifest, write_run
from experiments.targets import Target
from model.errors import InputError

PNG = b"\x89PNG\r\n\x1a\n"
EVENTS = [(dt.date(2023, 10, 17), "Oct 2023 rule announced", "policy"),
          (dt.date(2023, 10, 23), "Oct 2023 rule effective", "policy"),
          (dt.date(2024, 4, 18), "Llama 3", "release")]


def fake_series(seed: int = 0, weeks: int = 120) -> pd.DataFrame:
    """A frame with every charted column (plus a few more), weekly from 2022-10-03."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2022-10-03", periods=weeks + 1, freq="7D")
    t = np.arange(weeks + 1)
    data = {"date": dates}
    for k, col in enumerate(chart_columns() + ["utilization", "training_share"]):
        data[col] = 1.0 + k + np.sin(t / 10.0 + k) + 0.1 * rng.standard_normal(weeks + 1)
    return pd.DataFrame(data)


def fake_agents() -> pd.DataFrame:
    return pd.DataFrame({"step": [0, 0, 4], "date": pd.to_datetime(["2022-10-03"] * 2 + ["2022-10-31"]),
                         "agent_id": [1, 2, 1], "kind": ["cloud", "creator", "cloud"],
                         "region": ["US", "CN", "US"], "cash": [1.0, 2.0, 3.0],
                         "gpus": [10, 0, 12], "mode": ["", "train", ""]})


def frames_run(seed=0, params=None):
    return {"series": fake_series(seed), "agents": fake_agents(), "events": EVENTS,
            "scenario": "fake", "params": params if params is not None else {"a.b": 1, "a.c": [1, 2]}}


def is_png(path: Path) -> bool:
    return path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG


def test_write_run_writes_every_file(tmp_path):
    out = tmp_path / "runs" / "fake-0"
    paths = write_run(frames_run(), out, {"seed": 0, "wall_time_s": 1.5})
    for name in ("series.parquet", "series.csv", "agents.parquet", "manifest.json"):
        assert (out / name).stat().st_size > 0, name
    charts = sorted((out / "charts").glob("*.png"))
    assert [p.stem for p in charts] == sorted(CHARTS)
    assert all(is_png(p) for p in charts)
    assert set(paths) >= {"series_parquet", "series_csv", "agents_parquet", "manifest"}
    # the series round-trips through Parquet exactly (dates as datetime64[ns], the contract's
    # dtype), and the CSV has ISO dates
    back = pd.read_parquet(out / "series.parquet")
    assert back["date"].dtype == "datetime64[ns]"
    pd.testing.assert_frame_equal(back, fake_series(0).astype({"date": "datetime64[ns]"}))
    csv = pd.read_csv(out / "series.csv")
    assert csv["date"].iloc[0] == "2022-10-03" and len(csv) == 121
    assert len(pd.read_parquet(out / "agents.parquet")) == 3
    man = json.loads((out / "manifest.json").read_text())
    assert man["scenario"] == "fake" and man["seed"] == 0 and man["params"] == {"a.b": 1, "a.c": [1, 2]}
    assert man["wall_time_s"] == 1.5 and man["version"]
    assert "git_commit" in man and man["first_date"] == "2022-10-03"
    assert man["events"][0] == {"date": "2023-10-17", "label": "Oct 2023 rule announced",
                                "kind": "policy"}
    assert "charts/prices.png" in man["files"]
    # nothing left behind in the parent but the run
    assert [p.name for p in out.parent.iterdir()] == ["fake-0"]


def test_same_run_may_be_rewritten_but_a_different_one_is_refused(tmp_path):
    out = tmp_path / "r"
    write_run(frames_run(), out, {"seed": 0}, charts=False)
    write_run(frames_run(), out, {"seed": 0}, charts=False)  # the same run: replaced quietly
    before = (out / "manifest.json").read_text()
    for info, changed in (({"seed": 1}, "seed 0 -> 1"),
                          ({"seed": 0, "scenario": "other"}, "scenario 'fake' -> 'other'"),
                          ({"seed": 0, "params": {"a.b": 2, "a.c": [1, 2]}}, "a.b 1 -> 2")):
        with pytest.raises(InputError, match="different run") as err:
            write_run(frames_run(), out, info)
        assert changed in str(err.value) and "--force" in str(err.value)
    assert (out / "manifest.json").read_text() == before  # untouched
    write_run(frames_run(seed=5), out, {"seed": 1}, force=True, charts=False)
    assert read_manifest(out)["seed"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["r"]


def test_a_directory_that_is_not_a_run_is_refused(tmp_path):
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "thesis.tex").write_text("precious")
    with pytest.raises(InputError, match="no readable manifest.json"):
        write_run(frames_run(), keep, {"seed": 0})
    assert (keep / "thesis.tex").read_text() == "precious"
    empty = tmp_path / "empty"
    empty.mkdir()
    write_run(frames_run(), empty, {"seed": 0}, charts=False)  # an empty directory is fine
    assert (empty / "manifest.json").exists()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(InputError, match="is a file"):
        check_out_dir(a_file, {"scenario": "fake", "seed": 0, "params": {}}, force=True)


def test_failed_write_leaves_the_old_run_and_no_temp_dirs(tmp_path, monkeypatch):
    out = tmp_path / "r"
    write_run(frames_run(), out, {"seed": 0})
    before = (out / "series.parquet").read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr("experiments.charts.write_run_charts", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        write_run(frames_run(seed=3), out, {"seed": 0})
    assert (out / "series.parquet").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r"]


def test_read_manifest_refuses_bad_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_manifest(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputError, match="not a valid JSON manifest"):
        read_manifest(bad)
    bad.write_text(json.dumps({"scenario": "x", "seed": 0}))
    with pytest.raises(InputError, match="missing key"):
        read_manifest(bad)
    bad.write_text(json.dumps({"scenario": "x", "seed": -1, "params": {}}))
    with pytest.raises(InputError, match="seed"):
        read_manifest(bad)


def test_band_charts_overlay_two_scenarios(tmp_path):
    cols = chart_columns()
    bands = {label: {c: band([fake_series(s + off) for s in range(5)], c) for c in cols}
             for label, off in (("baseline", 0), ("no_open_weights", 10))}
    paths = write_band_charts(bands, {"baseline": EVENTS, "no_open_weights": EVENTS[:2]},
                              tmp_path / "charts")
    assert sorted(p.stem for p in paths) == sorted(CHARTS)
    assert all(is_png(p) for p in paths)


def test_merge_events_marks_events_missing_from_a_scenario():
    merged = merge_events({"A": EVENTS, "B": EVENTS[:2]})
    assert [e[1] for e in merged] == ["Oct 2023 rule announced", "Oct 2023 rule effective",
                                      "Llama 3 (in A)"]
    assert merge_events({"A": EVENTS}) == sorted(EVENTS)


@pytest.mark.parametrize("kw", [
    dict(stat="max", op="between", value=(2.0, 3.0)),
    dict(stat="sum", op=">=", value=10.0),
    dict(stat="date_of_max", op="<=", value=dt.date(2023, 6, 1)),
    dict(stat="pct_change", op="<=", value=-0.2, base_window=(dt.date(2023, 1, 2), dt.date(2023, 3, 1))),
])
def test_target_chart_for_each_kind_of_target(tmp_path, kw):
    t = Target(id="t", metric="spot_price", window=(dt.date(2023, 4, 1), dt.date(2023, 12, 31)),
               source="test", **kw)
    b = band([fake_series(s) for s in range(3)], "spot_price")
    path = target_chart(b, t, tmp_path / "t.png", base_value=2.0, events=EVENTS)
    assert is_png(path)


def test_no_output_file_is_left_open_or_temporary(tmp_path):
    write_run(frames_run(), tmp_path / "r", {"seed": 0}, charts=False)
    leftovers = [p for p in tmp_path.rglob("*") if p.name.startswith(".")]
    assert leftovers == []
    assert oct(os.stat(tmp_path / "r").st_mode & 0o777) == "0o755"


# --------------------------------------------------------------------------------------------
# Headlines and the comparison table (hand-made frames)
# --------------------------------------------------------------------------------------------
def test_headlines_and_comparison_table():
    from experiments.compare import format_table, headline_table
    from experiments.summary import headline_values, summary_lines

    df = fake_series(0, weeks=200)  # 2022-10-03 .. 2026-08
    df["spot_price"] = 2.0
    df.loc[40, "spot_price"] = 9.5
    df["smuggled_cards"] = 10.0
    v = headline_values(df)
    assert v["peak_spot"] == 9.5
    assert v["peak_spot_date"] == (pd.Timestamp("2022-10-03") + pd.Timedelta(weeks=40)).date()
    assert v["grey_volume_total"] == 2010.0
    short = fake_series(0, weeks=30)  # ends in 2023: no 2024/2025 headlines
    assert "spot_end_2024" not in headline_values(short)
    assert "training_share_2025" not in headline_values(short)
    text = "\n".join(summary_lines(df))
    assert "$9.50/GPU-h" in text and "2,010 cards smuggled" in text

    other = df.copy()
    other["spot_price"] = 3.0
    table = headline_table([df, df], [other, other], ("a", "b"))
    assert table.loc["peak_spot", "a median"] == 9.5 and table.loc["peak_spot", "b median"] == 3.0
    assert table.loc["peak_spot", "difference"] == pytest.approx(-6.5)
    assert table.loc["spot_end_2024", "change %"] == pytest.approx(50.0)
    printed = format_table(table, ("a", "b"))
    assert "peak spot price" in printed and "-$6.50/GPU-h" in printed and "+50.0%" in printed


# --------------------------------------------------------------------------------------------
# With the model: `h100sim run`, replay from the manifest, overwrite protection, compare.
# Runs are cut short (run.end in 2023/2024) to keep the suite fast; the code paths are the same.
# --------------------------------------------------------------------------------------------
def short_scenario(tmp_path: Path, name: str, base: str, end: str) -> Path:
    p = tmp_path / f"{name}.toml"
    p.write_text(f'extends = "{base}"\n[run]\nend = {end}\n', encoding="utf-8")
    return p


@pytest.mark.slow
def test_run_writes_outputs_and_manifest_replays_identically(tmp_path, capsys):
    from experiments.cli import main

    a = tmp_path / "a"
    assert main(["run", "--seed", "3", "--set", "seizure_odds_multiplier=2", "--set",
                 "end=2024-01-01", "--out", str(a)]) == 0
    printed = capsys.readouterr().out
    assert "peak spot price" in printed and "peak lead time" in printed and str(a) in printed
    for name in ("series.parquet", "series.csv", "agents.parquet", "manifest.json"):
        assert (a / name).stat().st_size > 0
    assert sorted(p.stem for p in (a / "charts").glob("*.png")) == sorted(CHARTS)
    assert all(is_png(p) for p in (a / "charts").glob("*.png"))
    man = read_manifest(a)
    assert man["scenario"] == "baseline" and man["seed"] == 3
    assert man["params"]["grey.seizure_odds_multiplier"] == 2
    assert man["overrides"] == {"seizure_odds_multiplier": 2, "end": "2024-01-01"}
    assert man["params"]["run.end"] == "2024-01-01" and man["last_date"] <= "2024-01-01"
    assert man["wall_time_s"] > 0 and man["started"] < man["finished"] and man["version"]
    assert len(pd.read_parquet(a / "agents.parquet")) > 0

    b = tmp_path / "b"
    assert main(["run", "--manifest", str(a / "manifest.json"), "--out", str(b), "--quiet"]) == 0
    assert "identical" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_parquet(a / "series.parquet"),
                                  pd.read_parquet(b / "series.parquet"))
    assert read_manifest(b)["params"] == man["params"]
    # another seed must give another series, or the replay check above proves nothing
    c = tmp_path / "c"
    assert main(["run", "--seed", "4", "--set", "seizure_odds_multiplier=2", "--set",
                 "end=2024-01-01", "--out", str(c), "--quiet"]) == 0
    assert not pd.read_parquet(c / "series.parquet").equals(pd.read_parquet(a / "series.parquet"))


@pytest.mark.slow
def test_run_refuses_to_overwrite_a_different_run_without_force(tmp_path, capsys):
    from experiments.cli import main

    out = tmp_path / "r"
    short = str(short_scenario(tmp_path, "short", "baseline", "2024-01-01"))
    assert main(["run", "--scenario", short, "--seed", "1", "--out", str(out), "--quiet"]) == 0
    first = (out / "series.parquet").read_bytes()
    capsys.readouterr()
    for argv, diff in ((["--seed", "2"], "seed 1 -> 2"),
                       (["--seed", "1", "--set", "fake_share=0.5"], "grey.fake_share"),
                       (["--seed", "1", "--scenario", "baseline"], "scenario 'short' -> 'baseline'")):
        if "--scenario" not in argv:
            argv = ["--scenario", short] + argv
        assert main(["run", *argv, "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "different run" in err and diff in err and "--force" in err
    assert (out / "series.parquet").read_bytes() == first
    # the same run again is fine; a different one with --force replaces it
    assert main(["run", "--scenario", short, "--seed", "1", "--out", str(out), "--quiet"]) == 0
    assert main(["run", "--scenario", short, "--seed", "2", "--out", str(out), "--force",
                 "--quiet"]) == 0
    assert read_manifest(out)["seed"] == 2


@pytest.mark.parametrize("argv,needle", [
    (["run", "--scenario", "basline"], "did you mean 'baseline'"),
    (["run", "--set", "seizure_odds_multiplyer=5"], "seizure_odds_multiplier"),
    (["run", "--set", "seizure_odds_multiplier=-5"], "seizure_odds_multiplier"),
    (["run", "--set", "novalue"], "key=value"),
    (["run", "--seed", "-1"], "--seed -1"),
    (["run", "--manifest", "nope/manifest.json"], "does not exist"),
])
def test_run_bad_input_exits_2(tmp_path, capsys, argv, needle):
    from experiments.cli import main

    assert main(argv + ["--out", str(tmp_path / "x")]) == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_manifest_cannot_be_combined_with_seed(tmp_path, capsys):
    from experiments.cli import main

    write_run(frames_run(), tmp_path / "m", {"seed": 0}, charts=False)
    assert main(["run", "--manifest", str(tmp_path / "m" / "manifest.json"), "--seed", "1"]) == 2
    assert "--seed" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_two_scenarios(tmp_path, capsys):
    from experiments.cli import main
    from experiments.compare import COMPARE_KEYS

    out = tmp_path / "cmp"
    a = short_scenario(tmp_path, "base", "baseline", "2024-01-01")
    b = short_scenario(tmp_path, "noow", "no_open_weights", "2024-01-01")
    assert main(["compare", str(a), str(b), "--seeds", "2", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "base (A) vs noow (B), 2 seeds each" in printed
    assert "peak spot price" in printed and "spot price, end of 2024" in printed  # n/a row
    table = pd.read_csv(out / "table.csv", index_col="key")
    assert list(table.index) == list(COMPARE_KEYS)
    assert {"base median", "base p10", "noow p90", "difference"} <= set(table.columns)
    assert table.loc["peak_spot", "base p10"] <= table.loc["peak_spot", "base median"]
    assert np.isnan(table.loc["spot_end_2024", "base median"])  # past the end: n/a, not a guess
    assert table.loc["grey_volume_total", "base median"] >= 0
    assert sorted(p.stem for p in (out / "charts").glob("*.png")) == sorted(CHARTS)
    assert all(is_png(p) for p in (out / "charts").glob("*.png"))


def test_the_next_run_into_a_place_removes_what_a_killed_run_left(tmp_path):
    """A run killed before its swap leaves `.NAME.tmp-PID-*` beside NAME; the next run into the
    same place removes it when that process is gone, and leaves a living process's alone."""
    import os
    import subprocess
    import sys

    from experiments.store import temp_dir_beside

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    out = tmp_path / "run"
    stale = tmp_path / f".run.tmp-{dead_pid}-abc123"
    (stale / "charts").mkdir(parents=True)
    (stale / "series.csv").write_text("half written")
    living = tmp_path / f".run.tmp-{os.getppid()}-def456"  # the test runner's parent: alive
    living.mkdir()
    other = tmp_path / ".other.tmp-1-xyz"  # another output's temporary: not ours to touch
    other.mkdir()
    fresh = temp_dir_beside(out)
    assert not stale.exists()
    assert living.exists() and other.exists() and fresh.exists()
    assert fresh.name.startswith(f".run.tmp-{os.getpid()}-")
