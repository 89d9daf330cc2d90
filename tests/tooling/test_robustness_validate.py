"""`h100sim validate --vary`: the robustness table, its files, bad input and resuming.

The model-backed tests use a scenario cut short early in 2023 (the same code, a few weeks) and two
seeds; the expected table is computed here from direct runs of H100Market with the same seeds and
overrides.
"""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest

import experiments.runner as runner
from experiments.cli import main
from experiments.robustness import RUNS, cell_text, parse_cases
from experiments.targets import format_value, load_targets

TARGETS = """
[[target]]
id = "spot-max"
metric = "spot_price"
window = ["2023-01-01", "2023-02-27"]
stat = "max"
op = "between"
value = [2.0, 3.5]
source = "test"

[[target]]
id = "lead-mean"
metric = "lead_time_weeks"
window = ["2023-01-01", "2023-02-27"]
stat = "mean"
op = "<="
value = 12.0
source = "test"

[[target]]
id = "spot-trades"
metric = "spot_price"
window = ["2022-11-01", "2023-02-27"]
stat = "trade_share"
op = ">="
value = 0.5
source = "test"
"""
VARY = "funding_multiplier=0.5,1.5"
CASES = [("base", {}), ("funding_multiplier=0.5", {"funding_multiplier": 0.5}),
         ("funding_multiplier=1.5", {"funding_multiplier": 1.5})]
SEEDS = (0, 1)


def short_targets(tmp_path: Path) -> Path:
    """The targets on a scenario file that extends the baseline and ends in February 2023."""
    scen = tmp_path / "short.toml"
    scen.write_text('extends = "baseline"\n[run]\nend = 2023-02-27\n', encoding="utf-8")
    path = tmp_path / "targets.toml"
    path.write_text(TARGETS.replace('source = "', f'scenario = "{scen}"\nsource = "'),
                    encoding="utf-8")
    return path


def argv(targets: Path, out: Path, *extra: str) -> list[str]:
    return ["validate", "--targets", str(targets), "--seeds", str(len(SEEDS)), "--vary", VARY,
            "--out", str(out), "--quiet", *extra]


# ---- the --vary argument, without runs ------------------------------------------------------
def test_shorthand_and_explicit_values():
    cases = parse_cases(["funding_multiplier=±20%", "demand.value_per_edge_hour=+-20%",
                         "order_aggressiveness=0.3,0.9"], ["baseline"])
    assert [c.name for c in cases] == [
        "base", "funding_multiplier=0.8 (-20%)", "funding_multiplier=1.2 (+20%)",
        "value_per_edge_hour=12.4 (-20%)", "value_per_edge_hour=18.6 (+20%)",
        "order_aggressiveness=0.3", "order_aggressiveness=0.9"]
    assert cases[1].overrides("baseline") == {"demand.funding_multiplier": 0.8}
    assert cases[4].overrides("baseline") == {"demand.value_per_edge_hour": 18.6}
    assert cases[0].overrides("baseline") == {}
    assert [c.side for c in cases[1:3]] == ["low", "high"]


def test_weakest_case_fewest_seeds_then_nearest_the_edge():
    import datetime as dt
    import math

    from experiments.robustness import BASE, Case, Robustness, text_table
    from experiments.targets import Target, TargetResult

    window = (dt.date(2023, 1, 2), dt.date(2023, 2, 27))
    band = Target(id="band", metric="spot_price", window=window, stat="max", op="between",
                  value=(2.0, 4.0), source="test")
    date = Target(id="date", metric="spot_price", window=window, stat="date_of_max", op="<=",
                  value=dt.date(2023, 2, 1), source="test")
    ok = Target(id="ok", metric="spot_price", window=window, stat="max", op=">=", value=0.0,
                source="test")
    cases = [BASE, Case(name="k=1", key="demand.funding_multiplier", side="low", values={"b": 1}),
             Case(name="k=2", key="demand.funding_multiplier", side="high", values={"b": 2})]

    def cells(t, *pairs):
        return [TargetResult(target=t, median=m, passed=t.met_by(m), seed_pass_share=share)
                for m, share in pairs]

    rob = Robustness(targets=[band, date, ok], cases=cases, seeds=4, results={
        # same share in the base case and k=1: k=1's median (3.9) is nearer the edge than 3.0
        "band": cells(band, (3.0, 0.75), (3.9, 0.75), (2.5, 1.0)),
        # dates: a missing median (None) is the weakest of equal shares
        "date": cells(date, (dt.date(2023, 1, 9), 0.5), (None, 0.5), (dt.date(2023, 1, 30), 0.5)),
        "ok": cells(ok, (1.0, 1.0), (1.0, 1.0), (math.inf, 1.0)),
    })
    assert rob.weakest("band") == {1} and rob.weakest("date") == {1} and rob.weakest("ok") == set()
    assert not rob.holds("date") and rob.holds("band") and not rob.all_hold
    text = text_table(rob)
    assert "3.9 75% <" in text and "n/a 50% FAIL <" in text and "<" not in text.splitlines()[-1]


