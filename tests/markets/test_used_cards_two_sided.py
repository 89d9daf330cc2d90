"""The used-card market clears from both sides (the real market, the real model's books): with no
queue worth skipping, a cloud that sells out buys from a cloud whose fleet sits idle, at a price
at or below a new card's; nobody in the vendor's queue takes part."""

from __future__ import annotations

import pytest

from model import H100Market
from model.population import release_model

CARDS = 2_000.0


@pytest.fixture
def world():
    m = H100Market(seed=5)
    m.new_cards.lead_time_weeks = 3.0  # the vendor's queue at its floor: no one skips it
    for agent in m.population.card_owners:  # only the two clouds below trade
        agent.bid_used_cards = lambda market, price: None
        agent.offer_used_cards = lambda market: None
    for broker in m.population.brokers:
        broker.demand_seen = 0.0
    yield m
    release_model(m)


def give(m, cloud, cards: float, cash: float) -> None:
    m.cards.transfer(m.acct_fab, cloud.account, cards, "made")
    cloud.receive_cards(cards, cards)
    m.cash.transfer(m.acct_investors, cloud.account, cash, "test")


def test_a_busy_cloud_buys_an_idle_clouds_cards_below_the_new_price(world):
    m = world
    busy, idle = m.population.clouds[4], m.population.clouds[5]  # two private clouds
    for cloud, util in ((busy, 0.92), (idle, 0.15)):
        give(m, cloud, CARDS, 1e9)
        cloud.util = cloud.util_list = util
        cloud.unmet = 0.0
        del cloud.bid_used_cards, cloud.offer_used_cards  # their own rules again
    assert busy.sells_out() and not idle.sells_out()
    assert m.new_cards.backlog_of(busy.account) == 0  # not a buyer waiting in the vendor's queue
    busy_cards, idle_cards, busy_cash = busy.gpus, idle.gpus, busy.cash
    m.used_cards.open_week()
    m.used_cards.clear()
    assert m.used_cards.volume > 0
    assert m.used_cards.price <= m.new_cards.price
    assert busy.gpus - busy_cards == pytest.approx(m.used_cards.volume)
    assert idle_cards - idle.gpus == pytest.approx(m.used_cards.volume)
    assert busy_cash - busy.cash == pytest.approx(m.used_cards.volume * m.used_cards.price)
    sold = [row for row in m.trade_log if row[3] == "used_cards"]
    assert {(row[1], row[2]) for row in sold} == {(idle.unique_id, busy.unique_id)}
