"""Vendor: the chip maker. It sets the price list and decides whose orders it fills first.

It reviews its H100 price at fixed intervals against its order book: up while the lead time is
beyond its target (cards are scarce), down when the queue is short (DOMAIN §1, §4). Other parts
are priced by the work they do, relative to the H100. It favours strategic customers and those
with their own chips to play off (allocation weights), and ships only what a customer can pay for.
"""

from __future__ import annotations

import mesa

from agents.registry import AgentKind, register


class Vendor(mesa.Agent):
    """The one vendor. It owns no cards account of its own: cards come from the fab account and
    money goes to the vendor's account in the ledgers."""

    kind = "vendor"

    def __init__(self, model):
        super().__init__(model)
        self.name = "vendor"
        self.region = "US"
        self.account = model.cash.index["vendor"]
        self.multiple = 1.0  # the price list over the launch list price

    def h100_price(self) -> float:
        """The H100 card price on the current list."""
        return self.model.cfg.vendor.list_price * self.multiple

    def price_of(self, product, h100_price: float) -> float:
        """A part's price: the H100 price scaled to the work it does (not below a floor)."""
        return h100_price * max(product.perf, 0.35)

    def weight_of(self, buyer) -> float:
        """Allocation weight of a customer's orders: favoured accounts and customers with their
        own chips are served first when output is short."""
        v = self.model.cfg.vendor
        w = 1.0
        if buyer.favoured:
            w *= v.favoured_weight
        if buyer.own_chips:
            w *= v.own_chip_weight
        return w

    def review_prices(self, lead_time_weeks: float) -> None:
        """Move the list a step toward the target lead time (on the review weeks only)."""
        v = self.model.cfg.vendor
        if self.model.steps % v.price_review_weeks != 0:
            return
        if lead_time_weeks > v.target_lead_weeks:
            self.multiple = min(v.max_price_multiple, self.multiple * (1 + v.price_step))
        elif lead_time_weeks < 0.5 * v.target_lead_weeks:
            self.multiple = max(v.min_price_multiple, self.multiple * (1 - v.price_step))


register(
    AgentKind(
        "vendor",
        Vendor,
        build=lambda model: [Vendor(model)],
        build_order=60,
        frame_order=60,
        frame=False,
        holds_cards=False,
        colour="#76b900",
        label="vendor",
    )
)
