"""The store guard: keeps the reserve in place, and while the store cannot write frees room for alarms, holds the
`store_degraded` fault open on subject `hub` (so the receiving centres get a trouble) and probes for recovery.

The degraded state itself is set by whichever write hits the full disk (`Database.mark_degraded`); this worker
acts on it within a second and is the only one that clears it, once a probe write succeeds with room to spare.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from hub.core.clock import Clock
from hub.core.worker import Worker
from hub.health.faults import FaultChange, FaultKind
from hub.health.watch import announce_health
from hub.store import Store
from hub.store.db import StoreDegraded
from hub.store.faults import FaultEvent
from hub.store.space import StoreSpace

log = logging.getLogger(__name__)

HUB_SUBJECT = "hub"
HEALTHY_CHECK_S = 1.0  # how soon a degraded store is acted on (a flag read while healthy, nothing more)
SUMMARIES = {
    StoreDegraded.FULL: "the hub's store is full: only alarms are stored, telemetry is shed",
    StoreDegraded.IO_ERROR: "the hub's store reports I/O errors: only alarms are stored, telemetry is shed",
}

ApplyFaults = Callable[[Sequence[FaultChange], datetime], list[FaultEvent]]
Notify = Callable[[str, dict[str, Any]], object]


class StoreGuard:
    """One worker around `StoreSpace`: reserve, freeing, the fault, recovery."""

    def __init__(
        self,
        store: Store,
        space: StoreSpace,
        clock: Clock,
        *,
        interval_s: float,
        open_subjects: Callable[[], set[str]],
        apply_faults: ApplyFaults,
        notify: Notify,
        absent: Callable[[datetime, datetime], None] = lambda start, end: None,
    ) -> None:
        self._store = store
        self._space = space
        self._clock = clock
        self._interval_s = interval_s
        self._open_subjects = open_subjects
        self._apply_faults = apply_faults
        self._notify = notify
        self._absent = absent  # told the span the store was degraded: the devices' shed messages were not silence
        self._since: datetime | None = None
        self._fault_open: bool | None = None  # unknown until read from the store
        self.worker = Worker("store-guard", self._tick, on_thread_exit=store.close_thread_connection)

    def start(self) -> None:
        self._space.ensure_reserve()
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop()

    def _tick(self) -> float:
        self.check()
        return self._interval_s if self._store.degraded is not None else min(HEALTHY_CHECK_S, self._interval_s)

    def check(self) -> None:
        """One look at the store: act on a degraded one, or keep the reserve (tests call this directly)."""
        if self._fault_open is None:
            self._fault_open = HUB_SUBJECT in self._open_subjects()
        reason = self._store.degraded
        if reason is None:
            if self._fault_open:
                self._set_fault(False, "the store can write again")
            if not self._space.has_reserve():
                self._space.ensure_reserve()
            return
        if self._since is None:
            self._since = self._clock.now()
        self._space.free_for_alarms()
        if not self._fault_open:
            self._notify("store_degraded", {"reason": reason.value})
            self._set_fault(True, SUMMARIES[reason])
        if self._space.probe() and self._space.ensure_reserve():
            self._store.mark_writable()
            self._absent(self._since, self._clock.now())
            self._since = None
            self._notify("store_recovered", {"was": reason.value})
            self._set_fault(False, "the store can write again")

    def _set_fault(self, opening: bool, summary: str) -> None:
        """Open or recover the fault (its trouble or restore goes to the centres in the same transaction); tried
        again at the next check if the store cannot take even that."""
        try:
            events = self._apply_faults(
                [FaultChange(HUB_SUBJECT, FaultKind.STORE_DEGRADED, opening, summary)], self._clock.now()
            )
        except sqlite3.Error as exc:
            log.error("store guard: could not %s the store fault yet: %r", "open" if opening else "recover", exc)
            return
        self._fault_open = opening
        announce_health(self._notify, [], events)
