"""Headline numbers of a run (for `h100sim run`'s summary and `h100sim compare`'s table).

Each headline is one :func:`experiments.targets.compute_stat` call on a run's series; a headline
whose window falls outside the run's horizon is left out rather than guessed.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Sequence

import pandas as pd

from experiments.targets import compute_stat, format_value


@dataclass(frozen=True)
class Headline:
    key: str
    label: str
    metric: str
    stat: str
    window: tuple[str, str] | None = None  # None: the whole run
    unit: str = ""                          # "usd_h", "usd", "weeks", "share", "count", "x", "date"


HEADLINES: tuple[Headline, ...] = (
    Headline("peak_spot", "peak spot price", "spot_price", "max", None, "usd_h"),
    Headline("peak_spot_date", "peak spot price date", "spot_price", "date_of_max", None, "date"),
    Headline("spot_end_2023", "spot price, end of 2023", "spot_price", "last",
             ("2023-12-01", "2023-12-31"), "usd_h"),
    Headline("spot_end_2024", "spot price, end of 2024", "spot_price", "last",
             ("2024-12-01", "2024-12-31"), "usd_h"),
    Headline("spot_end", "spot price at the end", "spot_price", "last", None, "usd_h"),
    Headline("large_premium_end_2024", "large / small cluster price, end of 2024",
             "large_cluster_price / small_cluster_price", "last", ("2024-12-01", "2024-12-31"), "x"),
    Headline("peak_lead", "peak lead time", "lead_time_weeks", "max", None, "weeks"),
    Headline("peak_lead_date", "peak lead time date", "lead_time_weeks", "date_of_max", None, "date"),
    Headline("secondary_premium_2023", "peak secondary / new card price, 2023",
             "card_price_secondary / card_price_new", "max", ("2023-01-01", "2023-12-31"), "x"),
    Headline("grey_premium_h2_2023", "grey / new card price, H2 2023 mean",
             "grey_card_price / card_price_new", "mean", ("2023-07-01", "2023-12-31"), "x"),
    Headline("training_share_2023", "training share, 2023 mean", "training_share", "mean",
             ("2023-01-01", "2023-12-31"), "share"),
    Headline("training_share_2025", "training share, 2025 mean", "training_share", "mean",
             ("2025-01-01", "2025-12-31"), "share"),
    Headline("grey_volume_total", "smuggled cards, total", "smuggled_cards", "sum", None, "count"),
    Headline("seized_total", "seized cards, total", "seized_cards", "sum", None, "count"),
    Headline("resold_hours_total", "resold GPU-hours, total", "resold_hours", "sum", None, "count"),
    Headline("installed_end", "installed GPUs at the end", "gpus_installed", "last", None, "count"),
)
BY_KEY = {h.key: h for h in HEADLINES}
#: how a headline of each unit is written ("share" is written as a percentage)
UNIT_FORMATS = {"usd_h": "${:,.2f}/GPU-h", "usd": "${:,.0f}", "weeks": "{:.1f} weeks",
                "x": "{:.2f}x", "count": "{:,.0f}"}


def _span(df: pd.DataFrame) -> tuple[dt.date, dt.date]:
    dates = pd.to_datetime(df["date"])
    return dates.min().date(), dates.max().date()


def headline_value(df: pd.DataFrame, h: Headline) -> float | dt.date | None:
    """The headline's value on one run, or None if its window is outside the run."""
    start, end = _span(df)
    if h.window is None:
        window = (start, end)
    else:
        window = tuple(dt.date.fromisoformat(w) for w in h.window)
        if window[0] < start or window[1] > end:
            return None
    if any(p.strip() not in df.columns for p in h.metric.split("/")):
        return None
    return compute_stat(df, h.metric, window, h.stat)


def headline_values(df: pd.DataFrame, keys: Sequence[str] | None = None) -> dict[str, Any]:
    """``{key: value}`` for the given headline keys (default all); out-of-horizon ones omitted."""
    out = {}
    for h in (HEADLINES if keys is None else [BY_KEY[k] for k in keys]):
        v = headline_value(df, h)
        if v is not None:
            out[h.key] = v
    return out


def headline_unit(key: str) -> str:
    """The unit a headline's value is in, as a table column shows it (a share in %)."""
    from experiments.catalogue import stat_unit

    h = BY_KEY[key]
    if h.unit == "share":
        return "%"
    return stat_unit(h.metric, h.stat) or "-"


def format_headline(key: str, value: Any) -> str:
    """Human text for a headline value."""
    unit = BY_KEY[key].unit if key in BY_KEY else ""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, dt.date):
        return value.isoformat()
    if unit == "share":
        return f"{100 * value:.1f}%"
    if unit in UNIT_FORMATS:
        return UNIT_FORMATS[unit].format(value)
    return format_value(value)


def summary_lines(df: pd.DataFrame) -> list[str]:
    """A readable summary of one run."""
    v = headline_values(df)
    start, end = _span(df)
    lines = [f"{'horizon':<22}{start} to {end} ({len(df) - 1} weeks)"]

    def line(label: str, text: str) -> None:
        lines.append(f"{label:<22}{text}")

    def fmt(key: str) -> str:
        return format_headline(key, v.get(key))

    def years(keys: Sequence[str]) -> str:
        return ", ".join(f"{k[-4:]}: {fmt(k)}" for k in keys if k in v)

    if "peak_spot" in v:
        line("peak spot price", f"{fmt('peak_spot')} on {fmt('peak_spot_date')}")
    if spots := years(("spot_end_2023", "spot_end_2024")):
        line("spot at year end", f"{spots}; at the end: {fmt('spot_end')}")
    if "large_premium_end_2024" in v:
        line("large-cluster premium",
             f"{fmt('large_premium_end_2024')} the small-cluster price at end of 2024")
    if "peak_lead" in v:
        line("peak lead time", f"{fmt('peak_lead')} on {fmt('peak_lead_date')}")
    cards = []
    if "secondary_premium_2023" in v:
        cards.append(f"secondary peak {fmt('secondary_premium_2023')} list (2023)")
    if "grey_premium_h2_2023" in v:
        cards.append(f"grey {fmt('grey_premium_h2_2023')} list (H2 2023)")
    if cards:
        line("card prices", "; ".join(cards))
    if shares := years(("training_share_2023", "training_share_2025")):
        line("training share", shares)
    if "grey_volume_total" in v:
        line("grey market", f"{fmt('grey_volume_total')} cards smuggled, {fmt('seized_total')} seized")
    if "resold_hours_total" in v:
        line("resold hours", fmt("resold_hours_total"))
    if "installed_end" in v:
        line("installed GPUs", f"{fmt('installed_end')} at {end}")
    return lines


def text_table(rows: Sequence[Sequence[str]]) -> str:
    """Rows of cells as aligned plain text; the first row is the header, underlined."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
