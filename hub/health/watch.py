"""The health watcher: a thin timer around the pure decisions. Silent devices go offline (3 missed heartbeats,
checked by the clock, not only when a message arrives) and open faults are warned about, then escalated at
their deadline. Each tick also repairs the health bookkeeping of ingest batches whose health save failed."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from hub.core.clock import Clock, to_iso
from hub.core.periodic import Periodic, TimerDriven
from hub.health.faults import FaultKind, sla_fraction, still_failing, warnings_due
from hub.health.model import HealthTracker, Transition
from hub.health.updater import HealthUpdater
from hub.store import Store
from hub.store.health import FaultEvent, HealthStore

log = logging.getLogger(__name__)

Escalate = Callable[[dict[str, Any]], None]
# Why a fault of a kind device health does not show (a recordings shortfall) still holds, or None.
StillFailing = Callable[[str, FaultKind], str | None]
Notify = Callable[[str, dict[str, Any]], object]


class HealthWatcher(TimerDriven):
    def __init__(
        self,
        tracker: HealthTracker,
        health_store: HealthStore,
        store: Store,
        clock: Clock,
        *,
        warn_at: Sequence[float],
        interval_s: float,
        escalate: Escalate,
        notify: Notify = lambda kind, data: None,
        updater: HealthUpdater | None = None,
        still_failing_other: StillFailing = lambda subject, kind: None,
    ) -> None:
        # The pipeline's updater when given, so the events it kept for repair are seen here.
        self._updater = updater or HealthUpdater(tracker, health_store, store)
        self._store = store
        self._tracker = tracker
        self._still_failing_other = still_failing_other
        self._health = health_store
        self._clock = clock
        self._warn_at = list(warn_at)
        self._escalate = escalate
        self._notify = notify
        self._timer = Periodic("health-watch", self.run_once, lambda: interval_s, on_exit=store.close_thread_connection)

    def run_once(self) -> list[FaultEvent]:
        """One check at the clock's now (tests call this directly with a ManualClock)."""
        now = self._clock.now()
        events = self.repair(now)
        events += self.check_devices(now)
        self.recheck_overrides(now)
        self.check_deadlines(now)
        return events

    def recheck_overrides(self, now: datetime) -> list[int]:
        """Reopen faults a person marked recovered over the device's word while the device still says it fails;
        their clock never stopped (opened and due stay), so a breach is still a breach. Returns the reopened ids."""
        reopened = []
        for fault_id, subject, kind in self._health.overridden_recoveries():
            why = still_failing(kind, self._tracker.get(subject)) or self._still_failing_other(subject, kind)
            if why is not None and self._health.reopen_overridden(fault_id, now, why):
                log.warning("fault %d (%s on %s) reopened: marked recovered, but %s", fault_id, kind, subject, why)
                self._notify(
                    "fault", {"fault_id": fault_id, "subject": subject, "kind": kind.value, "what": "reopened"}
                )
                reopened.append(fault_id)
        return reopened

    def repair(self, now: datetime) -> list[FaultEvent]:
        """Save again the health changes of events whose save failed inside their ingest batch."""
        result = self._updater.repair(now)
        if result is None:
            return []
        announce_health(self._notify, result.transitions, result.faults)
        return result.faults

    def check_devices(self, now: datetime) -> list[FaultEvent]:
        if self._store.degraded is not None:
            # Telemetry is shed while the store cannot write, so silence now is not the devices'; the store guard
            # marks the span as the hub's absence when it recovers.
            return []
        result = self._updater.update(lambda tracker: tracker.plan_time(now), now)
        if result is None:
            return []
        for transition in result.transitions:
            log.warning("device %s is %s: %s", transition.device_id, transition.to_state.value, transition.reason)
        announce_health(self._notify, result.transitions, result.faults)
        return result.faults

    def check_deadlines(self, now: datetime) -> None:
        for fault_id, subject, kind, opened_at, due_at, warned, breached_at in self._health.active_faults():
            fraction = sla_fraction(opened_at, due_at, now)
            crossed = warnings_due(fraction, warned, self._warn_at)
            breach = now >= due_at and breached_at is None
            if not crossed and not breach:
                continue
            left_h = (due_at - now).total_seconds() / 3600
            if breach:
                note = f"recovery deadline {to_iso(due_at)} passed"
            else:
                note = f"{max(crossed):.0%} of the recovery time used; {left_h:.1f} h left"
            self._health.record_sla(fault_id, now, max([*crossed, warned]), breach, note)
            level = "breach" if breach else "warning"
            log.warning("fault %d (%s on %s): SLA %s: %s", fault_id, kind, subject, level, note)
            if not breach:
                self._notify(
                    "sla_warning",
                    {"fault_id": fault_id, "subject": subject, "kind": kind, "due_at": to_iso(due_at), "note": note},
                )
            else:
                self._escalate(
                    {
                        "type": "sla_breach",
                        "fault_id": fault_id,
                        "subject": subject,
                        "kind": kind,
                        "opened_at": to_iso(opened_at),
                        "due_at": to_iso(due_at),
                        "at": to_iso(now),
                    }
                )


def announce_health(notify: Notify, transitions: Sequence[Transition], faults: Sequence[FaultEvent]) -> None:
    """Tell the live feed about device state changes and automatic fault events."""
    for t in transitions:
        notify(
            "device_state",
            {"device_id": t.device_id, "from": t.from_state.value, "to": t.to_state.value, "reason": t.reason},
        )
    for f in faults:
        notify("fault", {"fault_id": f.fault_id, "subject": f.subject, "kind": f.kind.value, "what": f.what})


def escalation_payload(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))
