"""Overload is visible: a device flooding a real Mosquitto gets a `flooding` fault with its rate (the others do not),
and messages the broker drops for the hub's full queue show as its `$SYS` counter in a metric, a warning and a
notice. Real broker (`sys_interval 1`, so `$SYS` counters come every second), real hub, real SQLite."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hub.app import Hub
from hub.config import HubConfig
from hub.devtools.broker import Limits, Mosquitto
from hub.devtools.receiver import Receiver
from tests.conftest import PREFIX, TOKENS, HubFactory, Publisher, base_config, topic, wait_until

WINDOW_S = 3.0
ALLOWED = 120  # floor_per_min: above temp-1's 10 x 60/5 s heartbeat, well above a device that sends every second


@pytest.fixture
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Mosquitto]:
    """The shared fixture's broker, with `$SYS` every second; `limits` by indirect parametrisation."""
    limits: Limits = getattr(request, "param", "shipped")
    with Mosquitto(tmp_path / "broker", extra_conf="sys_interval 1", limits=limits) as running:
        yield running


def flood_config(tmp_path: Path, port: int) -> dict[str, Any]:
    raw = base_config(tmp_path, port, None)
    raw["flooding"] = {"multiple": 10, "floor_per_min": ALLOWED, "window_s": WINDOW_S}
    for device in raw["devices"]:
        if device["id"] == "temp-1":
            device["heartbeat_s"] = 5
    return raw


class Flooder:
    """A device stuck in a loop: QoS 1 telemetry as fast as the broker acknowledges it, until told to stop."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="flooder")
        self.client.max_inflight_messages_set(100)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.sent = 0
        self.seconds = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="flooder", daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        telemetry = topic("temperature", "temp-1", "telemetry")
        while not self._stop.is_set():
            for n in range(100):
                info = self.client.publish(telemetry, f'{{"celsius": {20 + n / 100}}}', 1)
            info.wait_for_publish(timeout=10)  # paho's queue must not outgrow the broker
            self.sent += 100
        self.seconds = time.monotonic() - started

    def start(self) -> Flooder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)
        self.client.disconnect()
        self.client.loop_stop()


class Steady:
    """A well-behaved device: a status message every second."""

    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="steady", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self._publisher.publish(topic("panic_button", "btn-2", "status"), "online")

    def start(self) -> Steady:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def flooding_faults(api: httpx.Client) -> list[dict[str, Any]]:
    return [f for f in api.get("/api/v1/faults").json()["faults"] if f["kind"] == "flooding"]


def test_a_flooding_device_gets_a_fault_with_its_rate_and_a_steady_one_does_not(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    hub = start_hub(flood_config(tmp_path, broker.port), api=True)
    steady = Steady(publisher).start()
    flooder = Flooder(broker.port).start()
    auth = {"Authorization": f"Bearer {TOKENS['maintenance']}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{hub.api_port}", headers=auth, timeout=5) as api:
        try:
            # One window is held back after connecting (the broker's backlog), then one full window is judged.
            assert wait_until(lambda: bool(flooding_faults(api)), 30, interval=0.1), "no flooding fault opened"
        finally:
            flooder.stop()
        (fault,) = flooding_faults(api)
        assert fault["subject"] == "temp-1"
        assert fault["state"] == "registered"
        found = re.fullmatch(rf"sending (\d+) msg/min over 3 s; allowed {ALLOWED} msg/min", fault["summary"])
        assert found, fault["summary"]
        assert int(found[1]) > ALLOWED
        due = (fault["due_at"], fault["opened_at"])
        assert due[0] > due[1]  # on the 24-hour clock like any equipment fault

        metrics = api.get("/metrics").text
        assert "campus_hub_flooding_devices 1.0" in metrics
        assert re.search(r'campus_hub_device_message_rate\{device="temp-1"\} \d', metrics)
        lag = re.search(r'campus_hub_ingest_lag_seconds_count\{lane="telemetry"\} (\d+)', metrics)
        assert lag
        assert int(lag[1]) > 0

        # The flood has stopped: once ingest has caught up and a whole window stayed under, the fault recovers.
        assert wait_until(lambda: flooding_faults(api)[0]["state"] == "recovered", 90, interval=0.2)
        steady.stop()
        assert [f["subject"] for f in flooding_faults(api)] == ["temp-1"]  # btn-2 never flooded
        assert "campus_hub_flooding_devices 0.0" in api.get("/metrics").text
    rate = flooder.sent / flooder.seconds
    logging.getLogger(__name__).warning("flooder sent %d messages at %.0f msg/s", flooder.sent, rate)


@pytest.mark.parametrize("broker", ["debian"], indirect=True)
def test_messages_the_broker_drops_for_the_hub_show_as_a_metric_a_warning_and_a_notice(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, caplog: pytest.LogCaptureFixture
) -> None:
    raw = base_config(tmp_path, broker.port, None)
    start_hub(raw).stop()  # the hub's persistent session now waits on the broker, 1000 messages at most (Debian)
    for n in range(1500):
        publisher.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": 20 + n / 1000})
    caplog.set_level(logging.WARNING, logger="hub.mqtt.broker_stats")
    hub = start_hub(raw)
    gauge = "campus_hub_broker_dropped_messages"
    assert wait_until(lambda: hub.metrics.registry.get_sample_value(gauge) == 500, 15), (
        hub.metrics.registry.get_sample_value(gauge)
    )
    # What the broker kept reached the hub; what it says it dropped is exactly what is missing.
    assert wait_until(lambda: hub.store.count("events") == 1000, 15), hub.store.count("events")
    # The broker may have published its counter while the publisher was still at it (the hub then sees, say, 433
    # and a second later 500): every rise is announced, and together they are the 500 it dropped.
    notices = [dict(e.data) for e in hub.feed.recent() if e.kind == "broker_dropped"]
    assert notices
    assert sum(n["new"] for n in notices) == 500
    assert notices[-1]["dropped"] == 500
    assert "more messages (500 since it started)" in caplog.text


def test_a_broker_that_keeps_sys_from_the_hub_costs_the_counter_never_ingest(
    tmp_path: Path, receiver: Receiver
) -> None:
    # Anonymous clients may use the site's topics and nothing else. Mosquitto 2.0.11 grants the `$SYS`
    # subscription and then never delivers it (its ACL acts on delivery, not on SUBSCRIBE).
    acl = tmp_path / "acl"
    acl.write_text(f"topic readwrite {PREFIX}/#\n", encoding="utf-8")
    with Mosquitto(tmp_path / "locked", extra_conf="sys_interval 1\nlog_type debug", acl_file=acl) as locked:
        hub = Hub(HubConfig.model_validate(base_config(tmp_path, locked.port, receiver.url)))
        connects: list[float] = []
        hub.ingest.add_connect_listener(lambda: connects.append(time.monotonic()))
        hub.start()
        try:
            assert hub.ingest.wait_connected(10)
            log_file = locked.workdir / "mosquitto.log"
            # Three SUBACKs: each lane's device topics and `$SYS`'s (on the telemetry session); the last must not
            # count as another (re)connect.
            assert wait_until(lambda: log_file.read_text().count("Sending SUBACK to campus-hub-") == 3, 5)
            device = Publisher(locked.port)
            try:
                device.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
            finally:
                device.close()
            assert [r.body["device"]["id"] for r in receiver.state.wait_for(1, timeout=5.0)] == ["btn-1"]
            assert len(connects) == 1
            assert hub.broker_stats.dropped is None
            assert hub.ingest.connected
        finally:
            hub.stop()
