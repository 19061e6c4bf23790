"""Honest SLA clocks: an offline fault's clock starts when the device went silent (not when the hub noticed), a
person cannot stop an automatic fault's clock while the device still fails (only an audited override, re-checked),
inspection findings take the recorder's deadline, and check-config warns about slow life-safety heartbeats
(real Mosquitto, real uvicorn on loopback, real SQLite files)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from hub.config.loader import parse_config
from hub.core.clock import ManualClock, from_iso, to_iso
from hub.devtools.broker import Mosquitto
from hub.health.faults import FaultChange, FaultKind
from hub.health.model import DeviceState
from hub.store import Store
from hub.store.health import HealthStore
from tests.conftest import TOKENS, HubFactory, Publisher, base_config, topic, wait_until

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def _client(hub: Any, role: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{hub.api_port}", headers={"Authorization": f"Bearer {TOKENS[role]}"}, timeout=10
    )


def test_an_offline_faults_clock_starts_when_the_device_went_silent(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    clock = ManualClock(T0)
    raw = base_config(tmp_path, broker.port, None)
    for device in raw["devices"]:
        device["heartbeat_s"] = 3600 if device["id"] == "temp-1" else 86400
    hub = start_hub(raw, api=True, clock=clock)
    publisher.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": 20.0})
    assert wait_until(lambda: (hub.tracker.get("temp-1") or _no).state is DeviceState.ONLINE, 5)
    heard = (hub.tracker.get("temp-1") or _no).last_seen_at
    assert heard is not None
    clock.advance(3 * 3600 + 120)  # three missed heartbeats and two minutes: the hub notices now
    hub.watcher.run_once()
    (fault,) = hub.health_store.list_faults(subject="temp-1")
    assert fault["kind"] == "offline"
    # Silent from one heartbeat after it was last heard; the hub noticed 2 h 2 min later; 24 h from the silence.
    assert from_iso(fault["opened_at"]) == heard + timedelta(hours=1)
    assert from_iso(fault["noticed_at"]) == clock.now()
    assert from_iso(fault["due_at"]) == heard + timedelta(hours=25)


class _no:  # noqa: N801 (a stand-in for a device the tracker does not know)
    state = None
    last_seen_at = None


def test_an_older_file_gets_noticed_at_and_keeps_its_faults(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE faults (id INTEGER PRIMARY KEY, subject TEXT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL,
            source TEXT NOT NULL, summary TEXT NOT NULL, opened_at TEXT NOT NULL, due_at TEXT NOT NULL, assignee TEXT,
            recovered_at TEXT, resume_state TEXT, verified_at TEXT, closed_at TEXT, breached_at TEXT,
            warned_fraction REAL NOT NULL DEFAULT 0, recurrences INTEGER NOT NULL DEFAULT 0);
        """
    )
    old.execute(
        "INSERT INTO faults (subject, kind, state, source, summary, opened_at, due_at)"
        " VALUES ('btn-1', 'offline', 'registered', 'auto', 'old', ?, ?)",
        (to_iso(T0), to_iso(T0 + timedelta(hours=24))),
    )
    old.commit()
    old.close()
    store = Store(path, ManualClock(T0))
    store.open()
    faults = HealthStore(store, 24, 600)
    faults.open()
    faults.open()  # twice: the migration is idempotent
    (row,) = faults.list_faults()
    assert (row["subject"], row["opened_at"], row["noticed_at"]) == ("btn-1", to_iso(T0), None)
    assert store.meta_get("schema:faults") == "2"
    new_id = faults.open_manual("cam-1", FaultKind.INSPECTION, "lens cracked", _actor(), T0, 48)
    assert faults.get_fault(new_id)["noticed_at"] == to_iso(T0)
    store.close_thread_connection()


def _actor() -> Any:
    from hub.store import Actor

    return Actor("Wang", "maintenance")


