"""Device health and fault tickets under the 24-hour rule: pure decisions, then the hub on a real broker with an
injected clock, so a day of SLA passes without sleeping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from device_adapters.base import Channel, DeviceEvent, DeviceKind
from hub.app import Hub
from hub.core.clock import ManualClock
from hub.devtools.broker import Mosquitto
from hub.health.faults import (
    FaultAction,
    FaultKind,
    FaultState,
    faults_for_change,
    next_state,
    sla_deadline,
    sla_fraction,
    warnings_due,
)
from hub.health.model import DeviceHealth, DeviceState, HealthTracker, Trouble, derive_state, is_silent, troubles_of
from tests.conftest import TOKENS, HubFactory, Publisher, base_config, topic, wait_until

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("online", "troubles", "maintenance", "state"),
    [
        (None, frozenset(), False, DeviceState.UNKNOWN),
        (True, frozenset(), False, DeviceState.ONLINE),
        (True, frozenset({Trouble.TAMPER}), False, DeviceState.FAULTY),
        (False, frozenset({Trouble.TAMPER}), False, DeviceState.OFFLINE),
        (False, frozenset(), True, DeviceState.MAINTENANCE),
    ],
)
def test_derive_state(online: bool | None, troubles: frozenset[Trouble], maintenance: bool, state: DeviceState) -> None:
    assert derive_state(online, troubles, maintenance) is state


def test_silent_after_exactly_three_heartbeats() -> None:
    assert not is_silent(T0, 60, T0 + timedelta(seconds=179.9))
    assert is_silent(T0, 60, T0 + timedelta(seconds=180))


def test_low_battery_has_hysteresis_and_tamper_follows_its_flag() -> None:
    low = troubles_of(frozenset(), {"battery_pct": 19.9, "tamper": True}, 20, 25)
    assert low == {Trouble.LOW_BATTERY, Trouble.TAMPER}
    assert troubles_of(low, {"battery_pct": 22}, 20, 25) == low  # between the limits: unchanged
    assert troubles_of(low, {"battery_pct": 25, "tamper": False}, 20, 25) == frozenset()
    assert troubles_of(low, {}, 20, 25) == low  # a message without the fields changes nothing


def _event(channel: Channel, **data: Any) -> DeviceEvent:
    online = None if channel is not Channel.STATUS else data.get("state") == "online"
    return DeviceEvent("d1", DeviceKind.SMOKE, channel, T0, data, online=online)


def test_tracker_plans_then_applies() -> None:
    tracker = HealthTracker({"d1": 60}, [], T0, low_battery_pct=20, battery_clear_pct=25)
    plan = tracker.plan_events([(T0 + timedelta(seconds=1), _event(Channel.TELEMETRY, smoke=False, tamper=True))])
    assert [(t.from_state, t.to_state) for t in plan.transitions] == [(DeviceState.UNKNOWN, DeviceState.FAULTY)]
    assert tracker.get("d1").state is DeviceState.UNKNOWN  # type: ignore[union-attr]  # not applied yet
    tracker.apply(plan)
    assert tracker.get("d1").state is DeviceState.FAULTY  # type: ignore[union-attr]
    lwt = tracker.plan_events([(T0 + timedelta(seconds=2), _event(Channel.STATUS, state="offline"))])
    assert lwt.transitions[0].to_state is DeviceState.OFFLINE
    assert "last will" in lwt.transitions[0].reason


def test_tracker_times_out_silent_devices_from_start_or_last_message() -> None:
    tracker = HealthTracker({"d1": 60, "d2": 60}, [], T0, low_battery_pct=20, battery_clear_pct=25)
    tracker.apply(tracker.plan_events([(T0 + timedelta(seconds=100), _event(Channel.TELEMETRY, smoke=False))]))
    plan = tracker.plan_time(T0 + timedelta(seconds=180))
    assert [(t.device_id, t.to_state) for t in plan.transitions] == [("d2", DeviceState.OFFLINE)]
    tracker.apply(plan)
    later = tracker.plan_time(T0 + timedelta(seconds=280))
    assert [(t.device_id, t.to_state) for t in later.transitions] == [("d1", DeviceState.OFFLINE)]


def test_faults_follow_presence_and_troubles_but_not_in_maintenance() -> None:
    before = DeviceHealth("d", DeviceState.ONLINE, T0, online=True)
    offline = DeviceHealth("d", DeviceState.OFFLINE, T0, online=False, offline_reason="silent")
    assert [(c.kind, c.opening) for c in faults_for_change(before, offline)] == [(FaultKind.OFFLINE, True)]
    assert [(c.kind, c.opening) for c in faults_for_change(offline, before)] == [(FaultKind.OFFLINE, False)]
    tampered = DeviceHealth("d", DeviceState.FAULTY, T0, online=True, troubles=frozenset({Trouble.TAMPER}))
    assert [(c.kind, c.opening) for c in faults_for_change(before, tampered)] == [(FaultKind.TAMPER, True)]
    planned = DeviceHealth("d", DeviceState.MAINTENANCE, T0, online=False, maintenance=True)
    assert faults_for_change(before, planned) == []


def test_sla_arithmetic() -> None:
    due = sla_deadline(T0, 24)
    assert due == T0 + timedelta(hours=24)
    assert sla_fraction(T0, due, T0 + timedelta(hours=12)) == pytest.approx(0.5)
    assert warnings_due(0.85, 0.0, [0.5, 0.8]) == [0.5, 0.8]
    assert warnings_due(0.85, 0.5, [0.5, 0.8]) == [0.8]
    assert warnings_due(0.4, 0.0, [0.5, 0.8]) == []


@pytest.mark.parametrize(
    ("state", "action", "result"),
    [
        (FaultState.REGISTERED, FaultAction.ASSIGN, FaultState.ASSIGNED),
        (FaultState.ASSIGNED, FaultAction.START_REPAIR, FaultState.IN_REPAIR),
        (FaultState.IN_REPAIR, FaultAction.RECOVER, FaultState.RECOVERED),
        (FaultState.RECOVERED, FaultAction.VERIFY, FaultState.VERIFIED),
        (FaultState.VERIFIED, FaultAction.CLOSE, FaultState.CLOSED),
        (FaultState.REGISTERED, FaultAction.CLOSE, None),
        (FaultState.IN_REPAIR, FaultAction.VERIFY, None),
        (FaultState.CLOSED, FaultAction.ASSIGN, None),
    ],
)
def test_closed_loop(state: FaultState, action: FaultAction, result: FaultState | None) -> None:
    assert next_state(state, action) == result


# --- the hub, a real broker, and a day on an injected clock ---------------------------------------------------


class Escalations:
    def __init__(self, port: int) -> None:
        self.seen: list[dict[str, Any]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="escalation-reader")
        self.client.on_message = lambda c, u, m: self.seen.append(json.loads(m.payload))
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("campus/test-school/hub/escalation", qos=1)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _api(hub: Hub, role: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{hub.api_port}", headers={"Authorization": f"Bearer {TOKENS[role]}"}, timeout=5
    )


def _faults(hub: Hub, subject: str) -> list[dict[str, Any]]:
    return [f for f in hub.health_store.list_faults() if f["subject"] == subject]


def test_a_silent_sensor_goes_offline_opens_a_fault_and_is_escalated_at_24_hours(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    clock = ManualClock(T0)
    raw = base_config(tmp_path, broker.port, None)
    raw["health"] = {"check_interval_s": 60}  # the test drives the watcher itself
    raw["sla"] = {"recovery_hours": 24, "warn_at": [0.5, 0.8], "flap_window_s": 600}
    hub = start_hub(raw, api=True, clock=clock)
    escalations = Escalations(broker.port)
    try:
        publisher.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": 21.0, "battery_pct": 90})
        assert wait_until(lambda: hub.tracker.get("temp-1").state is DeviceState.ONLINE, 5)  # type: ignore[union-attr]

        clock.advance(179)
        hub.watcher.run_once()
        assert hub.tracker.get("temp-1").state is DeviceState.ONLINE  # type: ignore[union-attr]
        clock.advance(1)
        hub.watcher.run_once()
        assert hub.tracker.get("temp-1").state is DeviceState.OFFLINE  # type: ignore[union-attr]
        (fault,) = _faults(hub, "temp-1")
        # Its clock runs from when it went silent (last heard + one 60 s heartbeat), not from when the hub noticed.
        opened = T0 + timedelta(seconds=60)
        assert (fault["kind"], fault["state"]) == ("offline", "registered")
        assert fault["due_at"] == (opened + timedelta(hours=24)).isoformat(timespec="microseconds")
        assert fault["noticed_at"] == (T0 + timedelta(seconds=180)).isoformat(timespec="microseconds")

        with _api(hub, "maintenance") as api:
            device = api.get("/api/v1/devices/temp-1").json()
            assert device["state"] == "offline"
            assert device["open_faults"][0]["time_left_s"] == pytest.approx(24 * 3600 - 120)
            assert device["transitions"][0]["to"] == "offline"

            clock.advance(12 * 3600)
            hub.watcher.run_once()
            clock.advance(int(7.3 * 3600))
            hub.watcher.run_once()
            log = [e["action"] for e in api.get(f"/api/v1/faults/{fault['id']}").json()["log"]]
            assert log == ["registered", "sla_warning", "sla_warning"]

            # Back for a moment, then silent again inside the flap window: the same fault, the same deadline.
            publisher.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": 21.0})
            assert wait_until(lambda: _faults(hub, "temp-1")[0]["state"] == "recovered", 5)
            clock.advance(180)
            hub.watcher.run_once()
            (again,) = _faults(hub, "temp-1")
            assert (again["id"], again["state"], again["recurrences"]) == (fault["id"], "registered", 1)
            assert again["due_at"] == fault["due_at"]

            clock.advance(5 * 3600)  # past the 24 hours
            hub.watcher.run_once()
            breached = api.get(f"/api/v1/faults/{fault['id']}").json()
            assert breached["breached"] is True
            assert breached["breached_at"] is not None
            assert breached["time_left_s"] < 0
            # Every silent device of the registry breaches together; find this sensor's escalation.
            assert wait_until(lambda: any(e["fault_id"] == fault["id"] for e in escalations.seen), 5)
            mine = [e for e in escalations.seen if e["fault_id"] == fault["id"]]
            assert (mine[0]["type"], mine[0]["subject"], mine[0]["kind"]) == ("sla_breach", "temp-1", "offline")
            hub.watcher.run_once()
            assert [e["action"] for e in api.get(f"/api/v1/faults/{fault['id']}").json()["log"]].count(
                "sla_breach"
            ) == 1, "a breach is escalated once"
    finally:
        escalations.close()


def test_last_will_tamper_and_the_closed_loop_through_the_api(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    clock = ManualClock(T0)
    raw = base_config(tmp_path, broker.port, None)
    raw["health"] = {"check_interval_s": 60}
    hub = start_hub(raw, api=True, clock=clock)
    publisher.publish(topic("smoke", "smoke-1", "telemetry"), {"smoke": False, "tamper": True, "battery_pct": 80})
    assert wait_until(lambda: hub.tracker.get("smoke-1").state is DeviceState.FAULTY, 5)  # type: ignore[union-attr]
    publisher.publish(topic("smoke", "smoke-1", "status"), "offline", retain=True)
    assert wait_until(lambda: hub.tracker.get("smoke-1").state is DeviceState.OFFLINE, 5)  # type: ignore[union-attr]
    kinds = sorted(f["kind"] for f in _faults(hub, "smoke-1"))
    assert kinds == ["offline", "tamper"]
    tamper = next(f for f in _faults(hub, "smoke-1") if f["kind"] == "tamper")

    with _api(hub, "maintenance") as api, _api(hub, "bureau") as bureau, _api(hub, "guard") as guard:
        assert [d["id"] for d in guard.get("/api/v1/devices", params={"state": "offline"}).json()["devices"]] == [
            "smoke-1"
        ]
        assert bureau.get("/api/v1/faults", params={"state": "open"}).status_code == 200
        assert bureau.post(f"/api/v1/faults/{tamper['id']}/assign", json={"to": "x"}).status_code == 403
        assert guard.post(f"/api/v1/faults/{tamper['id']}/start-repair", json={}).status_code == 403

        fid = tamper["id"]
        assert api.post(f"/api/v1/faults/{fid}/assign", json={}).json()["error"]["code"] == "invalid_request"
        assert api.post(f"/api/v1/faults/{fid}/assign", json={"to": "李工 Engineer Li"}).json()["state"] == "assigned"
        assert api.post(f"/api/v1/faults/{fid}/verify", json={}).json()["error"]["code"] == "fault_state_conflict"
        assert api.post(f"/api/v1/faults/{fid}/start-repair", json={"note": "on site"}).json()["state"] == "in_repair"
        assert api.post(f"/api/v1/faults/{fid}/notes", json={"note": "cover reseated"}).status_code == 201
        # The device itself says the tamper is gone: the fault recovers on its own.
        publisher.publish(topic("smoke", "smoke-1", "telemetry"), {"smoke": False, "tamper": False})
        assert wait_until(lambda: hub.health_store.get_fault(fid)["state"] == "recovered", 5)
        assert api.post(f"/api/v1/faults/{fid}/verify", json={"note": "tested"}).json()["state"] == "verified"
        closed = api.post(f"/api/v1/faults/{fid}/close", json={}).json()
        assert closed["state"] == "closed"
        assert closed["assignee"] == "李工 Engineer Li"
        assert [e["action"] for e in closed["log"]] == [
            "registered",
            "assign",
            "start_repair",
            "note",
            "recovered",
            "verify",
            "close",
        ]
        manual = api.post("/api/v1/faults", json={"subject": "cam-1", "summary": "lens cracked on inspection"})
        assert manual.status_code == 201
        assert (manual.json()["kind"], manual.json()["source"]) == ("inspection", "manual:maintenance")
        assert api.post("/api/v1/faults", json={"subject": "cam-1", "summary": "again"}).status_code == 409
    actions = [a["action"] for a in hub.store.list_audit()]
    assert {"fault.assign", "fault.start_repair", "fault.note", "fault.verify", "fault.close", "fault.open"} <= set(
        actions
    )
