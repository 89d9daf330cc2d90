"""`h100sim validate` end to end: exit codes 0/1/2, the table, --json and --report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.cli import main

PASS = """
[[target]]
id = "spot-positive"
metric = "spot_price"
window = ["2023-01-01", "2023-12-31"]
stat = "max"
op = ">="
value = 0.0
source = "test: prices are not negative"

[[target]]
id = "installed-positive"
metric = "gpus_installed"
window = ["2023-12-01", "2023-12-31"]
stat = "last"
op = "between"
value = [1.0, 1e12]
source = "test"
"""

FAIL = """
[[target]]
id = "spot-negative"
metric = "spot_price"
window = ["2023-01-01", "2023-12-31"]
stat = "max"
op = "<="
value = -1.0
source = "test: impossible on purpose"
"""

LEAD_DATE = """
[[target]]
id = "lead-peak-date"
metric = "lead_time_weeks"
window = ["2023-01-01", "2023-12-31"]
stat = "date_of_max"
op = "between"
value = ["2023-01-01", "2023-12-31"]
source = "test"

[[target]]
id = "secondary-ratio"
metric = "ondemand_price / card_price_new"
window = ["2023-07-01", "2023-12-31"]
stat = "pct_change"
base_window = ["2023-01-01", "2023-06-30"]
op = ">="
value = -1.0
source = "test"
"""

KEYS = {"id", "metric", "median", "p10", "p90", "target", "passed", "seed_pass_share"}


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def short(tmp_path: Path, text: str, end: str = "2024-01-01") -> str:
    """The targets run on a scenario file cut short at ``end`` (a faster run, same code)."""
    scen = write(tmp_path, "short.toml", f'extends = "baseline"\n[run]\nend = {end}\n')
    return text.replace('source = "', f'scenario = "{scen}"\nsource = "')


# ---- bad input: exit 2 before any run ------------------------------------------------------
@pytest.mark.parametrize("text,needle", [
    (PASS.replace('"spot_price"', '"spot_prise"', 1), "did you mean 'spot_price'"),
    (PASS.replace('"max"', '"maxx"', 1), "stat = 'maxx'"),
    (PASS.replace('"2023-01-01"', '"2020-01-01"', 1), "run horizon"),
    (PASS.replace("value = 0.0", "value = \"zero\"", 1), "value = 'zero'"),
    (PASS.replace('source = "test"', 'source = "test"\nsoruce = "x"', 1), "unknown field 'soruce'"),
    (PASS + 'scenario = "no_such"\n', "unknown scenario 'no_such'"),
    ("[[target]\n", "malformed TOML"),
])
def test_bad_targets_file_exits_2(tmp_path, capsys, text, needle):
    p = write(tmp_path, "t.toml", text)
    assert main(["validate", "--targets", str(p), "--seeds", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("h100sim validate: error: ") and needle in err and str(p) in err


def test_missing_file_and_bad_options_exit_2(tmp_path, capsys):
    assert main(["validate", "--targets", str(tmp_path / "none.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    p = write(tmp_path, "t.toml", PASS)
    assert main(["validate", "--targets", str(p), "--seeds", "0"]) == 2
    assert "--seeds 0" in capsys.readouterr().err
    assert main(["validate", "--targets", str(p), "--workers", "0"]) == 2
    assert "--workers 0" in capsys.readouterr().err
    assert main(["validate", "--targets", str(p), "--json", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


# ---- with the model -------------------------------------------------------------------------
@pytest.mark.slow
def test_all_pass_exits_0_and_writes_json(tmp_path, capsys):
    p = write(tmp_path, "pass.toml", short(tmp_path, PASS + LEAD_DATE))
    out = tmp_path / "out" / "v.json"
    assert main(["validate", "--targets", str(p), "--seeds", "2", "--json", str(out),
                 "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "4 of 4 targets pass" in text
    for col in ("id", "metric", "median", "10-90%", "target", "result", "seeds pass"):
        assert col in text
    assert "spot-positive" in text and "between 1 and 1,000,000,000,000" in text
    data = json.loads(out.read_text())
    assert [d["id"] for d in data] == ["spot-positive", "installed-positive", "lead-peak-date",
                                       "secondary-ratio"]
    for d in data:
        assert set(d) == KEYS
        assert d["passed"] is True and d["seed_pass_share"] == 1.0
    assert data[0]["median"] >= 0 and data[0]["p10"] <= data[0]["median"] <= data[0]["p90"]
    assert data[2]["median"][:2] == "20"  # an ISO date


@pytest.mark.slow
def test_any_fail_exits_1_and_report_has_a_chart_per_target(tmp_path, capsys):
    p = write(tmp_path, "mixed.toml", short(tmp_path, PASS + FAIL))
    report = tmp_path / "report"
    js = tmp_path / "v.json"
    assert main(["validate", "--targets", str(p), "--seeds", "2", "--json", str(js),
                 "--report", str(report), "--quiet"]) == 1
    text = capsys.readouterr().out
    assert "2 of 3 targets pass" in text and "FAIL" in text
    data = {d["id"]: d for d in json.loads(js.read_text())}
    assert data["spot-negative"]["passed"] is False
    assert data["spot-negative"]["seed_pass_share"] == 0.0
    assert data["spot-negative"]["target"]["op"] == "<="
    md = (report / "report.md").read_text()
    assert "2 of 3 targets pass" in md and "## spot-negative: FAIL" in md
    for tid in ("spot-positive", "installed-positive", "spot-negative"):
        png = report / "charts" / f"{tid}.png"
        assert png.stat().st_size > 1000 and f"charts/{tid}.png" in md


def test_calibration_file_is_valid_and_only_2023():
    from experiments.targets import load_targets

    targets = load_targets(Path(__file__).resolve().parents[2] / "model" / "targets" /
                           "calibration_2023.toml")
    assert len(targets) >= 8
    # 2023 facts only; the stylized facts of plain market sense (the file's header) may look at
    # later years, but only as a shape (a ratio of two series, or how much a series moves), never
    # as a level of one series that the model would then be fitted to.
    stylized = {"spot-steady-2023", "used-below-new-without-queue"}
    for t in targets:
        assert t.source, t.id
        assert t.base_window is None or t.base_window[1].year <= 2023, t.id
        if t.id in stylized:
            assert "/" in t.metric or t.stat in ("volatility", "trade_share"), t.id
            assert t.op in ("<=", ">="), t.id
            continue
        assert t.window[0].year == 2023 and t.window[1].year == 2023, t.id
    ids = {t.id for t in targets}
    assert {"spot-peak-2023", "lead-peak-2023", "secondary-premium-2023",
            "grey-premium-h2-2023", "lead-weeks-before-april-2023"} <= ids



@pytest.mark.slow
def test_ensemble_is_the_same_for_any_number_of_workers(tmp_path):
    import pandas as pd

    from experiments.ensemble import run_ensemble

    scen = str(write(tmp_path, "short.toml", 'extends = "baseline"\n[run]\nend = 2024-01-01\n'))
    one = run_ensemble(scen, [1, 0], workers=1, progress=False)
    two = run_ensemble(scen, [1, 0], workers=2, progress=False)
    assert len(one) == len(two) == 2
    for x, y in zip(one, two):
        pd.testing.assert_frame_equal(x, y)
    assert not one[0].equals(one[1])  # the seeds differ, and the order follows `seeds`
