"""H100Market: the world, its schedule and its books.

One step is one week. Each week: exogenous drivers move (packaging capacity, open-weight quality,
funding climate, rules in force); the vendor makes cards and allocates them to its order book;
agents decide (clouds price and order, creators plan, reserve, order and bid, fine-tuners enter or
leave, brokers source); then the markets clear (on-demand and spot hours, used cards, the grey
channel) and contracts settle. Prices, lead times and shares of use are never inputs: they are
read off what happened.
"""

from __future__ import annotations

import datetime as dt
from collections import deque

import mesa
import numpy as np
import pandas as pd

from agents.broker import GreyBroker
from agents.cloud import Cloud
from agents.creator import (FINETUNE_MODE, TRAIN_MODE, ModelCreator, generate_creators,
                            post_weekly_demand)
from agents.finetuner import FineTuner, FineTunerPool
from agents.reseller import Reseller
from model.clearing import clear_uniform
from model.config import Table, load_scenario
from model.errors import InputError
from model.contracts import LARGE, SMALL, ReservationBook
from model.grey import GreyChannel, Shipment, seizure_probability
from model.hours_market import FINETUNE, INFERENCE, TRAIN, Book, clear_hours, demand_book, supply_book
from model.ledger import Ledger
from model.products import catalog
from model.rules import ExportRule, RuleBook
from model.supply import OrderBook, lead_time_weeks, weekly_output
from model.timeline import HOURS_PER_WEEK, WEEK, n_steps, series_on_grid, step_dates

#: Model-level series, in order. Other tools rely on these names.
SERIES = (
    "date", "spot_price", "ondemand_price", "reserved_price", "small_cluster_price",
    "large_cluster_price", "card_price_new", "card_price_secondary", "grey_card_price",
    "lead_time_weeks", "utilization", "gpus_installed", "gpu_hours_training", "gpu_hours_finetune",
    "gpu_hours_inference", "training_share", "teams_training", "teams_finetuning", "resold_hours",
    "smuggled_cards", "seized_cards", "new_card_orders", "new_capacity_irr",
)
#: Extra series kept for explanation and the app.
EXTRA_SERIES = (
    "open_quality", "funding_climate", "backlog_cards", "reservations_gpus", "grey_card_price_cny",
    "vendor_output", "unmet_gpus",
)

#: trade_log rows: (step, seller, buyer, kind, market, volume). Sellers and buyers are agents'
#: unique_id, or "vendor" / "finetuner-pool" (the fine-tuning teams' pooled purchases).
MARKETS = {"vendor": "new cards", "reservation": "reserved GPUs", "ondemand": "on-demand GPU-hours",
           "resale": "idle hours to resellers", "spot": "spot GPU-hours", "used_cards": "used cards",
           "grey": "grey-market cards"}

NEVER_WEEKS = 520.0  # a lead time this long means the vendor plans no output to fill the backlog
SELL_SHARE = 0.02   # share of a fleet an owner offers weekly at its holding value (assumption)

EXTERNAL = ("investors", "vendor", "treasury", "fab", "datacentre", "power_site", "fines", "retired",
            "in_transit", "seized", "spot_pool", "vendor_stock")


