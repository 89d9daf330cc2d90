"""Vega-Lite chart specs built as plain dicts, for Solara's VegaLite widget.

The app redraws every chart after each step (or every ``render_interval`` steps while playing).
Drawing six matplotlib figures costs ~0.4 s of server time per redraw; building these specs costs a
few milliseconds and the browser draws them. Specs are written by hand rather than through Altair
because Altair's ``to_dict`` validates the whole spec on every call, and because the widget in
solara 1.64.1 loads Vega-Lite 5 (``vega-lite@5``) while Altair 6 writes Vega-Lite 6 specs.

Data travel in wide form (one record per date, one field per series) and are folded in the browser,
which keeps each update small.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"]
EVENT_COLORS = {"policy": "#b22222", "open-weights": "#2e8b57", "release": "#2e8b57",
                "market": "#6a3d9a", "supply": "#1f5fa8"}
EVENT_OTHER = "#555555"
#: type sizes that still read on a projector at the back of a room
CONFIG = {"view": {"stroke": None}, "axis": {"labelFontSize": 12, "titleFontSize": 13},
          "legend": {"labelFontSize": 13}}

Event = tuple  # (datetime.date, label, kind)
#: what each kind of event is called in the events strip
EVENT_KIND_LABELS = {"policy": "policy rule", "open-weights": "open-weight model release",
                     "release": "open-weight model release", "market": "market news",
                     "supply": "supply"}
#: two heights for the event numbers at the top of a chart, so close events do not overprint
NUMBER_ROWS = 2
NUMBER_GAP_DAYS = 45
#: x axis: one labelled tick a year, lighter ticks every quarter
X_AXIS = {"format": "%Y", "tickCount": {"interval": "year", "step": 1}, "labelFontSize": 12,
          "grid": True, "gridColor": "#eee", "labelOverlap": True, "title": None}


def event_color(kind: str) -> str:
    return EVENT_COLORS.get(kind, EVENT_OTHER)


def event_kind_label(kind: str) -> str:
    return EVENT_KIND_LABELS.get(kind, kind or "other")


def _iso(value: Any) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def _clean(x: float, digits: int = 4) -> float | None:
    """A JSON-safe number with ``digits`` significant digits (None for NaN/inf)."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    if x == 0:
        return 0.0
    return float(f"{x:.{digits}g}")


def wide_records(df: pd.DataFrame, fields: Mapping[str, str], start: int = 0
                 ) -> list[dict[str, Any]]:
    """``[{"date": "2023-01-02", label: value, ...}, ...]`` for columns ``fields`` (col -> label),
    from row ``start`` on (the app converts only the weeks added since its last redraw).

    A NaN (a week without a trade) becomes null, which the charts draw as a gap."""
    days = pd.to_datetime(df["date"]).to_numpy(dtype="datetime64[D]")[start:]
    dates = np.datetime_as_string(days, unit="D").tolist()
    cols = {label: df[col].to_numpy(dtype=float)[start:] for col, label in fields.items()
            if col in df.columns}
    out = []
    for i, d in enumerate(dates):
        rec: dict[str, Any] = {"date": d}
        for label, values in cols.items():
            rec[label] = _clean(values[i])
        out.append(rec)
    return out


def event_records(events: Iterable[Event] | None, domain: tuple[Any, Any] | None = None
                  ) -> list[dict[str, Any]]:
    """Events inside the x domain in date order, numbered from 1, each with a row (0 or 1) for its
    number at the top of a chart so that numbers of close events do not print over each other."""
    out: list[dict[str, Any]] = []
    if not events:
        return out
    lo = pd.Timestamp(domain[0]) if domain else None
    hi = pd.Timestamp(domain[1]) if domain else None
    last_in_row: dict[int, pd.Timestamp] = {}
    for ev in sorted(events, key=lambda e: pd.Timestamp(e[0])):
        ts = pd.Timestamp(ev[0])
        if lo is not None and not (lo <= ts <= hi):
            continue
        kind = ev[2] if len(ev) > 2 else ""
        free = [r for r in range(NUMBER_ROWS)
                if r not in last_in_row or (ts - last_in_row[r]).days >= NUMBER_GAP_DAYS]
        row = free[0] if free else min(last_in_row, key=lambda r: last_in_row[r])
        last_in_row[row] = ts
        out.append({"date": _iso(ts), "label": str(ev[1]), "kind": kind or "other", "row": row,
                    "number": len(out) + 1, "kind_label": event_kind_label(kind)})
    return out


