"""GPU-backed debt (model/mechanisms/debt.py), worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from model.mechanisms import debt


def test_weekly_service_is_interest_plus_straight_line_amortisation():
    # $1.04M at 10.4% a year over 260 weeks: interest 1.04M x 0.104 / 52 = 2,080; amortisation
    # 1.04M / 260 = 4,000. Half repaid: interest halves, amortisation stays on the principal lent.
    i, a = debt.weekly_service([1_040_000.0, 520_000.0], [1_040_000.0, 1_040_000.0], [0.104, 0.104], [260, 260])
    assert i.tolist() == pytest.approx([2_080.0, 1_040.0])
    assert a.tolist() == pytest.approx([4_000.0, 4_000.0])
    # the last payment never takes more than is owed
    _, a = debt.weekly_service([1_000.0], [1_040_000.0], [0.104], [260])
    assert a[0] == pytest.approx(1_000.0)


def test_loan_to_value_marked_to_a_card_price():
    ltv = debt.loan_to_value([800.0, 0.0, 5.0], [10.0, 10.0, 0.0], 100.0)
    assert ltv[0] == pytest.approx(0.8)
    assert ltv[1] == 0.0                      # no debt
    assert np.isinf(ltv[2])                   # debt, no collateral


def test_cover_ratio_over_a_trailing_window():
    cover = debt.cover_ratio([[10.0, 20.0, 30.0], [5.0, 5.0, 5.0]], [[10.0, 10.0, 10.0], [0.0, 0.0, 0.0]])
    assert cover[0] == pytest.approx(2.0)     # 60 / 30
    assert np.isinf(cover[1])                 # nothing due


def test_breaches_of_each_covenant():
    ltv_b, cover_b = debt.breaches([0.5, 0.9, 0.8], [2.0, 1.0, np.nan], max_ltv=0.8, min_dscr=1.2)
    assert ltv_b.tolist() == [False, True, False]   # at the line is no breach
    assert cover_b.tolist() == [False, True, False]  # NaN: not tested on cover


def test_ltv_cure_uses_cash_then_sells_cards():
    # Debt 900 on 10 cards marked at 100, line 0.8: allowed 800, excess 100. Cash 20 repays 20;
    # each card sold at 90 repays 90 and lowers the allowed debt by 80, so 80 / 10 = 8 cards.
    cash, cards, ok = debt.ltv_cure(900.0, 10.0, 100.0, 0.8, 90.0, 20.0)
    assert (cash, cards, ok) == (pytest.approx(20.0), pytest.approx(8.0), True)
    assert 900.0 - cash - cards * 90.0 == pytest.approx(0.8 * (10.0 - cards) * 100.0)
    # within the line: nothing to do; cash alone may cure
    assert debt.ltv_cure(700.0, 10.0, 100.0, 0.8, 90.0, 0.0) == (0.0, 0.0, True)
    assert debt.ltv_cure(850.0, 10.0, 100.0, 0.8, 90.0, 60.0) == (pytest.approx(50.0), 0.0, True)
    # a sale at or below the covenant's share of the mark cannot cure: sell everything
    assert debt.ltv_cure(900.0, 10.0, 100.0, 0.8, 80.0, 20.0) == (pytest.approx(20.0), 10.0, False)
    # too few cards to cure
    assert debt.ltv_cure(990.0, 10.0, 100.0, 0.8, 90.0, 0.0)[2] is False


def test_sustainable_debt_and_capacity_and_rate():
    # Earning 1,200 a week, cover 1.2 -> 1,000 a week of service; a dollar costs 0.104/52 + 1/260.
    per_dollar = 0.104 / 52 + 1 / 260
    assert debt.sustainable_debt(1_200.0, 1.2, 0.104, 260) == pytest.approx(1_000.0 / per_dollar)
    assert debt.sustainable_debt(-5.0, 1.2, 0.104, 260) == 0.0
    # Cards worth 1,000: half lent on them, plus half the contracted revenue, at most 70%.
    cap = debt.loan_capacity([1_000.0, 1_000.0, 1_000.0], [0.0, 300.0, 1_000.0], 0.5, 0.5, 0.7)
    assert cap.tolist() == pytest.approx([500.0, 650.0, 700.0])
    # Half the debt backed by contracts: SOFR 5% + half of 6.25% + half of 13%.
    assert float(debt.loan_rate(0.05, 0.0625, 0.13, 50.0, 100.0)) == pytest.approx(0.14625)
    assert float(debt.loan_rate(0.05, 0.0625, 0.13, 500.0, 100.0)) == pytest.approx(0.1125)
    assert float(debt.loan_rate(0.05, 0.0625, 0.13, 0.0, 100.0)) == pytest.approx(0.18)


def test_contracted_revenue_still_owed():
    # 100 GPUs at $2 for weeks 0-9, half prepaid, seen in week 4: 6 weeks x 168 h x 100 x 2 x 0.5.
    owed = debt.contracted_revenue(4, 2, [0, 1], [0, 0], [10, 3], [2.0, 2.0], [100.0, 100.0], [0.5, 0.0])
    assert owed.tolist() == pytest.approx([100_800.0, 0.0])


def test_loan_book():
    book = debt.LoanBook()
    book.lend(7, 1_040_000.0, 0.104, 0, 260, 50.0)
    book.lend(7, 520_000.0, 0.13, 3, 260, 20.0)
    book.lend(9, 100.0, 0.1, 3, 260, 1.0)
    assert book.debt(7) == pytest.approx(1_560_000.0)
    interest, amort, rows, per_loan = book.due(7)
    assert interest == pytest.approx(2_080.0 + 1_300.0)
    assert amort == pytest.approx(4_000.0 + 2_000.0)
    book.amortise(rows, per_loan)
    assert book.debt(7) == pytest.approx(1_554_000.0)
    assert book.mean_rate(7) == pytest.approx((0.104 * 1_036_000 + 0.13 * 518_000) / 1_554_000)
    # prepayment goes to the oldest loan first
    assert book.repay(7, 1_036_100.0) == pytest.approx(1_036_100.0)
    assert book.outstanding.tolist() == pytest.approx([0.0, 517_900.0, 100.0])
    book.capitalise(7, 100.0)
    assert book.debt(7) == pytest.approx(518_000.0)
    book.drop_repaid()
    assert len(book) == 2 and book.debt_by([7, 9]).tolist() == pytest.approx([518_000.0, 100.0])
    assert book.write_off(7) == pytest.approx(518_000.0)
    assert book.total() == pytest.approx(100.0)


def test_dues_follow_every_change_of_the_book():
    """A borrower's dues are kept between changes: each change of the book shows at once."""
    book = debt.LoanBook()

    def fresh(borrower):
        rows = np.flatnonzero(book.borrower == borrower)
        i, a = debt.weekly_service(book.outstanding[rows], book.principal[rows], book.rate[rows],
                                   book.term[rows])
        return float(i.sum()), float(a.sum())

    book.lend(7, 1_000.0, 0.12, 0, 100, 5.0)
    book.lend(8, 500.0, 0.10, 0, 50, 2.0)
    assert book.due(7)[:2] == fresh(7) == (pytest.approx(1_000 * 0.12 / 52), 10.0)
    assert book.due(7) is book.due(7)                     # kept while nothing changes
    changes = [lambda: book.lend(7, 200.0, 0.2, 1, 10, 1.0), lambda: book.repay(7, 300.0),
               lambda: book.capitalise(7, 25.0),
               lambda: book.amortise(*book.due(7)[2:]),
               lambda: book.write_off(8)]
    for change in changes:
        before = book.due(7)[:2], book.due(8)[:2]
        change()
        assert book.due(7)[:2] == fresh(7) and book.due(8)[:2] == fresh(8)
        assert (book.due(7)[:2], book.due(8)[:2]) != before
    rows_before = book.due(7)[2]
    book.drop_repaid()                                     # rows renumbered: 8's loan is gone
    assert book.due(7)[:2] == fresh(7) and book.due(7)[2].tolist() != rows_before.tolist()


