"""Electrical fire, gas and CO levels: a pre-alarm is a maintenance trouble that never reaches 110; the alarm level
raises a latched alarm whose body carries the reading that crossed it. On a real Mosquitto, hub and HTTP receiver."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerts.levels import Level, crossings, levels_for
from hub.app import Hub
from hub.config import HubConfig
from hub.core.clock import SystemClock
from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver
from hub.health.faults import ACTIVE, FaultKind
from hub.ingest.pipeline import Inbound, Pipeline
from hub.metrics import HubMetrics
from hub.reports.model import resolve_period
from hub.store import Store
from tests.conftest import RECEIVER_SECRET, TOKENS, HubFactory, Publisher, base_config, topic, wait_until


def _device(id_: str, kind: str, **extra: Any) -> dict[str, Any]:
    location = {"building": "C", "floor": "1", "room": id_}
    return {"id": id_, "kind": kind, "name": f"{kind} {id_}", "location": location, **extra}


def fire_config(tmp_path: Path, port: int, url: str | None) -> dict[str, Any]:
    raw = base_config(tmp_path, port, url)
    # The fire control room's endpoint takes troubles too, so "no delivery" below would catch a pre-alarm sent as one.
    for endpoint in raw["forwarding"]["endpoints"]:
        endpoint.update(name="fire-control", troubles=True)
    raw["devices"] += [
        _device(
            "ef-1", "electrical_fire", residual_alarm_ma=300, residual_prealarm_ma=200, temperature_alarm_c=[70, 90]
        ),
        _device("gas-1", "gas"),
        _device("co-1", "co", co_high_ppm=200),
    ]
    return raw


def test_residual_current_through_prealarm_is_a_trouble_then_an_alarm_reaches_the_fire_endpoint(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    raw = fire_config(tmp_path, broker.port, receiver.url)
    raw["forwarding"]["endpoints"][0]["alarm_kinds"] = ["fire", "heat", "electrical_fire", "gas", "co"]
    police = Receiver(RECEIVER_SECRET).start()
    # The police 110 centre takes presses and intrusion, and troubles: it must get neither the pre-alarm nor the fire.
    raw["forwarding"]["endpoints"].append(
        {
            **raw["forwarding"]["endpoints"][0],
            "name": "police-110",
            "url": police.url,
            "alarm_kinds": ["panic", "intrusion"],
        }
    )
    try:
        hub = start_hub(raw, api=True)
        _walk_through_levels(hub, receiver, publisher)
        # The alarm's legs were decided when it opened: the fire endpoint only, so nothing can reach 110 later.
        alarm = hub.store.list_alarms()[0]
        assert [d["endpoint"] for d in alarm["deliveries"]] == ["fire-control"]
        assert police.state.posts == 0
    finally:
        police.stop()


def _walk_through_levels(hub: Hub, receiver: Receiver, publisher: Publisher) -> None:
    unit = topic("electrical_fire", "ef-1", "telemetry")
    publisher.publish(unit, {"residual_ma": 120.0, "temperatures_c": [41.5, 38.0]})
    publisher.publish(unit, {"residual_ma": 250.0, "temperatures_c": [41.5, 38.0]})  # past 200: pre-alarm

    def prealarm_faults() -> list[dict[str, Any]]:
        return [f for f in hub.health_store.list_faults(sorted(ACTIVE), "ef-1") if f["kind"] == FaultKind.PREALARM]

    assert wait_until(lambda: len(prealarm_faults()) == 1, 5.0), "no pre-alarm trouble for maintenance"
    # The trouble's outbox rows would be written in the fault's own transaction: there are none, for any endpoint.
    assert hub.store.count("outbox") == 0
    assert hub.store.list_alarms(None, 10) == []
    assert receiver.state.received == []
    # The guard sees it too, with the reading that crossed.
    headers = {"Authorization": f"Bearer {TOKENS['guard']}"}
    warnings = httpx.get(f"http://127.0.0.1:{hub.api_port}/api/v1/prealarms", headers=headers, timeout=5).json()
    assert [(w["device"]["id"], w["reading"]["text"]) for w in warnings["prealarms"]] == [
        ("ef-1", "residual current 250 mA at or above the pre-alarm level 200 mA")
    ]
    # The device works: a pre-alarm does not make it faulty (uptime is not charged).
    health = hub.tracker.get("ef-1")
    assert health is not None
    assert health.state.value == "online"

    sent = time.monotonic()
    publisher.publish(unit, {"residual_ma": 520.0, "temperatures_c": [41.5, 38.0]})
    got = receiver.state.wait_for(1, timeout=2.0)
    assert got, "no electrical fire alarm reached the fire endpoint within 2 s"
    assert got[0].at_mono - sent < 2.0
    body = got[0].body
    assert body["kind"] == "electrical_fire"
    assert body["device"]["id"] == "ef-1"
    assert body["device"]["reading"] == {"reading": "residual_ma", "value": 520.0, "level": 300.0, "unit": "mA"}
    assert body["reading"] == body["device"]["reading"]
    alarm = hub.store.get_alarm(body["alarm_id"])
    assert alarm["reason"] == "residual current 520 mA at or above the alarm level 300 mA"
    assert alarm["detail"]["value"] == 520.0
    # Latched: the current falling back does not close it; a second crossing re-triggers the same alarm.
    publisher.publish(unit, {"residual_ma": 100.0, "temperatures_c": [41.5, 38.0]})
    publisher.publish(unit, {"residual_ma": 100.0, "temperatures_c": [41.5, 95.0]})
    assert wait_until(lambda: hub.store.get_alarm(body["alarm_id"])["trigger_count"] == 2, 5.0)
    assert hub.store.get_alarm(body["alarm_id"])["state"] == "open"
    # The pre-alarm recovers once every reading is below its pre-alarm level again.
    publisher.publish(unit, {"residual_ma": 100.0, "temperatures_c": [41.5, 38.0]})
    assert wait_until(lambda: prealarm_faults() == [], 5.0)
    # Uptime by kind has a row for the new kind, and the pre-alarm is no equipment failure in it.
    now = datetime.now(UTC)
    # Counted as of two minutes ahead: figures stop at the last whole minute, and these faults opened in this one.
    period = resolve_period(None, now + timedelta(hours=1), now + timedelta(minutes=2))
    _, raw = hub.reports.report(period, "kind", "json")
    rows = {row["key"]: row for row in json.loads(raw)["rows"]}
    assert rows["electrical_fire"]["devices"] == 1
    assert rows["electrical_fire"]["faults"] == 0


# --- the same rules, through the pipeline on a real SQLite file -------------------------------------------------

_mono = itertools.count(1)


@pytest.fixture
def pipeline(tmp_path: Path) -> tuple[Pipeline, Store]:
    config = HubConfig.model_validate(fire_config(tmp_path, 1883, "http://127.0.0.1:9/alarms"))
    store = Store(tmp_path / "hub.db", SystemClock())
    store.open()
    return Pipeline(config, store, HubMetrics()), store


def _send(pipe: Pipeline, kind: str, device: str, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    message = Inbound(topic(kind, device, "telemetry"), body, 1, 1, datetime.now(UTC), float(next(_mono)))
    outcome = pipe.process([message])
    assert outcome.dead_letters == 0


@pytest.mark.parametrize(
    ("kind", "device", "quiet", "low", "high", "alarm_kind", "value"),
    [
        ("gas", "gas-1", {"lel_pct": 3.0}, {"lel_pct": 12.0}, {"lel_pct": 30.0}, "gas", 30.0),
        ("co", "co-1", {"ppm": 12}, {"ppm": 60}, {"ppm": 240}, "co", 240.0),
        (
            "electrical_fire",
            "ef-1",
            {"residual_ma": 10, "temperatures_c": [40, 40]},
            {"residual_ma": 10, "temperatures_c": [40, 81]},  # channel 2's pre-alarm: 90 - 10
            {"residual_ma": 10, "temperatures_c": [40, 92]},
            "electrical_fire",
            92.0,
        ),
    ],
)
def test_low_level_marks_a_prealarm_and_high_level_raises_the_kinds_alarm(
    pipeline: tuple[Pipeline, Store],
    kind: str,
    device: str,
    quiet: dict[str, Any],
    low: dict[str, Any],
    high: dict[str, Any],
    alarm_kind: str,
    value: float,
) -> None:
    pipe, store = pipeline
    _send(pipe, kind, device, quiet)
    _send(pipe, kind, device, low)
    assert store.list_alarms(None, 10) == []
    _send(pipe, kind, device, high)
    alarms = store.list_alarms(None, 10)
    assert [(a["kind"], a["device"]["id"]) for a in alarms] == [(alarm_kind, device)]
    assert alarms[0]["device"]["reading"]["value"] == value
    marks = [
        row[0]
        for row in store.connection().execute(
            "SELECT json_extract(data, '$.prealarm') FROM events WHERE device_id = ? ORDER BY id", (device,)
        )
    ]
    assert marks == [0, 1, 1]


def test_a_detectors_own_alarm_output_raises_without_a_reading(pipeline: tuple[Pipeline, Store]) -> None:
    pipe, store = pipeline
    _send(pipe, "gas", "gas-1", {"lel_pct": 0.0, "alarm": True})
    assert [a["kind"] for a in store.list_alarms(None, 10)] == ["gas"]


def test_levels_default_and_per_channel() -> None:
    config = HubConfig.model_validate(fire_config(Path("unused"), 1883, None))
    levels = levels_for(config.device_index()["ef-1"])
    assert levels["residual_ma"] == Level(300.0, 200.0)
    assert levels["temperatures_c[0]"] == Level(70.0, 60.0)
    assert levels["temperatures_c[1]"] == Level(90.0, 80.0)
    assert levels["temperatures_c[7]"] == Level(90.0, 80.0)  # the last setting serves the channels after it
    gas = levels_for(config.device_index()["gas-1"])
    assert gas["lel_pct"] == Level(25.0, 10.0)
    alarm, prealarm = crossings({"residual_ma": 250, "temperatures_c": [75, 20]}, levels)
    assert alarm is not None
    assert alarm.reading == "temperatures_c[0]"
    assert alarm.describe("alarm") == ("cable temperature channel 1 75 °C at or above the alarm level 70 °C")
    assert prealarm is not None
    assert prealarm.reading == "residual_ma"