class H100Market(mesa.Model):
    """The market for H100 compute. Keyword-only; every parameter has a default."""

    def __init__(self, *, scenario: str = "baseline", seed: int | None = None, **overrides):
        if isinstance(seed, str):  # a seed typed in a UI arrives as text
            seed = int(seed) if seed.strip() else None
        super().__init__(seed=seed)
        self.seed = seed
        self.scenario = scenario
        self._overrides = dict(overrides)
        self.lever_log: list[tuple[int, dt.date, str, object]] = []  # levers pulled mid-run
        self.cfg = self.config = load_scenario(scenario, **overrides)
        cfg = self.cfg
        self.start = cfg.run.start
        self.n_steps = n_steps(cfg.run.start, cfg.run.end)
        self.date = self.start
        self.catalog = catalog()
        self._added_rules: list[ExportRule] = []
        self._best_legal: dict = {}   # (region, date, rule book) -> best_legal_product answer
        self.demand_queue: list | None = None   # builders waiting to bid, during their phase
        self.rules = RuleBook.from_config(cfg)
        self._precompute_drivers()

        # Books: three ledgers with the same accounts in the same order.
        self.cash, self.cards, self.nextgen_cards = Ledger("cash"), Ledger("cards"), Ledger("nextgen")
        for name in EXTERNAL:
            for ledger in (self.cash, self.cards, self.nextgen_cards):
                ledger.open(name)
        acct = self.cash.index
        self.acct_investors, self.acct_vendor, self.acct_fab = acct["investors"], acct["vendor"], acct["fab"]
        self.acct_datacentre, self.acct_power = acct["datacentre"], acct["power_site"]
        self.acct_fines, self.acct_retired = acct["fines"], acct["retired"]
        self.acct_treasury = acct["treasury"]
        self.acct_transit, self.acct_seized = acct["in_transit"], acct["seized"]
        self.acct_pool, self.acct_stock = acct["spot_pool"], acct["vendor_stock"]

        self.orders = OrderBook()
        self.reservations = ReservationBook()
        self.grey = GreyChannel()

        # Market signals (initial conditions: the launch price, DOMAIN §6, and the list price).
        self.launch_price = float(np.mean([c.ondemand_price for c in cfg.population.clouds]))
        self.launch_price = 4.70 if not np.isfinite(self.launch_price) else min(self.launch_price, 4.70)
        self.vendor_multiple = 1.0
        self.card_price_new = cfg.vendor.list_price
        self.card_price_secondary = cfg.vendor.list_price
        self.grey_price = cfg.vendor.list_price        # clearing price, or mid of the spread
        self.grey_trade_price = cfg.vendor.list_price  # what restricted buyers last paid
        self._grey_dealt = False
        self.spot_hist = deque([np.array([self.launch_price, self.launch_price])], maxlen=4)
        self._expected = None
        self.lead_time_weeks = 0.0
        self.trade_log: deque = deque(maxlen=20000)   # recent trades, for the network view
        self._drivers_at(0)

        self._build_population()
        self._owner_of_account = {a.account: a for a in self.agents if not isinstance(a, FineTuner)}
        self._reset_week()
        self._held = None
        self._measure_lead_time()
        self._record(initial=True)
        reporters = {name: name for name in SERIES + EXTRA_SERIES}
        self.datacollector = mesa.DataCollector(model_reporters=reporters)
        self.agent_data = mesa.DataCollector(agenttype_reporters={
            kind: {"name": "name", "region": "region", "cash": "cash", "gpus": "gpus",
                   "mode": lambda a: getattr(a, "mode", a.kind)}
            for kind in (ModelCreator, Cloud, Reseller, GreyBroker)
        })
        self._finetuner_snapshots: list[tuple] = []   # (step, cash, gpus, active) arrays
        self.datacollector.collect(self)
        self._collect_agents()

    # ------------------------------------------------------------------------------------------
    # Set-up
    # ------------------------------------------------------------------------------------------
    def _precompute_drivers(self) -> None:
        """Exogenous drivers on the weekly grid (scenario data, vectorised once)."""
        cfg = self.cfg
        dates = step_dates(self.start, self.n_steps)
        self.dates = dates
        ow = cfg.openweights
        releases = [(r.date, r.quality) for r in sorted(ow.releases, key=lambda r: r.date)]
        # Step function of releases; `pace` compresses time since the start; `freeze_from` stops it.
        ords = dates.astype("datetime64[D]").astype(np.int64)
        start_ord = np.datetime64(self.start, "D").astype(np.int64)
        eff = start_ord + (ords - start_ord) * ow.pace
        if ow.freeze_from is not None:
            eff = np.minimum(eff, np.datetime64(ow.freeze_from, "D").astype(np.int64))
        rel_ords = np.array([np.datetime64(d, "D").astype(np.int64) for d, _ in releases])
        rel_q = np.array([q for _, q in releases])
        k = np.searchsorted(rel_ords, eff, side="right") - 1
        self._open_quality = np.where(k >= 0, rel_q[np.maximum(k, 0)], 0.0)
        d = cfg.demand
        self._climate_base = series_on_grid(d.funding_climate, dates)
        self._climate = self._climate_base * d.funding_multiplier
        self._alt_cost = series_on_grid(d.alt_inference_cost, dates)
        self._inference_index = series_on_grid(d.inference_demand_index, dates)
        # The vendor's planned output runs two years past the horizon, so the lead time of an order
        # placed in the last week is still read off a real schedule.
        plan = step_dates(self.start, self.n_steps + 104)
        out = [weekly_output(cfg, dt.date.fromisoformat(str(x))) for x in plan.astype("datetime64[D]")]
        self._output = np.array(out)

    def _drivers_at(self, step: int) -> None:
        self.open_quality = float(self._open_quality[step])
        self.climate = float(self._climate[step])
        self.funding_climate = self.climate
        self.alt_cost = float(self._alt_cost[step])
        self.inference_index = float(self._inference_index[step])

    def _build_population(self) -> None:
        cfg = self.cfg
        pop = cfg.population
        self.clouds = [Cloud(self, spec) for spec in pop.clouds]
        for i, c in enumerate(self.clouds):
            c.cloud_index = i
            per_size = cfg.cloud.private_capital_busd if c.private else cfg.cloud.hyperscaler_capital_busd
            self.fund(c, c.size * per_size * 1e9)
        self.resellers = [Reseller(self, k) for k in range(pop.resellers)]
        for c in self.clouds:
            c.reseller = self.resellers[c.cloud_index % len(self.resellers)]
        by_name = {c.name: c for c in self.clouds}
        specs = []
        for row in pop.creators:
            spec = row.to_dict()
            spec["cloud"] = None if row.cloud == "own" else by_name[row.cloud]
            spec["founded"] = self._step_of(row.founded) if row.founded else 0
            specs.append(spec)
        scale = pop.scale
        specs += generate_creators(self, round(pop.mid_creators * scale), "US", self.clouds, own=False)
        specs += generate_creators(self, round(pop.cn_mid_creators * scale), "CN", self.clouds, own=True)
        specs += generate_creators(self, round(pop.row_creators * scale), "ROW", self.clouds, own=True)
        self.creators = [ModelCreator(self, s) for s in specs]
        self.brokers = [GreyBroker(self, k) for k in range(round(pop.brokers * scale))]
        for b in self.brokers:
            self.fund(b, cfg.grey.broker_capital_musd * 1e6)
        fts = [FineTuner(self, k) for k in range(round(pop.finetuners * scale))]
        self.finetuners = FineTunerPool(self, fts)
        self._owners = [a for a in self.agents if not isinstance(a, FineTuner)]

    def _step_of(self, when: dt.date) -> int:
        return max(0, (when - self.start).days // 7)

    # ------------------------------------------------------------------------------------------
    # Services agents call
    # ------------------------------------------------------------------------------------------
    def fund(self, agent, amount: float) -> None:
        self.cash.transfer(self.acct_investors, agent.account, amount, "funding")

    def fund_many(self, accounts: np.ndarray, amounts: np.ndarray) -> None:
        self.cash.transfer_many(np.full(len(accounts), self.acct_investors), accounts, amounts, "funding")

    def credit_limit(self, agent) -> float:
        """Cards serve as collateral (DOMAIN §1): owners may borrow up to `credit_ltv` of their
        fleet's value at list price (what lenders lent against; no margin calls are modelled)."""
        return self.cfg.cloud.credit_ltv * agent.fleet_eq * self.cfg.vendor.list_price

    def expected_price(self, tier: int) -> float:
        """The recent spot price of a tier (four-week mean), what agents plan with."""
        if self._expected is None:
            self._expected = np.mean(np.array(self.spot_hist), axis=0)
        return float(self._expected[tier])

    def last_spot(self, tier: int) -> float:
        return float(self.spot_hist[-1][tier])

    def reserved_gpus(self, agent, tier: int, future: bool = False) -> float:
        """GPUs of the agent's reservations on a tier (deliverable share only, unless `future`)."""
        if self._held is None:
            self._held = self._entitlements()
        per_holder = self._held[1 if future else 0][tier]
        uid = agent.unique_id
        return float(per_holder[uid]) if uid < len(per_holder) else 0.0

    def reserved_gpus_many(self, uids: np.ndarray, tier: int, future: bool = False) -> np.ndarray:
        """reserved_gpus for many holders at once (by unique_id)."""
        if self._held is None:
            self._held = self._entitlements()
        per_holder = self._held[1 if future else 0][tier]
        out = np.zeros(len(uids))
        inside = uids < len(per_holder)
        out[inside] = per_holder[uids[inside]]
        return out

    def _hold(self, uid: int, provider: int, tier: int, gpus: float, start: int) -> None:
        """Add a contract just signed (the book's last) to this week's entitlements: the same
        sums, in the same order, as counting the book again."""
        if self._held is None:
            return
        now, later = (list(x) for x in self._held)
        if uid >= len(later[0]):
            pad = np.zeros(uid + 1 - len(later[0]))
            now = [np.concatenate([a, pad]) for a in now]
            later = [np.concatenate([a, pad]) for a in later]
        later[tier][uid] += gpus
        if start <= self.steps:
            now[tier][uid] += gpus * self._deliverable[provider, tier]
        self._held = (tuple(now), tuple(later))

    def _entitlements(self):
        """Per tier, GPUs each holder (by unique_id) may use now (the deliverable share of started
        contracts), and GPUs it holds now or later. One pass a week, read many times."""
        rb = self.reservations
        empty = np.zeros(0)
        if not len(rb):
            return (empty, empty), (empty, empty)
        live = rb.end > self.steps
        started = live & (rb.start <= self.steps)
        usable = rb.gpus * self._deliverable[rb.provider, rb.tier]
        n = int(rb.holder.max()) + 1
        now = tuple(np.bincount(rb.holder[started & (rb.tier == t)],
                                weights=usable[started & (rb.tier == t)], minlength=n)
                    for t in (0, 1))
        later = tuple(np.bincount(rb.holder[live & (rb.tier == t)],
                                  weights=rb.gpus[live & (rb.tier == t)], minlength=n)
                      for t in (0, 1))
        return now, later

    def sign_reservation(self, holder, cloud, tier: int, gpus: float, weeks: int, rate: float,
                         prepaid: float) -> None:
        """A reservation starts now if the cloud has room, else when the vendor can deliver."""
        c = self.cfg.cloud
        cap = cloud.capacity()[tier]
        committed = self.reservations.committed(self.steps, len(self.clouds), tier, horizon=520)
        free = c.max_reserved_share * cap - committed[cloud.cloud_index]
        start = self.steps
        if free < gpus:
            shortfall = gpus - max(free, 0.0)
            start = self.steps + int(np.ceil(self.lead_time_weeks))
            self.place_order(cloud, "H100 SXM5", shortfall / c.max_reserved_share, nextgen_ok=True)
        due = self.reservations.sign(holder.unique_id, cloud.cloud_index, tier, gpus, start, weeks,
                                     rate, prepaid)
        self._hold(holder.unique_id, cloud.cloud_index, tier, gpus, start)
        holder.pay(cloud.account, due, "reservation_prepaid")
        self._log(cloud.unique_id, holder.unique_id, "reservation", gpus)

    def best_legal_product(self, region: str) -> tuple[str | None, float]:
        """The best Hopper part the legal channel may sell into a region today."""
        key = (region, self.date, self.rules)
        if key not in self._best_legal:
            self._best_legal[key] = self._find_best_legal(region)
        return self._best_legal[key]

    def _find_best_legal(self, region: str) -> tuple[str | None, float]:
        best, perf = None, 0.0
        for name in ("H100 SXM5", "H800", "H20"):
            p = self.catalog[name]
            if p.orderable(self.date) and self.rules.allowed(p, region, self.date):
                eff = self.effective_perf(name)
                if eff > perf:
                    best, perf = name, eff
        return best, perf

    def effective_perf(self, product: str) -> float:
        """Work a part does in a cluster, in H100s: parts with cut chip-to-chip I/O (< 600 GB/s,
        the export line) lose `legal_premium_h100` in multi-node training."""
        p = self.catalog[product]
        return p.perf * (1.0 - self.cfg.grey.legal_premium_h100) if p.io_gbps < 600 else p.perf

    def card_price_for(self, product: str) -> float:
        """Vendor price of a card: the H100 price scaled to the part's work (not below a floor)."""
        perf = self.catalog[product].perf
        return self.card_price_new * max(perf, 0.35)

    def place_order(self, agent, product: str, qty: float, nextgen_ok: bool, region: str | None = None,
                    shell: bool = False) -> None:
        region = region or agent.region
        if not self.rules.allowed(self.catalog[product], region, self.date):
            return  # the legal channel cannot take an order a rule forbids
        weight = agent.vendor_weight() if hasattr(agent, "vendor_weight") else (
            self.cfg.vendor.favoured_weight if getattr(agent, "favoured", False) else 1.0)
        self.orders.place(agent.account, product, qty, weight, self.card_price_for(product), region,
                          self.steps, nextgen_ok, shell)
        self.new_card_orders += qty

    def grey_pipeline_of(self, agent) -> float:
        return self.grey.in_transit_to(agent.unique_id)

    def use_own(self, use: int, gpus: float) -> None:
        self._used[use] += gpus

    def use_own_many(self, use: int, gpus) -> None:
        """use_own for each amount in turn (a running sum, in order, as separate calls would)."""
        self._used[use] = float(np.cumsum(np.concatenate([[self._used[use]], gpus]))[-1])

    def add_line(self, agent, use: int, tier: int, gpus: float, limit: float) -> None:
        self.demand.add_row(agent.account, agent.unique_id, tier, use, gpus, limit)

    def add_lines_of(self, accounts, owners, uses, tiers, gpus, limits) -> None:
        """Many agents' lines at once; `owners` are unique_ids (they hear how their lines did)."""
        self.demand.extend(buyer=accounts, owner=owners, tier=tiers, use=uses, gpus=gpus,
                           limit=limits)

    def add_lines(self, accounts, use: int, tier: int, gpus, limits) -> None:
        n = len(accounts)
        if n:
            self.demand.extend(buyer=accounts, owner=np.full(n, -1), tier=np.full(n, tier),
                               use=np.full(n, use), gpus=gpus, limit=limits)

    def add_asks(self, agents, tiers, gpus, prices, resale: bool) -> None:
        """add_ask for many (agent, tier) pairs in order, in one piece of the book."""
        resellers = [a.reseller for a in agents]
        self.supply.extend(
            seller=[a.account for a in agents], holder=[a.unique_id for a in agents],
            reseller=[r.account for r in resellers], tier=tiers, gpus=gpus,
            price=[r.ask_price(p, t) for r, p, t in zip(resellers, np.asarray(prices).tolist(),
                                                          np.asarray(tiers).tolist())],
            resale=np.full(len(agents), int(resale)))

    def add_ask(self, agent, tier: int, gpus: float, price: float, resale: bool) -> None:
        reseller = agent.reseller
        # positional, in supply_book()'s column order
        self.supply.add_row(agent.account, agent.unique_id, reseller.account, tier, gpus,
                            reseller.ask_price(price, tier), int(resale))

    # ------------------------------------------------------------------------------------------
    # Levers a user may pull while the model runs (the app's regulator and investor controls)
    # ------------------------------------------------------------------------------------------
    LIVE_LEVERS = ("funding_multiplier", "export_controls", "seizure_odds_multiplier")

    def get_lever(self, name: str):
        from model.config import resolve_key
        return self.cfg.get(resolve_key(name))

    def set_lever(self, name: str, value) -> None:
        """Change a live lever from now on (validated like any override; logged in lever_log)."""
        from model.config import resolve_key
        leaf = resolve_key(name).split(".", 1)[1]
        if leaf not in self.LIVE_LEVERS:
            raise InputError(f"lever {name!r} cannot change while the model runs; live levers: "
                             f"{', '.join(self.LIVE_LEVERS)} (others apply on Reset)")
        overrides = {**self._overrides, leaf: value}
        cfg = load_scenario(self.scenario, **overrides)
        self._overrides, self.cfg, self.config = overrides, cfg, cfg
        if leaf == "funding_multiplier":
            now = min(self.steps, self.n_steps)
            self._climate[now:] = self._climate_base[now:] * cfg.demand.funding_multiplier
            self._drivers_at(now)
        elif leaf == "export_controls":
            self._rebuild_rules()
        self.lever_log.append((self.steps, self.date, leaf, value))

    def add_export_rule(self, **fields) -> None:
        """Add an export rule mid-run (a student playing the regulator), e.g.
        ``add_export_rule(name="My rule", regions=["CN"], tpp_min=1000.0)``; announce and effective
        default to today. Validated against the scenario schema."""
        from model.config import RULE, _check_table
        row = {"announce": self.date, "effective": self.date, **fields}
        rule = ExportRule.from_config(_check_table(Table(RULE), [row], "add_export_rule", None)[0])
        self._added_rules.append(rule)
        self._rebuild_rules()
        self.lever_log.append((self.steps, self.date, "add_export_rule", rule.name))

    def _rebuild_rules(self) -> None:
        rules = [ExportRule.from_config(r) for r in self.cfg.policy.rules] + self._added_rules
        self.rules = RuleBook(rules, self.cfg.policy.export_controls)

    # ------------------------------------------------------------------------------------------
    # The week
    # ------------------------------------------------------------------------------------------
    def step(self) -> None:
        self.date = self.start + self.steps * WEEK
        self._drivers_at(min(self.steps, self.n_steps))
        self._reset_week()
        self._supply()
        self._deliverable = self._deliverable_share()
        self._held = None
        for cloud in self.clouds:
            cloud.step()
        for reseller in self.resellers:
            reseller.step()
        # A world may have no model builders or no brokers (Mesa then has no set for the type).
        if ModelCreator in self.agents_by_type:
            self.demand_queue = []
            self.agents_by_type[ModelCreator].shuffle_do("step")
            queue, self.demand_queue = self.demand_queue, None
            post_weekly_demand(self, queue)
        self.finetuners.step()
        if GreyBroker in self.agents_by_type:
            self.agents_by_type[GreyBroker].shuffle_do("step")
        self._clear_hours()
        self._clear_used_cards()
        self._clear_grey()
        self._settle()
        self._record()
        self.datacollector.collect(self)
        if self.steps % self.cfg.run.agent_data_every == 0:
            self._collect_agents()
        if self.steps >= self.n_steps:
            self.running = False

    def run_to_end(self, progress: bool = False) -> "H100Market":
        """Run to the scenario's end date (optionally with a progress bar)."""
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=self.n_steps, initial=self.steps, unit="week", desc=self.cfg.name)
        while self.running and self.steps < self.n_steps:
            self.step()
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(str(self.date), refresh=False)
        if bar is not None:
            bar.close()
        return self

    def _reset_week(self) -> None:
        self.demand: Book = demand_book()
        self.supply: Book = supply_book()
        self.card_bids = Book(("buyer", "qty", "price"))
        self.card_asks = Book(("seller", "qty", "price"))
        self.grey_bids = Book(("buyer", "qty", "price"))
        self.grey_asks = Book(("seller", "qty", "price"))
        self._used = [0.0, 0.0, 0.0]    # GPUs used this week, by use (own fleets; then markets)
        self.new_card_orders = 0.0
        self.smuggled_cards = 0.0
        self.seized_cards = 0.0
        self.resold_hours = 0.0
        self.unmet_gpus = 0.0
        if not hasattr(self, "_deliverable"):
            self._deliverable = np.ones((len(getattr(self, "clouds", [])) or 1, 2))

    # -- supply --------------------------------------------------------------------------------
    def _supply(self) -> None:
        cfg = self.cfg
        hop_cap, ng_cap = self._output[min(self.steps, self.n_steps)]
        ng_eq_cap = ng_cap * cfg.supply.nextgen_h100_equivalents
        self._enforce_rules_on_backlog()
        # Make to order: never more than the backlog the stock does not already cover.
        backlog = self.orders.backlog()
        stock = self.cards[self.acct_stock]
        make = float(min(max(backlog - stock, 0.0), hop_cap))
        self.cards.transfer(self.acct_fab, self.acct_stock, make, "made")
        ng_wanted = sum(q for q, ok in zip(self.orders.outstanding, self.orders.nextgen_ok) if ok)
        ng_make_eq = float(min(max(ng_wanted, 0.0), ng_eq_cap))
        self.vendor_output = make + ng_make_eq
        dlv = self.orders.allocate_columns(self.cards[self.acct_stock], ng_make_eq,
                                           cfg.vendor.max_customer_share)
        equiv = cfg.supply.nextgen_h100_equivalents
        # One booking per customer and product a week (a customer has many orders in the book):
        # lots in order of first delivery, each summed over its deliveries in order.
        lots: dict[tuple[int, str], int] = {}
        lot = np.array([lots.setdefault(key, len(lots))
                        for key in zip(dlv["customer"], dlv["product"])], dtype=np.int64)
        value = np.asarray(dlv["price"], dtype=np.float64) * dlv["hopper"] + \
            dlv["nextgen_eq"] * self.card_price_new * cfg.vendor.nextgen_price_share
        sums = [np.bincount(lot, weights=w, minlength=len(lots)).tolist() if len(lots) else []
                for w in (dlv["hopper"], dlv["nextgen_eq"], value)]
        for (customer, product), hopper, ng_eq, cost in zip(lots, *sums):
            agent = self._owner_of_account[customer]
            # The vendor ships only what the customer can pay for (cash plus card-backed credit);
            # the rest of a defaulting customer's lot stays in stock and the order lapses.
            infra = cfg.cloud.infra_capex_per_gpu if isinstance(agent, Cloud) else 0.0
            bill = cost + infra * (hopper + ng_eq)
            room = max(0.0, agent.cash + self.credit_limit(agent))
            if bill > room:
                share = room / bill
                hopper, ng_eq, cost = hopper * share, ng_eq * share, cost * share
            ng_cards = ng_eq / equiv
            if isinstance(agent, GreyBroker) and hopper > 0:
                agent.add_cost(hopper, (cost - ng_eq * self.card_price_new * cfg.vendor.nextgen_price_share) / hopper)
            self.nextgen_cards.transfer(self.acct_fab, agent.account, ng_cards, "made")
            self.cards.transfer(self.acct_stock, agent.account, hopper, "delivered")
            agent.receive_cards(hopper, hopper * self.effective_perf(product), ng_cards, ng_eq)
            agent.pay(self.acct_vendor, cost, "cards")
            fee = self.rules.verdict(self.catalog[product], agent.region, self.date).fee_share
            if fee > 0:  # a licence granted for a share of the revenue (DOMAIN §3, Aug 2025)
                self.cash.transfer(self.acct_vendor, self.acct_treasury, fee * cost, "licence_fee")
            if isinstance(agent, Cloud):
                agent.pay(self.acct_datacentre, infra * (hopper + ng_eq), "infrastructure")
                agent.on_delivery(hopper + ng_eq)
            self._log("vendor", agent.unique_id, "vendor", hopper + ng_cards)
        life = int(round(cfg.supply.card_life_years * 52))
        for agent in self._owners:
            if agent.cohorts and self.steps - agent.cohorts[0][0] >= life:
                agent.retire(life)
        if self.steps % cfg.vendor.price_review_weeks == 0:
            self._reprice_vendor()
        self._measure_lead_time()

    def _enforce_rules_on_backlog(self) -> None:
        """Orders a rule now forbids are cancelled (the legal channel cannot fill them)."""
        ob = self.orders
        if not ob.outstanding:
            return
        verdicts: dict[tuple[str, str], bool] = {}   # one rule lookup per product and region

        def allowed(p: str, r: str) -> bool:
            if (p, r) not in verdicts:
                verdicts[p, r] = self.rules.allowed(self.catalog[p], r, self.date)
            return verdicts[p, r]

        keep = [allowed(p, r) if r != "US" else True for p, r in zip(ob.product, ob.region)]
        if not all(keep):
            ob.cancel(keep)

    def _reprice_vendor(self) -> None:
        v = self.cfg.vendor
        if self.lead_time_weeks > v.target_lead_weeks:
            self.vendor_multiple = min(v.max_price_multiple, self.vendor_multiple * (1 + v.price_step))
        elif self.lead_time_weeks < 0.5 * v.target_lead_weeks:
            self.vendor_multiple = max(v.min_price_multiple, self.vendor_multiple * (1 - v.price_step))
        self.card_price_new = v.list_price * self.vendor_multiple

    def _measure_lead_time(self) -> None:
        """Lead time read off the backlog: the weeks until the vendor's planned output (its booked
        packaging capacity) has made every card already on order, plus set-up."""
        planned = self._output[self.steps + 1:, 0] + self._output[self.steps + 1:, 1] * \
            self.cfg.supply.nextgen_h100_equivalents
        self.lead_time_weeks = min(NEVER_WEEKS, lead_time_weeks(self.orders.backlog(), planned,
                                                                 self.cfg.vendor.integration_weeks))

    def _deliverable_share(self) -> np.ndarray:
        """Share of each cloud's active reservations it can actually serve (late deliveries)."""
        out = np.ones((len(self.clouds), 2))
        if len(self.reservations) == 0:
            return out
        caps = np.array([c.capacity() for c in self.clouds])
        for tier in (SMALL, LARGE):
            committed = self.reservations.committed(self.steps, len(self.clouds), tier)
            cap = caps[:, tier]
            if tier == LARGE:
                self._cap_cache = cap
            out[:, tier] = np.where(committed > cap, cap / np.maximum(committed, 1e-9), 1.0)
        return out

    # -- hours ---------------------------------------------------------------------------------
    def _clear_hours(self) -> None:
        clouds = self.clouds
        n_c = len(clouds)
        caps = np.array([c.capacity() for c in clouds])                    # (clouds, tiers)
        reserved = np.empty((n_c, 2))
        for t in (SMALL, LARGE):
            reserved[:, t] = self.reservations.committed(self.steps, n_c, t)
        od_cap = np.maximum(caps - reserved, 0.0)
        od_price = np.array([c.list_price for c in clouds])
        floors = np.array([c.spot_floor() for c in clouds])
        # Private clouds hand what on-demand buyers leave to resellers, asking at least their floor.
        lines = self.demand.arrays()
        asks = self.supply.arrays()
        res = clear_hours(lines, asks, od_cap, od_price, self.rng, cloud_floor=floors,
                          cloud_accounts=np.array([c.account for c in clouds]),
                          cloud_resellers=np.array([c.reseller.account for c in clouds]),
                          small_price=self.last_spot(SMALL))
        hours = HOURS_PER_WEEK
        # On-demand payments: buyer -> cloud.
        bought = res.od_fill > 0
        if bought.any():
            payee = np.array([c.account for c in clouds])[res.od_cloud[bought]]
            self.cash.transfer_many(lines["buyer"][bought], payee,
                                    res.od_fill[bought] * hours * od_price[res.od_cloud[bought]], "ondemand")
        # Spot: buyers pay the pool; the pool pays sellers less the reseller's fee.
        all_asks = res.asks
        spot_line_price = np.where(lines["tier"] == LARGE, res.spot_price[LARGE], res.spot_price[SMALL])
        got = res.spot_fill > 0
        if got.any():
            self.cash.transfer_many(lines["buyer"][got], np.full(got.sum(), self.acct_pool),
                                    res.spot_fill[got] * hours * spot_line_price[got], "spot")
        sold = res.ask_fill > 0
        if sold.any():
            value = res.ask_value[sold] * hours
            fee_share = np.array([self._fee_of(a) for a in all_asks["reseller"][sold]])
            self.cash.transfer_many(np.full(sold.sum(), self.acct_pool), all_asks["seller"][sold],
                                    value * (1 - fee_share), "spot_proceeds")
            self.cash.transfer_many(np.full(sold.sum(), self.acct_pool), all_asks["reseller"][sold],
                                    value * fee_share, "reseller_fee")
            self.resold_hours = float((res.ask_fill[sold] * (all_asks["resale"][sold] == 1)).sum() * hours)
        # Buyers paid exactly what sellers and resellers received: the pool's own account keeps
        # only floating-point residue (it is an outside account, so the books still balance).
        # What was used, by use.
        filled = res.od_fill + res.spot_fill
        self._used = np.asarray(self._used, dtype=np.float64) + (
            np.bincount(lines["use"], weights=filled, minlength=3) if len(filled) else 0.0)
        unmet = lines["gpus"] - filled
        self.unmet_gpus = float(unmet.sum()) if len(unmet) else 0.0
        # Feedback to the few rich agents (fine-tuners see prices directly).
        by_id = self._by_id
        rich = (lines["owner"] >= 0).nonzero()[0]
        for uid, use, wanted, got in zip(lines["owner"][rich].tolist(), lines["use"][rich].tolist(),
                                         lines["gpus"][rich].tolist(), filled[rich].tolist()):
            by_id[uid].on_hours(use, wanted, got)
        if len(asks["gpus"]):
            offered = asks["gpus"]
            share = res.ask_fill[: len(offered)] / np.maximum(offered, 1e-12)
            for uid, tier, sold_share in zip(asks["holder"].tolist(), asks["tier"].tolist(),
                                             share.tolist()):
                by_id[uid].on_ask(tier, sold_share)
        # Clouds learn what they sold and whom they turned away at their own list price (shared
        # among clouds by size: a turned-away buyer would have tried any of them).
        sizes = np.array([c.size for c in clouds])
        at_list = res.od_sold.sum(axis=1) + reserved.sum(axis=1)
        sold_gpus = at_list + res.cloud_spot_sold.sum(axis=1)
        # Revenue per cloud from every channel: on demand, reservations (at contract rates) and
        # spot hours handed to resellers.
        rb = self.reservations
        if len(rb):
            act = rb.active(self.steps)
            res_revenue = np.bincount(rb.provider[act], weights=rb.gpus[act] * rb.price[act] * hours,
                                      minlength=n_c)
        else:
            res_revenue = np.zeros(n_c)
        crow = (res.asks["cloud"] >= 0).nonzero()[0]
        spot_revenue = np.bincount(res.asks["cloud"][crow], weights=res.ask_value[crow] * hours,
                                   minlength=n_c)
        od_sold = res.od_sold.sum(axis=1)
        all_sizes = sizes.sum()
        for i, c in enumerate(clouds):
            turned_away = float(unmet[lines["limit"] >= od_price[i]].sum()) if len(unmet) else 0.0
            revenue = float(od_sold[i] * hours * od_price[i] + res_revenue[i] + spot_revenue[i])
            c.on_week(sold_gpus[i], at_list[i], turned_away * sizes[i] / all_sizes, revenue)
        # Prices: clearing price, else mid of the spread, else last week's.
        last = self.spot_hist[-1]
        now = np.where(np.isfinite(res.spot_indicative), res.spot_indicative, last)
        self.spot_hist.append(now)
        self._expected = None
        self._spot_volume = res.spot_volume
        self._capacity_eq = float(caps.sum())
        self._cloud_used = float(sold_gpus.sum())
        self._log_hours(lines, res, clouds)

    def _log(self, seller, buyer, kind: str, volume: float) -> None:
        if volume > 0:
            self.trade_log.append((self.steps, seller, buyer, kind, MARKETS[kind], float(volume)))

    def _log_hours(self, lines, res, clouds) -> None:
        """Who sold hours to whom this week: clouds on demand; holders to resellers; resellers on
        spot (a buyer is credited to the reseller that sold most on its tier)."""
        log = self.trade_log.append
        step = self.steps
        owner = lines["owner"]
        pool = owner < 0
        rich = ~pool
        # each cloud's on-demand buyers, in line order (one stable sort instead of a mask a cloud)
        bought = (res.od_cloud >= 0).nonzero()[0]
        key = res.od_cloud[bought]
        if len(clouds) < 2 ** 15:
            key = key.astype(np.int16)   # a stable sort of small ints is a radix sort
        by_cloud = bought[key.argsort(kind="stable")]
        bounds = np.searchsorted(res.od_cloud[by_cloud], np.arange(len(clouds) + 1))
        for i, cloud in enumerate(clouds):
            mine = by_cloud[bounds[i]:bounds[i + 1]]
            k = mine[rich[mine]]
            for buyer, vol in zip(owner[k].tolist(), res.od_fill[k].tolist()):
                if vol > 0:
                    log((step, cloud.unique_id, buyer, "ondemand", MARKETS["ondemand"], vol))
            self._log(cloud.unique_id, "finetuner-pool", "ondemand",
                      float(res.od_fill[mine[pool[mine]]].sum()))
        asks = res.asks
        by_reseller = {}
        k = (res.ask_fill > 0).nonzero()[0]
        for acct, seller_acct, tier, vol in zip(asks["reseller"][k].tolist(), asks["seller"][k].tolist(),
                                                 asks["tier_cleared"][k].tolist(), res.ask_fill[k].tolist()):
            seller = self._owner_of_account[seller_acct]
            reseller = self._owner_of_account[acct]
            self._log(seller.unique_id, reseller.unique_id, "resale", vol)
            key = (tier, reseller.unique_id)
            by_reseller[key] = by_reseller.get(key, 0.0) + vol
        for tier in (SMALL, LARGE):
            sold = {r: v for (t, r), v in by_reseller.items() if t == tier}
            if not sold:
                continue
            top = max(sold, key=sold.get)
            on_tier = (lines["tier"] == tier) & (res.spot_fill > 0)
            k = (on_tier & rich).nonzero()[0]
            for buyer, vol in zip(owner[k].tolist(), res.spot_fill[k].tolist()):
                if vol > 0:
                    log((step, top, buyer, "spot", MARKETS["spot"], vol))
            self._log(top, "finetuner-pool", "spot", float(res.spot_fill[on_tier & pool].sum()))

    def _fee_of(self, account: int) -> float:
        agent = self._owner_of_account.get(int(account))
        return agent.fee if isinstance(agent, Reseller) else 0.0

    def _agent_by_id(self, uid: int):
        return self._by_id[uid]

    # -- used cards ----------------------------------------------------------------------------
    def _clear_used_cards(self) -> None:
        """Owners with idle cards sell; buyers who cannot wait the lead time bid."""
        m_lead = self.lead_time_weeks
        c = self.cfg.cloud
        # A card today instead of after the lead time is worth the hours it would otherwise rent,
        # at the cheaper of the spot and reserved rates.
        p_hour = min(self.expected_price(LARGE), self.reserved_price)
        # Buyers: own-cluster builders and clouds that still wait for cards.
        wait_value = max(0.0, p_hour - c.opex_per_gpu_hour) * HOURS_PER_WEEK * c.target_utilization
        bid_price = self.card_price_new + min(m_lead, 52.0) * wait_value
        for agent in self.clouds + [cr for cr in self.creators if cr.build_own and cr.region == "US"]:
            backlog = self.orders.backlog_of(agent.account)
            if backlog > 0 and m_lead > 4 and agent.cash > bid_price:
                self.card_bids.add(buyer=agent.unique_id, qty=min(backlog * 0.05, agent.cash / bid_price),
                                   price=bid_price)
        # Sellers: clouds with idle fleets, and creators that no longer use their clusters.
        hold = self._holding_value()
        # An owner sells a card to anyone who pays more than the card will earn it: a small share
        # of its fleet each week, more when the fleet sits idle.
        for cloud in self.clouds:
            idle = max(0.0, 1.0 - cloud.util / c.target_utilization) * cloud.gpus
            offer = SELL_SHARE * cloud.gpus + 0.1 * idle
            if offer > 1:
                self.card_asks.add(seller=cloud.unique_id, qty=offer, price=hold)
        for cr in self.creators:
            if cr.build_own and cr.mode not in (TRAIN_MODE, FINETUNE_MODE) and cr.region != "CN" \
                    and cr.gpus > 1:
                self.card_asks.add(seller=cr.unique_id, qty=cr.gpus * 0.1, price=0.9 * hold)
        bids, asks = self.card_bids.arrays(), self.card_asks.arrays()
        res = clear_uniform(bids["qty"], bids["price"], asks["qty"], asks["price"])
        if res.traded:
            self._settle_card_trades(bids, asks, res, "used_cards")
        p = res.indicative()
        if np.isfinite(p):
            self.card_price_secondary = p

    def _holding_value(self) -> float:
        """What an owner expects a card to earn over the rest of its life (mean-reverting rents)."""
        from model.finance import cost_price, expected_price_path, npv
        c = self.cfg.cloud
        capex = self.card_price_new + c.infra_capex_per_gpu
        life = self.cfg.supply.card_life_years
        p_lr = cost_price(capex, c.opex_per_gpu_hour, c.target_utilization, life, c.hyperscaler_hurdle)
        path = expected_price_path(self.expected_price(LARGE), p_lr, c.hyperscaler_halflife_weeks,
                                   int(life * 52 * 0.8))
        flows = HOURS_PER_WEEK * (path * c.target_utilization - c.opex_per_gpu_hour)
        return max(0.0, npv(c.hyperscaler_hurdle, np.concatenate([[0.0], flows])))

    def _settle_card_trades(self, bids, asks, res, kind: str) -> None:
        """Pair filled bids and asks in order and move cards and cash between them."""
        b_left = res.bid_fill.copy()
        a_left = res.ask_fill.copy()
        i = j = 0
        while i < len(b_left) and j < len(a_left):
            if b_left[i] <= 1e-9:
                i += 1
                continue
            if a_left[j] <= 1e-9:
                j += 1
                continue
            q = min(b_left[i], a_left[j])
            buyer, seller = self._by_id[int(bids["buyer"][i])], self._by_id[int(asks["seller"][j])]
            q = min(q, seller.gpus)
            if q > 1e-9:
                self._transfer_cards(seller, buyer, q, res.price, kind)
            b_left[i] -= q
            a_left[j] -= q
            if q <= 1e-9:
                j += 1

    def _transfer_cards(self, seller, buyer, qty: float, price: float, kind: str) -> None:
        if isinstance(buyer, GreyBroker):
            buyer.add_cost(qty, price)
        eq = seller.remove_cards(qty, buyer.account)
        buyer.receive_cards(qty, eq)
        buyer.pay(seller.account, qty * price, kind)
        if isinstance(buyer, Cloud):
            buyer.on_delivery(eq)
        self._log(seller.unique_id, buyer.unique_id, kind, qty)

    # -- grey channel --------------------------------------------------------------------------
    def _clear_grey(self) -> None:
        g = self.cfg.grey
        p_seize = seizure_probability(g.seizure_prob, g.seizure_odds_multiplier)
        # Arrivals first: seizures, fakes, balances.
        for ship, seized, fakes in self.grey.arrivals(self.steps, self.rng, p_seize, g.fake_share):
            broker, buyer = self._by_id[ship.broker], self._by_id[ship.buyer]
            if seized:
                self.cards.transfer(self.acct_transit, self.acct_seized, ship.cards, "seized")
                fine = g.fine_share * ship.cards * ship.price
                broker.pay(self.acct_fines, min(fine, max(broker.cash, 0.0)), "fine")
                self.seized_cards += ship.cards
            else:
                self.cards.transfer(self.acct_transit, buyer.account, ship.cards, "smuggled")
                buyer.receive_cards(ship.cards - fakes, ship.cards - fakes)
                if fakes > 0:  # relabelled or refurbished cards are written off
                    self.cards.transfer(buyer.account, self.acct_retired, fakes, "fakes")
                balance = ship.price * ship.cards - ship.deposit
                buyer.pay(broker.account, min(balance, max(buyer.cash, 0.0)), "grey_balance")
                self.smuggled_cards += ship.cards
                self._log(broker.unique_id, buyer.unique_id, "grey", ship.cards)
        bids, asks = self.grey_bids.arrays(), self.grey_asks.arrays()
        seen = float(bids["qty"].sum()) / max(1, len(self.brokers))
        for b in self.brokers:
            b.demand_seen += seen
        res = clear_uniform(bids["qty"], bids["price"], asks["qty"], asks["price"])
        if res.traded:
            b_left, a_left = res.bid_fill.copy(), res.ask_fill.copy()
            i = j = 0
            while i < len(b_left) and j < len(a_left):
                q = min(b_left[i], a_left[j])
                if q > 1e-9:
                    buyer, broker = self._by_id[int(bids["buyer"][i])], self._by_id[int(asks["seller"][j])]
                    q = min(q, broker.gpus)
                    deposit = g.deposit_share * q * res.price
                    buyer.pay(broker.account, deposit, "grey_deposit")
                    broker.remove_cards(q, self.acct_transit)
                    weeks = int(self.rng.integers(g.delivery_weeks_min, g.delivery_weeks_max + 1))
                    self.grey.dispatch(Shipment(broker.unique_id, buyer.unique_id, q, res.price, deposit,
                                                self.steps + weeks))
                b_left[i] -= q
                a_left[j] -= q
                if b_left[i] <= 1e-9:
                    i += 1
                if a_left[j] <= 1e-9:
                    j += 1
        offered = asks["qty"]
        for k in range(len(offered)):
            self._by_id[int(asks["seller"][k])].on_sale(float(res.ask_fill[k] / max(offered[k], 1e-12)))
        # The grey price is what deals close at (DOMAIN §6 reports prices dealt); before the first
        # deal, the middle of the brokers' and buyers' quotes.
        if res.traded:
            self.grey_trade_price = self.grey_price = res.price
            self._grey_dealt = True
        elif not self._grey_dealt and np.isfinite(res.indicative()):
            self.grey_price = res.indicative()

    # -- settlement ----------------------------------------------------------------------------
    def _settle(self) -> None:
        rb = self.reservations
        due = rb.weekly_due(self.steps)
        ks = (due > 0).nonzero()[0]
        balance, by_id, clouds = self.cash.balance, self._by_id, self.clouds
        payers = np.array([by_id[h].account for h in rb.holder[ks].tolist()], dtype=np.int64)
        amounts = due[ks]
        # Contracts are paid one by one; a holder that cannot pay one defaults on it. When every
        # holder clearly has the cash for all its contracts (a margin far above rounding), no one
        # defaults and the payments can be booked in one go, in the same order.
        owed = np.bincount(payers, weights=amounts, minlength=len(balance))[payers]
        if ks.size and (balance[payers] - owed >= 1e-9 * np.abs(balance[payers]) + 1e-6).all():
            payees = np.array([c.account for c in clouds])[rb.provider[ks]]
            self.cash.transfer_in_turn(payers, payees, amounts, "reservation")
        else:
            for k, account, provider, amount in zip(ks.tolist(), payers.tolist(),
                                                    rb.provider[ks].tolist(), amounts.tolist()):
                if balance[account] >= amount:
                    self.cash.transfer(account, clouds[provider].account, amount, "reservation")
                else:  # default: the contract ends, prepaid money is not returned
                    rb.terminate(k, self.steps)
        if self.steps % 13 == 0:
            rb.expire(self.steps)
        # Running costs: power and site for every hour used on owned or cloud fleets.
        opex = self.cfg.cloud.opex_per_gpu_hour * HOURS_PER_WEEK
        for cloud in self.clouds:
            used = cloud.util * cloud.capacity().sum()
            cost = used * opex
            cloud.pay(self.acct_power, min(cost, max(cloud.cash + self.credit_limit(cloud), 0.0)), "opex")
        # Own clusters pay power and site for the hours they run (each as far as cash and credit
        # reach), booked in builder order.
        running = [cr for cr in self.creators if cr.own_used > 0]
        if running:
            cost = np.array([cr.own_used for cr in running]) * opex
            accounts = np.array([cr.account for cr in running], dtype=np.int64)
            credit = self.cfg.cloud.credit_ltv * np.array([cr.fleet_eq for cr in running]) * \
                self.cfg.vendor.list_price
            room = np.maximum(self.cash.balance[accounts] + credit, 0.0)
            self.cash.transfer_in_turn(accounts, np.full(len(running), self.acct_power),
                                       np.minimum(cost, room), "opex")

    # -- records -------------------------------------------------------------------------------
    def _record(self, initial: bool = False) -> None:
        self._by_id = {a.unique_id: a for a in self._owners} if initial or not hasattr(self, "_by_id") \
            else self._by_id
        hours = HOURS_PER_WEEK
        small, large = self.spot_hist[-1]
        vol = getattr(self, "_spot_volume", np.zeros(2))
        self.small_cluster_price = float(small)
        self.large_cluster_price = float(large)
        self.spot_price = float((small * vol[SMALL] + large * vol[LARGE]) / vol.sum()) if vol.sum() > 0 \
            else float(small)
        caps = np.array([c.capacity().sum() for c in self.clouds])
        w = caps / caps.sum() if caps.sum() > 0 else np.full(len(caps), 1 / max(1, len(caps)))
        self.ondemand_price = float(sum(c.list_price * wi for c, wi in zip(self.clouds, w)))
        self.reserved_price = float(sum(c.reserved_rate(52) * wi for c, wi in zip(self.clouds, w)))
        used = np.asarray(self._used, dtype=np.float64)
        self.gpu_hours_training = float(used[TRAIN] * hours)
        self.gpu_hours_finetune = float(used[FINETUNE] * hours)
        self.gpu_hours_inference = float(used[INFERENCE] * hours)
        total = used.sum()
        self.training_share = float(used[TRAIN] / total) if total > 0 else 0.0
        modes = [c.mode for c in self.creators if c.active]
        self.teams_training = modes.count(TRAIN_MODE)
        self.teams_finetuning = modes.count(FINETUNE_MODE) + self.finetuners.count_active()
        if initial:
            self._owner_accounts = np.array([a.account for a in self._owners], dtype=np.int64)
        self.gpus_installed = float(self.cards.balance[self._owner_accounts].sum()) + \
            float(self.cards.balance[self.finetuners.account].sum())
        own_eq = sum(cr.fleet_eq for cr in self.creators if cr.build_own)
        capacity = caps.sum() + own_eq
        self.utilization = float(min(1.0, total / capacity)) if capacity > 0 else 0.0
        self.card_price_secondary = float(self.card_price_secondary)
        self.grey_card_price = float(self.grey_price)
        self.grey_card_price_cny = self.grey_card_price * self.cfg.grey.fx_cny_per_usd
        self.backlog_cards = self.orders.backlog()
        self.reservations_gpus = float(self.reservations.gpus[self.reservations.active(self.steps)].sum()) \
            if len(self.reservations) else 0.0
        if not hasattr(self, "vendor_output"):
            self.vendor_output = 0.0
        self.new_capacity_irr = self._market_irr()

    def _market_irr(self) -> float:
        """IRR of a card bought today at the vendor's price, at today's rents and utilisation."""
        from model.finance import cost_price, new_card_irr
        c = self.cfg.cloud
        capex = self.card_price_new + c.infra_capex_per_gpu
        life = self.cfg.supply.card_life_years
        p_now = self.expected_price(LARGE)
        p_lr = cost_price(capex, c.opex_per_gpu_hour, c.target_utilization, life, c.hyperscaler_hurdle)
        value = new_card_irr(capex, p_now, p_lr, c.hyperscaler_halflife_weeks,
                             max(0.2, self.utilization), c.opex_per_gpu_hour, life)
        return float(value) if np.isfinite(value) else -1.0

    def _collect_agents(self) -> None:
        self.agent_data.collect(self)
        # Fine-tuners: the pool's arrays only (copies); frames are built when asked for.
        pool = self.finetuners
        self._finetuner_snapshots.append((self.steps, self.cash.balance[pool.account],
                                          self.cards.balance[pool.account], pool.active.copy()))

    # ------------------------------------------------------------------------------------------
    # Outputs
    # ------------------------------------------------------------------------------------------
    def series(self) -> pd.DataFrame:
        df = self.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        df["date"] = pd.to_datetime(df["date"])
        df.index.name = "step"
        return df

    def agent_frame(self) -> pd.DataFrame:
        frames = []
        for kind, cls in (("creator", ModelCreator), ("cloud", Cloud), ("reseller", Reseller),
                          ("broker", GreyBroker)):
            if cls not in self.agents_by_type:  # none of this kind (Mesa would give NaN rows)
                continue
            try:
                df = self.agent_data.get_agenttype_vars_dataframe(cls).reset_index()
            except (KeyError, ValueError, AttributeError):
                continue
            if len(df):
                df = df.rename(columns={"Step": "step", "AgentID": "agent_id"})
                df["kind"] = kind
                frames.append(df[["step", "agent_id", "kind", "region", "cash", "gpus", "mode", "name"]])
        ids = [a.unique_id for a in self.finetuners.agents]
        ft = pd.concat([pd.DataFrame({
            "step": step, "agent_id": ids, "kind": "finetuner", "region": "US", "cash": cash,
            "gpus": gpus, "mode": np.where(active, "finetune", "idle"),
        }) for step, cash, gpus, active in self._finetuner_snapshots], ignore_index=True) \
            if self._finetuner_snapshots else None
        if ft is not None:
            ft["name"] = "ft-" + ft["agent_id"].astype(str)
            frames.append(ft)
        out = pd.concat(frames, ignore_index=True)
        out["date"] = pd.to_datetime(self.start) + pd.to_timedelta(out["step"] * 7, unit="D")
        return out[["step", "date", "agent_id", "kind", "region", "cash", "gpus", "mode", "name"]]

    @property
    def events(self) -> list[tuple[dt.date, str, str]]:
        """Dates to mark on charts: launches, rules (announced and in force), open-weight releases."""
        ev = [(dt.date(2022, 11, 30), "ChatGPT", "market"),
              (self.cfg.supply.h100_first_ship, "H100 ships", "supply")]
        for r in self.rules.rules:
            if r.announce != r.effective:
                ev.append((r.announce, f"{r.name} announced", "policy"))
            ev.append((r.effective, r.name, "policy"))
            if r.rescinded:
                ev.append((r.rescinded, f"{r.name} rescinded", "policy"))
        for rel in self.cfg.openweights.releases:
            ev.append((rel.date, rel.name, "open-weights"))
        lo, hi = self.start, self.cfg.run.end
        return sorted(e for e in ev if lo <= e[0] <= hi)


def release_model(model: mesa.Model) -> None:
    """Drop Mesa 3.3's per-model id counter so long-lived processes do not keep every model."""
    mesa.Agent._ids.pop(model, None)