def _event_layers(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dashed rules coloured by kind, and the event's number at the top (names: the events strip
    above the charts, and each rule's tooltip)."""
    if not events:
        return []
    kinds = sorted({e["kind"] for e in events})
    color = {"field": "kind", "type": "nominal", "legend": None,
             "scale": {"domain": kinds, "range": [event_color(k) for k in kinds]}}
    data = {"values": events}
    tooltip = [{"field": "number", "title": "event"}, {"field": "label", "title": "name"},
               {"field": "kind_label", "title": "kind"},
               {"field": "date", "type": "temporal", "title": "date", "format": "%d %b %Y"}]
    return [
        {"data": data, "mark": {"type": "rule", "strokeDash": [4, 3], "opacity": 0.55},
         "encoding": {"x": {"field": "date", "type": "temporal"}, "color": color,
                      "tooltip": tooltip}},
        {"data": data,
         "transform": [{"calculate": "-4 - 11 * datum.row", "as": "ypix"}],
         "mark": {"type": "text", "align": "center", "baseline": "bottom", "fontSize": 10,
                  "fontWeight": "bold"},
         "encoding": {"x": {"field": "date", "type": "temporal"},
                      "y": {"field": "ypix", "type": "quantitative", "scale": None},
                      "text": {"field": "number"}, "color": color, "tooltip": tooltip}},
    ]


def _y_axis(records: list[dict[str, Any]], labels: list[str], stacked: bool) -> dict[str, Any]:
    """A handful of y ticks; large numbers in short form (2M, not 2,000,000)."""
    if stacked:
        top = max((sum(r.get(k) or 0 for k in labels) for r in records), default=0)
    else:
        top = max((abs(r.get(k) or 0) for r in records for k in labels), default=0)
    axis: dict[str, Any] = {"tickCount": 5}
    if top >= 10_000:
        axis["format"] = ".3~s"
    return axis


def time_chart(
    df: pd.DataFrame,
    title: str,
    ylabel: str,
    fields: Mapping[str, str],
    *,
    events: Iterable[Event] | None = None,
    x_domain: tuple[Any, Any] | None = None,
    stacked: bool = False,
    height: int = 210,
    y_zero: bool = True,
    records: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A calendar-dated line (or stacked area) chart of ``fields`` (column -> legend label).

    ``records``: ``wide_records(df, fields)`` if the caller already has them."""
    labels = [label for col, label in fields.items() if col in df.columns]
    if records is None:
        records = wide_records(df, fields)
    if x_domain is None and records:
        x_domain = (records[0]["date"], records[-1]["date"])
    x = {"field": "date", "type": "temporal", "title": None, "axis": X_AXIS}
    if x_domain is not None:
        x["scale"] = {"domain": [_iso(x_domain[0]), _iso(x_domain[1])]}
    color = {"field": "series", "type": "nominal", "title": None, "sort": labels,
             "scale": {"domain": labels, "range": COLORS[: len(labels)]},
             "legend": {"orient": "bottom", "direction": "horizontal", "labelLimit": 200,
                        "columns": 3}}
    y = {"field": "value", "type": "quantitative", "title": ylabel,
         "scale": {"zero": y_zero}, "axis": _y_axis(records, labels, stacked)}
    if stacked:
        y["stack"] = "zero"
        mark = {"type": "area", "opacity": 0.85, "interpolate": "monotone",
                "point": len(records) <= 2}
    else:
        # points while there are only a week or two (a line needs two points to show)
        mark = {"type": "line", "strokeWidth": 1.8, "interpolate": "linear",
                "point": len(records) <= 2}
    series_layer = {
        "data": {"values": records},
        "transform": [{"fold": labels, "as": ["series", "value"]}],
        "mark": mark,
        "encoding": {
            "x": x, "y": y, "color": color,
            "tooltip": [{"field": "date", "type": "temporal", "title": "week of",
                         "format": "%d %b %Y"},
                        {"field": "series", "type": "nominal"},
                        {"field": "value", "type": "quantitative", "format": ",.4~g"}],
        },
    }
    if not stacked:
        # A week without a trade (null) is a gap, not a bridge and not a zero: each null starts
        # a new path of its series ("gap" counts the nulls so far), and the nulls are dropped.
        series_layer["transform"] += [
            {"calculate": "datum.value === null ? 1 : 0", "as": "is_gap"},
            {"window": [{"op": "sum", "field": "is_gap", "as": "gap"}],
             "groupby": ["series"], "sort": [{"field": "date"}], "frame": [None, 0]},
            {"filter": "datum.value !== null"}]
        series_layer["encoding"]["detail"] = {"field": "gap", "type": "quantitative"}
    if stacked:
        series_layer["encoding"]["order"] = {"field": "series_order", "type": "quantitative"}
        series_layer["transform"].append(
            {"calculate": " + ".join(
                f"(datum.series === {label!r} ? {k} : 0)" for k, label in enumerate(labels))
                or "0", "as": "series_order"})
    layers = [series_layer]
    evs = event_records(events, x_domain)
    layers.extend(_event_layers(evs))
    return {
        "$schema": SCHEMA,
        "title": {"text": title, "anchor": "start", "fontSize": 14, "offset": 26},
        "width": "container",
        "height": height,
        "layer": layers,
        "resolve": {"scale": {"color": "independent"}},
        "config": CONFIG,
    }


def band_chart(
    bands: Mapping[str, Mapping[str, pd.DataFrame]],
    title: str,
    ylabel: str,
    fields: Mapping[str, str],
    *,
    events: Iterable[Event] | None = None,
    height: int = 210,
) -> dict[str, Any]:
    """Ensemble medians (lines) and 10-90% bands (areas) of several scenarios overlaid.

    ``bands`` maps a scenario label to ``{column: DataFrame(median, p10, p90) indexed by date}``.
    Colour = series, dash = scenario.
    """
    records: list[dict[str, Any]] = []
    scen_labels = list(bands)
    series_labels = []
    for scen, cols in bands.items():
        for col, label in fields.items():
            if col not in cols:
                continue
            if label not in series_labels:
                series_labels.append(label)
            frame = cols[col]
            idx = pd.DatetimeIndex(frame.index).strftime("%Y-%m-%d")
            med = frame["median"].to_numpy(dtype=float)
            p10 = frame["p10"].to_numpy(dtype=float)
            p90 = frame["p90"].to_numpy(dtype=float)
            for i, d in enumerate(idx):
                records.append({"date": d, "scenario": scen, "series": label,
                                "median": _clean(med[i]), "p10": _clean(p10[i]),
                                "p90": _clean(p90[i])})
    lo = min((r["date"] for r in records), default=None)
    hi = max((r["date"] for r in records), default=None)
    x = {"field": "date", "type": "temporal", "title": None, "axis": X_AXIS}
    # two legends side by side at the bottom ran out of the card: the scenarios (dashes) go on
    # top, the series (colours) below, in columns
    color = {"field": "series", "type": "nominal", "title": None,
             "scale": {"domain": series_labels, "range": COLORS[: len(series_labels)]},
             "legend": {"orient": "bottom", "direction": "horizontal", "columns": 3,
                        "labelLimit": 240, "symbolType": "square", "symbolOpacity": 0.9}}
    dash = {"field": "scenario", "type": "nominal", "title": None,
            "scale": {"domain": scen_labels, "range": [[1, 0], [6, 3], [2, 2], [8, 3, 2, 3]]},
            "legend": {"orient": "top", "direction": "horizontal", "labelLimit": 320,
                       "offset": 30,  # above the event numbers
                       "symbolStrokeColor": "#333", "symbolStrokeWidth": 2, "symbolSize": 400}}
    axis = _y_axis([{"p90": r["p90"]} for r in records], ["p90"], False)
    layers: list[dict[str, Any]] = [
        {"mark": {"type": "area", "opacity": 0.15},
         "encoding": {"x": x, "y": {"field": "p10", "type": "quantitative", "title": ylabel,
                                    "axis": axis},
                      "y2": {"field": "p90"}, "color": color,
                      "detail": {"field": "scenario"}}},
        {"mark": {"type": "line", "strokeWidth": 1.8},
         "encoding": {"x": x, "y": {"field": "median", "type": "quantitative", "title": ylabel,
                                    "axis": axis},
                      "color": color, "strokeDash": dash,
                      "tooltip": [{"field": "date", "type": "temporal", "format": "%d %b %Y"},
                                  {"field": "scenario"}, {"field": "series"},
                                  {"field": "median", "format": ",.4~g"},
                                  {"field": "p10", "format": ",.4~g"},
                                  {"field": "p90", "format": ",.4~g"}]}},
    ]
    evs = event_records(events, (lo, hi) if lo else None)
    spec: dict[str, Any] = {
        "$schema": SCHEMA,
        "title": {"text": title, "anchor": "start", "fontSize": 14, "offset": 26},
        "width": "container",
        "height": height,
        "layer": [{"data": {"values": records}, "layer": layers}, *_event_layers(evs)],
        "resolve": {"scale": {"color": "independent"}},
        "config": CONFIG,
    }
    return spec


def horizon(model) -> tuple[dt.date, dt.date]:
    """The run's calendar span, for a fixed x axis that the lines grow into."""
    run = model.config.run
    return run.start, run.end


__all__ = ["band_chart", "event_records", "horizon", "time_chart", "wide_records"]

