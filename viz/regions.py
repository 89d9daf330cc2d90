"""H100 cards held by region (US, China, elsewhere), from the model's agent data.

The model publishes no series by region; its agent frame (``model.agent_frame()``) holds every
firm's region and cards every ``run.agent_data_every`` weeks. Building that frame costs about a
second late in a run, too much for a redraw, so the app reads the same numbers from the agents
themselves in the weeks the model collects them (the same state, so the same sums), keeps them per
model, and fills weeks it did not see (the guided tour plays many weeks in one go) from the agent
frame once. Grey-market brokers' stock (cards bought for smuggling, not yet delivered) is its own
band, since those cards run nowhere yet.
"""

from __future__ import annotations

import weakref
from typing import Any

import pandas as pd

#: the bands of the chart, in stacking order: (column, label)
BANDS = (("US", "US"), ("CN", "China"), ("ROW", "elsewhere"), ("grey", "grey brokers (stock)"))
FIELDS = dict(BANDS)
REGIONS = ("US", "CN", "ROW")

_history: "weakref.WeakKeyDictionary[Any, dict[int, dict[str, float]]]" = (
    weakref.WeakKeyDictionary())


def _band(kind: str, region: str) -> str:
    if kind == "broker":
        return "grey"
    return region if region in REGIONS else "ROW"


def totals_now(model) -> dict[str, float]:
    """Cards held now by the firms of each band (the caller holds the model's lock)."""
    out = {col: 0.0 for col, _ in BANDS}
    for a in model.agents:
        gpus = getattr(a, "gpus", None)
        if gpus is None:
            continue
        out[_band(getattr(a, "kind", ""), getattr(a, "region", "") or "")] += float(gpus)
    pool = model.population.pools.get("finetuner")  # the teams are rows of a pool, in the US
    if pool is not None and len(pool):
        out["US"] += float(model.cards.balance[pool.account].sum())
    return out


def totals_from_frame(frame: pd.DataFrame) -> dict[int, dict[str, float]]:
    """The same sums from an agent frame, by step."""
    if frame.empty:
        return {}
    band = [_band(k, r or "") for k, r in zip(frame["kind"], frame["region"])]
    sums = frame.assign(band=band).groupby(["step", "band"])["gpus"].sum()
    out: dict[int, dict[str, float]] = {}
    for (step, col), v in sums.items():
        out.setdefault(int(step), {c: 0.0 for c, _ in BANDS})[col] = float(v)
    return out


def collect(model) -> None:
    """Note this week's sums if the model collects agent data this week; fill any earlier
    collection week missed from the agent frame (the caller holds the model's lock)."""
    every = int(model.config.run.agent_data_every)
    seen = _history.setdefault(model, {})
    step = int(model.steps)
    due = set(range(0, step + 1, every))
    if due - seen.keys() - {step}:
        seen.update(totals_from_frame(model.agent_frame()))
    if step % every == 0 and step not in seen:
        seen[step] = totals_now(model)


def region_frame(model) -> pd.DataFrame:
    """Date and one column per band, one row per collection week so far."""
    seen = _history.get(model, {})
    start = pd.Timestamp(model.start)
    rows = [{"date": start + pd.Timedelta(weeks=s), **seen[s]} for s in sorted(seen)
            if s <= model.steps]
    return pd.DataFrame(rows, columns=["date", *FIELDS])
