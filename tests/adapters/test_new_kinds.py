"""Electrical fire units, gas and CO detectors, intrusion detectors and door contacts: their canonical payloads and
Zigbee2MQTT forms accepted, and any bytes or JSON a payload can hold either parsed or dead-lettered with a reason,
never an adapter crash (property tests, also through the pipeline onto a real SQLite file)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st

from device_adapters import (
    Channel,
    DeadLetterReason,
    DeviceEvent,
    DeviceKind,
    PayloadError,
    Z2MTopic,
    parse_message,
    parse_vendor_message,
)
from hub.config import HubConfig
from hub.core.clock import to_iso
from hub.ingest.pipeline import Inbound, Pipeline
from hub.metrics import HubMetrics
from hub.store import Store
from tests.conftest import base_config, topic

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
CAP = 4096
NEW_KINDS = [DeviceKind.ELECTRICAL_FIRE, DeviceKind.GAS, DeviceKind.CO, DeviceKind.INTRUSION, DeviceKind.DOOR]
EF, GAS, CO, PIR, DOOR = NEW_KINDS


def parse(kind: DeviceKind, channel: Channel, payload: dict[str, Any] | bytes) -> DeviceEvent:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_message("dev-1", kind, channel, raw, NOW, CAP)


def refused(kind: DeviceKind, channel: Channel, payload: dict[str, Any] | bytes) -> DeadLetterReason:
    with pytest.raises(PayloadError) as caught:
        parse(kind, channel, payload)
    assert caught.value.detail
    return caught.value.reason


# --- the contract's payloads --------------------------------------------------------------------------------------


def test_canonical_payloads_of_the_contract() -> None:
    unit = parse(EF, Channel.TELEMETRY, {"residual_ma": 120.0, "temperatures_c": [41.5, 38.0]})
    assert unit.data == {"residual_ma": 120.0, "temperatures_c": [41.5, 38.0]}
    faults = parse(EF, Channel.EVENT, {"residual_ma": 0, "open_circuit": True, "sensor_fault": False, "tamper": True})
    assert faults.data == {
        "residual_ma": 0.0,
        "temperatures_c": [],
        "open_circuit": True,
        "sensor_fault": False,
        "tamper": True,
    }
    assert parse(GAS, Channel.TELEMETRY, {"lel_pct": 3.0, "battery_pct": 80}).data == {
        "lel_pct": 3.0,
        "battery_pct": 80,
    }
    assert parse(CO, Channel.TELEMETRY, {"ppm": 12}).data == {"ppm": 12.0}
    assert parse(PIR, Channel.EVENT, {"alarm": True, "tamper": False}).data == {"alarm": True, "tamper": False}
    assert parse(PIR, Channel.TELEMETRY, {"battery_pct": 70}).data == {"battery_pct": 70.0}
    assert parse(DOOR, Channel.EVENT, {"open": True}).data == {"open": True}
    assert parse(DOOR, Channel.TELEMETRY, {"open": False, "tamper": True}).data == {"open": False, "tamper": True}


@pytest.mark.parametrize(
    ("kind", "channel", "payload"),
    [
        (EF, Channel.TELEMETRY, {"temperatures_c": [40.0]}),  # residual current is the unit's reading
        (EF, Channel.TELEMETRY, {"residual_ma": -1}),
        (EF, Channel.TELEMETRY, {"residual_ma": 10, "temperatures_c": [20.0] * 9}),  # more channels than a unit has
        (EF, Channel.TELEMETRY, {"residual_ma": 10, "temperatures_c": [20.0, "hot"]}),
        (EF, Channel.TELEMETRY, {"residual_ma": 10, "open_circuit": "maybe"}),
        (GAS, Channel.TELEMETRY, {"lel_pct": 101}),
        (GAS, Channel.TELEMETRY, {"ppm": 5}),
        (CO, Channel.TELEMETRY, {"ppm": -3}),
        (CO, Channel.EVENT, {"lel_pct": 3}),
        (PIR, Channel.EVENT, {}),
        (PIR, Channel.EVENT, {"alarm": "intruder"}),
        (DOOR, Channel.EVENT, {"closed": True}),
        (DOOR, Channel.TELEMETRY, {"open": 2}),
    ],
)
def test_malformed_payloads_are_invalid(kind: DeviceKind, channel: Channel, payload: dict[str, Any]) -> None:
    assert refused(kind, channel, payload) is DeadLetterReason.INVALID_PAYLOAD


@pytest.mark.parametrize("kind", NEW_KINDS)
def test_health_channel_is_a_cameras_only(kind: DeviceKind) -> None:
    assert refused(kind, Channel.HEALTH, {"labels": ["healthy"]}) is DeadLetterReason.UNSUPPORTED_CHANNEL
    assert parse(kind, Channel.STATUS, b"offline").online is False


@pytest.mark.parametrize(
    ("kind", "state", "data"),
    [
        (PIR, {"occupancy": True, "tamper": False, "battery": 90}, {"alarm": True, "tamper": False, "battery_pct": 90}),
        (DOOR, {"contact": False, "battery": 55}, {"open": True, "battery_pct": 55}),  # Z2M: contact false = open
        (DOOR, {"contact": True}, {"open": False}),
        (GAS, {"gas": True}, {"alarm": True}),
        (GAS, {"gas": False, "gas_value": 4.5}, {"alarm": False, "lel_pct": 4.5}),
        (CO, {"carbon_monoxide": True, "battery_low": False}, {"alarm": True, "battery_low": False}),
    ],
)
def test_zigbee2mqtt_forms(kind: DeviceKind, state: dict[str, Any], data: dict[str, Any]) -> None:
    event = parse_vendor_message("dev-1", kind, Z2MTopic.STATE, json.dumps(state).encode(), NOW, CAP)
    assert event.data == data


@pytest.mark.parametrize(
    ("kind", "key"), [(PIR, "occupancy"), (DOOR, "contact"), (GAS, "gas"), (CO, "carbon_monoxide")]
)
def test_zigbee2mqtt_malformed_essential_field_is_refused(kind: DeviceKind, key: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_vendor_message("dev-1", kind, Z2MTopic.STATE, json.dumps({key: "yes"}).encode(), NOW, CAP)
    assert caught.value.reason is DeadLetterReason.INVALID_PAYLOAD


# --- properties ------------------------------------------------------------------------------------------------

flags: st.SearchStrategy[object] = st.one_of(
    st.booleans(), st.sampled_from(["yes", "no", 1, 0, 2, "maybe", None, [], {}])
)
numbers = st.one_of(
    st.integers(min_value=-10, max_value=2000),
    st.floats(min_value=-10, max_value=2000),
    st.floats(),  # NaN and infinities
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=6),
)
new_kind_objects = st.fixed_dictionaries(
    {},
    optional={
        "residual_ma": numbers,
        "temperatures_c": st.one_of(st.lists(numbers, max_size=10), numbers),
        "open_circuit": flags,
        "sensor_fault": flags,
        "lel_pct": numbers,
        "ppm": numbers,
        "alarm": flags,
        "open": flags,
        "tamper": flags,
        "battery_pct": numbers,
        "ts": st.one_of(st.datetimes().map(lambda d: d.isoformat()), st.text(max_size=30), numbers),
        "occupancy": flags,
        "contact": flags,
        "gas": flags,
        "gas_value": numbers,
        "carbon_monoxide": flags,
        "battery": numbers,
    },
)
payloads = st.one_of(
    new_kind_objects.map(lambda obj: json.dumps(obj).encode()),
    st.binary(max_size=300),
    st.sampled_from([b"online", b"offline", b"[]", b"null", b'{"residual_ma": NaN}', b'{"ppm": 1e999}']),
)


def check(event_or_error: DeviceEvent | PayloadError, kind: DeviceKind) -> None:
    if isinstance(event_or_error, PayloadError):
        assert isinstance(event_or_error.reason, DeadLetterReason)
        note_event(f"refused: {event_or_error.reason}")
        return
    assert event_or_error.kind is kind
    to_iso(event_or_error.occurred_at)
    json.dumps(event_or_error.data, allow_nan=False)
    note_event(f"accepted: {kind} {event_or_error.channel}")


@settings(max_examples=300, deadline=None)
@given(payload=payloads, kind=st.sampled_from(NEW_KINDS), channel=st.sampled_from(Channel))
def test_no_payload_crashes_a_new_kinds_adapter(payload: bytes, kind: DeviceKind, channel: Channel) -> None:
    try:
        outcome: DeviceEvent | PayloadError = parse_message("dev-1", kind, channel, payload, NOW, CAP)
    except PayloadError as exc:
        outcome = exc
    check(outcome, kind)


@settings(max_examples=200, deadline=None)
@given(payload=payloads, kind=st.sampled_from(NEW_KINDS), part=st.sampled_from(list(Z2MTopic)))
def test_no_payload_crashes_the_zigbee2mqtt_adapter_for_new_kinds(
    payload: bytes, kind: DeviceKind, part: Z2MTopic
) -> None:
    try:
        outcome: DeviceEvent | PayloadError = parse_vendor_message("dev-1", kind, part, payload, NOW, CAP)
    except PayloadError as exc:
        outcome = exc
    check(outcome, kind)


# --- through the pipeline: every message stored once, as an event or a dead letter with its reason ---------------

DEVICES = [("electrical_fire", "ef-1"), ("gas", "gas-1"), ("co", "co-1"), ("intrusion", "pir-1"), ("door", "door-1")]


@pytest.fixture
def pipeline(tmp_path: Path, store: Store) -> Pipeline:
    raw = base_config(tmp_path, 1883, None)
    location = {"building": "A", "floor": "1", "room": "r"}
    raw["arming_zones"] = [{"id": "office", "name": "财务室"}]
    raw["devices"] += [
        {"id": device, "kind": kind, "name": device, "location": location}
        | ({"arming_zone": "office"} if kind in ("intrusion", "door") else {})
        for kind, device in DEVICES
    ]
    return Pipeline(HubConfig.model_validate(raw), store, HubMetrics())


_mono = itertools.count(1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batch=st.lists(
        st.tuples(st.sampled_from(DEVICES), st.sampled_from([*Channel, "alarm"]), payloads), min_size=1, max_size=12
    )
)
def test_pipeline_dead_letters_what_it_cannot_read_with_a_reason(
    pipeline: Pipeline, store: Store, batch: list[tuple[tuple[str, str], str, bytes]]
) -> None:
    messages = [
        Inbound(topic(kind, device, channel), payload, 1, 1, NOW, float(next(_mono)))
        for (kind, device), channel, payload in batch
    ]
    events, dead = store.count("events"), store.count("dead_letters")
    outcome = pipeline.process(messages)
    assert outcome.events + outcome.dead_letters == len(messages)
    assert store.count("events") - events == outcome.events
    assert store.count("dead_letters") - dead == outcome.dead_letters
    rows = store.list_dead_letters(limit=max(1, outcome.dead_letters)) if outcome.dead_letters else []
    reasons = {r.value for r in DeadLetterReason} - {DeadLetterReason.ADAPTER_ERROR.value}
    assert all(row["reason"] in reasons and row["detail"] for row in rows)
