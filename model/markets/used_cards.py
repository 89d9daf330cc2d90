"""The used-card market: owners sell cards they do not need to buyers who cannot wait.

Buyers and sellers decide in their own classes (``bid_used_cards``, ``offer_used_cards``) from two
signals this market gives them: what a card in hand is worth to a buyer stuck in the vendor's
queue, and what a card will earn its owner over the rest of its life. The book clears at one
uniform price (:func:`model.mechanisms.clearing.clear_uniform`); cards and cash move seller to buyer in
order. Publishes ``card_price_secondary`` (the clearing price, else the mid of the spread).
"""

from __future__ import annotations

import numpy as np

from model.markets.base import CardAuction, register
from model.mechanisms.clearing import clear_uniform
from model.mechanisms.vocabulary import HOURS_PER_WEEK, LARGE, WEEKS_PER_YEAR

TINY = 1e-9


@register
class UsedCardMarket(CardAuction):
    name = "used_cards"

    def __init__(self, model):
        super().__init__(model)
        self.quote = model.cfg.vendor.list_price  # clearing price, else the mid of the spread
        self.price = float("nan")  # card_price_secondary: this week's clearing price, if any
        self.volume = 0.0  # cards traded this week
        self.open_week()

    def queue_skip_price(self) -> float:
        """What a card today is worth to a buyer in the vendor's queue: the new price plus the
        hours it would otherwise rent while waiting (at the cheaper of spot and reserved)."""
        m = self.model
        c = m.cfg.cloud
        p_hour = min(m.hours.expected_price(LARGE), m.reservations.price)
        wait_value = max(0.0, p_hour - c.opex_per_gpu_hour) * HOURS_PER_WEEK * c.target_utilization
        return m.new_cards.price + min(m.new_cards.lead_time_weeks, WEEKS_PER_YEAR) * wait_value

    def clear(self) -> None:
        """Buyers who cannot wait bid, owners with cards to spare ask, and the book clears."""
        m = self.model
        traders = m.population.card_owners
        bid_price = self.queue_skip_price()
        for agent in traders:
            agent.bid_used_cards(self, bid_price)
        for agent in traders:
            agent.offer_used_cards(self)
        bids, asks = self.bids.arrays(), self.asks.arrays()
        res = clear_uniform(bids["qty"], bids["price"], asks["qty"], asks["price"])
        if res.traded:
            self._settle(bids, asks, res)
        p = res.indicative()
        if np.isfinite(p) and p > 0:  # an idle owner may ask nothing for a card; a quote is positive
            self.quote = p
        self.price = float(res.price) if res.traded else float("nan")
        self.volume = float(res.volume) if res.traded else 0.0

    def report(self) -> dict[str, float]:
        return {
            "card_price_secondary": self.price,
            "secondary_volume": self.volume,
            "secondary_quote": self.quote,
        }

    def publish(self) -> None:
        self.quote = float(self.quote)

    def _settle(self, bids, asks, res) -> None:
        """Pair filled bids and asks in order and move cards and cash between them."""
        by_id = self.model.population.by_id
        # Python floats: numpy's arithmetic, without a numpy scalar per step
        b_left = res.bid_fill.tolist()
        a_left = res.ask_fill.tolist()
        buyers, sellers = bids["buyer"].tolist(), asks["seller"].tolist()
        i = j = 0
        while i < len(b_left) and j < len(a_left):
            if b_left[i] <= TINY:
                i += 1
                continue
            if a_left[j] <= TINY:
                j += 1
                continue
            q = min(b_left[i], a_left[j])
            buyer, seller = by_id[buyers[i]], by_id[sellers[j]]
            q = min(q, seller.gpus)
            if q > TINY:
                buyer.on_purchase(q, res.price)
                eq = seller.remove_cards(q, buyer.account)
                buyer.receive_cards(q, eq)
                buyer.pay(seller.account, q * res.price, "used_cards")
                buyer.on_delivery(eq)
                self.log(seller.unique_id, buyer.unique_id, "used_cards", q)
            b_left[i] -= q
            a_left[j] -= q
            if q <= TINY:
                j += 1
