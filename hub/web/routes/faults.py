"""Fault routes for maintenance: list and read faults (with what the receiving centres were told), open one by hand,
add notes, and take the closed-loop steps (assign, start repair, recover, verify, close)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from hub.health.faults import ACTIVE, TROUBLE_FAULT, FaultAction, FaultKind, FaultState, still_failing
from hub.store.faults import OVERRIDE
from hub.web.context import ApiContext, ContextDep, HealthReader, MaintenanceActor
from hub.web.errors import ApiError


class FaultOpenRequest(BaseModel):
    """A fault registered by hand, e.g. an inspection finding."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=100, description="Device id (or another system part).")
    kind: FaultKind = Field(default=FaultKind.INSPECTION, description="What kind of failure.")
    summary: str = Field(min_length=1, max_length=2000, description="What was found.")
    deadline_hours: float | None = Field(
        default=None,
        gt=0,
        le=24 * 90,
        description="Inspection findings only: hours until it must be put right "
        "(default sla.inspection_deadline_hours).",
    )


class FaultStepRequest(BaseModel):
    """One closed-loop step; `to` names the person when assigning."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=4000, description="What was done or found.")
    to: str | None = Field(default=None, min_length=1, max_length=200, description="Assignee (assign only).")
    override: bool = Field(
        default=False,
        description="Recover only: mark an automatic fault recovered although the device still reports the failure "
        "(needs a note; audited; the hub re-checks and reopens it while the failure holds).",
    )


class NoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=4000, description="The note.")


router = APIRouter()


def _fault(ctx: ApiContext, fault_id: int) -> dict[str, Any]:
    fault = ctx.fault_json(ctx.health_store.get_fault(fault_id))
    # What the receiving centres were told about this fault (trouble and restore, per endpoint).
    return {**fault, "deliveries": ctx.store.trouble_deliveries(fault_id)}


@router.get("/api/v1/faults")
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


@router.get("/api/v1/faults/{fault_id}")
def fault(fault_id: int, ctx: ContextDep, actor: HealthReader) -> dict[str, Any]:
    return _fault(ctx, fault_id)


@router.post("/api/v1/faults", status_code=201)
def open_fault(body: FaultOpenRequest, ctx: ContextDep, actor: MaintenanceActor) -> dict[str, Any]:
    hours = body.deadline_hours
    if body.kind is FaultKind.INSPECTION:
        hours = hours if hours is not None else ctx.config.sla.inspection_deadline_hours
    elif hours is not None:
        # Equipment failures keep the recovery rule (24 h); only an inspection finding takes a person's deadline.
        raise ApiError(422, "invalid_request", "deadline_hours: only an inspection finding takes a deadline")
    fault_id = ctx.health_store.open_manual(body.subject, body.kind, body.summary, actor, ctx.clock.now(), hours)
    return _fault(ctx, fault_id)


# Automatic fault kinds whose condition the hub can check now (the device's health, the recordings verdict).
CHECKABLE = frozenset({FaultKind.OFFLINE, FaultKind.RETENTION_SHORTFALL, *TROUBLE_FAULT.values()})


def failing_now(ctx: ApiContext, subject: str, kind: FaultKind) -> str | None:
    """Why an automatic fault still holds by what the hub hears now, or None when the device says healthy."""
    if kind is FaultKind.RETENTION_SHORTFALL:
        verdict = ctx.camera_retention(subject) or {}
        return "the camera's recordings are still short" if verdict.get("compliant") is False else None
    return still_failing(kind, ctx.tracker.get(subject))


# Before the `{step}` route below, which would otherwise take "notes" for a step name.
@router.post("/api/v1/faults/{fault_id}/notes", status_code=201)
def fault_note(fault_id: int, body: NoteRequest, ctx: ContextDep, actor: MaintenanceActor) -> dict[str, Any]:
    ctx.health_store.add_note(fault_id, actor, ctx.clock.now(), body.note)
    return _fault(ctx, fault_id)


@router.post("/api/v1/faults/{fault_id}/{step}")
def fault_step(
    fault_id: int, step: str, body: FaultStepRequest, ctx: ContextDep, actor: MaintenanceActor
) -> dict[str, Any]:
    try:
        action = FaultAction(step.replace("-", "_"))
    except ValueError:
        raise ApiError(404, "not_found", f"no fault step {step!r}") from None
    if action is FaultAction.ASSIGN and not body.to:
        raise ApiError(422, "invalid_request", "to: assign needs the person's name")
    if body.override and action is not FaultAction.RECOVER:
        raise ApiError(422, "invalid_request", "override: only for recover")
    overriding = None
    if action in (FaultAction.RECOVER, FaultAction.VERIFY):
        fault = ctx.health_store.get_fault(fault_id)
        steps = [e["action"] for e in fault["log"] if e["action"] != "note"]
        # Verifying checks again only a recovery made over the device's word; the hub's own recoveries were.
        checked = action is FaultAction.RECOVER or (steps[-1:] == [OVERRIDE])
        auto = fault["source"] == "auto" and checked
        kind = FaultKind(fault["kind"])
        failing = failing_now(ctx, fault["subject"], kind) if auto else None
        if auto and failing is None and action is FaultAction.RECOVER and kind not in CHECKABLE:
            # The hub recovers these itself when the condition clears and cannot ask the device: a person's
            # recovery is their word alone, so it takes the same audited override.
            failing = f"the hub recovers a {kind.value} fault by itself once it clears"
        if failing is not None and not (body.override and action is FaultAction.RECOVER):
            # Marking it recovered would stop its clock while the equipment is still down.
            hint = "; recover with override and a note to do it anyway" if action is FaultAction.RECOVER else ""
            raise ApiError(409, "device_not_healthy", f"{failing}{hint}")
        if failing is not None:
            if not body.note.strip():
                raise ApiError(422, "invalid_request", "note: an override says why")
            overriding = failing
    ctx.health_store.act(fault_id, action, actor, ctx.clock.now(), body.note, body.to, overriding=overriding)
    return _fault(ctx, fault_id)
