""""Who trades with whom": the last few weeks of trades as an interactive network (Vega-Lite).

Nodes are firms: their shape says the kind of firm (cloud, model builder, fine-tuner, reseller,
broker, the chip vendor), their colour the region. A line is what one firm sold to another, its
colour the kind of trade (new cards, used cards, grey-market cards, reserved GPUs, on-demand,
spot and resold GPU-hours), the same colour for the same kind in every frame, and its width the
amount relative to the largest flow of that kind (cards and GPU-hours are not comparable). Kinds
with many small members (the thousands of fine-tuning teams) are drawn as one node per region, so
the picture stays readable. Hover a firm or a line for its trades with units; click a firm (or
choose it in the list) to see its trades in a table and its lines highlighted.

The trades come from ``model.trade_log``: rows of (step, seller_id, buyer_id, kind, market, volume)
as a DataFrame or a list of tuples / dicts. Ids are agents' ``unique_id``, or "vendor" (the chip
vendor) and "finetuner-pool" (the fine-tuning teams' pooled purchases). Hours markets log GPUs for
the week; they are shown as GPU-hours (x 168).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import solara
from mesa.visualization.utils import update_counter
from solara.widgets import VegaLite

from viz import html, vega

TRADE_COLUMNS = ["step", "seller_id", "buyer_id", "kind", "market", "volume"]
#: the market of each kind of trade H100Market logs
KIND_MARKET = {"vendor": "new cards", "used_cards": "used cards", "grey": "grey-market cards",
               "spot": "spot GPU-hours", "reservation": "reserved GPUs"}
#: kinds H100Market logs buyer first: sign_reservation appends (holder, cloud)
BUYER_FIRST = frozenset({"reservation"})
#: ids that are not agents, by role: H100Market logs the vendor as seller -1, the spot pool as
#: seller -2, and the fine-tuning teams' pooled demand lines as buyer -1
SELLER_IDS = {-1: "vendor", -2: "spot-pool"}
BUYER_IDS = {-1: "finetuner-pool", -2: "spot-pool"}
SPECIAL_IDS = {"vendor": ("vendor", "US", "chip vendor"), "spot-pool": ("market", "", "spot pool"),
               "finetuner-pool": ("finetuner", "US", "fine-tuning teams")}
GROUP_OVER = 12  # a (kind, region) with more trading members than this becomes one node
#: GPU-hours in a week: the hours markets log GPUs for the week
HOURS_PER_WEEK = 168


@dataclass(frozen=True)
class TradeKind:
    label: str  # what the legend and the tables call it
    unit: str  # what one unit of ``amount`` is
    factor: float  # amount = logged volume x factor
    color: str


#: every kind of trade the model logs, in legend order, each with its own colour in every frame
TRADE_VIEW: dict[str, TradeKind] = {
    "vendor": TradeKind("new cards (from the vendor)", "cards", 1.0, "#2ca02c"),
    "used_cards": TradeKind("used cards", "cards", 1.0, "#8c564b"),
    "grey": TradeKind("grey-market cards", "cards", 1.0, "#303030"),
    "reservation": TradeKind("reserved GPUs (contracts signed)", "GPUs", 1.0, "#9467bd"),
    "ondemand": TradeKind("on-demand GPU-hours", "GPU-hours", HOURS_PER_WEEK, "#1f77b4"),
    "spot": TradeKind("spot GPU-hours", "GPU-hours", HOURS_PER_WEEK, "#ff7f0e"),
    "resale": TradeKind("idle GPU-hours to resellers", "GPU-hours", HOURS_PER_WEEK, "#17becf"),
}
OTHER_TRADE_COLOR = "#bbbbbb"


def trade_kind(kind: str, market: str = "") -> TradeKind:
    """How a kind of trade is shown; one the app does not know yet keeps its market's name."""
    return TRADE_VIEW.get(kind) or TradeKind(market or kind, "units", 1.0, OTHER_TRADE_COLOR)


