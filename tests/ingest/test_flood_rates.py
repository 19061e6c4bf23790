"""The flooding verdict without a broker: allowed rates, counting, the window, hysteresis, and the watch on a real
store with a manual clock; the broker's dropped-messages counter as the hub reads it."""

from __future__ import annotations

import math
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from device_adapters import DeviceKind, Z2MTopic
from hub.config import HubConfig, MqttConfig
from hub.core.clock import ManualClock, SystemClock
from hub.health.faults import FaultKind, FaultState
from hub.ingest.flood import (
    BUCKETS,
    Bucket,
    DeviceRate,
    FloodPolicy,
    MessageCounter,
    RateWindow,
    judge,
    top_rates,
    topic_owner,
)
from hub.ingest.flood_watch import FloodWatch
from hub.ingest.pipeline import Inbound, Pipeline
from hub.metrics import HubMetrics
from hub.mqtt.broker_stats import DROPPED_TOPIC, BrokerStats, dropped_rise, parse_counter
from hub.mqtt.session import MqttSession
from hub.mqtt.topics import Topics, VendorRoute
from hub.store import Store
from hub.store.health import HealthStore
from tests.conftest import base_config, topic

POLICY = FloodPolicy(multiple=10, floor_per_min=60, window_s=60)


def test_allowed_rate_is_a_multiple_of_the_heartbeat_never_below_the_floor() -> None:
    assert POLICY.allowed_per_min(5) == 120  # 12 a minute expected, ten times that
    assert POLICY.allowed_per_min(60) == 60  # 10 a minute would be below the floor
    assert POLICY.allowed_per_min(86400) == 60
    assert POLICY.bucket_s == 60 / BUCKETS


