"""Hand-worked examples for model.mechanisms.contracts.ReservationBook."""

import numpy as np
import pytest

from model.mechanisms.contracts import ReservationBook
from model.mechanisms.vocabulary import LARGE, SMALL

H = 168.0  # hours per week


def test_sign_returns_prepayment():
    rb = ReservationBook()
    # 10 GPUs x 52 weeks x 168 h x $2 = 174,720; 25% prepaid -> 43,680.
    pre = rb.sign(holder=0, provider=1, tier=LARGE, gpus=10, start=5, weeks=52, price=2.0,
                  prepaid_share=0.25)
    assert pre == pytest.approx(43680.0)
    assert len(rb) == 1
    assert (rb.start[0], rb.end[0]) == (5, 57)


@pytest.mark.parametrize("gpus,weeks", [(0, 10), (-1, 10), (5, 0), (5, -2)])
def test_sign_refuses_empty_contract(gpus, weeks):
    with pytest.raises(ValueError):
        ReservationBook().sign(0, 0, SMALL, gpus, 0, weeks, 2.0, 0.5)


def test_weekly_due_and_total_equals_contract_value():
    rb = ReservationBook()
    pre = rb.sign(0, 1, LARGE, 10, 5, 52, 2.0, 0.25)
    # weekly: 75% x 2 x 10 x 168 = 2520 for steps 5..56, zero outside.
    assert rb.weekly_due(4)[0] == 0.0
    assert rb.weekly_due(5)[0] == pytest.approx(2520.0)
    assert rb.weekly_due(56)[0] == pytest.approx(2520.0)
    assert rb.weekly_due(57)[0] == 0.0
    total = pre + sum(rb.weekly_due(s)[0] for s in range(0, 80))
    assert total == pytest.approx(2.0 * 10 * H * 52)


def test_fully_prepaid_owes_nothing_weekly():
    rb = ReservationBook()
    assert rb.sign(0, 0, SMALL, 4, 0, 2, 3.0, 1.0) == pytest.approx(3 * 4 * H * 2)
    assert rb.weekly_due(0)[0] == 0.0


def _book():
    rb = ReservationBook()
    rb.sign(holder=0, provider=0, tier=SMALL, gpus=8, start=0, weeks=10, price=2.0, prepaid_share=0.5)
    rb.sign(holder=0, provider=1, tier=LARGE, gpus=100, start=2, weeks=4, price=2.5, prepaid_share=0.2)
    rb.sign(holder=2, provider=1, tier=LARGE, gpus=50, start=8, weeks=52, price=2.2, prepaid_share=0.3)
    return rb


def test_held_per_holder_and_tier():
    rb = _book()
    # step 3: contract 0 (small, holder 0) and 1 (large, holder 0) active; 2 not yet.
    np.testing.assert_allclose(rb.held(3, 3, SMALL), [8, 0, 0])
    np.testing.assert_allclose(rb.held(3, 3, LARGE), [100, 0, 0])
    # step 8: contract 1 ended (end 6); contract 2 started.
    np.testing.assert_allclose(rb.held(8, 3, LARGE), [0, 0, 50])
    np.testing.assert_allclose(rb.held(8, 3, SMALL), [8, 0, 0])


def test_committed_includes_contracts_starting_within_horizon():
    rb = _book()
    np.testing.assert_allclose(rb.committed(3, 2, LARGE), [0, 100])
    # horizon 5 at step 3 reaches step 8: contract 2 (start 8) counts too
    np.testing.assert_allclose(rb.committed(3, 2, LARGE, horizon=5), [0, 150])
    np.testing.assert_allclose(rb.committed(3, 2, LARGE, horizon=4), [0, 100])
    np.testing.assert_allclose(rb.committed(0, 2, SMALL), [8, 0])


def test_terminate_ends_contract_now_without_refund():
    rb = _book()
    rb.terminate(0, 4)
    assert rb.end[0] == 4
    assert rb.weekly_due(4)[0] == 0.0 and rb.weekly_due(3)[0] > 0
    np.testing.assert_allclose(rb.held(4, 3, SMALL), [0, 0, 0])
    # terminating after the end never extends a contract
    rb.terminate(1, 99)
    assert rb.end[1] == 6


def test_expire_forgets_ended_contracts_only():
    rb = _book()
    rb.expire(6)            # contract 1 has end 6 -> gone; 0 (end 10) and 2 (end 60) stay
    assert len(rb) == 2
    np.testing.assert_array_equal(rb.gpus, [8, 50])
    np.testing.assert_array_equal(rb.holder, [0, 2])
    assert all(len(getattr(rb, c)) == 2 for c in ReservationBook._cols)
    rb.expire(5)            # nothing more has ended
    assert len(rb) == 2
    rb.expire(100)
    assert len(rb) == 0 and rb.weekly_due(0).shape == (0,)


def test_empty_book_queries():
    rb = ReservationBook()
    assert len(rb) == 0
    np.testing.assert_array_equal(rb.held(0, 3, SMALL), [0, 0, 0])
    np.testing.assert_array_equal(rb.committed(0, 2, LARGE, 10), [0, 0])
