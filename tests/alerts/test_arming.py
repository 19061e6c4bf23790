"""Arming zones (布防 / 撤防): the schedule in the site's local time, holidays and make-up days, manual overrides until
the schedule next changes, trips in armed and disarmed zones through the pipeline on a real SQLite file, and the
arm that is refused while a door is open (the store, and the API on a real hub)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from alerts.arming import is_armed, manual_override, next_change, scheduled_armed
from alerts.zones import ArmRefused, ZoneBoard
from hub.config import HubConfig, ZoneConfig
from hub.core.clock import ManualClock
from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver
from hub.health.faults import ACTIVE
from hub.ingest.pipeline import Inbound, Pipeline
from hub.metrics import HubMetrics
from hub.store import Actor, Store
from tests.conftest import TOKENS, HubFactory, Publisher, base_config, topic, wait_until

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = (2026, 3, 2)  # a school day
GUARD = Actor("guard-wang", "guard")


def local(day: tuple[int, int, int], hour: int, minute: int = 0) -> datetime:
    return datetime(*day, hour, minute, tzinfo=SHANGHAI)


def zone(**extra: Any) -> ZoneConfig:
    return ZoneConfig.model_validate(
        {"id": "finance", "name": "财务室", "school_hours": [{"start": "07:30", "end": "17:30"}], **extra}
    )


# --- the schedule ------------------------------------------------------------------------------------------------


def test_armed_outside_school_hours_and_on_days_without_school() -> None:
    office = zone(holidays=["2026-03-04"], school_dates=["2026-03-07"])
    assert scheduled_armed(office, local(MONDAY, 22)) is True
    assert scheduled_armed(office, local(MONDAY, 7, 29)) is True
    assert scheduled_armed(office, local(MONDAY, 7, 30)) is False
    assert scheduled_armed(office, local(MONDAY, 10)) is False
    assert scheduled_armed(office, local(MONDAY, 17, 30)) is True
    assert scheduled_armed(office, local((2026, 3, 4), 10)) is True  # a holiday on a Wednesday
    assert scheduled_armed(office, local((2026, 3, 7), 10)) is False  # a Saturday make-up day (调休)
    assert scheduled_armed(office, local((2026, 3, 8), 10)) is True  # Sunday
    # The local day, not UTC's: 01:00 on Tuesday in Shanghai is Monday 17:00 UTC.
    assert scheduled_armed(office, datetime(2026, 3, 2, 17, 0, tzinfo=UTC).astimezone(SHANGHAI)) is True


def test_a_24_hour_zone_is_always_armed() -> None:
    store = zone(always_armed=True)
    assert scheduled_armed(store, local(MONDAY, 10)) is True
    assert next_change(store, local(MONDAY, 10)) is None
    disarmed = manual_override(store, False, local(MONDAY, 10), "guard-wang")
    assert is_armed(store, local(MONDAY, 10, 5), disarmed) is True


def test_a_manual_disarm_holds_until_the_schedule_next_changes() -> None:
    office = zone()
    evening = local(MONDAY, 19)  # armed by the schedule; a guard disarms for a late meeting
    override = manual_override(office, False, evening, "guard-wang")
    assert override.until == local((2026, 3, 3), 7, 30)  # Tuesday's disarm
    assert is_armed(office, local(MONDAY, 23), override) is False
    # On Tuesday evening the schedule arms again, the override long over.
    assert is_armed(office, local((2026, 3, 3), 18), override) is True
    # A manual arm during school hours holds until the evening, when the schedule arms anyway, then the morning.
    armed = manual_override(office, True, local(MONDAY, 12), "guard-wang")
    assert armed.until == local(MONDAY, 17, 30)
    assert is_armed(office, local(MONDAY, 12, 1), armed) is True
    assert is_armed(office, local((2026, 3, 3), 10), armed) is False


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"school_hours": [{"start": "18:00", "end": "07:00"}]}, "must start before they end"),
        ({"school_hours": [{"start": 450, "end": "17:00"}]}, "quoted"),  # YAML's reading of an unquoted 07:30
        ({"school_hours": [{"start": "7:30", "end": "17:00"}]}, "should match pattern"),
        ({"holidays": ["2026-03-07"], "school_dates": ["2026-03-07"]}, "both a holiday and a school date"),
        ({"school_days": ["monday"]}, "mon"),
    ],
)
def test_bad_zone_settings_are_refused(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        zone(**extra)


# --- through the pipeline ---------------------------------------------------------------------------------------


def zoned_config(tmp_path: Path, port: int, url: str | None) -> dict[str, Any]:
    raw = base_config(tmp_path, port, url)
    location = {"building": "行政楼", "floor": "2", "room": "财务室"}
    raw["arming_zones"] = [
        {"id": "finance", "name": "财务室", "school_hours": [{"start": "07:30", "end": "17:30"}]},
        {"id": "chem", "name": "化学品库", "always_armed": True},
    ]
    raw["devices"] += [
        {"id": "pir-1", "kind": "intrusion", "name": "财务室红外", "location": location, "arming_zone": "finance"},
        {"id": "door-1", "kind": "door", "name": "财务室门", "location": location, "arming_zone": "finance"},
        {"id": "door-chem", "kind": "door", "name": "化学品库门", "location": location, "arming_zone": "chem"},
    ]
    return raw


_mono = itertools.count(1)


@pytest.fixture
def zoned(tmp_path: Path) -> tuple[Pipeline, Store, ZoneBoard, ManualClock]:
    config = HubConfig.model_validate(zoned_config(tmp_path, 1883, "http://127.0.0.1:9/alarms"))
    clock = ManualClock(local(MONDAY, 8))
    store = Store(tmp_path / "hub.db", clock)
    store.open()
    board = ZoneBoard(config, store, clock)
    board.open()
    return Pipeline(config, store, HubMetrics(), clock=clock, zones=board), store, board, clock


def send(pipe: Pipeline, kind: str, device: str, payload: dict[str, Any], at: datetime) -> None:
    body = json.dumps(payload).encode()
    outcome = pipe.process([Inbound(topic(kind, device, "event"), body, 1, 1, at.astimezone(UTC), float(next(_mono)))])
    assert outcome.events == 1


def test_a_trip_at_22_local_in_an_armed_zone_alarms_and_at_10_on_a_school_day_is_logged_only(
    zoned: tuple[Pipeline, Store, ZoneBoard, ManualClock],
) -> None:
    pipe, store, _, _ = zoned
    send(pipe, "intrusion", "pir-1", {"alarm": True}, local(MONDAY, 10))
    assert store.list_alarms(None, 10) == []
    logged = store.connection().execute("SELECT data FROM events WHERE device_id = 'pir-1'").fetchall()
    assert [json.loads(row[0]) for row in logged] == [{"alarm": True, "armed": False}]

    send(pipe, "intrusion", "pir-1", {"alarm": False}, local(MONDAY, 10, 1))
    send(pipe, "intrusion", "pir-1", {"alarm": True}, local(MONDAY, 22))
    alarms = store.list_alarms(None, 10)
    assert [(a["kind"], a["device"]["id"], a["priority"]) for a in alarms] == [("intrusion", "pir-1", 2)]
    assert alarms[0]["reason"] == "detector tripped in an armed zone"


def test_a_door_opening_in_an_armed_zone_is_an_intrusion_and_a_24_hour_zone_is_always_armed(
    zoned: tuple[Pipeline, Store, ZoneBoard, ManualClock],
) -> None:
    pipe, store, _, _ = zoned
    send(pipe, "door", "door-1", {"open": True}, local(MONDAY, 9))  # school hours: people come and go
    send(pipe, "door", "door-chem", {"open": True}, local(MONDAY, 9))  # a 24-hour zone
    assert [a["device"]["id"] for a in store.list_alarms(None, 10)] == ["door-chem"]
    send(pipe, "door", "door-1", {"open": False}, local(MONDAY, 9, 5))
    send(pipe, "door", "door-1", {"open": True}, local(MONDAY, 23))
    assert sorted(a["device"]["id"] for a in store.list_alarms(None, 10)) == ["door-1", "door-chem"]
    assert {a["kind"] for a in store.list_alarms(None, 10)} == {"intrusion"}


def test_arming_with_a_door_open_is_refused_naming_the_door(
    zoned: tuple[Pipeline, Store, ZoneBoard, ManualClock],
) -> None:
    pipe, store, board, clock = zoned
    clock.advance(4 * 3600)  # 12:00, school hours: the zone is disarmed by the schedule
    send(pipe, "door", "door-1", {"open": True}, local(MONDAY, 12))
    with pytest.raises(ArmRefused) as caught:
        board.arm("finance", GUARD)
    assert caught.value.reasons == ["door 财务室门 (door-1) is open"]
    assert board.armed("pir-1", local(MONDAY, 12)) is False
    refused = store.list_audit(1)[0]
    assert (refused["actor"], refused["action"], refused["detail"]["reasons"]) == (
        "guard-wang",
        "zone_arm_refused",
        ["door 财务室门 (door-1) is open"],
    )
    send(pipe, "door", "door-1", {"open": False}, local(MONDAY, 12, 1))
    board.arm("finance", GUARD)
    assert board.armed("pir-1", local(MONDAY, 12, 2)) is True
    assert store.list_audit(1)[0]["action"] == "zone_arm"
    with pytest.raises(ArmRefused, match="24-hour"):
        board.disarm("chem", GUARD)
    assert store.list_audit(1)[0]["action"] == "zone_disarm_refused"


# --- the API on a real hub ----------------------------------------------------------------------------------------


def test_api_refuses_to_arm_with_a_door_open_and_audits_the_guard(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    hub = start_hub(zoned_config(tmp_path, broker.port, None), api=True)
    publisher.publish(topic("door", "door-1", "event"), {"open": True})
    assert wait_until(lambda: hub.store.count("events") >= 1, 5.0)

    def client(role: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {TOKENS[role]}"}
        return httpx.Client(base_url=f"http://127.0.0.1:{hub.api_port}", headers=headers, timeout=5)

    with client("guard") as guard, client("bureau") as bureau, client("maintenance") as maintenance:
        assert bureau.get("/api/v1/zones").status_code == 403
        assert maintenance.post("/api/v1/zones/finance/arm").status_code == 403
        zones = {z["id"]: z for z in guard.get("/api/v1/zones").json()["zones"]}
        assert zones["finance"]["refusals"] == ["door 财务室门 (door-1) is open"]
        refused = guard.post("/api/v1/zones/finance/arm")
        assert refused.status_code == 409
        assert refused.json()["error"]["reasons"] == ["door 财务室门 (door-1) is open"]
        assert guard.post("/api/v1/zones/nowhere/arm").status_code == 404
        assert guard.post("/api/v1/zones/chem/disarm").status_code == 409
        publisher.publish(topic("door", "door-1", "event"), {"open": False})
        assert wait_until(lambda: guard.get("/api/v1/zones").json()["zones"][0]["refusals"] == [], 5.0)
        armed = guard.post("/api/v1/zones/finance/arm")
        assert armed.status_code == 200
        assert armed.json()["armed"] is True
        assert armed.json()["manual"]["by"] == "guard"
    audit = [(a["actor"], a["action"], a["target"]) for a in hub.store.list_audit(10)]
    assert ("guard", "zone_arm", "finance") in audit
    assert ("guard", "zone_arm_refused", "finance") in audit


def test_tamper_is_a_fault_whatever_the_arming_and_an_open_circuit_is_the_units_fault(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    raw = zoned_config(tmp_path, broker.port, None)
    # Disarmed all day, every day: the tamper below happens in a disarmed zone whatever the hour.
    raw["arming_zones"][0].update(school_days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                  school_hours=[{"start": "00:00", "end": "23:59"}])  # fmt: skip
    raw["devices"].append(
        {
            "id": "ef-1",
            "kind": "electrical_fire",
            "name": "配电箱",
            "location": {"building": "A", "floor": "1", "room": "r"},
        }
    )
    hub = start_hub(raw)
    publisher.publish(topic("intrusion", "pir-1", "telemetry"), {"tamper": True, "battery_pct": 8})
    publisher.publish(topic("electrical_fire", "ef-1", "telemetry"), {"residual_ma": 10, "open_circuit": True})

    def faults(device: str) -> set[str]:
        return {f["kind"] for f in hub.health_store.list_faults(sorted(ACTIVE), device)}

    assert wait_until(lambda: faults("pir-1") == {"tamper", "low_battery"}, 5.0)
    assert wait_until(lambda: faults("ef-1") == {"open_circuit"}, 5.0)
    health = hub.tracker.get("ef-1")
    assert health is not None
    assert health.state.value == "faulty"
    assert hub.store.list_alarms(None, 10) == []  # troubles, not alarms


def test_a_restarted_hub_remembers_the_manual_override_and_the_open_door(
    tmp_path: Path, zoned: tuple[Pipeline, Store, ZoneBoard, ManualClock]
) -> None:
    pipe, store, board, clock = zoned
    clock.advance(11 * 3600)  # 19:00: armed by the schedule
    board.disarm("finance", GUARD)  # a late meeting: disarmed until Tuesday 07:30
    send(pipe, "door", "door-1", {"open": True}, local(MONDAY, 19, 1))
    config = HubConfig.model_validate(zoned_config(tmp_path, 1883, "http://127.0.0.1:9/alarms"))
    again = ZoneBoard(config, store, clock)
    again.open()
    assert again.armed("pir-1", local(MONDAY, 19, 2)) is False  # the override, read back from its table
    with pytest.raises(ArmRefused, match="door-1"):
        again.arm("finance", GUARD)  # the door's last state, read back from the stored events


def test_end_to_end_a_trip_in_the_armed_evening_reaches_110_and_one_in_school_hours_does_not(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    # The police take presses and intrusion; the hub's (manual) clock says when the trip came, in Beijing time.
    raw = zoned_config(tmp_path, broker.port, receiver.url)
    raw["forwarding"]["endpoints"][0]["alarm_kinds"] = ["panic", "intrusion", "fire", "heat"]
    clock = ManualClock(local(MONDAY, 10))
    hub = start_hub(raw, clock=clock)
    pir = topic("intrusion", "pir-1", "event")
    publisher.publish(pir, {"alarm": True})
    assert wait_until(lambda: hub.store.count("events") >= 1, 5)
    publisher.publish(pir, {"alarm": False})
    clock.advance(12 * 3600)  # 22:00: the schedule has armed the finance office
    publisher.publish(pir, {"alarm": True})
    got = receiver.state.wait_for(1, timeout=5.0)
    assert [(r.body["kind"], r.body["device"]["id"]) for r in got] == [("intrusion", "pir-1")]
    # The 10:00 trip was logged only: one alarm in all, and the stored event says the zone was disarmed.
    assert len(hub.store.list_alarms(None, 10)) == 1
    rows = hub.store.connection().execute("SELECT data FROM events WHERE device_id = 'pir-1' ORDER BY id").fetchall()
    assert json.loads(rows[0][0]) == {"alarm": True, "armed": False}
