"""h100sim's world: scenarios, mechanisms (supply, rules, markets, contracts, books) and the model."""

from model.config import load_scenario, list_scenarios, parse_override
from model.errors import InputError
from model.market import SERIES, H100Market, release_model

__all__ = ["H100Market", "InputError", "SERIES", "list_scenarios", "load_scenario", "parse_override",
           "release_model"]
