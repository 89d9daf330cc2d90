"""A small small world in which real agents are built and decide, for hand-worked unit tests.

It is the least an agent needs: a real ``mesa.Model`` (unique ids, ``model.rng``,
``model.random``, ``model.steps``), a real scenario config (``load_scenario("baseline", ...)``
with overrides), the real ledgers with the outside accounts (opened by the model's own
``_open_books``) and the model's own ``fund``/``fund_many``. Markets, drivers, export rules and
the population are plain stand-ins: they return the fixed prices a test sets and record what
agents post (orders, bids, asks, lines, signed reservations), nothing more. No market clears.

    world = SmallWorld(round_prob_per_quarter=0.0)     # config overrides, by leaf name
    world.new_cards.price = 30_000.0
    cloud = world.add_cloud(list_price=4.0)
    world.give_cards(cloud, 1000)
    cloud.order()
    assert world.new_cards.orders == [...]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from types import SimpleNamespace

import mesa
import numpy as np

from agents.broker import GreyBroker
from agents.cloud import Cloud
from agents.creator import ModelCreator
from agents.finetuner import FineTunerPool
from agents.lender import Lender
from agents.reseller import Reseller
from model.config import load_scenario, resolve_key
from model.market import H100Market
from model.mechanisms.products import catalog
from model.mechanisms.vocabulary import H100

#: The constants the hand-worked tests compute with: the baseline's values today, pinned so a
#: recalibration of the baseline does not move a hand-worked number (a test may override more).
PINNED = dict(
    cloud__opex_per_gpu_hour=0.14, cloud__power_per_gpu_hour=0.087, cloud__hyperscaler_margin=0.3,
    cloud__hyperscaler_spot_share=0.35, cloud__infra_capex_per_gpu=16_000.0, cloud__target_utilization=0.85,
    cloud__price_step_up=0.10, cloud__price_step_down=0.12, cloud__credit_ltv=0.5,
    cloud__max_reserved_share=0.85, cloud__reserved_discount_1y=0.59, cloud__reserved_discount_3y=0.44,
    cloud__spot_floor_share=0.25, cloud__large_tier_share=0.6, cloud__order_aggressiveness=0.6,
    cloud__hyperscaler_hurdle=0.10, cloud__private_hurdle=0.14, cloud__hyperscaler_review_weeks=13,
    cloud__private_review_weeks=4, cloud__order_review_weeks=4, cloud__hyperscaler_halflife_weeks=40.0,
    cloud__private_halflife_weeks=80.0,
    cloud__prepaid_share_min=0.5, cloud__prepaid_share_max=0.5,     # no random prepaid share
    vendor__list_price=33_750.0, vendor__price_review_weeks=13, vendor__price_step=0.08,
    vendor__target_lead_weeks=12.0, vendor__max_price_multiple=1.16, vendor__min_price_multiple=0.6,
    vendor__favoured_weight=1.5, vendor__own_chip_weight=0.6,
    vendor__end_user_check_catch=0.0,                               # no shell order is caught
    demand__round_prob_per_quarter=0.0,                             # no lucky funding round
    demand__value_per_edge_hour=18.0, demand__compute_budget_share=0.7, demand__budget_weeks=26.0,
    demand__train_margin=0.04, demand__finetune_edge=0.12, demand__training_duty_cycle=0.75,
    demand__research_share=0.15, demand__wishlist_climate=1.3, demand__finetune_gpus_min=8,
    demand__finetune_gpus_max=32, demand__large_cluster_min_gpus=128, demand__own_build_min_gpus=16_000,
    demand__reservation_panic_lead_weeks=16.0, demand__finetuner_quality_need_min=0.4,
    grey__seizure_prob=0.04, grey__seizure_odds_multiplier=1.0, grey__broker_markup=0.15,
    grey__sourcing_cards_per_week=60.0, grey__card_value_years=2.0,
    supply__card_life_years=5.0, supply__legacy_retire_years=3.0,
    entry__entry_from="2023-07-03", entry__training_candidates_per_year=24.0,
    entry__new_team_lag_min=0.0, entry__new_team_lag_max=0.4, entry__idle_falls_behind=0.5,
    entry__training_idle_close_quarters=4, entry__finetune_candidates_per_year=1200.0,
    entry__finetuner_burn_musd_per_year=1.5, entry__finetuner_idle_close_weeks=26,
)


@lru_cache(maxsize=32)
def _scenario(overrides: tuple):
    return load_scenario("baseline", **dict(overrides))


# -- what agents post ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Order:
    """An order placed with the vendor."""
    agent: object
    product: str
    qty: float
    nextgen_ok: bool
    region: str | None = None
    shell: bool = False


@dataclass(frozen=True)
class Quote:
    """A bid or an ask on a card market (used cards, grey channel)."""
    agent: object
    qty: float
    price: float


@dataclass(frozen=True)
class Line:
    """A line for hours: owner is the agent's unique id, or -1 for a pooled population."""
    account: int
    owner: int
    use: int
    tier: int
    gpus: float
    limit: float


