"""Incident routes: a guard records an incident with no device behind it (an injury, a fight, a missing pupil, a
trespasser) and its phone and written reports, each with the same duties and timeline as an alarm; the bureau
reads incidents and alarms without the people's names (`/api/v1/bureau/alarms` for the alarms)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from alerts.duties import DutyType, duty_status
from alerts.model import Disposition
from hub.config import Role
from hub.core.clock import from_iso
from hub.ledger.incidents import IncidentKind, incident_duties
from hub.ledger.store import LedgerStore
from hub.store import Actor
from hub.web.auth import require
from hub.web.context import ApiContext, ContextDep, GuardActor
from hub.web.errors import ApiError
from hub.web.routes.alarms import REPORT_CLOCK_SKEW_S, ReportRequest

IncidentReader = Annotated[Actor, Depends(require(Role.GUARD, Role.MAINTENANCE, Role.BUREAU))]
BureauReader = Annotated[Actor, Depends(require(Role.BUREAU))]

# What the bureau is not shown: the names of the people involved and of the staff who typed the records.
_PERSONAL = ("people", "recorded_by", "closed_by")


class IncidentRequest(BaseModel):
    """An incident as the guard records it."""

    model_config = ConfigDict(extra="forbid")

    kind: IncidentKind = Field(description="injury, fight, missing_pupil, trespasser or other.")
    place: str = Field(min_length=1, max_length=200, description="Where it happened.")
    occurred_at: AwareDatetime | None = Field(default=None, description="When it happened; now when absent.")
    summary: str = Field(min_length=1, max_length=4000, description="What happened and what was done.")
    people: str = Field(default="", max_length=2000, description="People involved (names, classes).")
    police_called: bool = Field(default=False, description="Whether 110 was called.")


class CloseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=2000, description="How it ended.")


def _timeline(incident: dict[str, Any], *, names: bool) -> list[dict[str, Any]]:
    """What happened to an incident, in time order (the guard's timeline, like an alarm's)."""
    entries: list[dict[str, Any]] = [
        {"at": incident["occurred_at"], "what": "occurred"},
        {"at": incident["recorded_at"], "what": "recorded", "by": incident["recorded_by"]},
    ]
    entries += [{"at": r["at"], "what": f"report_{r['type']}", "by": r["by"]} for r in incident["reports"]]
    if incident["closed_at"]:
        entries.append({"at": incident["closed_at"], "what": "closed", "by": incident["closed_by"]})
    if not names:
        for entry in entries:
            entry.pop("by", None)
    return sorted(entries, key=lambda e: str(e["at"]))


def present_incident(ctx: ApiContext, incident: dict[str, Any], *, names: bool) -> dict[str, Any]:
    reports = [(DutyType(r["type"]), from_iso(r["at"])) for r in incident["reports"]]
    duties = incident_duties(from_iso(incident["occurred_at"]), reports, ctx.duties, ctx.clock.now())
    view = {**incident, "duties": [d.as_json() for d in duties], "timeline": _timeline(incident, names=names)}
    if not names:
        for key in _PERSONAL:
            view.pop(key)
        view["reports"] = [{"type": r["type"], "at": r["at"]} for r in incident["reports"]]
    return view


def incidents_router(ledger: LedgerStore) -> APIRouter:
    router = APIRouter()

    def show(ctx: ApiContext, actor: Actor, incident: dict[str, Any]) -> dict[str, Any]:
        return present_incident(ctx, incident, names=actor.role != Role.BUREAU.value)

    @router.get("/api/v1/incidents")
    def list_incidents(
        ctx: ContextDep, actor: IncidentReader, limit: Annotated[int, Query(ge=1, le=1000)] = 200
    ) -> dict[str, Any]:
        return {"incidents": [show(ctx, actor, i) for i in ledger.list_incidents(limit=limit)]}

    @router.post("/api/v1/incidents", status_code=201)
    def record(body: IncidentRequest, ctx: ContextDep, actor: GuardActor) -> dict[str, Any]:
        now = ctx.clock.now()
        occurred = body.occurred_at or now
        if (occurred - now).total_seconds() > REPORT_CLOCK_SKEW_S:
            raise ApiError(422, "occurred_in_future", "an incident cannot have happened in the future")
        incident_id = ledger.record_incident(
            actor,
            now,
            kind=body.kind,
            place=body.place,
            occurred_at=occurred,
            summary=body.summary,
            people=body.people,
            police_called=body.police_called,
        )
        ctx.feed.publish("incident_recorded", {"incident_id": incident_id, "kind": body.kind.value})
        return show(ctx, actor, ledger.get_incident(incident_id))

    @router.get("/api/v1/incidents/{incident_id}")
    def get_incident(incident_id: int, ctx: ContextDep, actor: IncidentReader) -> dict[str, Any]:
        return show(ctx, actor, ledger.get_incident(incident_id))

    @router.post("/api/v1/incidents/{incident_id}/reports", status_code=201)
    def add_report(incident_id: int, body: ReportRequest, ctx: ContextDep, actor: GuardActor) -> dict[str, Any]:
        occurred = from_iso(ledger.get_incident(incident_id)["occurred_at"])
        now = ctx.clock.now()
        at = body.at or now
        if (at - now).total_seconds() > REPORT_CLOCK_SKEW_S:
            raise ApiError(422, "report_in_future", "a report cannot be made in the future")
        if (occurred - at).total_seconds() > REPORT_CLOCK_SKEW_S:
            raise ApiError(422, "report_before_incident", "a report cannot precede its incident")
        ledger.add_incident_report(incident_id, actor, now, body.type, at, body.by, body.note)
        ctx.feed.publish("incident_report", {"incident_id": incident_id, "type": body.type.value, "by": actor.name})
        return show(ctx, actor, ledger.get_incident(incident_id))

    @router.post("/api/v1/incidents/{incident_id}/close")
    def close(incident_id: int, body: CloseRequest, ctx: ContextDep, actor: GuardActor) -> dict[str, Any]:
        ledger.close_incident(incident_id, actor, ctx.clock.now(), body.note)
        ctx.feed.publish("incident_closed", {"incident_id": incident_id, "by": actor.name})
        return show(ctx, actor, ledger.get_incident(incident_id))

    @router.get("/api/v1/bureau/alarms")
    def bureau_alarms(
        ctx: ContextDep, actor: BureauReader, limit: Annotated[int, Query(ge=1, le=1000)] = 200
    ) -> dict[str, Any]:
        """Alarms as the bureau reads them: what, where, when, how it ended and the duties; no names."""
        now = ctx.clock.now()
        out = []
        for alarm in ctx.store.list_alarms(None, limit):
            if alarm.get("test"):
                continue  # a press on test was never an alarm (until the guard made it real)
            disposition = Disposition(alarm["disposition"]) if alarm["disposition"] else None
            reports = [(DutyType(r["type"]), from_iso(r["at"])) for r in alarm["reports"]]
            duties = duty_status(alarm["kind"], from_iso(alarm["raised_at"]), disposition, reports, ctx.duties, now)
            location = alarm["device"].get("location", {})
            out.append(
                {
                    "id": alarm["id"],
                    "kind": alarm["kind"],
                    "place": " · ".join(str(v) for v in location.values() if v),
                    "raised_at": alarm["raised_at"],
                    "state": alarm["state"],
                    "closed_at": alarm["closed_at"],
                    "disposition": alarm["disposition"],
                    "duties": [d.as_json() for d in duties],
                    "reports": [{"type": r["type"], "at": r["at"]} for r in alarm["reports"]],
                }
            )
        return {"alarms": out}

    return router
