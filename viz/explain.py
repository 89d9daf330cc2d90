"""The "Explain" panel: what is happening in the market at the current date, and why, in plain words.

Everything here is computed from the model's series (one row per week, columns as in
``model.SERIES``) and its events; :func:`explain` is a pure function so it can be tested on made-up
frames. Each rule looks at one part of the market, and returns a sentence and a weight (how big the
change is), so the panel leads with what moved most.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

QUARTER = 13  # weeks
MIN_HISTORY = 6  # weeks before any "up/down since" statement
RECENT_EVENT_WEEKS = 8
#: event kinds (H100Market.events) that are open-weight model releases
RELEASE_KINDS = ("open-weights", "release")
#: the lead time of an order when there is no queue (shipping and installation), in weeks
FLOOR_LEAD_WEEKS = 3.0
#: from this lead time on, a buyer who needs cards now has a reason to pay above list
QUEUE_WEEKS = 8.0


@dataclass(frozen=True)
class Finding:
    weight: float  # larger = said first
    text: str
    topic: str


def _month(ts) -> str:
    return pd.Timestamp(ts).strftime("%B %Y")


def _day(ts) -> str:
    t = pd.Timestamp(ts)
    return f"{t.day} {t.strftime('%B %Y')}"


def _fmt_money(x: float) -> str:
    if abs(x) >= 1000:
        return f"${x:,.0f}"
    return f"${x:,.2f}"


def _fmt_num(x: float) -> str:
    if float(x).is_integer():
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    if abs(x) >= 10:
        return f"{x:.0f}"
    return f"{x:.1f}"


def _ratio_text(r: float) -> str:
    """'3×' for big ratios, 'up 40%' style otherwise (used after 'up'/'down')."""
    if r >= 1.95:
        return f"{r:.0f}×" if r >= 3 else f"{r:.1f}×"
    return f"{abs(r - 1) * 100:.0f}%"


def _val(df: pd.DataFrame, col: str, i: int) -> float:
    if col not in df.columns or not (-len(df) <= i < len(df)):
        return float("nan")
    v = df[col].iloc[i]
    return float(v) if v is not None else float("nan")


def _finite(*xs: float) -> bool:
    return all(x is not None and math.isfinite(x) for x in xs)


def _change(df: pd.DataFrame, col: str, weeks: int) -> tuple[float, float, pd.Timestamp] | None:
    """(now, then, date then) with ``then`` ``weeks`` rows back (or the first row)."""
    if col not in df.columns or len(df) < MIN_HISTORY + 1:
        return None  # too little history to speak of a trend
    j = max(0, len(df) - 1 - weeks)
    now, then = _val(df, col, -1), _val(df, col, j)
    if not _finite(now, then):
        return None
    return now, then, pd.Timestamp(df["date"].iloc[j])


# --------------------------------------------------------------------------------------------
# Rules: each takes the frame up to now (and the events) and returns a Finding or None
# --------------------------------------------------------------------------------------------
def _lead_time(df: pd.DataFrame, events) -> Finding | None:
    ch = _change(df, "lead_time_weeks", QUARTER)
    if ch is None:
        return None
    now, then, when = ch
    col = df["lead_time_weeks"].to_numpy(dtype=float)
    peak_i = int(np.nanargmax(col)) if np.isfinite(col).any() else len(col) - 1
    peak = col[peak_i]
    installed = _change(df, "gpus_installed", QUARTER)
    growth = ""
    if installed and installed[1] > 0 and installed[0] > installed[1] * 1.1:
        growth = (f"; the installed fleet grew {_ratio_text(installed[0] / installed[1])} "
                  f"since {_month(installed[2])}")
    if now >= 8 and now >= then * 1.15 and now - then >= 2:
        return Finding(2 + now / max(then, 1.0), (
            f"New H100 servers are scarce and getting scarcer: an order placed now arrives in about "
            f"{now:.0f} weeks, up from {then:.0f} in {_month(when)}. Demand for compute is growing "
            f"faster than packaging capacity{growth}."), "lead")
    if peak >= 8 and now <= 0.7 * peak and peak_i < len(col) - 1:
        if now < then * 0.9 and now > FLOOR_LEAD_WEEKS + 0.5:
            return Finding(1.5 + peak / max(now, 1.0) / 2, (
                f"Lead times are easing: about {now:.0f} weeks now, down from a peak of "
                f"{peak:.0f} in {_month(df['date'].iloc[peak_i])}, as more cards ship"
                f"{growth}."), "lead")
        return Finding(0.9, (
            f"The queue for new servers is gone: an order arrives in about {now:.0f} weeks, as "
            f"it did before the rush, against a peak of {peak:.0f} weeks in "
            f"{_month(df['date'].iloc[peak_i])}."), "lead")
    if now >= 8:
        return Finding(1.0, f"New H100 servers still take about {now:.0f} weeks to arrive; "
                            "buyers who need capacity now rent it.", "lead")
    if now <= 3 and len(df) > QUARTER:
        return Finding(0.6, f"Cards are easy to get: lead time is about {now:.0f} weeks.", "lead")
    return None


def _spot(df: pd.DataFrame, events) -> Finding | None:
    spot, od = _val(df, "spot_price", -1), _val(df, "ondemand_price", -1)
    if not _finite(spot, od) or od <= 0:
        return None
    ratio = spot / od
    ch = _change(df, "spot_price", QUARTER)
    move = ""
    weight = 0.8
    if ch and ch[1] > 0:
        r = ch[0] / ch[1]
        if r >= 1.15:
            move = f" Spot is up {_ratio_text(r)} since {_month(ch[2])}."
            weight += r - 1
        elif r <= 0.87:
            move = f" Spot is down {_ratio_text(r)} since {_month(ch[2])}."
            weight += 1 / r - 1
    util = _val(df, "utilization", -1)
    util_txt = f" (fleet {util * 100:.0f}% busy)" if _finite(util) and 0 <= util <= 1.5 else ""
    if ratio >= 0.9:
        return Finding(weight + 0.5, (
            f"Idle GPUs are rare{util_txt}: spot hours cost {_fmt_money(spot)} per GPU-hour, "
            f"close to the on-demand {_fmt_money(od)}.{move}"), "spot")
    if ratio <= 0.6:
        return Finding(weight + 0.3, (
            f"There is spare capacity{util_txt}: spot hours sell at {_fmt_money(spot)} per GPU-hour, "
            f"{(1 - ratio) * 100:.0f}% below on-demand ({_fmt_money(od)}).{move}"), "spot")
    if move:
        return Finding(weight, f"Spot hours cost {_fmt_money(spot)} per GPU-hour against "
                               f"{_fmt_money(od)} on demand{util_txt}.{move}", "spot")
    return None


def _resale(df: pd.DataFrame, events) -> Finding | None:
    if "resold_hours" not in df.columns or len(df) < MIN_HISTORY + 1:
        return None
    col = df["resold_hours"].to_numpy(dtype=float)
    now = float(np.nanmean(col[-4:]))  # a month, to smooth week-to-week noise
    j = max(0, len(col) - 1 - 2 * QUARTER)
    then = float(np.nanmean(col[max(0, j - 3): j + 1]))
    if not _finite(now, then) or now <= 0:
        return None
    when = _month(df["date"].iloc[j])
    if then <= 0:
        if len(col) > 4:
            return Finding(1.5, (
                f"Reservation holders have started reselling idle hours: about {_fmt_num(now)} "
                f"GPU-hours a week change hands second-hand, from none in {when}."), "resale")
        return None
    r = now / then
    if r >= 1.5:
        return Finding(1 + r, (
            f"Reservation holders are reselling idle hours: resold hours are up {_ratio_text(r)} "
            f"since {when} (about {_fmt_num(now)} GPU-hours a week), so teams that reserved "
            "early now hold more than they use."), "resale")
    if r <= 0.6:
        return Finding(1 + 1 / r, (
            f"Less capacity is being resold: resold hours are down {_ratio_text(r)} since {when}, "
            "as reservation holders use what they bought."), "resale")
    return None


def _recent_release(events, now: pd.Timestamp, weeks: int = 40):
    best = None
    for ev in events or ():
        kind = ev[2] if len(ev) > 2 else ""
        ts = pd.Timestamp(ev[0])
        if kind in RELEASE_KINDS and now - pd.Timedelta(weeks=weeks) <= ts <= now:
            if best is None or ts > pd.Timestamp(best[0]):
                best = ev
    return best


def _teams(df: pd.DataFrame, events) -> Finding | None:
    tr = _change(df, "teams_training", 2 * QUARTER)
    ft = _change(df, "teams_finetuning", 2 * QUARTER)
    if tr is None or ft is None:
        return None
    (tr_now, tr_then, when), (ft_now, ft_then, _) = tr, ft
    now = pd.Timestamp(df["date"].iloc[-1])
    rel = _recent_release(events, now)
    because = (f" Open-weight models such as {rel[1]} ({_month(rel[0])}) are good enough that "
               "many teams adapt one instead of training their own.") if rel else ""
    if ft_now >= max(ft_then * 1.25, ft_then + 5) and tr_now <= tr_then * 1.05:
        w = 1 + (ft_now / max(ft_then, 1.0)) / 2
        return Finding(w, (
            f"Teams are moving from training to fine-tuning: {_fmt_num(ft_now)} teams fine-tune "
            f"(up from {_fmt_num(ft_then)} in {_month(when)}) while {_fmt_num(tr_now)} train from "
            f"scratch.{because}"), "teams")
    if tr_now >= max(tr_then * 1.25, tr_then + 3):
        return Finding(1 + tr_now / max(tr_then, 1.0) / 2, (
            f"More teams train their own models: {_fmt_num(tr_now)} now, up from "
            f"{_fmt_num(tr_then)} in {_month(when)}, as funding flows in."), "teams")
    if tr_now <= tr_then * 0.75 and tr_then >= 4:
        return Finding(1 + tr_then / max(tr_now, 1.0) / 2, (
            f"Fewer teams train from scratch: {_fmt_num(tr_now)}, down from {_fmt_num(tr_then)} in "
            f"{_month(when)}.{because}"), "teams")
    return None


def _cards(df: pd.DataFrame, events) -> Finding | None:
    new, sec = _val(df, "card_price_new", -1), _val(df, "card_price_secondary", -1)
    if not _finite(new, sec) or new <= 0 or sec <= 0:
        return None
    r = sec / new
    lead = _val(df, "lead_time_weeks", -1)
    if r >= 1.05 and _finite(lead) and lead >= QUEUE_WEEKS:
        return Finding(0.8 + r - 1, (
            f"Used H100 cards sell above list ({_fmt_money(sec)} against {_fmt_money(new)}): buyers "
            f"pay a premium to skip the vendor's queue of about {lead:.0f} weeks."), "cards")
    if r >= 1.05:
        return Finding(0.5, (
            f"Used H100 cards still change hands above the vendor's list price "
            f"({_fmt_money(sec)} against {_fmt_money(new)}), although a new card now arrives in "
            f"about {lead:.0f} weeks: the used market has few sellers."), "cards")
    if r <= 0.8:
        return Finding(0.6 + (1 - r), (
            f"Second-hand H100s sell at {r * 100:.0f}% of the list price ({_fmt_money(sec)}): "
            "cards are no longer the bottleneck."), "cards")
    if _finite(lead) and lead < QUEUE_WEEKS:
        return Finding(0.4, (
            f"Used H100s change hands at {r * 100:.0f}% of the vendor's list ({_fmt_money(sec)}): with "
            "new cards arriving within weeks, nobody pays more for one in hand; idle owners sell to "
            "busy ones."), "cards")
    return None


def _grey(df: pd.DataFrame, events) -> Finding | None:
    if "smuggled_cards" not in df.columns or len(df) < 2:
        return None
    last = df.iloc[-4:]
    smuggled = float(np.nansum(last["smuggled_cards"].to_numpy(dtype=float)))
    seized = float(np.nansum(last["seized_cards"].to_numpy(dtype=float))) \
        if "seized_cards" in df.columns else 0.0
    grey, new = _val(df, "grey_card_price", -1), _val(df, "card_price_new", -1)
    if smuggled <= 0 and seized <= 0:
        return None
    price = ""
    w = 0.7
    if _finite(grey, new) and new > 0 and grey > 0:
        m = grey / new
        price = f" In China an H100 now costs {_fmt_money(grey)} on the grey market, {m:.1f}× list."
        w += max(0.0, m - 1)
    share = f", {seized / (smuggled + seized) * 100:.0f}% of shipments" \
        if smuggled + seized > 0 and seized > 0 else ""
    return Finding(w, (
        f"Export rules push buyers to smugglers: about {_fmt_num(smuggled)} cards were smuggled "
        f"in the last four weeks and {_fmt_num(seized)} seized{share}.{price}"), "grey")


def _events(df: pd.DataFrame, events) -> list[Finding]:
    if not events or len(df) == 0:
        return []
    now = pd.Timestamp(df["date"].iloc[-1])
    out = []
    for ev in events:
        ts = pd.Timestamp(ev[0])
        kind = ev[2] if len(ev) > 2 else ""
        if not (now - pd.Timedelta(weeks=RECENT_EVENT_WEEKS) <= ts <= now):
            continue
        weeks = max(0, (now - ts).days // 7)
        ago = "this week" if weeks == 0 else f"{weeks} week{'s' if weeks > 1 else ''} ago"
        if kind == "policy":
            text = (f"Policy: “{ev[1]}” ({_day(ts)}, {ago}) changes who may buy which chips; "
                    "watch grey-market prices and smuggling.")
        elif kind in RELEASE_KINDS:
            text = (f"Open weights: {ev[1]} was released {ago} ({_day(ts)}); teams that only need "
                    "a good model can fine-tune it instead of training one.")
        else:
            text = f"{ev[1]} ({_day(ts)}, {ago})."
        out.append(Finding(5 - weeks / RECENT_EVENT_WEEKS, text, "event"))
    return out


RULES = (_lead_time, _spot, _resale, _teams, _cards, _grey)


def explain(df: pd.DataFrame, events: Sequence | None = None, *, limit: int = 6) -> list[str]:
    """Sentences about the latest week of ``df`` (a model's series up to now), biggest news first."""
    if df is None or len(df) == 0:
        return ["The model has no data yet."]
    date = pd.Timestamp(df["date"].iloc[-1])
    if len(df) == 1:
        return [f"The market opens in the week of {_day(date)}. Press Step or ▶ to let it run."]
    findings: list[Finding] = list(_events(df, events))
    for rule in RULES:
        f = rule(df, events)
        if f is not None:
            findings.append(f)
    findings.sort(key=lambda f: -f.weight)
    texts = [f.text for f in findings[:limit]]
    if not texts:
        texts = ["Nothing much is changing this quarter: prices, lead times and the mix of "
                 "teams are close to where they were."]
    return texts


def headline(df: pd.DataFrame) -> str:
    """One line with the current date and the main prices."""
    if df is None or len(df) == 0:
        return ""
    date = pd.Timestamp(df["date"].iloc[-1])
    parts = [f"Week of {_day(date)}"]
    for col, label, fmt in (("spot_price", "spot", _fmt_money), ("ondemand_price", "on-demand",
                                                                  _fmt_money),
                            ("lead_time_weeks", "lead time", lambda v: f"{v:.0f} wk"),
                            ("card_price_new", "card", _fmt_money)):
        v = _val(df, col, -1)
        if _finite(v):
            parts.append(f"{label} {fmt(v)}")
    return " · ".join(parts)


# --------------------------------------------------------------------------------------------
# Headline figures
# --------------------------------------------------------------------------------------------
YEAR = 52  # weeks


@dataclass(frozen=True)
class Figure:
    label: str
    value: str
    unit: str
    change: str


def _last_valid(col: pd.Series, upto: int) -> tuple[float, int] | None:
    """The last non-NaN value at or before row ``upto`` and its row (a trade price skips weeks
    without a trade)."""
    vals = col.iloc[: upto + 1].to_numpy(dtype=float)
    ok = np.flatnonzero(np.isfinite(vals))
    if not len(ok):
        return None
    return float(vals[ok[-1]]), int(ok[-1])


def _pct_change(now: float, then: float) -> str:
    if then == 0:
        return "" if now == 0 else "new"
    pct = (now / then - 1) * 100
    if abs(pct) < 0.5:
        return "unchanged"
    return f"{'+' if pct > 0 else '−'}{abs(pct):.0f}%"


def headline_figures(df: pd.DataFrame) -> list[Figure]:
    """The figures above the charts for the latest week: spot and on-demand price, lead time,
    installed cards, training share and smuggled cards this year, each with its unit and its
    change since the same week a year before (or since the start, within the first year)."""
    if df is None or len(df) == 0:
        return []
    i = len(df) - 1
    j = max(0, i - YEAR)
    dates = pd.to_datetime(df["date"])
    since = "on a year before" if i - j == YEAR else f"since {_day(dates.iloc[j])}"
    out: list[Figure] = []

    def figure(col, label, unit, fmt, *, trade=False, points=False):
        if col not in df.columns:
            return
        now = _last_valid(df[col], i) if trade else (_val(df, col, i), i)
        if now is None or not _finite(now[0]):
            out.append(Figure(label, "—", unit, "no trade yet"))
            return
        value, row = now
        note = "" if row == i else f" (last trade {_day(dates.iloc[row])})"
        then = _last_valid(df[col], j) if trade else (_val(df, col, j), j)
        if i == 0 or then is None or not _finite(then[0]):
            change = "start of the run" if i == 0 else ""
        elif points:
            d = (value - then[0]) * 100
            change = f"{'+' if d >= 0 else '−'}{abs(d):.0f} points {since}"
        else:
            change = f"{_pct_change(value, then[0])} {since}"
        out.append(Figure(label, fmt(value), unit, change + note))

    figure("spot_price", "Spot price", "USD per GPU-hour", _fmt_money, trade=True)
    figure("ondemand_price", "On-demand price (clouds)", "USD per GPU-hour", _fmt_money)
    figure("lead_time_weeks", "Lead time, new servers", "weeks", lambda v: f"{v:.0f}")
    figure("gpus_installed", "H100 cards installed", "cards", lambda v: f"{v:,.0f}")
    figure("training_share", "Training's share of hours", "%", lambda v: f"{v * 100:.0f}",
           points=True)
    if "smuggled_cards" in df.columns:
        year = dates.iloc[i].year
        this = df["smuggled_cards"].to_numpy(dtype=float)[(dates.dt.year == year).to_numpy()]
        now_sum = float(np.nansum(this))
        prev_mask = ((dates.dt.year == year - 1) &
                     (dates <= dates.iloc[i] - pd.Timedelta(weeks=YEAR))).to_numpy()
        if dates.iloc[0].year < year:
            prev = float(np.nansum(df["smuggled_cards"].to_numpy(dtype=float)[prev_mask]))
            change = (f"none in {year - 1} to the same week either" if now_sum == prev == 0
                      else f"{_pct_change(now_sum, prev)} on {year - 1} to the same week")
        else:
            change = "first year of the run"
        out.append(Figure(f"Smuggled cards in {year}", f"{now_sum:,.0f}", "cards",
                          change))
    return out
