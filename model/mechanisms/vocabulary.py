"""The model's shared vocabulary: units of time, cluster tiers, uses of an hour, builders' modes.

One place for the numbers and names every layer speaks, so no bare ``168`` or ``52`` hides in
the code and a tier or a use means the same thing in a book, an agent and a chart.
"""

from __future__ import annotations

import datetime as dt

# -- time --------------------------------------------------------------------------------------
WEEK = dt.timedelta(days=7)  #: one model step
HOURS_PER_WEEK = 168.0  #: GPU-hours one GPU gives in a step
WEEKS_PER_YEAR = 52.0
HOURS_PER_YEAR = 8760.0
QUARTER_WEEKS = 13  #: a quarter, in steps (reviews, funding rounds)
MONTH_WEEKS = 4  #: a month, in steps (fixed-rate listings, sourcing)
ONE_YEAR_WEEKS = 52  #: a one-year reservation
THREE_YEAR_WEEKS = 156  #: a three-year reservation

# -- cluster tiers (the hours market's two products) -------------------------------------------
SMALL, LARGE = 0, 1  #: <= 4 nodes; >= 16 nodes on InfiniBand
TIERS = (SMALL, LARGE)
TIER_NAMES = ("small", "large")

# -- what an hour is used for ------------------------------------------------------------------
TRAIN, FINETUNE, INFERENCE = 0, 1, 2
USES = ("training", "finetune", "inference")

# -- what a model builder does this quarter ----------------------------------------------------
TRAIN_MODE, FINETUNE_MODE, IDLE_MODE = "train", "finetune", "idle"

# -- products ----------------------------------------------------------------------------------
H100 = "H100 SXM5"  #: the flagship part, the market's unit
EXPORT_LINE_IO_GBPS = 600.0  #: chip-to-chip I/O below which a part is 'cut down'
