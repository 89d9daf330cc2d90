"""Writing results so that a crash never leaves half a file: atomic writes, a directory lock,
and the temporary files a resume cleans up.

Every file the commands write (a run's directory, a validation report, a comparison table, a
sweep's manifest, run files and index) goes through :func:`atomic_write` (a temporary file in the
same directory, fsync, ``os.replace``) or, for a whole run directory, :func:`replace_dir`. A
temporary name starts with ``.`` and ends with ``.tmp``, so :func:`clean_temp` finds what a
write cut short left behind. :class:`DirLock` keeps two processes from writing into one
directory.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import socket
import tempfile
import uuid
from pathlib import Path
from typing import Any

from model.errors import InputError

LOCK = ".lock"


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a file just renamed into it) durable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` via a temporary file in the same directory,
    fsync, then ``os.replace``: readers see the old file or the new one, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def json_value(v: Any) -> Any:
    """A result as JSON: dates as ISO strings, numpy scalars as Python ones, NaN and infinities
    as null (JSON has neither)."""
    if isinstance(v, dt.date):
        return v.isoformat()
    if hasattr(v, "item"):  # numpy scalars
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def atomic_write_json(path: str | Path, data: Any) -> Path:
    return atomic_write(path, json.dumps(data, indent=1) + "\n")


def clean_temp(*dirs: Path) -> None:
    """Remove the temporary files of writes cut short (only while holding the directory's lock:
    no one else is writing)."""
    for d in dirs:
        if d.is_dir():
            for p in d.iterdir():
                if p.name.startswith(".") and p.name.endswith(".tmp"):
                    p.unlink(missing_ok=True)


def temp_dir_beside(target: Path) -> Path:
    """A new, empty directory next to ``target``, to fill and then move with :func:`replace_dir`.

    Its name carries the writing process's id, so the next run into the same place removes what
    a killed run left behind (:func:`remove_stale_temps`)."""
    parent = target.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=parent))
    os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
    return tmp


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale_temps(target: Path) -> list[Path]:
    """Remove the temporary directories beside ``target`` that a run killed before its swap left
    (``.NAME.tmp-PID-*`` whose process is gone); returns what was removed. Directories of a
    living process, and anything not named so, are left alone."""
    parent = target.resolve().parent
    removed = []
    if not parent.is_dir():
        return removed
    prefix = f".{target.name}.tmp-"
    for p in parent.iterdir():
        if not p.name.startswith(prefix) or p.is_symlink() or not p.is_dir():
            continue
        pid = p.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def replace_dir(new: Path, target: Path) -> None:
    """Move directory ``new`` to ``target``, replacing what is there, never leaving neither."""
    if not target.exists():
        os.replace(new, target)
        return
    if not target.is_dir():
        raise InputError(f"output directory {str(target)!r} is a file; choose another --out")
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


class DirLock:
    """An exclusive lock on a directory (two sweeps must not write into one); the lock file says
    who holds it."""

    def __init__(self, out: Path):
        self.path = out / LOCK
        self.fh = None

    def __enter__(self):
        import fcntl

        self.fh = open(self.path, "a+")
        try:
            fcntl.flock(self.fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.fh.seek(0)
            owner = self.fh.read().strip() or "another process"
            self.fh.close()
            raise InputError(f"{self.path.parent} is in use by another sweep ({owner}); "
                             "wait for it to finish or stop it first") from None
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        self.fh.flush()
        return self

    def __exit__(self, *exc):
        import fcntl

        fcntl.flock(self.fh.fileno(), fcntl.LOCK_UN)
        self.fh.close()
