"""A cached ensemble of full runs for the emergence and calibration tests.

Every (scenario, seed) is run once: the series frames go to parquet files under pytest's cache
directory, keyed by a hash of the model's sources (model/ and agents/, code and TOML data) and of
the numeric stack's versions, so a change to the model invalidates them and an unchanged model is
not run again. A file lock makes pytest-xdist workers (or concurrent sessions) wait for the one
that is computing instead of running the same ensemble twice. Missing runs are computed with a
``ProcessPoolExecutor`` (``import mesa`` forces the "spawn" start method, so the worker function
lives at module level and returns only the frame).

Set ``H100SIM_FRESH_ENSEMBLE=1`` (or run pytest with ``--cache-clear``) to recompute.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import platform
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("model", "agents")
SOURCE_SUFFIXES = (".py", ".toml")

SCENARIOS = ("baseline", "no_open_weights", "no_export_controls", "double_packaging",
             "strict_enforcement")
SEEDS = (0, 1, 2, 3, 4)


# ------------------------------------------------------------------------------------------------
# Runs
# ------------------------------------------------------------------------------------------------
def run_series(scenario: str, seed: int) -> pd.DataFrame:
    """One full run; returns its series frame (module level: picklable for spawn workers)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from model import H100Market, release_model

    m = H100Market(scenario=scenario, seed=int(seed))
    try:
        m.run_to_end(progress=False)
        return m.series()
    finally:
        release_model(m)


def source_key() -> str:
    """Hash of the model's sources and of the library versions that shape its numbers."""
    import mesa

    h = hashlib.sha256()
    for d in SOURCE_DIRS:
        for path in sorted((ROOT / d).rglob("*")):
            if path.is_file() and path.suffix in SOURCE_SUFFIXES and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(ROOT)).encode())
                h.update(b"\0")
                h.update(path.read_bytes())
                h.update(b"\0")
    h.update(f"{platform.python_version()} mesa={mesa.__version__} numpy={np.__version__} "
             f"pandas={pd.__version__}".encode())
    return h.hexdigest()[:20]


@contextmanager
def _locked(lock_path: Path):
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _store(df: pd.DataFrame, path: Path, key: str) -> pd.DataFrame:
    if source_key() != key:  # the sources changed while it ran: do not file it under `key`
        return df
    tmp = path.with_suffix(".tmp")
    df.to_parquet(tmp)
    os.replace(tmp, path)
    return df


def _try_claim(lock_path: Path):
    """An exclusive, non-blocking lock on one run (None if another process holds it)."""
    fh = open(lock_path, "w")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


def _release(fh) -> None:
    fcntl.flock(fh, fcntl.LOCK_UN)
    fh.close()


