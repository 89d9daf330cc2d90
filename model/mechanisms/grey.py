"""The grey channel to restricted regions (DOMAIN §7).

Brokers buy cards where that is legal and sell them to restricted-region buyers. A deal is paid
with a deposit up front and the balance on delivery; shipments take 8-14 weeks; some are seized on
the way (the buyer loses the deposit, the broker the cards and a fine); some delivered cards are
fakes (relabelled or refurbished), which the buyer writes off.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def seizure_probability(base: float, odds_multiplier: float) -> float:
    """Scale the odds p/(1-p) of a seizure, which keeps the probability below 1."""
    if base <= 0:
        return 0.0
    odds = base / (1.0 - base) * odds_multiplier
    return odds / (1.0 + odds)


@dataclass
class Shipment:
    broker: int  # agent index
    buyer: int  # agent index
    cards: float
    price: float  # per card, USD
    deposit: float  # USD paid at order
    arrive: int  # step


@dataclass
class GreyChannel:
    shipments: list[Shipment] = field(default_factory=list)

    def in_transit(self) -> float:
        return float(sum(s.cards for s in self.shipments))

    def in_transit_to(self, buyer: int) -> float:
        """Cards on their way to one buyer (summed in shipment order, as in_transit does)."""
        key = (id(self.shipments), len(self.shipments))
        if getattr(self, "_per_buyer_key", None) != key:  # shipments changed: count again
            per: dict[int, float] = {}
            for s in self.shipments:
                per[s.buyer] = per.get(s.buyer, 0) + s.cards
            self._per_buyer, self._per_buyer_key = per, key
        return float(self._per_buyer.get(buyer, 0))

    def dispatch(self, shipment: Shipment) -> None:
        self.shipments.append(shipment)

    def arrivals(self, step: int, rng: np.random.Generator, p_seize: float, fake_share: float):
        """Shipments landing this step: yields (shipment, seized: bool, fake_cards)."""
        due = [s for s in self.shipments if s.arrive <= step]
        self.shipments = [s for s in self.shipments if s.arrive > step]
        out = []
        for s in due:
            seized = bool(rng.random() < p_seize)
            fakes = (
                0.0
                if seized
                else float(rng.binomial(int(round(s.cards)), fake_share))
                if s.cards >= 1
                else 0.0
            )
            out.append((s, seized, min(fakes, s.cards)))
        return out
