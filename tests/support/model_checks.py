"""Checks of a model's weekly signals shared by the invariant and property tests."""

from __future__ import annotations

import math

from model.market import EXTRA_SERIES, SERIES

#: every price series; each must be finite and positive at every step
PRICE_COLUMNS = ("spot_price", "ondemand_price", "reserved_price", "small_cluster_price",
                 "large_cluster_price", "card_price_new", "card_price_secondary", "grey_card_price",
                 "grey_card_price_cny")


def check_signals(m, where: str) -> None:
    """Every collected series is finite and every price is positive, right now."""
    for name in SERIES + EXTRA_SERIES:
        if name == "date":
            continue
        v = float(m.recorder.now[name])
        assert math.isfinite(v), f"{where}: {name} = {v!r}"
    for name in PRICE_COLUMNS:
        v = float(m.recorder.now[name])
        assert v > 0, f"{where}: price {name} = {v!r} is not positive"
