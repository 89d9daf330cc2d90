"""GreyBroker: buys cards where that is legal and sells them into restricted regions.

It sources through shell companies registered abroad (the vendor's end-user checks catch some
orders) and on the used-card market, ships with a deposit up front and the balance on delivery,
and asks a price that covers its landed cost, the risk of seizure and a margin, raising the margin
while it sells out and cutting it when cards sit unsold (DOMAIN §7).
"""

from __future__ import annotations

from agents.base import QUEUE_WORTH_SKIPPING_WEEKS, Firm
from agents.registry import AgentKind, register, shuffled
from model.mechanisms.grey import seizure_probability
from model.mechanisms.vocabulary import H100, MONTH_WEEKS, WEEKS_PER_YEAR

SOURCING_REVIEW = MONTH_WEEKS


class GreyBroker(Firm):
    kind = "broker"

    @classmethod
    def populate(cls, model) -> list[GreyBroker]:
        """The scenario's brokers (scaled with the population), each with its working capital."""
        cfg = model.cfg
        brokers = [cls(model, k) for k in range(round(cfg.population.brokers * cfg.population.scale))]
        for b in brokers:
            model.fund(b, cfg.grey.broker_capital_musd * 1e6)
        return brokers

    def __init__(self, model, index: int):
        super().__init__(model, f"broker-{index}", "ROW")
        g = model.cfg.grey
        self.markup = g.broker_markup
        self.cost_basis = model.new_cards.price
        self.offset = int(model.rng.integers(SOURCING_REVIEW))
        self.demand_seen = 0.0  # cards restricted buyers asked for recently
        self.caught = 0

    def p_seize(self) -> float:
        g = self.model.cfg.grey
        return seizure_probability(g.seizure_prob, g.seizure_odds_multiplier)

    def ask(self) -> float:
        """Price per card that covers landed cost and the expected loss to seizures, plus margin."""
        return self.cost_basis * 1.02 * (1.0 + self.markup) / max(1e-6, 1.0 - self.p_seize())

    def step(self) -> None:
        m = self.model
        g = m.cfg.grey
        stock = self.gpus
        if (m.steps + self.offset) % SOURCING_REVIEW == 0 and self.demand_seen > 0:
            # To receive its sourcing rate every week, a broker keeps a lead time's worth of
            # orders in the vendor's queue (Little's law), as far as buyers ask for cards.
            pipeline = stock + m.new_cards.backlog_of(self.account)
            lead = min(m.new_cards.lead_time_weeks, WEEKS_PER_YEAR)
            cover = g.sourcing_cards_per_week * (lead + SOURCING_REVIEW)
            want = min(cover, self.demand_seen * 2) - pipeline
            # Paid on delivery (the vendor ships only what the broker can then pay for).
            if want > 1:
                if m.rng.random() < m.cfg.vendor.end_user_check_catch:
                    self.caught += 1  # the end-user check stops the shell company's order
                elif m.rules.allowed(m.catalog[H100], "ROW", m.date):
                    m.new_cards.order(self, H100, want, nextgen_ok=False, region="ROW", shell=True)
        # Buy used cards when the price restricted buyers last paid leaves a margin over them,
        # as far as buyers still ask for more cards than the broker holds.
        short = self.demand_seen - stock
        if short > 1.0:
            limit = m.grey.trade_price * (1.0 - self.p_seize()) / (1.0 + g.broker_markup) / 1.02
            # ...but never more than a new card would cost it (plus the wait, when there is one)
            queue = m.new_cards.lead_time_weeks > QUEUE_WORTH_SKIPPING_WEEKS
            limit = min(limit, m.used_cards.queue_skip_price() if queue else m.new_cards.price)
            qty = min(g.sourcing_cards_per_week, short)
            cash = self.cash
            if not qty <= max(0.0, cash) / limit:  # credit (never negative) only matters beyond cash
                qty = min(g.sourcing_cards_per_week, short, max(0.0, cash + self.credit_limit()) / limit)
            if qty > 1e-6:
                m.used_cards.bid(self, qty, limit)
        if stock > 1e-9:
            m.grey.ask(self, stock, self.ask())
        self.demand_seen *= 0.9

    def on_sale(self, sold_share: float) -> None:
        g = self.model.cfg.grey
        if sold_share > 0.99:
            self.markup = min(2.0, self.markup * 1.05 + 0.01)
        elif sold_share < 0.5:
            self.markup = max(g.broker_markup, self.markup * 0.9)

    def on_demand_seen(self, cards: float) -> None:
        """Hear how many cards restricted buyers asked for this week."""
        self.demand_seen += cards

    def on_purchase(self, cards: float, price: float) -> None:
        """Average the purchase price of new stock into the cost basis."""
        held = self.gpus
        total = held + cards
        if total > 0:
            self.cost_basis = (self.cost_basis * held + price * cards) / total


register(
    AgentKind(
        "broker",
        GreyBroker,
        build=GreyBroker.populate,
        act=shuffled,
        week_order=50,
        build_order=40,
        frame_order=40,
        colour="#8c564b",
        label="grey-market broker",
    )
)
