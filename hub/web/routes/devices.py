"""Device routes: every configured device with its health and open faults (filtered by kind, building, state), one
device with its state history, and the dead letters (messages the hub received but could not use)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from device_adapters.base import DeviceKind
from hub.health.faults import ACTIVE
from hub.health.model import DeviceState
from hub.web.context import ContextDep, HealthReader, MaintenanceReader, StoreDep
from hub.web.errors import ApiError

router = APIRouter()


@router.get("/api/v1/devices")
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


@router.get("/api/v1/devices/{device_id}")
def device(device_id: str, ctx: ContextDep, actor: HealthReader) -> dict[str, Any]:
    config = ctx.config.device(device_id)
    if config is None:
        raise ApiError(404, "device_not_found", f"no device {device_id}")
    body = ctx.device_json(config, ctx.health_store.list_faults(sorted(ACTIVE), subject=device_id))
    body["transitions"] = ctx.health_store.transitions(device_id)
    return body


@router.get("/api/v1/dead-letters")
def dead_letters(
    store: StoreDep, actor: MaintenanceReader, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    return {"dead_letters": store.list_dead_letters(limit)}