def test_recovering_a_fault_while_the_device_is_down_needs_an_audited_override_that_is_rechecked(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    clock = ManualClock(T0)
    raw = base_config(tmp_path, broker.port, None)
    for device in raw["devices"]:
        device["heartbeat_s"] = 86400
    raw["health"] = {"check_interval_s": 60}  # the test runs the watcher itself: no re-check races the asserts
    hub = start_hub(raw, api=True, clock=clock)
    publisher.publish(topic("smoke", "smoke-1", "status"), "offline")  # its last will
    assert wait_until(lambda: (hub.tracker.get("smoke-1") or _no).state is DeviceState.OFFLINE, 5)
    (fault,) = hub.health_store.list_faults(subject="smoke-1")
    url = f"/api/v1/faults/{fault['id']}"
    with _client(hub, "maintenance") as maintenance:
        refused = maintenance.post(f"{url}/recover", json={"note": "looks fine"})
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "device_not_healthy"
        assert maintenance.get(url).json()["state"] == "registered"
        bare = maintenance.post(f"{url}/recover", json={"override": True})
        assert bare.status_code == 422  # an override says why
        clock.advance(600)
        forced = maintenance.post(f"{url}/recover", json={"override": True, "note": "replaced, radio link pending"})
        assert forced.status_code == 200, forced.text
        assert forced.json()["state"] == "recovered"
        # Verifying it while the device is still down is refused too.
        assert maintenance.post(f"{url}/verify", json={}).json()["error"]["code"] == "device_not_healthy"
    with _client(hub, "admin") as admin:
        audit = admin.get("/api/v1/audit").json()["audit"]
    (entry,) = [a for a in audit if a["action"] == "fault.recover_override"]
    assert (entry["actor"], entry["target"]) == ("maintenance", str(fault["id"]))
    # The watcher re-checks: the device still says offline, so the fault is back with its clock never stopped.
    clock.advance(60)
    hub.watcher.run_once()
    again = hub.health_store.get_fault(fault["id"])
    assert (again["state"], again["due_at"], again["recovered_at"]) == ("registered", fault["due_at"], None)
    assert [e["action"] for e in again["log"]][-2:] == ["recover_override", "reopened"]
    # Once the device reports in, the hub recovers it itself; a plain recover of a healthy device's fault works.
    publisher.publish(topic("smoke", "smoke-1", "status"), "online")
    assert wait_until(lambda: hub.health_store.get_fault(fault["id"])["state"] == "recovered", 5)
    with _client(hub, "maintenance") as maintenance:
        assert maintenance.post(f"{url}/verify", json={}).status_code == 200


def test_inspection_findings_take_the_recorders_deadline(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    clock = ManualClock(T0)
    raw = base_config(tmp_path, broker.port, None)
    raw["sla"] = {"inspection_deadline_hours": 120}
    hub = start_hub(raw, api=True, clock=clock)
    with _client(hub, "maintenance") as maintenance:
        given = maintenance.post(
            "/api/v1/faults",
            json={"subject": "cam-1", "kind": "inspection", "summary": "sign missing", "deadline_hours": 168},
        )
        assert given.status_code == 201, given.text
        assert from_iso(given.json()["due_at"]) == T0 + timedelta(hours=168)
        default = maintenance.post(
            "/api/v1/faults", json={"subject": "btn-2", "kind": "inspection", "summary": "label worn"}
        )
        assert from_iso(default.json()["due_at"]) == T0 + timedelta(hours=120)
        # An equipment failure registered by hand keeps the 24-hour rule: no deadline of a person's choosing.
        failure = maintenance.post(
            "/api/v1/faults",
            json={"subject": "btn-1", "kind": "tamper", "summary": "cover open", "deadline_hours": 72},
        )
        assert failure.status_code == 422
        plain = maintenance.post("/api/v1/faults", json={"subject": "btn-1", "kind": "tamper", "summary": "cover"})
        assert from_iso(plain.json()["due_at"]) == T0 + timedelta(hours=24)
        # A person's manual fault (not automatic) may be recovered by hand without any override.
        recovered = maintenance.post(f"/api/v1/faults/{plain.json()['id']}/recover", json={"note": "closed"})
        assert recovered.status_code == 200
    with _client(hub, "admin") as admin:
        opened = [a for a in admin.get("/api/v1/audit").json()["audit"] if a["action"] == "fault.open"]
    assert {a["detail"]["deadline_hours"] for a in opened} >= {168, 120}


def test_check_config_warns_when_a_life_safety_device_is_noticed_offline_late(tmp_path: Path) -> None:
    raw = base_config(tmp_path, 1883, None)
    text = yaml.safe_dump(raw)
    assert not [w for w in parse_config(text, "hub.yaml", base_dir=tmp_path, environ={}).warnings() if "life" in w]
    raw["devices"][1]["heartbeat_s"] = 120  # btn-1: 3 x 120 s = 6 minutes
    raw["devices"][4]["heartbeat_s"] = 3600  # temp-1 is not life-safety: no warning for it
    warned = [w for w in parse_config(yaml.safe_dump(raw), "hub.yaml", base_dir=tmp_path, environ={}).warnings()]
    (line,) = [w for w in warned if "life-safety" in w]
    assert "'btn-1'" in line
    assert line.startswith("1 life-safety")


def test_an_automatic_fault_the_hub_cannot_ask_about_is_recovered_by_hand_only_with_an_override(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory
) -> None:
    clock = ManualClock(T0)
    hub = start_hub(base_config(tmp_path, broker.port, None), api=True, clock=clock)
    # A device flooding the broker: the hub recovers it itself when the rate falls; no device health says so.
    (event,) = hub.health_store.apply_changes([FaultChange("temp-1", FaultKind.FLOODING, True, "flood")], T0)
    url = f"/api/v1/faults/{event.fault_id}"
    with _client(hub, "maintenance") as maintenance:
        plain = maintenance.post(f"{url}/recover", json={"note": "looks calm"})
        assert (plain.status_code, plain.json()["error"]["code"]) == (409, "device_not_healthy")
        forced = maintenance.post(f"{url}/recover", json={"note": "firmware fixed", "override": True})
        assert forced.json()["state"] == "recovered"
        # Nothing to re-check for it, so verifying is not held up.
        assert maintenance.post(f"{url}/verify", json={}).status_code == 200


def test_a_recordings_shortfall_marked_recovered_by_override_is_reopened_while_still_short(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    clock = ManualClock(datetime.now(UTC))
    raw = base_config(tmp_path, broker.port, None)
    raw["health"] = {"check_interval_s": 60}  # the test runs the watcher itself: no re-check races the asserts
    hub = start_hub(raw, api=True, clock=clock)
    full_disk = {
        "labels": ["healthy"],
        "oldest_recording": to_iso(clock.now() - timedelta(days=40)),
        "storage_used_gb": 2500,
        "storage_free_gb": 0,
        "write_rate_mbps": 4.0,
    }
    publisher.publish(topic("camera", "cam-1", "health"), full_disk)
    assert wait_until(lambda: hub.recordings.run_once()[0].compliant is False, 10)
    (fault,) = hub.health_store.list_faults(subject="cam-1")
    url = f"/api/v1/faults/{fault['id']}"
    with _client(hub, "maintenance") as maintenance:
        plain = maintenance.post(f"{url}/recover", json={"note": "new disk ordered"})
        assert plain.json()["error"]["code"] == "device_not_healthy"
        forced = maintenance.post(f"{url}/recover", json={"note": "new disk ordered", "override": True})
        assert forced.json()["state"] == "recovered"
    hub.watcher.run_once()
    again = hub.health_store.get_fault(fault["id"])
    assert (again["state"], again["due_at"]) == ("registered", fault["due_at"])
