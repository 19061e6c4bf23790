"""Report routes for the bureau and maintenance: the uptime report (JSON or CSV, with an ETag so a poll that finds
nothing new builds nothing)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime

from hub.reports import Format, Group, PeriodError, etag_matches, resolve_period
from hub.store.reports import ReportStore
from hub.web.context import ApiContext, ContextDep, ReportReader
from hub.web.errors import ApiError


def reports_router(context: ApiContext, reports: ReportStore) -> APIRouter:
    """The report routes of one hub."""
    router = APIRouter()

    @router.get("/api/v1/reports/uptime", response_model=None)
    def uptime_report(
        request: Request,
        ctx: ContextDep,
        actor: ReportReader,
        from_: Annotated[
            AwareDatetime | None, Query(alias="from", description="ISO 8601 with offset; default: to - 30 days.")
        ] = None,
        to: Annotated[AwareDatetime | None, Query(description="ISO 8601 with offset; default: now.")] = None,
        group: Annotated[Group, Query(description="One row per device, kind, or the site.")] = "device",
        fmt: Annotated[Format, Query(alias="format", description="json or csv.")] = "json",
    ) -> Response:
        try:
            period = resolve_period(from_, to, ctx.clock.now())
        except PeriodError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from exc
        # The ETag needs only a few index look-ups, so a poll that finds nothing new builds nothing.
        etag = reports.etag(period, group, fmt)
        headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
        if etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        headers["ETag"], body = reports.report(period, group, fmt)
        if fmt == "json":
            return Response(body, media_type="application/json", headers=headers)
        span = f"{period.start:%Y%m%dT%H%MZ}-{period.end:%Y%m%dT%H%MZ}"
        headers["Content-Disposition"] = f'attachment; filename="uptime-{ctx.config.site.id}-{group}-{span}.csv"'
        return Response(body, media_type="text/csv; charset=utf-8", headers=headers)

    return router
