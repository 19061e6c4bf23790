"""Telemetry to InfluxDB: points from real MQTT ingest arrive in a real VictoriaMetrics (which takes the InfluxDB 2
write API that influxdb-client speaks), spill to a real SQLite file while it is down and drain when it is back.

InfluxDB 2.x itself is not packaged for Debian and cannot run here, so the one part only it has, the buckets API
behind the retention check, is faked by a tiny loopback HTTP server that answers the way InfluxDB 2 documents.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from prometheus_client import generate_latest

from alerts.model import DeliveryState
from alerts.outbox import AttemptResult
from device_adapters.base import Channel, DeviceEvent, DeviceKind
from hub.app import Hub
from hub.config import DeviceConfig, InfluxConfig
from hub.core.clock import SystemClock
from hub.devtools.broker import Mosquitto
from hub.integrations.influx import InfluxSink, bucket_retention_ok, retention_of
from hub.integrations.influx_points import (
    SCHEMA,
    Point,
    points_for_alarm,
    points_for_attempt,
    points_for_event,
    points_for_fault,
    points_for_transition,
)
from hub.store import Store
from tests.conftest import SITE, HubFactory, Publisher, base_config, topic, wait_until

VM_BINARY = "/usr/bin/victoria-metrics"
DAY = 86_400


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class VictoriaMetrics:
    """A real VictoriaMetrics on a loopback port; stop and start it again on the same port and data."""

    def __init__(self, data: Path) -> None:
        self.port = free_port()
        self.data = data
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                VM_BINARY,
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-storageDataPath={self.data}",
                "-search.latencyOffset=0s",
                "-loggerLevel=ERROR",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_until(self._healthy, 20, interval=0.05), "victoria-metrics did not come up"

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
            self._process = None

    def export(self, name_pattern: str) -> list[dict[str, Any]]:
        """Every sample of the series whose name matches, as VictoriaMetrics exports them (JSON lines)."""
        httpx.get(f"{self.url}/internal/force_flush", timeout=5)
        response = httpx.get(
            f"{self.url}/api/v1/export", params={"match[]": f'{{__name__=~"{name_pattern}"}}'}, timeout=5
        )
        response.raise_for_status()
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]

    def values(self, name: str, **labels: str) -> list[float]:
        found: list[float] = []
        for series in self.export(re.escape(name)):
            metric = series["metric"]
            if metric["__name__"] == name and all(metric.get(k) == v for k, v in labels.items()):
                found += series["values"]
        return found


@pytest.fixture
def victoria_metrics(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    if shutil.which(VM_BINARY) is None:
        pytest.fail(f"{VM_BINARY} is missing: `make test` installs it (apt-get install victoria-metrics)")
    vm = VictoriaMetrics(tmp_path / "vm")
    vm.start()
    yield vm
    vm.stop()


def influx_config(tmp_path: Path, broker: Mosquitto, url: str, receiver_url: str | None = None) -> dict[str, Any]:
    raw = base_config(tmp_path, broker.port, receiver_url)
    raw["influx"] = {
        "enabled": True,
        "url": url,
        "batch_size": 50,
        "flush_interval_s": 0.05,
        "timeout_s": 2,
        "retry_max_s": 0.3,
    }
    return raw


# --- pure decisions ---------------------------------------------------------------------------------------------

T0 = datetime(2026, 11, 23, 1, 2, 3, 456789, tzinfo=UTC)


def device(kind: str, id_: str = "d-1") -> DeviceConfig:
    return DeviceConfig.model_validate(
        {"id": id_, "kind": kind, "name": id_, "location": {"building": "Main Hall", "floor": "1", "room": "101"}}
    )


def test_line_protocol_escapes_and_types() -> None:
    point = Point("m x", {"site": "a,b", "device": "d=1", "empty": ""}, {"f": 1.5, "n": 3, "b": True, "s": 'q"'}, T0)
    assert point.to_line() == (
        'm\\ x,device=d\\=1,site=a\\,b b=true,f=1.5,n=3i,s="q\\"" ' + str(int(T0.timestamp()) * 10**9 + 456789000)
    )


@pytest.mark.parametrize(
    ("kind", "data", "extra", "expected"),
    [
        ("temperature", {"celsius": 23.5}, {"celsius": 23.5}, {"temperature": {"celsius": 23.5}}),
        (
            "smoke",
            {"smoke": True, "obscuration_db_m": 0.2, "battery_pct": 80},
            {"smoke": True},
            {"smoke": {"detected": 1, "obscuration_db_m": 0.2}, "battery": {"pct": 80.0}},
        ),
        ("panic_button", {"pressed": True, "seq": 1}, {"pressed": True}, {"panic": {"pressed": 1}}),
        ("panic_button", {"battery_pct": 15, "tamper": False}, {}, {"battery": {"pct": 15.0}}),
        (
            "camera",
            {"labels": ["blur"], "metrics": {"sharpness": 3.5, "brightness": 120, "bad": "x"}},
            {},
            {"camera": {"sharpness": 3.5, "brightness": 120.0}},
        ),
        ("camera", {"labels": ["healthy"]}, {}, {}),
    ],
)
def test_points_for_event(kind: str, data: dict[str, Any], extra: dict[str, Any], expected: dict[str, Any]) -> None:
    dev = device(kind)
    event = DeviceEvent("d-1", DeviceKind(kind), Channel.TELEMETRY, T0, data, **extra)
    points = points_for_event(event, dev, SITE)
    assert {p.measurement: dict(p.fields) for p in points} == expected
    for point in points:
        assert dict(point.tags) == {"site": SITE, "device": "d-1", "kind": kind, "building": "Main Hall", "room": "101"}
        assert point.time == T0
        allowed = SCHEMA[point.measurement]
        assert allowed is None or set(point.fields) <= allowed


def test_state_alarm_and_attempt_points_stay_in_schema() -> None:
    dev = device("smoke")
    state = points_for_transition(dev, SITE, "faulty", T0)
    assert [(p.measurement, dict(p.fields), p.tags["state"]) for p in state] == [
        ("device_state", {"code": 2}, "faulty")
    ]
    assert points_for_transition(dev, SITE, "no-such-state", T0) == []
    alarm = points_for_alarm(dev, SITE, "fire", True, T0)
    assert [(p.measurement, dict(p.fields), p.tags["alarm"]) for p in alarm] == [("alarm", {"active": 1}, "fire")]
    delivered = AttemptResult("police-110", "a1", DeliveryState.DELIVERED, 0.012, 0.25, None)
    forwarded = points_for_attempt(delivered, SITE, T0)
    assert [dict(p.fields) for p in forwarded] == [{"latency_s": 0.25, "rtt_s": 0.012}]
    fault = points_for_fault("d-1", dev, SITE, "offline", "opened", T0)
    assert [(dict(p.fields), p.tags["fault"], p.tags["building"]) for p in fault] == [
        ({"open": 1}, "offline", "Main Hall")
    ]
    recovered = points_for_fault("police-110", None, SITE, "forwarding_path_down", "recovered", T0)
    assert [(dict(p.tags), dict(p.fields)) for p in recovered] == [
        ({"site": SITE, "device": "police-110", "kind": "path", "fault": "forwarding_path_down"}, {"open": 0})
    ]
    failed = AttemptResult("police-110", "a1", DeliveryState.PENDING, 2.0, 2.0, "timeout")
    assert points_for_attempt(failed, SITE, T0) == []
    for point in [*state, *alarm, *fault, *recovered, *forwarded]:
        allowed = SCHEMA[point.measurement]
        assert allowed is not None
        assert set(point.fields) <= allowed


def test_bucket_retention_rule() -> None:
    assert bucket_retention_ok(0, 90)  # 0: the bucket keeps data for ever
    assert bucket_retention_ok(90 * DAY, 90)
    assert bucket_retention_ok(365 * DAY, 90)
    assert not bucket_retention_ok(90 * DAY - 1, 90)
    assert not bucket_retention_ok(30 * DAY, 90)
    assert retention_of({"retentionRules": [{"type": "expire", "everySeconds": 3600}]}) == 3600
    assert retention_of({"retentionRules": []}) == 0


# --- against a real VictoriaMetrics -------------------------------------------------------------------------------


def test_points_from_mqtt_ingest_arrive_with_tags_and_values(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, victoria_metrics: VictoriaMetrics
) -> None:
    hub = start_hub(influx_config(tmp_path, broker, victoria_metrics.url))
    publisher.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": 23.5})
    publisher.publish(
        topic("smoke", "smoke-1", "telemetry"), {"smoke": False, "obscuration_db_m": 0.05, "battery_pct": 77}
    )
    publisher.publish(topic("panic_button", "btn-2", "event"), {"pressed": True, "seq": 1})
    health = {"labels": ["healthy"], "metrics": {"brightness": 120.5, "sharpness": 31.0}, "source": "recorder"}
    publisher.publish(topic("camera", "cam-1", "health"), health)

    tags = {"site": SITE, "building": "A"}
    assert wait_until(lambda: victoria_metrics.values("alarm_active", device="btn-2", alarm="panic") == [1], 15)
    assert victoria_metrics.values("temperature_celsius", device="temp-1", kind="temperature", **tags) == [23.5]
    assert victoria_metrics.values("smoke_detected", device="smoke-1", kind="smoke", **tags) == [0]
    assert victoria_metrics.values("smoke_obscuration_db_m", device="smoke-1") == [0.05]
    assert victoria_metrics.values("battery_pct", device="smoke-1", kind="smoke", **tags) == [77]
    assert victoria_metrics.values("panic_pressed", device="btn-2", kind="panic_button", **tags) == [1]
    # Each device's first message took it from unknown to online: the state is a field and a tag.
    assert wait_until(lambda: victoria_metrics.values("camera_sharpness", device="cam-1", kind="camera") == [31], 10)
    assert victoria_metrics.values("camera_brightness", device="cam-1", room="cam-1", **tags) == [120.5]
    for device_id in ("temp-1", "smoke-1", "btn-2", "cam-1"):
        assert victoria_metrics.values("device_state_code", device=device_id, state="online", **tags) == [1]
    counts = hub.influx.counts() if hub.influx else None
    assert counts is not None
    assert counts.written == 10  # temperature, smoke, battery, panic, alarm, camera, four device states
    assert counts.spilled == 0
    assert counts.dropped == 0
    assert b"campus_hub_influx_points_written_total" in generate_latest(hub.metrics.registry)


def test_server_down_spills_to_sqlite_ingest_goes_on_then_everything_drains(
    tmp_path: Path,
    broker: Mosquitto,
    publisher: Publisher,
    start_hub: HubFactory,
    victoria_metrics: VictoriaMetrics,
    receiver: Any,
) -> None:
    victoria_metrics.stop()
    hub = start_hub(influx_config(tmp_path, broker, victoria_metrics.url, receiver.url))
    sink = hub.influx
    assert sink is not None
    readings = [round(20 + i * 0.1, 1) for i in range(120)]
    for value in readings:
        publisher.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": value})
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 7})

    # The alarm reaches the 110 receiver while telemetry cannot go anywhere.
    assert len(receiver.state.wait_for(1, 10)) == 1
    # 120 readings, the press, the alarm, two devices coming online, the delivery's latency.
    expected = len(readings) + 5
    # The table is the truth; the in-memory depth changes inside the same write transaction, just before commit.
    assert wait_until(lambda: spilled_rows(hub) == expected, 15), (spilled_rows(hub), sink.counts())
    assert sink.counts().spill_depth == expected
    assert sink.counts().written == 0
    assert sink.counts().dropped == 0

    victoria_metrics.start()
    assert wait_until(lambda: spilled_rows(hub) == 0, 20), (spilled_rows(hub), sink.counts())
    assert sink.counts().spill_depth == 0
    assert wait_until(lambda: sorted(victoria_metrics.values("temperature_celsius", device="temp-1")) == readings, 10)
    assert victoria_metrics.values("panic_pressed", device="btn-1") == [1]
    # The delivery to 110 happened while the server was down: its latency was spilled and arrives now too.
    latencies = victoria_metrics.values("forwarding_latency_s", endpoint="police-110", site=SITE)
    assert len(latencies) == 1
    assert 0 <= latencies[0] < 2


def spilled_rows(hub: Hub) -> int:
    count: int = hub.store.connection().execute("SELECT COUNT(*) FROM influx_spill").fetchone()[0]
    return count


def test_spill_cap_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    store = Store(tmp_path / "hub.db", SystemClock())
    store.open()
    config = InfluxConfig.model_validate(
        {
            "enabled": True,
            "url": f"http://127.0.0.1:{free_port()}",  # nothing listens there
            "spill_max_rows": 100,
            "batch_size": 25,
            "flush_interval_s": 0.02,
            "timeout_s": 1,
            "retry_max_s": 0.2,
        }
    )
    sink = InfluxSink(config, store, 90)
    sink.start()
    try:
        for i in range(250):
            sink.offer([Point("temperature", {"site": SITE, "device": "t"}, {"celsius": float(i)}, T0)])
        assert wait_until(lambda: sink.counts().spilled >= 250, 10), sink.counts()
        counts = sink.counts()
        assert counts.spill_depth == 100
        assert counts.dropped == 150
        assert counts.written == 0
        lines = [r[0] for r in store.connection().execute("SELECT line FROM influx_spill ORDER BY id")]
        assert [float(line.split("celsius=")[1].split()[0]) for line in lines] == [float(i) for i in range(150, 250)]
    finally:
        sink.stop()
        store.close_thread_connection()


# --- the InfluxDB 2 buckets API (faked: InfluxDB 2 does not run here) ----------------------------------------------


class FakeInfluxV2:
    """Answers /api/v2/buckets, /api/v2/orgs and /api/v2/write as InfluxDB 2.x documents them, on 127.0.0.1."""

    def __init__(self, buckets: list[dict[str, Any]]) -> None:
        self.buckets = buckets
        self.created: list[dict[str, Any]] = []
        self.written: list[str] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def _json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                url = urlparse(self.path)
                query = parse_qs(url.query)
                if url.path == "/api/v2/buckets":
                    with fake.lock:
                        found = [b for b in fake.buckets if b["name"] in query.get("name", [b["name"]])]
                    self._json(200, {"buckets": found})
                elif url.path == "/api/v2/orgs":
                    self._json(200, {"orgs": [{"id": "0123456789abcdef", "name": "campus"}]})
                else:
                    self._json(404, {"code": "not found"})

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                url = urlparse(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if url.path == "/api/v2/buckets":
                    created = json.loads(body)
                    with fake.lock:
                        fake.created.append(created)
                        fake.buckets.append(created)
                    self._json(201, created)
                elif url.path == "/api/v2/write" and b"conflict" in body:
                    self._json(422, {"code": "unprocessable entity", "message": "field type conflict"})
                elif url.path == "/api/v2/write":
                    with fake.lock:
                        fake.written += body.decode().splitlines()
                    self.send_response(204)
                    self.end_headers()
                else:
                    self._json(404, {"code": "not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def fake_influx_v2() -> Iterator[FakeInfluxV2]:
    fake = FakeInfluxV2([])
    yield fake
    fake.close()


def _sink(tmp_path: Path, url: str) -> tuple[InfluxSink, Store]:
    store = Store(tmp_path / "hub.db", SystemClock())
    store.open()
    config = InfluxConfig.model_validate(
        {"enabled": True, "url": url, "token": "t0ken", "flush_interval_s": 0.02, "batch_size": 10}
    )
    return InfluxSink(config, store, 90), store


def _point(value: float) -> Point:
    return Point("temperature", {"site": SITE, "device": "t"}, {"celsius": value}, T0)


def test_an_existing_bucket_with_shorter_retention_is_refused(
    tmp_path: Path, fake_influx_v2: FakeInfluxV2, caplog: pytest.LogCaptureFixture
) -> None:
    fake_influx_v2.buckets.append(
        {"name": "campus-hub", "retentionRules": [{"type": "expire", "everySeconds": 30 * DAY}]}
    )
    sink, store = _sink(tmp_path, fake_influx_v2.url)
    with caplog.at_level(logging.ERROR, logger="hub.integrations.influx"):
        sink.start()
        sink.offer([_point(1.0)])
        assert wait_until(lambda: sink.refused, 10)
    sink.offer([_point(2.0)])
    sink.stop()
    store.close_thread_connection()
    assert sink.counts().state == "refused"
    assert fake_influx_v2.written == []
    assert fake_influx_v2.created == []
    assert sink.counts().spill_depth == 0  # a refused sink keeps nothing either
    assert any("shorter than retention.days = 90" in r.getMessage() for r in caplog.records)


def test_a_missing_bucket_is_created_with_the_retention_then_written(
    tmp_path: Path, fake_influx_v2: FakeInfluxV2
) -> None:
    sink, store = _sink(tmp_path, fake_influx_v2.url)
    sink.start()
    sink.offer([_point(1.0), _point(2.0)])
    assert wait_until(lambda: len(fake_influx_v2.written) == 2, 10)
    sink.stop()
    store.close_thread_connection()
    assert fake_influx_v2.created == [
        {
            "orgID": "0123456789abcdef",
            "name": "campus-hub",
            "retentionRules": [{"type": "expire", "everySeconds": 90 * DAY}],
        }
    ]
    assert [line.split(" ")[1] for line in fake_influx_v2.written] == ["celsius=1.0", "celsius=2.0"]
    assert sink.counts().written == 2
    assert sink.counts().state == "writing"


def test_a_long_enough_bucket_is_used_as_it_is(tmp_path: Path, fake_influx_v2: FakeInfluxV2) -> None:
    fake_influx_v2.buckets.append({"name": "campus-hub", "retentionRules": [{"type": "expire", "everySeconds": 0}]})
    sink, store = _sink(tmp_path, fake_influx_v2.url)
    sink.start()
    sink.offer([_point(3.0)])
    assert wait_until(lambda: len(fake_influx_v2.written) == 1, 10)
    sink.stop()
    store.close_thread_connection()
    assert fake_influx_v2.created == []


def test_offer_never_waits_for_the_writer_past_the_queue_bound(tmp_path: Path) -> None:
    store = Store(tmp_path / "hub.db", SystemClock())
    store.open()
    config = InfluxConfig.model_validate({"url": f"http://127.0.0.1:{free_port()}", "spill_max_rows": 100})
    sink = InfluxSink(config, store, 90, queue_size=10)  # no writer thread at all: the queue never empties
    sink.offer([_point(float(i)) for i in range(50)])
    counts = sink.counts()
    assert counts.spilled == 40
    assert counts.spill_depth == 40
    assert store.connection().execute("SELECT COUNT(*) FROM influx_spill").fetchone()[0] == 40
    store.close_thread_connection()


# --- the Grafana dashboard ---------------------------------------------------------------------------------------

DASHBOARD = Path(__file__).resolve().parents[2] / "config" / "grafana-dashboard.json"
# Tags the points carry (see device_tags and the points_for_* functions), and Flux's own field column.
WRITTEN_TAGS = {"site", "device", "kind", "building", "room", "state", "alarm", "fault", "endpoint", "_field"}


def test_grafana_dashboard_queries_only_what_the_hub_writes() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert 36 <= dashboard["schemaVersion"] <= 41
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert (variables["DS_INFLUXDB"]["type"], variables["DS_INFLUXDB"]["query"]) == ("datasource", "influxdb")
    queried: set[str] = set()
    for panel in dashboard["panels"]:
        assert panel["datasource"] == {"type": "influxdb", "uid": "${DS_INFLUXDB}"}, panel["title"]
        for target in panel["targets"]:
            flux = target["query"]
            measurements = re.findall(r'r\._measurement == "([^"]+)"', flux)
            fields = set(re.findall(r'r\._field == "([^"]+)"', flux))
            assert len(measurements) == 1, panel["title"]
            allowed = SCHEMA[measurements[0]]  # KeyError: a measurement the hub never writes
            if allowed is not None:
                assert fields, f"{panel['title']}: name the field"
                assert fields <= allowed, panel["title"]
            for columns in re.findall(r"group\(columns: \[([^\]]*)\]\)", flux):
                assert set(re.findall(r'"([^"]+)"', columns)) <= WRITTEN_TAGS, panel["title"]
            queried.add(measurements[0])
    assert {"temperature", "device_state", "fault", "alarm", "forwarding", "camera"} <= queried


def test_a_batch_the_server_rejects_is_dropped_not_retried_for_ever(
    tmp_path: Path, fake_influx_v2: FakeInfluxV2
) -> None:
    sink, store = _sink(tmp_path, fake_influx_v2.url)
    sink.start()
    sink.offer([Point("conflict", {"site": SITE}, {"f": 1}, T0)])
    assert wait_until(lambda: sink.counts().dropped == 1, 10), sink.counts()
    sink.offer([_point(4.0)])
    assert wait_until(lambda: len(fake_influx_v2.written) == 1, 10)
    sink.stop()
    store.close_thread_connection()
    assert sink.counts().spill_depth == 0
    assert sink.counts().failures == 0
