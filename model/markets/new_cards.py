"""The vendor's order book: new cards made to order, allocated when short, shipped when paid.

Customers place orders at the vendor's list price; the vendor makes what the backlog needs within
its packaging capacity (a driver), allocates scarce output by its weights and a cap per customer,
and ships each customer only what its cash and card-backed credit can pay for. The lead time is
read off the backlog against the planned output. Publishes ``card_price_new`` (the vendor's list),
``lead_time_weeks``, ``vendor_output``, ``new_card_orders`` and ``backlog_cards``.
"""

from __future__ import annotations

from itertools import compress

import numpy as np

from model.markets.base import Market, register
from model.mechanisms.orderbook import OrderBook, lead_time_weeks
from model.mechanisms.products import prefers_nextgen
from model.mechanisms.vocabulary import EXPORT_LINE_IO_GBPS, H100

NEVER_WEEKS = 520.0  # a lead time this long means the vendor plans no output to fill the backlog
LEGAL_PARTS = (H100, "H800", "H20")  # the Hopper parts the legal channel may sell, best first


@register
class NewCardMarket(Market):
    name = "vendor"
    unit = "cards"

    def __init__(self, model):
        super().__init__(model)
        self.book = OrderBook()
        self.price = model.cfg.vendor.list_price  # card_price_new
        self.lead_time_weeks = 0.0
        self.nextgen_lead_time_weeks = float("nan")  # NaN until the vendor plans any next-gen output
        self.vendor_output = 0.0
        self.orders_placed = 0.0  # new_card_orders this week
        self._best_legal: dict = {}  # (region, date, rule book) -> answer

    def open_week(self) -> None:
        self.orders_placed = 0.0

    # -- what buyers ask -------------------------------------------------------------------------
    def backlog_of(self, account: int) -> float:
        return self.book.backlog_of(account)

    def price_of(self, product: str) -> float:
        return self.model.vendor.price_of(self.model.catalog[product], self.price)

    def effective_perf(self, product: str) -> float:
        """Work a part does in a cluster, in H100s: parts with cut chip-to-chip I/O (below the
        export line) lose `legal_premium_h100` in multi-node training."""
        p = self.model.catalog[product]
        return (
            p.perf * (1.0 - self.model.cfg.grey.legal_premium_h100)
            if p.io_gbps < EXPORT_LINE_IO_GBPS
            else p.perf
        )

    def best_legal_product(self, region: str) -> tuple[str | None, float]:
        """The best Hopper part the legal channel may sell into a region today."""
        m = self.model
        key = (region, m.date, m.rules)
        if key not in self._best_legal:
            best, perf = None, 0.0
            for name in LEGAL_PARTS:
                p = m.catalog[name]
                if p.orderable(m.date) and m.rules.allowed(p, region, m.date):
                    eff = self.effective_perf(name)
                    if eff > perf:
                        best, perf = name, eff
            self._best_legal[key] = (best, perf)
        return self._best_legal[key]

    def takes_nextgen(self, hour_value: float, training: bool) -> bool:
        """Whether a buyer whose hours are worth `hour_value` takes next-generation cards for an
        order (``products.prefers_nextgen``): frontier training gets `nextgen_training_factor` more
        work per H100-equivalent from them, other uses none."""
        s = self.model.cfg.supply
        price_eq = self.model.cfg.vendor.nextgen_price_share * self.price
        factor = s.nextgen_training_factor if training else 1.0
        return prefers_nextgen(
            self.price, self.lead_time_weeks, price_eq, self.nextgen_lead_time_weeks, factor, hour_value
        )

    def order(
        self,
        agent,
        product: str,
        qty: float,
        nextgen_ok: bool,
        region: str | None = None,
        shell: bool = False,
    ) -> None:
        """Place an order (refused when a rule forbids the part in the buyer's region)."""
        m = self.model
        region = region or agent.region
        if not m.rules.allowed(m.catalog[product], region, m.date):
            return
        self.book.place(
            agent.account,
            product,
            qty,
            m.vendor.weight_of(agent),
            self.price_of(product),
            region,
            m.steps,
            nextgen_ok,
            shell,
        )
        self.orders_placed += qty

    # -- the week --------------------------------------------------------------------------------
    def deliver(self) -> None:
        """Cancel what rules forbid, make to order, allocate and ship against payment."""
        m = self.model
        cfg = m.cfg
        hop_cap, ng_cap = m.drivers.output_plan[min(m.steps, m.n_steps)]
        ng_eq_cap = ng_cap * cfg.supply.nextgen_h100_equivalents
        self._enforce_rules_on_backlog()
        # Make to order: never more than the backlog the stock does not already cover.
        backlog = self.book.backlog()
        stock = m.cards[m.acct_stock]
        make = float(min(max(backlog - stock, 0.0), hop_cap))
        m.cards.transfer(m.acct_fab, m.acct_stock, make, "made")
        ng_wanted = sum(compress(self.book.outstanding, self.book.nextgen_ok))
        ng_make_eq = float(min(max(ng_wanted, 0.0), ng_eq_cap))
        self.vendor_output = make + ng_make_eq
        dlv = self.book.allocate_columns(m.cards[m.acct_stock], ng_make_eq, cfg.vendor.max_customer_share)
        equiv = cfg.supply.nextgen_h100_equivalents
        # One booking per customer and product a week (a customer has many orders in the book):
        # lots in order of first delivery, each summed over its deliveries in order.
        lots: dict[tuple[int, str], int] = {}
        lot = np.array(
            [lots.setdefault(key, len(lots)) for key in zip(dlv["customer"], dlv["product"])], dtype=np.int64
        )
        share_ng = cfg.vendor.nextgen_price_share
        value = (
            np.asarray(dlv["price"], dtype=np.float64) * dlv["hopper"]
            + dlv["nextgen_eq"] * self.price * share_ng
        )
        sums = [
            np.bincount(lot, weights=w, minlength=len(lots)).tolist() if len(lots) else []
            for w in (dlv["hopper"], dlv["nextgen_eq"], value)
        ]
        for (customer, product), hopper, ng_eq, cost in zip(lots, *sums):
            agent = m.population.by_account[customer]
            # a lot's sum of allocations can round a hair below zero
            hopper, ng_eq, cost = max(hopper, 0.0), max(ng_eq, 0.0), max(cost, 0.0)
            # The vendor ships only what the customer can pay for (cash plus card-backed credit);
            # the rest of a defaulting customer's lot stays in stock and the order lapses.
            infra = cfg.cloud.infra_capex_per_gpu if agent.builds_datacentres else 0.0
            bill = cost + infra * (hopper + ng_eq)
            cash = agent.cash
            if not bill <= cash:  # credit (never negative) only matters when cash falls short
                room = max(0.0, cash + agent.credit_limit())
                if bill > room:
                    share = room / bill
                    hopper, ng_eq, cost = hopper * share, ng_eq * share, cost * share
            ng_cards = ng_eq / equiv
            if hopper > 0:
                agent.on_purchase(hopper, (cost - ng_eq * self.price * share_ng) / hopper)
            if ng_cards != 0.0:  # a zero transfer books nothing (most lots are Hopper only)
                m.nextgen_cards.transfer(m.acct_fab, agent.account, ng_cards, "made")
            m.cards.transfer(m.acct_stock, agent.account, hopper, "delivered")
            agent.receive_cards(hopper, hopper * self.effective_perf(product), ng_cards, ng_eq)
            agent.pay(m.vendor.account, cost, "cards")
            fee = m.rules.verdict(m.catalog[product], agent.region, m.date).fee_share
            if fee > 0:  # a licence granted for a share of the revenue (DOMAIN §3, Aug 2025)
                m.cash.transfer(m.vendor.account, m.acct_treasury, fee * cost, "licence_fee")
            if agent.builds_datacentres:
                agent.pay(m.acct_datacentre, infra * (hopper + ng_eq), "infrastructure")
                agent.on_delivery(hopper + ng_eq)
            self.log("vendor", agent.unique_id, "vendor", hopper + ng_cards)

    def _enforce_rules_on_backlog(self) -> None:
        """Orders a rule now forbids are cancelled (the legal channel cannot fill them)."""
        m = self.model
        ob = self.book
        if not ob.outstanding:
            return
        # one rule lookup per product and region on the book (US buyers are never barred)
        rules, parts, date = m.rules, m.catalog, m.date
        pairs = set(zip(ob.product, ob.region))
        barred = {(p, r) for p, r in pairs if r != "US" and not rules.allowed(parts[p], r, date)}
        if barred:
            ob.cancel([(p, r) not in barred for p, r in zip(ob.product, ob.region)])

    def report(self) -> dict[str, float]:
        return {
            "card_price_new": self.price,
            "lead_time_weeks": self.lead_time_weeks,
            "backlog_cards": self.book.backlog(),
            "vendor_output": self.vendor_output,
            "new_card_orders": self.orders_placed,
            "nextgen_card_price": self.nextgen_card_price(),
            "nextgen_lead_time_weeks": self.nextgen_lead_time_weeks,
        }

    def nextgen_card_price(self) -> float:
        """The list price of one next-generation card (its H100-equivalents at the vendor's
        price per equivalent); NaN before the vendor makes any."""
        m = self.model
        s, v = m.cfg.supply, m.cfg.vendor
        if not np.isfinite(self.nextgen_lead_time_weeks):
            return float("nan")
        return float(self.price * v.nextgen_price_share * s.nextgen_h100_equivalents)

    def publish(self) -> None:
        """This week's list price (after the vendor's review) and lead time."""
        m = self.model
        self.price = m.vendor.h100_price()
        self.measure_lead_time()

    def measure_lead_time(self) -> None:
        """Lead time read off the backlog: the weeks until the vendor's planned output (its booked
        packaging capacity) has made every card already on order, plus set-up."""
        m = self.model
        plan = m.drivers.output_plan
        planned = plan[m.steps + 1 :, 0] + plan[m.steps + 1 :, 1] * m.cfg.supply.nextgen_h100_equivalents
        self.lead_time_weeks = min(
            NEVER_WEEKS, lead_time_weeks(self.book.backlog(), planned, m.cfg.vendor.integration_weeks)
        )
        # The next generation's own queue: orders that take it, against its own planned output.
        ng_planned = plan[m.steps + 1 :, 1] * m.cfg.supply.nextgen_h100_equivalents
        ng_backlog = sum(compress(self.book.outstanding, self.book.nextgen_ok))
        if plan[: m.steps + 1, 1].sum() <= 0 and ng_planned[:13].sum() <= 0:
            self.nextgen_lead_time_weeks = float("nan")  # nothing made nor due within a quarter
        else:
            self.nextgen_lead_time_weeks = min(
                NEVER_WEEKS, lead_time_weeks(ng_backlog, ng_planned, m.cfg.vendor.integration_weeks)
            )
