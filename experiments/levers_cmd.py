"""`h100sim levers`: every lever `--set`, the experiment API and the EMA connector take, with the
range the model accepts, its unit, its default and what it means.

    h100sim levers                     # the app's levers (the main ones)
    h100sim levers --all               # every scalar key of the scenario file
    h100sim levers --scenario strict_enforcement --json
"""

from __future__ import annotations

import argparse
import json


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--all", action="store_true",
                        help="every scalar key of the scenario file, not only the app's levers")
    parser.add_argument("--scenario", metavar="NAME|FILE", default="baseline",
                        help="the scenario whose values are the defaults (default: baseline)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "unset"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def execute(args: argparse.Namespace) -> int:
    from experiments.api import levers
    from experiments.summary import text_table

    rows = [lv for lv in levers(args.scenario) if args.all or lv["app"]]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = [["key", "range", "explore", "unit", "default", "meaning"]]
    for lv in rows:
        if lv["kind"] == "bool":
            allowed = "true/false"
        elif lv["kind"] == "date":
            allowed = "a date"
        else:
            allowed = f"{_value(lv['low'])}..{_value(lv['high'])}"
        explore = "-" if not lv["explore"] else f"{_value(lv['explore'][0])}..{_value(lv['explore'][1])}"
        table.append([lv["key"] + (" *" if lv["live"] else ""), allowed, explore, lv["unit"] or "-",
                      _value(lv["default"]), lv["meaning"]])
    print(text_table(table))
    which = "every scalar key" if args.all else "the app's levers (--all: every scalar key)"
    print(f"\n{len(rows)} levers, {which}; defaults of {args.scenario}. range: what the model "
          "accepts; explore: the app's slider range; * : can change while the model runs.\n"
          "Set one with --set KEY=VALUE (h100sim run), run_outcomes({KEY: VALUE}) or "
          "experiments.ema.ema_model([KEY, ...]).")
    return 0
