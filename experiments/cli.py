"""The `h100sim` console command.

Each subcommand lives in its own module with two functions, ``configure(parser)`` and
``execute(args) -> int``; it is imported only when used, so `h100sim run` does not pay for
Dask or Solara. Bad input (an :class:`model.errors.InputError`) becomes one clear message and exit
code 2; a Python traceback reaches the user only with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from model.errors import InputError

#: name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("experiments.run_cmd", "run one scenario and write its series"),
    "validate": ("experiments.validate", "check the model against a targets file"),
    "compare": ("experiments.compare", "two scenarios side by side (ensemble bands)"),
    "sweep": ("experiments.sweep", "a batch parameter sweep (local processes or Dask)"),
    "sweep-report": ("experiments.sweep_report", "bands and sensitivity indices of a sweep"),
    "app": ("viz.launch", "start the browser app (Solara) on loopback"),
    "bench": ("experiments.bench", "performance benchmarks"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="h100sim",
        description="An agent-based model of the market for NVIDIA H100 compute.",
    )
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show Python tracebacks")
        p.set_defaults(_module=module_name)
        # Options are declared by the module itself, imported lazily below.
        p.set_defaults(_parser=p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # First pass: find the command; second pass: let its module declare its options.
    known, _ = parser.parse_known_args(argv)
    module = importlib.import_module(known._module)
    module.configure(known._parser)
    args = parser.parse_args(argv)
    debug = getattr(args, "debug", False)
    try:
        return int(module.execute(args) or 0)
    except InputError as err:
        if debug:
            raise
        print(f"h100sim {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"h100sim {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
