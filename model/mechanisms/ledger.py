"""Double-entry books for cash and cards.

Every account is an agent or a named outside account (a source such as the fab or investors, a sink
such as the vendor, power and site costs, or fines). A transfer moves a quantity from one account to
another, so the books always sum to zero: no dollar and no card appears or vanishes. The tests check
that, and that no card account goes negative, at every step.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Sequence

import numpy as np


class AccountNames(Sequence):
    """The ledger's account names in account order: names opened one by one, and blocks of
    numbered names (``prefix`` + number) opened together for a pooled population, kept as one
    entry per block rather than a million strings."""

    def __init__(self) -> None:
        self._starts: list[int] = []  # first account of each segment
        self._segments: list[list[str] | tuple[str, int, int]] = []  # names, or (prefix, first, n)
        self._len = 0

    def append(self, name: str) -> None:
        if self._segments and isinstance(self._segments[-1], list):
            self._segments[-1].append(name)
        else:
            self._starts.append(self._len)
            self._segments.append([name])
        self._len += 1

    def append_block(self, prefix: str, first: int, n: int) -> None:
        self._starts.append(self._len)
        self._segments.append((prefix, first, n))
        self._len += n

    def find(self, name: str) -> int | None:
        """Account of `name` if it is in a block (names opened one by one are in ``index``)."""
        for start, seg in zip(self._starts, self._segments):
            if isinstance(seg, tuple) and name.startswith(seg[0]):
                number = name[len(seg[0]) :]
                if number.isdigit() and seg[1] <= int(number) < seg[1] + seg[2]:
                    return start + int(number) - seg[1]
        return None

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(self._len))]
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(i)
        k = bisect.bisect_right(self._starts, i) - 1
        seg, off = self._segments[k], i - self._starts[k]
        if isinstance(seg, list):
            return seg[off]
        return f"{seg[0]}{seg[1] + off}"

    def __iter__(self) -> Iterator[str]:
        for seg in self._segments:
            if isinstance(seg, list):
                yield from seg
            else:
                prefix, first, n = seg
                yield from (f"{prefix}{k}" for k in range(first, first + n))

    def __eq__(self, other) -> bool:
        if not isinstance(other, Sequence) or len(other) != len(self):
            return False
        return all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]


class Ledger:
    """Balances of one quantity (cash, or cards) per account, moved only by transfers."""

    def __init__(self, quantity: str, capacity: int = 64):
        self.quantity = quantity
        self.balance = np.zeros(capacity, dtype=np.float64)
        self.names = AccountNames()
        self.index: dict[str, int] = {}  # accounts opened one by one (blocks: ``names.find``)
        self.flows: dict[str, float] = {}  # per-kind totals since the last reset_flows()

    def open(self, name: str) -> int:
        """Open an account; returns its index (re-opening a name returns the existing one)."""
        if name in self.index:
            return self.index[name]
        found = self.names.find(name)
        if found is not None:
            return found
        i = len(self.names)
        self._room_for(i + 1)
        self.names.append(name)
        self.index[name] = i
        return i

    def open_block(self, prefix: str, first: int, n: int) -> np.ndarray:
        """Open `n` accounts named ``prefix`` + `first`, `first` + 1, ... at once (a pooled
        population: the same accounts, in the same order, as opening them one by one, without a
        Python call and a dictionary entry per account); returns their indices."""
        start = len(self.names)
        if n <= 0:
            return np.zeros(0, dtype=np.int64)
        self._room_for(start + n)
        self.names.append_block(prefix, first, n)
        return np.arange(start, start + n, dtype=np.int64)

    def _room_for(self, n: int) -> None:
        """Grow the balances (doubling, as one account at a time would) to hold `n` accounts."""
        size = len(self.balance)
        while n > size:
            size += max(1, size)
        if size > len(self.balance):
            self.balance = np.concatenate([self.balance, np.zeros(size - len(self.balance))])

    def open_many(self, prefix: str, n: int) -> np.ndarray:
        return np.array([self.open(f"{prefix}{k}") for k in range(n)], dtype=np.int64)

    def __getitem__(self, account: int | str) -> float:
        if isinstance(account, str):
            account = self.index[account]
        return self.balance.item(account)  # a Python float, as float(balance[account])

    def transfer(self, payer: int, payee: int, amount: float, kind: str = "") -> None:
        """Move a non-negative finite amount from payer to payee."""
        amount = float(amount)
        if not math.isfinite(amount) or amount < 0:
            raise ValueError(f"{self.quantity} transfer of {amount!r} ({kind}) is not a finite amount >= 0")
        if amount == 0:
            return
        balance = self.balance  # Python float arithmetic: the same bits as numpy's, cheaper
        balance[payer] = balance.item(payer) - amount
        balance[payee] = balance.item(payee) + amount
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
        # finite and >= 0 in two passes without temporaries (a NaN makes both NaN: not >= 0)
        if not (amounts.min() >= 0.0 and amounts.max() < math.inf):
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
