"""Export-control rules as predicates over product specs and buyer region (DOMAIN §3).

A rule catches a product when the product is named in it, or when its specs pass the rule's
thresholds. The latest rule in force that catches a (product, region) pair decides: it forbids the
sale, unless it grants a licence for a share of revenue. Rules come from the scenario file, so a
scenario can add, move or remove them without touching code.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from model.mechanisms.products import Product


@dataclass(frozen=True)
class ExportRule:
    name: str
    announce: dt.date
    effective: dt.date
    regions: tuple[str, ...]
    products: tuple[str, ...] = ()
    tpp_min: float | None = None
    io_min_gbps: float | None = None
    alt_tpp_min: float | None = None
    alt_density_min: float | None = None
    rescinded: dt.date | None = None
    heard: dt.date | None = None
    licence_fee_share: float | None = None

    @classmethod
    def from_config(cls, row) -> ExportRule:
        return cls(**{k: row.get(k) for k in cls.__dataclass_fields__ if row.get(k) is not None})

    def catches(self, p: Product, region: str) -> bool:
        """Does the rule's predicate cover this product sold into this region?"""
        if region not in self.regions:
            return False
        if p.name in self.products:
            return True
        if (
            self.tpp_min is not None
            and p.tpp >= self.tpp_min
            and (self.io_min_gbps is None or p.io_gbps >= self.io_min_gbps)
        ):
            return True
        if self.alt_tpp_min is not None and self.alt_density_min is not None:
            return p.tpp >= self.alt_tpp_min and p.density >= self.alt_density_min
        return False

    def in_force(self, when: dt.date) -> bool:
        return self.effective <= when and (self.rescinded is None or when < self.rescinded)

    def known(self, when: dt.date) -> bool:
        """Known to buyers (heard of, or announced) but not yet in force."""
        first = min(self.announce, self.heard) if self.heard else self.announce
        return first <= when < self.effective


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    fee_share: float = 0.0
    rule: str | None = None


class RuleBook:
    """All rules of a scenario; answers 'may the legal channel sell P to region R on date D?'."""

    def __init__(self, rules: list[ExportRule], enabled: bool = True):
        self.rules = sorted(rules, key=lambda r: r.effective) if enabled else []
        # Answers are pure functions of (product, region, date) and asked thousands of times a
        # run; a book never changes (the model builds a new one when rules change). They are
        # kept by the product's identity (hashing a product hashes all its specs) next to the
        # product itself, which keeps it alive, so its id cannot be reused.
        self._verdicts: dict = {}
        self._pending: dict = {}

    @classmethod
    def from_config(cls, cfg) -> RuleBook:
        return cls([ExportRule.from_config(r) for r in cfg.policy.rules], cfg.policy.export_controls)

    def verdict(self, p: Product, region: str, when: dt.date) -> Verdict:
        key = (id(p), region, when)
        found = self._verdicts.get(key)
        if found is None:
            found = self._verdicts[key] = (p, self._decide(p, region, when))
        return found[1]

    def _decide(self, p: Product, region: str, when: dt.date) -> Verdict:
        deciding = None
        for rule in self.rules:  # sorted by effective date: the last match decides
            if rule.in_force(when) and rule.catches(p, region):
                deciding = rule
        if deciding is None:
            return Verdict(True)
        if deciding.licence_fee_share is not None:
            return Verdict(True, deciding.licence_fee_share, deciding.name)
        return Verdict(False, 0.0, deciding.name)

    def allowed(self, p: Product, region: str, when: dt.date) -> bool:
        return self.verdict(p, region, when).allowed

    def pending_ban(self, p: Product, region: str, when: dt.date) -> ExportRule | None:
        """A rule buyers know of that will forbid a sale that is legal today (stockpiling cue)."""
        key = (id(p), region, when)
        found = self._pending.get(key)
        if found is None:
            found = self._pending[key] = (p, self._first_pending(p, region, when))
        return found[1]

    def _first_pending(self, p: Product, region: str, when: dt.date) -> ExportRule | None:
        if not self.allowed(p, region, when):
            return None
        for rule in self.rules:
            if rule.known(when) and rule.catches(p, region) and rule.licence_fee_share is None:
                return rule
        return None
