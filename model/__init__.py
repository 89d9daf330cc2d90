"""h100sim's world: scenarios, drivers, markets, the population and the model that wires them.

``model.mechanisms`` (pure functions and books) sits below the agents; the rest of ``model`` sits
above them. The public names below are imported on first use, so importing a mechanism does not
import the agents or Mesa's model machinery.
"""

from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "H100Market": "model.market",
    "SERIES": "model.market",
    "release_model": "model.market",
    "InputError": "model.errors",
    "list_scenarios": "model.config",
    "load_scenario": "model.config",
    "parse_override": "model.config",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'model' has no attribute {name!r}")
