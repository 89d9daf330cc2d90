"""Running the model: single runs, validation, comparisons, sweeps and benchmarks, and the
experiment API outside tools call (docs/CONTRACT.md).

    from experiments import levers, outcomes, run_outcomes, read_run, load_results

The names are imported on first use, so ``import experiments`` pulls in neither Dask, SALib,
Solara nor EMA Workbench.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "levers": "experiments.api",
    "outcomes": "experiments.api",
    "run_outcomes": "experiments.api",
    "DEFAULT_OUTCOMES": "experiments.api",
    "DEFAULT_SEED": "experiments.api",
    "read_run": "experiments.outputs",
    "load_results": "experiments.sweep",  # results of `h100sim sweep`
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'experiments' has no attribute {name!r}")
