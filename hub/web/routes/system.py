"""Routes about the hub itself rather than one alarm or device: /healthz, /metrics, the state of the alarm
forwarding paths, and the audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from hub.web.context import AdminActor, AlarmReader, ContextDep, MetricsReader, StoreDep

router = APIRouter()

# /healthz needs no credentials, so anyone may poll it: the write probe behind it runs at most this often.
HEALTH_PROBE_EVERY_S = 5.0


@router.get("/healthz")
def healthz(ctx: ContextDep, workers: bool = False) -> JSONResponse:
    mqtt_ok = ctx.health.mqtt_connected
    # A degraded store (full, I/O errors) is not probed here: a probe write would spend the room kept for alarms.
    degraded = ctx.store.degraded
    store_ok = degraded is None and ctx.store.check_writable(max_age_s=HEALTH_PROBE_EVERY_S)
    threads = ctx.workers.health(detail=workers)
    ok = mqtt_ok and store_ok and "reason" not in threads
    body: dict[str, Any] = {
        "status": "ok" if ok else "degraded",
        "mqtt_connected": mqtt_ok,
        "store_writable": store_ok,
        "store": degraded.value if degraded is not None else ("ok" if store_ok else "unwritable"),
        **threads,
    }
    damage = ctx.store.damage
    if damage is not None:
        body["status"], body["store"] = "degraded", "damaged"
        body["reason"] = f"store damaged: {damage}; restore a backup (README: Backups)"
        return JSONResponse(body, status_code=503)
    if degraded is not None and "reason" not in body:
        body["reason"] = f"store {degraded.value}: only alarms are stored, telemetry is shed"
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics")
def metrics(ctx: ContextDep, actor: MetricsReader) -> Response:
    return Response(ctx.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/api/v1/forwarding")
def forwarding(ctx: ContextDep, actor: AlarmReader) -> dict[str, Any]:
    config = ctx.config.forwarding
    return {
        "mode": config.mode,
        "paths": [p.as_json() for p in ctx.paths.snapshot()],
        "outbox_depth": ctx.store.outbox_depth(),
    }


@router.get("/api/v1/audit")
def audit(store: StoreDep, actor: AdminActor, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
    return {"audit": store.list_audit(limit)}