KIND_LABELS = {
    "vendor": "chip vendor", "cloud": "cloud", "creator": "model builder",
    "finetuner": "fine-tuning team", "reseller": "reseller", "broker": "grey broker",
    "market": "exchange", "other": "other",
}
#: the shape of each kind of firm (colour is the region)
KIND_SHAPES = {
    "vendor": "diamond", "cloud": "square", "creator": "circle", "finetuner": "triangle-up",
    "reseller": "cross", "broker": "triangle-down", "market": "wedge", "other": "stroke",
}
REGION_LABELS = {"US": "US", "CN": "China", "ROW": "elsewhere", "": "no region"}
REGION_COLORS = {"US": "#3b6fb6", "CN": "#d7263d", "ROW": "#e0a100", "": "#9e9e9e"}
#: shell (ring) of each kind, sellers inside, buyers outside
RINGS = {"vendor": 0, "market": 0, "cloud": 1, "reseller": 1, "broker": 1, "creator": 2,
         "finetuner": 2, "other": 2}
#: firms named on the picture (the rest on hover), and the longest name drawn (pixels)
LABELLED = 14
LABEL_PX = 110


def trade_frame(log: Any) -> pd.DataFrame:
    """``model.trade_log`` in any of its forms as a DataFrame with :data:`TRADE_COLUMNS`."""
    if log is None:
        return pd.DataFrame(columns=TRADE_COLUMNS)
    if isinstance(log, pd.DataFrame):
        df = log
    else:
        rows = list(log)
        if not rows:
            return pd.DataFrame(columns=TRADE_COLUMNS)
        if isinstance(rows[0], dict):
            df = pd.DataFrame(rows)
        elif len(rows[0]) == 5:
            df = pd.DataFrame([tuple(r) for r in rows],
                              columns=["step", "seller_id", "buyer_id", "kind", "volume"])
            swap = df["kind"].isin(BUYER_FIRST).to_numpy()
            if swap.any():
                sellers = df["seller_id"].to_numpy(copy=True)
                df.loc[swap, "seller_id"] = df.loc[swap, "buyer_id"].to_numpy()
                df.loc[swap, "buyer_id"] = sellers[swap]
            df["market"] = df["kind"].map(KIND_MARKET).fillna(df["kind"])
        else:
            df = pd.DataFrame([tuple(r)[: len(TRADE_COLUMNS)] for r in rows], columns=TRADE_COLUMNS)
    missing = [c for c in TRADE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"trade_log lacks columns {missing}; has {list(df.columns)}")
    df = df[TRADE_COLUMNS].copy()
    df["seller_id"] = [SELLER_IDS.get(x, x) if isinstance(x, (int, np.integer)) else x
                       for x in df["seller_id"]]
    df["buyer_id"] = [BUYER_IDS.get(x, x) if isinstance(x, (int, np.integer)) else x
                      for x in df["buyer_id"]]
    df["volume"] = df["volume"].astype(float)
    return df


def agent_index(model) -> dict[Any, tuple[str, str, str]]:
    """unique_id -> (kind, region, name) for every agent of the model."""
    out = {}
    for a in model.agents:
        out[a.unique_id] = (getattr(a, "kind", type(a).__name__.lower()),
                            getattr(a, "region", "") or "", getattr(a, "name", str(a.unique_id)))
    return out


