"""Writing one run to disk: series (Parquet + CSV), agent data, manifest and charts.

An output directory holds exactly one run::

    series.parquet  series.csv  agents.parquet  manifest.json  charts/*.png

It is written atomically: everything goes to a temporary directory next to it, which then
replaces the old directory with ``os.replace``, so a crash never leaves a half-written run. An
existing directory holding a different run (another scenario, seed or parameters in its
manifest) is only replaced with ``force=True``; a directory this project did not write (no
run or sweep manifest), a symbolic link, the working, home or repository directory (or one
holding them) is never replaced (:func:`check_out_dir`).

``series.parquet`` carries its context: the schema metadata ``h100sim`` holds the scenario, seed,
parameter hash, package version and every column's unit and human name, each column its own
``unit`` and ``label``; ``date`` is ``datetime64[ns]`` and counts the model keeps in whole numbers
(teams) are int64. :func:`read_run` reads a run back with a DatetimeIndex and that context in
``attrs``.

``manifest.json`` records what is needed to replay the run exactly (scenario, resolved
parameters ``m.config.flat()``, seed), a hash of scenario, seed and parameters (``params_hash``: a replay
refuses a manifest edited since) and how it was made (package version, git commit, times).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import platform
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from experiments.store import replace_dir, temp_dir_beside
from model.errors import InputError
from model.schema import parse_json, read_text

MANIFEST = "manifest.json"
#: 2: with ``params_hash`` (of scenario, seed and params); 1: without (replayed unchecked)
MANIFEST_FORMAT = 2
KNOWN_FORMATS = (1, 2)
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def package_version() -> str:
    """The installed h100sim version, else the one in pyproject.toml, else 'unknown'."""
    try:
        return importlib.metadata.version("h100sim")
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        with (PROJECT_ROOT / "pyproject.toml").open("rb") as fh:
            return str(tomllib.load(fh)["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def git_state(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the project checkout."""
    def git(*args: str) -> str | None:
        try:
            res = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                                 timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return res.stdout.strip() if res.returncode == 0 else None

    commit = git("rev-parse", "--verify", "-q", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit or None, "dirty": None if status is None else bool(status)}


def _json_default(v: Any) -> Any:
    if isinstance(v, (dt.date, dt.datetime, pd.Timestamp)):
        return v.isoformat()
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, tuple):
        return list(v)
    if hasattr(v, "item"):  # numpy scalars
        return v.item()
    raise TypeError(f"not JSON-able: {v!r}")


