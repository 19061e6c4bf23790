"""The rules' four items under their own names: what the hub measures (alarm and video) and what the guard room
records each school day (guards on duty, gate closed, 护学岗), with days nobody recorded shown as not recorded:
the pure summary, then the routes and the bureau's report on a real hub (Mosquitto, uvicorn on loopback, SQLite)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx

from hub.core.clock import ManualClock
from hub.devtools.broker import Mosquitto
from hub.reports import GuardRoomDay, school_days_in
from hub.reports.four_items import recorded_items
from tests.conftest import TOKENS, HubFactory, base_config

# Wednesday 2 December 2026, 01:00 Beijing time (still Tuesday the 1st in UTC).
NOW = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)


def _day(day: date, guards: int, gate: bool, posts: bool) -> GuardRoomDay:
    return GuardRoomDay(day, guards, gate, posts, "", "Zhang", "2026-12-01T00:00:00.000000+00:00")


def test_recorded_items_count_met_days_of_recorded_and_list_the_days_not_recorded() -> None:
    week = [date(2026, 11, 30 + i) if i == 0 else date(2026, 12, i) for i in range(7)]  # Mon 30 Nov .. Sun 6 Dec
    school = school_days_in(week, [1, 2, 3, 4, 5])
    assert [d.isoweekday() for d in school] == [1, 2, 3, 4, 5]
    records = {
        date(2026, 11, 30): _day(date(2026, 11, 30), 2, True, True),
        date(2026, 12, 1): _day(date(2026, 12, 1), 1, False, True),
        date(2026, 12, 3): _day(date(2026, 12, 3), 0, True, False),
        date(2026, 12, 6): _day(date(2026, 12, 6), 3, True, True),  # a Sunday: not a school day, not counted
    }
    items = recorded_items(school, records, min_guards=2)
    assert items["not_recorded"] == ["2026-12-02", "2026-12-04"]
    assert items["full_time_guards"] == {
        "school_days": 5,
        "recorded_days": 3,
        "met_days": 1,  # only Monday had 2 guards
        "share_of_recorded": round(1 / 3, 4),
        "not_recorded_days": 2,
    }
    assert items["closed_campus"]["met_days"] == 2
    assert items["guard_posts"]["met_days"] == 2
    assert [d["recorded"] for d in items["days"]] == [True, True, False, True, False]
    nothing = recorded_items(school, {}, min_guards=1)
    assert nothing["full_time_guards"]["share_of_recorded"] is None  # unknown, never 0 % or 100 %


def _client(hub: Any, role: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{hub.api_port}", headers={"Authorization": f"Bearer {TOKENS[role]}"}, timeout=10
    )


def test_the_guard_room_records_a_day_and_the_bureau_sees_it_beside_the_measured_item(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory
) -> None:
    clock = ManualClock(NOW)
    hub = start_hub(base_config(tmp_path, broker.port, None), api=True, clock=clock)
    with _client(hub, "bureau") as bureau:
        period = {"from": "2026-11-30", "to": "2026-12-02", "group": "site"}
        first = bureau.get("/api/v1/reports/uptime", params=period)
        assert first.status_code == 200, first.text
        items = first.json()["summary"]["four_items"]
        assert items["not_recorded"] == ["2026-11-30", "2026-12-01", "2026-12-02"]
        assert items["alarm_video"]["combined"]["installed"] == 3  # two buttons and a camera, from the registry
        assert "four_100" not in first.json()["summary"]
        etag = first.headers["ETag"]
        # The bureau reads; it does not record. Nor does maintenance.
        refused = bureau.post(
            "/api/v1/four-items", json={"guards_on_duty": 2, "gate_closed": True, "posts_staffed": True}
        )
        assert refused.json()["error"]["code"] == "forbidden"
    with _client(hub, "maintenance") as maintenance:
        body = {"guards_on_duty": 2, "gate_closed": True, "posts_staffed": True}
        assert maintenance.post("/api/v1/four-items", json=body).status_code == 403
    with _client(hub, "guard") as guard:
        today = guard.post(
            "/api/v1/four-items", json={"guards_on_duty": 2, "gate_closed": True, "posts_staffed": False}
        )
        assert today.status_code == 201, today.text
        assert (today.json()["day"], today.json()["recorded_by"]) == ("2026-12-02", "guard")  # Beijing's date
        late = {"day": "2026-11-30", "guards_on_duty": 1, "gate_closed": True, "posts_staffed": True, "note": "补登"}
        assert guard.post("/api/v1/four-items", json=late).status_code == 201
        fixed = {**late, "guards_on_duty": 3}
        assert guard.post("/api/v1/four-items", json=fixed).status_code == 201  # a correction
        ahead = {"day": "2026-12-03", "guards_on_duty": 1, "gate_closed": True, "posts_staffed": True}
        assert guard.post("/api/v1/four-items", json=ahead).status_code == 422
        old = {"day": "2026-11-01", "guards_on_duty": 1, "gate_closed": True, "posts_staffed": True}
        assert guard.post("/api/v1/four-items", json=old).status_code == 422
        listed = guard.get("/api/v1/four-items", params={"from": "2026-11-30", "to": "2026-12-02"}).json()
        assert [(d["day"], d["recorded"]) for d in listed["days"]] == [
            ("2026-11-30", True),
            ("2026-12-01", False),
            ("2026-12-02", True),
        ]
    with _client(hub, "bureau") as bureau:
        again = bureau.get("/api/v1/reports/uptime", params=period, headers={"If-None-Match": etag})
        assert again.status_code == 200  # the records changed the answer: no stale 304
        items = again.json()["summary"]["four_items"]
        assert items["not_recorded"] == ["2026-12-01"]
        assert items["full_time_guards"]["met_days"] == 2
        assert items["guard_posts"]["met_days"] == 1
        assert items["closed_campus"]["recorded_days"] == 2
    with _client(hub, "admin") as admin:
        audit = [a for a in admin.get("/api/v1/audit").json()["audit"] if a["action"] == "four_items.record"]
    assert {(a["actor"], a["target"]) for a in audit} == {("guard", "2026-12-02"), ("guard", "2026-11-30")}
    correction = [a for a in audit if a["target"] == "2026-11-30" and a["detail"]["replaced"] is not None]
    assert correction[0]["detail"]["replaced"]["guards_on_duty"] == 1