def test_counter_counts_from_two_threads_and_take_starts_afresh() -> None:
    counter = MessageCounter()

    def writer(device: str) -> None:
        for _ in range(1000):
            counter.count([device, "shared"])

    threads = [threading.Thread(target=writer, args=(d,)) for d in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert counter.take() == {"a": 1000, "b": 1000, "shared": 2000}
    assert counter.take() == {}


def test_dead_letters_count_for_the_device_their_topic_names() -> None:
    routes = {"zigbee2mqtt/Hall button": VendorRoute("btn-z", DeviceKind.PANIC_BUTTON, Z2MTopic.STATE)}
    owner = topic_owner(Topics("campus", "s"), routes)
    assert owner("campus/s/panic_button/btn-1/event") == "btn-1"
    assert owner("campus/s/anything/btn-1/nonsense") == "btn-1"  # a bad channel is still that device's message
    assert owner("zigbee2mqtt/Hall button") == "btn-z"
    assert owner("campus/s/panic_button/btn-1") is None
    assert owner("campus/other/panic_button/btn-1/event") is None
    counter = MessageCounter()
    counter.count(["btn-1"])
    counter.count_topics(["campus/s/panic_button/btn-1/event"] * 3 + ["zigbee2mqtt/Hall button", "elsewhere"])
    assert counter.take(owner) == {"btn-1": 4, "btn-z": 1}
    assert counter.take(owner) == {}


def test_window_rates_are_per_minute_with_the_busiest_bucket() -> None:
    window = RateWindow(size=3)
    window.add(Bucket({"a": 10}, 10.0))
    window.add(Bucket({"a": 0, "b": 5}, 10.0))
    assert not window.full
    window.add(Bucket({"a": 20}, 10.0))
    assert window.full
    rates = window.rates()
    assert rates["a"] == DeviceRate("a", 60.0, 120.0)  # 30 in 30 s; 20 in its busiest 10 s
    assert rates["b"] == DeviceRate("b", 10.0, 30.0)
    window.add(Bucket({}, 10.0))  # the oldest bucket leaves
    assert window.rates()["a"].per_min == 20 * 60 / 30


def rate(device: str, per_min: float, peak: float | None = None) -> DeviceRate:
    return DeviceRate(device, per_min, per_min if peak is None else peak)


def test_opens_above_the_allowed_rate_only_on_a_full_window_and_names_the_rates() -> None:
    allowed = {"a": 60.0, "b": 60.0}
    rates = {"a": rate("a", 600), "b": rate("b", 59)}
    assert judge(rates, allowed, set(), full=False, window_s=60) == []
    changes = judge(rates, allowed, set(), full=True, window_s=60)
    assert [(c.subject, c.kind, c.opening) for c in changes] == [("a", FaultKind.FLOODING, True)]
    assert changes[0].summary == "sending 600 msg/min over 60 s; allowed 60 msg/min"
    # Already open, in planned maintenance, or not in the registry: nothing new opens.
    assert judge(rates, allowed, {"a"}, full=True, window_s=60) == []
    assert judge(rates, allowed, set(), full=True, exempt={"a"}, window_s=60) == []
    assert judge({"x": rate("x", 1e6)}, allowed, set(), full=True, window_s=60) == []


def test_recovers_only_when_every_bucket_was_under_the_allowed_rate() -> None:
    allowed = {"a": 60.0}
    # Under on average but one bucket still above it: the fault stays (no open/recover by turns near the limit).
    assert judge({"a": rate("a", 50, peak=90)}, allowed, {"a"}, full=True, window_s=60) == []
    assert judge({"a": rate("a", 50, peak=60)}, allowed, {"a"}, full=False, window_s=60) == []
    changes = judge({"a": rate("a", 50, peak=60)}, allowed, {"a"}, full=True, window_s=60)
    assert [(c.subject, c.opening) for c in changes] == [("a", False)]
    assert changes[0].summary == "back under 60 msg/min for 60 s (now 50 msg/min)"
    silent = judge({}, allowed, {"a"}, full=True, window_s=60)  # sent nothing at all in the window
    assert [(c.subject, c.opening) for c in silent] == [("a", False)]


def test_metric_series_are_the_flooding_devices_and_the_busiest_few() -> None:
    rates = {f"d{n}": rate(f"d{n}", n) for n in range(100)}
    shown = top_rates(rates, {"d3", "gone"}, 5)
    assert [r.device_id for r in shown] == ["d99", "d98", "d97", "d96", "d95", "d3", "gone"]
    assert shown[-1].per_min == 0


# --- the watch on a real store, time by hand -----------------------------------------------------------------------


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = ManualClock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
        self.store = Store(tmp_path / "hub.db", self.clock)
        self.store.open()
        self.faults = HealthStore(self.store, 24, 600)
        self.faults.open()
        self.counter = MessageCounter()
        self.registry = CollectorRegistry()
        self.up = True
        self.maintenance: set[str] = set()
        self.notices: list[tuple[str, dict[str, Any]]] = []
        self.watch = FloodWatch(
            self.counter,
            FloodPolicy(multiple=10, floor_per_min=60, window_s=60),
            {"btn-1": 60, "temp-1": 5},
            self.clock,
            connected=lambda: self.up,
            open_subjects=lambda: self.faults.open_subjects(FaultKind.FLOODING),
            apply_faults=self.faults.apply_changes,
            in_maintenance=lambda: self.maintenance,
            device_of=topic_owner(Topics("campus", "s"), {}),
            notify=lambda kind, data: self.notices.append((kind, data)),
            registry=self.registry,
        )

    def bucket(self, **counts: int) -> None:
        """One bucket's worth of messages, then the watch's tick."""
        for device, n in counts.items():
            self.counter.count([device.replace("_", "-")] * n)
        self.clock.advance(10)
        self.watch.run_once()

    def faults_of(self, device: str) -> list[dict[str, Any]]:
        return [f for f in self.faults.list_faults(subject=device) if f["kind"] == "flooding"]

    def metric(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def test_watch_opens_for_the_flooding_device_only_and_recovers_after_a_quiet_window(harness: Harness) -> None:
    for _ in range(BUCKETS - 1):
        harness.bucket(btn_1=100, temp_1=10)  # 600 a minute against 60; temp-1 60 against 120
        assert harness.faults_of("btn-1") == []  # the window is not full yet
    harness.bucket(btn_1=100, temp_1=10)
    (fault,) = harness.faults_of("btn-1")
    assert fault["state"] == FaultState.REGISTERED
    assert fault["summary"] == "sending 600 msg/min over 60 s; allowed 60 msg/min"
    assert harness.faults_of("temp-1") == []
    assert ("fault", {"fault_id": fault["id"], "subject": "btn-1", "kind": "flooding", "what": "opened"}) in (
        harness.notices
    )
    assert harness.metric("campus_hub_flooding_devices") == 1
    assert harness.metric("campus_hub_device_message_rate", device="btn-1") == 600
    assert harness.metric("campus_hub_device_message_rate", device="temp-1") == 60

    # Quiet again: the fault waits until the flood has left the whole window, then recovers by itself.
    for _ in range(BUCKETS - 1):
        harness.bucket(btn_1=1)
        assert harness.faults_of("btn-1")[0]["state"] == FaultState.REGISTERED
    harness.bucket(btn_1=1)
    (fault,) = harness.faults_of("btn-1")
    assert fault["state"] == FaultState.RECOVERED
    assert harness.metric("campus_hub_flooding_devices") == 0


def test_watch_judges_nothing_while_disconnected_nor_in_the_window_after_connecting(harness: Harness) -> None:
    for _ in range(BUCKETS):
        harness.bucket(btn_1=100)
    assert len(harness.faults_of("btn-1")) == 1
    assert harness.metric("campus_hub_device_message_rate", device="btn-1") == 600
    harness.up = False
    for _ in range(2 * BUCKETS):
        harness.bucket()  # the hub hears nothing: that is not the device calming down
    assert harness.faults_of("btn-1")[0]["state"] == FaultState.REGISTERED
    assert harness.metric("campus_hub_device_message_rate", device="btn-1") is None  # no rate judged, none shown
    harness.up = True
    harness.watch.connected()
    # The broker's backlog arrives in the first window after connecting: a burst, not the device's rate.
    for _ in range(BUCKETS):
        harness.bucket(temp_1=1000)
    assert harness.faults_of("temp-1") == []
    for _ in range(BUCKETS):
        harness.bucket(temp_1=1)
    assert harness.faults_of("temp-1") == []
    assert harness.faults_of("btn-1")[0]["state"] == FaultState.RECOVERED


def test_watch_counts_a_device_looping_on_garbage(harness: Harness) -> None:
    for _ in range(BUCKETS):
        harness.counter.count_topics(["campus/s/temperature/temp-1/telemetry"] * 50)  # dead letters: 300 a minute
        harness.bucket()
    (fault,) = harness.faults_of("temp-1")
    assert fault["summary"] == "sending 300 msg/min over 60 s; allowed 120 msg/min"


def test_watch_opens_nothing_for_a_device_in_planned_maintenance(harness: Harness) -> None:
    harness.maintenance = {"btn-1"}
    for _ in range(BUCKETS):
        harness.bucket(btn_1=100)
    assert harness.faults_of("btn-1") == []


# --- the broker's counter --------------------------------------------------------------------------------------


def test_dropped_rise_and_counter_parsing() -> None:
    assert dropped_rise(None, 0) == 0
    assert dropped_rise(None, 500) == 500  # first sight: the broker's total since it started is news
    assert dropped_rise(500, 500) == 0
    assert dropped_rise(500, 520) == 20
    assert dropped_rise(520, 3) == 3  # the broker restarted and counts from zero again
    assert parse_counter(b"1500") == 1500
    assert parse_counter(b" 7\n") == 7
    assert parse_counter(b"-1") is None
    assert parse_counter(b"lots") is None


def test_broker_stats_sets_the_gauge_and_announces_only_a_rise(caplog: pytest.LogCaptureFixture) -> None:
    registry = CollectorRegistry()
    notices: list[tuple[str, dict[str, Any]]] = []
    stats = BrokerStats(lambda kind, data: notices.append((kind, data)), registry=registry)
    gauge = "campus_hub_broker_dropped_messages"
    value = registry.get_sample_value(gauge)
    assert value is not None
    assert math.isnan(value)  # until the broker says
    stats.on_message(DROPPED_TOPIC, b"0")
    assert registry.get_sample_value(gauge) == 0
    assert notices == []
    stats.on_message(DROPPED_TOPIC, b"500")
    stats.on_message(DROPPED_TOPIC, b"500")  # the retained value again after a reconnect
    stats.on_message(DROPPED_TOPIC, b"not a number")
    stats.on_message("$SYS/broker/uptime", b"900")
    assert registry.get_sample_value(gauge) == 500
    assert notices == [("broker_dropped", {"new": 500, "dropped": 500})]
    assert "dropped 500 more messages" in caplog.text
    assert "is not a counter" in caplog.text


def test_a_session_takes_one_set_of_extra_subscriptions() -> None:
    # Only paho's client object is built here; nothing connects.
    session = MqttSession(MqttConfig(), "test-extra", "campus/s/hub/status", [("campus/s/+/+/+", 1)], lambda m, g: None)
    stats = BrokerStats()
    session.subscribe_extra(stats.filters, stats.on_message)
    with pytest.raises(RuntimeError, match="one set"):
        session.subscribe_extra(stats.filters, stats.on_message)


def test_the_pipeline_counts_what_it_committed_events_and_dead_letters_alike(tmp_path: Path) -> None:
    config = HubConfig.model_validate(base_config(tmp_path, 1883, None))
    store = Store(tmp_path / "hub.db", SystemClock())
    store.open()
    counter = MessageCounter()
    pipeline = Pipeline(config, store, HubMetrics(), rates=counter)
    now = datetime.now(UTC)
    batch = [
        Inbound(topic("temperature", "temp-1", "telemetry"), b'{"celsius": 21}', 1, 1, now, 1.0),
        Inbound(topic("temperature", "temp-1", "telemetry"), b"garbage", 1, 2, now, 2.0),
        Inbound(topic("panic_button", "btn-1", "status"), b"online", 1, 3, now, 3.0),
    ]
    outcome = pipeline.process(batch)
    assert (outcome.events, outcome.dead_letters) == (2, 1)
    owner = topic_owner(Topics(config.mqtt.topic_prefix, config.site.id), {})
    assert counter.take(owner) == {"temp-1": 2, "btn-1": 1}
    store.close_thread_connection()
