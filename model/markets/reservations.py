"""Reservations: blocks of a cloud's capacity sold for one or three years, partly prepaid.

The book lives here: signing (the cloud decides when the block can start), what each holder may
use this week (the deliverable share of started contracts, when a cloud is short of cards),
weekly dues and defaults, and the published ``reserved_price`` (the clouds' one-year rate,
weighted by capacity) and ``reservations_gpus``.
"""

from __future__ import annotations

import numpy as np

from model.markets.base import Market, register
from model.mechanisms.contracts import ReservationBook
from model.mechanisms.vocabulary import LARGE, ONE_YEAR_WEEKS, QUARTER_WEEKS, SMALL, TIERS


@register
class ReservationMarket(Market):
    name = "reservation"
    unit = "GPUs"

    def __init__(self, model):
        super().__init__(model)
        self.book = ReservationBook()
        self.deliverable = np.ones((1, 2))  # (clouds, tiers): share of reserved GPUs served
        self._held = None  # this week's entitlements, computed once
        self._account_by_uid = np.full(0, -1, dtype=np.int64)  # holders' ledger accounts, by id
        self.price = 0.0  # reserved_price
        self.gpus = 0.0  # reservations_gpus

    def take_stock(self) -> None:
        """After the week's deliveries: how much of its reservations each cloud can serve."""
        self.deliverable = self._deliverable_share()
        self._held = None

    # -- what holders and clouds ask -------------------------------------------------------------
    def committed(self, tier: int, horizon: int = 0) -> np.ndarray:
        """GPUs each cloud has committed on a tier, now or starting within `horizon` weeks."""
        m = self.model
        return self.book.committed(m.steps, len(m.population.clouds), tier, horizon=horizon)

    def held(self, agent, tier: int, future: bool = False) -> float:
        """GPUs of the agent's reservations on a tier (deliverable share only, unless `future`)."""
        held = self._held if self._held is not None else self._entitlements()  # asked ~50 times a week
        per_holder = held[1 if future else 0][tier]
        uid = agent.unique_id
        return float(per_holder[uid]) if uid < len(per_holder) else 0.0

    def held_many(self, uids: np.ndarray, tier: int, future: bool = False) -> np.ndarray:
        """`held` for many holders at once (by unique_id)."""
        per_holder = self._entitlements()[1 if future else 0][tier]
        out = np.zeros(len(uids))
        inside = uids < len(per_holder)
        out[inside] = per_holder[uids[inside]]
        return out

    def sign(self, holder, cloud, tier: int, gpus: float, weeks: int, rate: float, prepaid: float) -> None:
        """Sign a block: it starts when the cloud can serve it; the prepayment is due now."""
        start = cloud.reservation_start(tier, gpus)
        due = self.book.sign(holder.unique_id, cloud.cloud_index, tier, gpus, start, weeks, rate, prepaid)
        self._hold(holder.unique_id, cloud.cloud_index, tier, gpus, start)
        holder.pay(cloud.account, due, "reservation_prepaid")
        self.log(cloud.unique_id, holder.unique_id, "reservation", gpus)

    # -- entitlements ----------------------------------------------------------------------------
    def _entitlements(self):
        """Per tier, GPUs each holder (by unique_id) may use now (the deliverable share of started
        contracts), and GPUs it holds now or later. One pass a week, read many times."""
        if self._held is not None:
            return self._held
        rb = self.book
        steps = self.model.steps
        empty = np.zeros(0)
        if not len(rb):
            self._held = (empty, empty), (empty, empty)
            return self._held
        live = rb.end > steps
        started = live & (rb.start <= steps)
        usable = rb.gpus * self.deliverable[rb.provider, rb.tier]
        n = int(rb.holder.max()) + 1
        now = tuple(
            np.bincount(
                rb.holder[started & (rb.tier == t)], weights=usable[started & (rb.tier == t)], minlength=n
            )
            for t in TIERS
        )
        later = tuple(
            np.bincount(rb.holder[live & (rb.tier == t)], weights=rb.gpus[live & (rb.tier == t)], minlength=n)
            for t in TIERS
        )
        self._held = now, later
        return self._held

    def _hold(self, uid: int, provider: int, tier: int, gpus: float, start: int) -> None:
        """Add a contract just signed to this week's entitlements: the same sums, in the same
        order, as counting the book again."""
        if self._held is None:
            return
        now, later = (list(x) for x in self._held)
        if uid >= len(later[0]):
            pad = np.zeros(uid + 1 - len(later[0]))
            now = [np.concatenate([a, pad]) for a in now]
            later = [np.concatenate([a, pad]) for a in later]
        later[tier][uid] += gpus
        if start <= self.model.steps:
            now[tier][uid] += gpus * self.deliverable[provider, tier]
        self._held = (tuple(now), tuple(later))

    def _deliverable_share(self) -> np.ndarray:
        """Share of each cloud's active reservations it can actually serve (late deliveries)."""
        clouds = self.model.population.clouds
        out = np.ones((len(clouds), 2))
        if len(self.book) == 0:
            return out
        caps = np.array([c.capacity() for c in clouds])
        for tier in (SMALL, LARGE):
            committed = self.committed(tier)
            cap = caps[:, tier]
            out[:, tier] = np.where(committed > cap, cap / np.maximum(committed, 1e-9), 1.0)
        return out

    # -- settlement ------------------------------------------------------------------------------
    def settle(self) -> None:
        """Weekly dues, contract by contract; a holder that cannot pay one defaults on it."""
        m = self.model
        rb = self.book
        due = rb.weekly_due(m.steps)
        ks = (due > 0).nonzero()[0]
        balance, clouds = m.cash.balance, m.population.clouds
        payers = self._accounts_of(rb.holder[ks])
        amounts = due[ks]
        # When every holder clearly has the cash for all its contracts (a margin far above
        # rounding), no one defaults and the payments can be booked in one go, in the same order.
        owed = np.bincount(payers, weights=amounts, minlength=len(balance))[payers]
        if ks.size and (balance[payers] - owed >= 1e-9 * np.abs(balance[payers]) + 1e-6).all():
            payees = np.array([c.account for c in clouds])[rb.provider[ks]]
            m.cash.transfer_in_turn(payers, payees, amounts, "reservation")
        else:
            for k, account, provider, amount in zip(
                ks.tolist(), payers.tolist(), rb.provider[ks].tolist(), amounts.tolist()
            ):
                if balance[account] >= amount:
                    m.cash.transfer(account, clouds[provider].account, amount, "reservation")
                else:  # default: the contract ends, prepaid money is not returned
                    rb.terminate(k, m.steps)
        if m.steps % QUARTER_WEEKS == 0:
            rb.expire(m.steps)

    def _accounts_of(self, uids: np.ndarray) -> np.ndarray:
        """Ledger accounts of holders by unique id, from a table filled as holders first pay (a
        firm's account never changes), instead of looking each holder up every week."""
        table = self._account_by_uid
        if not uids.size:
            return np.zeros(0, dtype=np.int64)
        if int(uids.max()) >= len(table):
            grown = np.full(int(uids.max()) + 1, -1, dtype=np.int64)
            grown[: len(table)] = table
            table = self._account_by_uid = grown
        accounts = table[uids]
        if (accounts < 0).any():
            by_id = self.model.population.by_id
            for uid in np.unique(uids[accounts < 0]).tolist():
                table[uid] = by_id[uid].account
            accounts = table[uids]
        return accounts

    def report(self) -> dict[str, float]:
        return {"reserved_price": self.price, "reservations_gpus": self.gpus}

    def publish(self) -> None:
        m = self.model
        clouds = m.population.clouds
        w = m.hours.capacity_weights
        self.price = float(sum(c.reserved_rate(ONE_YEAR_WEEKS) * wi for c, wi in zip(clouds, w)))
        self.gpus = float(self.book.gpus[self.book.active(m.steps)].sum()) if len(self.book) else 0.0