def identity(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What makes two runs the same run: scenario, seed, resolved parameters."""
    params = manifest.get("params")
    if params is not None:  # compare in JSON form (tuples vs lists, dates vs strings)
        params = json.loads(json.dumps(params, default=_json_default, sort_keys=True))
    return {"scenario": manifest.get("scenario"), "seed": manifest.get("seed"), "params": params}


def params_hash(manifest: Mapping[str, Any]) -> str:
    """SHA-256 of a run's :func:`identity` (scenario, seed, resolved parameters) in canonical
    JSON (sorted keys, dates as ISO text)."""
    text = json.dumps(identity(manifest), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_replayable(data: Mapping[str, Any], where: str | Path) -> None:
    """Refuse (InputError) a manifest of no known format, or whose parameters no longer match
    the hash written with them (edited since)."""
    fmt = data.get("format")
    if isinstance(fmt, bool) or fmt not in KNOWN_FORMATS:
        raise InputError(f"{where}: format = {fmt!r} is not a manifest format this h100sim "
                         f"({package_version()}) knows; expected one of "
                         f"{', '.join(map(str, KNOWN_FORMATS))}")
    if fmt >= 2 and data.get("params_hash") != params_hash(data):
        raise InputError(f"{where}: its scenario, seed and params do not match its params_hash "
                         f"({str(data.get('params_hash'))[:12]}...): the manifest was edited "
                         "after the run was written; replay the original manifest, or start a "
                         "new run with --scenario/--set")


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read a manifest.json (a file, or a run directory holding one). Raises InputError."""
    p = Path(path)
    if p.is_dir():
        p = p / MANIFEST
    data = parse_json(read_text(p, "manifest", "a manifest.json written by `h100sim run`"), p)
    if not isinstance(data, dict):
        raise InputError(f"{p}: not a run manifest (expected a JSON object)")
    missing = [k for k in ("scenario", "seed", "params") if k not in data]
    if missing:
        raise InputError(f"{p}: not a run manifest; missing key(s) {', '.join(missing)}")
    if isinstance(data["seed"], bool) or not isinstance(data["seed"], int) or data["seed"] < 0:
        raise InputError(f"{p}: seed = {data['seed']!r} is not allowed; expected an integer >= 0")
    if not isinstance(data["params"], dict):
        raise InputError(f"{p}: params = {data['params']!r} is not allowed; expected an object")
    return data


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    out = []
    for key in ("scenario", "seed"):
        if old.get(key) != new.get(key):
            out.append(f"{key} {old.get(key)!r} -> {new.get(key)!r}")
    po, pn = old.get("params") or {}, new.get("params") or {}
    changed = sorted(k for k in set(po) | set(pn) if po.get(k) != pn.get(k))
    if changed:
        shown = ", ".join(f"{k} {po.get(k)!r} -> {pn.get(k)!r}" for k in changed[:3])
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        out.append(f"params {shown}{more}")
    return out


SWEEP_FORMAT_PREFIX = "h100sim-sweep/"


def _written_by_us(out: Path) -> bool:
    """Does ``out`` hold a manifest of an h100sim run (scenario, seed, params) or sweep?"""
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    return (all(k in data for k in ("scenario", "seed", "params"))
            or str(data.get("format", "")).startswith(SWEEP_FORMAT_PREFIX))


def _protected(real: Path) -> str | None:
    """Why the directory ``real`` (resolved) must never be replaced, or None."""
    places = [(Path.cwd().resolve(), "the working directory"),
              (PROJECT_ROOT, "the h100sim repository")]
    try:
        places.append((Path.home().resolve(), "the home directory"))
    except (RuntimeError, KeyError):  # no home directory known
        pass
    for place, what in places:
        if real == place:
            return f"it is {what}"
        if place.is_relative_to(real):
            return f"it contains {what}"
    if (real / ".git").exists():
        return "it is a git repository"
    return None


def check_out_dir(out_dir: str | Path, run_identity: Mapping[str, Any], force: bool = False) -> None:
    """Refuse (InputError) to replace ``out_dir`` if it holds something other than this run.

    ``--out`` is never a symbolic link (not followed, not replaced, even when dangling), never
    the working directory, the home directory, the repository, a git checkout or a directory
    holding one of them. With ``force`` an existing directory is replaced only if this project
    wrote it (it holds the manifest of a run or a sweep). Call it before a long run, so a clash
    is reported before the work is done; :func:`write_run` checks again.
    """
    out = Path(out_dir)
    if out.is_symlink():
        raise InputError(f"output directory {str(out)!r} is a symbolic link; it is never followed "
                         "or replaced: give the real directory as --out")
    if out.exists() and not out.is_dir():
        raise InputError(f"output directory {str(out)!r} is a file; choose another --out")
    if not out.exists():
        return
    why = _protected(out.resolve())
    if why:
        raise InputError(f"refused to replace output directory {str(out)!r}: {why}; "
                         "choose a new directory as --out")
    if not any(out.iterdir()):
        return
    if force:
        if not _written_by_us(out):
            raise InputError(f"--force refused to replace {str(out)!r}: it holds no "
                             f"{MANIFEST} of an h100sim run or sweep, so h100sim did not write it; "
                             "choose another --out")
        return
    mpath = out / MANIFEST
    try:
        old = identity(json.loads(mpath.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        raise InputError(f"output directory {str(out)!r} is not empty and holds no readable "
                         f"{MANIFEST}; choose another --out") from None
    new = identity(run_identity)
    if old != new:
        diff = "; ".join(_differences(old, new))
        raise InputError(f"output directory {str(out)!r} holds a different run ({diff}); "
                         "choose another --out, or pass --force to replace it")


def _parts(model_or_frames: Any) -> dict[str, Any]:
    """A model, or a mapping with 'series' and optionally 'agents', 'events', 'scenario',
    'params' -> the pieces to write."""
    if hasattr(model_or_frames, "series") and callable(model_or_frames.series):
        m = model_or_frames
        return {"series": m.series(), "agents": m.agent_frame(), "events": list(m.events),
                "scenario": m.config.name, "params": m.config.flat(),
                "scenario_source": getattr(m.config, "source", None), "n_steps": m.n_steps}
    if isinstance(model_or_frames, Mapping) and isinstance(model_or_frames.get("series"),
                                                           pd.DataFrame):
        return dict(model_or_frames)
    raise TypeError("write_run needs an H100Market or a mapping with a 'series' DataFrame")


def write_run(model_or_frames: Any, out_dir: str | Path, manifest_info: Mapping[str, Any],
              *, force: bool = False, charts: bool = True) -> dict[str, Path]:
    """Write one run to ``out_dir`` atomically and return ``{kind: path}`` of what was written.

    ``model_or_frames`` is a finished :class:`model.H100Market` or a mapping with ``series``
    (required), ``agents``, ``events``, ``scenario``, ``params``. ``manifest_info`` adds to the
    manifest; it must hold ``seed`` and should hold ``started``/``finished`` (datetimes) and
    ``wall_time_s``; ``scenario``/``params`` there override those of the model. Raises
    InputError if ``out_dir`` holds a different run and ``force`` is false.
    """
    parts = _parts(model_or_frames)
    info = dict(manifest_info)
    if "seed" not in info:
        raise ValueError("manifest_info needs the run's seed")
    series: pd.DataFrame = parts["series"]
    agents: pd.DataFrame | None = parts.get("agents")
    events = [(ev[0], ev[1], ev[2] if len(ev) > 2 else "") for ev in parts.get("events") or ()]
    git = git_state()
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "scenario": info.pop("scenario", parts.get("scenario")),
        "scenario_source": info.pop("scenario_source", parts.get("scenario_source")),
        "seed": int(info.pop("seed")),
        "params": info.pop("params", parts.get("params")),
        "params_hash": "",
        "overrides": info.pop("overrides", {}),
        "version": package_version(),
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
        "python": platform.python_version(),
        "n_steps": parts.get("n_steps", max(len(series) - 1, 0)),
        "first_date": str(pd.Timestamp(series["date"].iloc[0]).date()) if len(series) else None,
        "last_date": str(pd.Timestamp(series["date"].iloc[-1]).date()) if len(series) else None,
        "events": [{"date": d, "label": text, "kind": kind} for d, text, kind in events],
    }
    manifest.update(info)  # started, finished, wall_time_s, command, ...
    manifest["params_hash"] = params_hash(manifest)
    check_out_dir(out_dir, manifest, force)

    out = Path(out_dir)
    tmp = temp_dir_beside(out)
    try:
        files: dict[str, Path] = {}
        write_series_parquet(series, tmp / "series.parquet", manifest)
        files["series_parquet"] = Path("series.parquet")
        series.to_csv(tmp / "series.csv", index=False, date_format="%Y-%m-%d")
        files["series_csv"] = Path("series.csv")
        if agents is not None:
            write_series_parquet(agents, tmp / "agents.parquet", manifest, units=AGENT_UNITS)
            files["agents_parquet"] = Path("agents.parquet")
        if charts:
            from experiments.charts import write_run_charts

            context = f"{manifest['scenario']}, seed {manifest['seed']}"
            for p in write_run_charts(series, events, tmp / "charts",
                                      label=str(manifest["scenario"]), context=context):
                files[f"chart_{p.stem}"] = Path("charts") / p.name
        manifest["files"] = sorted(str(p) for p in files.values())
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=_json_default) + "\n",
                                    encoding="utf-8")
        files["manifest"] = Path(MANIFEST)
        replace_dir(tmp, out.resolve())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {k: out / v for k, v in files.items()}


