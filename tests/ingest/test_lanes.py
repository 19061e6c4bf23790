"""Alarm lanes: presses and smoke alarms travel on their own MQTT session and queue, ahead of telemetry.

Real parts throughout: a private Mosquitto (with Debian's default limits where the point is the broker's queue
overflowing), a flooding publisher in its own process, the real HTTP 110 receiver and the hub's SQLite file.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.app import Hub
from hub.config import HubConfig
from hub.core.priority import AlarmPriority
from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver
from hub.ingest.lanes import LaneQueues
from hub.ingest.pipeline import BatchOutcome, Inbound
from hub.mqtt.topics import Lane, Topics, lane_filters
from tests.conftest import PREFIX, SITE, HubFactory, Publisher, base_config, topic, wait_until

BUTTONS = 30


def flood_main(port: int, topic_: str, go: MpEvent, stop: MpEvent) -> None:
    """A temperature sensor stuck in a loop: QoS 1 readings as fast as the broker takes them, until told to stop."""
    acked = 0

    def on_publish(*args: object) -> None:
        nonlocal acked
        acked += 1

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-flooder", protocol=MQTTProtocolVersion.MQTTv311)
    client.max_inflight_messages_set(0)
    client.on_publish = on_publish
    client.connect("127.0.0.1", port)
    client.loop_start()
    payload = json.dumps({"celsius": 21.0}).encode()
    sent = 0
    go.set()
    deadline = time.monotonic() + 60
    while not stop.is_set() and time.monotonic() < deadline:
        if sent - acked >= 5_000:  # a window below paho's 16-bit message ids
            time.sleep(0.001)
            continue
        if client.publish(topic_, payload, qos=1).rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            sent += 1
    client.disconnect()
    client.loop_stop()


def lanes_config(tmp_path: Path, port: int, receiver_url: str | None) -> dict[str, Any]:
    raw = base_config(tmp_path, port, receiver_url)
    location = {"building": "A", "floor": "1", "room": "r"}
    raw["devices"] += [
        {"id": f"btn-x{i:02d}", "kind": "panic_button", "name": f"button {i}", "location": location}
        for i in range(BUTTONS)
    ]
    return raw


@contextmanager
def flooding(hub: Hub, port: int) -> Iterator[None]:
    """temp-1 floods from a process of its own, in full (the hub has stored a good part of it) inside the block."""
    ctx = mp.get_context("spawn")
    go, stop = ctx.Event(), ctx.Event()
    flooder = ctx.Process(target=flood_main, args=(port, topic("temperature", "temp-1", "telemetry"), go, stop))
    try:
        assert hub.ingest.wait_connected(10)
        flooder.start()
        assert go.wait(30), "the flooding publisher did not start"
        assert wait_until(lambda: hub.store.count("events") >= 2_500, 30)
        yield
    finally:
        stop.set()
        if flooder.pid is not None:
            flooder.join(10)
            if flooder.is_alive():
                flooder.terminate()


def events_by_device(db: Path, kind: str) -> Counter[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT device_id, count(*) FROM events WHERE kind = ? GROUP BY device_id", (kind,))
        return Counter({str(device): int(n) for device, n in rows})


def test_every_press_reaches_110_once_under_a_telemetry_flood_with_debian_broker_limits(
    tmp_path: Path, receiver: Receiver
) -> None:
    with Mosquitto(tmp_path / "broker", limits="debian") as broker:
        hub = Hub(HubConfig.model_validate(lanes_config(tmp_path, broker.port, receiver.url)))
        hub.start()
        presser = Publisher(broker.port, "test-presser")
        try:
            # The presses meet the flood in full.
            with flooding(hub, broker.port):
                pressed: dict[str, float] = {}
                for i in range(BUTTONS):
                    device = f"btn-x{i:02d}"
                    pressed[device] = time.monotonic()
                    presser.publish(topic("panic_button", device, "event"), {"pressed": True, "seq": 1})
                received = receiver.state.wait_for(BUTTONS, 30)
                flooded = hub.ingest.sessions[Lane.TELEMETRY].received
        finally:
            presser.close()
            hub.stop()
    by_device = Counter(str(r.body["device"]["id"]) for r in received)
    assert by_device == Counter(dict.fromkeys(pressed, 1)), "every press exactly once at 110"
    assert flooded > 2_000, "the telemetry flood really reached the hub"
    late = {
        r.body["device"]["id"]: round(r.at_mono - pressed[r.body["device"]["id"]], 2)
        for r in received
        if r.at_mono - pressed[r.body["device"]["id"]] > 2.0
    }
    assert not late, f"presses slower than 2 s under the flood: {late}"
    # Each press arrived on the alarm lane only: one event per button, and the alarm session saw the presses alone.
    assert events_by_device(tmp_path / "hub.db", "panic_button") == Counter(dict.fromkeys(pressed, 1))
    assert hub.ingest.sessions[Lane.ALARM].received == BUTTONS


def old_wildcard_session(port: int, client_id: str) -> None:
    """What a hub from before the lanes left on the broker: its persistent session with the single wildcard."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5)
    subscribed = threading.Event()
    client.on_subscribe = lambda *args: subscribed.set()
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 3600
    client.connect("127.0.0.1", port, clean_start=False, properties=props)
    client.loop_start()
    try:
        client.subscribe(Topics(PREFIX, SITE).device_filter, qos=1)
        assert subscribed.wait(5)
    finally:
        client.disconnect()
        client.loop_stop()


