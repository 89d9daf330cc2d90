"""The grey channel: brokers ship cards into regions where rules bar them.

Restricted buyers bid (``ModelCreator._bid_grey``) and brokers ask (``GreyBroker.step``); the book
clears at one uniform price. A deal is paid partly up front; the cards leave the broker, travel
for a few weeks and may be seized on the way (the broker is fined) or arrive partly fake. Brokers
hear how much was asked for. Publishes ``grey_card_price`` (what deals close at; before the first
deal, the middle of the quotes), ``grey_card_price_cny``, ``smuggled_cards`` and ``seized_cards``.
"""

from __future__ import annotations

import numpy as np

from model.markets.base import CardAuction, register
from model.mechanisms.clearing import clear_uniform
from model.mechanisms.grey import GreyChannel, Shipment, seizure_probability

TINY = 1e-9


@register
class GreyMarket(CardAuction):
    name = "grey"

    def __init__(self, model):
        super().__init__(model)
        self.channel = GreyChannel()
        list_price = model.cfg.vendor.list_price
        self.price = list_price  # grey_card_price: clearing price, or mid of the spread
        self.trade_price = list_price  # what restricted buyers last paid
        self.deal_price = float("nan")  # this week's deal price, if any
        self.volume = 0.0  # cards dealt this week
        self._dealt = False
        self.open_week()

    def open_week(self) -> None:
        super().open_week()
        self.smuggled_cards = 0.0
        self.seized_cards = 0.0

    def in_transit_to(self, agent) -> float:
        return self.channel.in_transit_to(agent.unique_id)

    def clear(self) -> None:
        self._arrivals()
        self._trade()

    def _arrivals(self) -> None:
        """Shipments due this week: seized (the broker is fined), or delivered less fakes, with
        the balance paid on arrival."""
        m = self.model
        g = m.cfg.grey
        by_id = m.population.by_id
        p_seize = seizure_probability(g.seizure_prob, g.seizure_odds_multiplier)
        for ship, seized, fakes in self.channel.arrivals(m.steps, m.rng, p_seize, g.fake_share):
            broker, buyer = by_id[ship.broker], by_id[ship.buyer]
            if seized:
                m.cards.transfer(m.acct_transit, m.acct_seized, ship.cards, "seized")
                fine = g.fine_share * ship.cards * ship.price
                broker.pay(m.acct_fines, min(fine, max(broker.cash, 0.0)), "fine")
                self.seized_cards += ship.cards
            else:
                m.cards.transfer(m.acct_transit, buyer.account, ship.cards, "smuggled")
                buyer.receive_cards(ship.cards - fakes, ship.cards - fakes)
                if fakes > 0:  # relabelled or refurbished cards are written off
                    m.cards.transfer(buyer.account, m.acct_retired, fakes, "fakes")
                balance = ship.price * ship.cards - ship.deposit
                buyer.pay(broker.account, min(balance, max(buyer.cash, 0.0)), "grey_balance")
                self.smuggled_cards += ship.cards
                self.log(broker.unique_id, buyer.unique_id, "grey", ship.cards)

    def _trade(self) -> None:
        """Clear this week's book; each deal pays a deposit and dispatches a shipment."""
        m = self.model
        g = m.cfg.grey
        by_id = m.population.by_id
        bids, asks = self.bids.arrays(), self.asks.arrays()
        brokers = m.population.brokers
        seen = float(bids["qty"].sum()) / max(1, len(brokers))
        for b in brokers:
            b.on_demand_seen(seen)
        res = clear_uniform(bids["qty"], bids["price"], asks["qty"], asks["price"])
        if res.traded:
            # Python floats pair the fills with the same arithmetic as numpy's, without the
            # cost of a numpy scalar per step (most bids of a week are not filled)
            b_left, a_left = res.bid_fill.tolist(), res.ask_fill.tolist()
            buyers, sellers = bids["buyer"].tolist(), asks["seller"].tolist()
            i = j = 0
            while i < len(b_left) and j < len(a_left):
                q = min(b_left[i], a_left[j])
                if q > TINY:
                    buyer, broker = by_id[buyers[i]], by_id[sellers[j]]
                    q = min(q, broker.gpus)
                    deposit = g.deposit_share * q * res.price
                    buyer.pay(broker.account, deposit, "grey_deposit")
                    broker.remove_cards(q, m.acct_transit)
                    weeks = int(m.rng.integers(g.delivery_weeks_min, g.delivery_weeks_max + 1))
                    self.channel.dispatch(
                        Shipment(broker.unique_id, buyer.unique_id, q, res.price, deposit, m.steps + weeks)
                    )
                b_left[i] -= q
                a_left[j] -= q
                if b_left[i] <= TINY:
                    i += 1
                if a_left[j] <= TINY:
                    j += 1
        sold = zip(asks["seller"].tolist(), res.ask_fill.tolist(), asks["qty"].tolist())
        for seller, filled, offered in sold:
            by_id[seller].on_sale(filled / max(offered, 1e-12))
        # The grey price is what deals close at (DOMAIN §6 reports prices dealt); before the first
        # deal, the middle of the brokers' and buyers' quotes.
        self.deal_price = float(res.price) if res.traded else float("nan")
        self.volume = float(res.volume) if res.traded else 0.0
        if res.traded:
            self.trade_price = self.price = res.price
            self._dealt = True
        elif not self._dealt and np.isfinite(res.indicative()):
            self.price = res.indicative()

    def report(self) -> dict[str, float]:
        return {
            "grey_card_price": self.deal_price,
            "grey_card_price_cny": self.price_cny,
            "grey_volume": self.volume,
            "grey_quote": self.price,
            "smuggled_cards": self.smuggled_cards,
            "seized_cards": self.seized_cards,
        }

    def publish(self) -> None:
        """This week's deal price (NaN without a deal) and the standing quote."""
        self.price = float(self.price)
        self.price_cny = self.deal_price * self.model.cfg.grey.fx_cny_per_usd
