"""The small world's stand-ins keep the real markets', rules' and drivers' interface, so an agent
that decides against the small world calls the real thing the same way (a renamed method or parameter
fails here, not silently in a hand-worked test)."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from support import small_world as world_mod

from model.drivers import Drivers
from model.markets import GreyMarket, HoursMarket, NewCardMarket, ReservationMarket, UsedCardMarket
from model.mechanisms.rules import RuleBook

TEST_ONLY = {"commit", "hold", "announce"}     # helpers a test uses to set the scene


@pytest.mark.parametrize("fake, real", [
    (world_mod.RecordingNewCards, NewCardMarket), (world_mod.RecordingHours, HoursMarket),
    (world_mod.RecordingReservations, ReservationMarket), (world_mod.RecordingCardBook, UsedCardMarket),
    (world_mod.RecordingGrey, GreyMarket), (world_mod.FixedRules, RuleBook)])
def test_stand_ins_have_the_real_methods_and_parameters(fake, real):
    methods = [name for name, _ in inspect.getmembers(fake, inspect.isfunction)
               if not name.startswith("_") and name not in TEST_ONLY]
    assert methods
    for name in methods:
        assert hasattr(real, name), f"{real.__name__} has no {name}"
        params = list(inspect.signature(getattr(fake, name)).parameters)
        assert params == list(inspect.signature(getattr(real, name)).parameters), name


def test_fixed_drivers_are_the_values_the_real_drivers_publish(world):
    real = Drivers(world.cfg, world.cfg.run.start, 4)
    for f in dataclasses.fields(world_mod.FixedDrivers):
        assert isinstance(getattr(real, f.name), float), f.name
