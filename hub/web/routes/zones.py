"""Arming routes (布防 / 撤防): the zones with their arming, contacts and open doors, and a guard's or admin's manual
arm or disarm, audited with the person; an arm with a door open or a detector in alarm is refused, naming each."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from alerts.zones import ArmRefused, ZoneBoard
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
