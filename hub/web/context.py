"""What every route of the HTTP API reaches: the hub's collaborators (`ApiContext`, which `create_api` puts on
`app.state`) and the `Annotated` dependency aliases that hand a route its context, its store, or the acting person
once the role is checked.

Routes and the console import from here and this module imports none of them, so nothing in hub.web imports back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request

from alerts.duties import DutyPolicy, DutyType, duty_status
from alerts.model import Disposition
from alerts.paths import PathMonitor
from alerts.testmode import TestMode
from alerts.zones import ZoneBoard
from hub.config import DeviceConfig, HubConfig, Role
from hub.core.clock import Clock, from_iso, to_iso
from hub.core.feed import Feed
from hub.core.worker import Workers
from hub.health.faults import ACTIVE, FaultState, sla_fraction
from hub.health.model import HealthTracker
from hub.metrics import HubMetrics
from hub.store import Actor, AlarmView, Store
from hub.store.health import HealthStore
from hub.web.auth import require
from hub.web.links import LinkSigner


class HealthSource(Protocol):
    """What /healthz asks about the running hub."""

    @property
    def mqtt_connected(self) -> bool: ...


@dataclass(frozen=True)
class ApiContext:
    """The hub's parts the routes use, and how they show devices, faults and alarms as JSON."""

    config: HubConfig
    store: Store
    metrics: HubMetrics
    health: HealthSource
    clock: Clock
    duties: DutyPolicy
    paths: PathMonitor
    tracker: HealthTracker
    health_store: HealthStore
    feed: Feed
    wake_outbox: Callable[[], None] = lambda: None
    # Camera id -> how far back its recordings reach (hub.recordings), or None when not known.
    camera_retention: Callable[[str], dict[str, Any] | None] = lambda _id: None
    # Alarm id -> its evidence snapshots, [{camera_id, captured_at, url}] (video.store).
    evidence_of: Callable[[str], list[dict[str, Any]]] = lambda _id: []
    # The hub's background workers, whose health /healthz reports.
    workers: Workers = field(default_factory=Workers)
    # Checks the signed evidence links sent to receiving centres (None: api.public_url unset, no links sent).
    link_signer: LinkSigner | None = None
    # Arming zones (alerts.zones); None in tests that build a context without them.
    zones: ZoneBoard | None = None
    # Test mode and drills (None: routes answer 503 test_mode_unavailable).
    test_mode: TestMode | None = None
    # Blocks while an alarm is on its way (hub.core.priority): the API is the last thing that must run then.
    yield_to_alarms: Callable[[], None] = lambda: None

    def device_json(self, device: DeviceConfig, faults: list[dict[str, Any]]) -> dict[str, Any]:
        health = self.tracker.get(device.id)
        return {
            "id": device.id,
            "kind": device.kind.value,
            "name": device.name,
            "location": device.location.model_dump(),
            "heartbeat_s": device.heartbeat_s,
            "state": health.state.value if health else "unknown",
            "since": to_iso(health.since) if health else None,
            "last_seen_at": to_iso(health.last_seen_at) if health and health.last_seen_at else None,
            "offline_reason": health.offline_reason if health else None,
            "battery_pct": health.battery_pct if health else None,
            "troubles": sorted(health.troubles) if health else [],
            "open_faults": [self.fault_json(f) for f in faults if f["subject"] == device.id],
        }

    def fault_json(self, fault: dict[str, Any]) -> dict[str, Any]:
        now = self.clock.now()
        opened, due = from_iso(fault["opened_at"]), from_iso(fault["due_at"])
        running = FaultState(fault["state"]) in ACTIVE
        until = now if running else from_iso(fault["recovered_at"] or fault["closed_at"] or fault["opened_at"])
        return {
            **{k: v for k, v in fault.items() if k not in ("resume_state", "warned_fraction")},
            "time_left_s": round((due - now).total_seconds(), 1) if running else None,
            "sla_used": round(sla_fraction(opened, due, until), 4),
            "breached": fault["breached_at"] is not None or until > due,
        }

    def present(self, alarm: AlarmView) -> dict[str, Any]:
        """An alarm as the API shows it: the stored record plus its report duties as of now."""
        disposition = Disposition(alarm["disposition"]) if alarm["disposition"] else None
        reports = [(DutyType(r["type"]), from_iso(r["at"])) for r in alarm["reports"]]
        # A test press owes no report: it was never an alarm (until the guard says it is real).
        statuses = (
            []
            if alarm["test"]
            else duty_status(
                alarm["kind"], from_iso(alarm["raised_at"]), disposition, reports, self.duties, self.clock.now()
            )
        )
        return {
            **alarm,
            "duties": [s.as_json() for s in statuses],
            "evidence": self.evidence_of(alarm["id"]),
            "replays": self.store.replays(alarm_id=alarm["id"], limit=50),  # the broker's copies that raised nothing
        }

    def overdue_duties(self) -> dict[str, int]:
        """How many reports of each type are past due now (for /metrics)."""
        now = self.clock.now()
        counts = {t.value: 0 for t in DutyType}
        for _, kind, raised_at, disposition, reports in self.store.duty_candidates(sorted(self.duties.kinds)):
            for status in duty_status(
                kind,
                from_iso(raised_at),
                Disposition(disposition) if disposition else None,
                [(DutyType(t), from_iso(a)) for t, a in reports],
                self.duties,
                now,
            ):
                counts[status.type.value] += status.overdue
        return counts


def _context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.context
    return context


ContextDep = Annotated[ApiContext, Depends(_context)]


def _store(request: Request) -> Store:
    return _context(request).store


StoreDep = Annotated[Store, Depends(_store)]

# Who may do what: each alias answers 401/403 before the route runs (admin passes every check).
AlarmReader = Annotated[Actor, Depends(require(Role.GUARD, Role.MAINTENANCE))]
GuardActor = Annotated[Actor, Depends(require(Role.GUARD))]
ZoneReader = Annotated[Actor, Depends(require(Role.GUARD, Role.MAINTENANCE))]
MaintenanceReader = Annotated[Actor, Depends(require(Role.MAINTENANCE))]
MetricsReader = Annotated[Actor, Depends(require(Role.MAINTENANCE, Role.BUREAU))]
HealthReader = Annotated[Actor, Depends(require(Role.GUARD, Role.MAINTENANCE, Role.BUREAU))]
MaintenanceActor = Annotated[Actor, Depends(require(Role.MAINTENANCE))]
AdminActor = Annotated[Actor, Depends(require(Role.ADMIN))]
ReportReader = Annotated[Actor, Depends(require(Role.BUREAU, Role.MAINTENANCE))]
# Everyone with a console page: the live feed and "who am I" (the bureau's feed is filtered, see hub.web.stream).
FeedReader = Annotated[Actor, Depends(require(Role.GUARD, Role.MAINTENANCE, Role.BUREAU))]
