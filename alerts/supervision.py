"""Supervision of the forwarding paths: link tests (DC-09 NULL frames; HTTP link_test POSTs or health GETs) and
DC-09 periodic test reports keep each path's state current between alarms, and a path down for too long opens a
fault on the path itself (it is part of the technical security system, under the same 24-hour rule as any device).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from alerts.forwarders import ForwardError
from alerts.paths import PathHealth, PathMonitor, PathStatus
from hub.core.clock import Clock
from hub.core.periodic import Periodic
from hub.health.faults import FaultChange, FaultKind

log = logging.getLogger(__name__)


class Supervised(Protocol):
    """A forwarder that can test its path without an alarm (DC-09's NULL frames, HTTP's link_test POSTs)."""

    name: str

    def link_test(self) -> float: ...


@runtime_checkable
class Reporting(Protocol):
    """A forwarder that also sends periodic test reports (DC-09)."""

    def test_report(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Schedule:
    link_test_s: float
    test_report_s: float | None = None  # None: no periodic test report (HTTP paths)


def path_subject(endpoint: str) -> str:
    """The fault subject of a forwarding path (devices use their own ids)."""
    return f"path:{endpoint}"


def path_fault_changes(
    paths: Sequence[PathHealth], open_subjects: set[str], now: datetime, fault_after_s: float
) -> list[FaultChange]:
    """Open a fault for each path down at least `fault_after_s`; recover those of paths that are up again."""
    changes = []
    for path in paths:
        subject = path_subject(path.endpoint)
        down_long = (
            path.status is PathStatus.DOWN
            and path.since is not None
            and now - path.since >= timedelta(seconds=fault_after_s)
        )
        if down_long and subject not in open_subjects:
            reason = f"path down since {path.since:%Y-%m-%d %H:%M:%S} UTC: {path.last_error or 'no answer'}"
            changes.append(FaultChange(subject, FaultKind.FORWARDING_PATH_DOWN, True, reason))
        elif path.status is PathStatus.UP and subject in open_subjects:
            changes.append(FaultChange(subject, FaultKind.FORWARDING_PATH_DOWN, False, "path answers again"))
    return changes


class Supervisor:
    """Runs link tests and test reports on schedule and turns long path outages into faults."""

    def __init__(
        self,
        supervised: Sequence[tuple[Supervised, Schedule]],
        paths: PathMonitor,
        clock: Clock,
        *,
        fault_after_s: float,
        open_path_faults: Callable[[], set[str]],
        apply_faults: Callable[[list[FaultChange], datetime], object],
    ) -> None:
        self._supervised = list(supervised)
        self._paths = paths
        self._clock = clock
        self._fault_after_s = fault_after_s
        self._open_path_faults = open_path_faults
        self._apply_faults = apply_faults
        start = clock.monotonic()
        # The first link test goes out at once, so a path's state is known before the first alarm needs it.
        self._next_link = {f.name: start for f, _ in self._supervised}
        self._next_report = {
            f.name: start + s.test_report_s
            for f, s in self._supervised
            if s.test_report_s is not None and isinstance(f, Reporting)
        }
        tick_s = 1.0 if self._supervised else 5.0
        self._timer = Periodic("supervision", self.run_once, lambda: tick_s)

    @property
    def worker(self) -> Periodic:
        return self._timer

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop(timeout=10)

    def run_once(self) -> None:
        now_s = self._clock.monotonic()
        for forwarder, schedule in self._supervised:
            if now_s >= self._next_link[forwarder.name]:
                self._next_link[forwarder.name] = now_s + schedule.link_test_s
                self._probe(forwarder, "link test", forwarder.link_test)
            report_at = self._next_report.get(forwarder.name)
            if report_at is not None and now_s >= report_at and isinstance(forwarder, Reporting):
                self._next_report[forwarder.name] = now_s + (schedule.test_report_s or 0)
                self._probe(forwarder, "test report", forwarder.test_report)
        now = self._clock.now()
        changes = path_fault_changes(self._paths.snapshot(), self._open_path_faults(), now, self._fault_after_s)
        if changes:
            self._apply_faults(changes, now)

    def _probe(self, forwarder: Supervised, what: str, probe: Callable[[], float]) -> None:
        try:
            rtt = probe()
        except ForwardError as exc:
            log.warning("%s on %s failed: %s", what, forwarder.name, exc)
            self._paths.failure(forwarder.name, f"{what}: {exc}")
            return
        self._paths.success(forwarder.name, rtt)
