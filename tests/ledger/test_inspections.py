"""Inspection plans over the real API: a monthly check of 10 alarm buttons recorded item by item by named people,
a problem opening an equipment fault (or a hazard) in the same step, and the two buttons nobody checked shown as
missed once the month is over; the pure period arithmetic behind it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from hub.core.clock import ManualClock
from hub.devtools.broker import Mosquitto
from hub.ledger.inspections import Frequency, period_days, period_key, periods_starting
from tests.conftest import HubFactory
from tests.ledger.people import ledger_config, person

# 10:00 on 2 March 2026 in Asia/Shanghai.
START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("frequency", "day", "key", "first", "last"),
    [
        (Frequency.DAILY, date(2026, 3, 5), "2026-03-05", date(2026, 3, 5), date(2026, 3, 5)),
        (Frequency.WEEKLY, date(2026, 3, 5), "2026-W10", date(2026, 3, 2), date(2026, 3, 8)),
        (Frequency.WEEKLY, date(2027, 1, 1), "2026-W53", date(2026, 12, 28), date(2027, 1, 3)),
        (Frequency.MONTHLY, date(2026, 2, 14), "2026-02", date(2026, 2, 1), date(2026, 2, 28)),
        (Frequency.MONTHLY, date(2026, 12, 31), "2026-12", date(2026, 12, 1), date(2026, 12, 31)),
    ],
)
def test_periods(frequency: Frequency, day: date, key: str, first: date, last: date) -> None:
    assert period_key(frequency, day) == key
    assert period_days(frequency, key) == (first, last)


def test_weeks_count_in_the_month_of_their_monday() -> None:
    assert periods_starting(Frequency.WEEKLY, date(2026, 3, 1), date(2026, 3, 31)) == [
        "2026-W10",
        "2026-W11",
        "2026-W12",
        "2026-W13",
        "2026-W14",
    ]
    assert len(periods_starting(Frequency.DAILY, date(2026, 2, 1), date(2026, 2, 28))) == 28


def test_ten_buttons_checked_monthly_with_two_missed(tmp_path: Path, broker: Mosquitto, start_hub: HubFactory) -> None:
    clock = ManualClock(START)
    hub = start_hub(ledger_config(tmp_path, broker.port), api=True, clock=clock)
    items = [{"id": f"btn-{n:02d}", "what": "一键报警按钮", "where": f"A栋 {n}层"} for n in range(1, 11)]
    items[0]["device_id"] = "btn-1"  # the first is the registry's button: its fault is the device's
    with person(hub, "zhang-wei") as zhang, person(hub, "zhao-gang") as guard, person(hub, "sun-li") as bureau:
        refused = guard.post(
            "/api/v1/inspections/plans", json={"name": "x", "category": "x", "frequency": "monthly", "items": items}
        )
        assert refused.status_code == 403
        ghost = zhang.post(
            "/api/v1/inspections/plans",
            json={"name": "x", "category": "x", "frequency": "monthly", "items": [{**items[1], "device_id": "nope"}]},
        )
        assert ghost.json()["error"]["code"] == "unknown_device"
        created = zhang.post(
            "/api/v1/inspections/plans",
            json={"name": "一键报警按钮月检", "category": "技防设施", "frequency": "monthly", "items": items},
        )
        assert created.status_code == 201, created.text
        plan = created.json()
        pid = plan["id"]
        assert (plan["current"]["period"], plan["current"]["planned"], plan["current"]["due"]) == ("2026-03", 10, 10)

        # Eight buttons checked by two people on different days; the first is broken and opens a fault at once.
        problem = guard.post(
            f"/api/v1/inspections/plans/{pid}/checks",
            json={"item": "btn-01", "result": "problem", "note": "按下无反应", "follow_up": "fault"},
        )
        assert problem.status_code == 201, problem.text
        (first,) = [i for i in problem.json()["current"]["items"] if i["id"] == "btn-01"]
        assert (first["state"], first["check"]["by"]) == ("problem", "zhao-gang")
        fault = zhang.get(f"/api/v1/faults/{first['check']['fault_id']}").json()
        assert (fault["subject"], fault["kind"], fault["state"]) == ("btn-1", "inspection", "registered")
        assert "按下无反应" in fault["summary"]
        for n in range(2, 9):
            clock.advance(3600)
            who = guard if n % 2 else zhang
            who.post(f"/api/v1/inspections/plans/{pid}/checks", json={"item": f"btn-{n:02d}", "result": "ok"})
        again = guard.post(f"/api/v1/inspections/plans/{pid}/checks", json={"item": "btn-02", "result": "ok"})
        assert (again.status_code, again.json()["error"]["code"]) == (409, "already_checked")
        bare = guard.post(f"/api/v1/inspections/plans/{pid}/checks", json={"item": "btn-09", "result": "problem"})
        assert bare.status_code == 422
        unknown = guard.post(f"/api/v1/inspections/plans/{pid}/checks", json={"item": "btn-99", "result": "ok"})
        assert unknown.json()["error"]["code"] == "unknown_item"

        during = bureau.get(f"/api/v1/inspections/plans/{pid}").json()["current"]
        assert (during["done"], during["due"], during["missed"], during["problems"]) == (8, 2, 0, 1)

        # April 1st in Asia/Shanghai (16:00 UTC on 31 March): March's round is over, two buttons were missed.
        clock.advance((datetime(2026, 3, 31, 16, 0, tzinfo=UTC) - clock.now()).total_seconds())
        march = bureau.get(f"/api/v1/inspections/plans/{pid}", params={"period": "2026-03"}).json()["current"]
        assert (march["ended"], march["planned"], march["done"], march["missed"], march["due"]) == (True, 10, 8, 2, 0)
        assert [i["id"] for i in march["items"] if i["state"] == "missed"] == ["btn-09", "btn-10"]
        april = bureau.get(f"/api/v1/inspections/plans/{pid}").json()["current"]
        assert (april["period"], april["done"], april["due"]) == ("2026-04", 0, 10)
        bad = bureau.get(f"/api/v1/inspections/plans/{pid}", params={"period": "2026-W10"})
        assert bad.json()["error"]["code"] == "invalid_period"

        # A problem can open a hazard instead, found by the person on the round.
        hazard = zhang.post(
            f"/api/v1/inspections/plans/{pid}/checks",
            json={"item": "btn-05", "result": "problem", "note": "按钮被柜子挡住", "follow_up": "hazard"},
        ).json()
        (fifth,) = [i for i in hazard["current"]["items"] if i["id"] == "btn-05"]
        registered = zhang.get(f"/api/v1/hazards/{fifth['check']['hazard_id']}").json()
        assert (registered["source"], registered["found_by"], registered["place"]) == (
            "inspection",
            "zhang-wei",
            "A栋 5层",
        )

        report = bureau.get("/api/v1/reports/monthly", params={"month": "2026-03"}).json()
        assert report["inspections"] == {"planned": 10, "done": 8, "missed": 2}
    with person(hub, "wang-fang") as admin:
        audit = [a for a in admin.get("/api/v1/audit").json()["audit"] if a["action"] == "inspection.check"]
    # btn-01 3 5 7 by Zhao; btn-02 4 6 8 and April's btn-05 by Zhang: each check signed by who made it.
    assert sorted((a["detail"]["item"], a["detail"]["period"], a["actor"]) for a in audit) == [
        ("btn-01", "2026-03", "zhao-gang"),
        ("btn-02", "2026-03", "zhang-wei"),
        ("btn-03", "2026-03", "zhao-gang"),
        ("btn-04", "2026-03", "zhang-wei"),
        ("btn-05", "2026-03", "zhao-gang"),
        ("btn-05", "2026-04", "zhang-wei"),
        ("btn-06", "2026-03", "zhang-wei"),
        ("btn-07", "2026-03", "zhao-gang"),
        ("btn-08", "2026-03", "zhang-wei"),
    ]