def test_kept_rows_dues_and_debt_match_a_fresh_reading_of_the_book():
    """Rows, dues and debt kept per borrower equal the book read afresh, to the last bit, through
    a random series of loans, repayments, amortisation, write-offs and drops of repaid loans."""
    rng = np.random.default_rng(3)
    book = debt.LoanBook()

    def check():
        for b in range(6):
            mask = book.borrower == b
            i, a = debt.weekly_service(book.outstanding[mask], book.principal[mask], book.rate[mask],
                                       book.term[mask])
            assert book.of(b).tolist() == np.flatnonzero(mask).tolist()
            assert book.debt(b) == float(book.outstanding[mask].sum())
            assert book.due(b)[:2] == (float(i.sum()), float(a.sum()))
            assert book.due(b)[3].tolist() == a.tolist()

    for _ in range(400):
        b = int(rng.integers(6))
        op = rng.integers(6)
        version = book.version
        if op <= 1:
            book.lend(b, float(rng.uniform(1, 1e6)), float(rng.uniform(0.05, 0.2)), 0, 260, 1.0)
        elif op == 2:
            book.repay(b, float(rng.uniform(0, 2e5)))
        elif op == 3:
            _, amort, rows, per_loan = book.due(b)
            book.amortise(rows, per_loan * rng.uniform())
        elif op == 4:
            book.capitalise(b, float(rng.uniform(0, 1e3)))
        elif rng.uniform() < 0.3:
            book.write_off(b)
        else:
            repaid = bool((book.outstanding <= debt.TINY).any())
            book.drop_repaid()
            assert (book.version != version) == repaid  # nothing dropped: the book is unchanged
        check()


def test_loan_capacity_of_one_borrower_is_the_array_form_to_the_bit():
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.uniform(0, 1e9, 500), rng.uniform(0, 1e4, 500), [0.0, -0.0, np.nan]])
    contracted = np.concatenate([rng.uniform(0, 1e9, 500) * (rng.uniform(size=500) < 0.5),
                                 rng.uniform(0, 1e6, 500), [0.0, np.nan, 1.0]])
    for v, c in zip(values.tolist(), contracted.tolist()):
        for advance, contract, most in ((0.5, 0.5, 0.7), (0.3, 0.9, 0.6), (1.0, 0.0, 1.0)):
            want = float(debt.loan_capacity(v, c, advance, contract, most))
            got = debt.loan_capacity_of(v, c, advance, contract, most)
            assert (np.isnan(want) and np.isnan(got)) or (got == want and type(got) is float)


def test_loan_rate_of_one_loan_is_the_array_form_to_the_bit():
    rng = np.random.default_rng(9)
    debts = np.concatenate([rng.uniform(0, 1e8, 400), [0.0, 1e-12, debt.TINY, 2e-9, np.nan, 5e6]])
    backed = np.concatenate([rng.uniform(0, 2e8, 400) * (rng.uniform(size=400) < 0.7),
                             [0.0, 1.0, 1.0, -0.0, 3.0, np.nan]])
    for d, b in zip(debts.tolist(), backed.tolist()):
        for sofr, lo, hi in ((0.05, 0.0625, 0.13), (0.0, 0.05, 0.104)):
            want = float(debt.loan_rate(sofr, lo, hi, b, d))
            got = debt.loan_rate_of(sofr, lo, hi, b, d)
            assert (np.isnan(want) and np.isnan(got)) or (got == want and type(got) is float), (d, b)
