"""While the store cannot write, telemetry is shed: that silence is the hub's, not the devices'. The health watcher
does not take devices offline meanwhile, and the span counts as the hub's absence once the store recovers."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from hub.core.clock import ManualClock
from hub.devtools.broker import Mosquitto
from hub.health.model import DeviceState
from hub.store.db import StoreDegraded
from tests.conftest import HubFactory, Publisher, base_config, topic, wait_until
from tests.smalldisk import fill, small_disk

__all__ = ["small_disk"]  # the fixture, used by name

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _state(hub_tracker_get: object) -> DeviceState | None:
    return getattr(hub_tracker_get, "state", None)


def test_shed_telemetry_is_not_the_devices_silence(
    small_disk: Path, tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    clock = ManualClock(T0)
    raw = base_config(tmp_path, broker.port, None)
    raw["health"] = {"check_interval_s": 60}  # the test drives the watcher itself
    raw["storage"] = {"path": str(small_disk / "hub.db"), "reserve_mb": 0.5}
    hub = start_hub(raw, clock=clock)
    hub.store_guard.stop()  # and the store guard
    publisher.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": 21.0})
    assert wait_until(lambda: _state(hub.tracker.get("temp-1")) is DeviceState.ONLINE, 5)

    # The disk fills and a write fails; ten heartbeat intervals pass, all shed.
    with sqlite3.connect(small_disk / "hub.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    filler = fill(small_disk, leave=0)
    assert not hub.store.check_writable()
    assert hub.store.degraded is StoreDegraded.FULL
    hub.store_guard.check()  # the guard sees it (and cannot recover: no room for the reserve)
    assert hub.store.degraded is StoreDegraded.FULL
    clock.advance(600)
    hub.watcher.run_once()
    assert _state(hub.tracker.get("temp-1")) is DeviceState.ONLINE

    # Room again: the next check recovers, and the span is the hub's absence.
    filler.unlink()
    hub.store_guard.check()
    assert hub.store.degraded is None
    hub.watcher.run_once()
    assert _state(hub.tracker.get("temp-1")) is DeviceState.ONLINE
    # Three heartbeats after the recovery without a message, the device is offline as usual.
    clock.advance(180)
    hub.watcher.run_once()
    assert _state(hub.tracker.get("temp-1")) is DeviceState.OFFLINE
