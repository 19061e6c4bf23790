"""The monthly safety report route (安全月报表): one site-local month's figures for the bureau and maintenance, as
JSON, CSV or a printable HTML page."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from hub.core.clock import from_iso
from hub.ledger.inspection_store import InspectionStore
from hub.ledger.monthly import MonthError, monthly_csv, monthly_report, parse_month
from hub.reports import PeriodError, resolve_period
from hub.store.reports import ReportStore
from hub.web.context import ContextDep, ReportReader
from hub.web.errors import ApiError
from hub.web.i18n import catalogue, pick_lang


def monthly_router(reports: ReportStore, inspections: InspectionStore) -> APIRouter:
    router = APIRouter()

    @router.get("/api/v1/reports/monthly", response_model=None)
    def monthly(
        request: Request,
        ctx: ContextDep,
        actor: ReportReader,
        month: Annotated[str, Query(description="YYYY-MM, a site-local month.")],
        fmt: Annotated[Literal["json", "csv", "html"], Query(alias="format", description="json, csv, html.")] = "json",
    ) -> Response:
        now = ctx.clock.now()

        def uptime(start: datetime, as_of: datetime) -> float | None:
            try:
                period = resolve_period(start, as_of, now)
            except PeriodError:
                return None  # less than a minute of the month has passed: nothing to count yet
            _, body = reports.report(period, "site", "json")
            value = json.loads(body)["summary"]["uptime_pct"]
            return None if value is None else float(value)

        def rounds(first: date, last: date, at: datetime) -> dict[str, int]:
            return inspections.month_figures(first, last, at)

        try:
            report = monthly_report(
                ctx.store.connection(), ctx.config.site, ctx.duties, parse_month(month), now, uptime, rounds
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