# --------------------------------------------------------------------------------------------
# The series with their context (Parquet metadata), and reading a run back
# --------------------------------------------------------------------------------------------
SERIES_META_KEY = b"h100sim"
#: the manifest keys copied into the Parquet metadata
SERIES_META_FIELDS = ("scenario", "seed", "params_hash", "version", "git_commit", "n_steps",
                      "first_date", "last_date")


def typed_series(series: pd.DataFrame) -> pd.DataFrame:
    """The series as the outputs hold them: ``date`` as datetime64[ns] (docs/CONTRACT.md) and
    the counts the model keeps in whole numbers as int64. Values are not changed: a column is
    made integer only when every value is a whole number."""
    from experiments.catalogue import SERIES_INFO

    out = series.copy()
    if "date" in out.columns:
        out["date"] = pd.to_datetime(out["date"]).astype("datetime64[ns]")
    for col in out.columns:
        info = SERIES_INFO.get(col)
        if info is not None and info.whole and out[col].dtype.kind == "f":
            values = out[col].to_numpy()
            if pd.notna(values).all() and (values == values.round()).all():
                out[col] = out[col].astype("int64")
    return out


#: units and names of the agent frame's columns (agents.parquet)
AGENT_UNITS = {"step": ("weeks", "weeks since the start"), "date": ("date", "week (Monday)"),
               "cash": ("USD", "cash"), "gpus": ("cards", "Hopper cards held")}


