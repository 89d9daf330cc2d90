"""Double-entry books for cash and cards.

Every account is an agent or a named outside account (a source such as the fab or investors, a sink
such as the vendor, power and site costs, or fines). A transfer moves a quantity from one account to
another, so the books always sum to zero: no dollar and no card appears or vanishes. The tests check
that, and that no card account goes negative, at every step.
"""

from __future__ import annotations

import math

import numpy as np


class Ledger:
    """Balances of one quantity (cash, or cards) per account, moved only by transfers."""

    def __init__(self, quantity: str, capacity: int = 64):
        self.quantity = quantity
        self.balance = np.zeros(capacity, dtype=np.float64)
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self.flows: dict[str, float] = {}  # per-kind totals since the last reset_flows()

    def open(self, name: str) -> int:
        """Open an account; returns its index (re-opening a name returns the existing one)."""
        if name in self.index:
            return self.index[name]
        i = len(self.names)
        if i >= len(self.balance):
            self.balance = np.concatenate([self.balance, np.zeros(max(1, len(self.balance)))])
        self.names.append(name)
        self.index[name] = i
        return i

    def open_many(self, prefix: str, n: int) -> np.ndarray:
        return np.array([self.open(f"{prefix}{k}") for k in range(n)], dtype=np.int64)

    def __getitem__(self, account: int | str) -> float:
        if isinstance(account, str):
            account = self.index[account]
        return float(self.balance[account])

    def transfer(self, payer: int, payee: int, amount: float, kind: str = "") -> None:
        """Move a non-negative finite amount from payer to payee."""
        amount = float(amount)
        if not math.isfinite(amount) or amount < 0:
            raise ValueError(f"{self.quantity} transfer of {amount!r} ({kind}) is not a finite amount >= 0")
        if amount == 0:
            return
        self.balance[payer] -= amount
        self.balance[payee] += amount
        if kind:
            self.flows[kind] = self.flows.get(kind, 0.0) + amount

    def _rows(self, payers, payees, amounts, kind: str):
        """Many transfers as arrays, checked like :meth:`transfer` (None when there are none)."""
        amounts = np.asarray(amounts, dtype=np.float64)
        payers, payees = np.asarray(payers, dtype=np.int64), np.asarray(payees, dtype=np.int64)
        if not (payers.shape == payees.shape == amounts.shape):
            raise ValueError(
                f"{self.quantity} transfers ({kind}): payers, payees and amounts differ in length"
            )
        if amounts.size == 0:
            return None
        if not np.isfinite(amounts).all() or (amounts < 0).any():
            raise ValueError(f"{self.quantity} transfers ({kind}) must be finite and >= 0")
        return payers, payees, amounts

    def transfer_many(self, payers, payees, amounts, kind: str = "") -> None:
        """Vectorised transfers (many small agents at once)."""
        rows = self._rows(payers, payees, amounts, kind)
        if rows is None:
            return
        payers, payees, amounts = rows
        np.subtract.at(self.balance, payers, amounts)
        np.add.at(self.balance, payees, amounts)
        if kind:
            self.flows[kind] = self.flows.get(kind, 0.0) + float(amounts.sum())

    def transfer_in_turn(self, payers, payees, amounts, kind: str = "") -> None:
        """The same as calling :meth:`transfer` for each row in order, to the last bit (balances
        and flows are running sums in row order), without a Python call per row. Payers and payees
        must be different accounts (one account on both sides would see its sums reordered)."""
        rows = self._rows(payers, payees, amounts, kind)
        if rows is None:
            return
        payers, payees, amounts = rows
        paid = np.zeros(len(self.balance), dtype=bool)
        paid[payees] = True
        if paid[payers].any():
            raise ValueError(f"{self.quantity} transfers ({kind}): an account both pays and is paid")
        np.subtract.at(self.balance, payers, amounts)  # unbuffered: one row after another
        np.add.at(self.balance, payees, amounts)
        if kind:
            start = self.flows.get(kind, 0.0)
            self.flows[kind] = float(np.cumsum(np.concatenate([[start], amounts]))[-1])

    def total(self) -> float:
        """Sum over all accounts: zero (to rounding) if the books balance."""
        return float(self.balance[: len(self.names)].sum())

    def reset_flows(self) -> dict[str, float]:
        flows, self.flows = self.flows, {}
        return flows
