"""The new kinds' readings in InfluxDB points and Home Assistant discovery and states, and their alarm kinds' DC-09
codes (defaults from the Contact ID / SIA tables, overridable per endpoint)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alerts.dc09_codes import DEFAULT_CODES, Code, map_event, trouble_key
from device_adapters import Channel, DeviceEvent, DeviceKind
from hub.config import HubConfig
from hub.integrations.ha_discovery import discovery_messages, reading_messages, state_topic
from hub.integrations.influx_points import SCHEMA, points_for_event
from hub.mqtt.topics import Topics
from tests.conftest import PREFIX, SITE, base_config

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def config() -> HubConfig:
    raw = base_config(Path("unused"), 1883, None)
    location = {"building": "食堂", "floor": "1", "room": "配电间"}
    raw["homeassistant"] = {"enabled": True}
    raw["devices"] += [
        {"id": "ef-1", "kind": "electrical_fire", "name": "ef", "location": location, "temperature_alarm_c": [70, 80]},
        {"id": "gas-1", "kind": "gas", "name": "gas", "location": location},
        {"id": "co-1", "kind": "co", "name": "co", "location": location},
        {"id": "pir-1", "kind": "intrusion", "name": "pir", "location": location},
        {"id": "door-1", "kind": "door", "name": "door", "location": location},
    ]
    return HubConfig.model_validate(raw)


@pytest.mark.parametrize(
    ("device", "kind", "data", "expected"),
    [
        (
            "ef-1",
            "electrical_fire",
            {"residual_ma": 120.0, "temperatures_c": [41.5, 38.0], "prealarm": False},
            {("electrical_fire", None): {"residual_ma": 120.0}, ("cable_temperature", "1"): {"celsius": 41.5},
             ("cable_temperature", "2"): {"celsius": 38.0}},
        ),
        ("gas-1", "gas", {"lel_pct": 3.0, "battery_pct": 80}, {("gas", None): {"lel_pct": 3.0},
                                                               ("battery", None): {"pct": 80.0}}),
        ("co-1", "co", {"ppm": 12.0}, {("co", None): {"ppm": 12.0}}),
        ("pir-1", "intrusion", {"alarm": True, "armed": False}, {("intrusion", None): {"alarm": 1, "armed": 0}}),
        ("door-1", "door", {"open": True}, {("door", None): {"open": 1}}),
    ],
)  # fmt: skip
def test_influx_points_of_the_new_kinds(
    device: str, kind: str, data: dict[str, Any], expected: dict[tuple[str, str | None], dict[str, Any]]
) -> None:
    event = DeviceEvent(device, DeviceKind(kind), Channel.TELEMETRY, T0, data)
    points = points_for_event(event, config().device_index()[device], SITE)
    assert {(p.measurement, p.tags.get("channel")): dict(p.fields) for p in points} == expected
    for point in points:
        allowed = SCHEMA[point.measurement]
        assert allowed is None or set(point.fields) <= allowed


def test_home_assistant_entities_and_readings_of_the_new_kinds() -> None:
    hub = config()
    messages = {topic: json.loads(body) for topic, body in discovery_messages(hub)}
    classes = {
        body["unique_id"].removeprefix(f"campus_hub_{SITE}_"): body.get("device_class") for body in messages.values()
    }
    assert classes["ef-1_residual_current"] == "current"
    assert classes["ef-1_temperature_1"] == classes["ef-1_temperature_2"] == "temperature"
    assert classes["co-1_co"] == "carbon_monoxide"
    assert classes["gas-1_alarm"] == "gas"
    assert classes["door-1_door"] == "door"
    assert classes["pir-1_motion"] == "motion"
    topics = Topics(PREFIX, SITE)
    events = [
        DeviceEvent("ef-1", DeviceKind.ELECTRICAL_FIRE, Channel.TELEMETRY, T0, {"residual_ma": 120.0,
                                                                              "temperatures_c": [41.5, 38.0]}),
        DeviceEvent("gas-1", DeviceKind.GAS, Channel.TELEMETRY, T0, {"lel_pct": 3.0}),
        DeviceEvent("door-1", DeviceKind.DOOR, Channel.EVENT, T0, {"open": True, "battery_pct": 50}),
    ]  # fmt: skip
    assert dict(reading_messages(hub, events)) == {
        state_topic(topics, "ef-1", "residual_current"): "120",
        state_topic(topics, "ef-1", "temperature_1"): "41.5",
        state_topic(topics, "ef-1", "temperature_2"): "38",
        state_topic(topics, "gas-1", "gas"): "3",
        state_topic(topics, "door-1", "door"): "ON",
        state_topic(topics, "door-1", "battery"): "50",
    }


@pytest.mark.parametrize(
    ("kind", "cid", "sia"),
    [
        ("electrical_fire", "1110 01 007", "Nri7/FA007"),
        ("gas", "1151 01 007", "Nri7/GA007"),
        ("co", "1162 01 007", "Nri7/GA007"),
        ("intrusion", "1130 01 007", "Nri7/BA007"),
    ],
)
def test_dc09_codes_of_the_new_alarm_kinds(kind: str, cid: str, sia: str) -> None:
    assert map_event(kind, False, 7) == (cid, sia)
    restore = map_event(kind, True, 7)
    assert restore.cid == "3" + cid[1:]
    assert restore.sia.endswith(DEFAULT_CODES[kind].sia_restore + "007")
    # An endpoint's own table overrides a row, as for the older kinds.
    assert map_event(kind, False, 7, {**DEFAULT_CODES, kind: Code(140, "UA", "UH")}).cid == "1140 01 007"


def test_open_circuit_on_an_electrical_fire_unit_is_a_fire_trouble() -> None:
    assert map_event("open_circuit", False, 3, trouble=True) == ("1371 01 003", "Nri3/FT003")
    assert trouble_key("sensor_trouble", "electrical_fire") == "fire_trouble"
