"""H100Market: the world, wired together, and its week.

One step is one week. The exogenous drivers move; the vendor ships cards on order and reviews its
price list; agents decide (clouds price and order, creators plan, reserve, order and bid,
fine-tuners enter or leave, brokers source); then the markets clear (hours, used cards, the grey
channel), contracts settle and owners pay to keep running. Prices, lead times and shares of use
are never inputs: each market publishes what happened in it (``model/markets/``).
"""

from __future__ import annotations

import datetime as dt

import mesa
import numpy as np
import pandas as pd

import agents  # noqa: F401  (registers the built-in agent kinds)
from model.config import RULE, Table, _check_table, load_scenario, resolve_key
from model.drivers import Drivers
from model.errors import InputError
from model.markets import GreyMarket, HoursMarket, NewCardMarket, ReservationMarket, UsedCardMarket
from model.mechanisms.ledger import Ledger
from model.mechanisms.products import catalog
from model.mechanisms.rules import ExportRule, RuleBook
from model.mechanisms.vocabulary import WEEK
from model.population import Population, release_model
from model.record import EXTRA_SERIES, SERIES, Recorder
from model.timeline import n_steps

__all__ = ["EXTERNAL", "EXTRA_SERIES", "SERIES", "H100Market", "release_model"]

#: Outside parties with accounts in the ledgers (money and cards come from and go to them).
EXTERNAL = (
    "investors",
    "vendor",
    "treasury",
    "fab",
    "datacentre",
    "power_site",
    "payroll",
    "fines",
    "retired",
    "in_transit",
    "seized",
    "spot_pool",
    "vendor_stock",
    "other_parts",
    "lenders",  # the capital behind the GPU-backed lenders (agents/lender.py)
)
LAUNCH_PRICE_CAP = 4.70  # USD per GPU-hour: the H100's on-demand launch price (DOMAIN §6)


