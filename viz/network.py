""""Who trades with whom": the last few weeks of trades as a network.

Nodes are firms, coloured by kind (cloud, model builder, fine-tuner, reseller, broker, ...) with a
ring in their region's colour; an edge is the volume one firm sold to another in a market, its width
growing with the volume (scaled within each market, since GPU-hours and cards are not comparable).
Kinds with many small members (the thousands of fine-tuning teams) are drawn as one node per region
so the picture stays readable.

The trades come from ``model.trade_log``: rows of (step, seller_id, buyer_id, kind, market, volume)
as a DataFrame or a list of tuples / dicts. Ids are agents' ``unique_id``, or "vendor" (the chip
vendor) and "finetuner-pool" (the fine-tuning teams' pooled purchases).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import solara
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from mesa.visualization.utils import update_counter

from viz import html

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

KIND_COLORS = {
    "vendor": "#76b900", "cloud": "#1f77b4", "creator": "#d62728", "finetuner": "#ff7f0e",
    "reseller": "#9467bd", "broker": "#7f7f7f", "market": "#17becf", "other": "#bcbd22",
}
KIND_LABELS = {
    "vendor": "chip vendor", "cloud": "cloud", "creator": "model builder",
    "finetuner": "fine-tuning team", "reseller": "reseller", "broker": "grey broker",
    "market": "exchange", "other": "other",
}
REGION_COLORS = {"US": "#1a3d7c", "CN": "#c00000", "ROW": "#2e8b57"}
#: shell (ring) of each kind, sellers inside, buyers outside
RINGS = {"vendor": 0, "market": 0, "cloud": 1, "reseller": 1, "broker": 1, "creator": 2,
         "finetuner": 2, "other": 2}
MARKET_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]


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
    """Aggregate trades into a graph: seller -> buyer per market, ``volume`` summed.

    Node attributes: kind, region, label, members (firms behind a grouped node).
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
        kind = kind if kind in KIND_COLORS else ("vendor" if "vendor" in text.lower() else "other")
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
           .groupby(["src", "dst", "market"], sort=True)["volume"].sum())
    for (src, dst, market), vol in agg.items():
        if vol > 0 and src != dst:
            g.add_edge(src, dst, key=str(market), market=str(market), volume=float(vol))
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
    for k, r in enumerate(used):
        nodes = sorted(rings[r], key=lambda n: (g.nodes[n]["kind"], g.nodes[n]["region"],
                                                 g.nodes[n]["label"]))
        radius = 0.0 if (len(nodes) == 1 and k == 0) else 0.35 + 0.65 * k / max(1, len(used) - 1)
        if len(used) == 1:
            radius = 1.0 if len(nodes) > 1 else 0.0
        for i, n in enumerate(nodes):
            angle = 2 * math.pi * i / max(1, len(nodes)) + 0.3 * k
            pos[n] = (radius * math.cos(angle), radius * math.sin(angle))
    return pos


