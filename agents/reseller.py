"""Reseller: pools idle hours from owners and reservation holders and sells them on spot.

Three styles (DOMAIN §1): a fixed-rate listing (posts pooled hours at a listed rate it revises
monthly toward the market, so it never sells below it), an auction house and a free-market
marketplace (both pass each holder's own ask through, the marketplace for a lower fee). The model
clears every pool at once, each week, at one uniform price per tier; the reseller takes its fee.
"""

from __future__ import annotations

import numpy as np

from agents.base import Firm
from agents.registry import AgentKind, in_turn, register
from model.mechanisms.vocabulary import LARGE, MONTH_WEEKS, SMALL

STYLES = ("fixed", "auction", "marketplace")
FEE_MULTIPLE = {"fixed": 1.5, "auction": 1.0, "marketplace": 0.5}  # x cloud.reseller_fee (assumption)


class Reseller(Firm):
    kind = "reseller"

    @classmethod
    def populate(cls, model) -> list[Reseller]:
        """The scenario's resellers; each cloud hands its unsold hours to one of them."""
        resellers = [cls(model, k) for k in range(model.cfg.population.resellers)]
        for c in model.population.clouds:
            c.reseller = resellers[c.cloud_index % len(resellers)]
        return resellers

    def __init__(self, model, index: int):
        style = STYLES[index % len(STYLES)]
        super().__init__(model, f"{style}-{index}", "US")
        self.style = style
        self.fee = min(0.9, model.cfg.cloud.reseller_fee * FEE_MULTIPLE[style])
        self.listing = np.array([model.launch_price, model.launch_price])
        self.pooled = 0.0  # GPU-hours handled last week
        self.revenue = 0.0

    def ask_price(self, holder_ask: float, tier: int) -> float:
        if self.style == "fixed":
            return max(holder_ask, self.listing[tier])
        return holder_ask

    def step(self) -> None:
        m = self.model
        if self.style == "fixed" and m.steps % MONTH_WEEKS == 0:
            target = np.array([m.hours.last_spot(SMALL), m.hours.last_spot(LARGE)])
            self.listing = self.listing + 0.25 * (target - self.listing)


register(
    AgentKind(
        "reseller",
        Reseller,
        build=Reseller.populate,
        act=in_turn,
        week_order=20,
        build_order=20,
        frame_order=30,
        colour="#9467bd",
        label="reseller",
    )
)
