"""The monthly safety report for a generated month (March 2026, Asia/Shanghai) of alarms, incidents, faults,
hazards and device states, against counts worked out by hand from the records below; records just outside the
month on either side (in site time, though inside it in UTC, or the reverse) must not count. Then the same report
over the API as JSON, CSV and a printable HTML page, and who may read it."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from alerts.duties import DutyType
from alerts.model import AlarmKind
from hub.app import Hub
from hub.core.clock import ManualClock, to_iso
from hub.devtools.broker import Mosquitto
from hub.health.faults import FaultAction, FaultKind
from hub.ledger.hazards import HazardSource, HazardStep, Severity
from hub.ledger.incidents import IncidentKind
from hub.ledger.inspection_store import InspectionStore
from hub.ledger.inspections import CheckResult, Frequency
from hub.ledger.store import LedgerStore, StepInput
from hub.store import Actor
from tests.conftest import HubFactory
from tests.ledger.people import ledger_config, person

NOW = datetime(2026, 4, 3, 2, 0, tzinfo=UTC)
WANG = Actor("wang-fang", "admin")
ZHAO = Actor("zhao-gang", "guard")


def z(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _alarm(
    hub: Hub, kind: str, raised: str, disposition: str | None, reports: dict[str, int], *, test: bool = False
) -> None:
    """An alarm raised at `raised` (UTC), closed with `disposition`, with reports `minutes` after it was raised."""
    at = z(raised)
    alarm_id = str(uuid.uuid4())
    with hub.store.write() as conn:
        conn.execute(
            "INSERT INTO alarms (id, device_id, kind, priority, state, reason, detail, device, occurred_at, raised_at,"
            " last_trigger_at, disposition, test) VALUES (?, 'btn-1', ?, 1, ?, 'test', '{}', '{}', ?, ?, ?, ?, ?)",
            (
                alarm_id,
                kind,
                "closed" if disposition or test else "open",
                to_iso(at),
                to_iso(at),
                to_iso(at),
                disposition,
                int(test),
            ),
        )
        for duty, minutes in reports.items():
            conn.execute(
                "INSERT INTO alarm_reports (alarm_id, type, at, by, note, recorded_at, recorded_by)"
                " VALUES (?, ?, ?, 'x', '', ?, 'x')",
                (alarm_id, duty, to_iso(at + timedelta(minutes=minutes)), to_iso(at)),
            )


def _incident(ledger: LedgerStore, kind: IncidentKind, occurred: str, police: bool, reports: dict[str, int]) -> None:
    at = z(occurred)
    iid = ledger.record_incident(
        ZHAO, at, kind=kind, place="x", occurred_at=at, summary="x", people="", police_called=police
    )
    for duty, minutes in reports.items():
        ledger.add_incident_report(iid, ZHAO, at, DutyType(duty), at + timedelta(minutes=minutes), "zhao-gang", "")


def _fault(hub: Hub, subject: str, opened: str, steps: list[tuple[FaultAction, str]]) -> None:
    fault_id = hub.health_store.open_manual(subject, FaultKind.INSPECTION, "x", WANG, z(opened))
    for action, at in steps:
        hub.health_store.act(fault_id, action, WANG, z(at), "", None)


def _hazard(
    ledger: LedgerStore,
    registered: str,
    severity: Severity | None,
    due: str | None,
    steps: list[tuple[HazardStep, str]],
) -> None:
    hid = ledger.register_hazard(
        WANG, z(registered), place="x", category="x", summary="x", source=HazardSource.PERSON, found_by="wang-fang"
    )
    if severity is not None and due is not None:
        given = StepInput("", severity, date.fromisoformat(due))
        ledger.step_hazard(hid, HazardStep.ASSESS, WANG, z(registered), given)
    for step, at in steps:
        measures = "围挡" if step is HazardStep.MONITOR else None
        ledger.step_hazard(hid, step, Actor("li-na", "maintenance"), z(at), StepInput("", measures=measures))


def generate_march(hub: Hub) -> None:
    ledger: LedgerStore = hub.api.state.ledger
    # Alarms. March in Asia/Shanghai is 2026-02-28T16:00Z .. 2026-03-31T16:00Z.
    _alarm(hub, "panic", "2026-02-28T16:30", "real", {"phone": 10, "written": 70})  # A1: in (1 Mar 00:30)
    _alarm(hub, "panic", "2026-02-28T15:50", "real", {})  # A2: out (28 Feb 23:50)
    _alarm(hub, "fire", "2026-03-10T02:00", "drill", {})  # A3
    _alarm(hub, "fire", "2026-03-15T02:00", "drill", {"phone": 5})  # A4
    _alarm(hub, "heat", "2026-03-20T02:00", "false_alarm", {})  # A5
    _alarm(hub, "panic", "2026-03-31T15:00", None, {})  # A6: in (31 Mar 23:00), still open
    _alarm(hub, "panic", "2026-03-31T16:10", "real", {})  # A7: out (1 Apr 00:10)
    _alarm(hub, "panic", "2026-03-05T02:00", "real", {"phone": 40, "written": 50})  # A8
    _alarm(hub, "panic", "2026-03-12T02:00", None, {}, test=True)  # A9: a press on test, never an alarm
    # Drills (test mode of kind drill): one in March, one in February, one in March ended before it began.
    with hub.store.write() as conn:
        conn.executemany(
            "INSERT INTO test_windows (id, kind, devices, note, starts_at, until, created_at, created_by, ended_at)"
            " VALUES (?, ?, NULL, 'x', ?, ?, ?, 'wang-fang', ?)",
            [
                (
                    "d1",
                    "drill",
                    "2026-03-12T01:00:00.000000+00:00",
                    "2026-03-12T03:00:00.000000+00:00",
                    "2026-03-11T00:00:00.000000+00:00",
                    None,
                ),
                (
                    "d2",
                    "drill",
                    "2026-02-12T01:00:00.000000+00:00",
                    "2026-02-12T03:00:00.000000+00:00",
                    "2026-02-11T00:00:00.000000+00:00",
                    None,
                ),
                (
                    "d3",
                    "drill",
                    "2026-03-20T01:00:00.000000+00:00",
                    "2026-03-20T03:00:00.000000+00:00",
                    "2026-03-19T00:00:00.000000+00:00",
                    "2026-03-19T05:00:00.000000+00:00",
                ),
                (
                    "t1",
                    "test",
                    "2026-03-22T01:00:00.000000+00:00",
                    "2026-03-22T03:00:00.000000+00:00",
                    "2026-03-21T00:00:00.000000+00:00",
                    None,
                ),
            ],
        )
    # Incidents.
    _incident(ledger, IncidentKind.INJURY, "2026-03-03T01:00", False, {"phone": 20, "written": 45})  # I1
    _incident(ledger, IncidentKind.FIGHT, "2026-03-12T06:00", True, {"phone": 35})  # I2
    _incident(ledger, IncidentKind.TRESPASSER, "2026-02-28T15:00", False, {})  # I3: out
    _incident(ledger, IncidentKind.MISSING_PUPIL, "2026-03-31T15:59", True, {})  # I4: in (31 Mar 23:59)
    # Faults (24 h to recover).
    verify_close = [(FaultAction.VERIFY, "2026-03-03T00:00"), (FaultAction.CLOSE, "2026-03-03T00:00")]
    _fault(hub, "btn-1", "2026-03-02T00:00", [(FaultAction.RECOVER, "2026-03-02T10:00"), *verify_close])  # F1
    _fault(hub, "btn-2", "2026-03-30T12:00", [(FaultAction.RECOVER, "2026-04-01T00:00")])  # F2: due 31 Mar, late
    _fault(
        hub,
        "smoke-1",
        "2026-02-27T00:00",
        [(FaultAction.RECOVER, "2026-03-01T00:00"), (FaultAction.VERIFY, "2026-03-02T00:00")]
        + [(FaultAction.CLOSE, "2026-03-02T00:00")],
    )  # F3: opened and due in February, recovered and closed in March
    _fault(hub, "temp-1", "2026-03-31T10:00", [])  # F4: due 1 Apr, still open
    # Hazards.
    fixed_now = [(HazardStep.FIX, "2026-03-04T02:00"), (HazardStep.ACCEPT, "2026-03-04T03:00")]
    _hazard(
        ledger, "2026-03-03T02:00", Severity.GENERAL, "2026-03-05", [*fixed_now, (HazardStep.CLOSE, "2026-03-04T04:00")]
    )
    walk = [(HazardStep.REPORT, "2026-03-10T03:00"), (HazardStep.MONITOR, "2026-03-10T04:00")]
    _hazard(
        ledger, "2026-03-10T02:00", Severity.MAJOR, "2026-03-20", [*walk, (HazardStep.FIX, "2026-03-25T02:00")]
    )  # H2
    feb = [(HazardStep.REPORT, "2026-02-20T03:00"), (HazardStep.MONITOR, "2026-02-20T04:00")]
    feb_done = [(HazardStep.FIX, "2026-03-01T02:00"), (HazardStep.ACCEPT, "2026-03-02T01:00")]
    _hazard(
        ledger,
        "2026-02-20T02:00",
        Severity.SERIOUS,
        "2026-02-25",
        [*feb, *feb_done, (HazardStep.CLOSE, "2026-03-02T02:00")],
    )  # H3
    _hazard(ledger, "2026-03-31T15:30", None, None, [])  # H4: in (31 Mar 23:30), not yet assessed
    _hazard(ledger, "2026-03-31T16:30", None, None, [])  # H5: out (1 Apr 00:30)
    _hazard(ledger, "2026-03-15T02:00", Severity.SERIOUS, "2026-03-28", walk)  # H6: never fixed
    # Inspections: a monthly plan of 3 items made in February, and a daily patrol of 2 points from 30 March on.
    inspections: InspectionStore = hub.api.state.inspections
    items = [{"id": f"i{n}", "what": "x", "where": "x"} for n in range(3)]
    monthly = inspections.create_plan(
        WANG, z("2026-02-20T02:00"), name="m", category="x", frequency=Frequency.MONTHLY, items=items
    )
    daily = inspections.create_plan(
        WANG, z("2026-03-30T00:00"), name="d", category="x", frequency=Frequency.DAILY, items=items[:2]
    )
    for plan, item, period, at in [
        (monthly, "i0", "2026-02", "2026-02-21T02:00"),  # February's round: not March's
        (monthly, "i0", "2026-03", "2026-03-05T02:00"),
        (monthly, "i1", "2026-03", "2026-03-06T02:00"),  # March: i2 missed
        (monthly, "i2", "2026-04", "2026-04-01T02:00"),  # April's
        (daily, "i0", "2026-03-30", "2026-03-30T02:00"),
        (daily, "i1", "2026-03-30", "2026-03-30T03:00"),
        (daily, "i0", "2026-03-31", "2026-03-31T02:00"),  # 31 March: i1 missed
    ]:
        inspections.record_check(plan, item, period, ZHAO, z(at), CheckResult.OK, "")
    # Device states: btn-1 online all month but for 11 March (site time); the other devices never reported.
    with hub.store.write() as conn:
        conn.executemany(
            "INSERT INTO state_transitions (device_id, from_state, to_state, at, reason)"
            " VALUES ('btn-1', ?, ?, ?, 't')",
            [
                ("unknown", "online", "2026-02-28T16:00:00.000000+00:00"),
                ("online", "offline", "2026-03-10T16:00:00.000000+00:00"),
                ("offline", "online", "2026-03-11T16:00:00.000000+00:00"),
            ],
        )


def duties(owed: int, on_time: int, late: int, overdue: int, pending: int, waived: int) -> dict[str, int]:
    return {"owed": owed, "on_time": on_time, "late": late, "overdue": overdue, "pending": pending, "waived": waived}


# Worked out by hand from the records above (the comments there name each one).
EXPECTED = {
    "alarms": {
        "total": 6,  # A1 A3 A4 A5 A6 A8
        "by_kind": {**{k.value: 0 for k in AlarmKind}, "panic": 3, "fire": 2, "heat": 1},
        "by_disposition": {"real": 2, "drill": 2, "false_alarm": 1, "fault": 0, "open": 1},
        "duties": {
            # phone: A1 on time, A4 on time (a drill that was reported anyway), A8 late, A6 overdue; A3 A5 waived.
            "phone": duties(owed=4, on_time=2, late=1, overdue=1, pending=0, waived=2),
            # written: A8 on time, A1 late, A6 overdue; A3 A4 A5 waived.
            "written": duties(owed=3, on_time=1, late=1, overdue=1, pending=0, waived=3),
        },
    },
    "incidents": {
        "total": 3,  # I1 I2 I4
        "by_kind": {"injury": 1, "fight": 1, "missing_pupil": 1, "trespasser": 0, "other": 0},
        "police_called": 2,
        "duties": {
            "phone": duties(owed=3, on_time=1, late=1, overdue=1, pending=0, waived=0),  # I1, I2, I4
            "written": duties(owed=3, on_time=1, late=0, overdue=2, pending=0, waived=0),  # I1, I2 I4
        },
    },
    # opened F1 F2 F4; recovered F1 F3; closed F1 F3; overdue F2 (F3's deadline was in February).
    "faults": {"opened": 3, "recovered": 2, "closed": 2, "overdue": 1},
    # opened H1 H2 H4 H6; fixed H1 H2 H3; closed H1 H3; overdue H2 (fixed late) H6 (never); open at end H2 H4 H6.
    "hazards": {
        "opened": 4,
        "fixed": 3,
        "closed": 2,
        "overdue": 2,
        "open_at_end": 3,
        "by_severity": {"general": 1, "serious": 1, "major": 1, "unassessed": 1},
    },
    "drills": {"held": 1, "alarms_closed_as_drill": 2},  # d1 (d2 is February's, d3 was called off, t1 a test); A3 A4
    # monthly plan: 3 planned, 2 done, 1 missed; daily patrol on 30 and 31 March: 4 planned, 3 done, 1 missed.
    "inspections": {"planned": 7, "done": 5, "missed": 2},
    "uptime_pct": round(100 * 30 / 31, 3),  # btn-1 offline one day of 31; the others never monitored
}


def test_the_monthly_report_matches_the_hand_count(tmp_path: Path, broker: Mosquitto, start_hub: HubFactory) -> None:
    hub = start_hub(ledger_config(tmp_path, broker.port), api=True, clock=ManualClock(NOW))
    generate_march(hub)
    with person(hub, "sun-li") as bureau:
        answer = bureau.get("/api/v1/reports/monthly", params={"month": "2026-03"})
        assert answer.status_code == 200, answer.text
        report = answer.json()
        assert report["period"] == {
            "from": "2026-02-28T16:00:00.000000+00:00",
            "to": "2026-03-31T16:00:00.000000+00:00",
            "as_of": "2026-03-31T16:00:00.000000+00:00",
            "timezone": "Asia/Shanghai",
        }
        for figure, expected in EXPECTED.items():
            assert report[figure] == expected, figure

        exported = bureau.get("/api/v1/reports/monthly", params={"month": "2026-03", "format": "csv"})
        assert exported.headers["content-type"].startswith("text/csv")
        rows = dict(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
        assert rows["figure"] == "value"
        assert rows["alarms.duties.phone.late"] == "1"
        assert rows["hazards.by_severity.major"] == "1"
        assert rows["faults.overdue"] == "1"
        assert rows["uptime_pct"] == str(EXPECTED["uptime_pct"])
        assert rows["inspections.missed"] == "2"

        page = bureau.get("/api/v1/reports/monthly", params={"month": "2026-03", "format": "html"})
        assert page.headers["content-type"].startswith("text/html")
        assert "安全月报表" in page.text
        assert "超过24小时未修复" in page.text  # the configured recovery rule (24 h by default)
        assert "统计截至：2026-04-01 00:00" in page.text  # the month's end in the school's time
        assert "制表时间：2026-04-03 10:00" in page.text
        assert '<tr data-figure="monthly_hazard_overdue"><td>逾期未治理</td><td class="value">2</td></tr>' in page.text
        english = bureau.get("/api/v1/reports/monthly", params={"month": "2026-03", "format": "html", "lang": "en"})
        assert "Monthly safety report" in english.text

        # April has begun (it is 3 April): counted up to now; May has not.
        april = bureau.get("/api/v1/reports/monthly", params={"month": "2026-04"}).json()
        assert april["period"]["as_of"] == to_iso(NOW)
        assert (april["alarms"]["total"], april["hazards"]["opened"], april["faults"]["opened"]) == (1, 1, 0)
        assert april["hazards"]["open_at_end"] == 4  # H2 H4 H6 and H5
        # April so far: the monthly plan's round (1 of 3 done, none missed yet), the patrol's days 1-3 (6 planned,
        # none done; 1 and 2 April missed, 3 April still due).
        assert april["inspections"] == {"planned": 9, "done": 1, "missed": 4}
        future = bureau.get("/api/v1/reports/monthly", params={"month": "2026-05"})
        assert (future.status_code, future.json()["error"]["code"]) == (422, "invalid_month")
        assert bureau.get("/api/v1/reports/monthly", params={"month": "2026-13"}).status_code == 422
    with person(hub, "zhao-gang") as guard:
        assert guard.get("/api/v1/reports/monthly", params={"month": "2026-03"}).status_code == 403