class H100Market(mesa.Model):
    """The market for H100 compute. Keyword-only; every parameter has a default."""

    LIVE_LEVERS = ("funding_multiplier", "export_controls", "seizure_odds_multiplier")

    def __init__(self, *, scenario: str = "baseline", seed: int | None = None, **overrides):
        if isinstance(seed, str):  # a seed typed in a UI arrives as text
            seed = int(seed) if seed.strip() else None
        super().__init__(seed=seed)
        self.seed, self.scenario, self._overrides = seed, scenario, dict(overrides)
        self.lever_log: list[tuple[int, dt.date, str, object]] = []  # levers pulled mid-run
        self.cfg = self.config = cfg = load_scenario(scenario, **overrides)
        self.start = self.date = cfg.run.start
        self.n_steps = n_steps(cfg.run.start, cfg.run.end)
        self.catalog = catalog()
        self._added_rules: list[ExportRule] = []
        self.rules = RuleBook.from_config(cfg)
        self.drivers = Drivers(cfg, self.start, self.n_steps)
        self._open_books()
        launch = float(np.mean([c.ondemand_price for c in cfg.population.clouds]))
        self.launch_price = LAUNCH_PRICE_CAP if not np.isfinite(launch) else min(launch, LAUNCH_PRICE_CAP)
        self.new_cards = NewCardMarket(self)
        self.reservations = ReservationMarket(self)
        self.hours = HoursMarket(self, self.launch_price)
        self.used_cards = UsedCardMarket(self)
        self.grey = GreyMarket(self)
        self.markets = (self.new_cards, self.reservations, self.hours, self.used_cards, self.grey)
        self.population = Population(self)
        self.vendor = self.population.of("vendor")[0]
        self.new_cards.measure_lead_time()
        self.recorder = Recorder(self)
        self.trade_log = self.recorder.trade_log
        self.datacollector = self.recorder.series_collector  # what mesa.batch_run reads
        self.recorder.record()
        self.recorder.collect_agents()

    def _open_books(self) -> None:
        """Three ledgers (cash, Hopper cards, next-generation cards) with the same accounts in
        the same order; the outside parties open first."""
        self.cash, self.cards, self.nextgen_cards = Ledger("cash"), Ledger("cards"), Ledger("nextgen")
        for name in EXTERNAL:
            for ledger in (self.cash, self.cards, self.nextgen_cards):
                ledger.open(name)
        acct = self.cash.index
        self.acct_investors, self.acct_fab = acct["investors"], acct["fab"]
        self.acct_treasury = acct["treasury"]
        self.acct_datacentre, self.acct_power = acct["datacentre"], acct["power_site"]
        self.acct_payroll = acct["payroll"]  # teams' staff and overheads
        self.acct_fines, self.acct_retired = acct["fines"], acct["retired"]
        self.acct_transit, self.acct_seized = acct["in_transit"], acct["seized"]
        self.acct_pool, self.acct_stock = acct["spot_pool"], acct["vendor_stock"]
        self.acct_other_parts = acct["other_parts"]  # owners of the L40S, MI300X, TPUs that serve inference

    # -- investors -----------------------------------------------------------------------------
    def fund(self, agent, amount: float) -> None:
        self.cash.transfer(self.acct_investors, agent.account, amount, "funding")

    def fund_many(self, accounts: np.ndarray, amounts: np.ndarray) -> None:
        self.cash.transfer_many(np.full(len(accounts), self.acct_investors), accounts, amounts, "funding")

    # -- the week ------------------------------------------------------------------------------
    def step(self) -> None:
        self.date = self.start + self.steps * WEEK
        self.drivers.at(self.steps)
        for market in self.markets:
            market.open_week()
        self.new_cards.deliver()  # the vendor ships what is paid for
        self.population.retire_aged_cards()
        self.vendor.review_prices(self.new_cards.lead_time_weeks)
        self.new_cards.publish()  # list price and lead time
        self.reservations.take_stock()  # what clouds can serve
        self.population.decide()  # every kind, in week order
        self.hours.clear()
        self.used_cards.clear()
        self.grey.clear()
        self.reservations.settle()
        self.population.pay_running_costs()
        self.recorder.record()
        if self.steps % self.cfg.run.agent_data_every == 0:
            self.recorder.collect_agents()
        if self.steps >= self.n_steps:
            self.running = False

    def run_to_end(self, progress: bool = False) -> H100Market:
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

    # -- outputs -------------------------------------------------------------------------------
    def series(self) -> pd.DataFrame:
        """One row per week (row 0 is the initial state); columns SERIES + EXTRA_SERIES."""
        return self.recorder.series()

    def agent_frame(self) -> pd.DataFrame:
        """Firms every `agent_data_every` weeks: step, date, agent_id, kind, region, cash, gpus,
        mode, name."""
        return self.recorder.agent_frame()

    @property
    def events(self) -> list[tuple[dt.date, str, str]]:
        """Dates to mark on charts: launches, rules (announced and in force), open-weight releases."""
        return self.recorder.events()

    # -- levers a user may pull while the model runs (the app's regulator and investor) ---------
    def get_lever(self, name: str):
        return self.cfg.get(resolve_key(name))

    def set_lever(self, name: str, value) -> None:
        """Change a live lever from now on (validated like any override; logged in lever_log)."""
        leaf = resolve_key(name).split(".", 1)[1]
        if leaf not in self.LIVE_LEVERS:
            raise InputError(
                f"lever {name!r} cannot change while the model runs; live levers: "
                f"{', '.join(self.LIVE_LEVERS)} (others apply on Reset)"
            )
        overrides = {**self._overrides, leaf: value}
        cfg = load_scenario(self.scenario, **overrides)
        self._overrides, self.cfg, self.config = overrides, cfg, cfg
        if leaf == "funding_multiplier":
            self.drivers.rescale_funding(self.steps, cfg.demand.funding_multiplier)
        elif leaf == "export_controls":
            self._rebuild_rules()
        self.lever_log.append((self.steps, self.date, leaf, value))

    def add_export_rule(self, **fields) -> None:
        """Add an export rule mid-run (a student playing the regulator), e.g.
        ``add_export_rule(name="My rule", regions=["CN"], tpp_min=1000.0)``; announce and effective
        default to today. Validated against the scenario schema."""
        row = {"announce": self.date, "effective": self.date, **fields}
        rule = ExportRule.from_config(_check_table(Table(RULE), [row], "add_export_rule", None)[0])
        self._added_rules.append(rule)
        self._rebuild_rules()
        self.lever_log.append((self.steps, self.date, "add_export_rule", rule.name))

    def _rebuild_rules(self) -> None:
        rules = [ExportRule.from_config(r) for r in self.cfg.policy.rules] + self._added_rules
        self.rules = RuleBook(rules, self.cfg.policy.export_controls)
