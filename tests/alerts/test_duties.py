"""Incident follow-up duties: the 30-minute phone and 1-hour written reports, with an injected clock (no sleeping)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from alerts.duties import DutyPolicy, DutyType, duty_status
from alerts.model import Disposition
from hub.core.clock import ManualClock
from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver
from tests.conftest import TOKENS, HubFactory, Publisher, base_config, topic

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
POLICY = DutyPolicy(minutes={DutyType.PHONE: 30, DutyType.WRITTEN: 60}, kinds=frozenset({"panic", "fire", "heat"}))


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_deadlines_follow_the_policy() -> None:
    phone, written = duty_status("panic", T0, None, [], POLICY, _at(1))
    assert (phone.type, phone.due_at, phone.overdue) == (DutyType.PHONE, _at(30), False)
    assert (written.type, written.due_at, written.overdue) == (DutyType.WRITTEN, _at(60), False)


def test_overdue_once_past_due_and_unmet() -> None:
    phone, written = duty_status("fire", T0, None, [], POLICY, _at(30.01))
    assert phone.overdue
    assert not written.overdue


def test_met_on_time_late_and_earliest_report_counts() -> None:
    reports = [(DutyType.PHONE, _at(45)), (DutyType.PHONE, _at(20)), (DutyType.WRITTEN, _at(70))]
    phone, written = duty_status("heat", T0, None, reports, POLICY, _at(120))
    assert (phone.met_at, phone.late, phone.overdue) == (_at(20), False, False)
    assert (written.met_at, written.late, written.overdue) == (_at(70), True, False)


@pytest.mark.parametrize("disposition", [Disposition.DRILL, Disposition.FALSE_ALARM, Disposition.FAULT])
def test_no_incident_waives_the_duties(disposition: Disposition) -> None:
    statuses = duty_status("panic", T0, disposition, [], POLICY, _at(600))
    assert all(s.waived and not s.overdue for s in statuses)


def test_a_real_incident_is_never_waived() -> None:
    statuses = duty_status("panic", T0, Disposition.REAL, [], POLICY, _at(600))
    assert all(s.overdue and not s.waived for s in statuses)


def test_kinds_without_duties_have_none() -> None:
    assert duty_status("panic", T0, None, [], DutyPolicy(POLICY.minutes, frozenset({"fire"})), _at(600)) == []


def test_duties_through_the_api_and_metrics(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    clock = ManualClock(T0)
    raw = base_config(tmp_path, broker.port, receiver.url)
    raw["incidents"] = {"phone_report_minutes": 30, "written_report_minutes": 90}
    hub = start_hub(raw, api=True, clock=clock)
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True})
    alarm_id = receiver.state.wait_for(1, timeout=5)[0].body["alarm_id"]
    guard = httpx.Client(
        base_url=f"http://127.0.0.1:{hub.api_port}", headers={"Authorization": f"Bearer {TOKENS['guard']}"}
    )
    maintenance = {"Authorization": f"Bearer {TOKENS['maintenance']}"}
    with guard:
        duties = {d["type"]: d for d in guard.get(f"/api/v1/alarms/{alarm_id}").json()["duties"]}
        assert duties["phone"]["due_at"] == _at(30).isoformat(timespec="microseconds")
        assert duties["written"]["due_at"] == _at(90).isoformat(timespec="microseconds")
        assert not duties["phone"]["overdue"]

        clock.advance(31 * 60)
        duties = {d["type"]: d for d in guard.get(f"/api/v1/alarms/{alarm_id}").json()["duties"]}
        assert duties["phone"]["overdue"]
        assert not duties["written"]["overdue"]
        metrics = guard.get("/metrics", headers=maintenance).text
        assert 'campus_hub_incident_duties_overdue{type="phone"} 1.0' in metrics
        assert 'campus_hub_incident_duties_overdue{type="written"} 0.0' in metrics

        made = guard.post(
            f"/api/v1/alarms/{alarm_id}/reports",
            json={"type": "phone", "by": "王校长 Principal Wang", "note": "110 and the district bureau phoned"},
        )
        assert made.status_code == 201
        phone = {d["type"]: d for d in made.json()["duties"]}["phone"]
        assert (phone["met_at"], phone["late"], phone["overdue"]) == (
            _at(31).isoformat(timespec="microseconds"),
            True,
            False,
        )
        written_at = _at(20).isoformat()
        made = guard.post(
            f"/api/v1/alarms/{alarm_id}/reports", json={"type": "written", "by": "Principal Wang", "at": written_at}
        )
        written = {d["type"]: d for d in made.json()["duties"]}["written"]
        assert (written["late"], written["overdue"]) == (False, False)
        assert [r["type"] for r in made.json()["reports"]] == ["written", "phone"]
        metrics = guard.get("/metrics", headers=maintenance).text
        assert 'campus_hub_incident_duties_overdue{type="phone"} 0.0' in metrics

        future = guard.post(
            f"/api/v1/alarms/{alarm_id}/reports", json={"type": "phone", "by": "x", "at": _at(60).isoformat()}
        )
        assert future.json()["error"]["code"] == "report_in_future"
        before = guard.post(
            f"/api/v1/alarms/{alarm_id}/reports", json={"type": "phone", "by": "x", "at": _at(-10).isoformat()}
        )
        assert before.json()["error"]["code"] == "report_before_alarm"
        bureau = guard.post(
            f"/api/v1/alarms/{alarm_id}/reports",
            json={"type": "phone", "by": "x"},
            headers={"Authorization": f"Bearer {TOKENS['bureau']}"},
        )
        assert bureau.status_code == 403
    audit = [a["action"] for a in hub.store.list_audit()]
    assert audit.count("alarm.report") == 2
