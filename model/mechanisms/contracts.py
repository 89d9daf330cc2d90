"""Reservations: multi-year blocks of GPU-hours on a cluster tier, partly prepaid, resellable.

A holder reserves `gpus` of a provider's capacity on a tier (small or large) from `start` to `end`
(weeks). At signing it prepays a share of the whole contract; the rest is paid weekly while the
block is active. The holder may use the hours, or hand idle hours to a reseller: the block stays
the holder's (and the provider's capacity stays committed) whatever the holder does with it.
"""

from __future__ import annotations

import numpy as np

from model.mechanisms.vocabulary import HOURS_PER_WEEK


class ReservationBook:
    _cols = ("holder", "provider", "tier", "gpus", "start", "end", "price", "prepaid_share")

    def __init__(self):
        self.holder = np.zeros(0, dtype=np.int64)  # agent index (not ledger account)
        self.provider = np.zeros(0, dtype=np.int64)  # cloud index
        self.tier = np.zeros(0, dtype=np.int64)
        self.gpus = np.zeros(0)
        self.start = np.zeros(0, dtype=np.int64)
        self.end = np.zeros(0, dtype=np.int64)  # exclusive
        self.price = np.zeros(0)  # USD per GPU-hour
        self.prepaid_share = np.zeros(0)
        # committed() of one week, by (n_providers, tier, horizon): asked at every delivery and
        # signing. The columns change only through sign (which adds its row to these sums),
        # terminate and expire (which drop them).
        self._committed: dict[tuple[int, int, int], np.ndarray] = {}
        self._committed_step: int | None = None

    def __len__(self) -> int:
        return len(self.gpus)

    def sign(
        self,
        holder: int,
        provider: int,
        tier: int,
        gpus: float,
        start: int,
        weeks: int,
        price: float,
        prepaid_share: float,
    ) -> float:
        """Add a contract; returns the prepayment due now."""
        if gpus <= 0 or weeks <= 0:
            raise ValueError("a reservation needs gpus > 0 and weeks > 0")
        row = (holder, provider, tier, gpus, start, start + weeks, price, prepaid_share)
        for c, value in zip(self._cols, row):
            setattr(self, c, np.concatenate((getattr(self, c), [value])))  # np.append, unwrapped
        self._add_to_committed(self.provider[-1], self.tier[-1], self.gpus[-1], self.start[-1], self.end[-1])
        return prepaid_share * price * gpus * HOURS_PER_WEEK * weeks

    def _add_to_committed(self, provider, tier, gpus, start, end) -> None:
        """Count a contract just signed in the kept committed() sums: bincount adds the weights
        in row order, so adding the last row to the sum of the others gives the same bits."""
        step = self._committed_step
        if step is None:
            return
        for key, per in list(self._committed.items()):
            _, t, horizon = key
            if t != tier or not (start <= step + horizon and step < end):
                continue
            if 0 <= provider < len(per):
                per = per.astype(np.float64)  # a copy (bincount counts no rows as integers)
                per[provider] += gpus
                per.setflags(write=False)
                self._committed[key] = per
            else:  # a provider past the end lengthens the count: count again when asked
                del self._committed[key]

    def active(self, step: int) -> np.ndarray:
        return (self.start <= step) & (step < self.end)

    def weekly_due(self, step: int) -> np.ndarray:
        """Weekly payment each contract owes this step (zero when not active)."""
        return np.where(
            self.active(step), (1.0 - self.prepaid_share) * self.price * self.gpus * HOURS_PER_WEEK, 0.0
        )

    def held(self, step: int, n_holders: int, tier: int) -> np.ndarray:
        """GPUs of active reservations per holder on a tier."""
        m = self.active(step) & (self.tier == tier)
        return np.bincount(self.holder[m], weights=self.gpus[m], minlength=n_holders)

    def committed(self, step: int, n_providers: int, tier: int, horizon: int = 0) -> np.ndarray:
        """GPUs each provider has committed on a tier, now or starting within `horizon` weeks
        (read-only: kept for the week and shared by every asker)."""
        key = (n_providers, tier, horizon)
        if step != self._committed_step:
            self._committed.clear()
            self._committed_step = step
        else:
            found = self._committed.get(key)
            if found is not None:
                return found
        m = (self.start <= step + horizon) & (step < self.end) & (self.tier == tier)
        per = np.bincount(self.provider[m], weights=self.gpus[m], minlength=n_providers)
        per.setflags(write=False)
        self._committed[key] = per
        return per

    def terminate(self, index: int, step: int) -> None:
        """End a contract now (the holder defaulted); prepaid money is not returned."""
        self.end[index] = min(self.end[index], step)
        self._committed.clear()

    def expire(self, step: int) -> None:
        """Forget contracts that have ended (keeps the arrays short over long runs)."""
        keep = self.end > step
        self._committed.clear()
        if not keep.all():
            for c in self._cols:
                setattr(self, c, getattr(self, c)[keep])
