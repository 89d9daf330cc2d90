"""ModelCreator: a funded team that trains foundation models, fine-tunes open ones, or stops.

Capability is on one scale with the closed frontier and open weights (``model.drivers``): a team
stands `lag` behind the frontier; while it trains it keeps up (its model moves with the frontier),
while it does not it falls behind (its lag grows with part of the frontier's progress). Teams are
founded mid-run when the value of beating the best open model pays for compute
(:func:`found_training_teams`) and start-ups close when their money runs out or they stay idle.

Each quarter it weighs the value of beating the best open-weight model (the edge over open
weights of the model a run would give it) against the compute price it faces, and picks the mode
with the larger surplus:
train from scratch on a large cluster, fine-tune on a small one, or stop. Each week it uses its own
fleet and its reservations first, bids for the rest, and hands idle hours to a reseller. When it
trains and keeps being rationed it reserves capacity for one or three years (three when lead times
are long: signing just to get in the queue). The largest build their own clusters.
"""

from __future__ import annotations

from itertools import chain
from operator import attrgetter
from typing import Any

import numpy as np

from agents.base import Firm
from agents.registry import AgentKind, register
from model.mechanisms.finance import cost_price
from model.mechanisms.vocabulary import (
    FINETUNE,
    FINETUNE_MODE,
    H100,
    HOURS_PER_WEEK,
    HOURS_PER_YEAR,
    IDLE_MODE,
    INFERENCE,
    LARGE,
    ONE_YEAR_WEEKS,
    QUARTER_WEEKS,
    SMALL,
    THREE_YEAR_WEEKS,
    TRAIN,
    TRAIN_MODE,
    WEEKS_PER_YEAR,
)

QUARTER = QUARTER_WEEKS
CLOSED_MODE = "closed"  # a team that has left the market (its firm is inactive)
REGIONS = ("US", "CN", "ROW")
GREY_TRANCHES = (1.0, 0.8, 0.6)  # value of successive thirds of a grey order (assumption)
#: cluster tier of each weekly need: train run, small job, inference
NEED_TIERS = (LARGE, SMALL, SMALL)
#: a builder's state for the week's demand: its numbers and its ids, read in one pass each
_STATE_NUMBERS = attrgetter(
    "fleet_eq", "train_gpus", "v_train", "v_ft", "finetune_gpus", "inference_gpus", "inference_worth"
)
_STATE_IDS = attrgetter("account", "unique_id")


