"""Hand-worked examples for model.mechanisms.grey (seizure odds, shipments)."""

import numpy as np
import pytest

from model.mechanisms.grey import GreyChannel, Shipment, seizure_probability


def test_seizure_odds_times_five():
    # odds 0.04/0.96 = 1/24; x5 = 5/24; p = (5/24)/(1 + 5/24) = 5/29 = 0.17241...
    assert seizure_probability(0.04, 5.0) == pytest.approx(5 / 29)
    assert seizure_probability(0.04, 5.0) == pytest.approx(0.1724137931)


def test_seizure_odds_identity_and_zero():
    assert seizure_probability(0.04, 1.0) == pytest.approx(0.04)
    assert seizure_probability(0.3, 1.0) == pytest.approx(0.3)
    assert seizure_probability(0.04, 0.0) == 0.0
    assert seizure_probability(0.0, 5.0) == 0.0
    assert seizure_probability(-0.1, 5.0) == 0.0
    # odds 1 x 3 = 3 -> 0.75
    assert seizure_probability(0.5, 3.0) == pytest.approx(0.75)


@pytest.mark.parametrize("base", [0.01, 0.2, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("mult", [0.5, 1, 2, 5, 100, 1e6])
def test_seizure_probability_stays_below_one_and_rises_with_odds(base, mult):
    p = seizure_probability(base, mult)
    assert 0 <= p < 1
    assert (p > base) == (mult > 1) and (p < base) == (mult < 1)


def _ship(cards, arrive, broker=0, buyer=1):
    return Shipment(broker=broker, buyer=buyer, cards=cards, price=30000.0,
                    deposit=0.3 * 30000.0 * cards, arrive=arrive)


def test_only_due_shipments_arrive():
    g = GreyChannel()
    g.dispatch(_ship(10, 5))
    g.dispatch(_ship(20, 8))
    g.dispatch(_ship(5, 3))
    assert g.in_transit() == 35
    rng = np.random.default_rng(0)
    out = g.arrivals(5, rng, p_seize=0.0, fake_share=0.0)
    assert sorted(s.cards for s, _, _ in out) == [5, 10]     # arrive 3 (late) and 5
    assert g.in_transit() == 20
    assert g.arrivals(7, rng, 0.0, 0.0) == []
    assert len(g.arrivals(8, rng, 0.0, 0.0)) == 1 and g.in_transit() == 0


def test_certain_seizure_and_no_seizure():
    g = GreyChannel([_ship(10, 0), _ship(4, 0)])
    out = g.arrivals(0, np.random.default_rng(1), p_seize=1.0, fake_share=0.5)
    assert all(seized and fakes == 0.0 for _, seized, fakes in out)     # seized cards: no fakes
    g = GreyChannel([_ship(10, 0), _ship(4, 0)])
    out = g.arrivals(0, np.random.default_rng(1), p_seize=0.0, fake_share=0.0)
    assert all((not seized) and fakes == 0.0 for _, seized, fakes in out)


def test_fakes_never_exceed_cards():
    # fake_share 1: binomial(round(2.6)=3, 1) = 3, capped at 2.6 cards.
    g = GreyChannel([_ship(2.6, 0), _ship(0.5, 0), _ship(7, 0)])
    out = g.arrivals(0, np.random.default_rng(2), p_seize=0.0, fake_share=1.0)
    fakes = {s.cards: f for s, _, f in out}
    assert fakes[2.6] == pytest.approx(2.6)
    assert fakes[0.5] == 0.0            # under one card: no binomial draw
    assert fakes[7] == 7.0


def test_seeded_arrivals_are_reproducible_and_rates_match():
    def run(seed):
        g = GreyChannel([_ship(10, 0, buyer=i) for i in range(4000)])
        return g.arrivals(0, np.random.default_rng(seed), p_seize=0.2, fake_share=0.1)

    a, b = run(42), run(42)
    assert [(s.buyer, z, f) for s, z, f in a] == [(s.buyer, z, f) for s, z, f in b]
    seized = np.array([z for _, z, _ in a])
    fakes = np.array([f for _, z, f in a if not z])
    # 4000 draws: seized share 0.2 +- 4 sd (sd = sqrt(.16/4000) = 0.0063)
    assert abs(seized.mean() - 0.2) < 0.026
    # fakes per delivered shipment of 10 cards: mean 1 (sd of the mean ~ 0.017)
    assert abs(fakes.mean() - 1.0) < 0.08
    assert np.all(fakes <= 10) and np.all(fakes >= 0)
    assert len(a) == 4000


def test_arrivals_follow_the_seeded_draw_sequence():
    # per due shipment, in dispatch order: one uniform draw (seized if < p), then, if delivered
    # and >= 1 card, one binomial(round(cards), fake_share) draw. Replay with the same seed.
    ships = [_ship(10, 0), _ship(3.4, 0), _ship(0.5, 0), _ship(20, 0)]
    out = GreyChannel(list(ships)).arrivals(0, np.random.default_rng(7), p_seize=0.5, fake_share=0.3)
    ref = np.random.default_rng(7)
    for (s, seized, fakes), orig in zip(out, ships):
        assert s is orig
        exp_seized = bool(ref.random() < 0.5)
        assert seized == exp_seized
        if exp_seized or s.cards < 1:
            assert fakes == 0.0
        else:
            assert fakes == min(float(ref.binomial(int(round(s.cards)), 0.3)), s.cards)
    assert any(z for _, z, _ in out) and not all(z for _, z, _ in out)   # seed gives a mix
