"""The retained daily uptime summary for district brokers: its payload (`uptime_summary`, the previous day in the
site's zone) and the schedule that publishes it once per site-local day (`UptimePublisher`, publishing injected)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo
from typing import Any, Protocol

from hub.core.clock import Clock, to_iso
from hub.core.periodic import Periodic, TimerDriven

log = logging.getLogger(__name__)


def uptime_summary(report: Mapping[str, Any], generated_at: datetime, day: str | None = None) -> dict[str, Any]:
    """The retained summary for district brokers, from a site-grouped report: site-level figures, counts, shares.
    `day` is the site-local date the period is (the previous day), when it is one."""
    summary = report["summary"]
    return {
        "site": report["site"],
        "day": day,
        "period": report["period"],
        "uptime_pct": summary["uptime_pct"],
        "networked_pct": summary["networked_pct"],
        "downtime_min": summary["downtime_min"],
        "unmonitored_min": summary["unmonitored_min"],
        "devices": summary["devices"],
        "faults": summary["faults"],
        "sla_breaches": summary["sla_breaches"],
        "current_states": summary["current_states"],
        "four_items": _four_items(summary["four_items"]),
        "retention_compliance": summary["retention_compliance"],
        "exclude_maintenance": report["exclude_maintenance"],
        "generated_at": to_iso(generated_at),
    }


def _four_items(items: Mapping[str, Any]) -> dict[str, Any]:
    """The four items without the notes and the day-by-day list (the report has those)."""
    out = {k: v for k, v in items.items() if k != "days"}
    out["alarm_video"] = {k: v for k, v in items["alarm_video"].items() if k != "note"}
    return out


class Publish(Protocol):
    def __call__(self, topic: str, payload: str, retain: bool = True) -> bool: ...


class UptimePublisher(TimerDriven):
    """Publishes the retained daily summary at start and then once per site-local day (`zone`); a failed publish
    (no broker yet) is tried again every `retry_s`. `summary(now)` builds the payload (the previous day);
    `publish` sends it."""

    def __init__(
        self,
        summary: Callable[[datetime], Mapping[str, Any]],
        publish: Publish,
        topic: str,
        clock: Clock,
        zone: tzinfo,
        *,
        interval_s: float = 60.0,
        retry_s: float = 5.0,
        on_thread_exit: Callable[[], None] | None = None,
    ) -> None:
        self.topic = topic
        self._summary = summary
        self._publish = publish
        self._clock = clock
        self._zone = zone
        self._interval_s = interval_s
        self._retry_s = retry_s
        self._on_exit = on_thread_exit
        self._lock = threading.Lock()
        self._published_day: str | None = None
        # Announce at once; then check each interval, or sooner while a publish is still owed.
        self._timer = Periodic(
            "uptime-summary",
            lambda: self.run_once(self._clock.now()),
            lambda: self._interval_s if self.done(self._clock.now()) else self._retry_s,
            wait_first=False,
            on_exit=self._on_exit,
        )

    def done(self, now: datetime) -> bool:
        """Whether the summary of `now`'s site-local day (or a later one) has gone out."""
        return self._published_day is not None and self._day(now) <= self._published_day

    def run_once(self, now: datetime) -> bool:
        """Publish if this site-local day's summary has not gone out yet; True when it went out now."""
        day = self._day(now)
        with self._lock:  # the timer thread and a caller may tick together; one publish per day
            # ISO dates order as text; a tick whose clock reading predates a later publish must not go back a day.
            if self._published_day is not None and day <= self._published_day:
                return False
            payload = json.dumps(self._summary(now), ensure_ascii=False, separators=(",", ":"))
            if not self._publish(self.topic, payload, retain=True):
                log.warning("uptime summary could not be published on %s; trying again", self.topic)
                return False
            self._published_day = day
            return True

    def _day(self, now: datetime) -> str:
        return now.astimezone(self._zone).date().isoformat()
