"""Report routes for the bureau and maintenance: the uptime report (JSON or CSV, with an ETag so a poll that finds
nothing new builds nothing) and the daily figures behind the console's reports chart.

Periods are given as ISO 8601 times with an offset or as dates; a date is a day in the site's zone
(`site.timezone`), and the daily figures are cut at the site's midnight, never UTC's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hub.core.clock import from_iso, to_iso
from hub.reports import Format, Group, Period, PeriodError, etag_matches, resolve_period
from hub.reports.model import period_bound, site_days
from hub.store.reports import ReportStore, config_digest, read_report, registry
from hub.web.context import ApiContext, ContextDep, ReportReader
from hub.web.errors import ApiError

MAX_DAILY_DAYS = 92


FROM_HELP = "ISO 8601 with offset, or a date (YYYY-MM-DD: 00:00 of that day, site time); default: to - 30 days."
TO_HELP = "ISO 8601 with offset, or a date (YYYY-MM-DD: that day included, site time); default: now."


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
    zone = context.config.site.tz()
    router = APIRouter()

    def period_of(start: str | None, end: str | None, now: datetime) -> Period:
        try:
            return resolve_period(
                period_bound(start, zone, end=False) if start is not None else None,
                period_bound(end, zone, end=True) if end is not None else None,
                now,
            )
        except PeriodError as exc:
            raise ApiError(422, "invalid_request", str(exc)) from exc

    @router.get("/api/v1/reports/uptime", response_model=None)
    def uptime_report(
        request: Request,
        ctx: ContextDep,
        actor: ReportReader,
        from_: Annotated[str | None, Query(alias="from", description=FROM_HELP)] = None,
        to: Annotated[str | None, Query(description=TO_HELP)] = None,
        group: Annotated[Group, Query(description="One row per device, kind, or the site.")] = "device",
        fmt: Annotated[Format, Query(alias="format", description="json or csv.")] = "json",
    ) -> Response:
        period = period_of(from_, to, ctx.clock.now())
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

    def daily_figures(start: str | None, end: str | None) -> dict[str, Any]:
        now = context.clock.now()  # one now for the period and each of its days
        period = period_of(start, end, now)
        days = site_days(period.start, period.as_of, zone)
        if len(days) > MAX_DAILY_DAYS:
            raise ApiError(422, "invalid_request", f"daily figures cover at most {MAX_DAILY_DAYS} days")
        conn = context.store.connection()
        rows = []
        spans = [(a, b) for _, a, b in days]
        faults = open_faults_per_day(context.health_store.list_faults(None), spans)
        for (day, day_start, day_end), open_faults in zip(days, faults, strict=True):
            _, _, report = read_report(
                conn, context.config, resolve_period(day_start, day_end, now), "site", "json", devices, digest
            )
            rows.append(
                {
                    "day": day.isoformat(),
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
        from_: Annotated[str | None, Query(alias="from", description=FROM_HELP)] = None,
        to: Annotated[str | None, Query(description=TO_HELP)] = None,
    ) -> dict[str, Any]:
        """Site uptime % and open faults for each day of the period in the site's zone (the reports chart)."""
        return await run_in_threadpool(daily_figures, from_, to)

    return router
