"""One validation layer for the project's TOML inputs: scenarios (:mod:`model.config`),
calibration targets and sweep specs (``experiments/``).

Every refusal is an :class:`InputError` that names the file, the field, the bad value and what
is allowed, with one "did you mean" (:func:`suggest`) for a misspelt name. The checks here are
the shared vocabulary; each input's own rules (which keys, which combinations) stay with it.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from model.errors import InputError
from model.timeline import as_date

Window = tuple[dt.date, dt.date]

#: the largest magnitude of any number an input may give (a key may have a tighter bound): far
#: above any quantity of this market, far below what overflows a product of a few of them
LARGEST = 1e12


def suggest(word: Any, options: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest option, or an empty string."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


#: the largest input file read (a scenario, targets file, sweep spec or manifest is a few kB)
MAX_INPUT_BYTES = 16 * 2**20


def read_text(path: str | Path, what: str, expected: str = "") -> str:
    """The UTF-8 text of an input file; InputError if it is missing, a directory, not a regular
    file, larger than :data:`MAX_INPUT_BYTES` or not text. ``what`` names the input ("sweep
    spec"), ``expected`` what it should be."""
    p = Path(path)
    if not p.is_file():
        where = (
            "is a directory" if p.is_dir() else "is not a regular file" if p.exists() else "does not exist"
        )
        raise InputError(f"{what} {str(path)!r} {where}" + (f"; expected {expected}" if expected else ""))
    if p.stat().st_size > MAX_INPUT_BYTES:
        raise InputError(
            f"{path}: {p.stat().st_size} bytes is too large for a {what}; "
            f"expected at most {MAX_INPUT_BYTES} bytes"
        )
    try:
        return p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text ({err})") from None


def too_deep(path: str | Path) -> InputError:
    """The refusal of a file nested deeper than the parser can follow."""
    return InputError(
        f"{path}: nested too deeply to read (arrays or tables inside one another "
        "hundreds of levels deep); expected a flat file"
    )


def _parse(load: Any, text: str, path: str | Path, malformed: type[Exception], what: str) -> Any:
    """``load(text)``; a malformed or too deeply nested text is an InputError naming ``path``."""
    try:
        return load(text)
    except malformed as err:
        raise InputError(what.format(path=path, err=err)) from None
    except RecursionError:
        raise too_deep(path) from None


def parse_toml(text: str, path: str | Path) -> dict[str, Any]:
    return _parse(tomllib.loads, text, path, tomllib.TOMLDecodeError, "{path}: malformed TOML: {err}")


def parse_json(text: str, path: str | Path) -> Any:
    return _parse(json.loads, text, path, json.JSONDecodeError, "{path}: not a valid JSON manifest ({err})")


class Fields:
    """Checks of the fields of one table. Messages start with ``where`` (the file, and the
    entry when there are several, e.g. ``"t.toml: target 'x': "``); ``noun`` is what the file
    calls its keys ("key", "field")."""

    def __init__(self, path: str | None, entry: str = "", noun: str = "key"):
        self.where = "".join(f"{p}: " for p in (path, entry) if p)
        self.noun = noun

    def error(self, name: str, value: Any, allowed: str, hint: str = "") -> InputError:
        return InputError(f"{self.where}{name} = {value!r} is not allowed{hint}; expected {allowed}")

    def refuse(self, text: str) -> InputError:
        """A rule that is not about one value (a combination, a missing table)."""
        return InputError(f"{self.where}{text}")

    def unknown(self, key: str, allowed: Sequence[str], table: str = "") -> InputError:
        inside = f" in {table}" if table else ""
        which = "allowed" if self.noun == "key" else f"allowed {self.noun}s"
        return self.refuse(
            f"unknown {self.noun} {key!r}{inside}{suggest(key, allowed)}; {which}: {', '.join(allowed)}"
        )

    def missing(self, key: str, expected: str, table: str = "") -> InputError:
        inside = f" in {table}" if table else ""
        return self.refuse(f"missing {self.noun} {key!r}{inside}; expected {expected}")

    def keys(self, table: dict, allowed: Sequence[str], name: str = "") -> None:
        """Refuse the first key of ``table`` that is not ``allowed``."""
        for key in table:
            if key not in allowed:
                raise self.unknown(key, allowed, name)

    def integer(self, name: str, value: Any, lo: int | None = None, hi: int | None = None) -> int:
        hi = int(LARGEST) if hi is None else hi
        bounds = [f"{op} {b}" for op, b in ((">=", lo), ("<=", hi)) if b is not None]
        allowed = "an integer" + (" " + " and ".join(bounds) if bounds else "")
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(name, value, allowed)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self.error(name, value, allowed)
        return int(value)

    def number(
        self,
        name: str,
        value: Any,
        whole: Any = None,
        allowed: str = f"a finite number of magnitude <= {LARGEST:g}",
    ) -> float:
        """A finite int or float (not a bool) of magnitude at most :data:`LARGEST`; ``whole`` is
        the value shown when ``value`` is one item of it."""
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or abs(value) > LARGEST
        ):
            raise self.error(name, value if whole is None else whole, allowed)
        return value

    def date(self, name: str, value: Any, whole: Any = None) -> dt.date:
        whole = value if whole is None else whole
        if isinstance(value, dt.datetime):
            raise self.error(name, whole, "dates without a time of day, e.g. 2023-04-01")
        parsed = as_date(value)
        if parsed is None:
            raise self.error(name, whole, 'ISO dates such as "2023-04-01" or 2023-04-01')
        return parsed

    def window(self, name: str, value: Any) -> Window:
        allowed = 'a pair [start, end] of ISO dates, e.g. ["2023-04-01", "2023-12-31"]'
        if not isinstance(value, list) or len(value) != 2:
            raise self.error(name, value, allowed)
        start, end = (self.date(name, v, value) for v in value)
        if end < start:
            raise self.error(name, value, "a start date on or before the end date")
        return start, end

    def choice(self, name: str, value: Any, options: Sequence[str]) -> str:
        if not isinstance(value, str) or value not in options:
            raise self.error(
                name, value, "one of " + ", ".join(repr(o) for o in options), suggest(value, options)
            )
        return value

    def text(self, name: str, value: Any, allowed: str = "a non-empty string") -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.error(name, value, allowed)
        return value
