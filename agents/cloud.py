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
from agents.registry import AgentKind, each, in_turn, register
from model.mechanisms.finance import cost_price, new_card_irr
from model.mechanisms.vocabulary import H100, HOURS_PER_WEEK, LARGE, ONE_YEAR_WEEKS, SMALL, WEEKS_PER_YEAR

SELL_SHARE = 0.02  # share of a fleet offered weekly at its holding value (assumption)
IDLE_SELL_SHARE = 0.1  # and of its idle part (assumption)
COMMITMENT_HORIZON = 520  # weeks ahead a cloud counts reservations already sold
LARGE_BUILD_HORIZON = 26  # weeks ahead of large reservations a cloud builds large clusters


class Cloud(Firm):
    kind = "cloud"
    builds_datacentres = True

    @classmethod
    def populate(cls, model) -> list[Cloud]:
        """The scenario's clouds, each funded in proportion to its size."""
        cfg = model.cfg
        clouds = [cls(model, spec) for spec in cfg.population.clouds]
        for i, c in enumerate(clouds):
            c.cloud_index = i
            per_size = cfg.cloud.private_capital_busd if c.private else cfg.cloud.hyperscaler_capital_busd
            model.fund(c, c.size * per_size * 1e9)
        return clouds

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
        self.large_eq = 0.0  # new capacity built as large InfiniBand clusters
        self._capacity_key = None  # (week, fleet, large_eq) of the cached capacity()
        self.util = 0.5  # recent utilisation, all sales (moving average)
        self.util_list = 0.5  # recent utilisation from sales at list (on demand, reserved)
        self.unmet = 0.0  # recent demand turned away at list price, GPUs
        self.revenue_rate = self.list_price  # recent revenue per GPU-hour sold
        self.irr = float("nan")
        self.reseller = None
        self.buying_used = False  # bought used cards this week (and so sells none)
        self.demand_hist: deque = deque(maxlen=27)  # weekly demand seen (sold + turned away)

    # -- capacity -------------------------------------------------------------------------------
    def legacy(self) -> float:
        """The A100-era fleet, ageing out linearly."""
        years = self.model.steps / WEEKS_PER_YEAR
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
            small = fleet + legacy - large
            self._capacity = np.array([small, large])
            self._capacity.setflags(write=False)
            self._capacity_total = np.float64(0.0 + small + large)  # the bits of .sum(), without the call
            self._capacity_key = (self.model.steps, fleet, self.large_eq)
        return self._capacity

    def capacity_total(self):
        """``capacity().sum()`` (a numpy float), summed once with the capacity it is kept with:
        the cloud's own decisions read it several times a week."""
        self.capacity()
        return self._capacity_total

    def on_delivery(self, eq: float) -> None:
        """Build new cards into large clusters as far as large reservations need, else by share."""
        m = self.model
        cap = self.capacity()
        gap = m.reservations.committed(LARGE, horizon=LARGE_BUILD_HORIZON)[self.cloud_index] - cap[LARGE]
        to_large = float(min(max(max(m.cfg.cloud.large_tier_share * eq, gap), 0.0), eq))
        self.large_eq += to_large

    def reservation_start(self, tier: int, gpus: float) -> int:
        """When a block just sold can start: now if the cloud has room within its reserved share,
        else when the vendor can deliver the cards it orders for the shortfall."""
        m = self.model
        c = m.cfg.cloud
        cap = self.capacity()[tier]
        committed = m.reservations.committed(tier, horizon=COMMITMENT_HORIZON)
        free = c.max_reserved_share * cap - committed[self.cloud_index]
        start = m.steps
        if free < gpus:
            shortfall = gpus - max(free, 0.0)
            start = m.steps + int(np.ceil(m.new_cards.lead_time_weeks))
            ok = m.new_cards.takes_nextgen(self.reserved_rate(weeks=ONE_YEAR_WEEKS), training=tier == LARGE)
            m.new_cards.order(self, H100, shortfall / c.max_reserved_share, nextgen_ok=ok)
        return start

    def reserved_rate(self, weeks: int) -> float:
        c = self.model.cfg.cloud
        discount = c.reserved_discount_1y if weeks <= ONE_YEAR_WEEKS else c.reserved_discount_3y
        return self.list_price * discount

    def spot_floor(self) -> float:
        """A cloud hands the hours on-demand buyers leave to its reseller, asking at least this:
        private clouds a share of list, hyperscalers a deeper discount (preemptible capacity),
        never below the cash cost of running the hour."""
        c = self.model.cfg.cloud
        share = c.spot_floor_share if self.private else c.hyperscaler_spot_share
        return max(self.cash_cost(), share * self.list_price)

    def spot_holdback(self) -> float:
        """GPUs a cloud keeps idle for on-demand buyers instead of selling them on spot: a
        hyperscaler accepts low utilisation and keeps the headroom its target leaves; a private
        cloud sells everything it can."""
        if self.private:
            return 0.0
        return (1.0 - self.model.cfg.cloud.target_utilization) * float(self.capacity_total())

    def full_cost(self) -> float:
        """USD per GPU-hour a card bought today must earn at target utilisation to repay its capex
        and running costs at this cloud's hurdle rate over its life (finance.cost_price)."""
        m = self.model
        c = m.cfg.cloud
        capex = m.new_cards.price + c.infra_capex_per_gpu
        return cost_price(
            capex, c.opex_per_gpu_hour, c.target_utilization, m.cfg.supply.card_life_years, self.hurdle
        )

    # -- decisions ------------------------------------------------------------------------------
    def step(self) -> None:
        m = self.model
        if (m.steps + self.offset) % self.review_weeks == 0:
            self.reprice()
        if (m.steps + self.offset) % m.cfg.cloud.order_review_weeks == 0:
            self.order()

    def reprice(self) -> None:
        """Raise list when customers willing to pay it are turned away; cut it when the hours
        sold at list (on demand and reserved) leave the fleet idle. A private cloud chases
        utilisation; a hyperscaler accepts idle capacity (it sells it as discounted spot) and cuts
        only when a rival undercuts it or its fleet does not earn its cost, and never below full
        cost plus its margin (DOMAIN §1: lists are sticky and move in discrete cuts)."""
        c = self.model.cfg.cloud
        cap = max(self.capacity_total(), 1.0)
        if self.unmet / cap > 0.05:
            self.list_price *= 1.0 + c.price_step_up
        elif self.util_list < c.target_utilization - 0.1 and (self.private or self.cut_is_due()):
            self.list_price *= 1.0 - c.price_step_down
        self.list_price = max(self.list_price, self.list_floor())

    def cut_is_due(self) -> bool:
        """A hyperscaler's reasons to cut: private clouds list for far less, or its hours earn
        less than a new card's full cost."""
        c = self.model.cfg.cloud
        rivals = self.model.hours.private_ondemand_price
        undercut = np.isfinite(rivals) and self.list_price > (1.0 + c.hyperscaler_margin) * rivals
        return bool(undercut or self.revenue_rate * self.util < self.full_cost())

    def list_floor(self) -> float:
        """The lowest list a cloud posts: a hyperscaler's full cost plus its margin; a private
        cloud's cash cost of an hour plus site and staff (what it must charge to stay open)."""
        c = self.model.cfg.cloud
        if not self.private:
            return self.full_cost() * (1.0 + c.hyperscaler_margin)
        return max(3.0 * c.opex_per_gpu_hour, self.cash_cost() + self.site_cost_per_week() / HOURS_PER_WEEK)

    def sells_out(self) -> bool:
        """Whether the cloud sells (nearly) all it can at list: utilisation at list within 0.05 of
        its target, or buyers turned away at list (over 5% of capacity)."""
        c = self.model.cfg.cloud
        cap = max(self.capacity_total(), 1.0)
        return bool(self.util_list >= c.target_utilization - 0.05 or self.unmet / cap > 0.05)

    def marginal_price(self) -> float:
        """What an hour of new capacity would sell for: the list while the cloud sells out at
        it (or turns buyers away), else what its spare hours fetch on spot."""
        m = self.model
        if self.sells_out():
            return self.list_price
        return min(self.list_price, max(m.hours.expected_price(LARGE), m.hours.expected_price(SMALL)))

    def expected_irr(self) -> float:
        m = self.model
        c = m.cfg.cloud
        capex = m.new_cards.price + c.infra_capex_per_gpu
        life = m.cfg.supply.card_life_years
        util = float(min(max(self.util, 0.2), 1.0))
        p_lr = cost_price(capex, c.opex_per_gpu_hour, c.target_utilization, life, self.hurdle)
        return new_card_irr(
            capex, self.marginal_price(), p_lr, self.halflife, util, c.opex_per_gpu_hour, life
        )

    def order(self) -> None:
        m = self.model
        c = m.cfg.cloud
        self.irr = self.expected_irr()
        excess = self.irr - self.hurdle if np.isfinite(self.irr) else -1.0
        if excess <= 0:
            return
        growth = min(0.25, c.order_aggressiveness * excess)
        cap = self.capacity_total()
        demand = self.util * cap + self.unmet
        # Cards ordered today arrive after the lead time: size the order to the demand expected
        # then, extrapolating the last half-year's growth (capped, at most half a year ahead).
        if len(self.demand_hist) == self.demand_hist.maxlen and self.demand_hist[0] > 0:
            trend = float(min(max(demand / self.demand_hist[0], 0.5), 3.0))
            demand *= trend ** (min(m.new_cards.lead_time_weeks, 26.0) / 26.0)
        target = demand / c.target_utilization * (1.0 + growth)
        backlog = m.new_cards.backlog_of(self.account)
        qty = target - cap - backlog
        if qty <= 1:  # nothing to order, whatever the cash and credit
            return
        price = m.new_cards.price + c.infra_capex_per_gpu
        cash = self.cash
        # Credit (never negative) only matters when cash alone does not cover the order.
        if not (cash - backlog * m.new_cards.price) / price >= qty:
            qty = min(qty, (cash + self.credit_limit() - backlog * m.new_cards.price) / price)
        if qty > 1:
            # large clusters are built for frontier training: judge the part by that job
            ok = m.new_cards.takes_nextgen(self.marginal_price(), training=c.large_tier_share >= 0.5)
            m.new_cards.order(self, H100, qty, nextgen_ok=ok)

    # -- the used-card market ------------------------------------------------------------------
    def bid_used_cards(self, market, price: float) -> None:
        """A cloud still waiting for the vendor buys a slice of its backlog used, when the queue
        is long and it can pay `price` (what skipping the queue is worth). A cloud that sells out
        also buys used cards instead of new ones, paying what a card earns at full use, never
        more than a new card (nobody pays more for a used card unless buying new means waiting)."""
        self.bid_to_skip_queue(market, price)
        m = self.model
        self.buying_used = False
        if not self.sells_out():
            return
        value = min(self.holding_value(), m.new_cards.price)
        qty = min(SELL_SHARE * self.capacity_total(), max(self.cash, 0.0) / max(value, 1.0))
        if value > 0 and qty > 1:
            market.bid(self, qty, value)
            self.buying_used = True  # a buyer this week does not also sell

    def offer_used_cards(self, market) -> None:
        """A cloud sells a card to anyone who pays more than the card will earn it at the
        cloud's own utilisation over the life its oldest cards have left (they go first): a small
        share of its fleet each week, more when the fleet sits idle (an idle fleet is worth less
        to its owner than to a busy buyer)."""
        if self.buying_used:
            return
        idle = max(0.0, 1.0 - self.util / self.model.cfg.cloud.target_utilization) * self.gpus
        offer = SELL_SHARE * self.gpus + IDLE_SELL_SHARE * idle
        if offer > 1:
            market.ask(self, offer, self.holding_value(self.util, self.oldest_life_left()))

    # -- running costs -----------------------------------------------------------------------------
    def pay_running_costs(self) -> None:
        """Power for every hour used (idle cards are powered down) and site and staff for every
        installed card, as far as cash and credit reach (DOMAIN §8)."""
        m = self.model
        cap = self.capacity_total()
        used = self.util * cap
        cost = used * m.cfg.cloud.power_per_gpu_hour * HOURS_PER_WEEK + cap * self.site_cost_per_week()
        cash = self.cash
        if not cost <= cash:  # credit (never negative) only matters when cash alone falls short
            cost = min(cost, max(cash + self.credit_limit(), 0.0))
        self.pay(m.acct_power, cost, "opex")

    # -- feedback from the hours market ----------------------------------------------------------
    def on_week(
        self, sold: float, sold_at_list: float, revenue: float, turned_away: float, market_size: float
    ) -> None:
        """Learn from the week: utilisation (all sales, and sales at list), revenue per hour, and
        the demand turned away at this cloud's list price (GPUs of unmet lines whose limit reaches
        it: ``turned_away_at``), shared among clouds by size (a buyer turned away would have tried
        any of them)."""
        unmet = turned_away * self.size / market_size
        cap = max(self.capacity_total(), 1e-9)
        self.util = 0.8 * self.util + 0.2 * min(1.0, sold / cap)
        self.util_list = 0.8 * self.util_list + 0.2 * min(1.0, sold_at_list / cap)
        self.unmet = 0.8 * self.unmet + 0.2 * unmet
        self.demand_hist.append(self.util * cap + self.unmet)
        if sold > 0:
            self.revenue_rate = 0.8 * self.revenue_rate + 0.2 * revenue / (sold * HOURS_PER_WEEK)


register(
    AgentKind(
        "cloud",
        Cloud,
        build=Cloud.populate,
        act=in_turn,
        upkeep=each("pay_running_costs"),
        week_order=10,
        build_order=10,
        frame_order=20,
        colour="#1f77b4",
        label="cloud",
    )
)
