"""Shared fixtures: a real Mosquitto per test on a free loopback port, a real HTTP 110 receiver, real SQLite files.

Every socket binds 127.0.0.1. Waits are bounded and event-driven (conditions, PUBACKs, polling with a deadline
where the only signal is a database row).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from pysiaalarm.account import SIAAccount
from pysiaalarm.event import SIAEvent
from pysiaalarm.sync.client import SIAClient
from pysiaalarm.utils.enums import CommunicationsProtocol, MessageTypes

from hub.app import Hub
from hub.config import HubConfig
from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver

RECEIVER_SECRET = "test-110-shared-secret"
SIA_ACCOUNT = "1234"
TOKENS = {
    "guard": "guard-token-0123456789",
    "maintenance": "maint-token-0123456789",
    "bureau": "bureau-token-0123456789",
    "admin": "admin-token-0123456789",
}
SITE = "test-school"
PREFIX = "campus"


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.01) -> bool:
    """Poll a condition that has no event to wait on (a database row) until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def base_config(
    tmp_path: Path, broker_port: int, receiver_url: str | None, *, retry_base_s: float = 0.05, retry_max_s: float = 0.5
) -> dict[str, Any]:
    """A small registry: two buttons, a smoke detector, a temperature sensor, a camera."""

    def device(id_: str, kind: str, **extra: Any) -> dict[str, Any]:
        return {
            "id": id_,
            "kind": kind,
            "name": f"{kind} {id_}",
            "location": {"building": "A", "floor": "1", "room": id_},
            **extra,
        }

    endpoints = (
        [{"name": "police-110", "kind": "http", "url": receiver_url, "secret": RECEIVER_SECRET, "timeout_s": 2}]
        if receiver_url
        else []
    )
    return {
        "site": {"id": SITE, "name": "Test School", "address": "1 Test Road"},
        "mqtt": {"host": "127.0.0.1", "port": broker_port, "topic_prefix": PREFIX, "reconnect_max_s": 2},
        "storage": {"path": str(tmp_path / "hub.db")},
        "forwarding": {"endpoints": endpoints, "retry_base_s": retry_base_s, "retry_max_s": retry_max_s},
        "api": {
            "host": "127.0.0.1",
            "port": 0,
            "tokens": [{"name": r, "role": r, "token": t} for r, t in TOKENS.items()],
        },
        "devices": [
            device("cam-1", "camera"),
            device("btn-1", "panic_button", cameras=["cam-1"]),
            device("btn-2", "panic_button"),
            device("smoke-1", "smoke"),
            device("temp-1", "temperature"),
        ],
    }


def topic(kind: str, device_id: str, channel: str) -> str:
    return f"{PREFIX}/{SITE}/{kind}/{device_id}/{channel}"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path / "broker") as running:
        yield running


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver(RECEIVER_SECRET).start()
    yield running
    running.stop()


class Publisher:
    """A device-side MQTT client that waits for the broker's PUBACK on every QoS 1 publish."""

    def __init__(self, port: int, client_id: str | None = None) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"test-publisher-{port}")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def publish(self, topic_: str, payload: bytes | str | dict[str, Any], qos: int = 1, retain: bool = False) -> None:
        data = json.dumps(payload) if isinstance(payload, dict) else payload
        info = self.client.publish(topic_, data, qos=qos, retain=retain)
        assert info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS
        info.wait_for_publish(timeout=5)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(broker: Mosquitto) -> Iterator[Publisher]:
    pub = Publisher(broker.port)
    yield pub
    pub.close()


HubFactory = Callable[..., Hub]


@pytest.fixture
def start_hub(tmp_path: Path, broker: Mosquitto) -> Iterator[HubFactory]:
    """Start hubs on the test's broker; each is stopped at the end. Pass a config dict or get the default.

    The worker supervisor's exit is recorded instead of ending pytest (pass `exit_action` to see it); an exit no
    test asked about fails the test."""
    hubs: list[Hub] = []
    exits: list[int] = []

    def factory(raw: dict[str, Any] | None = None, *, api: bool = False, **kwargs: Any) -> Hub:
        config = HubConfig.model_validate(raw if raw is not None else base_config(tmp_path, broker.port, None))
        kwargs.setdefault("exit_action", exits.append)
        hub = Hub(config, **kwargs)
        hubs.append(hub)
        hub.start()
        assert hub.ingest.wait_connected(10), "hub did not connect and subscribe to the broker"
        if api:
            hub.start_api_thread()
        return hub

    yield factory
    for hub in hubs:
        hub.stop()
    assert not exits, f"the worker supervisor would have ended the hub process ({exits})"


# --- a real SIA DC-09 receiver (pysiaalarm) --------------------------------------------------------------


class SiaReceiver:
    """pysiaalarm's threaded receiver on 127.0.0.1, collecting the events it ACKs."""

    def __init__(self, accounts: list[SIAAccount], protocol: CommunicationsProtocol) -> None:
        self.events: list[SIAEvent] = []
        self._changed = threading.Condition()
        self.client = SIAClient("127.0.0.1", 0, accounts, self._on_event, protocol)
        address = self.client.sia_server.server_address
        assert isinstance(address, tuple)
        self.port = int(address[1])

    def _on_event(self, event: SIAEvent) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> list[SIAEvent]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.events) >= count, timeout)
            return list(self.events)

    def alarms(self) -> list[SIAEvent]:
        """Events other than the RP pysiaalarm makes of a NULL frame."""
        with self._changed:
            return [e for e in self.events if e.message_type != MessageTypes.NULL]


ReceiverFactory = Callable[..., SiaReceiver]


@pytest.fixture
def sia() -> Iterator[ReceiverFactory]:
    started: list[SiaReceiver] = []

    def factory(
        key: str | None = None,
        account: str = SIA_ACCOUNT,
        protocol: CommunicationsProtocol = CommunicationsProtocol.TCP,
    ) -> SiaReceiver:
        receiver = SiaReceiver([SIAAccount(account, key)], protocol)
        receiver.client.start()
        started.append(receiver)
        return receiver

    yield factory
    for receiver in started:
        receiver.client.stop()


# --- tiers ------------------------------------------------------------------------------------------------------

# Fixtures that start a process or a whole hub (a broker, a browser, a metrics server, a hub process), or build the
# labelled picture sets: a test that uses one is `slow`. `pytest -m "not slow"` is the quick inner loop: pure
# functions and in-process tests.
SLOW_FIXTURES = frozenset(
    {
        "broker",
        "publisher",
        "start_hub",
        "hub",
        "hubs",
        "hub_process",
        "hub_with_alarm",
        "browser",
        "page",
        "victoria_metrics",
        "secured",
        "school",
        "tune_set",
        "holdout_set",
        "hard_healthy",
        "tune_checks",
        "holdout_checks",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
