"""Agent decision rules on a small world (tests/support/small_world.py)."""

from __future__ import annotations

import pytest
from support.small_world import SmallWorld


@pytest.fixture
def world() -> SmallWorld:
    return SmallWorld()
