"""Live maintenance state: while a planned window covers a device, the device is `maintenance`; when it ends,
the device's own state returns.

Pure decisions (`covering`, `maintenance_plan`) and a thin timer (`MaintenanceScheduler`). The changes are stored
like every other transition. Planned work opens no new fault and faults already open keep their clock
(`faults_for_change` does nothing while `maintenance` is set); when the window ends, whatever is still wrong opens
its fault then, and whatever was put right recovers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from hub.core.clock import Clock
from hub.core.periodic import Periodic, TimerDriven
from hub.health.model import DeviceHealth, HealthPlan, HealthTracker, Transition, Trouble, derive_state
from hub.health.updater import HealthUpdater
from hub.reports.model import SITE_WIDE, MaintenanceWindow
from hub.store import Store
from hub.store.health import FaultEvent, HealthStore
from hub.store.reports import read_windows

log = logging.getLogger(__name__)

Announce = Callable[[Sequence[Transition], Sequence[FaultEvent]], None]


def covering(windows: Iterable[MaintenanceWindow], device_ids: Iterable[str], now: datetime) -> dict[str, int]:
    """Device id -> id of a window running at `now` that covers it ('*' covers every device)."""
    running = [w for w in windows if w.cancelled_at is None and w.starts_at <= now < w.ends_at]
    site = next((w.id for w in running if w.subject == SITE_WIDE), None)
    own = {w.subject: w.id for w in running if w.subject != SITE_WIDE}
    out: dict[str, int] = {}
    for device_id in device_ids:
        window = own.get(device_id, site)
        if window is not None:
            out[device_id] = window
    return out


def maintenance_plan(healths: Iterable[DeviceHealth], covered: Mapping[str, int], now: datetime) -> HealthPlan:
    """Set `maintenance` on covered devices and clear it on the rest, with a transition for each state change.

    A window's end is planned against a `before` that differs from the device in every respect, so the fault
    rules open a fault for each problem still present (offline, each trouble) and recover the others; opening
    is a no-op where a fault is already open, recovering one where none is.
    """
    updates: list[tuple[DeviceHealth, DeviceHealth]] = []
    transitions: list[Transition] = []
    for health in healths:
        window = covered.get(health.device_id)
        wanted = window is not None
        if health.maintenance == wanted:
            continue
        state = derive_state(health.online, health.troubles, wanted)
        after = replace(health, maintenance=wanted, state=state, since=now if state != health.state else health.since)
        basis = health
        if not wanted:
            # Silence during planned work is excused: a device still silent when the work ends is due from now.
            after = replace(after, silent_since=None)
            basis = replace(
                health,
                maintenance=False,
                online=None if health.online is None else not health.online,
                troubles=frozenset(Trouble) - health.troubles,
            )
        updates.append((basis, after))
        if after.state != health.state:
            reason = f"maintenance window {window} started" if wanted else "maintenance window ended"
            transitions.append(Transition(health.device_id, health.state, after.state, now, reason))
    return HealthPlan(updates, transitions)


class MaintenanceScheduler(TimerDriven):
    """Puts devices into and out of the maintenance state as planned windows start, end or are ended early."""

    # The first check runs in the caller's thread, so the state is right once the hub has started.
    tick_on_start = True

    def __init__(
        self,
        tracker: HealthTracker,
        health_store: HealthStore,
        store: Store,
        clock: Clock,
        *,
        interval_s: float,
        announce: Announce = lambda transitions, faults: None,
    ) -> None:
        self._updater = HealthUpdater(tracker, health_store, store)
        self._store = store
        self._clock = clock
        self._announce = announce
        self._timer = Periodic(
            "maintenance-state",
            self.run_once,
            lambda: interval_s,
            on_exit=store.close_thread_connection,
        )

    def run_once(self) -> list[Transition]:
        """One reconciliation at the clock's now (tests call this directly with a ManualClock)."""
        now = self._clock.now()
        windows = read_windows(self._store.connection(), now, now + timedelta(microseconds=1))

        def plan(tracker: HealthTracker) -> HealthPlan:
            healths = tracker.all()
            return maintenance_plan(healths, covering(windows, [h.device_id for h in healths], now), now)

        result = self._updater.update(plan, now)
        if result is None:
            return []
        for t in result.transitions:
            log.info("device %s is %s: %s", t.device_id, t.to_state.value, t.reason)
        self._announce(result.transitions, result.faults)
        return result.transitions
