"""The product catalog (DOMAIN §2) as data: specs drive export rules and substitution."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

CATALOG_FILE = Path(__file__).parents[1] / "data" / "catalog.toml"


@dataclass(frozen=True)
class Product:
    name: str
    perf: float  # work done relative to an H100 SXM
    tpp: float  # total processing performance (the export rules' measure)
    io_gbps: float  # chip-to-chip bandwidth
    die_mm2: float
    memory_gb: int
    available: dt.date | None = None  # first date the vendor takes orders for it

    def orderable(self, when: dt.date) -> bool:
        return self.available is None or when >= self.available

    @property
    def density(self) -> float:
        """Performance density, TPP per mm² of die (the Oct 2023 rule's second test)."""
        return self.tpp / self.die_mm2


@lru_cache(maxsize=1)
def catalog() -> dict[str, Product]:
    with CATALOG_FILE.open("rb") as fh:
        rows = tomllib.load(fh)["product"]
    return {r["name"]: Product(**r) for r in rows}


def product(name: str) -> Product:
    return catalog()[name]


def cost_of_work(price_per_eq: float, work_factor: float, lead_weeks: float, hour_value: float) -> float:
    """What a unit of useful work (one H100's worth for a card's life) costs a buyer on a part:
    its price per H100-equivalent over how much more of the buyer's job an equivalent does, plus
    the hours lost waiting for it (at the buyer's value of an hour, the card used 85% of the time)."""
    return price_per_eq / work_factor + lead_weeks * 168.0 * 0.85 * hour_value


def prefers_nextgen(
    h100_price: float,
    h100_lead: float,
    nextgen_price_per_eq: float,
    nextgen_lead: float,
    work_factor: float,
    hour_value: float,
) -> bool:
    """Whether a buyer takes next-generation cards for its order: when a unit of its work costs
    less on them, queue included. Frontier training gets more from them per H100-equivalent
    (memory, interconnect: `work_factor` > 1) than fine-tuning or inference (1); a long queue for
    the scarce new part sends buyers back to Hopper. No next-generation part yet (NaN): no."""
    if not (nextgen_price_per_eq == nextgen_price_per_eq and nextgen_lead == nextgen_lead):
        return False
    return cost_of_work(nextgen_price_per_eq, work_factor, nextgen_lead, hour_value) < cost_of_work(
        h100_price, 1.0, h100_lead, hour_value
    )
