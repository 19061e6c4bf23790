"""Hazard routes: the hazard register (隐患台账) and its closed loop, one signed step per request, and its export in
the columns of a bureau's hazard ledger. Guards and maintenance register what they find; maintenance (and admin)
walk a hazard through its steps; the bureau reads the register."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from hub.config import Role
from hub.ledger.export import export_csv, export_xlsx, hazard_number, ledger_rows
from hub.ledger.hazards import HazardSource, HazardState, HazardStep, Severity, allowed_steps
from hub.ledger.store import LedgerStore, StepInput
from hub.store import Actor, InvalidStateError
from hub.web.auth import require
from hub.web.context import ContextDep
from hub.web.errors import ApiError

HazardReader = Annotated[Actor, Depends(require(Role.GUARD, Role.MAINTENANCE, Role.BUREAU))]
HazardFinder = Annotated[Actor, Depends(require(Role.GUARD, Role.MAINTENANCE))]
HazardSigner = Annotated[Actor, Depends(require(Role.MAINTENANCE))]


class HazardRequest(BaseModel):
    """Registering (登记) a hazard someone found (排查)."""

    model_config = ConfigDict(extra="forbid")

    place: str = Field(min_length=1, max_length=200, description="Where: building, floor, room or area.")
    category: str = Field(min_length=1, max_length=100, description="What kind: fire, electrical, structure, ...")
    summary: str = Field(min_length=1, max_length=4000, description="What was found.")
    source: HazardSource | None = Field(
        default=None, description="person, inspection or fault; fault when fault_id is given, else person."
    )
    found_by: str | None = Field(
        default=None, min_length=1, max_length=200, description="Who found it; the registering person when absent."
    )
    fault_id: int | None = Field(default=None, description="The equipment fault this hazard escalates, if any.")


class StepRequest(BaseModel):
    """One signed step; `assess` also takes severity and due, `monitor` also measures."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=4000, description="What was done or decided.")
    severity: Severity | None = Field(default=None, description="assess: general (一般), serious (较大), major (重大).")
    due: date | None = Field(default=None, description="assess: the target date for the fix (site-local day).")
    measures: str | None = Field(
        default=None, min_length=1, max_length=4000, description="monitor: interim measures while the hazard is open."
    )
    responsible: str | None = Field(
        default=None, min_length=1, max_length=200, description="assess: the person responsible for the fix."
    )
    supervisor: str | None = Field(
        default=None, min_length=1, max_length=200, description="assess: the person who supervises the fix."
    )


def hazards_router(ledger: LedgerStore) -> APIRouter:
    router = APIRouter()

    def present(ctx: ContextDep, hazard_id: int) -> dict[str, Any]:
        hazard = ledger.get_hazard(hazard_id, ctx.clock.now())
        return _view(ctx, hazard)

    def _view(ctx: ContextDep, hazard: dict[str, Any]) -> dict[str, Any]:
        severity = Severity(hazard["severity"]) if hazard["severity"] else None
        return {
            **hazard,
            "number": hazard_number(hazard["id"], hazard["registered_at"], ctx.config.site),
            "steps": [s.value for s in allowed_steps(HazardState(hazard["state"]), severity)],
        }

    @router.get("/api/v1/hazards")
    def list_hazards(
        ctx: ContextDep,
        actor: HazardReader,
        state: Annotated[list[HazardState] | None, Query(description="Only hazards in these states.")] = None,
    ) -> dict[str, Any]:
        return {"hazards": [_view(ctx, h) for h in ledger.list_hazards(ctx.clock.now(), state)]}

    @router.post("/api/v1/hazards", status_code=201)
    def register(body: HazardRequest, ctx: ContextDep, actor: HazardFinder) -> dict[str, Any]:
        if body.fault_id is not None:
            ctx.health_store.get_fault(body.fault_id)  # 404 fault_not_found for a fault that does not exist
        source = body.source or (HazardSource.FAULT if body.fault_id is not None else HazardSource.PERSON)
        if source is HazardSource.FAULT and body.fault_id is None:
            raise ApiError(422, "invalid_request", "fault_id: a hazard from an equipment fault names the fault")
        hazard_id = ledger.register_hazard(
            actor,
            ctx.clock.now(),
            place=body.place,
            category=body.category,
            summary=body.summary,
            source=source,
            found_by=body.found_by or actor.name,
            fault_id=body.fault_id,
        )
        ctx.feed.publish("hazard_registered", {"hazard_id": hazard_id, "by": actor.name})
        return present(ctx, hazard_id)

    # Before `/{hazard_id}`, which would otherwise take "export" for an id.
    @router.get("/api/v1/hazards/export", response_model=None)
    def export(
        ctx: ContextDep,
        actor: HazardReader,
        fmt: Annotated[Literal["csv", "xlsx"], Query(alias="format", description="csv or xlsx.")] = "csv",
    ) -> Response:
        now = ctx.clock.now()
        site = ctx.config.site
        rows = ledger_rows(ledger.list_hazards(now), site)
        name = f"hazards-{site.id}-{site.local_date(now).isoformat()}.{fmt}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        if fmt == "csv":
            return Response(export_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)
        body = export_xlsx(rows, f"{site.name} 隐患排查整治台账", now.astimezone(site.tz()))
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(body, media_type=media, headers=headers)

    @router.get("/api/v1/hazards/{hazard_id}")
    def get_hazard(hazard_id: int, ctx: ContextDep, actor: HazardReader) -> dict[str, Any]:
        return present(ctx, hazard_id)

    @router.post("/api/v1/hazards/{hazard_id}/{step}")
    def take_step(hazard_id: int, step: str, body: StepRequest, ctx: ContextDep, actor: HazardSigner) -> dict[str, Any]:
        try:
            action = HazardStep(step)
        except ValueError:
            raise ApiError(404, "not_found", f"no hazard step {step!r}") from None
        now = ctx.clock.now()
        if action is HazardStep.ASSESS:
            if body.severity is None or body.due is None:
                raise ApiError(422, "invalid_request", "assess needs severity and due")
            if body.due < ctx.config.site.local_date(now):
                raise ApiError(422, "due_in_past", "the target date cannot be before today")
        elif body.severity is not None or body.due is not None or body.responsible or body.supervisor:
            raise ApiError(422, "invalid_request", "severity, due, responsible and supervisor belong to assess")
        if action is HazardStep.MONITOR and not body.measures:
            raise ApiError(422, "invalid_request", "monitor needs the interim measures")
        if action is HazardStep.ACCEPT and ledger.get_hazard(hazard_id, now)["fixed_by"] == actor.name:
            # 谁检查，谁签字: acceptance is a second person's check of the fix, never the fixer's own.
            raise ApiError(409, "same_person", "the person who fixed a hazard cannot accept the fix")
        given = StepInput(body.note, body.severity, body.due, body.measures, body.responsible, body.supervisor)
        try:
            ledger.step_hazard(hazard_id, action, actor, now, given)
        except InvalidStateError as exc:
            raise ApiError(409, "bad_step", str(exc)) from exc
        ctx.feed.publish("hazard_step", {"hazard_id": hazard_id, "step": action.value, "by": actor.name})
        return present(ctx, hazard_id)

    return router
