"""Designs and sensitivity analyses: grid/random/lhs/sobol/morris samples, their value maps, seeds,
Sobol indices of the Ishigami function against the analytic values, Morris ranking."""

from __future__ import annotations

import math

import numpy as np
import pytest
from SALib.test_functions import Ishigami

from experiments.designs import Param, make_design, sensitivity
from experiments.sweep import design_seed_sequence, run_seed

PI = math.pi


def matrix(design) -> np.ndarray:
    return np.array([[row[n] for n in design.names] for row in design.samples], dtype=float)


def test_grid_is_the_cartesian_product():
    params = [Param("a", values=(1, 2, 3)), Param("b", low=0.1, high=10.0, dist="loguniform", num=3),
              Param("n", low=1, high=4, dist="int", num=4), Param("on", values=(True, False))]
    d = make_design("grid", params)
    assert len(d) == 3 * 3 * 4 * 2
    assert d.unit is None
    assert d.samples[0] == {"a": 1, "b": pytest.approx(0.1), "n": 1, "on": True}
    assert sorted({round(r["b"], 9) for r in d.samples}) == [0.1, 1.0, 10.0]
    assert sorted({r["n"] for r in d.samples}) == [1, 2, 3, 4]
    assert len({tuple(r.values()) for r in d.samples}) == len(d)


def test_unit_maps():
    u = np.linspace(0, 1, 11)
    lin = Param("x", low=2.0, high=4.0)
    log = Param("y", low=1.0, high=100.0, dist="loguniform")
    ints = Param("k", low=1, high=3, dist="int")
    cat = Param("c", values=("lo", "mid", "hi"))
    assert [lin.from_unit(v) for v in (0, 0.5, 1)] == [2.0, 3.0, 4.0]
    assert [log.from_unit(v) for v in (0, 0.5, 1)] == pytest.approx([1.0, 10.0, 100.0])
    assert [ints.from_unit(v) for v in u] == [1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3]
    assert [cat.from_unit(v) for v in (0.0, 0.34, 0.67, 1.0)] == ["lo", "mid", "hi", "hi"]
    # equal shares for a categorical parameter
    draws = [cat.from_unit(v) for v in np.random.default_rng(0).random(30_000)]
    shares = [draws.count(v) / len(draws) for v in cat.values]
    assert shares == pytest.approx([1 / 3] * 3, abs=0.015)


@pytest.mark.parametrize("kind", ["random", "lhs", "sobol", "morris"])
def test_unit_designs_are_reproducible_and_in_bounds(kind):
    params = [Param("x", low=-1.0, high=1.0), Param("y", low=0.5, high=8.0, dist="loguniform"),
              Param("k", low=2, high=6, dist="int"), Param("on", values=(True, False))]
    a = make_design(kind, params, samples=16, seed_sequence=design_seed_sequence(7))
    b = make_design(kind, params, samples=16, seed_sequence=design_seed_sequence(7))
    c = make_design(kind, params, samples=16, seed_sequence=design_seed_sequence(8))
    assert a.samples == b.samples
    assert a.samples != c.samples
    assert np.all((a.unit >= 0) & (a.unit <= 1))
    for row in a.samples:
        assert -1.0 <= row["x"] <= 1.0 and 0.5 <= row["y"] <= 8.0
        assert row["k"] in range(2, 7) and isinstance(row["k"], int)
        assert row["on"] in (True, False)
    expected = {"random": 16, "lhs": 16, "sobol": 16 * (4 + 2), "morris": 16 * (4 + 1)}[kind]
    assert len(a) == expected


def test_lhs_is_stratified():
    params = [Param(n, low=0.0, high=1.0) for n in "abc"]
    d = make_design("lhs", params, samples=20, seed_sequence=design_seed_sequence(1))
    for j in range(3):
        strata = np.floor(d.unit[:, j] * 20).astype(int)
        assert sorted(strata) == list(range(20))


def test_seeds_come_from_seed_sequence_spawn():
    master = 20240601
    kids = np.random.SeedSequence(master).spawn(2)[1].spawn(5)
    for i in range(5):
        for r, child in enumerate(kids[i].spawn(3)):
            assert run_seed(master, i, r) == int(child.generate_state(1)[0])
    design_ss = np.random.SeedSequence(master).spawn(2)[0]
    assert design_seed_sequence(master).generate_state(4).tolist() == \
        design_ss.generate_state(4).tolist()
    seeds = {run_seed(master, i, r) for i in range(200) for r in range(5)}
    assert len(seeds) == 1000


def test_sobol_indices_of_ishigami_match_the_analytic_values():
    # Ishigami (a=7, b=0.1): V = a^2/8 + b pi^4/5 + b^2 pi^8/18 + 1/2
    a, b = 7.0, 0.1
    v1 = 0.5 * (1 + b * PI**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * PI**8 * (1 / 18 - 1 / 50)
    var = v1 + v2 + v13
    s1 = [v1 / var, v2 / var, 0.0]
    st = [(v1 + v13) / var, v2 / var, v13 / var]
    params = [Param(f"x{i}", low=-PI, high=PI) for i in (1, 2, 3)]
    d = make_design("sobol", params, samples=2048, seed_sequence=design_seed_sequence(11))
    y = Ishigami.evaluate(matrix(d))
    table, notes = sensitivity(d.info, d.unit, y, seed=1)
    assert notes == {"used": 2048, "dropped": 0}
    assert table["S1"].to_numpy() == pytest.approx(s1, abs=0.05)
    assert table["ST"].to_numpy() == pytest.approx(st, abs=0.05)
    assert list(table["parameter"]) == ["x1", "x2", "x3"]


def test_sobol_leaves_out_blocks_with_a_missing_run():
    params = [Param(f"x{i}", low=-PI, high=PI) for i in (1, 2, 3)]
    d = make_design("sobol", params, samples=256, seed_sequence=design_seed_sequence(3))
    y = Ishigami.evaluate(matrix(d))
    y[7] = np.nan  # base sample 1 (rows 5..9) lost a run
    y[5 * 200] = np.nan
    table, notes = sensitivity(d.info, d.unit, y, seed=1)
    assert notes == {"used": 254, "dropped": 2}
    assert np.all(np.isfinite(table[["S1", "ST"]].to_numpy()))


def test_morris_ranks_the_important_factor_first():
    params = [Param("weak", low=0.0, high=1.0), Param("strong", low=0.0, high=1.0),
              Param("none", low=0.0, high=1.0), Param("medium", low=0.0, high=1.0)]
    d = make_design("morris", params, samples=30, levels=4, seed_sequence=design_seed_sequence(5))
    x = matrix(d)
    y = 0.5 * x[:, 0] + 10.0 * x[:, 1] ** 2 + 0.0 * x[:, 2] + 3.0 * np.sin(2 * x[:, 3])
    table, notes = sensitivity(d.info, d.unit, y, seed=2)
    ranked = list(table.sort_values("mu_star", ascending=False)["parameter"])
    assert ranked == ["strong", "medium", "weak", "none"]
    assert table.set_index("parameter").loc["none", "mu_star"] == pytest.approx(0.0, abs=1e-12)
    assert notes["used"] == 30


def test_no_analysis_for_other_designs():
    d = make_design("lhs", [Param("a", low=0.0, high=1.0)], samples=4)
    with pytest.raises(ValueError, match="no sensitivity analysis"):
        sensitivity(d.info, d.unit, np.zeros(4))
