"""The health protocol, written once: under the tracker's lock, plan a change, save it, then apply it to memory.

Every health change goes this way: an ingest batch (saved inside the batch's own transaction, `planning`), the
passing of time (`HealthWatcher`) and a maintenance window starting or ending (`MaintenanceScheduler`, both
`update`). The lock is held from plan to apply so no one plans from a state about to change, and memory is
updated only once the save has committed, so it never runs ahead of the database.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from hub.health.model import HealthPlan, HealthTracker, Transition
from hub.store import Store
from hub.store.health import FaultEvent, HealthStore

Plan = Callable[[HealthTracker], HealthPlan]


@dataclass(frozen=True, slots=True)
class HealthResult:
    """What an applied plan did: the state transitions and the faults opened, recurred or recovered."""

    transitions: list[Transition]
    faults: list[FaultEvent]


class PendingPlan:
    """A plan made under the lock, to be saved in the caller's transaction (`save`) and applied after it."""

    def __init__(self, plan: HealthPlan, health_store: HealthStore) -> None:
        self.plan = plan
        self._health = health_store
        self._faults: list[FaultEvent] = []

    def save(self, conn: sqlite3.Connection, now: datetime) -> None:
        """Write the plan and the faults it implies on `conn`; a plan that changes nothing writes nothing."""
        if self.plan.updates:
            self._faults = self._health.save(conn, self.plan, now)

    def result(self) -> HealthResult:
        return HealthResult(self.plan.transitions, self._faults)


class HealthUpdater:
    """Makes health changes for one tracker and its store; see the module docstring for the protocol."""

    def __init__(self, tracker: HealthTracker, health_store: HealthStore, store: Store) -> None:
        self.tracker = tracker
        self.health_store = health_store
        self._store = store

    @contextmanager
    def planning(self, plan: Plan) -> Iterator[PendingPlan]:
        """Lock and plan; the caller saves the plan in its own transaction inside the block. The plan is applied
        when the block ends cleanly (the transaction committed); an exception leaves memory as it was."""
        with self.tracker.lock:
            pending = PendingPlan(plan(self.tracker), self.health_store)
            yield pending
            self.tracker.apply(pending.plan)

    def update(self, plan: Plan, now: datetime) -> HealthResult | None:
        """The whole protocol in a write transaction of its own; None (and no transaction) when the plan changes
        nothing."""
        with self.planning(plan) as pending:
            if not pending.plan.updates:
                return None
            with self._store.write() as conn:
                pending.save(conn, now)
        return pending.result()