@dataclass(frozen=True)
class Offer:
    """Idle hours handed to a reseller, at the price the reseller lists them for."""
    agent: object
    tier: int
    gpus: float
    price: float
    resale: bool


@dataclass(frozen=True)
class Signed:
    """A reservation signed."""
    holder: object
    cloud: object
    tier: int
    gpus: float
    weeks: int
    rate: float
    prepaid: float


# -- the markets -----------------------------------------------------------------------------------
class RecordingNewCards:
    """The vendor's order book: a fixed price and lead time, backlogs a test sets."""

    def __init__(self, price: float = 30_000.0, lead_time_weeks: float = 8.0):
        self.price = price
        self.lead_time_weeks = lead_time_weeks
        self.backlog: dict[int, float] = {}        # ledger account -> cards on order
        self.prices: dict[str, float] = {}         # product -> price (else `price`)
        self.legal: tuple[str | None, float] = (H100, 1.0)   # best_legal_product's answer
        self.orders: list[Order] = []
        self.nextgen_wanted = True                  # takes_nextgen's answer

    def takes_nextgen(self, hour_value: float, training: bool) -> bool:
        return self.nextgen_wanted

    def backlog_of(self, account: int) -> float:
        return self.backlog.get(account, 0.0)

    def price_of(self, product: str) -> float:
        return self.prices.get(product, self.price)

    def best_legal_product(self, region: str) -> tuple[str | None, float]:
        return self.legal

    def order(self, agent, product: str, qty: float, nextgen_ok: bool, region: str | None = None,
              shell: bool = False) -> None:
        self.orders.append(Order(agent, product, qty, nextgen_ok, region, shell))


class RecordingHours:
    """The hours market: fixed expected and last spot prices per tier [small, large]."""

    def __init__(self, expected=(2.0, 3.0), last=(2.0, 3.0)):
        self.expected = list(expected)
        self.last = list(last)
        self.private_ondemand_price = float("nan")  # private clouds' list (a hyperscaler's rival)
        self.own = [0.0, 0.0, 0.0]     # GPUs of own fleets and reservations in use, by use
        self.lines: list[Line] = []
        self.offers: list[Offer] = []

    def expected_price(self, tier: int) -> float:
        return self.expected[tier]

    def last_spot(self, tier: int) -> float:
        return self.last[tier]

    def use_own(self, use: int, gpus) -> None:
        self.own[use] += float(np.sum(gpus))

    def bid_for(self, accounts, agents, uses, tiers, gpus, limits) -> None:
        for row in zip(accounts, agents, uses, tiers, gpus, limits):
            self.lines.append(Line(*(int(x) for x in row[:4]), float(row[4]), float(row[5])))

    def bid_pooled(self, accounts, use: int, tier: int, gpus, limits) -> None:
        n = len(accounts)
        self.bid_for(accounts, [-1] * n, [use] * n, [tier] * n, gpus, limits)

    def offer_idle(self, agents, tiers, gpus, prices, resale: bool) -> None:
        for a, t, g, p in zip(agents, np.asarray(tiers).tolist(), np.asarray(gpus).tolist(),
                              np.asarray(prices).tolist()):
            self.offers.append(Offer(a, t, g, a.reseller.ask_price(p, t), resale))


