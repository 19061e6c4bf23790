"""Zigbee2MQTT and Tasmota devices: documented payloads, routing by exact topic, config rules, no payload crashes an
adapter, and the whole hub on a real Mosquitto (alarms to a real 110 receiver, health, dead letters).
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import event as note_event
from hypothesis import given, settings
from hypothesis import strategies as st

from device_adapters import (
    Channel,
    DeadLetterReason,
    DeviceEvent,
    DeviceKind,
    PayloadError,
    TasmotaTopic,
    VendorTopic,
    Z2MTopic,
    parse_vendor_message,
)
from hub.config import DeviceConfig, HubConfig
from hub.config.loader import ConfigError, ConfigIssue, parse_config
from hub.core.clock import to_iso
from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver
from hub.health.model import DeviceState, Trouble, troubles_of
from hub.ingest.pipeline import Inbound, Pipeline
from hub.metrics import HubMetrics
from hub.mqtt.topics import vendor_routes, vendor_topics
from hub.store import Store
from tests.conftest import HubFactory, Publisher, base_config, topic, wait_until

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
CAP = 4096
FIXTURES = yaml.safe_load((Path(__file__).parent / "fixtures" / "vendor_payloads.yaml").read_text(encoding="utf-8"))

PANIC = DeviceKind.PANIC_BUTTON
SMOKE = DeviceKind.SMOKE
TEMP = DeviceKind.TEMPERATURE

Z2M_SOS = "zigbee2mqtt/Block A/Floor 2/SOS 1"  # friendly names may hold spaces and '/'
Z2M_SMOKE = "zigbee2mqtt/Block A/Smoke 201"
TASMOTA_TEMP = "tasmota_5F2A1B"
TASMOTA_BTN = "tasmota_btn_gate"


def parse(kind: DeviceKind, part: VendorTopic, payload: bytes | str | dict[str, Any], **kw: Any) -> DeviceEvent:
    raw = json.dumps(payload).encode() if isinstance(payload, dict) else payload
    raw = raw.encode() if isinstance(raw, str) else raw
    return parse_vendor_message("dev-1", kind, part, raw, NOW, kw.pop("max_bytes", CAP), **kw)


def refused(kind: DeviceKind, part: VendorTopic, payload: bytes | str | dict[str, Any]) -> PayloadError:
    with pytest.raises(PayloadError) as caught:
        parse(kind, part, payload)
    assert caught.value.detail
    return caught.value


# --- documented payloads ----------------------------------------------------------------------------------------

CASES = [("zigbee2mqtt", case) for case in FIXTURES["zigbee2mqtt"]] + [("tasmota", c) for c in FIXTURES["tasmota"]]


@pytest.mark.parametrize(("vendor", "case"), CASES, ids=[f"{v}: {c['name']}" for v, c in CASES])
def test_documented_payloads(vendor: str, case: dict[str, Any]) -> None:
    part: VendorTopic = Z2MTopic(case["topic"]) if vendor == "zigbee2mqtt" else TasmotaTopic(case["topic"])
    kind = DeviceKind(case["kind"])
    event = parse(kind, part, case["payload"])
    expect = case["expect"]
    assert (event.device_id, event.kind, event.channel) == ("dev-1", kind, Channel(expect["channel"]))
    assert event.occurred_at == NOW  # neither vendor sends a time with an offset: the hub's receive time
    assert event.pressed is expect.get("pressed", False)
    assert event.smoke is expect.get("smoke", False)
    assert event.celsius == pytest.approx(expect["celsius"]) if "celsius" in expect else event.celsius is None
    assert event.online is expect.get("online")
    assert event.seq is None
    for key, value in expect.get("data", {}).items():
        assert event.data[key] == value, key
    json.dumps(event.data, allow_nan=False)  # storable as it is


# --- Zigbee2MQTT mapping ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["single", "double", "hold", "emergency", "sos"])
def test_z2m_default_press_actions(action: str) -> None:
    event = parse(PANIC, Z2MTopic.STATE, {"action": action, "battery": 80})
    assert (event.channel, event.pressed) == (Channel.EVENT, True)


@pytest.mark.parametrize("action", ["release", "", "brightness_move_up"])
def test_z2m_other_actions_are_not_presses(action: str) -> None:
    event = parse(PANIC, Z2MTopic.STATE, {"action": action, "linkquality": 80})
    assert (event.channel, event.pressed) == (Channel.TELEMETRY, False)
    assert event.data.get("action") == (action or None)  # kept for the record, except the empty reset


def test_z2m_press_actions_are_per_device() -> None:
    only_hold = frozenset({"hold"})
    assert parse(PANIC, Z2MTopic.STATE, {"action": "hold"}, press_actions=only_hold).pressed is True
    assert parse(PANIC, Z2MTopic.STATE, {"action": "single"}, press_actions=only_hold).pressed is False


def test_z2m_action_of_another_kind_is_never_a_press() -> None:
    event = parse(SMOKE, Z2MTopic.STATE, {"action": "single", "smoke": False})
    assert (event.pressed, event.smoke, event.channel) == (False, False, Channel.TELEMETRY)


def test_z2m_bad_side_field_is_dropped_not_the_smoke_alarm() -> None:
    event = parse(SMOKE, Z2MTopic.STATE, {"smoke": True, "battery": 200, "linkquality": "strong", "tamper": 1})
    assert (event.channel, event.smoke) == (Channel.EVENT, True)
    assert event.data == {"smoke": True, "ignored": ["battery", "tamper", "linkquality"]}


@pytest.mark.parametrize(
    ("kind", "payload", "key"),
    [
        (SMOKE, {"smoke": "maybe", "battery": 80}, "smoke"),
        (TEMP, {"temperature": "hot"}, "temperature"),
        (TEMP, {"temperature": 1000}, "temperature"),
        (PANIC, {"action": 1}, "action"),
        (PANIC, {"action": "x" * 65}, "action"),
    ],
)
def test_z2m_malformed_essential_field_refuses_the_message(kind: DeviceKind, payload: dict[str, Any], key: str) -> None:
    error = refused(kind, Z2MTopic.STATE, payload)
    assert error.reason is DeadLetterReason.INVALID_PAYLOAD
    assert error.detail.startswith(f"{key}: ")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\xff\xfe", DeadLetterReason.BAD_ENCODING),
        (b"not json", DeadLetterReason.BAD_JSON),
        (b"[1, 2]", DeadLetterReason.INVALID_PAYLOAD),
        (b'{"temperature": NaN}', DeadLetterReason.NON_FINITE_NUMBER),
        (b'{"update": {"state": "idle"}}', DeadLetterReason.INVALID_PAYLOAD),  # nothing the hub reads
        (b"{}", DeadLetterReason.INVALID_PAYLOAD),
    ],
)
def test_z2m_state_refusals(payload: bytes, reason: DeadLetterReason) -> None:
    assert refused(TEMP, Z2MTopic.STATE, payload).reason is reason


@pytest.mark.parametrize("payload", [b"", b"maybe", b'{"state": "away"}', b"\xff"])
def test_z2m_availability_refusals(payload: bytes) -> None:
    assert refused(PANIC, Z2MTopic.AVAILABILITY, payload).reason in {
        DeadLetterReason.INVALID_PAYLOAD,
        DeadLetterReason.BAD_ENCODING,
    }


def test_vendor_payload_cap_applies_before_reading() -> None:
    error = refused(SMOKE, Z2MTopic.STATE, b'{"smoke": true, "pad": "' + b"x" * CAP + b'"}')
    assert error.reason is DeadLetterReason.PAYLOAD_TOO_LARGE


def test_battery_low_flag_is_a_low_battery_trouble() -> None:
    none: frozenset[Trouble] = frozenset()
    low = frozenset({Trouble.LOW_BATTERY})
    assert troubles_of(none, {"battery_low": True, "battery_pct": 80.0}, 20, 30) == low
    assert troubles_of(low, {"battery_low": False}, 20, 30) == none
    # With a percentage the level decides the clearing (hysteresis), as for canonical devices.
    assert troubles_of(low, {"battery_low": False, "battery_pct": 25.0}, 20, 30) == low
    assert troubles_of(low, {"battery_low": False, "battery_pct": 35.0}, 20, 30) == none


@pytest.mark.parametrize(
    ("kind", "part", "payload"),
    [(PANIC, Z2MTopic.STATE, b'{"action": "single"}'), (PANIC, TasmotaTopic.POWER, b"ON")],
)
def test_a_retained_press_is_still_a_press_for_ingest_to_judge(
    kind: DeviceKind, part: VendorTopic, payload: bytes
) -> None:
    # Whether a retained copy is a press the hub already handled is ingest's decision (tests/ingest/test_replays.py).
    event = parse(kind, part, payload)
    assert (event.pressed, event.channel) == (True, Channel.EVENT)


# --- Tasmota mapping --------------------------------------------------------------------------------------------


def test_tasmota_skips_a_sensor_without_a_reading() -> None:
    payload = {"Time": "2024-01-01T12:00:00", "DS18B20-1": {"Id": "A", "Temperature": None}, "DS18B20-2": {"Id": "B"}}
    payload["BME280"] = {"Temperature": 30.25, "Humidity": 40, "Pressure": 1001}
    payload["TempUnit"] = "C"
    event = parse(TEMP, TasmotaTopic.SENSOR, payload)
    assert event.celsius == 30.25
    assert event.data["sensor"] == "BME280"


@pytest.mark.parametrize(
    "payload",
    [
        {"Time": "2024-01-01T12:00:00", "ANALOG": {"A0": 512}},
        {"DS18B20": {"Temperature": "21"}},
        {"DS18B20": {"Temperature": 21}, "TempUnit": "K"},
        {"DS18B20": {"Temperature": 500}, "TempUnit": "C"},
        {"DS18B20": {"Temperature": 10**400}},
    ],
)
def test_tasmota_temperature_refusals(payload: dict[str, Any]) -> None:
    assert refused(TEMP, TasmotaTopic.SENSOR, payload).reason is DeadLetterReason.INVALID_PAYLOAD


def test_tasmota_sensor_of_another_kind_is_a_heartbeat() -> None:
    event = parse(PANIC, TasmotaTopic.SENSOR, {"Time": "2024-01-01T12:00:00", "DS18B20": {"Temperature": 90}})
    assert (event.channel, event.celsius, event.pressed) == (Channel.TELEMETRY, None, False)


@pytest.mark.parametrize("payload", [b"PRESSED", b"", b"TOGGLE", b"\xff"])
def test_tasmota_power_refusals(payload: bytes) -> None:
    assert refused(PANIC, TasmotaTopic.POWER, payload).reason in {
        DeadLetterReason.INVALID_PAYLOAD,
        DeadLetterReason.BAD_ENCODING,
    }


def test_tasmota_power_is_read_from_panic_buttons_only() -> None:
    assert refused(SMOKE, TasmotaTopic.POWER, b"ON").reason is DeadLetterReason.UNSUPPORTED_CHANNEL


def test_tasmota_power_is_case_and_space_tolerant() -> None:
    assert parse(PANIC, TasmotaTopic.POWER, b" on\n").pressed is True


# --- routing ----------------------------------------------------------------------------------------------------


def device(id_: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"id": id_, "kind": kind, "name": id_, "location": {"building": "A", "floor": "1", "room": id_}, **extra}


VENDOR_DEVICES = [
    device("z2m-sos", "panic_button", format="zigbee2mqtt", source_topic=Z2M_SOS, heartbeat_s=3600),
    device("z2m-smoke", "smoke", format="zigbee2mqtt", source_topic=Z2M_SMOKE, heartbeat_s=3600),
    device("tas-temp", "temperature", format="tasmota", source_topic=TASMOTA_TEMP, heartbeat_s=300),
    device("tas-btn", "panic_button", format="tasmota", source_topic=TASMOTA_BTN, heartbeat_s=300),
]


def vendor_config(tmp_path: Path, port: int = 1883, receiver_url: str | None = None) -> dict[str, Any]:
    raw = base_config(tmp_path, port, receiver_url)
    raw["devices"] += VENDOR_DEVICES
    return raw


def test_vendor_topics_per_format() -> None:
    devices = {d.id: d for d in (DeviceConfig.model_validate(raw) for raw in VENDOR_DEVICES)}
    assert vendor_topics(devices["z2m-sos"]) == [Z2M_SOS, f"{Z2M_SOS}/availability"]
    assert vendor_topics(devices["tas-temp"]) == [
        f"tele/{TASMOTA_TEMP}/SENSOR",
        f"tele/{TASMOTA_TEMP}/LWT",
        f"tele/{TASMOTA_TEMP}/STATE",
    ]
    assert vendor_topics(devices["tas-btn"])[-1] == f"stat/{TASMOTA_BTN}/POWER"  # only a button's input counts
    assert vendor_topics(DeviceConfig.model_validate(device("c", "panic_button"))) == []


def test_routes_match_exact_topics_even_for_nested_friendly_names() -> None:
    # One friendly name is a prefix of another: exact keys keep them apart, whichever comes first.
    nested = [
        device("outer", "panic_button", format="zigbee2mqtt", source_topic="zigbee2mqtt/Hall"),
        device("inner", "smoke", format="zigbee2mqtt", source_topic="zigbee2mqtt/Hall/Smoke"),
    ]
    for order in (nested, nested[::-1]):
        routes = vendor_routes(DeviceConfig.model_validate(raw) for raw in order)
        assert routes["zigbee2mqtt/Hall"].device_id == "outer"
        assert routes["zigbee2mqtt/Hall/availability"].topic is Z2MTopic.AVAILABILITY
        assert routes["zigbee2mqtt/Hall/Smoke"].device_id == "inner"
        assert routes["zigbee2mqtt/Hall/Smoke/availability"].device_id == "inner"
        assert len(routes) == 4


@pytest.fixture
def pipeline(tmp_path: Path, store: Store) -> Pipeline:
    return Pipeline(HubConfig.model_validate(vendor_config(tmp_path)), store, HubMetrics())


_mono = itertools.count(1)


def inbound(topic_: str, payload: bytes) -> Inbound:
    return Inbound(topic_, payload, qos=1, mid=1, received_at=NOW, received_mono=float(next(_mono)))


def test_pipeline_routes_vendor_topics_and_keeps_the_canonical_path(pipeline: Pipeline) -> None:
    event = pipeline.parse(inbound(Z2M_SOS, b'{"action": "single"}'))
    assert (event.device_id, event.kind, event.pressed) == ("z2m-sos", PANIC, True)
    event = pipeline.parse(inbound(f"tele/{TASMOTA_TEMP}/SENSOR", b'{"DS18B20": {"Temperature": 21.5}}'))
    assert (event.device_id, event.celsius) == ("tas-temp", 21.5)
    assert pipeline.parse(inbound(topic("panic_button", "btn-1", "event"), b'{"pressed": true}')).pressed
    # A prefix or a longer topic is not the device's topic.
    with pytest.raises(PayloadError) as caught:
        pipeline.parse(inbound("zigbee2mqtt/Block A/Floor 2", b'{"action": "single"}'))
    assert caught.value.reason is DeadLetterReason.BAD_TOPIC


def test_pipeline_stores_vendor_garbage_as_a_dead_letter(pipeline: Pipeline, store: Store) -> None:
    outcome = pipeline.process([inbound(Z2M_SMOKE, b"\x00garbage"), inbound(Z2M_SMOKE, b'{"smoke": true}')])
    assert (outcome.events, outcome.dead_letters, len(outcome.opened)) == (1, 1, 1)
    (row,) = store.list_dead_letters(limit=5)
    assert (row["topic"], row["reason"]) == (Z2M_SMOKE, "bad_json")


# --- configuration ----------------------------------------------------------------------------------------------

SITE = "site: {id: s1, name: School, address: 1 Road}\ndevices:\n"


def errors(text: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "hub.yaml", base_dir=Path("/srv/hub"), environ={})
    return caught.value.issues


def entry(id_: str, kind: str, extra: str = "") -> str:
    return f"  - {{id: {id_}, kind: {kind}, name: N, location: {{building: A, floor: 1, room: 1}}{extra}}}\n"


@pytest.mark.parametrize(
    ("extra", "kind", "message"),
    [
        (", format: zigbee2mqtt", "smoke", "source_topic is required when format is zigbee2mqtt"),
        (", source_topic: tasmota_1", "smoke", "source_topic applies to zigbee2mqtt and tasmota devices only"),
        (", format: tasmota, source_topic: cam_1", "camera", "format tasmota is not available for cameras"),
        (", format: tasmota, source_topic: a/b", "temperature", "a Tasmota topic is one level"),
        (", format: zigbee2mqtt, source_topic: 'zigbee2mqtt/#'", "smoke", "may not contain '+', '#'"),
        (", format: zigbee2mqtt, source_topic: 'zigbee2mqtt/'", "smoke", "may not start or end with '/'"),
        (", format: tasmota, source_topic: t1, press_actions: [single]", "panic_button", "press_actions applies"),
        (", format: zigbee2mqtt, source_topic: z/b, press_actions: [single]", "smoke", "press_actions applies"),
    ],
)
def test_vendor_config_rules_name_the_key_and_line(extra: str, kind: str, message: str) -> None:
    text = SITE + entry("d0", "panic_button") + entry("d1", kind, extra)
    (issue,) = errors(text)
    assert issue.key.startswith("devices[1]")
    assert message in issue.message
    assert issue.line == 4


def test_a_vendor_topic_may_not_be_shared() -> None:
    text = (
        SITE
        + entry("d0", "panic_button", ", format: zigbee2mqtt, source_topic: zigbee2mqtt/Hall")
        + entry("d1", "smoke", ", format: zigbee2mqtt, source_topic: zigbee2mqtt/Hall/availability")
        + entry("d2", "temperature", ", format: tasmota, source_topic: t1")
        + entry("d3", "temperature", ", format: tasmota, source_topic: t1")
    )
    issues = {issue.key: issue for issue in errors(text)}
    assert set(issues) == {"devices[1].source_topic", "devices[3].source_topic"}
    assert issues["devices[1].source_topic"].message == (
        "topic 'zigbee2mqtt/Hall/availability' is already devices[0]'s"
    )
    assert issues["devices[3].source_topic"].line == 6


def test_canonical_is_the_default_format_and_press_actions_are_kept() -> None:
    config = parse_config(
        SITE
        + entry("d0", "smoke")
        + entry("d1", "panic_button", ", format: zigbee2mqtt, source_topic: z/SOS, press_actions: [hold]"),
        "hub.yaml",
        base_dir=Path("/srv/hub"),
        environ={},
    )
    assert config.devices[0].format == "canonical"
    assert vendor_routes(config.devices)["z/SOS"].press_actions == frozenset({"hold"})


# --- no payload crashes an adapter ------------------------------------------------------------------------------

VENDOR_TOPICS: list[VendorTopic] = [*Z2MTopic, *TasmotaTopic]
numbers = st.one_of(st.integers(min_value=-(10**30), max_value=10**30), st.floats(allow_nan=False))
json_values = st.recursive(
    st.none() | st.booleans() | numbers | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
Z2M_SAMPLES: dict[str, list[Any]] = {
    "action": ["single", "hold", "", "release", "emergency"],
    "smoke": [True, False],
    "temperature": [21.5, 57, -61, 401],
    "battery": [0, 100, 101, -1],
    "battery_low": [True, False],
    "tamper": [True, False],
    "linkquality": [0, 255, 256],
    "voltage": [3000],
    "last_seen": ["2024-01-01T12:00:00+08:00", 1704081600000],
}
z2m_objects = st.fixed_dictionaries(
    {}, optional={key: json_values | st.sampled_from(values) for key, values in Z2M_SAMPLES.items()}
)
sensor = st.fixed_dictionaries({}, optional={"Temperature": json_values | numbers, "Id": json_values})
tasmota_objects = st.fixed_dictionaries(
    {},
    optional={
        "Time": json_values,
        "DS18B20": sensor | json_values,
        "SHT3X": sensor,
        "TempUnit": st.sampled_from(["C", "F", "K", ""]) | json_values,
        "UptimeSec": json_values,
        "POWER": st.sampled_from(["ON", "OFF"]),
    },
)
any_payloads = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"ON", b"OFF", b"Online", b"Offline", b"online", b'{"state":"offline"}']),
    st.one_of(z2m_objects, tasmota_objects, st.dictionaries(st.text(max_size=10), json_values)).map(
        lambda obj: json.dumps(obj).encode()
    ),
    json_values.map(lambda value: json.dumps(value).encode()),
)


def check_contract(kind: DeviceKind, part: VendorTopic, payload: bytes) -> None:
    """A storable DeviceEvent for the device, or PayloadError with a reason; nothing else, for any bytes."""
    outcome: DeviceEvent | PayloadError
    try:
        outcome = parse_vendor_message("dev-1", kind, part, payload, NOW, CAP)
    except PayloadError as exc:
        outcome = exc
    if isinstance(outcome, PayloadError):
        assert isinstance(outcome.reason, DeadLetterReason)
        note_event(f"refused: {outcome.reason}")
        return
    event = outcome
    assert (event.device_id, event.kind) == ("dev-1", kind)
    assert (event.online is not None) == (event.channel is Channel.STATUS)
    assert not event.pressed or kind is PANIC
    assert not event.smoke or kind is SMOKE
    assert event.celsius is None or (kind is TEMP and -60 <= event.celsius <= 400)
    to_iso(event.occurred_at)
    json.dumps(event.data, allow_nan=False)
    note_event(f"accepted: {part} {event.channel}")


@settings(max_examples=300, deadline=None)
@given(payload=any_payloads, kind=st.sampled_from([PANIC, SMOKE, TEMP]), part=st.sampled_from(VENDOR_TOPICS))
def test_no_payload_crashes_a_vendor_adapter(payload: bytes, kind: DeviceKind, part: VendorTopic) -> None:
    check_contract(kind, part, payload)


@settings(max_examples=200, deadline=None)
@given(obj=z2m_objects, kind=st.sampled_from([PANIC, SMOKE, TEMP]))
def test_z2m_state_objects_never_crash(obj: dict[str, Any], kind: DeviceKind) -> None:
    check_contract(kind, Z2MTopic.STATE, json.dumps(obj).encode())


@settings(max_examples=200, deadline=None)
@given(obj=tasmota_objects, kind=st.sampled_from([PANIC, SMOKE, TEMP]), part=st.sampled_from(list(TasmotaTopic)))
def test_tasmota_objects_never_crash(obj: dict[str, Any], kind: DeviceKind, part: TasmotaTopic) -> None:
    check_contract(kind, part, json.dumps(obj).encode())


# --- the whole hub on a real broker -----------------------------------------------------------------------------


def test_z2m_sos_and_tasmota_button_reach_the_110_receiver(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    hub = start_hub(vendor_config(tmp_path, broker.port, receiver.url))
    publisher.publish(Z2M_SOS, {"action": "", "battery": 90})  # Z2M's reset: nothing happens
    publisher.publish(Z2M_SOS, {"action": "single", "battery": 90, "linkquality": 120})
    (post,) = receiver.state.wait_for(1, timeout=5.0)
    assert (post.body["kind"], post.body["device"]["id"]) == ("panic", "z2m-sos")
    publisher.publish(f"tele/{TASMOTA_BTN}/STATE", {"UptimeSec": 60, "POWER": "ON"})  # relay state: no alarm
    publisher.publish(f"stat/{TASMOTA_BTN}/POWER", "ON")
    posts = receiver.state.wait_for(2, timeout=5.0)
    assert [(p.body["kind"], p.body["device"]["id"]) for p in posts] == [("panic", "z2m-sos"), ("panic", "tas-btn")]
    # Had the reset or the STATE report raised the alarm, the press would show as a second trigger.
    assert wait_until(lambda: hub.store.count("events") == 4, 5.0)
    assert [hub.store.get_alarm(p.body["alarm_id"])["trigger_count"] for p in posts] == [1, 1]


def test_z2m_smoke_raises_fire_and_tasmota_ds18b20_raises_heat(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    hub = start_hub(vendor_config(tmp_path, broker.port, receiver.url))
    sensor = f"tele/{TASMOTA_TEMP}/SENSOR"
    publisher.publish(sensor, {"Time": "2024-01-01T12:00:00", "DS18B20": {"Id": "01", "Temperature": 21.5}})
    publisher.publish(Z2M_SMOKE, {"smoke": False, "battery": 95, "battery_low": False, "linkquality": 100})
    assert wait_until(lambda: hub.store.count("events") == 2, 5.0)
    assert hub.store.count("alarms") == 0  # nothing above a limit yet (alarms commit with their events)
    publisher.publish(Z2M_SMOKE, {"smoke": True, "battery": 95, "battery_low": False, "linkquality": 100})
    publisher.publish(sensor, {"Time": "2024-01-01T12:00:30", "DS18B20": {"Id": "01", "Temperature": 58.0}})
    posts = receiver.state.wait_for(2, timeout=5.0)
    assert sorted((p.body["kind"], p.body["device"]["id"]) for p in posts) == [
        ("fire", "z2m-smoke"),
        ("heat", "tas-temp"),
    ]
    heat = hub.store.get_alarm(next(p.body["alarm_id"] for p in posts if p.body["kind"] == "heat"))
    assert heat["detail"]["celsius"] == 58.0  # the DS18B20 reading, as the rule saw it


def test_vendor_availability_and_lwt_take_devices_offline(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    hub = start_hub(vendor_config(tmp_path, broker.port))

    def state(device_id: str) -> DeviceState | None:
        health = hub.tracker.get(device_id)
        return health.state if health else None

    publisher.publish(f"{Z2M_SOS}/availability", {"state": "online"})
    publisher.publish(f"tele/{TASMOTA_TEMP}/LWT", "Online")
    assert wait_until(lambda: state("z2m-sos") is state("tas-temp") is DeviceState.ONLINE, 5.0)
    publisher.publish(f"{Z2M_SOS}/availability", {"state": "offline"})
    publisher.publish(f"tele/{TASMOTA_TEMP}/LWT", "Offline")
    assert wait_until(lambda: state("z2m-sos") is state("tas-temp") is DeviceState.OFFLINE, 5.0)
    # The legacy plain payload brings the button back; a low-battery flag makes it faulty.
    publisher.publish(f"{Z2M_SOS}/availability", "online")
    publisher.publish(Z2M_SOS, {"battery_low": True, "battery": 60})
    assert wait_until(lambda: state("z2m-sos") is DeviceState.FAULTY, 5.0)


def test_garbage_on_a_vendor_topic_is_a_dead_letter_with_its_counter(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    hub = start_hub(vendor_config(tmp_path, broker.port))
    # Not a registered device's topic: not subscribed, so never even delivered.
    publisher.publish("zigbee2mqtt/Someone else", b"garbage")
    publisher.publish(f"tele/{TASMOTA_TEMP}/SENSOR", b"{not json")
    publisher.publish(f"stat/{TASMOTA_BTN}/POWER", b"PRESSED")
    assert wait_until(lambda: hub.store.count("dead_letters") == 2, 5.0)
    rows = {row["topic"]: row["reason"] for row in hub.store.list_dead_letters(limit=10)}
    assert rows == {f"tele/{TASMOTA_TEMP}/SENSOR": "bad_json", f"stat/{TASMOTA_BTN}/POWER": "invalid_payload"}
    sample = hub.metrics.registry.get_sample_value
    assert sample("campus_hub_dead_letters_total", {"reason": "bad_json"}) == 1.0
    assert sample("campus_hub_dead_letters_total", {"reason": "invalid_payload"}) == 1.0
    assert hub.store.count("alarms") == 0