def draw(g: nx.MultiDiGraph, title: str, *, figsize=(11.5, 8.0), dpi=80) -> Figure:
    fig = Figure(figsize=figsize, dpi=dpi)
    ax = fig.add_axes([0.0, 0.0, 0.74, 0.93])
    ax.set_axis_off()
    fig.suptitle(title, x=0.01, ha="left", fontsize=12)
    if g.number_of_nodes() == 0:
        ax.text(0.5, 0.5, "No trades in this window yet.\nStep the model to see who trades with "
                "whom.", ha="center", va="center", fontsize=12, transform=ax.transAxes)
        return fig
    pos = layout(g)
    markets = sorted({d["market"] for _, _, d in g.edges(data=True)})
    mcolor = {m: MARKET_COLORS[i % len(MARKET_COLORS)] for i, m in enumerate(markets)}
    top = {m: max(d["volume"] for _, _, d in g.edges(data=True) if d["market"] == m)
           for m in markets}
    for m in markets:
        edges = [(u, v) for u, v, d in g.edges(data=True) if d["market"] == m]
        widths = [0.4 + 6.0 * math.sqrt(d["volume"] / top[m])
                  for u, v, d in g.edges(data=True) if d["market"] == m]
        # Straight lines (a LineCollection): arrows are ~10x slower to draw. The direction is
        # the layout's: sellers sit on inner rings, buyers outside.
        nx.draw_networkx_edges(g, pos, edgelist=edges, width=widths, edge_color=mcolor[m],
                               alpha=0.55, arrows=False, ax=ax)
    nodes = list(g.nodes)
    sizes = [120 + 60 * math.sqrt(g.nodes[n]["members"]) +
             40 * math.sqrt(sum(1 for _ in g.neighbors(n))) for n in nodes]
    nx.draw_networkx_nodes(
        g, pos, nodelist=nodes, ax=ax, node_size=sizes,
        node_color=[KIND_COLORS.get(g.nodes[n]["kind"], KIND_COLORS["other"]) for n in nodes],
        edgecolors=[REGION_COLORS.get(g.nodes[n]["region"], "#444444") for n in nodes],
        linewidths=2.2)
    big = sorted(nodes, key=lambda n: -g.degree(n, weight=None))
    labels = {n: g.nodes[n]["label"] for n in big[:40]}
    nx.draw_networkx_labels(g, pos, labels=labels, font_size=7, ax=ax)
    kinds = sorted({g.nodes[n]["kind"] for n in nodes})
    regions = sorted({g.nodes[n]["region"] for n in nodes if g.nodes[n]["region"]})
    handles = [Line2D([], [], marker="o", ls="", markersize=9, markerfacecolor=KIND_COLORS.get(k),
                      markeredgecolor="none", label=KIND_LABELS.get(k, k)) for k in kinds]
    handles += [Line2D([], [], marker="o", ls="", markersize=9, markerfacecolor="white",
                       markeredgecolor=REGION_COLORS.get(r, "#444"), markeredgewidth=2.2,
                       label=f"region {r}") for r in regions]
    handles += [Line2D([], [], color=mcolor[m], lw=3, label=f"{m} (width: volume)")
                for m in markets]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.75, 0.92), fontsize=9,
               frameon=False)
    return fig


def top_flows(g: nx.MultiDiGraph, n: int = 8) -> pd.DataFrame:
    rows = [{"seller": g.nodes[u]["label"], "buyer": g.nodes[v]["label"], "market": d["market"],
             "volume": d["volume"]} for u, v, d in g.edges(data=True)]
    if not rows:
        return pd.DataFrame(columns=["seller", "buyer", "market", "volume"])
    df = pd.DataFrame(rows)
    df["share of market"] = df["volume"] / df.groupby("market")["volume"].transform("sum")
    return df.sort_values("share of market", ascending=False).head(n).reset_index(drop=True)


def recent_trades(model, weeks: int) -> pd.DataFrame:
    trades = trade_frame(getattr(model, "trade_log", None))
    if trades.empty:
        return trades
    first = model.steps - weeks + 1
    return trades[np.asarray(trades["step"], dtype=float) >= first]


@solara.component
def TradeNetwork(model):
    update_counter.get()
    from viz.controls import model_lock

    weeks = solara.use_reactive(4)
    with model_lock(model):  # whole weeks only, never one the play loop is writing
        trades = recent_trades(model, weeks.value)
        agents = agent_index(model)
    g = build_graph(trades, agents)
    title = (f"Trades in the {weeks.value} week{'s' if weeks.value > 1 else ''} to "
             f"{model.date:%d %b %Y}: {g.number_of_nodes()} firms, "
             f"{g.number_of_edges()} flows")
    fig = draw(g, title)
    with solara.Card("Who trades with whom"):
        solara.SliderInt(f"Weeks shown: {weeks.value}", value=weeks, min=1, max=26)
        solara.FigureMatplotlib(fig, format="png", dependencies=[model, model.steps, weeks.value])
        flows = top_flows(g)
        if len(flows):
            rows = [(r["seller"], r["buyer"], r["market"], f"{r['volume']:,.0f}",
                     f"{r['share of market'] * 100:.0f}%") for _, r in flows.iterrows()]
            html.HTML("<b>Largest flows</b>" + html.table(
                ["seller", "buyer", "market", "volume", "share of market"], rows, right=(3, 4)))
