"""Alarm routes for the guard: list and read alarms, acknowledge, close with a note, and record the follow-up
reports (phone, written) that the education rules ask for; each change goes on the live feed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from alerts.duties import DutyType
from alerts.model import AlarmState, Disposition
from hub.core.clock import from_iso
from hub.web.context import AlarmReader, ApiContext, ContextDep, GuardActor, StoreDep
from hub.web.errors import ApiError

# How far a report's time may lie after now or before its alarm: the guard's watch and the hub's clock differ a little.
REPORT_CLOCK_SKEW_S = 120


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


router = APIRouter()


def _alarm(ctx: ApiContext, alarm_id: str) -> dict[str, Any]:
    return ctx.present(ctx.store.get_alarm(alarm_id))


@router.get("/api/v1/alarms")
def list_alarms(
    ctx: ContextDep,
    store: StoreDep,
    actor: AlarmReader,
    state: Annotated[AlarmState | None, Query(description="open, acknowledged or closed")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    return {"alarms": [ctx.present(a) for a in store.list_alarms(state, limit)]}


@router.get("/api/v1/alarms/{alarm_id}")
def get_alarm(alarm_id: str, ctx: ContextDep, actor: AlarmReader) -> dict[str, Any]:
    return _alarm(ctx, alarm_id)


@router.post("/api/v1/alarms/{alarm_id}/reports", status_code=201)
def add_report(alarm_id: str, body: ReportRequest, ctx: ContextDep, actor: GuardActor) -> dict[str, Any]:
    raised = from_iso(_alarm(ctx, alarm_id)["raised_at"])
    now = ctx.clock.now()
    at = body.at or now
    if (at - now).total_seconds() > REPORT_CLOCK_SKEW_S:
        raise ApiError(422, "report_in_future", "a report cannot be made in the future")
    if (raised - at).total_seconds() > REPORT_CLOCK_SKEW_S:
        raise ApiError(422, "report_before_alarm", "a report cannot precede its alarm")
    ctx.store.add_report(alarm_id, actor, body.type.value, at, body.by, body.note)
    alarm = _alarm(ctx, alarm_id)
    ctx.feed.publish("alarm_report", {"alarm_id": alarm_id, "type": body.type.value, "by": actor.name})
    return alarm


@router.post("/api/v1/alarms/{alarm_id}/ack")
def acknowledge(alarm_id: str, ctx: ContextDep, actor: GuardActor) -> dict[str, Any]:
    ctx.store.acknowledge(alarm_id, actor)
    ctx.feed.publish("alarm_acknowledged", {"alarm_id": alarm_id, "by": actor.name})
    return _alarm(ctx, alarm_id)


@router.post("/api/v1/alarms/{alarm_id}/close")
def close(alarm_id: str, body: CloseRequest, ctx: ContextDep, actor: GuardActor) -> dict[str, Any]:
    ctx.store.close(alarm_id, actor, body.note, body.disposition)
    ctx.wake_outbox()  # its restores go out now, not at the next poll
    ctx.feed.publish("alarm_closed", {"alarm_id": alarm_id, "by": actor.name})
    return _alarm(ctx, alarm_id)
