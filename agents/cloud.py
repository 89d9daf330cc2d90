"""Cloud: a hyperscaler or a private cloud that buys cards and sells their hours.

It posts an on-demand list price per GPU-hour and reviews it in discrete steps (hyperscalers
quarterly, private clouds monthly): up when it turns customers away, down when its fleet sits idle.
Reservations are sold at a discount to list. It orders new cards when a new card's expected return
(IRR over its life, with the rent expected to revert to the long-run cost price) beats its hurdle
rate, sizing the order from the demand it served and the demand it had to turn away. Private
clouds pay more for capital but extrapolate good times longer, and hand unsold hours to resellers.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from agents.base import Firm
from model.contracts import LARGE, SMALL
from model.finance import cost_price, new_card_irr


class Cloud(Firm):
    kind = "cloud"

    def __init__(self, model, spec):
        super().__init__(model, spec.name, spec.region)
        c = model.cfg.cloud
        self.cloud_kind = spec.kind
        self.private = spec.kind == "private"
        self.list_price = spec.ondemand_price
        self.legacy0 = float(spec.legacy_gpus)
        self.favoured = spec.favoured
        self.own_chips = spec.own_chips
        self.size = spec.size
        self.hurdle = c.private_hurdle if self.private else c.hyperscaler_hurdle
        self.review_weeks = c.private_review_weeks if self.private else c.hyperscaler_review_weeks
        self.halflife = c.private_halflife_weeks if self.private else c.hyperscaler_halflife_weeks
        self.offset = int(model.rng.integers(self.review_weeks))
        self.large_eq = 0.0            # new capacity built as large InfiniBand clusters
        self._capacity_key = None      # (week, fleet, large_eq) of the cached capacity()
        self.util = 0.5                # recent utilisation, all sales (moving average)
        self.util_list = 0.5           # recent utilisation from sales at list (on demand, reserved)
        self.unmet = 0.0               # recent demand turned away at list price, GPUs
        self.revenue_rate = self.list_price  # recent revenue per GPU-hour sold
        self.irr = float("nan")
        self.reseller = None
        self.demand_hist: deque = deque(maxlen=27)   # weekly demand seen (sold + turned away)

    # -- capacity -------------------------------------------------------------------------------
    def legacy(self) -> float:
        """The A100-era fleet, ageing out linearly."""
        years = self.model.steps / 52.0
        return self.legacy0 * max(0.0, 1.0 - years / self.model.cfg.supply.legacy_retire_years)

    def capacity(self) -> np.ndarray:
        """GPUs (H100-eq) per tier: [small, large] (read-only; kept until the week or the fleet
        changes, as markets and settlement ask for it many times a week)."""
        fleet = self.fleet_eq
        if self._capacity_key != (self.model.steps, fleet, self.large_eq):
            share = self.model.cfg.cloud.large_tier_share
            legacy = self.legacy()
            self.large_eq = min(self.large_eq, fleet)
            large = self.large_eq + legacy * share
            self._capacity = np.array([fleet + legacy - large, large])
            self._capacity.setflags(write=False)
            self._capacity_key = (self.model.steps, fleet, self.large_eq)
        return self._capacity

    def on_delivery(self, eq: float) -> None:
        """Build new cards into large clusters as far as large reservations need, else by share."""
        m = self.model
        cap = self.capacity()
        gap = m.reservations.committed(m.steps, len(m.clouds), LARGE, horizon=26)[self.cloud_index] - cap[LARGE]
        to_large = float(min(max(max(m.cfg.cloud.large_tier_share * eq, gap), 0.0), eq))
        self.large_eq += to_large

    def reserved_rate(self, weeks: int) -> float:
        c = self.model.cfg.cloud
        return self.list_price * (c.reserved_discount_1y if weeks <= 52 else c.reserved_discount_3y)

    def spot_floor(self) -> float:
        """Private clouds hand unsold hours to resellers, asking at least this; hyperscalers do not."""
        if not self.private:
            return float("nan")
        c = self.model.cfg.cloud
        return max(c.opex_per_gpu_hour, c.spot_floor_share * self.list_price)

    def vendor_weight(self) -> float:
        v = self.model.cfg.vendor
        w = 1.0
        if self.favoured:
            w *= v.favoured_weight
        if self.own_chips:
            w *= v.own_chip_weight
        return w

    # -- decisions ------------------------------------------------------------------------------
    def step(self) -> None:
        m = self.model
        if (m.steps + self.offset) % self.review_weeks == 0:
            self.reprice()
        if (m.steps + self.offset) % m.cfg.cloud.order_review_weeks == 0:
            self.order()

    def reprice(self) -> None:
        """Raise list when customers willing to pay it are turned away; cut it when the hours
        sold at list (on demand and reserved) leave the fleet idle."""
        c = self.model.cfg.cloud
        cap = max(self.capacity().sum(), 1.0)
        if self.unmet / cap > 0.05:
            self.list_price *= 1.0 + c.price_step_up
        elif self.util_list < c.target_utilization - 0.1:
            self.list_price *= 1.0 - c.price_step_down
        self.list_price = max(self.list_price, 3.0 * c.opex_per_gpu_hour)

    def expected_irr(self) -> float:
        m = self.model
        c = m.cfg.cloud
        capex = m.card_price_new + c.infra_capex_per_gpu
        life = m.cfg.supply.card_life_years
        util = float(min(max(self.util, 0.2), 1.0))
        p_lr = cost_price(capex, c.opex_per_gpu_hour, c.target_utilization, life, self.hurdle)
        return new_card_irr(capex, self.revenue_rate, p_lr, self.halflife, util,
                            c.opex_per_gpu_hour, life)

    def order(self) -> None:
        m = self.model
        c = m.cfg.cloud
        self.irr = self.expected_irr()
        excess = self.irr - self.hurdle if np.isfinite(self.irr) else -1.0
        if excess <= 0:
            return
        growth = min(0.25, c.order_aggressiveness * excess)
        cap = self.capacity().sum()
        demand = self.util * cap + self.unmet
        # Cards ordered today arrive after the lead time: size the order to the demand expected
        # then, extrapolating the last half-year's growth (capped, at most half a year ahead).
        if len(self.demand_hist) == self.demand_hist.maxlen and self.demand_hist[0] > 0:
            trend = float(min(max(demand / self.demand_hist[0], 0.5), 3.0))
            demand *= trend ** (min(m.lead_time_weeks, 26.0) / 26.0)
        target = demand / c.target_utilization * (1.0 + growth)
        backlog = m.orders.backlog_of(self.account)
        qty = target - cap - backlog
        price = m.card_price_new + c.infra_capex_per_gpu
        room = (self.cash + m.credit_limit(self) - backlog * m.card_price_new) / price
        qty = min(qty, room)
        if qty > 1:
            m.place_order(self, "H100 SXM5", qty, nextgen_ok=True)

    # -- feedback from the hours market ----------------------------------------------------------
    def on_week(self, sold: float, sold_at_list: float, unmet: float, revenue: float) -> None:
        cap = max(self.capacity().sum(), 1e-9)
        self.util = 0.8 * self.util + 0.2 * min(1.0, sold / cap)
        self.util_list = 0.8 * self.util_list + 0.2 * min(1.0, sold_at_list / cap)
        self.unmet = 0.8 * self.unmet + 0.2 * unmet
        self.demand_hist.append(self.util * cap + self.unmet)
        if sold > 0:
            self.revenue_rate = 0.8 * self.revenue_rate + 0.2 * revenue / (sold * 168.0)
