"""Incidents without a device over the real API: recorded by a named guard, their phone and written report duties
counted from when they happened (like an alarm's), their timeline, and the bureau's read-only view without names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.core.clock import ManualClock, to_iso
from hub.devtools.broker import Mosquitto
from tests.conftest import HubFactory, Publisher, topic, wait_until
from tests.ledger.people import ledger_config, person

START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def test_an_incident_carries_report_duties_and_the_bureau_reads_it(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory
) -> None:
    clock = ManualClock(START)
    hub = start_hub(ledger_config(tmp_path, broker.port), api=True, clock=clock)
    occurred = START - timedelta(minutes=5)
    with person(hub, "zhao-gang") as guard, person(hub, "sun-li") as bureau, person(hub, "wang-fang") as admin:
        created = guard.post(
            "/api/v1/incidents",
            json={
                "kind": "injury",
                "place": "操场",
                "occurred_at": to_iso(occurred),
                "summary": "学生跌倒，额头擦伤，已送医务室",
                "people": "三年二班 李明",
                "police_called": False,
            },
        )
        assert created.status_code == 201, created.text
        incident = created.json()
        iid = incident["id"]
        assert (incident["recorded_by"], incident["people"], incident["state"]) == (
            "zhao-gang",
            "三年二班 李明",
            "open",
        )
        duties = {d["type"]: d for d in incident["duties"]}
        # Counted from when it happened, not from when it was typed in.
        assert duties["phone"]["due_at"] == (occurred + timedelta(minutes=30)).isoformat(timespec="microseconds")
        assert duties["written"]["due_at"] == (occurred + timedelta(minutes=60)).isoformat(timespec="microseconds")
        assert [(d["overdue"], d["met_at"]) for d in duties.values()] == [(False, None), (False, None)]

        clock.advance(26 * 60)  # 31 minutes after the fall: the phone report is overdue, the written one not yet
        duties = {d["type"]: d for d in guard.get(f"/api/v1/incidents/{iid}").json()["duties"]}
        assert (duties["phone"]["overdue"], duties["written"]["overdue"]) == (True, False)

        phoned = guard.post(
            f"/api/v1/incidents/{iid}/reports", json={"type": "phone", "by": "zhao-gang", "note": "已电话报告区教育局"}
        )
        assert phoned.status_code == 201, phoned.text
        duties = {d["type"]: d for d in phoned.json()["duties"]}
        assert (duties["phone"]["late"], duties["phone"]["overdue"], duties["phone"]["met_at"] is not None) == (
            True,
            False,
            True,
        )
        future = guard.post(
            f"/api/v1/incidents/{iid}/reports",
            json={"type": "written", "by": "x", "at": to_iso(clock.now() + timedelta(hours=1))},
        )
        assert future.json()["error"]["code"] == "report_in_future"
        assert guard.post("/api/v1/incidents", json={"kind": "riot", "place": "x", "summary": "x"}).status_code == 422

        clock.advance(10 * 60)
        written = guard.post(f"/api/v1/incidents/{iid}/reports", json={"type": "written", "by": "zhao-gang"}).json()
        assert {d["type"]: d["late"] for d in written["duties"]} == {"phone": True, "written": False}
        closed = guard.post(f"/api/v1/incidents/{iid}/close", json={"note": "家长已接回"})
        assert closed.json()["state"] == "closed"
        assert guard.post(f"/api/v1/incidents/{iid}/close", json={"note": "again"}).status_code == 409
        timeline = [(e["what"], e.get("by")) for e in closed.json()["timeline"]]
        assert timeline == [
            ("occurred", None),
            ("recorded", "zhao-gang"),
            ("report_phone", "zhao-gang"),
            ("report_written", "zhao-gang"),
            ("closed", "zhao-gang"),
        ]

        # The bureau reads it, with the duties and timeline but without the people's names.
        (seen,) = bureau.get("/api/v1/incidents").json()["incidents"]
        assert (seen["id"], seen["kind"], seen["place"], seen["summary"]) == (
            iid,
            "injury",
            "操场",
            incident["summary"],
        )
        assert {d["type"]: d["late"] for d in seen["duties"]} == {"phone": True, "written": False}
        assert "people" not in seen
        assert "recorded_by" not in seen
        assert "closed_by" not in seen
        assert "李明" not in str(seen)
        assert "zhao-gang" not in str(seen)
        assert [e["what"] for e in seen["timeline"]] == [w for w, _ in timeline]
        assert bureau.get(f"/api/v1/incidents/{iid}").json()["reports"] == [
            {"type": r["type"], "at": r["at"]} for r in closed.json()["reports"]
        ]
        refused = bureau.post("/api/v1/incidents", json={"kind": "fight", "place": "x", "summary": "x"})
        assert refused.status_code == 403
        assert bureau.post(f"/api/v1/incidents/{iid}/close", json={"note": "x"}).status_code == 403
        assert bureau.get("/api/v1/bureau/alarms").json() == {"alarms": []}
        assert guard.get("/api/v1/bureau/alarms").status_code == 403

        audit = admin.get("/api/v1/audit").json()["audit"]
        assert [(a["action"], a["actor"]) for a in reversed(audit) if a["action"].startswith("incident.")] == [
            ("incident.record", "zhao-gang"),
            ("incident.report", "zhao-gang"),
            ("incident.report", "zhao-gang"),
            ("incident.close", "zhao-gang"),
        ]


def test_the_bureau_reads_alarms_without_names(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    hub = start_hub(ledger_config(tmp_path, broker.port), api=True)
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    assert wait_until(lambda: len(hub.store.list_alarms()) == 1, 5)
    alarm_id = hub.store.list_alarms()[0]["id"]
    with person(hub, "zhao-gang") as guard, person(hub, "sun-li") as bureau:
        guard.post(f"/api/v1/alarms/{alarm_id}/ack").raise_for_status()
        guard.post(
            f"/api/v1/alarms/{alarm_id}/reports", json={"type": "phone", "by": "zhao-gang", "note": "报110"}
        ).raise_for_status()
        guard.post(f"/api/v1/alarms/{alarm_id}/close", json={"note": "真实报警，已处置", "disposition": "real"})
        (seen,) = bureau.get("/api/v1/bureau/alarms").json()["alarms"]
    assert (seen["id"], seen["kind"], seen["place"], seen["state"], seen["disposition"]) == (
        alarm_id,
        "panic",
        "A · 1 · btn-1",
        "closed",
        "real",
    )
    assert [(d["type"], d["met_at"] is not None) for d in seen["duties"]] == [("phone", True), ("written", False)]
    assert "zhao-gang" not in str(seen)
    assert "真实报警" not in str(seen)
