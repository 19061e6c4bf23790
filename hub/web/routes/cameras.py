"""Camera routes of the API: camera health, latest and reference snapshots, re-taking the reference, evidence JPEGs.

Pictures go to the guard and maintenance roles (and admin) only; the bureau sees the camera list, not images.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from device_adapters.base import DeviceKind
from hub.config import DeviceConfig, Role
from hub.core.clock import to_iso
from hub.health.faults import ACTIVE
from hub.store import Actor, Store
from hub.web.auth import require
from hub.web.context import AlarmReader, ApiContext, ContextDep, HealthReader, MaintenanceActor
from hub.web.errors import ApiError
from hub.web.throttle import client_address
from video.probe import describe
from video.scheduler import CameraChecker
from video.store import SnapshotFiles, VideoStore, snapshot_url

_JPEG = "image/jpeg"
# Pictures of people: never cached by a browser or proxy on the way.
_NO_STORE = {"Cache-Control": "private, no-store"}


_token_reader = require(Role.GUARD, Role.MAINTENANCE)


async def _evidence_reader(request: Request) -> Actor:
    """A guard's or maintenance token or session; or a signed link the hub sent a receiving centre (each open
    audited, with the address it came from). A link that is wrong or expired is refused as `link_invalid`."""
    query = request.query_params
    if "sig" not in query and "exp" not in query:
        return await _token_reader(request)
    context: ApiContext = request.app.state.context
    signer, now = context.link_signer, context.clock.now()
    if signer is None or not signer.valid(request.url.path, query.get("exp"), query.get("sig"), now):
        raise ApiError(403, "link_invalid", "this evidence link is not valid or has expired")
    peer = request.client.host if request.client else ""
    address = client_address(peer, request.headers.get("x-forwarded-for"), context.config.api.trusted_proxies)
    actor = Actor(f"link@{address}", "link")

    def audit() -> None:
        with context.store.write() as conn:
            Store.audit(conn, to_iso(now), actor, "evidence_link_open", request.url.path, {"address": address})

    await run_in_threadpool(audit)
    return actor


EvidenceReader = Annotated[Actor, Depends(_evidence_reader)]


def camera_router(checker: CameraChecker, files: SnapshotFiles, store: VideoStore) -> APIRouter:
    """The camera routes, bound to the hub's checker and picture store."""
    router = APIRouter()

    def _camera(ctx: ContextDep, camera_id: str) -> DeviceConfig:
        device = ctx.config.device(camera_id)
        if device is None or device.kind is not DeviceKind.CAMERA:
            raise ApiError(404, "camera_not_found", f"no camera {camera_id}")
        return device

    def _jpeg(data: bytes | None, code: str, message: str) -> Response:
        if data is None:
            raise ApiError(404, code, message)
        return Response(data, media_type=_JPEG, headers=_NO_STORE)

    def _camera_json(ctx: ContextDep, device: DeviceConfig, faults: list[dict[str, Any]]) -> dict[str, Any]:
        health = ctx.tracker.get(device.id)
        result = store.latest_health(device.id)
        data = result.data if result else {}
        has_snapshot = files.latest(device.id).exists()
        return {
            "id": device.id,
            "name": device.name,
            "location": device.location.model_dump(),
            "state": health.state.value if health else "unknown",
            "labels": data.get("labels", []),
            "metrics": data.get("metrics", {}),
            "checked_at": to_iso(result.occurred_at) if result else None,
            "checked_by": data.get("source"),
            "source": describe(device.source) if device.source else None,
            "snapshot_url": snapshot_url(device.id) if has_snapshot else data.get("snapshot"),
            **checker.view(device.id),
            "consecutive_failures": health.camera_failures if health else 0,
            "open_faults": [ctx.fault_json(f) for f in faults if f["subject"] == device.id],
            "recordings": ctx.camera_retention(device.id),
        }

    @router.get("/api/v1/cameras")
    def cameras(ctx: ContextDep, actor: HealthReader) -> dict[str, Any]:
        faults = ctx.health_store.list_faults(sorted(ACTIVE))
        return {"cameras": [_camera_json(ctx, d, faults) for d in ctx.config.devices if d.kind is DeviceKind.CAMERA]}

    @router.get("/api/v1/cameras/{camera_id}/snapshot", response_class=Response)
    def snapshot(camera_id: str, ctx: ContextDep, actor: AlarmReader) -> Response:
        _camera(ctx, camera_id)
        return _jpeg(files.read(files.latest(camera_id)), "snapshot_not_found", f"no snapshot of {camera_id} yet")

    @router.get("/api/v1/cameras/{camera_id}/reference", response_class=Response)
    def reference(camera_id: str, ctx: ContextDep, actor: AlarmReader) -> Response:
        _camera(ctx, camera_id)
        return _jpeg(
            files.read(files.reference(camera_id)), "reference_not_found", f"no reference frame of {camera_id} yet"
        )

    @router.post("/api/v1/cameras/{camera_id}/reference")
    def retake_reference(camera_id: str, ctx: ContextDep, actor: MaintenanceActor) -> dict[str, Any]:
        device = _camera(ctx, camera_id)
        if device.source is None or camera_id not in checker.camera_ids:
            raise ApiError(409, "camera_not_checked", f"camera {camera_id} has no source the hub checks")
        taken_at = checker.retake_reference(camera_id)
        with ctx.store.write() as conn:
            Store.audit(
                conn,
                to_iso(ctx.clock.now()),
                actor,
                "camera_reference_retake",
                camera_id,
                {"taken_at": to_iso(taken_at) if taken_at else None},
            )
        return {"camera_id": camera_id, **checker.view(camera_id)}

    @router.get("/api/v1/evidence/{alarm_id}/{camera_id}.jpg", response_class=Response)
    def evidence(alarm_id: str, camera_id: str, actor: EvidenceReader) -> Response:
        path = store.evidence_path(alarm_id, camera_id)
        data = files.read(files.root / path) if path else None
        return _jpeg(data, "evidence_not_found", f"no evidence of alarm {alarm_id} from {camera_id}")

    return router
