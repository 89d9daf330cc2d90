"""Toy models for the sweep tests (no tests here; pytest collects nothing from this file).

The sweep engine takes a ``run_fn(task) -> DataFrame`` and a ``ModelInfo`` for the spec checks;
these stand in for the model so the engine is tested fast and exactly. They live in an importable
module (not in a test function) because worker processes and Dask workers import them by name.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.sweepspec import ModelInfo
from model.errors import InputError

TOY_START = dt.date(2023, 1, 2)
TOY_WEEKS = 20
TOY_SERIES = ["price", "volume", "y"]
TOY_PARAMS = {"a": (0.0, 100.0), "b": (0.0, 10.0), "c": (-100.0, 100.0), "x1": (-4.0, 4.0),
              "x2": (-4.0, 4.0), "x3": (-4.0, 4.0), "flag": None, "label": None, "run.end": None}
#: A test's child processes (sweep scripts, pool and Dask workers, which all import this module)
#: take the test process's model version from this variable. The toy runs do not depend on the
#: model's code, and a file of model/ edited while a test runs must not make two processes of one
#: sweep disagree on the version (a refused resume, or runs refused by a worker).
PIN_MODEL_VERSION = "H100SIM_TEST_MODEL_VERSION"


def _pin_model_version() -> None:
    pinned = os.environ.get(PIN_MODEL_VERSION)
    if pinned:
        import model

        model.MODEL_VERSION = pinned


_pin_model_version()


def toy_check(base: str, overrides: dict) -> None:
    if base != "toy":
        raise InputError(f"unknown scenario {base!r}; available: toy")
    for key, value in overrides.items():
        if key not in TOY_PARAMS:
            raise InputError(f"unknown parameter {key!r}; allowed: {', '.join(TOY_PARAMS)}")
        bounds = TOY_PARAMS[key]
        if bounds is not None:
            lo, hi = bounds
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
                raise InputError(f"{key} = {value!r} is not allowed; expected a number >= {lo} "
                                 f"and <= {hi}")


def toy_horizon(base: str, overrides: dict) -> tuple[dt.date, dt.date]:
    end = overrides.get("run.end")
    return TOY_START, (dt.date.fromisoformat(end) if end else
                       TOY_START + dt.timedelta(weeks=TOY_WEEKS))


TOY_INFO = ModelInfo(series=["date", *TOY_SERIES], horizon=toy_horizon, check=toy_check)


def toy_run(task) -> pd.DataFrame:
    """A small stochastic 'market': price decays at rate b from level a, with seeded noise."""
    p = task.overrides
    a = float(p.get("a", 10.0))
    b = float(p.get("b", 0.1))
    c = float(p.get("c", 0.0))
    flag = bool(p.get("flag", False))
    weeks = TOY_WEEKS if task.steps is None else int(task.steps)
    rng = np.random.default_rng(int(task.seed))
    t = np.arange(weeks + 1, dtype=float)
    price = a * np.exp(-b * t) + c + rng.normal(0.0, 0.5, size=t.size) + (2.0 if flag else 0.0)
    volume = rng.poisson(5.0 + a, size=t.size).astype(float)
    x = [float(p.get(k, 0.0)) for k in ("x1", "x2", "x3")]
    y = math.sin(x[0]) + 7.0 * math.sin(x[1]) ** 2 + 0.1 * x[2] ** 4 * math.sin(x[0])
    dates = pd.date_range(pd.Timestamp(TOY_START), periods=t.size, freq="7D")
    return pd.DataFrame({"date": dates, "price": price, "volume": volume, "y": y})


def toy_run_failing(task) -> pd.DataFrame:
    """Fails for a == 3 (a ValueError), like a model bug hit by one corner of the design."""
    if float(task.overrides.get("a", 0.0)) == 3.0:
        raise ValueError(f"toy model cannot handle a = 3 (seed {task.seed})")
    return toy_run(task)


def toy_run_slow(task) -> pd.DataFrame:
    """toy_run, 0.15 s per run (so a test can stop the sweep part-way)."""
    time.sleep(0.15)
    return toy_run(task)


def toy_run_interrupt(task) -> pd.DataFrame:
    """Raises KeyboardInterrupt (a Ctrl-C) on the run after TOY_STOP_AFTER runs were started
    in this process (counted in the file TOY_COUNTER)."""
    counter = Path(os.environ["TOY_COUNTER"])
    n = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(n + 1))
    if n >= int(os.environ["TOY_STOP_AFTER"]):
        raise KeyboardInterrupt
    return toy_run(task)


def toy_run_crash_worker(task) -> pd.DataFrame:
    """Kills its worker process (os._exit) for a == 7: a segfault or an OOM kill."""
    if float(task.overrides.get("a", 0.0)) == 7.0:
        os._exit(3)
    return toy_run(task)


def toy_spec_text(design: str = "grid", *, extra_sweep: str = "", params: str | None = None,
                  metrics: str | None = None) -> str:
    """A toy spec (TOML text)."""
    if params is None:
        params = """
[parameters.a]
values = [1.0, 3.0, 5.0]

[parameters.b]
low = 0.05
high = 0.5
dist = "loguniform"
num = 2
"""
    if metrics is None:
        metrics = """
[metrics]
series = ["price"]

[[metrics.summary]]
metric = "price"
window = ["2023-01-01", "2023-03-31"]
stat = "max"

[[metrics.summary]]
name = "late_volume"
metric = "volume"
window = ["2023-03-01", "2023-05-31"]
stat = "mean"
"""
    return f"""
[sweep]
name = "toy"
base = "toy"
design = "{design}"
replications = 2
seed = 12345
{extra_sweep}

[overrides]
c = 1.5
{params}
{metrics}
"""
