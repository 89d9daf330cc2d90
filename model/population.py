"""The population: agents built from the scenario through the registry of kinds, and the
look-ups markets need (an agent by its id, by its ledger account; the owners of cards).

The model names no agent class: each kind says in ``agents/`` how it is built, when it acts and
what it pays to keep running; this module calls them in order.
"""

from __future__ import annotations

from typing import Any

import mesa
import numpy as np

from agents.registry import kinds_in_build_order, kinds_in_week_order
from model.mechanisms.vocabulary import WEEKS_PER_YEAR


class Population:
    """Every agent of the world, by kind, in the order it was built."""

    def __init__(self, model):
        self.model = model
        self.members: dict[str, list] = {}
        self.pools: dict[str, Any] = {}  # vectorised pools, by kind (fine-tuners)
        model.population = self  # builders may read kinds built before them
        for kind in kinds_in_build_order():
            built = kind.build(model)  # a pooled kind returns its pool's rows, not Mesa agents
            self.members[kind.name] = built if kind.pooled else list(built)
        kinds = kinds_in_build_order()
        #: firms that hold cards one by one (the pooled teams are one row each in a pool)
        self.owners = [a for k in kinds if k.holds_cards and not k.pooled for a in self.members[k.name]]
        self.owners.sort(key=lambda a: a.unique_id)  # creation order
        self.by_id = {a.unique_id: a for a in self.owners}
        self.by_account = {a.account: a for a in self.owners}
        self.owner_accounts = np.array([a.account for a in self.owners], dtype=np.int64)
        #: teams founded and closed this week, by kind (the week's entry and exit)
        self.founded: dict[str, int] = {}
        self.closed: dict[str, int] = {}

    def add(self, kind: str, agents: list) -> None:
        """Enrol agents built mid-run (Mesa registered them when they were made): members of
        their kind and owners looked up by id and ledger account. (A pooled kind's rows are its
        pool's: it grows them itself.)"""
        if not agents:
            return
        spec = next((k for k in kinds_in_build_order() if k.name == kind), None)
        if spec is not None and spec.pooled:
            return
        self.members.setdefault(kind, []).extend(agents)
        if spec is not None and not spec.holds_cards:
            return
        for a in agents:  # made after every owner already enrolled, so creation order holds
            self.owners.append(a)
            self.by_id[a.unique_id] = a
            self.by_account[a.account] = a
        self.owner_accounts = np.array([a.account for a in self.owners], dtype=np.int64)

    def count_founded(self, kind: str, n: int) -> None:
        self.founded[kind] = self.founded.get(kind, 0) + int(n)

    def count_closed(self, kind: str, n: int) -> None:
        self.closed[kind] = self.closed.get(kind, 0) + int(n)

    def of(self, kind: str) -> list:
        return self.members.get(kind, [])

    def size(self) -> int:
        """Agents of every kind: Mesa agents and the rows of pooled kinds."""
        return len(self.model.agents) + sum(len(p) for p in self.pools.values())

    # the kinds the markets trade with by name
    @property
    def clouds(self) -> list:
        return self.of("cloud")

    @property
    def resellers(self) -> list:
        return self.of("reseller")

    @property
    def creators(self) -> list:
        return self.of("creator")

    @property
    def brokers(self) -> list:
        return self.of("broker")

    @property
    def finetuners(self):
        """The fine-tuning teams' pool (their state and decision rule as arrays)."""
        return self.pools["finetuner"]

    @property
    def card_owners(self) -> list:
        """Firms that may buy or sell used cards, in the order they go to the market."""
        return self.clouds + self.creators

    # -- the week ----------------------------------------------------------------------------------
    def decide(self) -> None:
        """Every kind that acts, in week order (Mesa's sets of agents by type; a pooled kind's
        rows)."""
        self.founded, self.closed = {}, {}
        by_type = self.model.agents_by_type
        for kind in kinds_in_week_order():
            if kind.act is None:
                continue
            if kind.pooled:
                rows = self.members.get(kind.name)
                if rows:  # a world may have none of a kind (then none is founded either)
                    kind.act(self.model, rows)
            elif kind.cls in by_type:
                kind.act(self.model, by_type[kind.cls])

    def retire_aged_cards(self) -> None:
        life = int(round(self.model.cfg.supply.card_life_years * WEEKS_PER_YEAR))
        steps = self.model.steps
        for agent in self.owners:
            cohorts = agent.cohorts  # oldest first: only a fleet whose oldest cohort aged out retires
            if cohorts and steps - cohorts[0][0] >= life:
                agent.retire_aged(life)

    def pay_running_costs(self) -> None:
        for kind in kinds_in_week_order():
            if kind.upkeep is not None and self.members.get(kind.name):
                kind.upkeep(self.model, self.members[kind.name])


def release_model(model: mesa.Model) -> None:
    """Drop Mesa 3.3's per-model id counter so long-lived processes do not keep every model."""
    mesa.Agent._ids.pop(model, None)
