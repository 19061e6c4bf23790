"""Presses with the store on a small, full filesystem: telemetry is shed first, the reserve is given up for alarms,
every press reaches the real 110 receiver once, the centres get a store_degraded trouble, /healthz says why, and
the hub recovers when the filesystem grows.

The filesystem is a real tmpfs of a few MB (tests.smalldisk; skipped with the reason where mounting is not allowed).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx

from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver
from hub.store.db import StoreDegraded
from tests.conftest import HubFactory, Publisher, base_config, topic, wait_until
from tests.smalldisk import fill, remount, small_disk

__all__ = ["small_disk"]  # the fixture, used by name

BUTTONS = [f"btn-{n}" for n in range(3, 15)]  # 12 more buttons beside the registry's btn-1 and btn-2


class Flood:
    """Temperature readings published as fast as the broker takes them, until stopped."""

    def __init__(self, port: int) -> None:
        self._publisher = Publisher(port, client_id="flood")
        self._stop = threading.Event()
        self.sent = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._publisher.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": 21.0})
            self.sent += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._publisher.close()


def _troubles(receiver: Receiver, event: str) -> list[dict[str, Any]]:
    with receiver.state.lock:
        return [
            r.body
            for r in receiver.state.received
            if r.body.get("event") == event and r.body.get("kind") == "store_degraded" and not r.duplicate
        ]


def test_presses_get_out_of_a_full_disk_and_telemetry_is_shed(
    small_disk: Path, tmp_path: Path, broker: Mosquitto, receiver: Receiver, start_hub: HubFactory
) -> None:
    raw = base_config(tmp_path, broker.port, receiver.url)
    raw["storage"] = {"path": str(small_disk / "hub.db"), "reserve_mb": 0.5, "space_check_s": 0.1}
    raw["forwarding"]["endpoints"][0]["troubles"] = True  # this receiver takes troubles (HTTP contract)
    raw["devices"] += [
        {"id": b, "kind": "panic_button", "name": f"button {b}", "location": {"building": "B", "floor": "2", "room": b}}
        for b in BUTTONS
    ]
    hub = start_hub(raw, api=True)
    url = f"http://127.0.0.1:{hub.api_port}"
    assert wait_until(lambda: (small_disk / "hub.db.reserve").exists(), 5.0), "no reserve file at start"
    fill(small_disk, leave=256 * 1024)

    flood = Flood(broker.port)
    presser = Publisher(broker.port, client_id="buttons")
    try:
        # Telemetry through the hub fills what is left; the first write that does not fit degrades the store.
        assert wait_until(lambda: hub.store.degraded is StoreDegraded.FULL, 60.0), "the disk never filled"
        assert wait_until(lambda: not (small_disk / "hub.db.reserve").exists(), 5.0), "the reserve was kept"

        # The centres hear that the hub cannot store, written with the reserve's room.
        assert wait_until(lambda: len(_troubles(receiver, "trouble")) == 1, 10.0), "no store_degraded trouble"
        trouble = _troubles(receiver, "trouble")[0]
        assert trouble["subject"] == "hub"
        assert trouble["device"] is None

        # The console's banner notice.
        assert {"reason": "full"} in [dict(e.data) for e in hub.feed.recent(500) if e.kind == "store_degraded"]

        health = httpx.get(f"{url}/healthz", timeout=5)
        assert health.status_code == 503
        assert health.json()["store"] == "full"
        assert "store full" in health.json()["reason"]

        # Every press gets out, once, while the telemetry around them is shed.
        for button in BUTTONS:
            presser.publish(topic("panic_button", button, "event"), {"pressed": True, "seq": 1})
        assert wait_until(lambda: len(receiver.state.unique_alarm_ids()) == len(BUTTONS), 20.0), (
            f"{len(receiver.state.unique_alarm_ids())} of {len(BUTTONS)} presses reached 110 on a full disk"
        )
        with receiver.state.lock:
            alarms = [r.body for r in receiver.state.received if r.body.get("event", "alarm") == "alarm"]
        assert sorted(a["device"]["id"] for a in alarms if a["attempt"] == 1) == sorted(BUTTONS)
        assert hub.store.count("alarms") == len(BUTTONS)
        shed = hub.metrics.registry.get_sample_value("campus_hub_messages_shed_total", {"reason": "store_full"})
        assert shed is not None
        assert shed > 0
        faults = hub.health_store.list_faults(subject="hub")
        assert [(f["kind"], f["state"]) for f in faults] == [("store_degraded", "registered")]

        # Space returns: the hub leaves the degraded state, restores the trouble, and stores telemetry again.
        remount(small_disk, "32m")
        assert wait_until(lambda: hub.store.degraded is None, 10.0), "the store never recovered"
        assert wait_until(lambda: len(_troubles(receiver, "trouble_restore")) == 1, 10.0), "no trouble restore"
        assert (small_disk / "hub.db.reserve").exists()
        before = hub.store.count("events")
        assert wait_until(lambda: hub.store.count("events") > before, 10.0), "telemetry is not stored again"
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        assert hub.health_store.list_faults(subject="hub")[0]["state"] == "recovered"
        assert any(e.kind == "store_recovered" for e in hub.feed.recent(500))
    finally:
        presser.close()
        flood.stop()


def test_presses_on_a_disk_with_no_room_at_all_get_out_once_it_grows(
    small_disk: Path, tmp_path: Path, broker: Mosquitto, receiver: Receiver, start_hub: HubFactory
) -> None:
    """No reserve and not a byte free: the presses wait, unacknowledged, and each goes out once when space
    returns; the telemetry around them is shed meanwhile."""
    raw = base_config(tmp_path, broker.port, receiver.url)
    raw["storage"] = {"path": str(small_disk / "hub.db"), "reserve_mb": 0, "space_check_s": 0.1}
    raw["forwarding"]["endpoints"][0]["troubles"] = True
    raw["devices"] += [
        {"id": b, "kind": "panic_button", "name": f"button {b}", "location": {"building": "B", "floor": "2", "room": b}}
        for b in BUTTONS
    ]
    hub = start_hub(raw)
    with sqlite3.connect(small_disk / "hub.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # an empty WAL: every write needs new room
    filler = fill(small_disk, leave=0)
    flood = Flood(broker.port)
    presser = Publisher(broker.port, client_id="buttons")
    try:
        assert wait_until(lambda: hub.store.degraded is StoreDegraded.FULL, 30.0), "the full disk went unnoticed"
        for button in BUTTONS:
            presser.publish(topic("panic_button", button, "event"), {"pressed": True, "seq": 1})
        # Nothing can be written, so nothing is raised (an alarm is forwarded only once it is committed)...
        assert not receiver.state.wait_for(1, timeout=1.0)
        assert hub.store.count("alarms") == 0
        # ...and once there is room, every press goes out, once.
        filler.unlink()
        remount(small_disk, "32m")
        assert wait_until(lambda: len(receiver.state.unique_alarm_ids()) == len(BUTTONS), 20.0), (
            f"{len(receiver.state.unique_alarm_ids())} of {len(BUTTONS)} presses reached 110 after the disk grew"
        )
        assert hub.store.count("alarms") == len(BUTTONS)
        shed = hub.metrics.registry.get_sample_value("campus_hub_messages_shed_total", {"reason": "store_full"})
        assert shed is not None
        assert shed > 0
        assert wait_until(lambda: hub.store.degraded is None, 10.0)
        # The centres heard of the outage, and of its end, once each.
        assert wait_until(lambda: len(_troubles(receiver, "trouble_restore")) == 1, 10.0)
        assert len(_troubles(receiver, "trouble")) == 1
    finally:
        presser.close()
        flood.stop()
