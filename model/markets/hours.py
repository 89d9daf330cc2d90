"""The hours market: on-demand hours at the clouds' posted prices, then spot by tier.

Buyers post *lines* (what they still need after their own fleets and reservations) and owners
post *asks* (idle hours handed to a reseller); :func:`model.mechanisms.hours.clear_hours` clears them.
This file settles what cleared (buyers pay clouds on demand; spot buyers pay the pool, which pays
sellers less their reseller's fee), tells each buyer, seller and cloud how its week went, and
publishes ``spot_price``, ``small_cluster_price``, ``large_cluster_price`` and
``ondemand_price``, with ``resold_hours`` and ``unmet_gpus``.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from model.markets.base import Market, register
from model.mechanisms.books import Book
from model.mechanisms.hours import clear_hours, demand_book, supply_book, turned_away_at
from model.mechanisms.vocabulary import HOURS_PER_WEEK, INFERENCE, LARGE, SMALL, TIERS

NAN = float("nan")
EXPECTATION_WEEKS = 4  # agents plan with the mean spot price of the last four weeks


@register
class HoursMarket(Market):
    name = "hours"
    unit = "GPU-hours"

    def __init__(self, model, launch_price: float):
        super().__init__(model)
        self.spot_hist = deque([np.array([launch_price, launch_price])], maxlen=EXPECTATION_WEEKS)
        self._expected: np.ndarray | None = None
        self.spot_volume = np.zeros(2)
        self.volume_hist = deque([np.zeros(2)], maxlen=EXPECTATION_WEEKS)  # GPUs a week, by tier
        self.spot_price = self.small_cluster_price = self.large_cluster_price = NAN
        self.small_cluster_quote = self.large_cluster_quote = launch_price
        self.small_cluster_volume = self.large_cluster_volume = self.spot_volume_hours = 0.0
        self.ondemand_price = launch_price
        self.hyperscaler_ondemand_price = self.private_ondemand_price = NAN
        self.cloud_capacity = np.zeros(0)  # (clouds,) GPUs, read at publication
        self.capacity_weights = np.zeros(0)
        self.open_week()

    def open_week(self) -> None:
        self.lines: Book = demand_book()
        self.asks: Book = supply_book()
        self.used: Any = [0.0, 0.0, 0.0]  # GPUs used this week, by use (own fleets; then markets)
        self.resold_hours = 0.0
        self.unmet_gpus = 0.0
        self.alt_gpus = 0.0  # inference moved to other parts this week, H100-equivalents

    # -- what agents read ------------------------------------------------------------------------
    def expected_price(self, tier: int) -> float:
        """The recent spot price of a tier (four-week mean), what agents plan with."""
        if self._expected is None:
            self._expected = np.mean(np.array(self.spot_hist), axis=0)
        return float(self._expected[tier])

    def last_spot(self, tier: int) -> float:
        return float(self.spot_hist[-1][tier])

    # -- what agents post ------------------------------------------------------------------------
    def use_own(self, use: int, gpus) -> None:
        """GPUs of own fleets and reservations put to a use, in turn (a running sum in order)."""
        self.used[use] = float(np.cumsum(np.concatenate([[self.used[use]], gpus]))[-1])

    def bid_for(self, accounts, agents, uses, tiers, gpus, limits) -> None:
        """Lines of rich agents (their ids hear how their lines did), many at once."""
        self.lines.extend(buyer=accounts, owner=agents, tier=tiers, use=uses, gpus=gpus, limit=limits)

    def bid_pooled(self, accounts, use: int, tier: int, gpus, limits) -> None:
        """Lines of a vectorised population (no feedback to single agents)."""
        n = len(accounts)
        if n:
            self.lines.extend(
                buyer=accounts,
                owner=np.full(n, -1),
                tier=np.full(n, tier),
                use=np.full(n, use),
                gpus=gpus,
                limit=limits,
            )

    def offer_idle(self, agents, tiers, gpus, prices, resale: bool) -> None:
        """Idle hours of many (agent, tier) pairs, in order, each through its agent's reseller."""
        resellers = [a.reseller for a in agents]
        self.asks.extend(
            seller=[a.account for a in agents],
            holder=[a.unique_id for a in agents],
            reseller=[r.account for r in resellers],
            tier=tiers,
            gpus=gpus,
            price=[
                r.ask_price(p, t)
                for r, p, t in zip(resellers, np.asarray(prices).tolist(), np.asarray(tiers).tolist())
            ],
            resale=np.full(len(agents), int(resale)),
        )

    # -- the week --------------------------------------------------------------------------------
    def clear(self) -> None:
        m = self.model
        clouds = m.population.clouds
        by_id, by_account = m.population.by_id, m.population.by_account
        n_c = len(clouds)
        caps = np.array([c.capacity() for c in clouds])  # (clouds, tiers)
        reserved = np.empty((n_c, 2))
        for t in TIERS:
            reserved[:, t] = m.reservations.committed(t)
        od_cap = np.maximum(caps - reserved, 0.0)
        od_price = np.array([c.list_price for c in clouds])
        floors = np.array([c.spot_floor() for c in clouds])
        holdback = np.array([c.spot_holdback() for c in clouds])
        lines = self.lines.arrays()
        asks = self.asks.arrays()
        self.serve_on_other_parts(lines)
        # Private clouds hand what on-demand buyers leave to resellers, asking at least their floor.
        res = clear_hours(
            lines,
            asks,
            od_cap,
            od_price,
            m.rng,
            cloud_floor=floors,
            cloud_accounts=np.array([c.account for c in clouds]),
            cloud_resellers=np.array([c.reseller.account for c in clouds]),
            small_price=self.last_spot(SMALL),
            cloud_holdback=holdback,
            quote=self.spot_hist[-1],
            recent_volume=np.sum(np.array(self.volume_hist), axis=0),
        )
        hours = HOURS_PER_WEEK
        # On-demand payments: buyer -> cloud.
        bought = res.od_fill > 0
        if bought.any():
            payee = np.array([c.account for c in clouds])[res.od_cloud[bought]]
            m.cash.transfer_many(
                lines["buyer"][bought],
                payee,
                res.od_fill[bought] * hours * od_price[res.od_cloud[bought]],
                "ondemand",
            )
        # Spot: buyers pay the pool; the pool pays sellers less the reseller's fee. Buyers paid
        # exactly what sellers and resellers received: the pool's own account keeps only
        # floating-point residue (it is an outside account, so the books still balance).
        all_asks = res.asks
        spot_line_price = np.where(lines["tier"] == LARGE, res.spot_price[LARGE], res.spot_price[SMALL])
        got = res.spot_fill > 0
        if got.any():
            m.cash.transfer_many(
                lines["buyer"][got],
                np.full(got.sum(), m.acct_pool),
                res.spot_fill[got] * hours * spot_line_price[got],
                "spot",
            )
        sold = res.ask_fill > 0
        if sold.any():
            value = res.ask_value[sold] * hours
            fee_share = np.array([by_account[int(a)].fee for a in all_asks["reseller"][sold]])
            m.cash.transfer_many(
                np.full(sold.sum(), m.acct_pool),
                all_asks["seller"][sold],
                value * (1 - fee_share),
                "spot_proceeds",
            )
            m.cash.transfer_many(
                np.full(sold.sum(), m.acct_pool),
                all_asks["reseller"][sold],
                value * fee_share,
                "reseller_fee",
            )
            self.resold_hours = float((res.ask_fill[sold] * (all_asks["resale"][sold] == 1)).sum() * hours)
        # What was used, by use.
        filled = res.od_fill + res.spot_fill
        self.used = np.asarray(self.used, dtype=np.float64) + (
            np.bincount(lines["use"], weights=filled, minlength=3) if len(filled) else 0.0
        )
        unmet = lines["gpus"] - filled
        self.unmet_gpus = float(unmet.sum()) if len(unmet) else 0.0
        # Feedback to the few rich agents (vectorised populations see prices directly).
        rich = (lines["owner"] >= 0).nonzero()[0]
        for uid, use, wanted, got_ in zip(
            lines["owner"][rich].tolist(),
            lines["use"][rich].tolist(),
            lines["gpus"][rich].tolist(),
            filled[rich].tolist(),
        ):
            by_id[uid].on_hours(use, wanted, got_)
        if len(asks["gpus"]):
            offered = asks["gpus"]
            share = res.ask_fill[: len(offered)] / np.maximum(offered, 1e-12)
            for uid, tier, sold_share in zip(asks["holder"].tolist(), asks["tier"].tolist(), share.tolist()):
                by_id[uid].on_ask(tier, sold_share)
        self._tell_clouds(clouds, res, lines, unmet, reserved, od_price)
        # Prices: clearing price, else mid of the spread, else last week's.
        last = self.spot_hist[-1]
        now = np.where(np.isfinite(res.spot_indicative), res.spot_indicative, last)
        self.spot_hist.append(now)
        self._expected = None
        self.spot_volume = res.spot_volume
        self.volume_hist.append(res.spot_volume)
        self._log_week(lines, res, clouds)

    def serve_on_other_parts(self, lines: dict) -> None:
        """Inference moves to the other parts (L40S, MI300X, TPUs) when an hour there costs less
        than an H100 hour: their capacity this week goes, pro rata, to the inference lines that
        value an hour at least at its cost; those buyers pay the parts' owners (outside the model)
        and bid for H100 hours only for the rest. A competing supply with its own limit, not a cap
        on every bid."""
        m = self.model
        drv = m.drivers
        cost, cap = drv.alt_cost, drv.alt_capacity
        if cap <= 0 or cost >= self.expected_price(SMALL) or not len(lines["gpus"]):
            return
        ok = ((lines["use"] == INFERENCE) & (lines["limit"] >= cost) & (lines["gpus"] > 0)).nonzero()[0]
        want = float(lines["gpus"][ok].sum())
        if want <= 0:
            return
        take = lines["gpus"][ok] * min(1.0, cap / want)
        lines["gpus"][ok] -= take
        m.cash.transfer_many(
            lines["buyer"][ok],
            np.full(ok.size, m.acct_other_parts),
            take * HOURS_PER_WEEK * cost,
            "other_parts",
        )
        self.alt_gpus = float(take.sum())

    def _tell_clouds(self, clouds, res, lines, unmet, reserved, od_price) -> None:
        """Each cloud hears what it sold (at list, and through resellers), its revenue from every
        channel, and the demand turned away at list prices (for it to judge its share of)."""
        hours = HOURS_PER_WEEK
        n_c = len(clouds)
        sizes = np.array([c.size for c in clouds])
        at_list = res.od_sold.sum(axis=1) + reserved.sum(axis=1)
        sold_gpus = at_list + res.cloud_spot_sold.sum(axis=1)
        rb = self.model.reservations.book
        res_revenue: np.ndarray
        if len(rb):
            act = rb.active(self.model.steps)
            res_revenue = np.bincount(
                rb.provider[act], weights=rb.gpus[act] * rb.price[act] * hours, minlength=n_c
            )
        else:
            res_revenue = np.zeros(n_c)
        crow = (res.asks["cloud"] >= 0).nonzero()[0]
        spot_revenue = np.bincount(
            res.asks["cloud"][crow], weights=res.ask_value[crow] * hours, minlength=n_c
        )
        od_sold = res.od_sold.sum(axis=1)
        all_sizes = sizes.sum()
        turned_away = turned_away_at(unmet, lines["limit"], [c.list_price for c in clouds])
        for i, c in enumerate(clouds):
            revenue = float(od_sold[i] * hours * od_price[i] + res_revenue[i] + spot_revenue[i])
            c.on_week(sold_gpus[i], at_list[i], revenue, turned_away[c.list_price], all_sizes)

    def _log_week(self, lines, res, clouds) -> None:
        """Who sold hours to whom this week: clouds on demand; holders to resellers; resellers on
        spot (a buyer is credited to the reseller that sold most on its tier)."""
        m = self.model
        log = m.recorder.log_rows
        by_account = m.population.by_account
        step = m.steps
        owner = lines["owner"]
        pool = owner < 0
        rich = ~pool
        # each cloud's on-demand buyers, in line order (one stable sort instead of a mask a cloud)
        bought = (res.od_cloud >= 0).nonzero()[0]
        key = res.od_cloud[bought]
        if len(clouds) < 2**15:
            key = key.astype(np.int16)  # a stable sort of small ints is a radix sort
        by_cloud = bought[key.argsort(kind="stable")]
        bounds = np.searchsorted(res.od_cloud[by_cloud], np.arange(len(clouds) + 1))
        for i, cloud in enumerate(clouds):
            mine = by_cloud[bounds[i] : bounds[i + 1]]
            k = mine[rich[mine]]
            log(step, cloud.unique_id, owner[k].tolist(), "ondemand", res.od_fill[k].tolist())
            self.log(
                cloud.unique_id, "finetuner-pool", "ondemand", float(res.od_fill[mine[pool[mine]]].sum())
            )
        asks = res.asks
        by_reseller: dict = {}
        k = (res.ask_fill > 0).nonzero()[0]
        for acct, seller_acct, tier, vol in zip(
            asks["reseller"][k].tolist(),
            asks["seller"][k].tolist(),
            asks["tier_cleared"][k].tolist(),
            res.ask_fill[k].tolist(),
        ):
            seller = by_account[seller_acct]
            reseller = by_account[acct]
            self.log(seller.unique_id, reseller.unique_id, "resale", vol)
            key = (tier, reseller.unique_id)
            by_reseller[key] = by_reseller.get(key, 0.0) + vol
        for tier in (SMALL, LARGE):
            sold = {r: v for (t, r), v in by_reseller.items() if t == tier}
            if not sold:
                continue
            top = max(sold, key=lambda r: sold[r])
            on_tier = (lines["tier"] == tier) & (res.spot_fill > 0)
            k = (on_tier & rich).nonzero()[0]
            log(step, top, owner[k].tolist(), "spot", res.spot_fill[k].tolist())
            self.log(top, "finetuner-pool", "spot", float(res.spot_fill[on_tier & pool].sum()))

    def report(self) -> dict[str, float]:
        return {
            "spot_price": self.spot_price,
            "small_cluster_price": self.small_cluster_price,
            "large_cluster_price": self.large_cluster_price,
            "ondemand_price": self.ondemand_price,
            "hyperscaler_ondemand_price": self.hyperscaler_ondemand_price,
            "private_ondemand_price": self.private_ondemand_price,
            "resold_hours": self.resold_hours,
            "unmet_gpus": self.unmet_gpus,
            "alt_inference_hours": self.alt_gpus * HOURS_PER_WEEK,
            "spot_volume": self.spot_volume_hours,
            "small_cluster_volume": self.small_cluster_volume,
            "large_cluster_volume": self.large_cluster_volume,
            "small_cluster_quote": self.small_cluster_quote,
            "large_cluster_quote": self.large_cluster_quote,
        }

    def publish(self) -> None:
        """The week's prices. Spot by tier only where hours traded (NaN otherwise: no price
        without a trade), their volume-weighted mean, the volumes in GPU-hours, the standing
        quotes agents plan with (a clearing price, else the mid of the spread, else last week's),
        and the clouds' capacity-weighted list (all, hyperscalers, private clouds)."""
        clouds = self.model.population.clouds
        small, large = self.spot_hist[-1]
        vol = self.spot_volume
        self.small_cluster_quote, self.large_cluster_quote = float(small), float(large)
        self.small_cluster_volume = float(vol[SMALL] * HOURS_PER_WEEK)
        self.large_cluster_volume = float(vol[LARGE] * HOURS_PER_WEEK)
        self.spot_volume_hours = self.small_cluster_volume + self.large_cluster_volume
        self.small_cluster_price = float(small) if vol[SMALL] > 0 else NAN
        self.large_cluster_price = float(large) if vol[LARGE] > 0 else NAN
        self.spot_price = (
            float((small * vol[SMALL] + large * vol[LARGE]) / vol.sum()) if vol.sum() > 0 else NAN
        )
        caps = np.array([c.capacity_total() for c in clouds])
        w = caps / caps.sum() if caps.sum() > 0 else np.full(len(caps), 1 / max(1, len(caps)))
        self.cloud_capacity, self.capacity_weights = caps, w
        self.ondemand_price = float(sum(c.list_price * wi for c, wi in zip(clouds, w)))
        lists = np.array([c.list_price for c in clouds])
        private = np.array([c.private for c in clouds], dtype=bool)
        self.hyperscaler_ondemand_price = _weighted(lists[~private], caps[~private])
        self.private_ondemand_price = _weighted(lists[private], caps[private])


def _weighted(prices: np.ndarray, weights: np.ndarray) -> float:
    """Capacity-weighted mean list of a kind of cloud (the plain mean when none has capacity;
    NaN when the world has none of the kind)."""
    if not len(prices):
        return NAN
    if weights.sum() <= 0:
        return float(prices.mean())
    return float(prices @ weights / weights.sum())
