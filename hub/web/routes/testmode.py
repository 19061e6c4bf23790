"""Test mode and drill routes: put devices, a building or the site on test (maintenance, admin), end it early, list
what is on test and the test/drill log (guard, maintenance, bureau, admin), plan a drill and write its summary, and
the guard's one action that turns a test press into a real alarm. Every change is audited naming the person and goes
on the live feed."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from alerts.testmode import TestMode, TestModeRefused
from hub.config import Role
from hub.store import Actor
from hub.web.auth import require
from hub.web.context import ApiContext, ContextDep, GuardActor, MaintenanceActor
from hub.web.errors import ApiError

# Who may read what is on test and the log: everyone with a console page (the bureau reads the log as a record).
TestLogReader = Annotated[Actor, Depends(require(Role.GUARD, Role.MAINTENANCE, Role.BUREAU))]
# The log's default period when `from` is not given.
DEFAULT_LOG_DAYS = 31


class TestModeRequest(BaseModel):
    """Devices, a building or the whole site on test until a required end."""

    __test__ = False
    model_config = ConfigDict(extra="forbid")

    devices: list[str] | None = Field(default=None, max_length=1000, description="Device ids on test.")
    building: str | None = Field(default=None, min_length=1, max_length=200, description="Every device of a building.")
    site: bool = Field(default=False, description="The whole site on test.")
    until: AwareDatetime = Field(description="When it ends by itself (ISO 8601 with offset); required.")
    note: str = Field(default="", max_length=2000, description="What is tested and why.")


class DrillRequest(BaseModel):
    """A drill (演练): a plan over a building or the whole site, from a start to an end."""

    model_config = ConfigDict(extra="forbid")

    plan: str = Field(min_length=1, max_length=8000, description="The drill plan (演练方案).")
    building: str | None = Field(default=None, min_length=1, max_length=200, description="The building drilled.")
    site: bool = Field(default=False, description="The whole site drilled.")
    starts_at: AwareDatetime | None = Field(default=None, description="Start; now when absent.")
    until: AwareDatetime = Field(description="End (ISO 8601 with offset); required.")
    note: str = Field(default="", max_length=2000, description="Anything else.")


class SummaryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    summary: str = Field(min_length=1, max_length=8000, description="Summary and evaluation (总结、评估).")


router = APIRouter()


def _test_mode(ctx: ApiContext) -> TestMode:
    if ctx.test_mode is None:
        raise ApiError(503, "test_mode_unavailable", "test mode is not running in this hub")
    return ctx.test_mode


def _refused(exc: TestModeRefused) -> ApiError:
    return ApiError(422, exc.code, str(exc))


@router.post("/api/v1/test-mode", status_code=201)
def start_test_mode(body: TestModeRequest, ctx: ContextDep, actor: MaintenanceActor) -> dict[str, Any]:
    mode = _test_mode(ctx)
    try:
        window = mode.start(
            actor, devices=body.devices, site=body.site, building=body.building, until=body.until, note=body.note
        )
    except TestModeRefused as exc:
        raise _refused(exc) from exc
    return mode.get(window.id)


@router.delete("/api/v1/test-mode/{window_id}")
def end_test_mode(window_id: str, ctx: ContextDep, actor: MaintenanceActor) -> dict[str, Any]:
    mode = _test_mode(ctx)
    return mode.get(mode.end(window_id, actor).id)


@router.get("/api/v1/test-mode")
def active_test_modes(ctx: ContextDep, actor: TestLogReader) -> dict[str, Any]:
    return {"test_modes": _test_mode(ctx).active()}


@router.get("/api/v1/test-log")
def read_test_log(
    ctx: ContextDep,
    actor: TestLogReader,
    start: Annotated[AwareDatetime | None, Query(alias="from", description="Start (ISO 8601); 31 days ago.")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to", description="End (ISO 8601); now.")] = None,
) -> dict[str, Any]:
    to = end or ctx.clock.now()
    since = start or to - timedelta(days=DEFAULT_LOG_DAYS)
    if since >= to:
        raise ApiError(422, "empty_period", "from must lie before to")
    return _test_mode(ctx).log(since, to)


@router.post("/api/v1/drills", status_code=201)
def plan_drill(body: DrillRequest, ctx: ContextDep, actor: MaintenanceActor) -> dict[str, Any]:
    mode = _test_mode(ctx)
    try:
        window = mode.start(
            actor,
            site=body.site,
            building=body.building,
            starts_at=body.starts_at,
            until=body.until,
            note=body.note,
            kind="drill",
            plan=body.plan,
        )
    except TestModeRefused as exc:
        raise _refused(exc) from exc
    return mode.get(window.id)


@router.post("/api/v1/drills/{window_id}/summary")
def drill_summary(window_id: str, body: SummaryRequest, ctx: ContextDep, actor: MaintenanceActor) -> dict[str, Any]:
    mode = _test_mode(ctx)
    return mode.get(mode.summarise(window_id, actor, body.summary).id)


@router.post("/api/v1/alarms/{alarm_id}/real")
def make_real(alarm_id: str, ctx: ContextDep, actor: GuardActor) -> dict[str, Any]:
    """ "This is real": a test press becomes a real alarm, forwarded at once to the endpoints that take its kind."""
    forwarding = ctx.config.forwarding
    live = 1 if forwarding.mode == "first" else None
    endpoints = ctx.store.make_real(alarm_id, actor, forwarding.endpoints_for, live)
    ctx.wake_outbox()
    ctx.feed.publish("alarm_real", {"alarm_id": alarm_id, "by": actor.name, "endpoints": endpoints})
    return ctx.present(ctx.store.get_alarm(alarm_id))
