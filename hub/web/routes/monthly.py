"""The monthly safety report routes (安全月报表): one site-local month's figures for the bureau and maintenance, as
JSON, CSV or a printable HTML page; and how each month's report is getting to the bureau's endpoint."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from hub.core.clock import from_iso
from hub.core.redact import redact_url
from hub.ledger.inspection_store import InspectionStore
from hub.ledger.monthly import MonthError, monthly_csv, parse_month, site_monthly_report
from hub.ledger.monthly_outbox import MonthlyOutbox
from hub.store.reports import ReportStore
from hub.web.context import AdminActor, ContextDep, ReportReader
from hub.web.errors import ApiError
from hub.web.i18n import catalogue, pick_lang


def monthly_router(reports: ReportStore, inspections: InspectionStore, posts: MonthlyOutbox) -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/reports/monthly/deliveries")
    def deliveries(ctx: ContextDep, actor: ReportReader) -> dict[str, Any]:
        """The monthly POST's settings and the latest months' deliveries (state, attempts, next retry, receipt)."""
        settings = ctx.config.reports.monthly_delivery
        return {
            "enabled": settings is not None,
            "url": None if settings is None else redact_url(str(settings.url)),
            "day_of_month": None if settings is None else settings.day_of_month,
            "hour": None if settings is None else settings.hour,
            "timezone": ctx.config.site.timezone,
            "deliveries": [_shown(d) for d in posts.latest()],
        }

    @router.get("/api/v1/reports/monthly/deliveries/{month}")
    def delivery(month: str, actor: ReportReader) -> dict[str, Any]:
        """One month's delivery with every attempt."""
        return _shown(posts.get(_month(month)))

    @router.post("/api/v1/reports/monthly/deliveries/{month}/retry")
    def retry(month: str, ctx: ContextDep, actor: AdminActor) -> dict[str, Any]:
        """Send a month the bureau refused (4xx) again, once its side is fixed; audited naming the admin."""
        posts.retry(_month(month), actor, ctx.clock.now())
        return _shown(posts.get(month))

    @router.get("/api/v1/reports/monthly", response_model=None)
    def monthly(
        request: Request,
        ctx: ContextDep,
        actor: ReportReader,
        month: Annotated[str, Query(description="YYYY-MM, a site-local month.")],
        fmt: Annotated[Literal["json", "csv", "html"], Query(alias="format", description="json, csv, html.")] = "json",
    ) -> Response:
        now = ctx.clock.now()
        try:
            report = site_monthly_report(
                ctx.store.connection(), ctx.config.site, ctx.duties, parse_month(month), now, reports, inspections
            )
        except MonthError as exc:
            raise ApiError(422, "invalid_month", str(exc)) from exc
        name = f"safety-{ctx.config.site.id}-{report['month']}"
        if fmt == "json":
            return Response(json.dumps(report, ensure_ascii=False), media_type="application/json")
        if fmt == "csv":
            headers = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
            return Response(monthly_csv(report), media_type="text/csv; charset=utf-8", headers=headers)
        lang = pick_lang(request.query_params.get("lang"), request.cookies.get("lang"))
        console = request.app.state.console
        templates = console.templates
        zone = ctx.config.site.tz()
        html = templates.get_template("ledger_monthly.html").render(
            t=catalogue(lang, console.figures),  # the config's recovery rule in the figures' names
            lang=lang,
            report=report,
            tables=_tables(report),
            # Shown in the school's time, like every time people read.
            as_of=from_iso(report["period"]["as_of"]).astimezone(zone).strftime("%Y-%m-%d %H:%M"),
            generated=now.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        )
        return HTMLResponse(html, headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})

    return router


def _month(text: str) -> str:
    try:
        return f"{parse_month(text):%Y-%m}"
    except MonthError as exc:
        raise ApiError(422, "invalid_month", str(exc)) from exc


def _shown(delivery: dict[str, Any]) -> dict[str, Any]:
    # A URL's credentials (user:password@) are never shown, whoever reads the status.
    return {**delivery, "url": redact_url(delivery["url"])}


def _tables(report: dict[str, Any]) -> list[tuple[str, list[tuple[str, Any]]]]:
    """The page's sections: (message key of the heading, [(message key of the row, value)])."""

    def duties(section: str) -> list[tuple[str, Any]]:
        rows: list[tuple[str, Any]] = []
        for duty, tally in report[section]["duties"].items():
            rows += [(f"monthly_duty_{duty}_{k}", v) for k, v in tally.items()]
        return rows

    alarms, incidents = report["alarms"], report["incidents"]
    return [
        (
            "monthly_alarms",
            [("monthly_total", alarms["total"])]
            + [(f"alarm_kind_{k}", v) for k, v in alarms["by_kind"].items()]
            + [(f"disposition_{k}", v) for k, v in alarms["by_disposition"].items()]
            + duties("alarms"),
        ),
        (
            "monthly_incidents",
            [("monthly_total", incidents["total"]), ("monthly_police_called", incidents["police_called"])]
            + [(f"incident_kind_{k}", v) for k, v in incidents["by_kind"].items()]
            + duties("incidents"),
        ),
        ("monthly_faults", [(f"monthly_fault_{k}", v) for k, v in report["faults"].items()]),
        (
            "monthly_hazards",
            [(f"monthly_hazard_{k}", v) for k, v in report["hazards"].items() if k != "by_severity"]
            + [(f"severity_{k}", v) for k, v in report["hazards"]["by_severity"].items()],
        ),
        (
            "monthly_other",
            [(f"monthly_inspections_{k}", v) for k, v in report["inspections"].items()]
            + [(f"monthly_drills_{k}", v) for k, v in report["drills"].items()]
            + [("monthly_uptime", report["uptime_pct"])],
        ),
    ]
