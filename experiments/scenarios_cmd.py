"""`h100sim scenarios`: the scenarios that ship with the model, what each is and what it changes.

    h100sim scenarios            # a table: name, extends, changes, description
    h100sim scenarios --json     # the same as JSON
"""

from __future__ import annotations

import argparse
import json
import tomllib
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def scenario_rows() -> list[dict[str, Any]]:
    """One row per shipped scenario: name, extends, description, the keys it sets (for a
    scenario that extends another; the base scenario sets every key)."""
    from model.config import SCENARIO_DIR, list_scenarios

    rows = []
    for name in list_scenarios():
        with (SCENARIO_DIR / f"{name}.toml").open("rb") as fh:
            raw = tomllib.load(fh)
        parent = raw.pop("extends", None)
        description = raw.pop("description", "")
        changes = [] if parent is None else [
            f"{section}.{key}" + ("" if isinstance(value, (list, dict)) else f" = {_toml(value)}")
            for section, values in raw.items() if isinstance(values, dict)
            for key, value in values.items()]
        rows.append({"name": name, "extends": parent, "description": description,
                     "changes": changes})
    return rows


def execute(args: argparse.Namespace) -> int:
    from experiments.summary import text_table

    rows = scenario_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [["scenario", "extends", "changes", "description"]]
    for r in rows:
        table.append([r["name"], r["extends"] or "-",
                      "; ".join(r["changes"]) if r["extends"] else "(every key)", r["description"]])
    print(text_table(table))
    print("\nRun one with: h100sim run --scenario NAME (or a path to your own TOML file)")
    return 0
