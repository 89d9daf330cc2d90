"""The `h100sim` console command.

Each subcommand lives in its own module with two functions, ``configure(parser)`` and
``execute(args) -> int``; it is imported only when used, so `h100sim run` does not pay for
Dask or Solara. Bad input (an :class:`model.errors.InputError`) becomes one clear message and exit
code 2; a Python traceback reaches the user only with ``--debug``.

SIGTERM stops a command as Ctrl-C does (:class:`Terminated` is a ``KeyboardInterrupt``, so the
same clean-up runs: worker processes and the app's server end, partial outputs are tidied), then
one line and exit code 143 (Ctrl-C: 130). ``h100sim sweep`` keeps its documented 130 for both.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import signal
import sys
from collections.abc import Iterator

from model.errors import InputError

#: name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("experiments.run_cmd", "run one scenario and write its series"),
    "scenarios": ("experiments.scenarios_cmd", "list the scenarios (name, what it changes)"),
    "levers": ("experiments.levers_cmd", "list the levers: key, range, unit, default, meaning"),
    "validate": ("experiments.validate", "check the model against a targets file"),
    "compare": ("experiments.compare", "two scenarios side by side (ensemble bands)"),
    "sweep": ("experiments.sweep", "a batch parameter sweep (local processes or Dask)"),
    "sweep-report": ("experiments.sweep_report", "bands and sensitivity indices of a sweep"),
    "app": ("experiments.app_cmd", "start the browser app (Solara) on loopback"),
    "bench": ("experiments.bench", "performance benchmarks"),
}


#: optional packages -> the extra that installs them (pyproject.toml)
EXTRAS = {"solara": "app", "ipyvuetify": "app", "ipyvue": "app", "altair": "app",
          "dask": "sweep", "distributed": "sweep", "SALib": "sweep",
          "ema_workbench": "ema", "jupyterlab": "teach", "nbconvert": "teach"}
#: packages a command cannot start without (checked before it does anything)
NEEDS = {"app": ("solara",)}


def missing_extra(package: str | None) -> str | None:
    """The install line for an optional package that is not installed, or None."""
    top = (package or "").split(".")[0]
    if top in EXTRAS:
        return f"pip install 'h100sim[{EXTRAS[top]}]'"
    return None


def version_text() -> str:
    """``h100sim 0.1.0 (Mesa 3.3.1, Python 3.11.2)``: what a citation of a run needs."""
    import importlib.metadata
    import platform

    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"

    return f"h100sim {version('h100sim')} (Mesa {version('mesa')}, Python {platform.python_version()})"


#: exit codes of a command stopped by Ctrl-C (SIGINT) and by SIGTERM (128 + signal number)
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process gets SIGTERM."""


@contextlib.contextmanager
def sigterm_stops() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (where Python can install a handler:
    the main thread)."""
    def on_term(signum, frame):
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``h100sim run: error: ...``), exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="h100sim",
        description="An agent-based model of the market for NVIDIA H100 compute.",
    )
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks")
    parser.add_argument("--version", action="version", version=version_text(),
                        help="show the version of h100sim, Mesa and Python, and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show Python tracebacks")
        # Options are declared by the module itself, imported lazily in main().
        p.set_defaults(_module=module_name)
    return parser


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise LookupError(name)  # pragma: no cover - build_parser always adds the subparsers


def _command_of(argv: list[str]) -> str | None:
    """The subcommand named in ``argv`` without parsing it (so ``-h`` is not acted on yet).

    Before the command only top-level flags (``--debug``, ``-h``) are allowed, so the first word
    that is not an option is the command.
    """
    for token in argv:
        if token == "--":
            return None
        if token.startswith("-"):
            continue
        return token
    return None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # Find the command first (without acting on -h/--help, so that `h100sim run --help` lists
    # the options `run` declares), let its module declare its options, then parse for real.
    command = _command_of(argv)
    debug = "--debug" in argv[: argv.index("--")] if "--" in argv else "--debug" in argv
    if command is not None and command not in COMMANDS:
        close = difflib.get_close_matches(command, list(COMMANDS), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        print(f"h100sim: error: unknown command {command!r}{hint}; "
              f"allowed: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    if command is not None:
        import importlib.util

        for package in NEEDS.get(command, ()):
            if importlib.util.find_spec(package) is None:
                print(f"h100sim {command}: error: this command needs {package}, which is not "
                      f"installed; install it with: {missing_extra(package)}", file=sys.stderr)
                return 1
        module_name = COMMANDS[command][0]
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            if debug:
                raise
            hint = missing_extra(getattr(err, "name", None))
            print(f"h100sim {command}: error: this command is not available in this installation "
                  f"({type(err).__name__}: {err})" + (f"; install it with: {hint}" if hint else ""),
                  file=sys.stderr)
            return 1
        module.configure(_subparser(parser, command))
    args = parser.parse_args(argv)
    module = importlib.import_module(args._module)
    debug = getattr(args, "debug", False)
    try:
        with sigterm_stops():
            return int(module.execute(args) or 0)
    except Terminated:
        print(f"h100sim {args.command}: terminated (SIGTERM); workers and servers stopped",
              file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print(f"h100sim {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - even a bug shows no traceback without --debug
        if debug:
            raise
        if isinstance(err, InputError):
            message, code = f"error: {err}", 2
        elif isinstance(err, ImportError) and missing_extra(getattr(err, "name", None)):
            # an optional package this use of the command needs (a Sobol design: SALib)
            message, code = (f"error: this needs {err.name}, which is not installed; install it "
                             f"with: {missing_extra(err.name)}"), 1
        elif isinstance(err, OSError):
            # A path the user gave that cannot be read or written (permissions, a full disk, ...).
            where = f"{err.filename}: " if getattr(err, "filename", None) else ""
            message, code = f"error: {where}{err.strerror or err}", 2
        else:  # a bug
            message, code = (f"internal error: {type(err).__name__}: {err} "
                             "(rerun with --debug for the traceback)"), 1
        print(f"h100sim {args.command}: {message}", file=sys.stderr)
        return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