def test_an_upgraded_session_with_the_old_wildcard_does_not_get_presses_twice(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher
) -> None:
    old_wildcard_session(broker.port, f"campus-hub-{SITE}")
    # Pressed during the upgrade: only the old session exists, so it holds this press for the hub.
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    hub = Hub(HubConfig.model_validate(base_config(tmp_path, broker.port, receiver.url)))
    hub.start()
    try:
        assert hub.ingest.wait_connected(10)
        assert receiver.state.wait_for(1, 5)[0].body["device"]["id"] == "btn-1"
        publisher.publish(topic("panic_button", "btn-2", "event"), {"pressed": True, "seq": 1})
        publisher.publish(topic("smoke", "smoke-1", "event"), {"smoke": True})
        received = receiver.state.wait_for(3, 5)
        publisher.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": 21.5})
        assert wait_until(lambda: events_by_device(tmp_path / "hub.db", "temperature")["temp-1"] == 1, 5)
        sessions = {lane: hub.ingest.sessions[lane].received for lane in Lane}
    finally:
        hub.stop()
    assert sorted(r.body["device"]["id"] for r in received) == ["btn-1", "btn-2", "smoke-1"]
    assert events_by_device(tmp_path / "hub.db", "panic_button") == Counter({"btn-1": 1, "btn-2": 1})
    # The queued press came on the old (telemetry) session; after its wildcard was dropped, presses and smoke
    # came on the alarm lane alone, and the reading on the telemetry lane.
    assert sessions == {Lane.TELEMETRY: 2, Lane.ALARM: 2}


