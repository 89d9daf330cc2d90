"""PNG charts of a run or of ensemble bands, with policy and model-release dates marked.

Every chart function takes ``runs``: a mapping ``label -> data`` where data is either one run's
series (a DataFrame with a ``date`` column) or ensemble bands ``{column: DataFrame(median, p10,
p90) indexed by date}`` as made by :func:`experiments.ensemble.band`. One run draws lines; bands
draw the median with the 10-90% range shaded; several labels are overlaid (one line style each),
which is how ``h100sim compare`` shows two scenarios. Figures are built without pyplot (Agg
canvas), so this is safe in worker processes and in the app.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.dates as mdates  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402
from matplotlib.transforms import blended_transform_factory  # noqa: E402

Event = tuple[dt.date, str, str]  # (date, label, kind)


@dataclass(frozen=True)
class ChartSpec:
    title: str
    ylabel: str
    columns: tuple[tuple[str, str], ...]  # (series column, legend label)


CHARTS: dict[str, ChartSpec] = {
    "prices": ChartSpec("H100 rental price by tier", "USD per GPU-hour", (
        ("spot_price", "spot"),
        ("ondemand_price", "on-demand"),
        ("reserved_price", "reserved"),
        ("small_cluster_price", "small cluster (<=4 nodes)"),
        ("large_cluster_price", "large cluster (>=16 nodes)"),
    )),
    "lead_time": ChartSpec("Lead time for new H100 servers", "weeks", (
        ("lead_time_weeks", "lead time"),
    )),
    "gpu_hours": ChartSpec("GPU-hours by use", "GPU-hours per week", (
        ("gpu_hours_training", "training"),
        ("gpu_hours_finetune", "fine-tuning"),
        ("gpu_hours_inference", "inference"),
    )),
    "teams": ChartSpec("Teams training from scratch vs fine-tuning", "teams", (
        ("teams_training", "training"),
        ("teams_finetuning", "fine-tuning"),
    )),
    "card_prices": ChartSpec("H100 card price", "USD per card", (
        ("card_price_new", "new (list)"),
        ("card_price_secondary", "secondary market"),
        ("grey_card_price", "grey market (China)"),
    )),
    "grey": ChartSpec("Smuggled and seized cards", "cards per week", (
        ("smuggled_cards", "smuggled"),
        ("seized_cards", "seized"),
    )),
    "installed": ChartSpec("Installed H100s and new orders", "GPUs", (
        ("gpus_installed", "installed"),
        ("new_card_orders", "new orders per week"),
    )),
}

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf")
STYLES = ("-", "--", ":", "-.")
EVENT_COLORS = {"policy": "#b22222", "open-weights": "#2e8b57", "release": "#2e8b57",
                "market": "#1f4e79", "supply": "#6a3d9a"}


def _finite(values: Any):
    """Float array with +-inf as NaN (matplotlib cannot draw infinity)."""
    arr = np.array(values, dtype=float)
    arr[~np.isfinite(arr)] = np.nan
    return arr


def _as_bands(data: Any, columns: Iterable[str]) -> dict[str, pd.DataFrame]:
    """One run's frame -> {column: DataFrame(median)}; bands pass through."""
    if isinstance(data, pd.DataFrame):
        idx = pd.DatetimeIndex(pd.to_datetime(data["date"])) if "date" in data.columns else data.index
        return {c: pd.DataFrame({"median": data[c].to_numpy(dtype=float)}, index=idx)
                for c in columns if c in data.columns}
    return {c: data[c] for c in columns if c in data}