def series_metadata(manifest: Mapping[str, Any], columns: Any,
                    units: Mapping[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """The ``h100sim`` metadata of a series file: the run's identity and each column's unit
    and human name (``units``: ``{column: (unit, label)}``, default the model's series)."""
    from experiments.catalogue import SERIES_INFO

    if units is None:
        units = {name: (s.unit, s.label) for name, s in SERIES_INFO.items()}
    meta = {k: manifest.get(k) for k in SERIES_META_FIELDS}
    meta["units"] = {c: units[c][0] for c in columns if c in units}
    meta["labels"] = {c: units[c][1] for c in columns if c in units}
    return meta


def write_series_parquet(series: pd.DataFrame, path: str | Path, manifest: Mapping[str, Any],
                         units: Mapping[str, tuple[str, str]] | None = None) -> Path:
    """Write one run's series (or agent frame) to Parquet with its context (see the module
    docstring)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = typed_series(series).reset_index(drop=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = series_metadata(manifest, frame.columns, units)
    fields = []
    for field in table.schema:
        extra = {}
        if field.name in meta["units"]:
            extra = {b"unit": meta["units"][field.name].encode(),
                     b"label": meta["labels"][field.name].encode()}
        fields.append(field.with_metadata({**(field.metadata or {}), **extra}))
    schema = pa.schema(fields, metadata={
        **(table.schema.metadata or {}),
        SERIES_META_KEY: json.dumps(meta, default=_json_default).encode()})
    pq.write_table(table.cast(schema), path)
    return Path(path)


def read_series_metadata(path: str | Path) -> dict[str, Any]:
    """The ``h100sim`` metadata of a series.parquet ({} for a file written without it)."""
    import pyarrow.parquet as pq

    raw = (pq.read_schema(path).metadata or {}).get(SERIES_META_KEY)
    return json.loads(raw) if raw else {}


def read_run(run_dir: str | Path) -> pd.DataFrame:
    """One run written by ``h100sim run`` (or :func:`write_run`), read back.

    Returns the weekly series indexed by date (a ``DatetimeIndex`` named ``date``,
    datetime64[ns]); ``attrs`` holds ``scenario``, ``seed``, ``params_hash``, ``version``,
    ``units`` and ``labels`` (by column) and, from the manifest beside it, ``params`` (every
    resolved parameter) and ``overrides``. Works on files written before the metadata existed
    (context then from the manifest alone). Raises InputError for a directory without a run.
    """
    run = Path(run_dir)
    path = run / "series.parquet" if run.is_dir() else run
    if not path.is_file():
        raise InputError(f"{str(run)!r} holds no series.parquet; expected a directory written by "
                         "`h100sim run`")
    try:
        frame = pd.read_parquet(path)
        meta = read_series_metadata(path)
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable Parquet file ({err})") from None
    manifest: dict[str, Any] = {}
    if (path.parent / MANIFEST).is_file():
        manifest = read_manifest(path.parent)
    if not meta:  # an older file: the context from its manifest
        meta = series_metadata({**manifest, "version": manifest.get("version")}, frame.columns)
    frame = typed_series(frame)
    frame = frame.set_index(pd.DatetimeIndex(frame.pop("date"), name="date"))
    frame.attrs.update(meta)
    if manifest:
        frame.attrs["params"] = manifest.get("params")
        frame.attrs["overrides"] = manifest.get("overrides", {})
    return frame
