"""Arming routes (布防 / 撤防) and the guard's warnings: the zones with their arming, contacts and open doors, a guard's
or admin's manual arm or disarm, audited with the person (an arm with a door open or a detector in alarm is refused,
naming each), and the pre-alarms maintenance is looking at, which the guard sees too."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from alerts.zones import ArmRefused, ZoneBoard
from hub.health.faults import ACTIVE, FaultKind
from hub.store.arming import last_prealarm_reading
from hub.web.context import ApiContext, ContextDep, GuardActor, ZoneReader
from hub.web.errors import ApiError

router = APIRouter()


def _board(ctx: ApiContext) -> ZoneBoard:
    if ctx.zones is None:
        raise ApiError(404, "not_found", "this hub has no arming zones")
    return ctx.zones


def _refused(exc: ArmRefused) -> JSONResponse:
    message = f"zone {exc.zone_id}: " + "; ".join(exc.reasons)
    return JSONResponse(
        status_code=409, content={"error": {"code": "arm_refused", "message": message, "reasons": exc.reasons}}
    )


@router.get("/api/v1/zones")
def list_zones(ctx: ContextDep, actor: ZoneReader) -> dict[str, Any]:
    return _board(ctx).view()


@router.post("/api/v1/zones/{zone_id}/arm", response_model=None)
def arm(zone_id: str, ctx: ContextDep, actor: GuardActor) -> dict[str, Any] | JSONResponse:
    board = _board(ctx)
    try:
        zone = board.arm(zone_id, actor)
    except KeyError:
        raise ApiError(404, "not_found", f"no zone {zone_id!r}") from None
    except ArmRefused as exc:
        return _refused(exc)
    ctx.feed.publish("zone_armed", {"zone_id": zone_id, "by": actor.name})
    return zone


@router.post("/api/v1/zones/{zone_id}/disarm", response_model=None)
def disarm(zone_id: str, ctx: ContextDep, actor: GuardActor) -> dict[str, Any] | JSONResponse:
    board = _board(ctx)
    try:
        zone = board.disarm(zone_id, actor)
    except KeyError:
        raise ApiError(404, "not_found", f"no zone {zone_id!r}") from None
    except ArmRefused as exc:
        return _refused(exc)
    ctx.feed.publish("zone_disarmed", {"zone_id": zone_id, "by": actor.name})
    return zone


@router.get("/api/v1/prealarms")
def list_prealarms(ctx: ContextDep, actor: ZoneReader) -> dict[str, Any]:
    """Open pre-alarm troubles (electrical fire, gas, CO), each with its device and the reading that crossed."""
    out = []
    for fault in ctx.health_store.list_faults(sorted(ACTIVE)):
        if fault["kind"] != FaultKind.PREALARM:
            continue
        device = ctx.config.device(fault["subject"])
        out.append(
            {
                "fault_id": fault["id"],
                "opened_at": fault["opened_at"],
                "device": {
                    "id": fault["subject"],
                    "kind": device.kind.value if device else None,
                    "name": device.name if device else fault["subject"],
                    "location": device.location.model_dump() if device else None,
                },
                "reading": last_prealarm_reading(ctx.store, fault["subject"]),
            }
        )
    return {"prealarms": out}
