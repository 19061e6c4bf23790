"""Health of each forwarding path (endpoint): up, degraded or down, from the outcome of every attempt and link test.

The 110 link is part of the technical security system: the guard must see at a glance whether alarms can
currently leave the campus, and since when they cannot.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from hub.core.clock import Clock, to_iso


class PathStatus(StrEnum):
    UNKNOWN = "unknown"  # nothing sent yet since start
    UP = "up"
    DEGRADED = "degraded"  # failing, not yet long enough to call it down
    DOWN = "down"


def path_status(consecutive_failures: int, ever_succeeded: bool, down_after: int) -> PathStatus:
    """Status from the run of failures since the last success."""
    if consecutive_failures == 0:
        return PathStatus.UP if ever_succeeded else PathStatus.UNKNOWN
    return PathStatus.DOWN if consecutive_failures >= down_after else PathStatus.DEGRADED


@dataclass(frozen=True, slots=True)
class PathHealth:
    endpoint: str
    kind: str
    status: PathStatus = PathStatus.UNKNOWN
    since: datetime | None = None
    last_success_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_error: str | None = None
    rtt_ms: float | None = None
    consecutive_failures: int = 0
    total_failures: int = 0

    def as_json(self) -> dict[str, object]:
        def iso(value: datetime | None) -> str | None:
            return to_iso(value) if value else None

        return {
            "endpoint": self.endpoint,
            "kind": self.kind,
            "status": self.status.value,
            "since": iso(self.since),
            "last_success_at": iso(self.last_success_at),
            "last_failure_at": iso(self.last_failure_at),
            "last_error": self.last_error,
            "rtt_ms": None if self.rtt_ms is None else round(self.rtt_ms, 2),
            "consecutive_failures": self.consecutive_failures,
            "total_failures": self.total_failures,
        }


class PathMonitor:
    """Thread-safe record of every path's health; fed by the outbox workers (and link tests)."""

    def __init__(self, endpoints: dict[str, str], clock: Clock, down_after: int) -> None:
        self._clock = clock
        self._down_after = down_after
        self._lock = threading.Lock()
        self._paths = {name: PathHealth(name, kind, since=clock.now()) for name, kind in endpoints.items()}

    def success(self, endpoint: str, rtt_s: float) -> None:
        now = self._clock.now()
        with self._lock:
            old = self._paths[endpoint]
            self._paths[endpoint] = self._moved(
                replace(old, last_success_at=now, rtt_ms=rtt_s * 1000.0, consecutive_failures=0), old, now
            )

    def failure(self, endpoint: str, error: str) -> None:
        now = self._clock.now()
        with self._lock:
            old = self._paths[endpoint]
            new = replace(
                old,
                last_failure_at=now,
                last_error=error[:300],
                consecutive_failures=old.consecutive_failures + 1,
                total_failures=old.total_failures + 1,
            )
            self._paths[endpoint] = self._moved(new, old, now)

    def _moved(self, new: PathHealth, old: PathHealth, now: datetime) -> PathHealth:
        status = path_status(new.consecutive_failures, new.last_success_at is not None, self._down_after)
        return replace(new, status=status, since=now if status != old.status else old.since)

    def snapshot(self) -> list[PathHealth]:
        with self._lock:
            return list(self._paths.values())