def test_stop_commits_and_acknowledges_what_is_queued(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = base_config(tmp_path, broker.port, receiver.url)
    hub = Hub(HubConfig.model_validate(raw))
    in_commit, release = threading.Event(), threading.Event()
    process = hub.pipeline.process

    def held(batch: list[Inbound], relaxed: bool = False) -> BatchOutcome:
        # Holds the first commit open until the test has asked the hub to stop.
        in_commit.set()
        assert release.wait(10)
        return process(batch, relaxed=relaxed)

    monkeypatch.setattr(hub.pipeline, "process", held)
    hub.start()
    stopper = threading.Thread(target=hub.stop)
    stopping = False
    try:
        assert hub.ingest.wait_connected(10)
        publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
        assert in_commit.wait(5)
        for n in range(40):
            publisher.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": 20 + n / 100})
        publisher.publish(topic("panic_button", "btn-2", "event"), {"pressed": True, "seq": 1})
        assert wait_until(lambda: hub.ingest.depth(Lane.TELEMETRY) == 40 and hub.ingest.depth(Lane.ALARM) == 1, 5)
        stopper.start()
        stopping = True
        assert wait_until(lambda: not hub.ingest.accepting, 5)
        release.set()
        stopper.join(15)
        assert not stopper.is_alive()
    finally:
        release.set()
        if not stopping:
            hub.stop()
    db = tmp_path / "hub.db"
    assert events_by_device(db, "panic_button") == Counter({"btn-1": 1, "btn-2": 1})
    assert events_by_device(db, "temperature") == Counter({"temp-1": 40})
    # Acknowledged too: a new hub on the same sessions gets nothing again, only what is new.
    again = Hub(HubConfig.model_validate(raw))
    again.start()
    try:
        assert again.ingest.wait_connected(10)
        publisher.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": 30.0})
        assert wait_until(lambda: events_by_device(db, "temperature")["temp-1"] == 41, 5)
        assert sum(again.ingest.sessions[lane].received for lane in Lane) == 1
    finally:
        again.stop()
    assert events_by_device(db, "panic_button") == Counter({"btn-1": 1, "btn-2": 1})


def test_each_kind_and_vendor_topic_has_exactly_one_lane(tmp_path: Path) -> None:
    raw = base_config(tmp_path, 1883, None)
    location = {"building": "A", "floor": "1", "room": "r"}
    raw["devices"] += [
        {"id": "z-smoke", "kind": "smoke", "name": "z", "location": location, "format": "zigbee2mqtt",
         "source_topic": "zigbee2mqtt/Hall smoke"},
        {"id": "t-btn", "kind": "panic_button", "name": "t", "location": location, "format": "tasmota",
         "source_topic": "tasmota_btn"},
        {"id": "t-temp", "kind": "temperature", "name": "t", "location": location, "format": "tasmota",
         "source_topic": "tasmota_temp"},
    ]  # fmt: skip
    config = HubConfig.model_validate(raw)
    filters = lane_filters(Topics(PREFIX, SITE), config.devices)
    base = f"{PREFIX}/{SITE}"
    assert filters[Lane.ALARM] == [
        f"{base}/panic_button/+/+",
        f"{base}/smoke/+/+",
        f"{base}/gas/+/+",
        f"{base}/co/+/+",
        "stat/tasmota_btn/POWER",
        "tele/tasmota_btn/LWT",
        "tele/tasmota_btn/SENSOR",
        "tele/tasmota_btn/STATE",
        "zigbee2mqtt/Hall smoke",
        "zigbee2mqtt/Hall smoke/availability",
    ]
    assert filters[Lane.TELEMETRY] == [
        f"{base}/temperature/+/+",
        f"{base}/camera/+/+",
        f"{base}/electrical_fire/+/+",
        f"{base}/intrusion/+/+",
        f"{base}/door/+/+",
        "tele/tasmota_temp/LWT",
        "tele/tasmota_temp/SENSOR",
        "tele/tasmota_temp/STATE",
    ]
    assert Topics(PREFIX, SITE).device_filter not in filters[Lane.ALARM] + filters[Lane.TELEMETRY]


def inbound(topic_: str, n: int = 0) -> Inbound:
    now = datetime.now(UTC)
    return Inbound(topic_, str(n).encode(), 1, n + 1, now, time.monotonic())


def test_alarms_go_first_alone_and_telemetry_takes_devices_in_turn() -> None:
    lanes = LaneQueues(10, 100, lambda t: t.rpartition("/")[0])
    flood = "campus/s/temperature/loud/telemetry"
    quiet = "campus/s/temperature/quiet/telemetry"
    for n in range(50):
        assert lanes.put(Lane.TELEMETRY, inbound(flood, n), 0)
    assert lanes.put(Lane.TELEMETRY, inbound(quiet), 0)
    assert lanes.put(Lane.ALARM, inbound("campus/s/panic_button/b/event"), 0)
    taken = lanes.take(alarm_max=10, telemetry_max=4, timeout=0)
    assert taken is not None
    assert taken[0] is Lane.ALARM
    assert len(taken[1]) == 1
    lanes.done()
    taken = lanes.take(alarm_max=10, telemetry_max=4, timeout=0)
    assert taken is not None
    assert taken[0] is Lane.TELEMETRY
    # The quiet sensor's one reading is in the first telemetry batch, not behind 50 of the loud one's.
    assert [i.topic for i in taken[1]] == [flood, quiet, flood, flood]
    assert [i.payload for i in taken[1] if i.topic == flood] == [b"0", b"1", b"2"]
    lanes.give_back(taken[1])  # an uncommitted batch goes back in front, in order
    lanes.done()
    again = lanes.take(alarm_max=10, telemetry_max=3, timeout=0)
    assert again is not None
    assert [i.payload for i in again[1] if i.topic == flood][:2] == [b"0", b"1"]
    lanes.done()
    # A full telemetry lane does not block the alarm lane.
    full = LaneQueues(5, 2, lambda t: t)
    assert full.put(Lane.TELEMETRY, inbound(flood), 0)
    assert full.put(Lane.TELEMETRY, inbound(flood), 0)
    assert not full.put(Lane.TELEMETRY, inbound(flood), 0.01)
    assert full.put(Lane.ALARM, inbound("campus/s/smoke/d/event"), 0)
    full.close()
    assert not full.put(Lane.ALARM, inbound("campus/s/smoke/d/event"), 0)


def test_a_flooding_smoke_detector_cannot_hold_another_buttons_press_behind_its_backlog() -> None:
    lanes = LaneQueues(1000, 100, lambda t: t.rpartition("/")[0])
    mad = "campus/s/smoke/mad/telemetry"
    press = "campus/s/panic_button/b/event"
    for n in range(300):
        assert lanes.put(Lane.ALARM, inbound(mad, n), 0)
    assert lanes.put(Lane.ALARM, inbound(press), 0)
    taken = lanes.take(alarm_max=8, telemetry_max=4, timeout=0)
    assert taken is not None
    assert taken[0] is Lane.ALARM
    # The press is in the very next alarm batch, not 300 messages (38 batches) later; the detector's own order holds.
    assert [i.topic for i in taken[1]][:2] == [mad, press]
    assert [i.payload for i in taken[1] if i.topic == mad] == [str(n).encode() for n in range(7)]
    lanes.done()
    assert lanes.depth(Lane.ALARM) == 300 - 7


def test_a_heat_alarm_from_a_quiet_sensor_reaches_110_under_another_sensors_flood(
    tmp_path: Path, receiver: Receiver
) -> None:
    # Heat rides the telemetry lane, so it meets the flood there: the broker's queue for that session (the shipped
    # limits keep it from dropping it), then one hub batch thanks to the turns by device.
    raw = lanes_config(tmp_path, 0, receiver.url)
    location = {"building": "B", "floor": "2", "room": "kitchen"}
    raw["devices"].append({"id": "temp-quiet", "kind": "temperature", "name": "kitchen", "location": location})
    with Mosquitto(tmp_path / "broker", limits="shipped") as broker:
        raw["mqtt"]["port"] = broker.port
        hub = Hub(HubConfig.model_validate(raw))
        hub.start()
        sensor = Publisher(broker.port, "test-quiet-sensor")
        try:
            with flooding(hub, broker.port):
                sent = time.monotonic()
                sensor.publish(topic("temperature", "temp-quiet", "telemetry"), {"celsius": 90.0})
                received = receiver.state.wait_for(1, 30)
                took = received[0].at_mono - sent if received else None
                flooded = hub.ingest.sessions[Lane.TELEMETRY].received
        finally:
            sensor.close()
            hub.stop()
    assert [(r.body["device"]["id"], r.body["kind"]) for r in received] == [("temp-quiet", "heat")]
    assert flooded > 2_000, "the telemetry flood really reached the hub"
    # Bounded loosely: the flood keeps both cores busy, and the figure that matters is measured in bench/.
    assert took is not None
    assert took < 10.0, took


def test_telemetry_waits_for_an_alarm_on_its_way_but_a_press_does_not() -> None:
    priority = AlarmPriority(max_hold_s=30.0)
    lanes = LaneQueues(10, 100, lambda t: t.rpartition("/")[0], priority.remaining_s)
    priority.add_listener(lanes.poke)
    assert lanes.put(Lane.TELEMETRY, inbound("campus/s/temperature/t/telemetry"), 0)
    priority.hold("alarm-1")  # an alarm between its lane and its first delivery attempt
    assert lanes.take(alarm_max=10, telemetry_max=10, timeout=0.05) is None
    assert lanes.put(Lane.ALARM, inbound("campus/s/panic_button/b/event"), 0)
    taken = lanes.take(alarm_max=10, telemetry_max=10, timeout=0.05)
    assert taken is not None
    assert taken[0] is Lane.ALARM  # a second press is never held back
    lanes.done()
    # A writer waiting for work goes on with telemetry as soon as the hold is let go.
    result: list[tuple[Lane, list[Inbound]] | None] = []
    took = threading.Event()

    def writer() -> None:
        result.append(lanes.take(10, 10, timeout=10))
        took.set()

    threading.Thread(target=writer, daemon=True).start()
    assert not took.wait(0.1), "telemetry was taken while the alarm was still on its way"
    priority.release("alarm-1")
    assert took.wait(5), "the waiting writer did not go on when the hold was let go"
    assert result[0] is not None
    assert result[0][0] is Lane.TELEMETRY


def test_a_centre_slow_to_answer_does_not_stop_telemetry(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, start_hub: HubFactory, publisher: Publisher
) -> None:
    # Telemetry steps aside while a press is on its way to 110, but each hold has a deadline (a quarter second):
    # a centre that takes seconds to answer must not stop the hub from storing readings meanwhile.
    receiver.state.hold_s = 5.0
    raw = base_config(tmp_path, broker.port, receiver.url)
    raw["forwarding"]["endpoints"][0]["timeout_s"] = 10  # the attempt lasts the centre's whole wait
    hub = start_hub(raw)
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    assert receiver.state.wait_for_posts(1, 10), "the press never reached the centre"
    posted = time.monotonic()
    publisher.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": 21.5})
    assert wait_until(lambda: hub.store.count("events") >= 2, 3.0), "telemetry stopped behind the slow centre"
    assert time.monotonic() - posted < receiver.state.hold_s
    assert receiver.state.received == [], "the centre had not answered yet: the reading went in during its wait"
