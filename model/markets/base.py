"""A market's place in the simulation, apart from its clearing mechanism.

Following ASSUME's split (a market's mechanism vs. its role), each market here owns its week's
book, calls a pure mechanism from ``model.mechanisms`` (or the model's pure modules) to clear it,
settles the result through the ledgers, tells the agents what they got, and publishes its own
price and volume. "Where is the spot price set?" has one answer: in the hours market's file.
"""

from __future__ import annotations

from typing import ClassVar

from model.mechanisms.books import Book


class Market:
    """Base of every market: a name, the model it lives in, and a weekly reset of its book."""

    name: ClassVar[str] = "market"
    #: what one unit traded is, for the trade log and the network view
    unit: ClassVar[str] = ""

    def __init__(self, model):
        self.model = model

    def open_week(self) -> None:
        """Start a new week: an empty book (markets that keep orders across weeks override)."""

    def publish(self) -> None:
        """Publish the week's price and volume (at the end of the week, for the series)."""

    def report(self) -> dict[str, float]:
        """This week's published series, by name (read at the end of the week)."""
        return {}

    def log(self, seller, buyer, kind: str, volume: float) -> None:
        """Record a trade (seller and buyer are agents' ids, or an outside party's name)."""
        self.model.recorder.log_trade(seller, buyer, kind, volume)


class CardAuction(Market):
    """A market for cards that clears once a week as a uniform-price call auction: a book of
    bids and a book of asks, one row per agent's order (agents by their unique id)."""

    unit = "cards"

    def open_week(self) -> None:
        self.bids = Book(("buyer", "qty", "price"))
        self.asks = Book(("seller", "qty", "price"))

    def bid(self, agent, qty: float, price: float) -> None:
        self.bids.add_row(agent.unique_id, qty, price)

    def ask(self, agent, qty: float, price: float) -> None:
        self.asks.add_row(agent.unique_id, qty, price)


#: market kinds by name (a new market registers here and is built by the model)
MARKETS: dict[str, type[Market]] = {}


def register(cls: type[Market]) -> type[Market]:
    MARKETS[cls.name] = cls
    return cls
