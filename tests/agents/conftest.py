"""Agent decision rules on a stub world (tests/support/stub_world.py)."""

from __future__ import annotations

import pytest
from support.stub_world import StubWorld


@pytest.fixture
def world() -> StubWorld:
    return StubWorld()
