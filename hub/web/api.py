"""The HTTP API: alarms for the guard, dead letters for maintenance, health and metrics; every route checks a role.

Collaborators come from `app.state` (set by `hub.app`), reached through `Annotated` dependency aliases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from alerts.duties import DutyPolicy, DutyType, duty_status
from alerts.model import AlarmState, Disposition
from alerts.paths import PathMonitor
from device_adapters.base import DeviceKind
from hub.config import DeviceConfig, HubConfig, Role
from hub.core.clock import Clock, from_iso, to_iso
from hub.core.feed import Feed
from hub.health.faults import ACTIVE, FaultAction, FaultKind, FaultState, sla_fraction
from hub.health.model import DeviceState, HealthTracker
from hub.metrics import HubMetrics
from hub.reports import Format, Group, PeriodError, etag_matches, resolve_period
from hub.store import Actor, AlarmView, InvalidStateError, NotFoundError, Store
from hub.store.health import HealthStore
from hub.store.reports import ReportStore, WindowError
from hub.web.auth import TokenBook, require
from hub.web.console import mount_console
from hub.web.errors import ApiError


class HealthSource(Protocol):
    """What /healthz asks about the running hub."""

    @property
    def mqtt_connected(self) -> bool: ...


@dataclass(frozen=True)
class ApiContext:
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
        statuses = duty_status(
            alarm["kind"], from_iso(alarm["raised_at"]), disposition, reports, self.duties, self.clock.now()
        )
        return {**alarm, "duties": [s.as_json() for s in statuses], "evidence": self.evidence_of(alarm["id"])}

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
AlarmReader = Annotated[Actor, Depends(require(Role.GUARD, Role.MAINTENANCE))]
GuardActor = Annotated[Actor, Depends(require(Role.GUARD))]
MaintenanceReader = Annotated[Actor, Depends(require(Role.MAINTENANCE))]
MetricsReader = Annotated[Actor, Depends(require(Role.MAINTENANCE, Role.BUREAU))]
HealthReader = Annotated[Actor, Depends(require(Role.GUARD, Role.MAINTENANCE, Role.BUREAU))]
MaintenanceActor = Annotated[Actor, Depends(require(Role.MAINTENANCE))]
AdminActor = Annotated[Actor, Depends(require(Role.ADMIN))]
ReportReader = Annotated[Actor, Depends(require(Role.BUREAU, Role.MAINTENANCE))]


REPORT_CLOCK_SKEW_S = 120


class FaultOpenRequest(BaseModel):
    """A fault registered by hand, e.g. an inspection finding."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=100, description="Device id (or another system part).")
    kind: FaultKind = Field(default=FaultKind.INSPECTION, description="What kind of failure.")
    summary: str = Field(min_length=1, max_length=2000, description="What was found.")


class FaultStepRequest(BaseModel):
    """One closed-loop step; `to` names the person when assigning."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=4000, description="What was done or found.")
    to: str | None = Field(default=None, min_length=1, max_length=200, description="Assignee (assign only).")


class NoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=4000, description="The note.")


class MaintenanceWindowRequest(BaseModel):
    """A planned maintenance window: shown in reports and, by `reports.exclude_maintenance`, left out of uptime."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=100, description="Device id, or '*' for the whole site.")
    starts_at: AwareDatetime = Field(description="Start, ISO 8601 with offset; not in the past.")
    ends_at: AwareDatetime = Field(description="End, ISO 8601 with offset; after starts_at.")
    reason: str = Field(min_length=1, max_length=2000, description="What the planned work is.")


class ReportRequest(BaseModel):
    """A follow-up report made for an alarm: who reported, to whom, when."""

    model_config = ConfigDict(extra="forbid")

    type: DutyType = Field(description="phone or written.")
    at: AwareDatetime | None = Field(default=None, description="When the report was made; now when absent.")
    by: str = Field(min_length=1, max_length=200, description="Who made the report.")
    note: str = Field(default="", max_length=4000, description="To whom, reference numbers, content.")