class ModelCreator(Firm):
    kind = "creator"

    @classmethod
    def populate(cls, model) -> list[ModelCreator]:
        """The scenario's named builders, then generated start-ups (US on clouds, China and the
        rest of the world on their own clusters), scaled with the population."""
        pop = model.cfg.population
        clouds = model.population.clouds
        by_name = {c.name: c for c in clouds}
        specs = []
        for row in pop.creators:
            spec = row.to_dict()
            spec["cloud"] = None if row.cloud == "own" else by_name[row.cloud]
            spec["founded"] = max(0, (row.founded - model.start).days // 7) if row.founded else 0
            spec["named"] = True  # named builders stay in the market
            specs.append(spec)
        scale = pop.scale
        specs += generate_creators(model, round(pop.mid_creators * scale), "US", clouds, own=False)
        specs += generate_creators(model, round(pop.cn_mid_creators * scale), "CN", clouds, own=True)
        specs += generate_creators(model, round(pop.row_creators * scale), "ROW", clouds, own=True)
        return [cls(model, s) for s in specs]

    def __init__(self, model, spec: dict):
        super().__init__(model, spec["name"], spec["region"])
        #: the level of its latest model, on the frontier scale
        self.capability = float(spec["capability"])
        #: how far behind the frontier a run would put it (grows while it does not train)
        self.lag = max(0.0, model.drivers.frontier - self.capability)
        self.named = bool(spec.get("named", False))
        self.plan_on_entry = bool(spec.get("plan_on_entry", False))  # founded by the entry rule
        self.closed = False
        self.idle_quarters = 0  # quarterly reviews in a row that chose not to train
        self.train_gpus = float(spec["train_gpus"])
        self.funding = spec["funding_musd"] * 1e6
        self.cloud = spec["cloud"]  # a Cloud agent, or None for own clusters
        self.build_own = spec["build_own"]
        self.favoured = spec["favoured"]
        self.inference_gpus = float(spec["inference_gpus"])
        # what its served tokens are worth, relative to the typical operator's (assumption)
        self.inference_worth = float(model.rng.uniform(0.5, 1.5))
        self.founded = spec["founded"]  # step it enters the market
        self.finetune_gpus = float(model.cfg.demand.finetune_gpus_max)
        self.mode = IDLE_MODE
        self.deployed = False
        self.review_offset = int(model.rng.integers(QUARTER))
        self.reseller = model.random.choice(model.population.resellers)
        self.ask_mult = np.ones(2)  # adaptive ask for idle hours, per tier
        self.rationed = 0.0  # recent share of its training need left unmet
        self.v_train = self.v_ft = 0.0
        self.ordered_for = None  # the rule that a stockpile was ordered for
        self.funded = False
        self.own_used = 0.0  # GPUs of its own fleet it ran this week

    # ------------------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.model.steps >= self.founded and not self.closed

    def step(self, week: dict | None = None) -> None:
        """The builder's week (`week`: a memo shared by the builders' week, see :func:`act`)."""
        self.own_used = 0.0
        m = self.model
        if m.steps < self.founded or self.closed:  # not active
            return
        self.keep_up()
        if not self.funded:
            m.fund(self, self.funding)
            self.funded = True
            if self.plan_on_entry:  # founded because training pays: it decides at once
                self.plan()
        elif (m.steps + self.review_offset) % QUARTER == 0:
            self.plan()
        if self.closed:
            return
        self.procure(week)

    def keep_up(self) -> None:
        """This week's move of the frontier: a training team's model moves with it; an idle
        team's model stays where it is and its lag grows by `idle_falls_behind` of the move."""
        drv = self.model.drivers
        if self.mode == TRAIN_MODE:
            self.capability = max(self.capability, drv.frontier - self.lag)
        elif drv.frontier_move > 0:
            self.lag += self.model.cfg.entry.idle_falls_behind * drv.frontier_move

    def reach(self) -> float:
        """The level a run started now would give it: where the team expects the frontier to be
        when the run ends (today's frontier plus its past-year pace over `outlook_weeks`), less
        its lag."""
        drv = self.model.drivers
        return drv.frontier + drv.frontier_ahead - self.lag

    # -- the quarterly decision -----------------------------------------------------------------
    def values(self) -> tuple[float, float]:
        """Value per GPU-hour of training (from the capability edge) and of fine-tuning."""
        drv = self.model.drivers
        d = self.model.cfg.demand
        edge = self.reach() - drv.open_quality
        v_train = d.value_per_edge_hour * edge * drv.value_climate if edge >= d.train_margin else 0.0
        v_ft = d.value_per_edge_hour * d.finetune_edge * drv.value_climate
        if drv.open_quality < d.finetuner_quality_need_min:
            v_ft = 0.0
        return v_train, v_ft

    def plan(self) -> None:
        m = self.model
        d = m.cfg.demand
        # Funding rounds arrive more often in a warm climate.
        climate = m.drivers.climate
        if m.rng.random() < min(0.95, d.round_prob_per_quarter * climate):
            m.fund(self, self.funding * climate * m.drivers.run_scale * m.rng.uniform(0.3, 1.0))
        self.v_train, self.v_ft = self.values()
        # The price of a training hour is what the team would pay: the market, or a place in the
        # reservation queue at its cloud (later, but at the reserved rate); owners pay their cost.
        p_large, p_small = m.hours.expected_price(LARGE), m.hours.expected_price(SMALL)
        p_train = min(p_large, self.cloud.reserved_rate(THREE_YEAR_WEEKS)) if self.cloud else p_large
        if self.build_own:
            p_train = min(p_train, self.own_cost())
        surplus_train = (
            (self.v_train - p_train) * self.job_gpus() * d.training_duty_cycle
            if self.v_train > 0
            else -np.inf
        )
        surplus_ft = (self.v_ft - p_small) * self.finetune_gpus if self.v_ft > 0 else -np.inf
        best = max(surplus_train, surplus_ft, 0.0)
        if best == surplus_train and best > 0:
            self.mode = TRAIN_MODE
        elif best == surplus_ft and best > 0:
            self.mode = FINETUNE_MODE
        else:
            self.mode = IDLE_MODE
        if self.mode != IDLE_MODE:
            self.deployed = True
        self.idle_quarters = 0 if self.mode == TRAIN_MODE else self.idle_quarters + 1
        self._maybe_build_own(p_large)
        self._maybe_close(p_train)

    # -- exit -------------------------------------------------------------------------------------
    def out_of_money(self, p_train: float) -> bool:
        """Its cash would not pay one week of its training run at the price it faces."""
        week = p_train * self.job_gpus() * self.model.cfg.demand.training_duty_cycle * HOURS_PER_WEEK
        return self.cash < week

    def holds_anything(self) -> bool:
        """Cards (a card or more), reservations, cards on order or in transit: a firm with these
        stays in the market to use, pay for or sell them."""
        m = self.model
        return (
            self.fleet_eq >= 1.0
            or m.reservations.held(self, LARGE, future=True) > 0
            or m.reservations.held(self, SMALL, future=True) > 0
            or m.new_cards.backlog_of(self.account) > 0
            or self.grey_pipeline() > 0
        )

    def _maybe_close(self, p_train: float) -> None:
        """A start-up closes when its money runs out or it has not trained for
        `training_idle_close_quarters` reviews (it was founded to train; fine-tuning alone does
        not keep it), once it holds nothing (named builders stay)."""
        if self.named or self.closed:
            return
        idle_long = self.idle_quarters >= self.model.cfg.entry.training_idle_close_quarters
        if not (idle_long or self.out_of_money(p_train)) or self.holds_anything():
            return
        self.close()

    def close(self) -> None:
        """Leave the market: what is left of its fleet (under a card) is scrapped, its cash goes
        back to its investors, and the firm stays in the books, inactive."""
        m = self.model
        self.retire(0)
        if self.cash > 0:
            m.cash.transfer(self.account, m.acct_investors, self.cash, "exit")
        self.closed = True
        self.mode = CLOSED_MODE
        self.deployed = False
        m.population.count_closed(self.kind, 1)

    def own_cost(self) -> float:
        """Cost per GPU-hour of a card bought today and run for its life (finance.cost_price)."""
        m = self.model
        capex = m.new_cards.price + m.cfg.cloud.infra_capex_per_gpu
        return cost_price(
            capex,
            m.cfg.cloud.opex_per_gpu_hour,
            0.8,
            m.cfg.supply.card_life_years,
            m.cfg.cloud.hyperscaler_hurdle,
        )

    def _maybe_build_own(self, p_large: float) -> None:
        """The largest leave the clouds when owning a cluster costs less than renting one."""
        m = self.model
        if self.build_own or self.region != "US" or self.mode != TRAIN_MODE:
            return
        if self.train_gpus < m.cfg.demand.own_build_min_gpus:
            return
        capex = m.new_cards.price + m.cfg.cloud.infra_capex_per_gpu
        rent = min(p_large, self.cloud.reserved_rate(THREE_YEAR_WEEKS) if self.cloud else p_large)
        if self.own_cost() < 0.6 * rent and self.cash > 0.6 * capex * self.train_gpus:
            self.build_own = True

    # -- securing capacity ----------------------------------------------------------------------
    def target_fleet(self) -> float:
        need = self.job_gpus() if self.mode == TRAIN_MODE else 0.0
        if self.mode == FINETUNE_MODE:
            need = self.finetune_gpus
        return need + self.inference_need()

    def job_gpus(self) -> float:
        """The size of run a team plans: its wish-list cluster scaled by the funding climate and
        by the growth of training runs since the wish lists were drawn up."""
        d = self.model.cfg.demand
        drv = self.model.drivers
        return self.train_gpus * min(3.0, max(0.2, drv.climate / d.wishlist_climate)) * drv.run_scale

    def inference_need(self) -> float:
        return self.inference_gpus * self.model.drivers.inference_index if self.deployed else 0.0

    def procure(self, week: dict | None = None) -> None:
        """Own-cluster builders order cards; training teams that rent reserve clusters."""
        if self.build_own:
            self._order_cards(week)
        elif self.mode == TRAIN_MODE and self.cloud is not None:
            self._reserve()

    def _reserve(self) -> None:
        m = self.model
        d = m.cfg.demand
        held = m.reservations.held(self, LARGE, future=True)
        gap = self.job_gpus() - held
        if gap < d.large_cluster_min_gpus:
            return
        cloud = self.cloud
        rate_1y = cloud.reserved_rate(ONE_YEAR_WEEKS)
        if not (self.rationed > 0.2 or rate_1y < m.hours.expected_price(LARGE)):
            return
        panic = m.new_cards.lead_time_weeks > d.reservation_panic_lead_weeks
        weeks = THREE_YEAR_WEEKS if panic else ONE_YEAR_WEEKS
        rate = cloud.reserved_rate(weeks)
        if rate > self.v_train:
            return
        c = m.cfg.cloud
        prepaid = float(m.rng.uniform(c.prepaid_share_min, c.prepaid_share_max))
        per_gpu = prepaid * rate * HOURS_PER_WEEK * weeks
        budget = d.compute_budget_share * self.cash
        gpus = min(gap, budget / per_gpu) if per_gpu > 0 else gap
        if gpus < d.large_cluster_min_gpus:
            return
        m.reservations.sign(self, cloud, LARGE, gpus, weeks, rate, prepaid)

    def _order_cards(self, week: dict | None = None) -> None:
        """Own-cluster builders order cards from the vendor (legal channel) or via brokers
        (`week`: the builders' week's memo of the legal channel by region, see :func:`act`)."""
        m = self.model
        if self.mode == IDLE_MODE and not self.deployed:
            return  # nothing to run and nothing deployed: no cards to buy
        worth = self.hour_worth()
        # A builder that may rent compares owning with renting; a restricted one (it cannot rent
        # these clusters) compares owning with what its hours are worth to it.
        rent = m.hours.expected_price(LARGE) if self.region != "CN" else 0.0
        if self.own_cost() > max(rent, worth):
            return
        product, perf, pending, h100_barred = legal_channel(m, self.region, week)
        short = self.target_fleet() - self.fleet_eq
        stockpile = pending is not None and self.ordered_for != pending.name
        if short <= 0 and not stockpile:
            return  # cards on order or in transit (never negative) leave the gap below zero
        backlog = m.new_cards.backlog_of(self.account)
        gap = short - backlog - self.grey_pipeline()
        if stockpile:
            # Stockpile: a known rule will close this channel, so order next year's cards now.
            self.ordered_for = pending.name
            gap = max(gap, 0.0) + self.train_gpus * 0.5
        if gap <= 0:
            return
        # Brokers only sell what the legal channel cannot: the full H100 where a rule forbids it.
        if product is not None and perf >= 0.5:
            price = m.new_cards.price_of(product)
            afford = (m.cfg.demand.compute_budget_share * self.cash - backlog * price) / price
            qty = min(gap / perf, afford)
            if qty > 1:
                ok = self.region == "US" and m.new_cards.takes_nextgen(
                    self.hour_worth(), training=self.mode == TRAIN_MODE
                )
                m.new_cards.order(self, product, qty, nextgen_ok=ok)
            if h100_barred and m.new_cards.lead_time_weeks > m.cfg.demand.budget_weeks:
                # Cannot wait for the legal queue: buy part of what is missing *now* (cards in
                # hand, not in the queue) from brokers.
                in_hand = self.fleet_eq + self.grey_pipeline()
                self._bid_grey(0.5 * max(0.0, self.target_fleet() - in_hand))
        elif h100_barred:
            self._bid_grey(gap)

    def hour_worth(self) -> float:
        """What an hour of its own cluster is worth to the builder: its best use this quarter
        (training, fine-tuning) or serving the model it has deployed."""
        v_inf = self.inference_worth * self.model.drivers.inference_value if self.deployed else 0.0
        return max(self.v_train, self.v_ft if self.mode == FINETUNE_MODE else 0.0, v_inf)

    def grey_pipeline(self) -> float:
        return self.model.grey.in_transit_to(self)

    def grey_card_value(self) -> float:
        """What a smuggled H100 is worth to a restricted builder: the hours it will use in
        `card_value_years`, at what an hour is worth to it, but never more than doing the same
        work on the best part it may buy legally (its price per H100 of work, plus what waiting
        in the vendor's queue for it costs). A rule that removes the legal substitute lifts the
        price a builder offers to what the H100's hours are worth to it."""
        m = self.model
        hourly = self.hour_worth()
        value = hourly * HOURS_PER_YEAR * 0.7 * m.cfg.grey.card_value_years
        product, perf = m.new_cards.best_legal_product(self.region)
        if product is None or perf <= 0:
            return value
        wait = min(m.new_cards.lead_time_weeks, WEEKS_PER_YEAR) * hourly * HOURS_PER_WEEK * 0.7
        return min(value, m.new_cards.price_of(product) / perf + wait)

    def _bid_grey(self, gap: float) -> None:
        """Bid for smuggled cards in tranches of falling value: the first cards a team gets are
        worth the most to it (diminishing returns), so scarcity shows up in the grey price."""
        m = self.model
        value = self.grey_card_value()
        if value <= 0 or gap <= 0:
            return
        qty = min(gap, max(50.0, 0.1 * gap))
        afford = m.cfg.demand.compute_budget_share * self.cash / qty
        for worth in GREY_TRANCHES:
            limit = min(value * worth, afford)
            if limit > 0:
                m.grey.bid(self, qty / len(GREY_TRANCHES), limit)

    # -- the week's demand ------------------------------------------------------------------------
    def post_demand(self) -> None:
        """Use own fleet and reservations first, bid for the rest, resell what is idle (on its
        own; in the model's week all builders post together, see :func:`act`)."""
        post_weekly_demand(self.model, [self])

    # -- the used-card market --------------------------------------------------------------------
    def bid_used_cards(self, market, price: float) -> None:
        """Own-cluster builders in the US buy used cards when the vendor's queue is long. Any
        own-cluster builder that may legally buy H100s and is short of its target fleet also buys
        used cards for what they earn at full use, never above a new card's price."""
        if not self.build_own or self.region == "CN":
            return
        if self.region == "US":
            self.bid_to_skip_queue(market, price)
        m = self.model
        if not m.rules.allowed(m.catalog[H100], self.region, m.date):
            return
        gap = self.target_fleet() - self.fleet_eq - m.new_cards.backlog_of(self.account)
        value = min(self.holding_value(), m.new_cards.price)
        qty = min(0.1 * gap, m.cfg.demand.compute_budget_share * max(self.cash, 0.0) / max(value, 1.0))
        if value > 0 and qty > 1:
            market.bid(self, qty, value)

    def offer_used_cards(self, market) -> None:
        """A builder that no longer uses its own cluster sells a tenth of it a week, a little
        below what the cards would earn (restricted builders cannot sell abroad)."""
        if (
            self.build_own
            and self.mode not in (TRAIN_MODE, FINETUNE_MODE)
            and self.region != "CN"
            and self.gpus > 1
        ):
            market.ask(self, self.gpus * 0.1, 0.9 * self.holding_value())

    # -- feedback from the markets ----------------------------------------------------------------
    def on_hours(self, use: int, wanted: float, got: float) -> None:
        if use == TRAIN and wanted > 0:
            self.rationed = 0.7 * self.rationed + 0.3 * (1.0 - got / wanted)

    def on_ask(self, tier: int, sold_share: float) -> None:
        """Lower the ask for hours that did not sell, raise it when everything sold."""
        if sold_share < 0.5:
            self.ask_mult[tier] = max(0.1, self.ask_mult[tier] * 0.92)
        elif sold_share > 0.99:
            self.ask_mult[tier] = min(2.0, self.ask_mult[tier] * 1.05)


def legal_channel(model, region: str, week: dict | None = None) -> tuple[str | None, float, Any, bool]:
    """The legal channel into a region as own-cluster builders read it: the best Hopper part
    the vendor may sell there and its work per card, a known rule that will forbid it (the
    stockpiling cue), and whether the full H100 is barred (brokers' market). The same for every
    builder of a region within the builders' week (date and rules stay put), so :func:`act`
    passes a `week` memo and each region is asked once."""
    if week is not None and region in week:
        return week[region]
    m = model
    product, perf = m.new_cards.best_legal_product(region)
    pending = m.rules.pending_ban(m.catalog[product], region, m.date) if product else None
    barred = not m.rules.allowed(m.catalog[H100], region, m.date)
    answer = (product, perf, pending, barred)
    if week is not None:
        week[region] = answer
    return answer


def generate_creators(model, n: int, region: str, clouds: list, own: bool) -> list[dict]:
    """Specs for the unnamed training start-ups (DOMAIN §5: training start-ups hold thousands)."""
    rng = model.rng
    specs = []
    sizes = np.array([c.size for c in clouds])
    for k in range(n):
        gpus = float(np.clip(np.exp(rng.normal(np.log(1024), 0.8)), 256, 8192))
        specs.append(
            dict(
                name=f"{region}-startup-{k}",
                region=region,
                capability=float(rng.uniform(0.45, 0.85)),
                train_gpus=round(gpus),
                funding_musd=gpus * 0.15 * float(np.exp(rng.normal(0.0, 0.4))),
                cloud=None if own else clouds[int(rng.choice(len(clouds), p=sizes / sizes.sum()))],
                build_own=own,
                favoured=False,
                inference_gpus=0.1 * gpus,
                founded=int(rng.integers(0, 40)),
            )
        )
    return specs


def post_weekly_demand(model, builders: list[ModelCreator]) -> None:
    """The week's hours of many builders at once (in the order given): each uses its own fleet
    and its reservations first, bids for the rest, and hands idle hours to its reseller.

    Per builder, needs are met in order: the training run (large clusters), its experiments
    (small), fine-tuning (small), inference (small); large capacity may serve small needs, never
    the reverse. Bids are limited by what an hour is worth and by a budget: a share of cash spread
    over ``budget_weeks`` of the week's hours. Written over arrays (one row per builder, one
    column per need) because it runs every week for every builder; the arithmetic is the same
    per row as a loop would do, so the result does not depend on how many builders go at once.
    """
    m = model
    if not builders:
        return
    d = m.cfg.demand
    drv = m.drivers
    # One row per builder: its state this week (numbers, ids and flags, each read in one pass).
    n = len(builders)
    num = np.fromiter(chain.from_iterable(map(_STATE_NUMBERS, builders)), np.float64, 7 * n).reshape(n, 7)
    ids = np.fromiter(chain.from_iterable(map(_STATE_IDS, builders)), np.int64, 2 * n).reshape(n, 2)
    flags: list = []
    for b in builders:
        mode = b.mode
        flags += (mode == TRAIN_MODE, mode == FINETUNE_MODE, b.deployed, b.build_own, b.region != "CN")
    flag = np.array(flags, dtype=bool).reshape(n, 5)
    account, uid = ids.T
    fleet = num[:, 0]
    train, tune, deployed = flag[:, 0], flag[:, 1], flag[:, 2]
    # nothing to run, nothing to resell
    keep = train | tune | deployed | (fleet != 0) | (m.reservations.held_many(uid, LARGE, future=True) != 0)
    if not keep.any():
        return
    live = builders
    if not keep.all():
        live = [b for b, k in zip(builders, keep.tolist()) if k]
        num, flag, account, uid = num[keep], flag[keep], account[keep], uid[keep]
        n = len(live)
    # the columns by name (views of the rows kept)
    fleet, train_gpus, v_train, v_ft, finetune_gpus, inference_gpus, inference_worth = num.T
    train, tune, deployed, build_own, rents = flag.T
    own = np.where(build_own, fleet, 0.0)
    ent_large = m.reservations.held_many(uid, LARGE) + own
    ent_small = m.reservations.held_many(uid, SMALL)
    job = train_gpus * min(3.0, max(0.2, drv.climate / d.wishlist_climate)) * drv.run_scale
    # Needs, one column each: (0) training on large clusters, (1) the small-cluster job (training
    # experiments, or fine-tuning), (2) inference. Per need: use, GPUs, value of an hour.
    inf = np.where(deployed, inference_gpus * drv.inference_index, 0.0)
    has = np.empty((n, 3), dtype=bool)
    has[:, 0], has[:, 1], has[:, 2] = train, train | tune, inf > 0
    use = np.empty((n, 3), dtype=np.int64)
    use[:, 0], use[:, 1], use[:, 2] = TRAIN, np.where(train, TRAIN, FINETUNE), INFERENCE
    gpus = np.empty((n, 3))
    gpus[:, 0] = np.where(train, job * d.training_duty_cycle, 0.0)
    gpus[:, 1] = np.where(train, job * d.research_share, np.where(tune, finetune_gpus, 0.0))
    gpus[:, 2] = np.where(inf > 0, inf, 0.0)
    values = np.empty((n, 3))
    values[:, 0], values[:, 1], values[:, 2] = (
        v_train,
        np.where(train, v_train, v_ft),
        inference_worth * drv.inference_value,  # what its served tokens are worth an hour
    )
    weekly_hours = ((0.0 + gpus[:, 0]) + gpus[:, 1] + gpus[:, 2]) * HOURS_PER_WEEK
    cash = m.cash.balance[account]
    budget = np.zeros(n)
    paid = weekly_hours > 0
    budget[paid] = (
        d.compute_budget_share * np.maximum(cash[paid], 0.0) / (weekly_hours[paid] * d.budget_weeks)
    )
    bids = rents  # restricted buyers cannot rent these clusters
    used, rest = np.empty((n, 3)), np.empty((n, 3))
    for need, tier in enumerate(NEED_TIERS):
        g = gpus[:, need]
        from_large = np.minimum(g, ent_large)
        ent_large = ent_large - from_large
        from_small = np.minimum(g - from_large, ent_small) if tier == SMALL else 0.0
        ent_small = ent_small - from_small
        used[:, need] = from_large + from_small
        rest[:, need] = g - from_large - from_small
    limit = np.minimum(values, budget[:, None])
    # Own fleets and reservations in use, summed builder by builder, need by need.
    for u in (TRAIN, FINETUNE, INFERENCE):
        m.hours.use_own(u, np.where(has & (use == u), used, 0.0).ravel())
    # Bids for what is left: builder by builder, need by need (the order of the book).
    ok = (has & (rest > 1e-9) & (limit > 0) & bids[:, None]).ravel()
    if ok.any():
        tiers = np.empty((n, 3), dtype=np.int64)
        tiers[:] = NEED_TIERS
        m.hours.bid_for(
            account.repeat(3)[ok],
            uid.repeat(3)[ok],
            use.ravel()[ok],
            tiers.ravel()[ok],
            rest.ravel()[ok],
            limit.ravel()[ok],
        )
    # Reserved hours are paid whatever happens, so they are used first; the own fleet runs (and
    # pays power) for what the needs took beyond the reserved blocks.
    own_used = np.minimum(own, np.maximum(0.0, own - ent_large))
    for b, ou in zip(live, own_used.tolist()):
        b.own_used = ou
    # Idle hours go to each builder's reseller (restricted builders' idle hours stay home),
    # asking what spot last paid times the builder's adaptive multiple, and never less than the
    # hour costs to run: an owner's own cards their cash cost (power, and what its lenders are
    # owed while it can wait), reserved hours the power the cloud burns for them.
    idle = np.empty((n, 2))  # per builder: large, then small
    idle[:, 0], idle[:, 1] = ent_large, ent_small
    offer = (idle > 1e-9) & bids[:, None]
    rows, cols = np.nonzero(offer)
    if rows.size:
        tier_of = np.array([LARGE, SMALL])
        tiers = tier_of[cols]
        spot = np.array([m.hours.last_spot(tier) for tier in tier_of.tolist()])
        power = m.cfg.cloud.power_per_gpu_hour
        own_idle = ((own > 0) & (ent_large > 1e-9)).tolist()  # own cards are the last a builder runs
        # The ask's floor and multiple of the offering builders only (one floor per builder).
        sellers, floor, mult = [], [], []
        last, cost = -1, power
        for r, t in zip(rows.tolist(), tiers.tolist()):
            b = live[r]
            if r != last:
                cost = b.cash_cost() if own_idle[r] else power
                last = r
            sellers.append(b)
            floor.append(cost)
            mult.append(b.ask_mult[t])
        ask = np.maximum(np.array(floor), spot[cols] * np.array(mult))
        m.hours.offer_idle(sellers, tiers, idle[rows, cols], ask, resale=True)


def found_training_teams(model) -> list[ModelCreator]:
    """Teams founded this week (from `entry.entry_from`): would-be teams arrive at
    `training_candidates_per_year` × climate a year (Poisson); each draws its region (in the
    proportions of the generated start-ups), its lag behind today's frontier and its cluster, and
    is founded only if the edge a run would give it over the best open model is worth training for
    (`train_margin`) and its value per hour beats the expected price of a large-cluster hour."""
    m = model
    e, d, drv = m.cfg.entry, m.cfg.demand, m.drivers
    if m.date < e.entry_from or e.training_candidates_per_year <= 0:
        return []
    rng = m.rng
    n = int(rng.poisson(e.training_candidates_per_year / 52.0 * max(drv.climate, 0.0)))
    if n == 0:
        return []
    pop = m.cfg.population
    weights = np.array([pop.mid_creators, pop.cn_mid_creators, pop.row_creators], dtype=float)
    weights = weights / weights.sum() if weights.sum() > 0 else np.array([1.0, 0.0, 0.0])
    clouds = m.population.clouds
    sizes = np.array([c.size for c in clouds], dtype=float)
    price = m.hours.expected_price(LARGE)
    made: list[ModelCreator] = []
    for _ in range(n):
        region = REGIONS[int(rng.choice(3, p=weights))]
        lag = float(rng.uniform(e.new_team_lag_min, e.new_team_lag_max))
        gpus = float(np.clip(np.exp(rng.normal(np.log(1024), 0.8)), 256, 8192))
        funding = gpus * 0.15 * float(np.exp(rng.normal(0.0, 0.4)))
        edge = drv.frontier + drv.frontier_ahead - lag - drv.open_quality
        if edge < d.train_margin or d.value_per_edge_hour * edge * drv.value_climate <= price:
            continue
        own = region != "US" or not clouds
        cloud = None if own else clouds[int(rng.choice(len(clouds), p=sizes / sizes.sum()))]
        spec = dict(
            name=f"{region}-entrant-{len(m.population.creators) + len(made)}",
            region=region,
            capability=drv.frontier - lag,
            train_gpus=round(gpus),
            funding_musd=funding,
            cloud=cloud,
            build_own=own,
            favoured=False,
            inference_gpus=0.1 * gpus,
            founded=m.steps,
            plan_on_entry=True,
        )
        made.append(ModelCreator(m, spec))
    if made:
        m.population.add(ModelCreator.kind, made)
        m.population.count_founded(ModelCreator.kind, len(made))
    return made


def act(model, builders) -> None:
    """The builders' week: new teams are founded, then each decides in a fresh random order
    (Mesa's shuffle), then all post their hours at once in that order (nothing one decides
    changes another's needs, so this is the same as posting right after each step)."""
    found_training_teams(model)
    steps = model.steps
    posting: list[ModelCreator] = []
    week: dict = {}  # the legal channel by region: dates and rules do not move within the loop

    def decide(b: ModelCreator) -> None:
        if steps < b.founded or b.closed:  # not in the market: its step only clears own_used
            b.own_used = 0.0
            return
        b.step(week)
        if not b.closed:  # a builder's step closes none but itself
            posting.append(b)

    builders.shuffle_do(decide)
    post_weekly_demand(model, posting)


def credit_never_negative(model) -> bool:
    """Whether ``Firm.credit_limit`` cannot be negative: a lender's headroom never is, and
    balance-sheet credit (a share of the fleet at list price) is not while both factors are not."""
    c = model.cfg
    return bool(c.cloud.credit_ltv >= 0 and c.vendor.list_price >= 0)


def pay_own_clusters(model, builders: list) -> None:
    """Own clusters pay power for the hours they ran and site and staff for every card they hold
    (each as far as cash and credit reach), booked in builder order."""
    m = model
    power = m.cfg.cloud.power_per_gpu_hour * HOURS_PER_WEEK
    running: list[ModelCreator] = []
    costs: list[float] = []
    site = 0.0
    for b in builders:
        if b.own_used > 0 or b.build_own:
            fleet = b.fleet_eq
            if b.own_used > 0 or fleet > 0:
                if not running:
                    site = b.site_cost_per_week()
                running.append(b)
                costs.append(b.own_used * power + fleet * site)
    if not running:
        return
    cost = np.array(costs)
    accounts = np.array([b.account for b in running], dtype=np.int64)
    cash = m.cash.balance[accounts]
    # Credit (never negative) only matters to a builder whose cash does not cover the bill: with
    # cash >= cost, min(cost, max(cash + credit, 0)) is the cost whatever the credit.
    short = ~(cash >= cost) if credit_never_negative(m) else np.ones(len(running), dtype=bool)
    credit = np.zeros(len(running))
    for i in np.flatnonzero(short).tolist():
        credit[i] = running[i].credit_limit()
    room = np.maximum(cash + credit, 0.0)
    amount = np.where(short, np.minimum(cost, room), cost)
    m.cash.transfer_in_turn(accounts, np.full(len(running), m.acct_power), amount, "opex")


register(
    AgentKind(
        "creator",
        ModelCreator,
        build=ModelCreator.populate,
        act=act,
        upkeep=pay_own_clusters,
        week_order=30,
        build_order=30,
        frame_order=10,
        colour="#d62728",
        label="model builder",
    )
)
