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
