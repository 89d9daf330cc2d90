"""Build the lesson notebooks (docs/teaching/notebooks/lesson*.ipynb) from the cells below.

    .venv/bin/python docs/teaching/build_notebooks.py            # write the four notebooks
    .venv/bin/python docs/teaching/build_notebooks.py --execute  # ... and run them (figures
                                                                 # into notebooks/figures/)
    .venv/bin/python docs/teaching/build_notebooks.py --execute --keep-outputs  # ... saving the
                                                                 # outputs into the .ipynb files

The notebooks are generated, so edit this file, not the .ipynb files. Each notebook saves its
figures as PNG files into $H100SIM_FIGURES (default: ``figures/`` next to the notebook), under the
names the lesson's Markdown refers to. Runs are short (2 seeds, horizon to mid-2025 unless a
lesson needs the full one) so that all four notebooks execute in well under three minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
NB_DIR = HERE / "notebooks"

SETUP = '''\
import os
import datetime as dt
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from model import H100Market, release_model
from experiments.ensemble import band

FIG = Path(os.environ.get("H100SIM_FIGURES") or Path.cwd() / "figures")
FIG.mkdir(parents=True, exist_ok=True)
SEEDS = [0, 1]            # two seeds keep the notebook fast; use range(10) for a real study
END = "2025-06-30"        # shorter than the scenario's horizon (end of 2026), for speed
COLORS = {"baseline": "tab:blue", "double_packaging": "tab:orange", "no_open_weights": "tab:red",
          "no_export_controls": "tab:green", "strict_enforcement": "tab:purple"}


def run(scenario, seed, **overrides):
    """One run: (series, agent_frame)."""
    m = H100Market(scenario=scenario, seed=seed, **overrides)
    try:
        m.run_to_end(progress=False)
        return m.series(), m.agent_frame()
    finally:
        release_model(m)


def ensemble(scenario, seeds=SEEDS, **overrides):
    """Series and agent frames of ``scenario`` for each seed."""
    runs = [run(scenario, s, **overrides) for s in seeds]
    return [r[0] for r in runs], [r[1] for r in runs]


def plot_band(ax, frames, column, label, color):
    """Median across seeds, with the 10-90% band shaded."""
    b = band(frames, column)
    ax.plot(b.index, b["median"], color=color, label=label)
    ax.fill_between(b.index, b["p10"], b["p90"], color=color, alpha=0.2, lw=0)
    return b


def save(fig, name):
    fig.tight_layout()
    fig.savefig(FIG / name, dpi=110)
    print("saved", FIG / name)
'''


def lesson1() -> list:
    return [
        new_markdown_cell("# Lesson 1: Scarcity and allocation\n\nBaseline vs `double_packaging`"
                          " (CoWoS packaging capacity ×2 from 2023). Figures go to "
                          "`$H100SIM_FIGURES` (default `figures/`)."),
        new_code_cell(SETUP),
        new_code_cell('''\
runs = {sc: ensemble(sc, end=END) for sc in ["baseline", "double_packaging"]}
series = {sc: r[0] for sc, r in runs.items()}
for sc, frames in series.items():
    peak = band(frames, "lead_time_weeks")["median"]
    print(f"{sc:18s} peak lead time {peak.max():5.1f} weeks on {peak.idxmax():%Y-%m-%d}")'''),
        new_markdown_cell("## Lead time and backlog\nThe vendor can make only as many cards as "
                          "packaging allows; orders beyond that wait in the backlog."),
        new_code_cell('''\
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for sc, frames in series.items():
    plot_band(axes[0], frames, "lead_time_weeks", sc, COLORS[sc])
    plot_band(axes[1], frames, "backlog_cards", sc, COLORS[sc])
axes[0].set_title("Lead time for new H100 servers"); axes[0].set_ylabel("weeks")
axes[1].set_title("Backlog of ordered cards"); axes[1].set_ylabel("cards")
for ax in axes:
    ax.axvline(pd.Timestamp("2023-04-03"), color="grey", ls=":", lw=1)
    ax.legend()
save(fig, "lesson1_lead_time.png")'''),
        new_code_cell('''\
fig, ax = plt.subplots(figsize=(8, 3.8))
for sc, frames in series.items():
    plot_band(ax, frames, "vendor_output", f"{sc}: output", COLORS[sc])
    b = band(frames, "new_card_orders")
    ax.plot(b.index, b["median"], color=COLORS[sc], ls="--", lw=1, label=f"{sc}: new orders")
ax.set_title("Cards made vs cards ordered, per week"); ax.set_ylabel("cards per week")
ax.legend(fontsize=8)
save(fig, "lesson1_output_orders.png")'''),
        new_markdown_cell("## Signing to get in line\nReservations (3-year terms, mostly prepaid) "
                          "are signed when the lead time is long; demand no one could serve is "
                          "`unmet_gpus`."),
        new_code_cell('''\
fig, ax = plt.subplots(figsize=(8, 3.8))
b = plot_band(ax, series["baseline"], "reservations_gpus", "GPUs under reservation", "tab:blue")
ax.set_ylabel("GPUs under reservation")
ax2 = ax.twinx()
lead = band(series["baseline"], "lead_time_weeks")["median"]
ax2.plot(lead.index, lead, color="black", lw=1, label="lead time")
ax2.axhline(16, color="black", ls=":", lw=1)
ax2.set_ylabel("lead time, weeks (dotted: 16-week panic line)")
ax.set_title("baseline: GPUs under reservation (blue) and the lead time (black)")
save(fig, "lesson1_reservations.png")
growth = b["median"].diff(13)  # GPUs under reservation added over a quarter
print("fastest 13-week growth of reservations ends on", f"{growth.idxmax():%Y-%m-%d}")'''),
        new_markdown_cell("## Prices\nScarce hours and scarce cards: rental spot price and "
                          "the secondary-market card price against the vendor's list."),
        new_code_cell('''\
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for sc, frames in series.items():
    plot_band(axes[0], frames, "spot_price", sc, COLORS[sc])
    plot_band(axes[1], frames, "card_price_secondary", f"{sc}: secondary", COLORS[sc])
    b = band(frames, "card_price_new")
    axes[1].plot(b.index, b["median"], color=COLORS[sc], ls="--", lw=1, label=f"{sc}: list")
axes[0].set_title("Spot price of an H100 hour"); axes[0].set_ylabel("USD per GPU-hour")
axes[1].set_title("H100 card price"); axes[1].set_ylabel("USD per card")
for ax in axes:
    ax.legend(fontsize=8)
save(fig, "lesson1_prices.png")'''),
        new_markdown_cell("## Who got the cards? (quotas)\nThe vendor allocates each week's output "
                          "by quota: favoured customers (CoreWeave) get more weight, hyperscalers "
                          "with their own chips (AWS, GCP) less, and no one more than a quarter of "
                          "a week. The agent frame (every 4 weeks) has each cloud's fleet."),
        new_code_cell('''\
af = runs["baseline"][1][0]
fleet = af[af.kind == "cloud"].pivot_table(index="date", columns="name", values="gpus")
fleet = fleet[fleet.iloc[-1].sort_values(ascending=False).index]
fig, ax = plt.subplots(figsize=(8, 3.8))
ax.stackplot(fleet.index, fleet.T.to_numpy(), labels=fleet.columns)
ax.set_title("baseline, seed 0: H100 fleet by cloud"); ax.set_ylabel("GPUs")
ax.legend(fontsize=7, loc="upper left")
save(fig, "lesson1_allocation.png")
share = fleet.loc[:"2023-12-31"].iloc[-1]
print((share / share.sum()).round(3).to_string())'''),
    ]


def lesson2() -> list:
    return [
        new_markdown_cell("# Lesson 2: From training to fine-tuning\n\nBaseline vs "
                          "`no_open_weights` (open-weight quality frozen from March 2023)."),
        new_code_cell(SETUP),
        new_code_cell('''\
runs = {sc: ensemble(sc, end=END) for sc in ["baseline", "no_open_weights"]}
series = {sc: r[0] for sc, r in runs.items()}
for sc, frames in series.items():
    last = pd.concat(frames).groupby("date").mean(numeric_only=True).iloc[-1]
    print(f"{sc:16s} mid-2025: teams training {last.teams_training:6.1f}, fine-tuning "
          f"{last.teams_finetuning:7.1f}, training share {last.training_share:.2f}, "
          f"spot ${last.spot_price:.2f}")'''),
        new_markdown_cell("## Open-weight quality and who trains"),
        new_code_cell('''\
fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
for sc, frames in series.items():
    plot_band(axes[0], frames, "open_quality", sc, COLORS[sc])
    plot_band(axes[1], frames, "teams_training", sc, COLORS[sc])
    plot_band(axes[2], frames, "teams_finetuning", sc, COLORS[sc])
axes[0].set_title("Best open-weight quality (share of frontier)")
axes[1].set_title("Teams training from scratch")
axes[2].set_title("Teams fine-tuning")
for ax in axes:
    ax.legend(fontsize=8)
save(fig, "lesson2_teams.png")'''),
        new_markdown_cell("## Idle reservations are resold\nTeams that stop training keep their "
                          "reservations and resell the hours."),
        new_code_cell('''\
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for sc, frames in series.items():
    plot_band(axes[0], frames, "resold_hours", sc, COLORS[sc])
    plot_band(axes[1], frames, "training_share", sc, COLORS[sc])
axes[0].set_title("Resold GPU-hours per week"); axes[0].set_ylabel("GPU-hours per week")
axes[1].set_title("Share of GPU-hours used for training")
for ax in axes:
    ax.legend(fontsize=8)
save(fig, "lesson2_resold.png")
for sc, frames in series.items():
    total = np.median([f.resold_hours.sum() for f in frames])
    print(f"{sc:16s} resold hours to mid-2025 (median of seeds): {total / 1e6:6.1f} M")'''),
        new_markdown_cell("## Prices by cluster size\nFine-tuning needs one node; training "
                          "needs 16 or more. Which price falls first?"),
        new_code_cell('''\
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
for ax, (sc, frames) in zip(axes, series.items()):
    plot_band(ax, frames, "small_cluster_price", "small cluster (<=4 nodes)", "tab:orange")
    plot_band(ax, frames, "large_cluster_price", "large cluster (>=16 nodes)", "tab:blue")
    plot_band(ax, frames, "ondemand_price", "hyperscaler on-demand", "tab:gray")
    ax.set_title(sc); ax.set_ylabel("USD per GPU-hour"); ax.legend(fontsize=8)
save(fig, "lesson2_prices.png")
for sc, frames in series.items():
    b = band(frames, "large_cluster_price / small_cluster_price")["median"]
    print(f"{sc:16s} large/small price ratio, mean over 2024: {b.loc['2024'].mean():.2f}")'''),
    ]


def lesson3() -> list:
    return [
        new_markdown_cell("# Lesson 3: Export controls and the grey market\n\nRules are "
                          "predicates over product specs; baseline vs `no_export_controls` vs "
                          "`strict_enforcement`."),
        new_code_cell(SETUP),
        new_markdown_cell("## The rules as data\n`model.mechanisms.rules.RuleBook` answers: may the legal "
                          "channel sell product P to region R on date D?"),
        new_code_cell('''\
from model import load_scenario
from model.mechanisms.products import catalog
from model.mechanisms.rules import RuleBook

book = RuleBook.from_config(load_scenario("baseline"))
parts = ["H100 SXM5", "H100 PCIe", "H800", "A100 80GB", "A800", "L40S", "RTX 4090", "H20", "B200"]
dates = [dt.date(2022, 9, 1), dt.date(2022, 11, 1), dt.date(2023, 6, 1), dt.date(2023, 11, 1),
         dt.date(2025, 6, 1), dt.date(2025, 9, 1)]
cat = catalog()
rows = {}
for p in parts:
    v = [book.verdict(cat[p], "CN", d) for d in dates]
    rows[p] = ["allowed" if x.allowed and not x.fee_share else
               f"licence {x.fee_share:.0%}" if x.allowed else "forbidden" for x in v]
table = pd.DataFrame(rows, index=[f"{d:%Y-%m-%d}" for d in dates]).T
specs = pd.DataFrame({p: {"TPP": cat[p].tpp, "I/O GB/s": cat[p].io_gbps,
                          "density": round(cat[p].density, 2)} for p in parts}).T
print(specs.join(table).to_string())'''),
        new_code_cell('''\
code = {"allowed": 0, "forbidden": 2}
grid = np.array([[code.get(c, 1) for c in r] for r in table.to_numpy()])
fig, ax = plt.subplots(figsize=(9, 4.2))
ax.imshow(grid, cmap=matplotlib.colors.ListedColormap(["#8fd18f", "#f2d16b", "#e57373"]),
          vmin=0, vmax=2, aspect="auto")
ax.set_xticks(range(len(dates)), table.columns, rotation=30)
ax.set_yticks(range(len(parts)), [f"{p} (TPP {cat[p].tpp:,.0f}, {cat[p].io_gbps:.0f} GB/s)"
                                  for p in parts])
for i in range(len(parts)):
    for j in range(len(dates)):
        ax.text(j, i, table.iat[i, j], ha="center", va="center", fontsize=7)
ax.set_title("Sale to China (region CN) through the legal channel, by date")
save(fig, "lesson3_rules.png")'''),
        new_code_cell('''\
names = ["baseline", "no_export_controls", "strict_enforcement"]
runs = {sc: ensemble(sc, end=END) for sc in names}
series = {sc: r[0] for sc, r in runs.items()}'''),
        new_markdown_cell("## Grey-market price and volume"),
        new_code_cell('''\
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for sc, frames in series.items():
    plot_band(axes[0], frames, "grey_card_price / card_price_new", sc, COLORS[sc])
    cum = [f.set_index("date").smuggled_cards.cumsum().rename(i) for i, f in enumerate(frames)]
    axes[1].plot(pd.concat(cum, axis=1).median(axis=1), color=COLORS[sc], label=sc)
axes[0].axhline(1, color="grey", lw=1)
axes[0].set_title("Grey-market premium: grey price / vendor list price")
axes[1].set_title("Smuggled cards, cumulative"); axes[1].set_ylabel("cards")
for ax in axes:
    ax.axvline(pd.Timestamp("2023-10-23"), color="grey", ls=":", lw=1)
    ax.legend(fontsize=8)
save(fig, "lesson3_grey_market.png")'''),
        new_markdown_cell("## Stockpiling\nChinese buyers heard of the October 2023 update in "
                          "August (`heard = 2023-08-15`) and bought what was still legal."),
        new_code_cell('''\
fig, ax = plt.subplots(figsize=(8, 3.8))
for sc in ["baseline", "no_export_controls"]:
    held = [a[(a.region == "CN") & (a.kind == "creator")].groupby("date").gpus.sum()
            for a in runs[sc][1]]
    ax.plot(pd.concat(held, axis=1).median(axis=1), color=COLORS[sc], label=sc)
for d, lab in [("2023-08-15", "heard"), ("2023-10-23", "in force")]:
    ax.axvline(pd.Timestamp(d), color="grey", ls=":", lw=1)
    ax.text(pd.Timestamp(d), ax.get_ylim()[1] * 0.95, " " + lab, fontsize=8)
ax.set_title("GPUs held by Chinese model builders"); ax.set_ylabel("GPUs (H100-equivalents)")
ax.legend(fontsize=8)
save(fig, "lesson3_stockpile.png")
held = pd.concat([a[(a.region == "CN") & (a.kind == "creator")].groupby("date").gpus.sum()
                  for a in runs["baseline"][1]], axis=1).median(axis=1)
rate = held.diff() / 4
for a, b in [("2023-05-01", "2023-08-14"), ("2023-08-15", "2023-10-23"),
             ("2023-10-24", "2024-02-01")]:
    print(f"baseline: CN builders add {rate.loc[a:b].mean():7.0f} GPUs/week from {a} to {b}")'''),
        new_markdown_cell("## Enforcement trade-off\nHigher seizure odds: fewer cards smuggled, "
                          "more seized, a higher grey price. Who pays?"),
        new_code_cell('''\
rows = []
for sc, frames in series.items():
    rows.append({"scenario": sc,
                 "smuggled": np.median([f.smuggled_cards.sum() for f in frames]),
                 "seized": np.median([f.seized_cards.sum() for f in frames]),
                 "grey premium 2023H2": np.median([
                     (f.set_index("date").loc["2023-07":"2023-12"].eval(
                         "grey_card_price / card_price_new")).mean() for f in frames])})
trade = pd.DataFrame(rows).set_index("scenario")
print(trade.round(2).to_string())
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
for ax, col in zip(axes, trade.columns):
    ax.bar(range(len(trade)), trade[col], color=[COLORS[s] for s in trade.index])
    ax.set_xticks(range(len(trade)), [s.replace("_", "\\n") for s in trade.index], fontsize=8)
    ax.set_title(col)
save(fig, "lesson3_enforcement.png")'''),
    ]


def lesson4() -> list:
    return [
        new_markdown_cell("# Lesson 4: Should you buy an H100?\n\nPayback, IRR and utilisation "
                          "with `model.mechanisms.finance`; the model's `new_capacity_irr`; who holds the "
                          "losses. This lesson runs the baseline's full horizon (to end-2026)."),
        new_code_cell(SETUP),
        new_markdown_cell("## Back of the envelope\nAll-in capex ~$50k per H100, running cost "
                          "~$0.14 per hour, five-year life (docs/facts.md §8)."),
        new_code_cell('''\
from model.mechanisms import finance
from model.mechanisms.vocabulary import WEEKS_PER_YEAR

CAPEX, OPEX, LIFE = 50_000.0, 0.14, 5
weeks = int(LIFE * WEEKS_PER_YEAR)
utils = np.linspace(0.2, 1.0, 17)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for price, color in [(4.70, "tab:red"), (2.00, "tab:orange"), (1.00, "tab:blue")]:
    pb, rr = [], []
    for u in utils:
        cf = finance.gpu_cashflows(CAPEX, np.full(weeks, price), u, OPEX)
        pb.append(finance.payback_weeks(cf) / WEEKS_PER_YEAR)
        rr.append(finance.irr(cf))
    axes[0].plot(utils, pb, color=color, label=f"${price:.2f}/h")
    axes[1].plot(utils, rr, color=color, label=f"${price:.2f}/h")
axes[0].axhline(LIFE, color="grey", ls=":"); axes[0].set_ylim(0, 8)
axes[0].set_title("Payback time"); axes[0].set_ylabel("years"); axes[0].set_xlabel("utilisation")
axes[1].axhline(0, color="grey", lw=1)
axes[1].set_title("IRR over a 5-year life"); axes[1].set_xlabel("utilisation")
for ax in axes:
    ax.legend()
save(fig, "lesson4_payback.png")
cf = finance.gpu_cashflows(CAPEX, np.full(weeks, 4.70), 1.0, OPEX)
print(f"$4.70/h, fully used: payback {finance.payback_weeks(cf) / WEEKS_PER_YEAR:.2f} years, "
      f"IRR {finance.irr(cf):.0%}")'''),
        new_code_cell('''\
runs = ensemble("baseline")                     # full horizon
frames, agents = runs
s = pd.concat(frames).groupby("date").mean(numeric_only=True)'''),
        new_markdown_cell("## Expected vs realised IRR\n`new_capacity_irr` is what a cloud "
                          "*expects* a new card to earn when it decides to order. Realised: buy "
                          "a card at the vendor's list price (+$16k of cluster) on a date and "
                          "either (a) rent it out at the model's spot price and utilisation, or "
                          "(b) sign a 3-year reservation at that day's reserved price (fully "
                          "used, prepaid: the customer carries the risk), then rent at spot. Five "
                          "years of life; after the run ends the last price is held."),
        new_code_cell('''\
INFRA = 16_000.0
RESERVED_WEEKS = 156
buy_dates = pd.date_range("2023-01-01", "2025-07-01", freq="QS")


def extend(values, n):
    values = np.asarray(values, dtype=float)[:n]
    return np.concatenate([values, np.full(n - len(values), values[-1])])


realised = []
for d in buy_dates:
    after = s.loc[d:]
    spot = extend(after.spot_price, weeks)
    util = extend(after.utilization, weeks)
    capex = after.card_price_new.iloc[0] + INFRA
    # a card whose rent does not cover its power is switched off: flows never go below zero
    rent = np.maximum(spot * util - OPEX, 0.0) * 168.0
    cf_spot = np.concatenate([[-capex], rent])
    reserved = rent.copy()
    reserved[:RESERVED_WEEKS] = (after.reserved_price.iloc[0] - OPEX) * 168.0
    cf_res = np.concatenate([[-capex], reserved])
    realised.append({"bought": d, "capex": capex,
                     "reserved price": after.reserved_price.iloc[0],
                     "irr spot": finance.irr(cf_spot),
                     "irr reserved": finance.irr(cf_res),
                     "payback years (reserved)": finance.payback_weeks(cf_res) / WEEKS_PER_YEAR})
realised = pd.DataFrame(realised).set_index("bought")
print(realised.round(2).to_string())
print("NaN IRR / inf payback: the card never earns its cost back")
fig, ax = plt.subplots(figsize=(8, 3.8))
plot_band(ax, frames, "new_capacity_irr", "expected IRR (new_capacity_irr)", "tab:blue")
for col, color in [("irr spot", "tab:red"), ("irr reserved", "tab:orange")]:
    y = realised[col]
    ax.plot(realised.index, y, "o-", color=color, label=f"realised, {col.split()[1]}")
    never = y.isna()
    ax.plot(realised.index[never], np.full(never.sum(), -0.95), "x", color=color)
ax.axhline(0.10, color="grey", ls=":", lw=1, label="hyperscaler hurdle 10%")
ax.axhline(0, color="black", lw=0.8)
ax.set_ylim(-1.0, 1.5)
ax.set_title("baseline: expected vs realised IRR of a new H100 (x: never pays back)")
ax.legend(fontsize=8)
save(fig, "lesson4_irr.png")'''),
        new_markdown_cell("## Utilisation and price together"),
        new_code_cell('''\
fig, ax = plt.subplots(figsize=(8, 3.8))
plot_band(ax, frames, "utilization", "utilisation", "tab:green")
ax.set_ylabel("utilisation"); ax.set_ylim(0, 1.05)
ax2 = ax.twinx()
b = band(frames, "spot_price")
ax2.plot(b.index, b["median"], color="tab:red", label="spot price")
ax2.set_ylabel("USD per GPU-hour (red)")
ax.set_title("baseline: utilisation (green) and spot price (red)")
save(fig, "lesson4_utilisation.png")'''),
        new_markdown_cell("## Who holds the losses?\nCash by kind of agent, from the agent "
                          "frame (every 4 weeks), summed over agents, median of seeds. Cash is not "
                          "profit: model builders raise funding rounds, and clouds turn cash "
                          "into cards, so clouds are also shown with their fleet valued at the "
                          "secondary card price."),
        new_code_cell('''\
cash = pd.concat([a.groupby(["date", "kind"]).cash.sum().unstack() for a in agents])
cash = cash.groupby(level=0).median() / 1e9
fleet = pd.concat([a[a.kind == "cloud"].groupby("date").gpus.sum() for a in agents], axis=1)
fleet = fleet.median(axis=1)
# the last used-card trade stands; before the first one, the vendor's list price
card = s.card_price_secondary.ffill().fillna(s.card_price_new)
card = card.reindex(fleet.index, method="nearest")
cloud_worth = cash["cloud"] + fleet * card / 1e9
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
for kind in ["cloud", "reseller", "broker"]:
    axes[0].plot(cash.index, cash[kind] - cash[kind].iloc[0], label=f"{kind}: cash")
axes[0].plot(cloud_worth.index, cloud_worth - cloud_worth.iloc[0], "--", color="tab:blue",
             label="cloud: cash + fleet at secondary price")
for kind in ["creator", "finetuner"]:
    axes[1].plot(cash.index, cash[kind] - cash[kind].iloc[0], label=f"{kind}: cash")
axes[0].set_title("Sellers: change since the start"); axes[1].set_title("Buyers: change since the start")
for ax in axes:
    ax.axhline(0, color="black", lw=0.8); ax.set_ylabel("USD billions"); ax.legend(fontsize=8)
save(fig, "lesson4_cash_by_kind.png")
print("change in cash, USD bn:")
print((cash.iloc[-1] - cash.iloc[0]).round(2).to_string())
print(f"cloud cash + fleet, USD bn: peak {cloud_worth.max() - cloud_worth.iloc[0]:.1f} on "
      f"{cloud_worth.idxmax():%Y-%m-%d}, end {cloud_worth.iloc[-1] - cloud_worth.iloc[0]:.1f}")'''),
    ]


LESSONS = {
    "lesson1_scarcity": lesson1,
    "lesson2_finetuning": lesson2,
    "lesson3_export_controls": lesson3,
    "lesson4_buy_an_h100": lesson4,
}


def build(out_dir: Path = NB_DIR) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, cells in LESSONS.items():
        made = cells()
        for i, cell in enumerate(made):  # stable ids, so a rebuild changes nothing
            cell["id"] = f"{name.split('_')[0]}-{i:02d}"
        nb = new_notebook(cells=made, metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"}})
        path = out_dir / f"{name}.ipynb"
        nbformat.write(nb, path)
        paths.append(path)
    return paths


def execute(path: Path, timeout: int = 600, keep_outputs: bool = False):
    """Run a notebook with its own directory as the working directory; return the executed
    notebook (written back to ``path`` only with ``keep_outputs``)."""
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    if keep_outputs:
        nbformat.write(nb, path)
    return nb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--execute", action="store_true",
                    help="run the notebooks (figures into $H100SIM_FIGURES or notebooks/figures/)")
    ap.add_argument("--keep-outputs", action="store_true",
                    help="with --execute: write the outputs into the .ipynb files")
    args = ap.parse_args(argv)
    for path in build():
        print("wrote", path.relative_to(HERE.parents[1]))
        if args.execute:
            t0 = time.perf_counter()
            execute(path, keep_outputs=args.keep_outputs)
            print(f"executed {path.name} in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