class RecordingReservations:
    """Reservations: commitments per (tier, horizon) and holdings per (holder, tier, future)."""

    def __init__(self, world):
        self.world = world
        self.price = 0.0
        self.commitments: dict[tuple[int, int], np.ndarray] = {}
        self.holdings: dict[tuple[int, int, bool], float] = {}
        self.signed: list[Signed] = []

    def commit(self, tier: int, horizon: int, gpus) -> None:
        """Set what each cloud (by cloud_index) has committed on a tier within `horizon`."""
        self.commitments[tier, horizon] = np.asarray(gpus, dtype=float)

    def committed(self, tier: int, horizon: int = 0) -> np.ndarray:
        n = len(self.world.population.clouds)
        return self.commitments.get((tier, horizon), np.zeros(n))

    def hold(self, agent, tier: int, gpus: float, future: bool = False) -> None:
        self.holdings[agent.unique_id, tier, future] = gpus

    def held(self, agent, tier: int, future: bool = False) -> float:
        return self.holdings.get((agent.unique_id, tier, future), 0.0)

    def held_many(self, uids, tier: int, future: bool = False) -> np.ndarray:
        return np.array([self.holdings.get((int(u), tier, future), 0.0) for u in uids])

    def sign(self, holder, cloud, tier, gpus, weeks, rate, prepaid) -> None:
        self.signed.append(Signed(holder, cloud, tier, gpus, weeks, rate, prepaid))


class RecordingCardBook:
    """A card market (used cards): bids and asks recorded as they come."""

    def __init__(self):
        self.bids: list[Quote] = []
        self.asks: list[Quote] = []

    def bid(self, agent, qty: float, price: float) -> None:
        self.bids.append(Quote(agent, qty, price))

    def ask(self, agent, qty: float, price: float) -> None:
        self.asks.append(Quote(agent, qty, price))


class RecordingUsedCards(RecordingCardBook):
    """The used-card market: what a card in hand is worth to a buyer in the vendor's queue."""

    def __init__(self, skip_price: float = 45_000.0):
        super().__init__()
        self.skip_price = skip_price

    def queue_skip_price(self) -> float:
        return self.skip_price


class RecordingGrey(RecordingCardBook):
    """The grey channel: the last deal's price and cards in transit per buyer."""

    def __init__(self, trade_price: float = 40_000.0):
        super().__init__()
        self.trade_price = trade_price
        self.transit: dict[int, float] = {}     # unique id -> cards on their way

    def in_transit_to(self, agent) -> float:
        return self.transit.get(agent.unique_id, 0.0)


class FixedRules:
    """Export rules: (product, region) pairs barred today, and bans announced but not in force."""

    def __init__(self):
        self.barred: set[tuple[str, str]] = set()
        self.pending: dict[tuple[str, str], object] = {}

    def allowed(self, p, region: str, when) -> bool:
        return (p.name, region) not in self.barred

    def pending_ban(self, p, region: str, when):
        return self.pending.get((p.name, region))

    def announce(self, product: str, region: str, name: str) -> None:
        self.pending[product, region] = SimpleNamespace(name=name)


@dataclass
class FixedDrivers:
    climate: float = 1.3            # = demand.wishlist_climate: a builder's job is its wish list
    open_quality: float = 0.6
    frontier: float = 1.0           # the closed frontier (a builder's lag is frontier - capability)
    frontier_move: float = 0.0      # how far it moved this week
    frontier_ahead: float = 0.0     # how far teams expect it to move during a run
    alt_cost: float = 2.5
    inference_index: float = 1.0
    inference_value: float = 2.5    # what an inference hour's tokens are worth to a typical operator
    alt_capacity: float = 0.0       # no other parts serving inference
    run_scale: float = 1.0          # training runs at their wish-list size

    @property
    def value_climate(self) -> float:
        """The small world has no funding lever: what an hour is worth follows the climate."""
        return self.climate


@dataclass
class ListPopulation:
    clouds: list = field(default_factory=list)
    creators: list = field(default_factory=list)
    resellers: list = field(default_factory=list)
    brokers: list = field(default_factory=list)
    by_id: dict = field(default_factory=dict)
    pools: dict = field(default_factory=dict)

    founded: dict = field(default_factory=dict)
    closed: dict = field(default_factory=dict)

    @property
    def finetuners(self) -> FineTunerPool:
        return self.pools["finetuner"]

    def add(self, kind: str, agents: list) -> None:
        group = {"creator": self.creators, "cloud": self.clouds}.get(kind)
        for a in agents:
            if group is not None:
                group.append(a)
            self.by_id[a.unique_id] = a

    def count_founded(self, kind: str, n: int) -> None:
        self.founded[kind] = self.founded.get(kind, 0) + int(n)

    def count_closed(self, kind: str, n: int) -> None:
        self.closed[kind] = self.closed.get(kind, 0) + int(n)


