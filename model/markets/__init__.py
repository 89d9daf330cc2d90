"""The markets, one per file. Each owns its week's book, clears it with a pure mechanism,
settles through the ledgers, tells the agents what they got and publishes its own price.

=================  =====================================  ==========================================
file               market                                 publishes
=================  =====================================  ==========================================
new_cards.py       the vendor's order book                card_price_new, lead_time_weeks, vendor_output
reservations.py    reserved blocks of cloud capacity      reserved_price, reservations_gpus
hours.py           on-demand and spot GPU-hours           spot_price, small/large_cluster_price,
                                                          ondemand_price
used_cards.py      used cards between owners              card_price_secondary
grey.py            the grey channel into restricted       grey_card_price, smuggled/seized cards
                   regions
=================  =====================================  ==========================================
"""

from model.markets.base import MARKETS, Market, register
from model.markets.grey import GreyMarket
from model.markets.hours import HoursMarket
from model.markets.new_cards import NewCardMarket
from model.markets.reservations import ReservationMarket
from model.markets.used_cards import UsedCardMarket

__all__ = [
    "MARKETS",
    "GreyMarket",
    "HoursMarket",
    "Market",
    "NewCardMarket",
    "ReservationMarket",
    "UsedCardMarket",
    "register",
]