class CloseRequest(BaseModel):
    """Closing an alarm: a note is required; the disposition says what it was."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=2000, description="What happened and what was done.")
    disposition: Disposition | None = Field(default=None, description="real, drill, false_alarm or fault.")


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def create_api(context: ApiContext) -> FastAPI:
    """The FastAPI application of one hub."""
    app = FastAPI(title="campus-hub", version="0.1.0", docs_url="/api/docs", openapi_url="/api/openapi.json")
    app.state.context = context
    app.state.tokens = TokenBook(context.config.api.tokens)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return _error(exc.status, exc.code, exc.message, headers)

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return _error(404, f"{exc.what}_not_found", str(exc))

    @app.exception_handler(InvalidStateError)
    async def _conflict(request: Request, exc: InvalidStateError) -> JSONResponse:
        return _error(409, f"{exc.what}_state_conflict", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, "invalid_request", f"{where}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    # The browser console: pages, login/logout, the live feed (/api/v1/feed), daily report figures.
    mount_console(app, context)

    @app.get("/healthz")
    def healthz(ctx: ContextDep) -> JSONResponse:
        mqtt_ok = ctx.health.mqtt_connected
        store_ok = ctx.store.check_writable()
        ok = mqtt_ok and store_ok
        return JSONResponse(
            {"status": "ok" if ok else "degraded", "mqtt_connected": mqtt_ok, "store_writable": store_ok},
            status_code=200 if ok else 503,
        )

    @app.get("/api/v1/alarms")
    def list_alarms(
        ctx: ContextDep,
        store: StoreDep,
        actor: AlarmReader,
        state: Annotated[AlarmState | None, Query(description="open, acknowledged or closed")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> dict[str, Any]:
        return {"alarms": [ctx.present(a) for a in store.list_alarms(state, limit)]}

    def _alarm(alarm_id: str) -> dict[str, Any]:
        return context.present(context.store.get_alarm(alarm_id))

    @app.get("/api/v1/alarms/{alarm_id}")
    def get_alarm(alarm_id: str, actor: AlarmReader) -> dict[str, Any]:
        return _alarm(alarm_id)

    @app.post("/api/v1/alarms/{alarm_id}/reports", status_code=201)
    def add_report(alarm_id: str, body: ReportRequest, ctx: ContextDep, actor: GuardActor) -> dict[str, Any]:
        raised = from_iso(_alarm(alarm_id)["raised_at"])
        now = ctx.clock.now()
        at = body.at or now
        if (at - now).total_seconds() > REPORT_CLOCK_SKEW_S:
            raise ApiError(422, "report_in_future", "a report cannot be made in the future")
        if (raised - at).total_seconds() > REPORT_CLOCK_SKEW_S:
            raise ApiError(422, "report_before_alarm", "a report cannot precede its alarm")
        ctx.store.add_report(alarm_id, actor, body.type.value, at, body.by, body.note)
        alarm = _alarm(alarm_id)
        ctx.feed.publish("alarm_report", {"alarm_id": alarm_id, "type": body.type.value, "by": actor.name})
        return alarm

    @app.post("/api/v1/alarms/{alarm_id}/ack")
    def acknowledge(alarm_id: str, store: StoreDep, actor: GuardActor) -> dict[str, Any]:
        store.acknowledge(alarm_id, actor)
        context.feed.publish("alarm_acknowledged", {"alarm_id": alarm_id, "by": actor.name})
        return _alarm(alarm_id)

    @app.post("/api/v1/alarms/{alarm_id}/close")
    def close(alarm_id: str, body: CloseRequest, store: StoreDep, actor: GuardActor) -> dict[str, Any]:
        store.close(alarm_id, actor, body.note, body.disposition)
        context.wake_outbox()  # its restores go out now, not at the next poll
        context.feed.publish("alarm_closed", {"alarm_id": alarm_id, "by": actor.name})
        return _alarm(alarm_id)

    @app.get("/api/v1/devices")
    def devices(
        ctx: ContextDep,
        actor: HealthReader,
        kind: Annotated[DeviceKind | None, Query()] = None,
        building: Annotated[str | None, Query()] = None,
        state: Annotated[DeviceState | None, Query()] = None,
    ) -> dict[str, Any]:
        faults = ctx.health_store.list_faults(sorted(ACTIVE))
        out = [
            ctx.device_json(d, faults)
            for d in ctx.config.devices
            if (kind is None or d.kind is kind) and (building is None or d.location.building == building)
        ]
        return {"devices": [d for d in out if state is None or d["state"] == state.value]}

    @app.get("/api/v1/devices/{device_id}")
    def device(device_id: str, ctx: ContextDep, actor: HealthReader) -> dict[str, Any]:
        config = ctx.config.device(device_id)
        if config is None:
            raise ApiError(404, "device_not_found", f"no device {device_id}")
        body = ctx.device_json(config, ctx.health_store.list_faults(sorted(ACTIVE), subject=device_id))
        body["transitions"] = ctx.health_store.transitions(device_id)
        return body

    @app.get("/api/v1/faults")
    def faults(
        ctx: ContextDep,
        actor: HealthReader,
        state: Annotated[list[str] | None, Query(description="Fault states, or 'open' for the active ones.")] = None,
    ) -> dict[str, Any]:
        wanted: set[FaultState] = set()
        for value in state or []:
            if value == "open":
                wanted |= ACTIVE
                continue
            try:
                wanted.add(FaultState(value))
            except ValueError:
                raise ApiError(422, "invalid_request", f"state: unknown fault state {value!r}") from None
        return {"faults": [ctx.fault_json(f) for f in ctx.health_store.list_faults(sorted(wanted) or None)]}

    def _fault(fault_id: int) -> dict[str, Any]:
        fault = context.fault_json(context.health_store.get_fault(fault_id))
        # What the receiving centres were told about this fault (trouble and restore, per endpoint).
        return {**fault, "deliveries": context.store.trouble_deliveries(fault_id)}

    @app.get("/api/v1/faults/{fault_id}")
    def fault(fault_id: int, actor: HealthReader) -> dict[str, Any]:
        return _fault(fault_id)

    @app.post("/api/v1/faults", status_code=201)
    def open_fault(body: FaultOpenRequest, ctx: ContextDep, actor: MaintenanceActor) -> dict[str, Any]:
        fault_id = ctx.health_store.open_manual(body.subject, body.kind, body.summary, actor, ctx.clock.now())
        return _fault(fault_id)

    @app.post("/api/v1/faults/{fault_id}/notes", status_code=201)
    def fault_note(fault_id: int, body: NoteRequest, ctx: ContextDep, actor: MaintenanceActor) -> dict[str, Any]:
        ctx.health_store.add_note(fault_id, actor, ctx.clock.now(), body.note)
        return _fault(fault_id)

    @app.post("/api/v1/faults/{fault_id}/{step}")
    def fault_step(
        fault_id: int, step: str, body: FaultStepRequest, ctx: ContextDep, actor: MaintenanceActor
    ) -> dict[str, Any]:
        try:
            action = FaultAction(step.replace("-", "_"))
        except ValueError:
            raise ApiError(404, "not_found", f"no fault step {step!r}") from None
        if action is FaultAction.ASSIGN and not body.to:
            raise ApiError(422, "invalid_request", "to: assign needs the person's name")
        ctx.health_store.act(fault_id, action, actor, ctx.clock.now(), body.note, body.to)
        return _fault(fault_id)

    @app.get("/api/v1/forwarding")
    def forwarding(ctx: ContextDep, actor: AlarmReader) -> dict[str, Any]:
        config = ctx.config.forwarding
        return {
            "mode": config.mode,
            "paths": [p.as_json() for p in ctx.paths.snapshot()],
            "outbox_depth": ctx.store.outbox_depth(),
        }

    @app.get("/api/v1/dead-letters")
    def dead_letters(
        store: StoreDep, actor: MaintenanceReader, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> dict[str, Any]:
        return {"dead_letters": store.list_dead_letters(limit)}

    @app.get("/api/v1/audit")
    def audit(store: StoreDep, actor: AdminActor, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
        return {"audit": store.list_audit(limit)}

    reports = ReportStore(context.store, context.config)

    @app.get("/api/v1/reports/uptime", response_model=None)
    def uptime_report(
        request: Request,
        ctx: ContextDep,
        actor: ReportReader,
        from_: Annotated[
            AwareDatetime | None, Query(alias="from", description="ISO 8601 with offset; default: to - 30 days.")
        ] = None,
        to: Annotated[AwareDatetime | None, Query(description="ISO 8601 with offset; default: now.")] = None,
        group: Annotated[Group, Query(description="One row per device, kind, or the site.")] = "device",
        fmt: Annotated[Format, Query(alias="format", description="json or csv.")] = "json",
    ) -> Response:
        try:
            period = resolve_period(from_, to, ctx.clock.now())
        except PeriodError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from exc
        # The ETag needs only a few index look-ups, so a poll that finds nothing new builds nothing.
        etag = reports.etag(period, group, fmt)
        headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
        if etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        headers["ETag"], body = reports.report(period, group, fmt)
        if fmt == "json":
            return Response(body, media_type="application/json", headers=headers)
        span = f"{period.start:%Y%m%dT%H%MZ}-{period.end:%Y%m%dT%H%MZ}"
        headers["Content-Disposition"] = f'attachment; filename="uptime-{ctx.config.site.id}-{group}-{span}.csv"'
        return Response(body, media_type="text/csv; charset=utf-8", headers=headers)

    @app.post("/api/v1/maintenance-windows", status_code=201)
    def add_maintenance_window(
        body: MaintenanceWindowRequest, ctx: ContextDep, actor: MaintenanceActor
    ) -> dict[str, Any]:
        try:
            window = reports.add_window(body.subject, body.starts_at, body.ends_at, body.reason, actor, ctx.clock.now())
        except WindowError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from exc
        return window.as_json()

    @app.get("/api/v1/maintenance-windows")
    def maintenance_windows(
        actor: HealthReader,
        from_: Annotated[AwareDatetime | None, Query(alias="from", description="Windows ending after this.")] = None,
        to: Annotated[AwareDatetime | None, Query(description="Windows starting before this.")] = None,
    ) -> dict[str, Any]:
        return {"maintenance_windows": [w.as_json() for w in reports.list_windows(from_, to)]}

    @app.post("/api/v1/maintenance-windows/{window_id}/end")
    def end_maintenance_window(window_id: int, ctx: ContextDep, actor: MaintenanceActor) -> dict[str, Any]:
        """Cancel a window that has not started, or end a running one now; history is kept."""
        window = reports.end_window(window_id, actor, ctx.clock.now())
        ctx.feed.publish("maintenance_window_ended", {"window_id": window_id, "by": actor.name})
        return window.as_json()

    @app.get("/metrics")
    def metrics(ctx: ContextDep, actor: MetricsReader) -> Response:
        return Response(ctx.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app