@pytest.mark.parametrize("vary,needles", [
    ("fundng_multiplier=±20%", ["'fundng_multiplier=±20%'", "did you mean 'funding_multiplier'"]),
    ("funding_multiplier", ["'funding_multiplier'", "KEY=LOW,HIGH", "KEY=±P%"]),
    ("funding_multiplier=0.8", ["value '0.8' is not allowed", "KEY=LOW,HIGH"]),
    ("funding_multiplier=0.8,1.2,1.4", ["value '0.8,1.2,1.4'", "KEY=LOW,HIGH"]),
    ("funding_multiplier=±x%", ["value '±x%'", "KEY=±P%"]),
    ("funding_multiplier=+-150%", ["150% is not allowed", "above 0 and below 100"]),
    ("funding_multiplier=-1,1.2", ["the low value", "demand.funding_multiplier = -1",
                                   "expected a number >= 0"]),
    ("export_controls=±20%", ["policy.export_controls is true", "not a number",
                              "give KEY=LOW,HIGH"]),
    ("funding_multiplier=1,1", ["LOW and HIGH are both 1"]),
    ("=0.8,1.2", ["'=0.8,1.2' is not allowed", "KEY=LOW,HIGH"]),
])
def test_bad_vary_exits_2_with_one_line(tmp_path, capsys, vary, needles):
    targets = tmp_path / "t.toml"
    targets.write_text(TARGETS, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["validate", "--targets", str(targets), "--vary", vary, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("h100sim validate: error: --vary ") and err.count("\n") == 1
    for needle in needles:
        assert needle in err
    assert not out.exists()  # refused before anything is run or written


def test_bad_combinations_exit_2(tmp_path, capsys):
    targets = tmp_path / "t.toml"
    targets.write_text(TARGETS, encoding="utf-8")
    out = str(tmp_path / "out")
    assert main(["validate", "--targets", str(targets), "--vary", "funding_multiplier=±20%",
                 "--vary", "demand.funding_multiplier=1,2", "--out", out]) == 2
    assert "demand.funding_multiplier is varied twice" in capsys.readouterr().err
    assert main(["validate", "--targets", str(targets), "--out", out]) == 2
    assert "--out goes with --vary" in capsys.readouterr().err
    assert main(["validate", "--targets", str(targets), "--vary", VARY, "--json", out]) == 2
    assert "--json goes with plain validate" in capsys.readouterr().err
    assert main(["validate", "--targets", str(targets), "--vary", VARY, "--seeds", "0"]) == 2
    assert "--seeds 0" in capsys.readouterr().err


# ---- with the model ---------------------------------------------------------------------------
def direct_values(targets_path: Path) -> dict[tuple[str, str], list]:
    """{(target id, case name): [statistic per seed]} from direct runs of H100Market."""
    from model import H100Market, release_model

    targets = load_targets(targets_path)
    out: dict[tuple[str, str], list] = {}
    for name, overrides in CASES:
        for seed in SEEDS:
            m = H100Market(scenario=targets[0].scenario, seed=seed, **overrides)
            try:
                df = m.run_to_end(progress=False).series()
            finally:
                release_model(m)
            for t in targets:
                out.setdefault((t.id, name), []).append(t.compute(df))
    return out


def inside(t, median: float) -> float:
    """How far the median lies inside target ``t`` (negative: outside), for the ops used here."""
    if t.op == "<=":
        return t.value - median
    if t.op == ">=":
        return median - t.value
    return min(median - t.value[0], t.value[1] - median)


@pytest.mark.slow
def test_table_matches_direct_runs(tmp_path, capsys):
    targets_path = short_targets(tmp_path)
    out = tmp_path / "rob"
    code = main(argv(targets_path, out))
    printed = capsys.readouterr().out
    expected = direct_values(targets_path)
    targets = {t.id: t for t in load_targets(targets_path)}

    data = json.loads((out / "robustness.json").read_text())
    assert [c["name"] for c in data["cases"]] == [name for name, _ in CASES]
    assert data["seeds"] == 2 and data["targets_file"] == str(targets_path)
    holds_everywhere = True
    for row in data["targets"]:
        t = targets[row["id"]]
        shares = []
        for cell in row["cells"]:
            values = expected[t.id, cell["case"]]
            median = statistics.median(values)  # of two seeds: their mean
            share = sum(t.met_by(v) for v in values) / len(values)
            assert cell["median"] == pytest.approx(median, rel=1e-12)
            assert cell["seed_pass_share"] == share
            assert cell["passed"] == t.met_by(median)
            holds_everywhere &= t.met_by(median)
            shares.append((share, inside(t, median)))
            assert format_value(median) in printed
        weakest = [c["weakest"] for c in row["cells"]]
        if all(s == 1.0 and m >= 0 for s, m in shares):
            assert not any(weakest)
        else:  # fewest seeds, then the median nearest the edge (or farthest outside)
            assert weakest == [s == min(shares) for s in shares]
        assert row["holds"] == all(m >= 0 for _, m in shares)
    assert code == (0 if holds_everywhere else 1) and data["all_hold"] == holds_everywhere

    # the printed table: a row per target with its cells in case order, the keys above them
    lines = printed.splitlines()
    assert any(line.split() == ["id", "target", "base", "funding_multiplier"] for line in lines)
    assert any(line.split() == ["0.5", "1.5"] for line in lines)
    for tid in targets:
        (line,) = [ln for ln in lines if ln.startswith(tid + " ")]
        assert line.index(targets[tid].describe()) < line.index(format_value(
            statistics.median(expected[tid, "base"])))

    # CSV: one row per target and case, the same numbers
    with open(out / "robustness.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(targets) * len(CASES)
    assert {(r["target"], r["case"]) for r in rows} == set(expected)
    for r in rows:
        values = expected[r["target"], r["case"]]
        assert float(r["median"]) == pytest.approx(statistics.median(values), rel=1e-9)
    assert rows[1]["key"] == "demand.funding_multiplier" and rows[1]["side"] == "low"
    md = (out / "robustness.md").read_text()
    assert "funding_multiplier=0.5" in md and "![heat map](robustness.png)" in md
    assert "h100sim validate --targets" in md
    png = (out / "robustness.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    # every cell as printed
    for t in targets.values():
        for name, _ in CASES:
            cell = next(c for r in data["targets"] if r["id"] == t.id for c in r["cells"]
                        if c["case"] == name)
            assert cell_text(_Result(cell), False) in printed


class _Result:
    """The fields of a TargetResult that cell_text reads, from a JSON cell."""

    def __init__(self, cell):
        self.median, self.seed_pass_share, self.passed = (cell["median"], cell["seed_pass_share"],
                                                          cell["passed"])


@pytest.mark.slow
def test_an_interrupted_run_resumes_without_rerunning_finished_runs(tmp_path, capsys, monkeypatch):
    targets_path = short_targets(tmp_path)
    out = tmp_path / "rob"
    real = runner.run_model
    ran: list[tuple[int, dict]] = []

    def counting(stop_after: int | None):
        def run(task):
            if stop_after is not None and len(ran) == stop_after:
                raise KeyboardInterrupt  # Ctrl-C while the next run starts
            ran.append((task.seed, dict(task.overrides)))
            return real(task)
        return run

    monkeypatch.setattr(runner, "run_model", counting(stop_after=2))
    assert main(argv(targets_path, out)) == 130
    assert "interrupted" in capsys.readouterr().err
    assert len(ran) == 2 and len(list((out / RUNS).glob("*.parquet"))) == 2
    assert not list(out.glob("robustness.*"))  # no table from half the runs

    first = list(ran)
    ran.clear()
    monkeypatch.setattr(runner, "run_model", counting(stop_after=None))
    code = main(argv(targets_path, out))
    assert code in (0, 1)
    total = len(CASES) * len(SEEDS)
    assert len(ran) == total - 2 and not set(map(repr, ran)) & set(map(repr, first))
    assert len(list((out / RUNS).glob("*.parquet"))) == total

    ran.clear()
    assert main(argv(targets_path, out)) == code  # all there: nothing runs again
    assert ran == []
    # more seeds run only the new ones
    assert main([*argv(targets_path, out)[:-1], "--seeds", "3", "--quiet"]) in (0, 1)
    assert len(ran) == len(CASES) and {seed for seed, _ in ran} == {2}
    capsys.readouterr()
