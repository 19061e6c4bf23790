"""The four items routes: the guard room records, once per school day, the three of the rules' "four 100%" items
the hub cannot measure (guards on duty, gate closed, 护学岗 posts staffed); anyone who reads health sees the four
items over a period, with the days nobody recorded shown as not recorded."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from hub.reports import PeriodError, alarm_video, four_items, period_bound, school_days_in, site_days
from hub.store.guard_room import GuardRoomStore
from hub.store.reports import registry
from hub.web.context import ContextDep, GuardActor, HealthReader
from hub.web.errors import ApiError

# A day may be recorded (or corrected) this many days late; older days stay as they were.
LATE_DAYS = 7
MAX_LIST_DAYS = 366


class FourItemsRequest(BaseModel):
    """One school day as the guard room found it."""

    model_config = ConfigDict(extra="forbid")

    day: date | None = Field(
        default=None, description=f"The day (site time); default today. At most {LATE_DAYS} days back, not ahead."
    )
    guards_on_duty: int = Field(ge=0, le=100, description="Full-time guards on duty that day (专职保安员).")
    gate_closed: bool = Field(description="The campus was kept closed (封闭化管理).")
    posts_staffed: bool = Field(description="The guard posts at the gates were staffed (护学岗).")
    note: str = Field(default="", max_length=2000, description="Anything the bureau should know.")


def four_items_router(guard_room: GuardRoomStore) -> APIRouter:
    """The four items routes on the hub's guard-room records."""
    router = APIRouter()

    @router.post("/api/v1/four-items", status_code=201)
    def record_day(body: FourItemsRequest, ctx: ContextDep, actor: GuardActor) -> dict[str, Any]:
        now = ctx.clock.now()
        today = ctx.config.site.local_date(now)
        day = body.day or today
        if day > today:
            raise ApiError(422, "invalid_request", f"day: {day} has not come yet (today is {today}, site time)")
        if day < today - timedelta(days=LATE_DAYS):
            raise ApiError(422, "invalid_request", f"day: a day is recorded at most {LATE_DAYS} days late")
        recorded = guard_room.record(
            day, body.guards_on_duty, body.gate_closed, body.posts_staffed, body.note, actor, now
        )
        ctx.feed.publish("four_items_recorded", {"day": day.isoformat(), "by": actor.name})
        return recorded.as_json()

    @router.get("/api/v1/four-items")
    def four_items_days(
        ctx: ContextDep,
        actor: HealthReader,
        from_: Annotated[str | None, Query(alias="from", description="First day (YYYY-MM-DD, site time).")] = None,
        to: Annotated[str | None, Query(description="Last day, included (YYYY-MM-DD); default today.")] = None,
    ) -> dict[str, Any]:
        config = ctx.config
        zone = config.site.tz()
        now = ctx.clock.now()
        try:
            end = period_bound(to, zone, end=True) if to else now
            start = period_bound(from_, zone, end=False) if from_ else end - timedelta(days=30)
        except PeriodError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from exc
        end = min(end, now)
        if start >= end:
            raise ApiError(422, "invalid_request", "from must be before to, and not after today")
        if end - start > timedelta(days=MAX_LIST_DAYS):
            raise ApiError(422, "invalid_request", f"at most {MAX_LIST_DAYS} days")
        days = school_days_in([d for d, _, _ in site_days(start, end, zone)], config.reports.school_days)
        records = guard_room.days(days[0], days[-1]) if days else {}
        current = {h.device_id: h.state.value for h in ctx.tracker.all()}
        measured = alarm_video(registry(config), current)
        items = four_items(measured, days, records, config.reports.min_guards_on_duty)
        return {
            "from": start.astimezone(zone).date().isoformat(),
            "to": days[-1].isoformat() if days else None,
            **items,
        }

    return router
