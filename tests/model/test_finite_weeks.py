"""Every week publishes finite numbers: an infinity anywhere, or a NaN outside the prices of
markets that did not trade, stops the run at that week with the series named."""

from __future__ import annotations

import pytest

from model import H100Market
from model.population import release_model
from model.record import MAY_BE_NAN


@pytest.fixture
def model():
    m = H100Market(seed=2)
    yield m
    release_model(m)


@pytest.mark.parametrize("series, value", [("ondemand_price", float("inf")), ("unmet_gpus", float("nan")),
                                           ("spot_price", float("-inf"))])
def test_a_non_finite_number_stops_the_week_that_makes_it(model, series, value):
    report = model.hours.report
    model.hours.report = lambda: {**report(), series: value}
    with pytest.raises(FloatingPointError, match=rf"week 1 .*series '{series}' is {value!r}"):
        model.step()


def test_a_price_without_a_trade_may_be_nan(model):
    assert "spot_price" in MAY_BE_NAN and "ondemand_price" not in MAY_BE_NAN
    report = model.hours.report
    model.hours.report = lambda: {**report(), "spot_price": float("nan")}
    model.step()  # no error
    assert model.series()["spot_price"].isna().iloc[-1]
