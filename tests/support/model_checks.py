"""Checks of a model's weekly signals shared by the invariant and property tests.

No price without a trade: a trade price (spot, a cluster tier, used cards, grey cards) is a
finite positive number exactly in the weeks its market traded (volume > 0) and NaN otherwise;
posted prices and standing quotes are finite and positive every week; everything else is finite.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.market import EXTRA_SERIES, SERIES

#: posted prices and standing quotes: finite and positive every week
PRICE_COLUMNS = ("ondemand_price", "reserved_price", "card_price_new", "small_cluster_quote",
                 "large_cluster_quote", "secondary_quote", "grey_quote")
#: trade prices, each with the volume that gives it
TRADE_PRICES = {"spot_price": "spot_volume", "small_cluster_price": "small_cluster_volume",
                "large_cluster_price": "large_cluster_volume",
                "card_price_secondary": "secondary_volume", "grey_card_price": "grey_volume",
                "grey_card_price_cny": "grey_volume"}
#: NaN until what they measure exists: the next generation's price and queue before it is made or
#: due; a kind of cloud's list in a world without that kind. Positive whenever they are a number.
NOT_YET = ("nextgen_card_price", "nextgen_lead_time_weeks", "hyperscaler_ondemand_price",
           "private_ondemand_price")


def check_frame(df: pd.DataFrame, where: str) -> None:
    """The rules above, for every row of a series frame (or the one row of this week)."""
    for name in SERIES + EXTRA_SERIES:
        if name == "date" or name in TRADE_PRICES:
            continue
        if name in NOT_YET:
            v = df[name].to_numpy(dtype=float)
            known = ~np.isnan(v)
            assert (np.isfinite(v[known]) & (v[known] > 0)).all(), f"{where}: {name} not a positive number"
            continue
        v = df[name].to_numpy(dtype=float)
        assert np.isfinite(v).all(), f"{where}: {name} not finite at rows {np.flatnonzero(~np.isfinite(v))[:5]}"
    for name in PRICE_COLUMNS:
        v = df[name].to_numpy(dtype=float)
        assert (v > 0).all(), f"{where}: price {name} not positive at rows {np.flatnonzero(v <= 0)[:5]}"
    for price, volume in TRADE_PRICES.items():
        p, q = df[price].to_numpy(dtype=float), df[volume].to_numpy(dtype=float)
        traded = q > 0
        assert (np.isfinite(p[traded]) & (p[traded] > 0)).all(), \
            f"{where}: {price} not a positive number in a week {volume} > 0"
        assert np.isnan(p[~traded]).all(), \
            f"{where}: {price} printed without a trade (rows {np.flatnonzero(~traded & ~np.isnan(p))[:5]})"


def check_signals(m, where: str) -> None:
    """The rules above for this week's values."""
    check_frame(pd.DataFrame([m.recorder.now]), where)