def merge_events(events_by_label: Mapping[str, Sequence[Event]]) -> list[Event]:
    """Union of several runs' events; an event not in every run gets ``(in X)`` appended."""
    labels = list(events_by_label)
    where: dict[tuple, list[str]] = {}
    for label in labels:
        for ev in events_by_label[label] or ():
            d, text, kind = ev[0], ev[1], ev[2] if len(ev) > 2 else ""
            where.setdefault((d, text, kind), []).append(label)
    out = []
    for (d, text, kind), present in sorted(where.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if len(labels) > 1 and len(set(present)) < len(labels):
            text = f"{text} (in {', '.join(dict.fromkeys(present))})"
        out.append((d, text, kind))
    return out


def _group_events(events: Sequence[Event], x_range: tuple | None, days: int = 21) -> list[Event]:
    """Events inside the x range; those within ``days`` of the first of a group share one line."""
    groups: list[list] = []
    for ev in sorted(events, key=lambda e: e[0]):
        ts = pd.Timestamp(ev[0])
        if x_range is not None and not (x_range[0] <= ts <= x_range[1]):
            continue
        kind = ev[2] if len(ev) > 2 else ""
        if groups and (ts - groups[-1][0]).days <= days:
            groups[-1][1].append(str(ev[1]))
        else:
            groups.append([ts, [str(ev[1])], kind])
    return [(ts, " / ".join(labels), kind) for ts, labels, kind in groups]


def draw_events(ax, events: Sequence[Event] | None, x_range: tuple | None = None) -> None:
    """Vertical lines with rotated labels at each event date inside the x range.

    Events close together (within 2.5% of the x span, at least three weeks) share a line and a
    label, shortened to fit the axes.
    """
    if not events:
        return
    trans = blended_transform_factory(ax.transData, ax.transAxes)
    span_days = (x_range[1] - x_range[0]).days if x_range is not None else None
    # a rotated 6-pt label fits about (axes height in points / 3.6) characters
    height_pt = ax.get_window_extent().height * 72.0 / ax.figure.dpi
    max_chars = max(12, int(0.95 * height_pt / 3.6))
    # events closer than ~2.5% of the x span (at least three weeks) would overprint: merge them
    days = max(21, int(0.025 * span_days)) if span_days else 21
    for ts, text, kind in _group_events(events, x_range, days):
        color = EVENT_COLORS.get(kind, "#555555")
        ax.axvline(ts, color=color, lw=0.8, alpha=0.55, ls="--", zorder=1)
        if len(text) > max_chars:
            text = text[:max_chars - 1] + "…"
        # labels sit left of their line, except near the left edge where they would be cut off
        near_left = span_days and (ts - x_range[0]).days < 0.04 * span_days
        ax.text(ts, 0.98, text, transform=trans, rotation=90, va="top",
                ha="left" if near_left else "right", fontsize=6, color=color, alpha=0.9,
                clip_on=True)


def _human(x: float, _pos=None) -> str:
    """Tick label with a k/M/B suffix instead of an offset like 1e8."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:g}{suffix}"
    return f"{x:g}"


def _format_axes(ax, title: str, ylabel: str) -> None:
    ax.yaxis.set_major_formatter(FuncFormatter(_human))
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, alpha=0.25)


def draw_chart(ax, spec: ChartSpec, runs: Mapping[str, Any], events: Sequence[Event] | None) -> None:
    """Draw one chart spec for one or more runs (frames or bands) onto ``ax``."""
    cols = [c for c, _ in spec.columns]
    lo_x, hi_x = None, None
    many = len(runs) > 1
    for r, (label, data) in enumerate(runs.items()):
        style = STYLES[r % len(STYLES)]
        b = _as_bands(data, cols)
        for k, (col, col_label) in enumerate(spec.columns):
            if col not in b:
                continue
            frame = b[col]
            x = pd.DatetimeIndex(frame.index)
            color = COLORS[k % len(COLORS)]
            name = f"{label}: {col_label}" if many else col_label
            ax.plot(x, _finite(frame["median"]), color=color, ls=style, lw=1.4, label=name)
            if "p10" in frame and "p90" in frame:
                ax.fill_between(x, _finite(frame["p10"]), _finite(frame["p90"]), color=color,
                                alpha=0.12 if many else 0.2, lw=0)
            if len(x):
                lo_x = x.min() if lo_x is None else min(lo_x, x.min())
                hi_x = x.max() if hi_x is None else max(hi_x, x.max())
    if lo_x is not None:
        ax.set_xlim(lo_x, hi_x)
    draw_events(ax, events, (lo_x, hi_x) if lo_x is not None else None)
    _format_axes(ax, spec.title, spec.ylabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def chart(name: str, runs: Mapping[str, Any], events: Sequence[Event] | None, path: str | Path,
          *, title: str | None = None, context: str | None = None) -> Path:
    """Write chart ``name`` (a key of :data:`CHARTS`) as a PNG and return its path.

    ``context`` (the scenario and seed(s), e.g. ``"baseline, seed 0"``) is added to the title,
    so that a copied PNG still says which run it shows."""
    spec = CHARTS[name]
    if title or context:
        text = title or spec.title
        spec = ChartSpec(f"{text} ({context})" if context else text, spec.ylabel, spec.columns)
    fig = Figure(figsize=(9, 4), dpi=110)
    draw_chart(fig.add_subplot(1, 1, 1), spec, runs, events)
    return _save(fig, path)


def _save(fig: Figure, path: str | Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    return Path(path)


def write_run_charts(df: pd.DataFrame, events: Sequence[Event] | None, out_dir: str | Path,
                     *, label: str = "run", context: str | None = None) -> list[Path]:
    """All :data:`CHARTS` for one run, as ``<out_dir>/<name>.png`` (``context`` in each title)."""
    return write_band_charts({label: df}, events, out_dir, context=context)


def write_band_charts(runs: Mapping[str, Mapping[str, pd.DataFrame]],
                      events: Sequence[Event] | Mapping[str, Sequence[Event]] | None,
                      out_dir: str | Path, *, context: str | None = None) -> list[Path]:
    """All :data:`CHARTS` with ensemble bands of one or more scenarios overlaid.

    ``runs`` maps a scenario label to ``{column: band}`` (or to one run's series, as
    :func:`chart` takes either); ``events`` is one list or a mapping
    ``label -> list`` (merged with :func:`merge_events`).
    """
    if isinstance(events, Mapping):
        events = merge_events(events)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [chart(name, runs, events, out / f"{name}.png", context=context) for name in CHARTS]


def chart_columns() -> list[str]:
    """Every series column some chart draws."""
    return list(dict.fromkeys(c for spec in CHARTS.values() for c, _ in spec.columns))


# --------------------------------------------------------------------------------------------
# Validation report: one small chart per target
# --------------------------------------------------------------------------------------------
def target_chart(band_df: pd.DataFrame, target, path: str | Path, *, result=None,
                 base_value: float | None = None, events: Sequence[Event] | None = None,
                 context: str | None = None) -> Path:
    """The ensemble band of a target's metric, its window shaded and the target drawn.

    ``target`` is an :class:`experiments.targets.Target`; ``result`` its TargetResult (the
    ensemble median is written in the title); ``base_value`` the median base statistic for
    ``pct_change`` targets, so the target can be drawn on the series' own scale.
    """
    fig = Figure(figsize=(6, 2.8), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    x = pd.DatetimeIndex(band_df.index)
    ax.plot(x, _finite(band_df["median"]), color=COLORS[0], lw=1.3, label="median")
    ax.fill_between(x, _finite(band_df["p10"]), _finite(band_df["p90"]),
                    color=COLORS[0], alpha=0.2, lw=0, label="10-90%")
    w0, w1 = pd.Timestamp(target.window[0]), pd.Timestamp(target.window[1])
    ax.axvspan(w0, w1, color="#999999", alpha=0.18, lw=0, label="window")
    if target.base_window is not None:
        ax.axvspan(pd.Timestamp(target.base_window[0]), pd.Timestamp(target.base_window[1]),
                   color="#e6c200", alpha=0.18, lw=0, label="base window")
    tcolor = "#d62728"
    trans_x = blended_transform_factory(ax.transData, ax.transAxes)
    values = target.value if target.op == "between" else (target.value,)
    if target.is_date:
        for v in values:
            ax.axvline(pd.Timestamp(v), color=tcolor, lw=1.2, ls="--")
        if target.op == "between":
            ax.axvspan(pd.Timestamp(values[0]), pd.Timestamp(values[1]), ymin=0, ymax=0.06,
                       color=tcolor, alpha=0.6, lw=0)
        ax.text(pd.Timestamp(values[0]), 0.95, f"target {target.describe()}", transform=trans_x,
                fontsize=7, color=tcolor, va="top")
    else:
        levels = None
        if target.stat in ("max", "min", "mean", "median", "first", "last"):
            levels = [float(v) for v in values]
        elif target.stat == "pct_change" and base_value is not None and math.isfinite(base_value):
            levels = [base_value * (1.0 + float(v)) for v in values]
        if levels is not None:
            span = (w0, w1)
            if target.op == "between":
                ax.fill_between(list(span), [levels[0]] * 2, [levels[1]] * 2, color=tcolor,
                                alpha=0.2, lw=0)
            for lev in levels:
                ax.plot(list(span), [lev, lev], color=tcolor, lw=1.2, ls="--")
            ax.plot([], [], color=tcolor, ls="--", label=f"target ({target.describe()})")
        else:  # a sum is not on the series' scale: state the target in words
            ax.text(0.01, 0.95, f"target: {target.stat} {target.describe()}", transform=ax.transAxes,
                    fontsize=7, color=tcolor, va="top")
    if len(x):
        ax.set_xlim(x.min(), x.max())
    draw_events(ax, events, (x.min(), x.max()) if len(x) else None)
    from experiments.catalogue import series_unit

    title = f"{target.id}: {target.metric}"
    if result is not None:
        from experiments.targets import format_value

        verdict = "PASS" if result.passed else "FAIL"
        title += f"  [{target.stat} = {format_value(result.median)} (median over seeds), {verdict}]"
    if context:
        title += f"\n{context}"
    _format_axes(ax, title, f"{target.metric} ({series_unit(target.metric)})")
    ax.title.set_fontsize(8)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _save(fig, path)


def safe_name(text: str) -> str:
    """A file-name-safe form of a target id or label."""
    keep = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(text))
    return keep.strip("._") or "chart"


__all__ = [
    "CHARTS", "ChartSpec", "chart", "chart_columns", "draw_chart", "draw_events", "merge_events",
    "safe_name", "target_chart", "write_band_charts", "write_run_charts",
]
