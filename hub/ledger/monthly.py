"""The monthly safety report (安全月报表) for the district bureau: one site-local month's alarms and incidents with
their report duties, faults and hazards opened / closed / overdue, inspections, drills and uptime; as JSON, and
flattened to CSV rows. Reads only; the route renders the printable HTML page from the same figures."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any

from alerts.duties import DutyPolicy, DutyStatus, DutyType, duty_status
from alerts.model import AlarmKind, Disposition
from hub.config.site import SiteConfig
from hub.core.clock import from_iso, to_iso
from hub.ledger.hazards import Severity
from hub.ledger.incidents import IncidentKind, incident_duties
from hub.ledger.inspection_store import InspectionStore
from hub.reports import PeriodError, resolve_period
from hub.store.db import has_table
from hub.store.reports import ReportStore

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")

DEFINITIONS = {
    "month": "the site-local calendar month (site.timezone); a record belongs to the month its time falls in there",
    "duties": "each alarm or incident raised in the month that carries the duties, judged at as_of: on_time (the "
    "earliest report of that type was made by its due time), late (made after it), overdue (not made and past due), "
    "pending (not made, not yet due), waived (an alarm closed as a drill, false alarm or fault, with no report)",
    "faults": "opened / recovered / closed in the month; overdue: the 24 h deadline fell in the month (and before "
    "as_of) and the fault was not recovered by it",
    "hazards": "registered / fixed (治理) / closed (销账) in the month; overdue: the target date ended in the month "
    "(and before as_of) and the hazard was not fixed by it; open_at_end: registered before the month's end and not "
    "closed by then",
    "drills": "held: drills (test mode of kind drill) that began in the month; alarms_closed_as_drill: real alarms "
    "raised in the month that the guard closed as a drill",
    "alarms": "alarms raised in the month; presses on test are not alarms and are left out",
    "inspections": "item checks of inspection plans in periods beginning in the month (a week in the month of its "
    "Monday) and begun by now: planned, done (ok or problem), missed (period over by now, not checked)",
    "uptime_pct": "the site's uptime report for the month up to as_of (see the uptime report's definitions)",
}


class MonthError(ValueError):
    """The month asked for cannot be reported on."""


def parse_month(text: str) -> date:
    """The first day of a `YYYY-MM` month."""
    found = _MONTH.match(text)
    if found is None:
        raise MonthError(f"month must be YYYY-MM, not {text!r}")
    return date(int(found[1]), int(found[2]), 1)


def month_bounds(site: SiteConfig, first: date) -> tuple[datetime, datetime]:
    """Start (inclusive) and end (exclusive) of a site-local month."""
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return site.day_bounds(first)[0], site.day_bounds(following)[0]


def _duty_tally(statuses: Iterable[list[DutyStatus]]) -> dict[str, dict[str, int]]:
    tally = {t.value: dict.fromkeys(("owed", "on_time", "late", "overdue", "pending", "waived"), 0) for t in DutyType}
    for duties in statuses:
        for status in duties:
            row = tally[status.type.value]
            if status.waived:
                row["waived"] += 1
                continue
            row["owed"] += 1
            if status.met_at is not None:
                row["late" if status.late else "on_time"] += 1
            else:
                row["overdue" if status.overdue else "pending"] += 1
    return tally


def _reports(conn: sqlite3.Connection, sql: str, args: tuple[Any, ...]) -> dict[Any, list[tuple[DutyType, datetime]]]:
    out: dict[Any, list[tuple[DutyType, datetime]]] = {}
    for owner, kind, at in conn.execute(sql, args).fetchall():
        out.setdefault(owner, []).append((DutyType(kind), from_iso(at)))
    return out


def _in(value: str | None, start: str, end: str) -> bool:
    return value is not None and start <= value < end


def monthly_report(
    conn: sqlite3.Connection,
    site: SiteConfig,
    policy: DutyPolicy,
    month: date,
    now: datetime,
    uptime: Callable[[datetime, datetime], float | None],
    inspections: Callable[[date, date, datetime], Mapping[str, int]] | None = None,
) -> dict[str, Any]:
    """The figures of one month. `uptime(start, as_of)` gives the site's uptime %; `inspections(first day, last
    day, now)` the item checks planned, done and missed (None: not recorded by this hub)."""
    start_at, end_at = month_bounds(site, month)
    if start_at >= now:
        raise MonthError(f"{month:%Y-%m} has not begun")
    as_of = min(end_at, now)
    start, end, cut = to_iso(start_at), to_iso(end_at), to_iso(as_of)

    # Presses on test (alarms.test) were never alarms: no duties, not counted here (their drills are, below).
    alarms = conn.execute(
        "SELECT id, kind, raised_at, disposition FROM alarms WHERE raised_at >= ? AND raised_at < ? AND test = 0",
        (start, end),
    ).fetchall()
    alarm_reports = _reports(
        conn,
        "SELECT r.alarm_id, r.type, r.at FROM alarm_reports r JOIN alarms a ON a.id = r.alarm_id"
        " WHERE a.raised_at >= ? AND a.raised_at < ? AND a.test = 0",
        (start, end),
    )
    drills_held = 0
    if has_table(conn, "test_windows"):
        # A drill (test mode's kind drill) that began in the month and was not ended before it began.
        drills_held = conn.execute(
            "SELECT COUNT(*) FROM test_windows WHERE kind = 'drill' AND starts_at >= ? AND starts_at < ?"
            " AND starts_at < ? AND (ended_at IS NULL OR ended_at > starts_at)",
            (start, end, to_iso(now)),
        ).fetchone()[0]
    alarm_duties = [
        duty_status(
            kind, from_iso(raised), Disposition(disp) if disp else None, alarm_reports.get(aid, []), policy, now
        )
        for aid, kind, raised, disp in alarms
    ]
    dispositions = Counter(d or "open" for _, _, _, d in alarms)

    incidents = conn.execute(
        "SELECT id, kind, occurred_at, police_called FROM incidents WHERE occurred_at >= ? AND occurred_at < ?",
        (start, end),
    ).fetchall()
    incident_reports = _reports(
        conn,
        "SELECT r.incident_id, r.type, r.at FROM incident_reports r JOIN incidents i ON i.id = r.incident_id"
        " WHERE i.occurred_at >= ? AND i.occurred_at < ?",
        (start, end),
    )
    incident_statuses = [
        incident_duties(from_iso(occurred), incident_reports.get(iid, []), policy, now)
        for iid, _, occurred, _ in incidents
    ]

    faults = {"opened": 0, "recovered": 0, "closed": 0, "overdue": 0}
    if has_table(conn, "faults"):
        for opened, due, recovered, closed in conn.execute(
            "SELECT opened_at, due_at, recovered_at, closed_at FROM faults"
            " WHERE (opened_at >= ? AND opened_at < ?) OR (due_at >= ? AND due_at < ?)"
            " OR (recovered_at >= ? AND recovered_at < ?) OR (closed_at >= ? AND closed_at < ?)",
            (start, end) * 4,
        ).fetchall():
            faults["opened"] += _in(opened, start, end)
            faults["recovered"] += _in(recovered, start, end)
            faults["closed"] += _in(closed, start, end)
            faults["overdue"] += _in(due, start, cut) and (recovered is None or recovered > due)

    hazards: dict[str, Any] = {"opened": 0, "fixed": 0, "closed": 0, "overdue": 0, "open_at_end": 0}
    severities: Counter[str] = Counter()
    for registered, fixed, closed, due, severity in conn.execute(
        "SELECT registered_at, fixed_at, closed_at, due, severity FROM hazards WHERE registered_at < ?", (end,)
    ).fetchall():
        if _in(registered, start, end):
            hazards["opened"] += 1
            severities[severity or "unassessed"] += 1
        hazards["fixed"] += _in(fixed, start, end)
        hazards["closed"] += _in(closed, start, end)
        hazards["open_at_end"] += closed is None or closed >= end
        if due:
            deadline = to_iso(site.day_bounds(date.fromisoformat(due))[1])
            hazards["overdue"] += _in(deadline, start, cut) and (fixed is None or fixed >= deadline)
    hazards["by_severity"] = {s: severities[s] for s in [*(v.value for v in Severity), "unassessed"]}

    return {
        "site": {"id": site.id, "name": site.name},
        "month": f"{month:%Y-%m}",
        "period": {"from": start, "to": end, "as_of": cut, "timezone": site.timezone},
        "alarms": {
            "total": len(alarms),
            "by_kind": {k.value: sum(1 for a in alarms if a[1] == k.value) for k in AlarmKind},
            "by_disposition": {d: dispositions[d] for d in [*(v.value for v in Disposition), "open"]},
            "duties": _duty_tally(alarm_duties),
        },
        "incidents": {
            "total": len(incidents),
            "by_kind": {k.value: sum(1 for i in incidents if i[1] == k.value) for k in IncidentKind},
            "police_called": sum(1 for i in incidents if i[3]),
            "duties": _duty_tally(incident_statuses),
        },
        "faults": faults,
        "hazards": hazards,
        "inspections": (
            # Judged now, like the duties: a week that began in the month may end after it.
            dict(inspections(month, site.local_date(end_at - timedelta(microseconds=1)), now))
            if inspections
            else {"planned": None, "done": None, "missed": None}
        ),
        "drills": {"held": drills_held, "alarms_closed_as_drill": dispositions[Disposition.DRILL.value]},
        "uptime_pct": uptime(start_at, as_of),
        "definitions": DEFINITIONS,
    }


def site_monthly_report(
    conn: sqlite3.Connection,
    site: SiteConfig,
    policy: DutyPolicy,
    month: date,
    now: datetime,
    reports: ReportStore,
    inspections: InspectionStore,
) -> dict[str, Any]:
    """The month's report as the route and the bureau's monthly POST both give it: uptime from the uptime report,
    inspections from the ledger's plans."""

    def uptime(start: datetime, as_of: datetime) -> float | None:
        try:
            period = resolve_period(start, as_of, now)
        except PeriodError:
            return None  # less than a minute of the month has passed: nothing to count yet
        _, body = reports.report(period, "site", "json")
        value = json.loads(body)["summary"]["uptime_pct"]
        return None if value is None else float(value)

    return monthly_report(conn, site, policy, month, now, uptime, inspections.month_figures)


def flatten(report: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """The report's figures as (dotted name, value) pairs, definitions left out."""
    rows: list[tuple[str, Any]] = []
    for key, value in report.items():
        if key == "definitions":
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            rows += flatten(value, f"{name}.")
        else:
            rows.append((name, value))
    return rows


def monthly_csv(report: Mapping[str, Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["figure", "value"])
    writer.writerows((name, "" if value is None else value) for name, value in flatten(report))
    return ("\ufeff" + out.getvalue()).encode("utf-8")
