"""Hand-worked examples for model.mechanisms.ledger.Ledger (double entry)."""

import numpy as np
import pytest

from model.mechanisms.ledger import Ledger


def test_open_is_idempotent_and_indexes_by_name():
    L = Ledger("cash")
    a, b = L.open("fab"), L.open("vendor")
    assert (a, b) == (0, 1)
    assert L.open("fab") == 0
    assert L.names == ["fab", "vendor"]
    np.testing.assert_array_equal(L.open_many("cloud", 3), [2, 3, 4])
    assert L.index["cloud2"] == 4


def test_transfer_moves_money_and_keeps_total_zero():
    L = Ledger("cash")
    inv, cloud, vendor = L.open("investors"), L.open("cloud"), L.open("vendor")
    L.transfer(inv, cloud, 100.0, "funding")
    L.transfer(cloud, vendor, 60.0, "cards")
    L.transfer(cloud, vendor, 15.0, "cards")
    assert L["investors"] == -100 and L[cloud] == 25 and L["vendor"] == 75
    assert L.total() == 0.0
    assert L.flows == {"funding": 100.0, "cards": 75.0}
    assert L.reset_flows() == {"funding": 100.0, "cards": 75.0}
    assert L.flows == {}


def test_zero_transfer_is_a_no_op():
    L = Ledger("cards")
    a, b = L.open("a"), L.open("b")
    L.transfer(a, b, 0.0, "x")
    assert L[a] == 0 and L[b] == 0 and L.flows == {}


@pytest.mark.parametrize("amount", [-1.0, float("nan"), float("inf"), -float("inf")])
def test_transfer_rejects_negative_and_nonfinite(amount):
    L = Ledger("cash")
    a, b = L.open("a"), L.open("b")
    with pytest.raises(ValueError):
        L.transfer(a, b, amount, "bad")
    assert L[a] == 0 and L[b] == 0 and L.flows == {}


def test_transfer_many_with_repeated_accounts():
    L = Ledger("cash")
    src = L.open("src")
    agents = L.open_many("agent", 3)
    # src pays 1, 2, 3 to agents 0, 1, 0 -> agent0 4, agent1 2, src -6 (np.add.at sums repeats)
    L.transfer_many([src, src, src], [agents[0], agents[1], agents[0]], [1.0, 2.0, 3.0], "grant")
    assert L[src] == -6 and L[agents[0]] == 4 and L[agents[1]] == 2 and L[agents[2]] == 0
    assert L.total() == 0.0
    assert L.flows["grant"] == 6.0
    L.transfer_many([], [], [], "none")
    assert "none" not in L.flows


@pytest.mark.parametrize("amounts", [[1.0, -1.0], [1.0, float("nan")], [float("inf")]])
def test_transfer_many_rejects_bad_amounts_and_changes_nothing(amounts):
    L = Ledger("cash")
    a, b = L.open("a"), L.open("b")
    with pytest.raises(ValueError):
        L.transfer_many([a] * len(amounts), [b] * len(amounts), amounts)
    assert L[a] == 0 and L[b] == 0


def test_capacity_grows_and_total_stays_zero():
    L = Ledger("cash", capacity=2)
    acc = L.open_many("x", 70)
    assert len(L.balance) >= 70
    rng = np.random.default_rng(0)
    for _ in range(200):
        i, j = rng.choice(acc, 2, replace=False)
        L.transfer(int(i), int(j), float(rng.uniform(0, 1e6)))
    L.transfer_many(acc[:-1], acc[1:], rng.uniform(0, 10, 69))
    assert abs(L.total()) < 1e-6
    assert L[69] == L.balance[69]


def test_zero_capacity_ledger_grows():
    # Ledger("cash", capacity=0) is accepted, but open() grows the array by doubling its length,
    # which stays 0, so the first transfer raises IndexError. (The model uses the default 64.)
    L = Ledger("cash", capacity=0)
    a, b = L.open("a"), L.open("b")
    L.transfer(a, b, 1.0)
    assert L[b] == 1.0 and L.total() == 0.0


def test_transfer_in_turn_is_transfer_row_by_row_to_the_last_bit():
    """Booked in one go, a list of payments leaves every balance and the flow total exactly as
    paying them one after another would (running sums in the same order)."""
    rng = np.random.default_rng(7)
    one, many = Ledger("cash"), Ledger("cash")
    for L in (one, many):
        for name in ("a", "b", "c", "x", "y"):
            L.open(name)
        L.transfer(L.index["x"], L.index["a"], 1e9 / 3, "funding")
        L.transfer(L.index["x"], L.index["b"], 2e9 / 7, "funding")
    payers = rng.choice([0, 1, 2], 50)
    payees = rng.choice([4, 3], 50)
    amounts = rng.random(50) * 1e5 / 3
    for p, q, a in zip(payers, payees, amounts):
        one.transfer(int(p), int(q), float(a), "reservation")
    many.transfer_in_turn(payers, payees, amounts, "reservation")
    assert one.balance.tolist() == many.balance.tolist()
    assert one.flows == many.flows


def test_transfer_in_turn_refuses_bad_rows():
    L = Ledger("cash")
    a, b = L.open("a"), L.open("b")
    with pytest.raises(ValueError, match="finite and >= 0"):
        L.transfer_in_turn([a], [b], [-1.0], "x")
    with pytest.raises(ValueError, match="both pays and is paid"):
        L.transfer_in_turn([a, b], [b, a], [1.0, 1.0], "x")
    with pytest.raises(ValueError, match="differ in length"):
        L.transfer_in_turn([a], [b, b], [1.0], "x")
    assert L.flows == {} and L.total() == 0
