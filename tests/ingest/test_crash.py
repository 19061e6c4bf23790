"""SIGKILL the hub process at the worst moments; after a restart every alarm is delivered under one alarm id."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from hub.devtools.broker import Mosquitto, free_port
from hub.devtools.receiver import Receiver
from tests.alerts.test_dc09 import ACCOUNT, KEY16
from tests.conftest import RECEIVER_SECRET, Publisher, ReceiverFactory, base_config, topic, wait_until


class HubProcess:
    """`python -m hub run` as a child process, so it can be killed like a real one."""

    def __init__(self, config_path: Path, api_port: int, log_path: Path) -> None:
        self.config_path = config_path
        self.api_port = api_port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> HubProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub", "run", "--config", str(self.config_path)], stdout=log, stderr=log
        )
        log.close()

        def healthy() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"hub exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                return httpx.get(f"http://127.0.0.1:{self.api_port}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        assert wait_until(healthy, 20, interval=0.05), self.log_path.read_text()[-2000:]
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def hub_process(tmp_path: Path) -> Iterator[list[HubProcess]]:
    started: list[HubProcess] = []
    yield started
    for proc in started:
        proc.stop()


def _write_config(tmp_path: Path, raw: dict[str, Any]) -> tuple[Path, int]:
    port = free_port()
    raw["api"]["port"] = port
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path, port


def test_killed_mid_post_resends_the_same_alarm_after_restart(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, hub_process: list[HubProcess]
) -> None:
    receiver = Receiver(RECEIVER_SECRET).start()
    try:
        raw = base_config(tmp_path, broker.port, receiver.url)
        raw["forwarding"]["endpoints"][0]["timeout_s"] = 30
        path, port = _write_config(tmp_path, raw)
        receiver.state.hold_s = 2.0  # the receiver is slow: the hub is inside its POST when it dies
        hub = HubProcess(path, port, tmp_path / "hub.log").start()
        hub_process.append(hub)
        publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
        assert receiver.state.wait_for_posts(1, timeout=5)
        hub.kill()
        receiver.state.hold_s = 0.0

        alarms = _rows(tmp_path / "hub.db", "SELECT id FROM alarms")
        assert len(alarms) == 1, "the alarm was committed before the POST started"
        hub_process.append(HubProcess(path, port, tmp_path / "hub.log").start())
        assert wait_until(lambda: _rows(tmp_path / "hub.db", "SELECT state FROM outbox") == [("delivered",)], 10), (
            "not delivered after restart"
        )
        assert receiver.state.unique_alarm_ids() == {alarms[0][0]}
        assert _rows(tmp_path / "hub.db", "SELECT COUNT(*) FROM alarms") == [(1,)]
    finally:
        receiver.stop()


def test_killed_during_a_burst_of_500_presses_loses_none(
    tmp_path: Path, broker: Mosquitto, hub_process: list[HubProcess]
) -> None:
    receiver = Receiver(RECEIVER_SECRET).start()
    try:
        raw = base_config(tmp_path, broker.port, receiver.url)
        buttons = [f"btn-{n:02d}" for n in range(50)]
        raw["devices"] = [
            {"id": b, "kind": "panic_button", "name": b, "location": {"building": "B", "floor": "2", "room": b}}
            for b in buttons
        ]
        path, port = _write_config(tmp_path, raw)
        hub = HubProcess(path, port, tmp_path / "hub.log").start()
        hub_process.append(hub)

        # Ten presses of each of 50 buttons, interleaved, from a device-side thread: 500 in all.
        def burst() -> None:
            pub = Publisher(broker.port, client_id="burst")
            try:
                for seq in range(1, 11):
                    for button in buttons:
                        pub.publish(topic("panic_button", button, "event"), {"pressed": True, "seq": seq})
            finally:
                pub.close()

        presser = threading.Thread(target=burst)
        presser.start()
        assert receiver.state.wait_for_posts(5, timeout=10)
        hub.kill()  # mid-burst: some presses committed, some acknowledged, some only on the broker
        presser.join(30)
        assert not presser.is_alive()
        hub_process.append(HubProcess(path, port, tmp_path / "hub.log").start())

        def all_delivered() -> bool:
            rows = _rows(tmp_path / "hub.db", "SELECT state, COUNT(*) FROM outbox GROUP BY state")
            return rows == [("delivered", 50)]

        def triggers_counted() -> bool:
            return _rows(tmp_path / "hub.db", "SELECT SUM(trigger_count) FROM alarms") == [(500,)]

        assert wait_until(all_delivered, 20), _rows(
            tmp_path / "hub.db", "SELECT state, COUNT(*) FROM outbox GROUP BY state"
        )
        assert wait_until(triggers_counted, 20), _rows(tmp_path / "hub.db", "SELECT SUM(trigger_count) FROM alarms")
        per_device = _rows(
            tmp_path / "hub.db", "SELECT device_id, COUNT(*), MAX(trigger_count) FROM alarms GROUP BY device_id"
        )
        assert len(per_device) == 50
        assert all(count == 1 for _, count, _ in per_device), "a device got a second alarm"
        assert all(triggers == 10 for _, _, triggers in per_device), "a press was lost or counted twice"
        received = {r.body["device"]["id"]: r.body["alarm_id"] for r in receiver.state.received}
        assert set(received) == set(buttons)
        db_ids = dict(_rows(tmp_path / "hub.db", "SELECT device_id, id FROM alarms"))
        assert received == db_ids, "an alarm reached the receiver under an id the hub does not have"
    finally:
        receiver.stop()


def test_sigterm_stops_cleanly_and_says_offline(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, hub_process: list[HubProcess]
) -> None:
    path, port = _write_config(tmp_path, base_config(tmp_path, broker.port, None))
    hub = HubProcess(path, port, tmp_path / "hub.log").start()
    hub_process.append(hub)
    assert hub.proc is not None
    hub.proc.send_signal(signal.SIGTERM)
    assert hub.proc.wait(15) == 0
    seen: list[bytes] = []
    reader = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="status-after-stop")
    reader.on_message = lambda c, u, m: seen.append(bytes(m.payload))
    reader.connect("127.0.0.1", broker.port)
    reader.subscribe("campus/test-school/hub/status", qos=1)
    reader.loop_start()
    try:
        assert wait_until(lambda: bool(seen), 5)
        assert seen[0] == b"offline"
    finally:
        reader.disconnect()
        reader.loop_stop()


def test_killed_mid_burst_over_dc09_never_reuses_a_sequence_number(
    tmp_path: Path, broker: Mosquitto, hub_process: list[HubProcess], sia: ReceiverFactory
) -> None:
    receiver = sia(key=KEY16)
    raw = base_config(tmp_path, broker.port, None)
    buttons = [f"btn-{n:02d}" for n in range(50)]
    raw["devices"] = [
        {"id": b, "kind": "panic_button", "name": b, "location": {"building": "B", "floor": "2", "room": b}}
        for b in buttons
    ]
    raw["forwarding"]["endpoints"] = [
        {"name": "arc", "kind": "dc09", "host": "127.0.0.1", "port": receiver.port, "account": ACCOUNT, "key": KEY16}
    ]
    path, port = _write_config(tmp_path, raw)
    hub = HubProcess(path, port, tmp_path / "hub.log").start()
    hub_process.append(hub)

    def burst() -> None:
        pub = Publisher(broker.port, client_id="dc09-burst")
        try:
            for seq in (1, 2):
                for button in buttons:
                    pub.publish(topic("panic_button", button, "event"), {"pressed": True, "seq": seq})
        finally:
            pub.close()

    presser = threading.Thread(target=burst)
    presser.start()
    assert wait_until(lambda: len(receiver.alarms()) >= 5, 10)
    hub.kill()
    presser.join(30)
    assert not presser.is_alive()
    hub_process.append(HubProcess(path, port, tmp_path / "hub.log").start())
    zones = {str(n + 1) for n in range(50)}
    assert wait_until(lambda: {e.ri for e in receiver.alarms()} == zones, 20), "an alarm never reached the centre"
    assert wait_until(
        lambda: _rows(tmp_path / "hub.db", "SELECT state, COUNT(*) FROM outbox GROUP BY state") == [("delivered", 50)],
        10,
    )
    meaning: dict[str | None, set[tuple[str, str | None, str | None]]] = {}
    for event in receiver.wait_for(0, 0):
        meaning.setdefault(event.sequence, set()).add((str(event.message_type), event.code, event.ri))
    reused = {seq: what for seq, what in meaning.items() if len(what) > 1}
    assert not reused, f"sequence numbers that named two different events: {reused}"
