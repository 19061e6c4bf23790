"""The reminder of overdue incident reports: a timer that puts a `duty_overdue` notice on the live feed (and a
warning in the log) once for each phone or written report whose time has run out."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from alerts.duties import DutyPolicy, DutyType, duty_status
from alerts.model import Disposition
from hub.core.clock import Clock, from_iso, to_iso
from hub.core.feed import Feed
from hub.core.periodic import Periodic, TimerDriven
from hub.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reminder:
    alarm_id: str
    duty: DutyType
    due_at: datetime


# One row of Store.duty_candidates: alarm id, kind, raised_at, disposition, [(report type, at)].
Candidate = tuple[str, str, str, str | None, list[tuple[str, str]]]


def due_reminders(
    candidates: Iterable[Candidate], policy: DutyPolicy, now: datetime, announced: set[tuple[str, str]]
) -> list[Reminder]:
    """Duties overdue at `now` that have not been announced yet (one reminder per alarm and duty)."""
    out = []
    for alarm_id, kind, raised_at, disposition, reports in candidates:
        for status in duty_status(
            kind,
            from_iso(raised_at),
            Disposition(disposition) if disposition else None,
            [(DutyType(t), from_iso(a)) for t, a in reports],
            policy,
            now,
        ):
            if status.overdue and (alarm_id, status.type.value) not in announced:
                out.append(Reminder(alarm_id, status.type, status.due_at))
    return out


class DutyReminder(TimerDriven):
    """Every `interval_s`, puts a `duty_overdue` notice on the feed for each report duty that has just run out."""

    def __init__(self, store: Store, policy: DutyPolicy, clock: Clock, feed: Feed, *, interval_s: float = 15.0) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._feed = feed
        self._announced: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._timer = Periodic(
            "duty-reminder", self.run_once, lambda: interval_s, on_exit=store.close_thread_connection
        )

    def run_once(self) -> list[Reminder]:
        """One check at the clock's now (tests call it directly); returns what it announced."""
        with self._lock:  # the timer and a direct call must not both announce the same duty
            candidates = self._store.duty_candidates(sorted(self._policy.kinds))
            # Alarms that are no longer candidates (closed and done) need no memory.
            live = {c[0] for c in candidates}
            self._announced = {a for a in self._announced if a[0] in live}
            due = due_reminders(candidates, self._policy, self._clock.now(), self._announced)
            self._announced |= {(r.alarm_id, r.duty.value) for r in due}
        for reminder in due:
            log.warning(
                "alarm %s: the %s report was due at %s", reminder.alarm_id, reminder.duty.value, reminder.due_at
            )
            self._feed.publish(
                "duty_overdue",
                {"alarm_id": reminder.alarm_id, "type": reminder.duty.value, "due_at": to_iso(reminder.due_at)},
            )
        return due
