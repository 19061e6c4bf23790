"""The ledger's timer: a hazard's target day warns on the morning it begins and escalates once it has passed unfixed
(on the feed, the escalation topic and the webhook, like an equipment fault's SLA), and an incident's report duty
that runs out is announced once on the feed, like an alarm's."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date
from typing import Any

from alerts.duties import DutyPolicy, DutyType
from hub.config.site import SiteConfig
from hub.core.clock import Clock, from_iso, to_iso
from hub.core.feed import Feed
from hub.core.periodic import Periodic, TimerDriven
from hub.ledger.incidents import incident_duties
from hub.ledger.store import LedgerStore

log = logging.getLogger(__name__)


class LedgerWatcher(TimerDriven):
    """Every `interval_s`: hazard warnings and escalations (each once, marked in the store), overdue incident
    reports (each once per run of the hub, like `alerts.reminders`)."""

    def __init__(
        self,
        ledger: LedgerStore,
        site: SiteConfig,
        policy: DutyPolicy,
        clock: Clock,
        feed: Feed,
        escalate: Callable[[dict[str, Any]], None],
        *,
        interval_s: float = 60.0,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self._ledger = ledger
        self._site = site
        self._policy = policy
        self._clock = clock
        self._feed = feed
        self._escalate = escalate
        self._announced: set[tuple[int, str]] = set()
        self._lock = threading.Lock()
        self._timer = Periodic("ledger-watch", self.run_once, lambda: interval_s, on_exit=on_exit)

    def overdue_duties(self) -> dict[str, int]:
        """How many incident reports of each type are past due now (added to the alarms' in /metrics)."""
        now = self._clock.now()
        counts = {t.value: 0 for t in DutyType}
        for incident in self._ledger.open_incidents_owing():
            reports = [(DutyType(r["type"]), from_iso(r["at"])) for r in incident["reports"]]
            for duty in incident_duties(from_iso(incident["occurred_at"]), reports, self._policy, now):
                counts[duty.type.value] += duty.overdue
        return counts

    def run_once(self) -> dict[str, list[Any]]:
        """One check at the clock's now (tests call it directly); returns what it sent."""
        with self._lock:
            now = self._clock.now()
            sent: dict[str, list[Any]] = {"warned": [], "escalated": [], "duties": []}
            for hazard in self._ledger.unfixed_with_due():
                due = date.fromisoformat(hazard["due"])
                starts, ends = self._site.day_bounds(due)
                event = {
                    "hazard_id": hazard["id"],
                    "place": hazard["place"],
                    "category": hazard["category"],
                    "severity": hazard["severity"],
                    "responsible": hazard["responsible"],
                    "due": hazard["due"],
                }
                if now >= ends and hazard["escalated_at"] is None:
                    log.warning("hazard %s: not fixed by its target date %s", hazard["id"], hazard["due"])
                    self._escalate({"type": "hazard_overdue", **event, "at": to_iso(now)})
                    self._ledger.mark_hazard(hazard["id"], escalated=now)
                    sent["escalated"].append(hazard["id"])
                elif starts <= now < ends and hazard["warned_at"] is None:
                    self._feed.publish("hazard_due_today", event)
                    self._ledger.mark_hazard(hazard["id"], warned=now)
                    sent["warned"].append(hazard["id"])
            for incident in self._ledger.open_incidents_owing():
                reports = [(DutyType(r["type"]), from_iso(r["at"])) for r in incident["reports"]]
                for duty in incident_duties(from_iso(incident["occurred_at"]), reports, self._policy, now):
                    key = (incident["id"], duty.type.value)
                    if duty.overdue and key not in self._announced:
                        self._announced.add(key)
                        self._feed.publish(
                            "incident_duty_overdue",
                            {"incident_id": incident["id"], "type": duty.type.value, "due_at": to_iso(duty.due_at)},
                        )
                        sent["duties"].append(key)
            return sent
