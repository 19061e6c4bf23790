"""The health protocol, written once: under the tracker's lock, plan a change, save it, then apply it to memory.

Every health change goes this way: an ingest batch (saved inside the batch's own transaction, `planning`), the
passing of time (`HealthWatcher`) and a maintenance window starting or ending (`MaintenanceScheduler`, both
`update`). The lock is held from plan to apply so no one plans from a state about to change, and memory is
updated only once the save has committed, so it never runs ahead of the database.

A batch's health save may fail while its events and alarms still commit (it runs in a savepoint, so a failure
there never costs a press). That plan is then discarded, its events are kept for repair, and the next `repair`
(the health watcher's tick) plans and saves them again in a transaction of their own.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from device_adapters import DeviceEvent
from hub.health.model import HealthPlan, HealthTracker, Transition
from hub.store import Store
from hub.store.health import FaultEvent, HealthStore

log = logging.getLogger(__name__)

Plan = Callable[[HealthTracker], HealthPlan]
REPAIR_MAX = 10_000  # events kept for repair; past that the oldest go (a device's next message heals it anyway)


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
        self.discarded = False

    def discard(self) -> None:
        """The save failed and was rolled back: memory must not take this plan either."""
        self.discarded = True
        self._faults = []

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
        self._repair: deque[tuple[datetime, DeviceEvent]] = deque(maxlen=REPAIR_MAX)
        self._repair_lock = threading.Lock()

    @contextmanager
    def planning(self, plan: Plan) -> Iterator[PendingPlan]:
        """Lock and plan; the caller saves the plan in its own transaction inside the block. The plan is applied
        when the block ends cleanly (the transaction committed); an exception leaves memory as it was."""
        with self.tracker.lock:
            pending = PendingPlan(plan(self.tracker), self.health_store)
            yield pending
            if not pending.discarded:
                self.tracker.apply(pending.plan)

    def needs_repair(self, events: Iterable[tuple[datetime, DeviceEvent]]) -> None:
        """Keep events whose health save failed, for the next `repair`."""
        with self._repair_lock:
            self._repair.extend(events)

    @property
    def repair_pending(self) -> int:
        with self._repair_lock:
            return len(self._repair)

    def repair(self, now: datetime) -> HealthResult | None:
        """Plan and save the kept events again. An event older than what the tracker has since heard from its
        device is skipped: a later batch's save already moved that device on."""
        with self._repair_lock:
            events = list(self._repair)
            self._repair.clear()
        if not events:
            return None

        def fresh(tracker: HealthTracker) -> HealthPlan:
            kept = []
            for received_at, event in events:
                current = tracker.get(event.device_id)
                if current is None or current.last_seen_at is None or current.last_seen_at <= received_at:
                    kept.append((received_at, event))
            return tracker.plan_events(kept)

        try:
            result = self.update(fresh, now)
        except Exception:
            self.needs_repair(events)  # kept for the next try; the store's error is logged by the caller
            raise
        log.warning("health: repaired the bookkeeping of %d events whose save had failed", len(events))
        return result

    def update(self, plan: Plan, now: datetime) -> HealthResult | None:
        """The whole protocol in a write transaction of its own; None (and no transaction) when the plan changes
        nothing."""
        with self.planning(plan) as pending:
            if not pending.plan.updates:
                return None
            with self._store.write() as conn:
                pending.save(conn, now)
        return pending.result()
