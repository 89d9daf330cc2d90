"""What the model reports: the weekly series, the agent frame, the trade log and chart events.

Series are reporter functions over this week's values (``Recorder.now``), collected by Mesa's
DataCollector: prices come from the markets that publish them, aggregates (use, installed cards,
utilisation, teams, the return on a new card) are computed here. Nothing here changes the world.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import deque

import mesa
import numpy as np
import pandas as pd

from agents.registry import kinds_in_build_order, kinds_in_frame_order
from model.mechanisms.finance import cost_price, new_card_irr
from model.mechanisms.vocabulary import (
    FINETUNE,
    FINETUNE_MODE,
    HOURS_PER_WEEK,
    INFERENCE,
    LARGE,
    TRAIN,
    TRAIN_MODE,
)

#: Model-level series, in order. Other tools rely on these names.
SERIES = (
    "date",
    "spot_price",
    "ondemand_price",
    "reserved_price",
    "small_cluster_price",
    "large_cluster_price",
    "card_price_new",
    "card_price_secondary",
    "grey_card_price",
    "lead_time_weeks",
    "utilization",
    "gpus_installed",
    "gpu_hours_training",
    "gpu_hours_finetune",
    "gpu_hours_inference",
    "training_share",
    "teams_training",
    "teams_finetuning",
    "resold_hours",
    "smuggled_cards",
    "seized_cards",
    "new_card_orders",
    "new_capacity_irr",
)
#: Extra series kept for explanation and the app.
EXTRA_SERIES = (
    "open_quality",
    "frontier_quality",
    "funding_climate",
    "backlog_cards",
    "reservations_gpus",
    "grey_card_price_cny",
    "vendor_output",
    "unmet_gpus",
    # No price without a trade: each market's volume this week, and the standing quote that its
    # price series leaves NaN in a week without a trade.
    "spot_volume",
    "small_cluster_volume",
    "large_cluster_volume",
    "secondary_volume",
    "grey_volume",
    "small_cluster_quote",
    "large_cluster_quote",
    "secondary_quote",
    "grey_quote",
    # Two kinds of clouds: hyperscalers' and private clouds' capacity-weighted lists.
    "hyperscaler_ondemand_price",
    "private_ondemand_price",
    # The next generation (Blackwell) apart from Hopper: cards installed, list price, queue.
    "nextgen_installed",
    "nextgen_card_price",
    "nextgen_lead_time_weeks",
    # Inference served on other parts (L40S, MI300X, TPUs), H100-equivalent hours.
    "alt_inference_hours",
    # Owners' costs against prices (USD per GPU-hour) and the capacity left idle (powered down).
    "cash_cost",
    "full_cost",
    "idle_gpus",
    # Entry and exit: teams founded and closed this week (teams/week).
    "training_teams_founded",
    "training_teams_closed",
    "finetune_teams_founded",
    "finetune_teams_closed",
    # GPU-backed debt (agents/lender.py): principal outstanding (USD), cards sold this week under a
    # lender's order or by a lender, and borrowers that defaulted this week.
    "debt_outstanding",
    "forced_sale_cards",
    "defaults",
    # Hopper-class cards (H100, H800, H20) held by owners in each region (the fine-tuning teams and
    # grey stock in brokers' hands count where their holders are: US and ROW).
    "gpus_installed_us",
    "gpus_installed_cn",
    "gpus_installed_row",
)
#: series a kind of agent reports (``AgentKind.report``), and their value in a world without it
KIND_SERIES = {"debt_outstanding": 0.0, "forced_sale_cards": 0.0, "defaults": 0.0}

#: Series that are NaN in a week without a trade (no price without a trade), or before what they
#: measure exists (the next generation's price and queue; a kind of cloud the world lacks).
MAY_BE_NAN = frozenset(
    {
        "spot_price",
        "small_cluster_price",
        "large_cluster_price",
        "card_price_secondary",
        "grey_card_price",
        "grey_card_price_cny",
        "nextgen_card_price",
        "nextgen_lead_time_weeks",
        "hyperscaler_ondemand_price",
        "private_ondemand_price",
    }
)

#: trade_log rows: (step, seller, buyer, kind, market, volume). Sellers and buyers are agents'
#: unique_id, or "vendor" / "finetuner-pool" (the fine-tuning teams' pooled purchases).
TRADE_KINDS = {
    "vendor": "new cards",
    "reservation": "reserved GPUs",
    "ondemand": "on-demand GPU-hours",
    "resale": "idle hours to resellers",
    "spot": "spot GPU-hours",
    "used_cards": "used cards",
    "grey": "grey-market cards",
    "loan": "GPU-backed loans (USD)",
    "seizure": "cards taken by lenders",
}
TRADE_LOG_ROWS = 20000  # recent trades kept for the network view
#: agent-frame columns, in order
FRAME_COLUMNS = ["step", "date", "agent_id", "kind", "region", "cash", "gpus", "mode", "name"]


class Recorder:
    """This week's values, the collectors behind ``series()`` and ``agent_frame()``, the log."""

    def __init__(self, model):
        self.model = model
        self.trade_log: deque = deque(maxlen=TRADE_LOG_ROWS)
        self.now: dict[str, object] = {}
        pop = model.population
        self.series_collector = mesa.DataCollector(
            model_reporters={name: _reporter(name) for name in SERIES + EXTRA_SERIES}
        )
        framed = [k for k in kinds_in_frame_order() if k.frame and not k.pooled and pop.of(k.name)]
        self._framed = framed
        self.agent_collector = mesa.DataCollector(
            agenttype_reporters={
                k.cls: {"name": "name", "region": "region", "cash": "cash", "gpus": "gpus", "mode": "mode"}
                for k in framed
            }
        )
        self._pool_snapshots: list[tuple] = []  # (step, cash, gpus, active, closed) arrays
        self.team_stride = team_stride(len(pop.finetuners), model.cfg.run.agent_data_teams)

    # -- the trade log -----------------------------------------------------------------------------
    def log_trade(self, seller, buyer, kind: str, volume: float) -> None:
        if volume > 0:
            self.trade_log.append((self.model.steps, seller, buyer, kind, TRADE_KINDS[kind], float(volume)))

    def log_rows(self, step: int, seller, buyers: list, kind: str, volumes: list) -> None:
        """Many trades by one seller (buyers and volumes as lists; zero volumes are skipped)."""
        append, market = self.trade_log.append, TRADE_KINDS[kind]
        for buyer, vol in zip(buyers, volumes):
            if vol > 0:
                append((step, seller, buyer, kind, market, vol))

    # -- the week ----------------------------------------------------------------------------------
    def record(self) -> None:
        """Read this week's values: each market and the drivers report what they publish; the
        aggregates over agents (use, teams, installed cards, utilisation, the return on a new
        card) are computed here; then collect them."""
        m = self.model
        hours, reservations, used_cards, grey = m.hours, m.reservations, m.used_cards, m.grey
        for market in (hours, reservations, used_cards, grey):
            market.publish()
        now = self.now
        now["date"] = m.date
        for part in (m.new_cards, hours, reservations, used_cards, grey, m.drivers):
            now.update(part.report())
        now.update(KIND_SERIES)
        for kind in kinds_in_build_order():
            if kind.report is not None and m.population.of(kind.name):
                now.update(kind.report(m, m.population.of(kind.name)))
        used = np.asarray(hours.used, dtype=np.float64)
        now["gpu_hours_training"] = float(used[TRAIN] * HOURS_PER_WEEK)
        now["gpu_hours_finetune"] = float(used[FINETUNE] * HOURS_PER_WEEK)
        now["gpu_hours_inference"] = float(used[INFERENCE] * HOURS_PER_WEEK)
        total = used.sum()
        now["training_share"] = float(used[TRAIN] / total) if total > 0 else 0.0
        pop = m.population
        modes = [c.mode for c in pop.creators if c.active]
        now["teams_training"] = modes.count(TRAIN_MODE)
        now["teams_finetuning"] = modes.count(FINETUNE_MODE) + pop.finetuners.count_active()
        now["training_teams_founded"] = pop.founded.get("creator", 0)
        now["training_teams_closed"] = pop.closed.get("creator", 0)
        now["finetune_teams_founded"] = pop.founded.get("finetuner", 0)
        now["finetune_teams_closed"] = pop.closed.get("finetuner", 0)
        held = m.cards.balance[pop.owner_accounts]
        pooled = float(m.cards.balance[pop.finetuners.account].sum())  # fine-tuning teams: US
        now["gpus_installed"] = float(held.sum()) + pooled
        now["nextgen_installed"] = float(m.nextgen_cards.balance[pop.owner_accounts].sum())
        regions = self._owner_regions()
        for region in ("US", "CN", "ROW"):
            extra = pooled if region == "US" else 0.0
            now[f"gpus_installed_{region.lower()}"] = float(held[regions == region].sum()) + extra
        own_eq = sum(cr.fleet_eq for cr in pop.creators if cr.build_own)
        capacity = hours.cloud_capacity.sum() + own_eq
        now["utilization"] = utilization = float(min(1.0, total / capacity)) if capacity > 0 else 0.0
        now["idle_gpus"] = float(max(capacity - total, 0.0))
        now["cash_cost"], now["full_cost"] = self._owner_costs()
        now["new_capacity_irr"] = self._market_irr(utilization)
        self._check_finite()
        self.series_collector.collect(m)

    def _check_finite(self) -> None:
        """Every number a week publishes is finite; only a price of a market that did not trade
        this week (and quotes of what does not exist yet) may be NaN. A model bug shows here, at
        the week it happens, not later as a frozen chart or a crash elsewhere."""
        for name, value in self.now.items():
            if name == "date" or not isinstance(value, (float, int, np.floating, np.integer)):
                continue
            if math.isinf(value) or (math.isnan(value) and name not in MAY_BE_NAN):
                raise FloatingPointError(
                    f"week {self.model.steps} ({self.model.date}): series {name!r} is {value!r}; "
                    "every published number must be finite (NaN only for a price without a trade)"
                )

    def _owner_regions(self) -> np.ndarray:
        """The region of each card owner, in `population.owner_accounts` order (kept until the
        population grows)."""
        owners = self.model.population.owners
        if getattr(self, "_regions_for", None) != len(owners):
            self._regions = np.array([a.region for a in owners])
            self._regions_for = len(owners)
        return self._regions

    def _owner_costs(self) -> tuple[float, float]:
        """The fleet's cost curve: owners' cash cost of an hour (power and what lenders are owed),
        weighted by the capacity each owns, and the full cost of an hour of a card bought today
        (`cost_price` at target utilisation and the hyperscalers' hurdle)."""
        m = self.model
        c = m.cfg.cloud
        owners = [(cl.cash_cost(), float(cl.capacity_total())) for cl in m.population.clouds]
        owners += [
            (cr.cash_cost(), cr.fleet_eq) for cr in m.population.creators if cr.build_own and cr.fleet_eq > 0
        ]
        weight = sum(w for _, w in owners)
        cash = sum(cc * w for cc, w in owners) / weight if weight > 0 else c.power_per_gpu_hour
        capex = m.new_cards.price + c.infra_capex_per_gpu
        full = cost_price(
            capex,
            c.opex_per_gpu_hour,
            c.target_utilization,
            m.cfg.supply.card_life_years,
            c.hyperscaler_hurdle,
        )
        return float(cash), float(full)

    def _market_irr(self, utilization: float) -> float:
        """IRR of a card bought today at the vendor's price, at today's rents and utilisation."""
        m = self.model
        c = m.cfg.cloud
        capex = m.new_cards.price + c.infra_capex_per_gpu
        life = m.cfg.supply.card_life_years
        p_now = m.hours.expected_price(LARGE)
        p_lr = cost_price(capex, c.opex_per_gpu_hour, c.target_utilization, life, c.hyperscaler_hurdle)
        value = new_card_irr(
            capex, p_now, p_lr, c.hyperscaler_halflife_weeks, max(0.2, utilization), c.opex_per_gpu_hour, life
        )
        return float(value) if np.isfinite(value) else -1.0

    def collect_agents(self) -> None:
        m = self.model
        self.agent_collector.collect(m)
        # Pooled teams: the pool's arrays only (copies of every k-th row, or of none); frames are
        # built when asked for.
        k = self.team_stride
        if k == 0:
            return
        pool = m.population.finetuners
        account = pool.account[::k]
        self._pool_snapshots.append(
            (
                m.steps,
                m.cash.balance[account],
                m.cards.balance[account],
                pool.active[::k].copy(),
                pool.closed[::k].copy(),
            )
        )

    # -- outputs -----------------------------------------------------------------------------------
    def series(self) -> pd.DataFrame:
        df = self.series_collector.get_model_vars_dataframe().reset_index(drop=True)
        df["date"] = pd.to_datetime(df["date"]).astype("datetime64[ns]")  # the contract's dtype
        df.index.name = "step"
        return df

    def agent_frame(self) -> pd.DataFrame:
        frames = []
        for kind in self._framed:
            try:
                df = self.agent_collector.get_agenttype_vars_dataframe(kind.cls).reset_index()
            except (KeyError, ValueError, AttributeError):
                continue
            if len(df):
                df = df.rename(columns={"Step": "step", "AgentID": "agent_id"})
                df["kind"] = kind.name
                frames.append(df[["step", "agent_id", "kind", "region", "cash", "gpus", "mode", "name"]])
        pool = self.model.population.finetuners
        all_ids = pool.ids[:: max(self.team_stride, 1)]
        if self._pool_snapshots:
            ft = pd.concat(
                [
                    pd.DataFrame(
                        {
                            "step": step,
                            "agent_id": all_ids[: len(cash)],  # the pool grows: rows then
                            "kind": "finetuner",
                            "region": "US",
                            "cash": cash,
                            "gpus": gpus,
                            "mode": np.where(active, "finetune", np.where(closed, "closed", "idle")),
                        }
                    )
                    for step, cash, gpus, active, closed in self._pool_snapshots
                ],
                ignore_index=True,
            )
            ft["name"] = "ft-" + ft["agent_id"].astype(str)
            frames.append(ft)
        out = pd.concat(frames, ignore_index=True)
        out["date"] = pd.to_datetime(self.model.start) + pd.to_timedelta(out["step"] * 7, unit="D")
        out = out[FRAME_COLUMNS]
        if self.team_stride != 1:  # a sample of the teams (0: none), see `run.agent_data_teams`
            out.attrs["finetuner_sample_every"] = self.team_stride
        return out

    def events(self) -> list[tuple[dt.date, str, str]]:
        """Dates to mark on charts: launches, rules (announced and in force), open-weight releases,
        and what agents report (GPU-backed debt: defaults and forced sales)."""
        m = self.model
        ev = [
            (dt.date(2022, 11, 30), "ChatGPT", "market"),
            (m.cfg.supply.h100_first_ship, "H100 ships", "supply"),
        ]
        for r in m.rules.rules:
            if r.announce != r.effective:
                ev.append((r.announce, f"{r.name} announced", "policy"))
            ev.append((r.effective, r.name, "policy"))
            if r.rescinded:
                ev.append((r.rescinded, f"{r.name} rescinded", "policy"))
        for rel in m.cfg.openweights.releases:
            ev.append((rel.date, rel.name, "open-weights"))
        for kind in kinds_in_build_order():  # what agents did: defaults, forced sales
            if kind.events is not None and m.population.of(kind.name):
                ev += kind.events(m, m.population.of(kind.name))
        lo, hi = m.start, m.cfg.run.end
        return sorted(e for e in ev if lo <= e[0] <= hi)


def team_stride(teams: int, limit: int) -> int:
    """Which fine-tuning teams the agent frame keeps: every one (1) while a world starts with at
    most `limit` of them, else every k-th (k = ceil(teams / limit), about `limit` rows, the same
    rows every time), so agent data stay flat in the population size; 0 keeps none."""
    if limit <= 0:
        return 0
    return 1 if teams <= limit else -(-teams // limit)


def _reporter(name: str):
    def report(model):
        return model.recorder.now[name]

    report.__name__ = name
    return report
