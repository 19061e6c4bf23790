"""Maintenance-window routes: plan a window, list windows, and end one early; reports show the windows and, when
`reports.exclude_maintenance` is set, leave them out of uptime. A window with `test` puts its devices on test while it
runs (and ends that test with it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from alerts.testmode import TestModeRefused
from hub.store.reports import ReportStore, WindowError
from hub.web.context import ContextDep, HealthReader, MaintenanceActor
from hub.web.errors import ApiError


class MaintenanceWindowRequest(BaseModel):
    """A planned maintenance window: shown in reports and, by `reports.exclude_maintenance`, left out of uptime."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=100, description="Device id, or '*' for the whole site.")
    starts_at: AwareDatetime = Field(description="Start, ISO 8601 with offset; not in the past.")
    ends_at: AwareDatetime = Field(description="End, ISO 8601 with offset; after starts_at.")
    reason: str = Field(min_length=1, max_length=2000, description="What the planned work is.")
    test: bool = Field(
        default=False,
        description="Also put the window's devices on test (presses recorded, not sent to 110) while it runs. "
        "Default false: a button under maintenance still calls 110.",
    )


def maintenance_router(reports: ReportStore) -> APIRouter:
    """The maintenance-window routes, on the hub's report store (which keeps the windows)."""
    router = APIRouter()

    @router.post("/api/v1/maintenance-windows", status_code=201)
    def add_maintenance_window(
        body: MaintenanceWindowRequest, ctx: ContextDep, actor: MaintenanceActor
    ) -> dict[str, Any]:
        try:
            window = reports.add_window(body.subject, body.starts_at, body.ends_at, body.reason, actor, ctx.clock.now())
        except WindowError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from exc
        if not body.test:
            return window.as_json()
        if ctx.test_mode is None:
            raise ApiError(503, "test_mode_unavailable", "test mode is not running in this hub")
        try:
            test = ctx.test_mode.start(
                actor,
                devices=None if body.subject == "*" else [body.subject],
                site=body.subject == "*",
                starts_at=body.starts_at,
                until=body.ends_at,
                note=f"maintenance window {window.id}: {body.reason}",
                maintenance_window=window.id,
            )
        except TestModeRefused as exc:
            # The window must not stand without the test it was asked with: it is withdrawn, audited as ended.
            reports.end_window(window.id, actor, ctx.clock.now())
            raise ApiError(422, exc.code, f"{exc} (the maintenance window was not kept)") from exc
        return {**window.as_json(), "test_mode_id": test.id}

    @router.get("/api/v1/maintenance-windows")
    def maintenance_windows(
        actor: HealthReader,
        from_: Annotated[AwareDatetime | None, Query(alias="from", description="Windows ending after this.")] = None,
        to: Annotated[AwareDatetime | None, Query(description="Windows starting before this.")] = None,
    ) -> dict[str, Any]:
        return {"maintenance_windows": [w.as_json() for w in reports.list_windows(from_, to)]}

    @router.post("/api/v1/maintenance-windows/{window_id}/end")
    def end_maintenance_window(window_id: int, ctx: ContextDep, actor: MaintenanceActor) -> dict[str, Any]:
        """Cancel a window that has not started, or end a running one now; history is kept."""
        window = reports.end_window(window_id, actor, ctx.clock.now())
        if ctx.test_mode is not None:
            ctx.test_mode.end_for_maintenance(window_id, actor)  # its devices go back to calling 110 now
        ctx.feed.publish("maintenance_window_ended", {"window_id": window_id, "by": actor.name})
        return window.as_json()

    return router