def build_graph(trades: pd.DataFrame, agents: dict[Any, tuple[str, str, str]], *,
                group_over: int = GROUP_OVER) -> nx.MultiDiGraph:
    """Aggregate trades into a graph: seller -> buyer per kind of trade, ``volume`` summed.

    Node attributes: kind, region, label, members (firms behind a grouped node). Edge attributes:
    kind (of trade), market (its label), volume (as logged), amount and unit (as shown).
    """
    g = nx.MultiDiGraph()
    if trades.empty:
        return g

    def describe(x) -> tuple[str, str, str]:
        if x in agents:
            return agents[x]
        if x in SPECIAL_IDS:
            return SPECIAL_IDS[x]
        text = str(x)
        kind = text.split(":", 1)[0] if ":" in text else "other"
        kind = kind if kind in KIND_LABELS else ("vendor" if "vendor" in text.lower() else "other")
        return kind, "", text.split(":", 1)[-1]

    # Each firm's weight: its share of every market it trades in, summed.
    share = trades["volume"].astype(float) / \
        trades.groupby("market")["volume"].transform("sum").astype(float).where(lambda v: v > 0)
    score: dict[Any, float] = defaultdict(float)
    for col in ("seller_id", "buyer_id"):
        for x, v in share.fillna(0.0).groupby(trades[col]).sum().items():
            score[x] += float(v)
    info = {x: describe(x) for x in score}
    members: dict[tuple[str, str], list] = defaultdict(list)
    for x, (kind, region, _) in info.items():
        members[(kind, region)].append(x)
    node_of: dict[Any, str] = {}
    for (kind, region), xs in members.items():
        # Keep the biggest traders of a crowded kind as themselves, the rest as one node.
        xs.sort(key=lambda x: (-score[x], str(x)))
        keep = set(xs if len(xs) <= group_over else xs[: group_over // 2])
        rest = len(xs) - len(keep)
        for x in xs:
            if x in keep:
                node = f"{kind}:{region}:{x}"
                label = info[x][2]
            else:
                node = f"{kind}:{region}:group"
                label = (f"{rest} other {KIND_LABELS.get(kind, kind)}s"
                         + (f" ({region})" if region else ""))
            node_of[x] = node
            if node not in g:
                g.add_node(node, kind=kind, region=region, label=label, members=0)
            g.nodes[node]["members"] += 1
    agg = (trades.assign(src=trades["seller_id"].map(node_of), dst=trades["buyer_id"].map(node_of))
           .groupby(["src", "dst", "kind", "market"], sort=True)["volume"].sum())
    for (src, dst, kind, market), vol in agg.items():
        if vol > 0 and src != dst:
            tk = trade_kind(str(kind), str(market))
            g.add_edge(src, dst, key=str(kind), kind=str(kind), market=tk.label,
                       volume=float(vol), amount=float(vol) * tk.factor, unit=tk.unit)
    g.remove_nodes_from([n for n in list(g.nodes) if g.degree(n) == 0])
    return g


def layout(g: nx.MultiDiGraph) -> dict[str, tuple[float, float]]:
    """Rings by kind (sellers inside, buyers outside); within a ring by kind, then region, then name.

    Deterministic, so the picture does not jump between redraws.
    """
    rings: dict[int, list[str]] = defaultdict(list)
    for n, d in g.nodes(data=True):
        rings[RINGS.get(d["kind"], 2)].append(n)
    pos = {}
    used = sorted(rings)
    # a lone firm in the first ring (the vendor) sits in the middle; the other rings share the
    # radii from 0.55 to 1, so an inner ring is never crowded into the centre
    centre = len(rings[used[0]]) == 1 and len(used) > 1
    outer = used[1:] if centre else used
    for r in used:
        nodes = sorted(rings[r], key=lambda n: (g.nodes[n]["kind"], g.nodes[n]["region"],
                                                 g.nodes[n]["label"]))
        if centre and r == used[0]:
            radius = 0.0
        elif len(outer) == 1:
            radius = 1.0 if len(nodes) > 1 else 0.0
        else:
            radius = 0.55 + 0.45 * outer.index(r) / (len(outer) - 1)
        k = used.index(r)
        for i, n in enumerate(nodes):
            angle = 2 * math.pi * i / max(1, len(nodes)) + 0.3 * k
            pos[n] = (radius * math.cos(angle), radius * math.sin(angle))
    return pos




# ---------------------------------------------------------------------------------------------
# What the picture and the tables say
# ---------------------------------------------------------------------------------------------
def amount_text(amount: float, unit: str) -> str:
    """An amount with its unit: "1,234 cards", "8.1M GPU-hours", "4.5 cards"."""
    a = abs(amount)
    if a >= 1e6:
        num = f"{amount / 1e6:,.1f}M"
    elif a >= 10 or a == 0:
        num = f"{amount:,.0f}"
    else:
        num = f"{amount:.1f}"
    return f"{num} {unit}"


def _summary(edges: list[dict[str, Any]]) -> str:
    """Amounts by kind of trade, largest first: "1,234 new cards; 8.1M spot GPU-hours"."""
    by: dict[tuple[str, str], float] = defaultdict(float)
    for d in edges:
        by[(d["market"], d["unit"])] += d["amount"]
    parts = sorted(by.items(), key=lambda kv: -kv[1])
    return "; ".join(f"{amount_text(a, unit)} ({market})" for (market, unit), a in parts) or "—"


def node_trades(g: nx.MultiDiGraph, node: str) -> list[dict[str, Any]]:
    """Every flow of ``node``: sold to / bought from whom, what, how much (largest first by its
    share of that kind of trade in the window)."""
    totals: dict[str, float] = defaultdict(float)
    for _, _, d in g.edges(data=True):
        totals[d["kind"]] += d["amount"]
    rows = []
    for _, other, d in g.out_edges(node, data=True):
        rows.append({"direction": "sold to", "firm": g.nodes[other]["label"], **d})
    for other, _, d in g.in_edges(node, data=True):
        rows.append({"direction": "bought from", "firm": g.nodes[other]["label"], **d})
    for r in rows:
        r["share"] = r["amount"] / totals[r["kind"]] if totals[r["kind"]] > 0 else 0.0
    return sorted(rows, key=lambda r: (-r["share"], r["firm"]))


def top_flows(g: nx.MultiDiGraph, n: int = 8) -> pd.DataFrame:
    """The ``n`` largest flows by their share of their kind of trade (amounts are comparable only
    within a kind): seller, buyer, market, amount, unit, share of market."""
    rows = [{"seller": g.nodes[u]["label"], "buyer": g.nodes[v]["label"], "market": d["market"],
             "kind": d["kind"], "amount": d["amount"], "unit": d["unit"]}
            for u, v, d in g.edges(data=True)]
    if not rows:
        return pd.DataFrame(columns=["seller", "buyer", "market", "kind", "amount", "unit",
                                     "share of market"])
    df = pd.DataFrame(rows)
    df["share of market"] = df["amount"] / df.groupby("kind")["amount"].transform("sum")
    return df.sort_values("share of market", ascending=False).head(n).reset_index(drop=True)


def flows_table(flows: pd.DataFrame) -> str:
    rows = [(r["seller"], r["buyer"], r["market"], amount_text(r["amount"], r["unit"]),
             f"{r['share of market'] * 100:.0f}%") for _, r in flows.iterrows()]
    return html.table(["seller", "buyer", "kind of trade", "amount (with its unit)",
                       "share of all trades of that kind"], rows, right=(3, 4))


def trades_table(rows: list[dict[str, Any]]) -> str:
    cells = [(r["direction"], r["firm"], r["market"], amount_text(r["amount"], r["unit"]),
              f"{r['share'] * 100:.0f}%") for r in rows]
    return html.table(["", "firm", "kind of trade", "amount (with its unit)",
                       "share of all trades of that kind"], cells, right=(3, 4))


def network_spec(g: nx.MultiDiGraph, title: str, selected: str | None = None
                 ) -> dict[str, Any]:
    """The network as a Vega-Lite spec: lines coloured by kind of trade (fixed colours), firms as
    shapes by kind and colours by region, tooltips with amounts and units; ``selected`` (a node)
    is ringed and every line not its own fades."""
    pos = layout(g)
    if selected not in g:
        selected = None
    top = defaultdict(float)
    for _, _, d in g.edges(data=True):
        top[d["kind"]] = max(top[d["kind"]], d["amount"])
    totals: dict[str, float] = defaultdict(float)
    for _, _, d in g.edges(data=True):
        totals[d["kind"]] += d["amount"]
    edges = []
    for u, v, d in g.edges(data=True):
        (x, y), (x2, y2) = pos[u], pos[v]
        edges.append({
            "src": u, "dst": v, "x": x, "y": y, "x2": x2, "y2": y2,
            "seller": g.nodes[u]["label"], "buyer": g.nodes[v]["label"], "trade": d["market"],
            "amount": amount_text(d["amount"], d["unit"]),
            "share": f"{d['amount'] / totals[d['kind']] * 100:.0f}% of all {d['market']}"
            if totals[d["kind"]] > 0 else "",
            "width": 0.6 + 7.0 * math.sqrt(d["amount"] / top[d["kind"]]) if top[d["kind"]] else 1,
            "faded": selected is not None and selected not in (u, v)})
    weight = {n: sum(d["amount"] / top[d["kind"]] for _, _, d in g.edges(n, data=True))
              + sum(d["amount"] / top[d["kind"]] for _, _, d in g.in_edges(n, data=True))
              for n in g.nodes}
    named = set(sorted(g.nodes, key=lambda n: (-weight[n], str(n)))[:LABELLED])
    if selected is not None:
        named.add(selected)
    nodes = []
    for n, d in g.nodes(data=True):
        x, y = pos[n]
        nodes.append({
            "id": n, "name": d["label"], "x": x, "y": y,
            "firm": KIND_LABELS.get(d["kind"], d["kind"]),
            "region": REGION_LABELS.get(d["region"], d["region"]),
            "firms": d["members"],
            "sold": _summary([e for _, _, e in g.out_edges(n, data=True)]),
            "bought": _summary([e for _, _, e in g.in_edges(n, data=True)]),
            "size": 90 + 45 * math.sqrt(d["members"]) + 260 * math.sqrt(weight[n]),
            "named": n in named, "right": x >= 0,
            "faded": selected is not None and n != selected
            and not g.has_edge(n, selected) and not g.has_edge(selected, n)})
    kinds_present = [k for k in TRADE_VIEW if any(d["kind"] == k for _, _, d in g.edges(data=True))]
    trades = [TRADE_VIEW[k].label for k in kinds_present]
    colors = [TRADE_VIEW[k].color for k in kinds_present]
    others = sorted({d["market"] for _, _, d in g.edges(data=True) if d["kind"] not in TRADE_VIEW})
    trades += others
    colors += [OTHER_TRADE_COLOR] * len(others)
    firm_kinds = [k for k in KIND_LABELS if any(d["kind"] == k for _, d in g.nodes(data=True))]
    regions = [r for r in REGION_LABELS if any(d["region"] == r for _, d in g.nodes(data=True))]
    # room left and right of the outer ring for the names (cut to LABEL_PX pixels)
    x = {"field": "x", "type": "quantitative", "scale": {"domain": [-1.6, 1.6]}, "axis": None}
    y = {"field": "y", "type": "quantitative", "scale": {"domain": [-1.12, 1.12]}, "axis": None}
    faded = {"condition": {"test": "datum.faded", "value": 0.08}}
    legend = {"orient": "right", "labelLimit": 260, "titleFontSize": 12, "labelFontSize": 12}
    line_tip = [{"field": "seller"}, {"field": "buyer"}, {"field": "trade", "title": "kind of trade"},
                {"field": "amount"}, {"field": "share", "title": "share"}]
    node_tip = [{"field": "name"}, {"field": "firm", "title": "kind of firm"},
                {"field": "region"}, {"field": "firms", "title": "firms in this node"},
                {"field": "sold"}, {"field": "bought"}]

    def labels(right: bool) -> dict[str, Any]:
        return {"data": {"values": nodes},
                "transform": [{"filter": f"datum.named && {'datum.right' if right else '!datum.right'}"}],
                "mark": {"type": "text", "align": "left" if right else "right",
                         "dx": 9 if right else -9, "fontSize": 12, "fontWeight": 500,
                         "limit": LABEL_PX},
                "encoding": {"x": x, "y": y, "text": {"field": "name"},
                             "opacity": {**faded, "value": 1}}}

    layers: list[dict[str, Any]] = [
        {"data": {"values": edges},
         "mark": {"type": "rule", "strokeCap": "round"},
         "encoding": {
             "x": x, "y": y, "x2": {"field": "x2"}, "y2": {"field": "y2"},
             "color": {"field": "trade", "type": "nominal", "title": "Kind of trade",
                       "scale": {"domain": trades, "range": colors},
                       "legend": {**legend, "symbolStrokeWidth": 4}},
             "strokeWidth": {"field": "width", "type": "quantitative", "scale": None},
             "opacity": {**faded, "value": 0.7}, "tooltip": line_tip}},
        {"data": {"values": nodes},
         "mark": {"type": "point", "filled": True, "stroke": "white", "strokeWidth": 1},
         "encoding": {
             "x": x, "y": y,
             "shape": {"field": "firm", "type": "nominal", "title": "Kind of firm",
                       "scale": {"domain": [KIND_LABELS[k] for k in firm_kinds],
                                 "range": [KIND_SHAPES[k] for k in firm_kinds]},
                       "legend": {**legend, "symbolFillColor": "#777"}},
             "fill": {"field": "region", "type": "nominal", "title": "Region",
                      "scale": {"domain": [REGION_LABELS[r] for r in regions],
                                "range": [REGION_COLORS[r] for r in regions]},
                      "legend": {**legend, "symbolType": "circle"}},
             "size": {"field": "size", "type": "quantitative", "scale": None},
             "opacity": {**faded, "value": 1}, "tooltip": node_tip}},
        labels(True), labels(False),
    ]
    if selected is not None:
        layers.append({"data": {"values": [r for r in nodes if r["id"] == selected]},
                       "mark": {"type": "point", "filled": False, "stroke": "#000",
                                "strokeWidth": 2.5},
                       "encoding": {"x": x, "y": y,
                                    "size": {"field": "size", "type": "quantitative",
                                             "scale": None, "legend": None}}})
    return {
        "$schema": vega.SCHEMA,
        "title": {"text": title, "anchor": "start", "frame": "group", "fontSize": 14,
                  "subtitle": ["Line width: the amount, relative to the largest flow of the same "
                               "kind (cards, GPUs and GPU-hours do not add up).",
                               "Hover a firm or a line for its trades; click a firm to pick it, "
                               "click the background to let go."],
                  "subtitleFontSize": 12, "subtitleColor": "#555"},
        "width": "container", "height": 540,
        "autosize": {"type": "fit", "contains": "padding"}, "padding": 12,
        "layer": layers,
        "resolve": {"scale": {"color": "independent", "shape": "independent",
                              "fill": "independent", "size": "independent"}},
        "config": {"view": {"stroke": None}},
    }


def recent_trades(model, weeks: int) -> pd.DataFrame:
    trades = trade_frame(getattr(model, "trade_log", None))
    if trades.empty:
        return trades
    first = model.steps - weeks + 1
    return trades[np.asarray(trades["step"], dtype=float) >= first]


def node_choices(g: nx.MultiDiGraph) -> dict[str, str]:
    """Label -> node for the "Show the trades of" list (a label shared by two nodes gets its
    kind and region)."""
    labels: dict[str, list[str]] = defaultdict(list)
    for n, d in g.nodes(data=True):
        labels[d["label"]].append(n)
    out = {}
    for label, ns in sorted(labels.items(), key=lambda kv: kv[0].lower()):
        for n in ns:
            d = g.nodes[n]
            text = label if len(ns) == 1 else (f"{label} ({KIND_LABELS.get(d['kind'], d['kind'])}"
                                               f", {REGION_LABELS.get(d['region'], d['region'])})")
            out[text] = n
    return out


NOBODY = "nobody"


@solara.component
def TradeNetwork(model):
    """The network of the last weeks' trades, the firm picked (by a click or from the list) and
    its trades, and the largest flows; every amount with its unit."""
    update_counter.get()
    from viz.controls import model_lock

    weeks = solara.use_reactive(4)
    picked = solara.use_reactive(None)  # a node id
    with model_lock(model):  # whole weeks only, never one the play loop is writing
        trades = recent_trades(model, weeks.value)
        agents = agent_index(model)
        steps, date = model.steps, model.date
    g = solara.use_memo(lambda: build_graph(trades, agents), [model, steps, weeks.value])
    title = (f"Trades in the {weeks.value} week{'s' if weeks.value > 1 else ''} to "
             f"{date:%d %b %Y}: {g.number_of_nodes()} firms or groups, "
             f"{g.number_of_edges()} flows")
    chosen = picked.value if picked.value in g else None

    def on_click(datum) -> None:
        node = datum.get("id") if isinstance(datum, dict) else None
        picked.set(node if node in g else None)

    chart = solara.use_memo(lambda: VegaLite(listen_to_click=True), [])
    chart.on_click = on_click
    solara.use_effect(lambda: setattr(chart, "spec", network_spec(g, title, chosen)),
                      [g, chosen, title])
    choices = node_choices(g)
    label_of = {n: lab for lab, n in choices.items()}
    with solara.Card("Who trades with whom"):
        solara.SliderInt(f"Weeks shown: {weeks.value}", value=weeks, min=1, max=26)
        solara.Div(children=[chart], style={"min-height": "560px"})
        solara.Select("Show the trades of", values=[NOBODY, *choices],
                      value=label_of.get(chosen, NOBODY),
                      on_value=lambda lab: picked.set(choices.get(lab)),
                      style={"max-width": "420px"})
        if chosen is not None:
            d = g.nodes[chosen]
            who = (f"{d['label']} ({KIND_LABELS.get(d['kind'], d['kind'])}, "
                   f"{REGION_LABELS.get(d['region'], d['region'])}"
                   + (f", {d['members']} firms" if d["members"] > 1 else "") + ")")
            html.HTML(f"<b>Trades of {html.text(who)}</b>"
                      + trades_table(node_trades(g, chosen)), style="margin-bottom:12px")
        flows = top_flows(g)
        if len(flows):
            html.HTML("<b>Largest flows</b> (by share of their kind of trade: cards, GPUs and "
                      "GPU-hours are not added up)" + flows_table(flows))
