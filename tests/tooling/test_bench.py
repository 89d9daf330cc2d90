"""The per-order reference clearing (tests/support) agrees with model.mechanisms.clearing.clear_uniform, and
`h100sim bench --quick --json` runs and writes its figures. Correctness, not timing: nothing
here asserts a speed."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from support.reference_clearing import Order, compare_clearing, reference_clear

from experiments.bench import random_book
from model.mechanisms.clearing import clear_uniform

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("n", [2, 3, 10, 101, 1_000, 10_000])
@pytest.mark.parametrize("ties", [True, False], ids=["ties", "no-ties"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_agrees_on_random_books(n, ties, seed):
    r = compare_clearing(*random_book(n, seed=seed * 7919 + n, ties=ties))
    assert r["agree"], r


def test_random_books_have_ties_and_trade():
    bq, bp, aq, ap = random_book(1_000, seed=3, ties=True)
    assert len(np.unique(bp)) < len(bp) and len(np.unique(ap)) < len(ap)
    assert (bq == 0).any() or (aq == 0).any()
    assert clear_uniform(bq, bp, aq, ap).volume > 0


def _check(bids, asks):
    bq = np.array([q for q, _ in bids], float)
    bp = np.array([p for _, p in bids], float)
    aq = np.array([q for q, _ in asks], float)
    ap = np.array([p for _, p in asks], float)
    r = compare_clearing(bq, bp, aq, ap)
    assert r["agree"], r
    return r


def test_hand_made_books():
    # Plateau of maximal volume: the price is the middle of [2, 3].
    r = _check([(10, 3.0)], [(10, 2.0)])
    assert r["price"] == 2.5 and r["volume"] == 10
    # A tie at the marginal price level is shared pro rata.
    bids = [Order(10, 5.0), Order(10, 4.0), Order(30, 4.0)]
    asks = [Order(30, 1.0)]
    price, volume = reference_clear(bids, asks)
    res = clear_uniform([10, 10, 30], [5.0, 4.0, 4.0], [30], [1.0])
    assert volume == res.volume == 30
    assert [o.fill for o in bids] == pytest.approx([10, 5, 15])
    assert res.bid_fill == pytest.approx([10, 5, 15])
    assert price == res.price
    # No cross, one side empty, zero quantities: nothing trades.
    for bids, asks in (([(5, 1.0)], [(5, 2.0)]), ([], [(5, 2.0)]), ([(0, 3.0)], [(5, 2.0)])):
        r = _check(bids, asks)
        assert math.isnan(r["price"]) and r["volume"] == 0


@pytest.mark.slow
def test_bench_quick_writes_json(tmp_path):
    out = tmp_path / "out.json"
    proc = subprocess.run([sys.executable, "-m", "experiments.cli", "bench", "--quick",
                           "--no-progress", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    for key in ("machine", "baseline", "boltzmann", "scale", "teams", "clearing", "app",
                "sweep_memory", "errors", "quick"):
        assert key in data
    assert data["quick"] is True
    for key in ("cpu", "cores", "python", "numpy", "mesa"):
        assert data["machine"][key]
    # The clearing part always runs (no model needed) and both ways agree.
    assert data["clearing"] and all(c["agree"] for c in data["clearing"])
    assert "machine: CPU" in proc.stdout and "clearing 1,000 orders" in proc.stdout


def test_table_reports_failed_parts():
    from experiments.bench import format_table, machine

    res = dict(quick=True, machine=machine(), errors={"scale": "ValueError: boom"},
               baseline=None, boltzmann=None, scale=None, teams=None, clearing=None, app=None,
               sweep_memory=None)
    res["errors"].update({k: "RuntimeError: x" for k in
                          ("baseline", "boltzmann", "teams", "clearing", "app", "sweep_memory")})
    text = format_table(res)
    assert "machine: CPU" in text and "FAILED" in text and "ValueError: boom" in text


def test_scale_for_hits_the_agent_counts():
    from experiments.bench import _scale_for
    from model import load_scenario

    pop = load_scenario("baseline").population
    for target in (10_000, 100_000):
        sc = _scale_for(target)
        n = (len(pop.creators) + len(pop.clouds) + pop.resellers
             + sum(round(k * sc) for k in (pop.mid_creators, pop.cn_mid_creators,
                                           pop.row_creators, pop.finetuners, pop.brokers)))
        assert abs(n - target) / target < 0.01


def test_fit_exponent_recovers_a_power_law():
    from experiments.bench import fit_exponent

    agents = [10_000, 100_000, 1_000_000]
    assert fit_exponent(agents, [1e-3 * (a / 1e4) ** 0.7 for a in agents]) == pytest.approx(0.7)
    assert fit_exponent(agents, [2.0, 2.0, 2.0]) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(fit_exponent([10_000], [1.0]))


def test_teams_rows_in_the_table():
    from experiments.bench import format_table, machine

    row = dict(teams=1_000_000, agents=1_000_143, steps=221, s_per_step=0.2, peak_rss_mb=900.0,
               full_horizon=True, wall_s=45.0, build_s=1.2, ratio_to_boltzmann=40.0)
    res = dict(quick=False, machine=machine(), errors={}, baseline=None, boltzmann=None, scale=None,
               clearing=None, app=None, sweep_memory=None,
               teams=dict(boltzmann=dict(agents=100_000, steps=20, repeats=3,
                                         agent_steps_per_s=1e5), rows=[row], exponent=0.65))
    text = format_table(res)
    assert "1,000,000 teams, full horizon" in text and "45.00 s" in text and "40.0x" in text
    assert "k = 0.65" in text


def test_paired_ratio_is_the_median_of_each_pairs_ratio():
    from experiments.bench import paired_ratio

    def run(agents, steps, steps_s):
        return dict(agents=agents, steps=steps, steps_s=steps_s, grid="10x10")

    # A machine that slows down over the runs: each pair sees the same load, so every pair's
    # ratio is 4 although the blocks' medians (h100sim 2.0 s, Boltzmann 8.0 s) would say 4 only
    # by luck of the middle run; a pair made in other conditions does not move the median.
    pairs = [(run(100, 10, 1.0), run(100, 10, 4.0)), (run(100, 10, 2.0), run(100, 10, 8.0)),
             (run(100, 10, 3.0), run(100, 10, 6.0))]
    z = paired_ratio(pairs)
    assert z["pair_ratios"] == pytest.approx([4.0, 4.0, 2.0])
    assert z["ratio"] == pytest.approx(4.0)
    assert z["repeats"] == 3 and z["steps_s"] == pytest.approx(6.0)
    assert z["agent_steps_per_s"] == pytest.approx(1000 / 6.0)
    assert z["h100_agent_steps_per_s"] == pytest.approx(1000 / 2.0)