def load_ensemble(cache_dir: Path, scenarios: Iterable[str] = SCENARIOS,
                  seeds: Iterable[int] = SEEDS, workers: int = 2,
                  fresh: bool | None = None) -> dict[tuple[str, int], pd.DataFrame]:
    """{(scenario, seed): series frame}, computing (in parallel) only what the cache lacks.

    Each run has its own lock file: a process claims the runs nobody else is making (so two
    xdist workers that both need the ensemble share the work instead of doing it twice), runs
    them in a pool of `workers` processes, then waits for the runs others claimed.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    if fresh is None:
        fresh = os.environ.get("H100SIM_FRESH_ENSEMBLE", "") not in ("", "0")
    key = source_key()
    wanted = [(s, int(k)) for s in scenarios for k in seeds]

    def path_of(sk) -> Path:
        return cache_dir / f"{key}-{sk[0]}-{sk[1]}.parquet"

    def lock_of(sk) -> Path:
        return cache_dir / f"{key}-{sk[0]}-{sk[1]}.lock"

    def read(sk):
        try:
            return pd.read_parquet(path_of(sk))
        except Exception:  # missing or torn
            return None

    with _locked(cache_dir / "ensemble.lock"):   # housekeeping only
        for old in list(cache_dir.glob("*.parquet")) + list(cache_dir.glob("*.lock")):
            if old.name != "ensemble.lock" and not old.name.startswith(key + "-"):
                old.unlink(missing_ok=True)
        if fresh:
            for sk in wanted:
                path_of(sk).unlink(missing_ok=True)

    out: dict[tuple[str, int], pd.DataFrame] = {}
    for sk in wanted:
        df = read(sk)
        if df is not None:
            out[sk] = df
    pending = [sk for sk in wanted if sk not in out]
    claimed: dict = {}
    try:
        with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
            running: dict = {}
            while pending or running:
                # Keep the pool busy with runs nobody else has claimed.
                while pending and len(running) < max(1, workers):
                    sk = pending.pop(0)
                    fh = _try_claim(lock_of(sk))
                    if fh is None:
                        continue          # another process is making it: collect it later
                    df = read(sk)         # finished by another process meanwhile?
                    if df is not None:
                        out[sk] = df
                        _release(fh)
                        continue
                    claimed[sk] = fh
                    running[pool.submit(run_series, *sk)] = sk
                if not running:
                    break
                done = next(as_completed(running))
                sk = running.pop(done)
                out[sk] = _store(done.result(), path_of(sk), key)
                _release(claimed.pop(sk))
    finally:
        for fh in claimed.values():
            _release(fh)
    # Runs other processes claimed: wait for their lock, then read (or make them here if the
    # other process gave up).
    for sk in wanted:
        if sk in out:
            continue
        with _locked(lock_of(sk)):
            df = read(sk)
            out[sk] = df if df is not None else _store(run_series(*sk), path_of(sk), key)
    return {sk: out[sk] for sk in wanted}


# ------------------------------------------------------------------------------------------------
# Statistics of one run (the tests take the median of each over seeds)
# ------------------------------------------------------------------------------------------------
def window(df: pd.DataFrame, column, start: str, end: str) -> pd.Series:
    """Values of a column (name, or a Series aligned with df) for dates in [start, end]."""
    dates = pd.to_datetime(df["date"])
    sel = (dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))
    values = df[column] if isinstance(column, str) else column
    return values[sel]


def metrics(df: pd.DataFrame) -> dict[str, float]:
    spot = df["spot_price"]
    dates = pd.to_datetime(df["date"])
    out: dict[str, float] = {}
    peak_window = window(df, "spot_price", "2023-04-01", "2023-12-31")
    out["peak_spot_2023"] = float(peak_window.max())
    out["peak_lead_2023"] = float(window(df, "lead_time_weeks", "2023-01-01", "2023-12-31").max())
    out["spot_q4_2024"] = float(window(df, "spot_price", "2024-10-01", "2024-12-31").mean())
    out["spot_q4_2024_over_peak"] = out["spot_q4_2024"] / out["peak_spot_2023"]
    out["spot_2024h1"] = float(window(df, "spot_price", "2024-01-01", "2024-06-30").mean())
    out["spot_2024h2_2025"] = float(window(df, "spot_price", "2024-07-01", "2025-12-31").mean())
    out["training_share_2023"] = float(window(df, "training_share", "2023-01-01", "2023-12-31").mean())
    out["training_share_2025"] = float(window(df, "training_share", "2025-01-01", "2025-12-31").mean())
    # First week after the 2023 peak at which spot is below half of that peak (days from start;
    # inf if never).
    peak_at = peak_window.idxmax()
    below = (spot.index > peak_at) & (spot < 0.5 * out["peak_spot_2023"])
    if below.any():
        first = dates[below].iloc[0]
        out["half_peak_day"] = float((first - dates.iloc[0]).days)
    else:
        out["half_peak_day"] = float("inf")
    out["smuggled_total"] = float(df["smuggled_cards"].sum())
    ratio = df["grey_card_price"] / df["card_price_new"]
    w = df["smuggled_cards"]
    out["grey_premium_vw"] = float((ratio * w)[w > 0].sum() / w[w > 0].sum()) if (w > 0).any() \
        else float("nan")
    sec = df["card_price_secondary"] / df["card_price_new"]
    out["secondary_ratio_max_2023"] = float(window(df, sec, "2023-01-01", "2023-12-31").max())
    out["grey_ratio_h2_2023"] = float(window(df, ratio, "2023-07-01", "2023-12-31").mean())
    out["card_secondary_2024h2_2025"] = float(window(df, "card_price_secondary", "2024-07-01",
                                                     "2025-12-31").mean())
    out["resold_hours_2024h2_2025"] = float(window(df, "resold_hours", "2024-07-01",
                                                   "2025-12-31").mean())
    return out


def metric_table(frames: dict[tuple[str, int], pd.DataFrame]) -> pd.DataFrame:
    """One row per (scenario, seed), one column per metric."""
    rows = [{"scenario": s, "seed": k, **metrics(df)} for (s, k), df in frames.items()]
    return pd.DataFrame(rows).set_index(["scenario", "seed"]).sort_index()


def median_table(table: pd.DataFrame) -> pd.DataFrame:
    """Median over seeds of every metric, one row per scenario (NaN seeds skipped)."""
    return table.groupby(level="scenario").median()
