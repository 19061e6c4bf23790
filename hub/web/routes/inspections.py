"""Inspection and patrol routes: maintenance makes check plans (what, where, how often); a guard or maintenance
person records each item of a round from a phone (ok, or a problem with a note, which can open an equipment fault
or a hazard in the same step); anyone with a page reads which checks of a period were done, due or missed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.config import Role
from hub.config.base import IdStr, require_unique
from hub.health.faults import FaultKind
from hub.ledger.hazards import HazardSource
from hub.ledger.inspection_store import InspectionStore
from hub.ledger.inspections import CheckResult, FollowUp, Frequency, period_days, period_key
from hub.ledger.store import LedgerStore
from hub.store import Actor, InvalidStateError
from hub.web.auth import require
from hub.web.context import ContextDep, MaintenanceActor
from hub.web.errors import ApiError

InspectionReader = Annotated[Actor, Depends(require(Role.GUARD, Role.MAINTENANCE, Role.BUREAU))]
Inspector = Annotated[Actor, Depends(require(Role.GUARD, Role.MAINTENANCE))]


class ItemSpec(BaseModel):
    """One thing a round checks."""

    model_config = ConfigDict(extra="forbid")

    id: IdStr = Field(description="The item's id within the plan.")
    what: str = Field(min_length=1, max_length=200, description="What is checked, e.g. 一键报警按钮.")
    where: str = Field(min_length=1, max_length=200, description="Where it is.")
    device_id: IdStr | None = Field(default=None, description="The registry device it is, if any.")


class PlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="The plan's name, e.g. 一键报警按钮月检.")
    category: str = Field(min_length=1, max_length=100, description="alarm buttons, cameras, cabinets, fire, patrol.")
    frequency: Frequency = Field(description="daily, weekly or monthly: once per site-local period.")
    items: list[ItemSpec] = Field(min_length=1, max_length=500, description="The items each round checks.")

    @field_validator("items")
    @classmethod
    def _unique(cls, items: list[ItemSpec]) -> list[ItemSpec]:
        require_unique([i.id for i in items], "item id")
        return items


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: str = Field(min_length=1, max_length=64, description="The item's id.")
    result: CheckResult = Field(description="ok or problem.")
    note: str = Field(default="", max_length=4000, description="What was found (required for a problem).")
    follow_up: FollowUp = Field(default=FollowUp.NONE, description="For a problem: open a fault or a hazard too.")


def inspections_router(inspections: InspectionStore, ledger: LedgerStore) -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/inspections/plans")
    def plans(ctx: ContextDep, actor: InspectionReader) -> dict[str, Any]:
        now = ctx.clock.now()
        today = ctx.config.site.local_date(now)
        return {
            "plans": [
                {**p, "current": inspections.status(p, period_key(Frequency(p["frequency"]), today), now)}
                for p in inspections.plans()
            ]
        }

    @router.post("/api/v1/inspections/plans", status_code=201)
    def create_plan(body: PlanRequest, ctx: ContextDep, actor: MaintenanceActor) -> dict[str, Any]:
        unknown = [i.device_id for i in body.items if i.device_id and ctx.config.device(i.device_id) is None]
        if unknown:
            raise ApiError(422, "unknown_device", f"not in the device registry: {', '.join(unknown)}")
        plan_id = inspections.create_plan(
            actor,
            ctx.clock.now(),
            name=body.name,
            category=body.category,
            frequency=body.frequency,
            items=[i.model_dump(exclude_none=True) for i in body.items],
        )
        return plan_view(ctx, plan_id, None)

    def plan_view(ctx: ContextDep, plan_id: int, period: str | None) -> dict[str, Any]:
        (plan,) = inspections.plans(plan_id)
        now = ctx.clock.now()
        frequency = Frequency(plan["frequency"])
        key = period or period_key(frequency, ctx.config.site.local_date(now))
        try:
            period_days(frequency, key)
        except ValueError:
            raise ApiError(422, "invalid_period", f"{key!r} is not a {frequency.value} period") from None
        return {**plan, "current": inspections.status(plan, key, now)}

    @router.get("/api/v1/inspections/plans/{plan_id}")
    def plan(
        plan_id: int,
        ctx: ContextDep,
        actor: InspectionReader,
        period: Annotated[str | None, Query(description="2026-03-05, 2026-W10 or 2026-03; default: now.")] = None,
    ) -> dict[str, Any]:
        return plan_view(ctx, plan_id, period)

    @router.post("/api/v1/inspections/plans/{plan_id}/checks", status_code=201)
    def check(plan_id: int, body: CheckRequest, ctx: ContextDep, actor: Inspector) -> dict[str, Any]:
        (found,) = inspections.plans(plan_id)
        item = next((i for i in found["items"] if i["id"] == body.item), None)
        if item is None:
            raise ApiError(422, "unknown_item", f"plan {plan_id} has no item {body.item!r}")
        if body.result is CheckResult.PROBLEM and not body.note.strip():
            raise ApiError(422, "invalid_request", "note: a problem needs a note saying what was found")
        if body.result is CheckResult.OK and body.follow_up is not FollowUp.NONE:
            raise ApiError(422, "invalid_request", "follow_up: only a problem opens a fault or a hazard")
        now = ctx.clock.now()
        period = period_key(Frequency(found["frequency"]), ctx.config.site.local_date(now))
        # Checked before anything is opened, so a second check of an item opens no second fault or hazard.
        if inspections.already_checked(plan_id, body.item, period):
            raise ApiError(409, "already_checked", f"{body.item} was already checked for {period}")
        fault_id = hazard_id = None
        summary = f"{found['name']} · {item['what']} · {item['where']}: {body.note}"
        if body.follow_up is FollowUp.FAULT:
            subject = item.get("device_id") or item["id"]
            fault_id = ctx.health_store.open_manual(subject, FaultKind.INSPECTION, summary, actor, now)
        elif body.follow_up is FollowUp.HAZARD:
            hazard_id = ledger.register_hazard(
                actor,
                now,
                place=item["where"],
                category=found["category"],
                summary=summary,
                source=HazardSource.INSPECTION,
                found_by=actor.name,
            )
        try:
            inspections.record_check(
                plan_id, body.item, period, actor, now, body.result, body.note, fault_id=fault_id, hazard_id=hazard_id
            )
        except InvalidStateError as exc:
            raise ApiError(409, "already_checked", str(exc)) from exc
        ctx.feed.publish("inspection_check", {"plan_id": plan_id, "item": body.item, "by": actor.name})
        return plan_view(ctx, plan_id, period)

    return router
