"""The registry of agent kinds: one entry per kind, read by the population, the week, the
recorder, the agent frame and the app's colours.

Adding a kind is one file: a class that decides (a ``mesa.Agent``, usually a :class:`Firm`) and a
``register(...)`` call naming how the population builds it from the scenario and when it acts in
the week. Nothing in ``model/`` names a kind's class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AgentKind:
    """How one kind of agent enters the world and the week.

    ``build(model)`` returns the new agents (the population calls builders in registration order,
    so Mesa ids and random draws follow that order); ``act(model, agents)`` runs the kind's week
    (an AgentSet of its members, in creation order); ``week_order`` places it among the kinds that
    act (lower first); ``frame`` says whether the agent frame records its members one by one, and
    ``colour`` is its colour in charts. ``upkeep(model, agents)`` pays the kind's running costs
    at the week's settlement (in week order). ``pooled`` kinds are rows of one vectorised pool
    (stepped together, not looked up one by one); kinds that do not ``hold_cards`` own no fleet.
    ``build_order`` orders construction and ``frame_order`` the kinds in the agent frame (lower
    first; ties keep registration order, which import sorting may change, so give both).
    ``settings`` are the defaults of the kind's own scenario section ``[<name>]`` (a scenario or
    an override ``<name>.<key>`` may change them; the model reads ``model.cfg.<name>.<key>``).
    ``report(model, agents)`` returns the kind's weekly series by name (the recorder adds them to
    the week's values) and ``events(model, agents)`` its chart events ``(date, label, category)``."""

    name: str
    cls: type
    build: Callable[[Any], Sequence]
    act: Callable[[Any, Any], None] | None = None
    upkeep: Callable[[Any, list], None] | None = None
    week_order: int = 100
    build_order: int = 100
    frame_order: int = 100
    frame: bool = True
    pooled: bool = False
    holds_cards: bool = True
    colour: str = "#7f7f7f"
    label: str = ""
    settings: dict[str, Any] | None = None
    report: Callable[[Any, list], dict[str, float]] | None = None
    events: Callable[[Any, list], list] | None = None


KINDS: dict[str, AgentKind] = {}


def register(kind: AgentKind) -> AgentKind:
    """Add a kind (a later registration of the same name replaces the earlier one)."""
    KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    KINDS.pop(name, None)


def kinds_in_frame_order() -> list[AgentKind]:
    return sorted(KINDS.values(), key=lambda k: k.frame_order)


def kinds_in_build_order() -> list[AgentKind]:
    return sorted(KINDS.values(), key=lambda k: k.build_order)


def kinds_in_week_order() -> list[AgentKind]:
    """Kinds that act each week, in the order they act (ties keep registration order)."""
    return sorted((k for k in KINDS.values() if k.act is not None), key=lambda k: k.week_order)


def each(method: str) -> Callable[[Any, list], None]:
    """An upkeep that calls `method` on every member, in order."""

    def upkeep(model, agents) -> None:
        for agent in agents:
            getattr(agent, method)()

    upkeep.__name__ = f"each_{method}"
    return upkeep


def in_turn(model, agents) -> None:
    """Members act one after another, in the order they were created."""
    agents.do("step")


def shuffled(model, agents) -> None:
    """Members act in a fresh random order each week (Mesa's ``shuffle_do``)."""
    agents.shuffle_do("step")
