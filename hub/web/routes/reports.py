"""Report routes for the bureau and maintenance: the uptime report (JSON or CSV, with an ETag so a poll that finds
nothing new builds nothing) and the daily figures behind the console's reports chart."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool

from hub.core.clock import from_iso, to_iso
from hub.reports import Format, Group, PeriodError, etag_matches, resolve_period
from hub.store.reports import ReportStore, config_digest, read_report, registry
from hub.web.context import ApiContext, ContextDep, ReportReader
from hub.web.errors import ApiError

MAX_DAILY_DAYS = 92


def utc_days(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The UTC calendar days that `start`..`end` touches, each clipped to the period."""
    days = []
    day = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end:
        following = day + timedelta(days=1)
        days.append((max(day, start), min(following, end)))
        day = following
    return days


def open_faults_per_day(faults: Iterable[Mapping[str, Any]], days: Sequence[tuple[datetime, datetime]]) -> list[int]:
    """How many faults were open (not yet recovered) at some time during each day."""
    spans = []
    for fault in faults:
        ended = fault.get("recovered_at") or fault.get("closed_at")
        spans.append((from_iso(fault["opened_at"]), from_iso(ended) if ended else None))
    return [
        sum(1 for opened, ended in spans if opened < end and (ended is None or ended > start)) for start, end in days
    ]


def reports_router(context: ApiContext, reports: ReportStore) -> APIRouter:
    """The report routes of one hub; the device registry and config digest are derived from its config once."""
    devices, digest = registry(context.config), config_digest(context.config)
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

    def daily_figures(start: datetime | None, end: datetime | None) -> dict[str, Any]:
        now = context.clock.now()  # one now for the period and each of its days
        try:
            period = resolve_period(start, end, now)
        except PeriodError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from exc
        days = utc_days(period.start, period.as_of)
        if len(days) > MAX_DAILY_DAYS:
            raise ApiError(422, "invalid_request", f"daily figures cover at most {MAX_DAILY_DAYS} days")
        conn = context.store.connection()
        rows = []
        faults = open_faults_per_day(context.health_store.list_faults(None), days)
        for (day_start, day_end), open_faults in zip(days, faults, strict=True):
            day = resolve_period(day_start, day_end, now)
            _, _, report = read_report(conn, context.config, day, "site", "json", devices, digest)
            rows.append(
                {
                    "day": day_start.date().isoformat(),
                    "from": to_iso(day_start),
                    "to": to_iso(day_end),
                    "uptime_pct": report["summary"]["uptime_pct"],
                    "open_faults": open_faults,
                }
            )
        return {"period": period.as_json(), "days": rows}

    @router.get("/api/v1/reports/daily")
    async def daily(
        actor: ReportReader,
        from_: Annotated[AwareDatetime | None, Query(alias="from", description="Default: to - 30 days.")] = None,
        to: Annotated[AwareDatetime | None, Query(description="Default: now.")] = None,
    ) -> dict[str, Any]:
        """Site uptime % and open faults for each UTC day of the period (the reports chart)."""
        return await run_in_threadpool(daily_figures, from_, to)

    return router
