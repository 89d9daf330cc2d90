"""Experimental designs for parameter sweeps, and the sensitivity analyses that go with them.

A design turns the swept parameters of a spec into a list of *samples* (one dict of parameter
values each). Every design except ``grid`` draws points in the unit hypercube ``[0, 1]^D`` and
maps each coordinate to a value with :meth:`Param.from_unit`:

=============  ===========================================================================
``uniform``    ``low + u (high - low)``
``loguniform`` ``low (high / low)^u`` (both bounds > 0)
``int``        an integer uniform on ``low, low+1, ..., high``
``values``     one of an explicit list (categorical or on/off), equal shares
=============  ===========================================================================

Designs:

``grid``    every combination of the parameters' values (a range needs ``num`` points)
``random``  ``samples`` independent uniform points
``lhs``     a Latin hypercube of ``samples`` points (SALib.sample.latin)
``sobol``   Saltelli's scheme on a scrambled Sobol' sequence (SALib.sample.sobol):
            ``samples * (D + 2)`` points, ``samples * (2 D + 2)`` with second-order indices
``morris``  ``samples`` Morris trajectories of ``D + 1`` points on a ``levels``-level grid
            (SALib.sample.morris)

The unit coordinates of every point are kept (the manifest stores them), so the Sobol and
Morris analyses (:func:`sensitivity`) run on exactly the matrix that was sampled. Morris
elementary effects are therefore per unit of a parameter's normalised range, which makes them
comparable across parameters with different units.

SALib is imported only inside the functions that need it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

DESIGNS = ("grid", "random", "lhs", "sobol", "morris")
DISTS = ("uniform", "loguniform", "int")
#: designs with a sensitivity analysis
SA_DESIGNS = ("sobol", "morris")


@dataclass(frozen=True)
class Param:
    """One swept parameter: explicit ``values`` or a range ``low``..``high`` with ``dist``.

    ``num`` is the number of grid points of a range (grid design only).
    """

    name: str
    values: tuple | None = None
    low: float | None = None
    high: float | None = None
    dist: str = "uniform"
    num: int | None = None

    def from_unit(self, u: float) -> Any:
        """The value at unit coordinate ``u`` in [0, 1]."""
        u = min(max(float(u), 0.0), 1.0)
        if self.values is not None:
            k = len(self.values)
            return self.values[min(int(math.floor(u * k)), k - 1)]
        lo, hi = float(self.low), float(self.high)
        if self.dist == "uniform":
            return lo + u * (hi - lo)
        if self.dist == "loguniform":
            return float(math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))))
        if self.dist == "int":
            lo_i, hi_i = int(self.low), int(self.high)
            return int(min(lo_i + math.floor(u * (hi_i - lo_i + 1)), hi_i))
        raise ValueError(f"unknown dist {self.dist!r}")  # pragma: no cover - checked by the spec

    def grid_values(self) -> list:
        """The values this parameter takes in a grid design."""
        if self.values is not None:
            return list(self.values)
        n = int(self.num or 0)
        if n < 1:
            raise ValueError(f"parameter {self.name!r}: a range needs num >= 1 in a grid design")
        if n == 1:
            points = [float(self.low)]
        elif self.dist == "loguniform":
            points = [float(v) for v in np.geomspace(float(self.low), float(self.high), n)]
        else:
            points = [float(v) for v in np.linspace(float(self.low), float(self.high), n)]
        if self.dist == "int":  # rounded, without repeats
            return list(dict.fromkeys(int(round(v)) for v in points))
        return points


@dataclass
class Design:
    """The samples of a design.

    ``samples`` holds one ``{name: value}`` dict per point; ``unit`` the unit coordinates
    (``None`` for grid); ``info`` what the analysis needs (method, names, N, options).
    """

    kind: str
    names: list[str]
    samples: list[dict[str, Any]]
    unit: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.samples)


def design_size(kind: str, n_params: int, samples: int | None, grid_sizes: Sequence[int] = (),
                second_order: bool = False) -> int:
    """How many points a design has (without generating it)."""
    if kind == "grid":
        return int(np.prod(grid_sizes)) if grid_sizes else 1
    if kind in ("random", "lhs"):
        return int(samples)
    if kind == "sobol":
        return int(samples) * ((2 * n_params + 2) if second_order else (n_params + 2))
    if kind == "morris":
        return int(samples) * (n_params + 1)
    raise ValueError(f"unknown design {kind!r}")


def _unit_problem(names: Sequence[str]) -> dict[str, Any]:
    return {"num_vars": len(names), "names": list(names), "bounds": [[0.0, 1.0]] * len(names)}


def make_design(
    kind: str,
    params: Sequence[Param],
    *,
    samples: int | None = None,
    seed_sequence: np.random.SeedSequence | None = None,
    second_order: bool = False,
    levels: int = 4,
) -> Design:
    """Generate a design. ``seed_sequence`` seeds every random design (reproducible)."""
    names = [p.name for p in params]
    if kind == "grid":
        combos = itertools.product(*[p.grid_values() for p in params]) if params else [()]
        rows = [dict(zip(names, combo)) for combo in combos]
        return Design(kind, names, rows, None, {"method": "grid"})
    if not params:
        raise ValueError(f"design {kind!r} needs at least one parameter to vary")
    if samples is None or samples < 1:
        raise ValueError(f"design {kind!r} needs samples >= 1")
    ss = seed_sequence if seed_sequence is not None else np.random.SeedSequence(0)
    seed = int(ss.generate_state(1, dtype=np.uint32)[0])
    problem = _unit_problem(names)
    info: dict[str, Any] = {"method": kind, "names": names, "samples": int(samples)}
    if kind == "random":
        unit = np.random.default_rng(ss).random((samples, len(names)))
    elif kind == "lhs":
        from SALib.sample import latin

        unit = latin.sample(problem, int(samples), seed=seed)
    elif kind == "sobol":
        from SALib.sample import sobol

        unit = sobol.sample(problem, int(samples), calc_second_order=bool(second_order),
                            scramble=True, seed=seed)
        info["second_order"] = bool(second_order)
    elif kind == "morris":
        from SALib.sample import morris

        unit = morris.sample(problem, int(samples), num_levels=int(levels), seed=seed)
        info["levels"] = int(levels)
    else:
        raise ValueError(f"unknown design {kind!r}; allowed: {', '.join(DESIGNS)}")
    unit = np.asarray(unit, dtype=float)
    rows = [{p.name: p.from_unit(u) for p, u in zip(params, point)} for point in unit]
    return Design(kind, names, rows, unit, info)


# --------------------------------------------------------------------------------------------
# Sensitivity analysis
# --------------------------------------------------------------------------------------------
def _complete_blocks(y: np.ndarray, block: int) -> tuple[np.ndarray, int]:
    """Indices of the rows in blocks of ``block`` rows with no NaN, and how many blocks dropped."""
    n_blocks = len(y) // block
    keep = []
    dropped = 0
    for b in range(n_blocks):
        rows = np.arange(b * block, (b + 1) * block)
        if np.all(np.isfinite(y[rows])):
            keep.append(rows)
        else:
            dropped += 1
    if not keep:
        return np.array([], dtype=int), dropped
    return np.concatenate(keep), dropped


def sensitivity(info: dict[str, Any], unit: np.ndarray, y: Sequence[float], *,
                seed: int = 0, num_resamples: int = 200) -> "tuple[Any, dict[str, Any]]":
    """Sensitivity indices of one output for a sobol or morris design.

    ``unit`` is the design's unit matrix, ``y`` one value per design point in the same order
    (e.g. the mean over replications; NaN where no run finished). Saltelli blocks (sobol) or
    trajectories (morris) with a NaN are left out. Returns ``(table, notes)``: a pandas
    DataFrame with one row per parameter and a dict with ``used`` / ``dropped`` block counts.

    sobol columns: parameter, S1, S1_conf, ST, ST_conf;
    morris columns: parameter, mu, mu_star, sigma, mu_star_conf.
    """
    import pandas as pd

    method = info["method"]
    names = list(info["names"])
    d = len(names)
    y = np.asarray(y, dtype=float)
    unit = np.asarray(unit, dtype=float)
    if len(y) != len(unit):
        raise ValueError(f"{len(y)} outputs for {len(unit)} design points")
    problem = _unit_problem(names)
    if method not in SA_DESIGNS:
        raise ValueError(f"design {method!r} has no sensitivity analysis (only "
                         f"{', '.join(SA_DESIGNS)})")
    second = bool(info.get("second_order", False))
    # rows of one Saltelli block (sobol) or of one trajectory (morris)
    block = ((2 * d + 2) if second else (d + 2)) if method == "sobol" else d + 1
    rows, dropped = _complete_blocks(y, block)
    notes = {"used": len(rows) // block, "dropped": dropped}
    if len(rows) == 0:
        raise ValueError("no complete Saltelli block: every base sample lost a run"
                         if method == "sobol" else "no complete Morris trajectory")
    if method == "sobol":
        from SALib.analyze import sobol

        res = sobol.analyze(problem, y[rows], calc_second_order=second,
                            num_resamples=num_resamples, seed=seed)
        columns = ("S1", "S1_conf", "ST", "ST_conf")
    else:
        from SALib.analyze import morris

        res = morris.analyze(problem, unit[rows], y[rows], num_resamples=num_resamples,
                             num_levels=int(info.get("levels", 4)), seed=seed)
        columns = ("mu", "mu_star", "sigma", "mu_star_conf")
    table = pd.DataFrame({"parameter": names,
                          **{c: np.asarray(res[c], dtype=float) for c in columns}})
    return table, notes
