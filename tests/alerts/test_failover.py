"""Fan-out, failover and path health: pure decisions first, then two real receivers on loopback."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerts.failover import FailoverPolicy, legs_to_activate
from alerts.paths import PathMonitor, PathStatus, path_status
from hub.core.clock import ManualClock
from hub.devtools.broker import Mosquitto, free_port
from hub.devtools.receiver import Receiver
from hub.store import Leg
from tests.conftest import RECEIVER_SECRET, TOKENS, HubFactory, Publisher, base_config, topic, wait_until

T0 = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
POLICY = FailoverPolicy(after_failures=2, after_s=2.0)


def _legs(*specs: tuple[str, int]) -> list[Leg]:
    return [
        Leg(outbox_id=100 + n, position=n, state=state, attempts=attempts) for n, (state, attempts) in enumerate(specs)
    ]


def test_standby_waits_while_the_first_path_has_its_chance() -> None:
    legs = _legs(("pending", 1), ("standby", 0), ("standby", 0))
    assert legs_to_activate(legs, T0, T0 + timedelta(seconds=1), POLICY) == []


def test_failures_bring_in_the_next_path_only() -> None:
    legs = _legs(("pending", 2), ("standby", 0), ("standby", 0))
    assert legs_to_activate(legs, T0, T0 + timedelta(seconds=1), POLICY) == [101]


def test_a_permanent_refusal_brings_in_the_next_path_at_once() -> None:
    legs = _legs(("failed", 1), ("standby", 0))
    assert legs_to_activate(legs, T0, T0, POLICY) == [101]


def test_time_brings_in_each_path_in_turn() -> None:
    legs = _legs(("pending", 0), ("standby", 0), ("standby", 0))
    assert legs_to_activate(legs, T0, T0 + timedelta(seconds=2), POLICY) == [101]
    assert legs_to_activate(legs, T0, T0 + timedelta(seconds=4), POLICY) == [101, 102]


def test_nothing_after_a_delivery() -> None:
    legs = _legs(("delivered", 1), ("standby", 0))
    assert legs_to_activate(legs, T0, T0 + timedelta(hours=1), POLICY) == []


@pytest.mark.parametrize(
    ("failures", "succeeded", "status"),
    [
        (0, False, PathStatus.UNKNOWN),
        (0, True, PathStatus.UP),
        (1, True, PathStatus.DEGRADED),
        (3, False, PathStatus.DOWN),
    ],
)
def test_path_status(failures: int, succeeded: bool, status: PathStatus) -> None:
    assert path_status(failures, succeeded, down_after=3) is status


def test_path_monitor_tracks_since_and_rtt() -> None:
    clock = ManualClock(T0)
    monitor = PathMonitor({"p": "http"}, clock, down_after=2)
    clock.advance(1)
    monitor.success("p", 0.004)
    clock.advance(1)
    monitor.failure("p", "refused")
    clock.advance(1)
    monitor.failure("p", "refused")
    (path,) = monitor.snapshot()
    assert (path.status, path.since, path.rtt_ms, path.consecutive_failures) == (
        PathStatus.DOWN,
        T0 + timedelta(seconds=3),
        4.0,
        2,
    )
    assert path.last_success_at == T0 + timedelta(seconds=1)


def _two_endpoints(tmp_path: Path, broker_port: int, primary: str, backup: str, mode: str) -> dict[str, Any]:
    raw = base_config(tmp_path, broker_port, primary)
    raw["forwarding"]["endpoints"].append(
        {"name": "backup-110", "kind": "http", "url": backup, "secret": RECEIVER_SECRET, "timeout_s": 2}
    )
    # Failover by failures here; the time rule (5 s) is long enough never to fire on a healthy primary.
    raw["forwarding"].update(mode=mode, failover_after_failures=2, failover_after_s=5.0, retry_max_s=0.2)
    return raw


def test_mode_all_delivers_to_every_endpoint(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    backup = Receiver(RECEIVER_SECRET).start()
    try:
        start_hub(_two_endpoints(tmp_path, broker.port, receiver.url, backup.url, "all"))
        publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True})
        first = receiver.state.wait_for(1, timeout=5)
        second = backup.state.wait_for(1, timeout=5)
        assert first[0].body["alarm_id"] == second[0].body["alarm_id"]
    finally:
        backup.stop()


def test_mode_first_fails_over_to_the_backup_and_stands_the_primary_down(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/alarms"  # nothing listens there
    backup = Receiver(RECEIVER_SECRET).start()
    try:
        hub = start_hub(_two_endpoints(tmp_path, broker.port, dead, backup.url, "first"), api=True)
        publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True})
        got = backup.state.wait_for(1, timeout=5)
        assert got, "the backup never received the alarm"
        alarm_id = got[0].body["alarm_id"]
        assert wait_until(
            lambda: [d["state"] for d in hub.store.get_alarm(alarm_id)["deliveries"]] == ["cancelled", "delivered"], 5
        )
        primary = hub.store.get_alarm(alarm_id)["deliveries"][0]
        assert primary["attempts"] >= 2
        assert "delivered via backup-110" in primary["last_error"]
        with httpx.Client(headers={"Authorization": f"Bearer {TOKENS['guard']}"}) as client:
            paths = client.get(f"http://127.0.0.1:{hub.api_port}/api/v1/forwarding").json()
        assert paths["mode"] == "first"
        status = {p["endpoint"]: p for p in paths["paths"]}
        assert status["police-110"]["status"] in ("degraded", "down")
        assert "connection failed" in status["police-110"]["last_error"]
        assert status["backup-110"]["status"] == "up"
        assert status["backup-110"]["rtt_ms"] > 0
    finally:
        backup.stop()


def test_mode_first_with_a_healthy_primary_never_uses_the_backup(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    backup = Receiver(RECEIVER_SECRET).start()
    try:
        hub = start_hub(_two_endpoints(tmp_path, broker.port, receiver.url, backup.url, "first"))
        publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True})
        alarm_id = receiver.state.wait_for(1, timeout=5)[0].body["alarm_id"]
        assert wait_until(
            lambda: [d["state"] for d in hub.store.get_alarm(alarm_id)["deliveries"]] == ["delivered", "cancelled"], 5
        )
        assert backup.state.posts == 0
    finally:
        backup.stop()


def test_failover_that_cannot_read_the_store_makes_the_hub_unhealthy_until_it_can(
    tmp_path: Path,
    broker: Mosquitto,
    receiver: Receiver,
    start_hub: HubFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backup = Receiver(RECEIVER_SECRET).start()
    try:
        hub = start_hub(_two_endpoints(tmp_path, broker.port, receiver.url, backup.url, "first"), api=True)
        # The injected fault: failover's store read raises the error SQLite raises for a failing disk (a real failing
        # disk cannot be made here without failing every other reader and writer of the file with it).
        broken = threading.Event()
        real_read = hub.store.standby_alarms

        def standby_alarms() -> Any:
            if broken.is_set():
                raise sqlite3.OperationalError("disk I/O error")
            return real_read()

        monkeypatch.setattr(hub.store, "standby_alarms", standby_alarms)
        with httpx.Client(base_url=f"http://127.0.0.1:{hub.api_port}", timeout=10) as anon:
            assert anon.get("/healthz").status_code == 200
            broken.set()
            assert wait_until(lambda: anon.get("/healthz").status_code == 503, 10)
            assert anon.get("/healthz").json()["reason"] == "failover failing (OperationalError: disk I/O error)"
            broken.clear()
            assert wait_until(lambda: anon.get("/healthz").status_code == 200, 10)
    finally:
        backup.stop()