# -- the world -------------------------------------------------------------------------------------
class SmallWorld(mesa.Model):
    """The smallest world a real agent can be built in and decide (config: baseline, then
    :data:`PINNED`, then `overrides`, as ``section__leaf`` or leaf names)."""

    _open_books = H100Market._open_books     # the model's own books and outside accounts
    fund = H100Market.fund
    fund_many = H100Market.fund_many

    def __init__(self, seed: int = 1, **overrides):
        super().__init__(seed=seed)
        merged = {resolve_key(k): v for k, v in (*PINNED.items(), *overrides.items())}
        self.cfg = self.config = _scenario(tuple(sorted(merged.items())))
        self.start = self.date = self.cfg.run.start
        self.catalog = catalog()
        self.launch_price = 4.0
        self._open_books()
        self.drivers = FixedDrivers()
        self.rules = FixedRules()
        self.new_cards = RecordingNewCards()
        self.hours = RecordingHours()
        self.reservations = RecordingReservations(self)
        self.used_cards = RecordingUsedCards()
        self.grey = RecordingGrey()
        self.population = ListPopulation()

    def _enrol(self, agent, group: list):
        group.append(agent)
        self.population.by_id[agent.unique_id] = agent
        return agent

    # -- agents ------------------------------------------------------------------------------------
    def add_reseller(self, index: int = 1) -> Reseller:
        """A reseller; its style is STYLES[index % 3] (0 fixed, 1 auction, 2 marketplace)."""
        return self._enrol(Reseller(self, index), self.population.resellers)

    def add_cloud(self, kind: str = "hyperscaler", list_price: float = 4.0, size: float = 1.0,
                  legacy: float = 0.0, cash: float = 0.0, favoured: bool = False,
                  own_chips: bool = False) -> Cloud:
        spec = SimpleNamespace(name=f"cloud-{len(self.population.clouds)}", kind=kind, region="US",
                               legacy_gpus=legacy, ondemand_price=list_price, favoured=favoured,
                               own_chips=own_chips, size=size)
        cloud = Cloud(self, spec)
        cloud.cloud_index = len(self.population.clouds)
        cloud.reseller = self.population.resellers[0] if self.population.resellers else None
        self.fund(cloud, cash)
        return self._enrol(cloud, self.population.clouds)

    def add_creator(self, region: str = "US", capability: float = 0.9, train_gpus: float = 1000.0,
                    cloud=None, build_own: bool = False, inference_gpus: float = 0.0,
                    cash: float = 0.0, favoured: bool = False, named: bool = True) -> ModelCreator:
        """A model builder (funded with `cash` now, not at its first step); a named builder
        stays in the market whatever happens, a start-up (`named=False`) may close."""
        if not self.population.resellers:
            self.add_reseller()
        spec = dict(name=f"lab-{len(self.population.creators)}", region=region, capability=capability,
                    train_gpus=train_gpus, funding_musd=0.0, cloud=cloud, build_own=build_own,
                    favoured=favoured, inference_gpus=inference_gpus, founded=0, named=named)
        creator = ModelCreator(self, spec)
        creator.inference_worth = 1.0   # a typical operator: its tokens are worth the driver's value
        self.fund(creator, cash)
        creator.funded = True
        return self._enrol(creator, self.population.creators)

    def add_broker(self, cash: float = 0.0) -> GreyBroker:
        broker = GreyBroker(self, len(self.population.brokers))
        self.fund(broker, cash)
        return self._enrol(broker, self.population.brokers)

    def add_finetuners(self, n: int, **arrays) -> FineTunerPool:
        """`n` fine-tuning teams and their pool; keyword arrays (need, edge, gpus, ...) replace
        the pool's random draws."""
        pool = self.population.pools["finetuner"] = FineTunerPool(self, n)
        pool.inference_worth = np.ones(n)  # typical operators (a test may set its own)
        for name, values in arrays.items():
            assert hasattr(pool, name), name
            setattr(pool, name, np.asarray(values, dtype=getattr(pool, name).dtype))
        return pool

    def add_lender(self) -> Lender:
        """The GPU-backed lender; firms it finances borrow from it (``Firm.credit_limit``)."""
        lender = Lender(self, "GPU lenders", "US")
        self.lender = lender
        self.population.by_id[lender.unique_id] = lender
        return lender

    def give_cards(self, agent, hopper: float, eq: float | None = None) -> None:
        """Cards from the fab into an agent's books and fleet (a cohort of this week)."""
        self.cards.transfer(self.acct_fab, agent.account, hopper, "made")
        agent.receive_cards(hopper, hopper if eq is None else eq)


__all__ = ["Line", "Offer", "Order", "Quote", "Signed", "SmallWorld"]
