"""Device adapters and topic routing: every payload kind accepted, every bad input refused with its reason.

Property tests hold `parse_message` to its contract (a DeviceEvent or a PayloadError, nothing else, for any bytes)
and `Pipeline.process` to storing every message exactly once, as an event or as a dead letter.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as note_event
from hypothesis import strategies as st

from device_adapters import Channel, DeadLetterReason, DeviceEvent, DeviceKind, PayloadError, parse_message
from device_adapters.panic_button import PanicButtonEvent, PanicButtonSupervision
from device_adapters.smoke import SmokeReading
from device_adapters.temperature import TemperatureReading
from hub.config import HubConfig
from hub.core.clock import to_iso
from hub.ingest.pipeline import Inbound, Pipeline
from hub.metrics import HubMetrics
from hub.store import Store
from tests.conftest import PREFIX, SITE, base_config, topic

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
CAP = 4096

PANIC = DeviceKind.PANIC_BUTTON
SMOKE = DeviceKind.SMOKE
TEMP = DeviceKind.TEMPERATURE
CAMERA = DeviceKind.CAMERA
EVENT = Channel.EVENT
TELEMETRY = Channel.TELEMETRY
STATUS = Channel.STATUS


def encode(payload: bytes | dict[str, Any]) -> bytes:
    return payload if isinstance(payload, bytes) else json.dumps(payload).encode()


def parse(kind: DeviceKind, channel: Channel, payload: bytes | dict[str, Any], max_bytes: int = CAP) -> DeviceEvent:
    return parse_message("dev-1", kind, channel, encode(payload), NOW, max_bytes)


def refused(
    kind: DeviceKind, channel: Channel, payload: bytes | dict[str, Any], max_bytes: int = CAP
) -> DeadLetterReason:
    with pytest.raises(PayloadError) as caught:
        parse(kind, channel, payload, max_bytes)
    assert caught.value.detail
    assert str(caught.value).startswith(f"{caught.value.reason}: ")
    return caught.value.reason


# --- accepted payloads ------------------------------------------------------------------------------------------


def test_panic_press_event() -> None:
    event = parse(PANIC, EVENT, {"pressed": True, "seq": 17, "battery_pct": 80, "tamper": False, "rssi": -70})
    assert (event.device_id, event.kind, event.channel) == ("dev-1", PANIC, EVENT)
    assert event.pressed is True
    assert event.seq == 17
    assert event.occurred_at == NOW
    assert event.smoke is False
    assert event.celsius is None
    assert event.online is None
    # Unknown keys are dropped; only validated fields are stored.
    assert event.data == {"pressed": True, "seq": 17, "battery_pct": 80.0, "tamper": False}


def test_panic_release_is_not_a_press() -> None:
    event = parse(PANIC, EVENT, {"pressed": False})
    assert event.pressed is False
    assert event.seq is None
    assert event.data == {"pressed": False}


def test_panic_supervision_on_telemetry() -> None:
    event = parse(PANIC, TELEMETRY, {"battery_pct": 12.5, "tamper": True})
    assert (event.kind, event.channel) == (PANIC, TELEMETRY)
    assert event.pressed is False  # supervision never presses the button
    assert event.data == {"battery_pct": 12.5, "tamper": True}
    # A bare proof of life is a valid supervision message.
    assert parse(PANIC, TELEMETRY, {}).data == {}


def test_panic_supervision_cannot_carry_a_press() -> None:
    event = parse(PANIC, TELEMETRY, {"pressed": True})
    assert event.pressed is False
    assert "pressed" not in event.data


def test_smoke_event_and_telemetry() -> None:
    alarm = parse(SMOKE, EVENT, {"smoke": True, "obscuration_db_m": 0.21, "battery_pct": 80, "tamper": False})
    assert (alarm.kind, alarm.channel, alarm.smoke) == (SMOKE, EVENT, True)
    assert alarm.data == {"smoke": True, "obscuration_db_m": 0.21, "battery_pct": 80.0, "tamper": False}
    quiet = parse(SMOKE, TELEMETRY, {"smoke": False, "obscuration_db_m": 0.0})
    assert (quiet.channel, quiet.smoke) == (TELEMETRY, False)
    assert quiet.data == {"smoke": False, "obscuration_db_m": 0.0}


def test_smoke_requires_the_smoke_flag() -> None:
    assert refused(SMOKE, TELEMETRY, {"obscuration_db_m": 0.3}) is DeadLetterReason.INVALID_PAYLOAD


def test_temperature_telemetry_and_event() -> None:
    reading = parse(TEMP, TELEMETRY, {"celsius": 23.4, "battery_pct": 99})
    assert (reading.kind, reading.channel, reading.celsius) == (TEMP, TELEMETRY, 23.4)
    assert reading.data == {"celsius": 23.4, "battery_pct": 99.0}
    assert parse(TEMP, EVENT, {"celsius": -5}).celsius == -5.0


@pytest.mark.parametrize("celsius", [-60, 400, 0, 57.0])
def test_temperature_range_edges_accepted(celsius: float) -> None:
    assert parse(TEMP, TELEMETRY, {"celsius": celsius}).celsius == celsius


@pytest.mark.parametrize("celsius", [-60.01, 400.01, 1e6, -273.16])
def test_temperature_out_of_range_refused(celsius: float) -> None:
    assert refused(TEMP, TELEMETRY, {"celsius": celsius}) is DeadLetterReason.INVALID_PAYLOAD


@pytest.mark.parametrize(
    ("payload", "online"),
    [
        (b"online", True),
        (b"offline", False),
        (b" Online\r\n", True),
        (b"OFFLINE", False),
        (b'{"state":"online"}', True),
        (b'{"state": "Offline", "reason": "lwt"}', False),
    ],
)
@pytest.mark.parametrize("kind", list(DeviceKind))
def test_status_plain_and_json(kind: DeviceKind, payload: bytes, online: bool) -> None:
    event = parse(kind, STATUS, payload)
    assert (event.kind, event.channel, event.online) == (kind, STATUS, online)
    assert event.data == {"state": "online" if online else "offline"}
    assert event.occurred_at == NOW
    assert event.pressed is False
    assert event.smoke is False


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", DeadLetterReason.INVALID_PAYLOAD),
        (b"on", DeadLetterReason.INVALID_PAYLOAD),
        (b"online!", DeadLetterReason.INVALID_PAYLOAD),
        (b'"online"', DeadLetterReason.INVALID_PAYLOAD),
        (b'{"state": 1}', DeadLetterReason.INVALID_PAYLOAD),
        (b'{"status": "online"}', DeadLetterReason.INVALID_PAYLOAD),
        (b'{"state": "online"', DeadLetterReason.BAD_JSON),
        (b"\xffonline", DeadLetterReason.BAD_ENCODING),
        (b'{"state": ' + b"[" * 3000, DeadLetterReason.BAD_JSON),
    ],
)
def test_status_refusals(payload: bytes, reason: DeadLetterReason) -> None:
    assert refused(SMOKE, STATUS, payload) is reason


# --- timestamps ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "channel", "payload"),
    [
        (PANIC, EVENT, {"pressed": True}),
        (PANIC, TELEMETRY, {"battery_pct": 50}),
        (SMOKE, EVENT, {"smoke": True}),
        (TEMP, TELEMETRY, {"celsius": 21.0}),
    ],
)
def test_ts_with_offset_is_honoured_and_absent_ts_is_received_at(
    kind: DeviceKind, channel: Channel, payload: dict[str, Any]
) -> None:
    stamped = parse(kind, channel, {**payload, "ts": "2025-03-01T15:59:58.250+08:00"})
    assert stamped.occurred_at == datetime(2025, 3, 1, 7, 59, 58, 250000, tzinfo=UTC)
    assert stamped.occurred_at.utcoffset() == timedelta(hours=8)
    assert stamped.data["ts"] == "2025-03-01T15:59:58.250000+08:00"
    zulu = parse(kind, channel, {**payload, "ts": "2025-03-01T07:00:00Z"})
    assert zulu.occurred_at == datetime(2025, 3, 1, 7, 0, tzinfo=UTC)
    unstamped = parse(kind, channel, payload)
    assert unstamped.occurred_at == NOW
    assert "ts" not in unstamped.data


@pytest.mark.parametrize(
    ("kind", "channel", "payload"),
    [(PANIC, EVENT, {"pressed": True}), (SMOKE, TELEMETRY, {"smoke": False}), (TEMP, TELEMETRY, {"celsius": 20})],
)
@pytest.mark.parametrize(
    "ts",
    [
        "2025-03-01T16:00:00",  # naive: no offset, so no instant
        "2025-03-01",
        "yesterday",
        "2025-13-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC: cannot be stored
        "9999-12-31T23:59:59-01:00",  # after year 9999 in UTC
        True,
        None,
    ],
)
def test_bad_ts_is_refused(kind: DeviceKind, channel: Channel, payload: dict[str, Any], ts: object) -> None:
    if ts is None:
        # An explicit null is the same as no ts.
        assert parse(kind, channel, {**payload, "ts": ts}).occurred_at == NOW
        return
    assert refused(kind, channel, {**payload, "ts": ts}) is DeadLetterReason.INVALID_PAYLOAD


def test_every_accepted_ts_can_be_stored_in_utc() -> None:
    event = parse(PANIC, EVENT, {"pressed": True, "ts": "0001-01-01T00:00:00-01:00"})
    assert to_iso(event.occurred_at) == "0001-01-01T01:00:00.000000+00:00"


# --- refused payloads -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"pressed": tru', DeadLetterReason.BAD_JSON),
        (b"", DeadLetterReason.BAD_JSON),
        (b"pressed", DeadLetterReason.BAD_JSON),
        (b'{"pressed": true} trailing', DeadLetterReason.BAD_JSON),
        (b'{"pressed": true, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}", DeadLetterReason.BAD_JSON),
        (b'{"pressed": true, "seq": ' + b"9" * 5000 + b"}", DeadLetterReason.BAD_JSON),
        (b"\xff\xfe{}", DeadLetterReason.BAD_ENCODING),
        (b'{"pressed": true, "note": "\xe4\xb8"}', DeadLetterReason.BAD_ENCODING),
        (b"[true]", DeadLetterReason.INVALID_PAYLOAD),
        (b'"pressed"', DeadLetterReason.INVALID_PAYLOAD),
        (b"true", DeadLetterReason.INVALID_PAYLOAD),
        (b"null", DeadLetterReason.INVALID_PAYLOAD),
        (b"17", DeadLetterReason.INVALID_PAYLOAD),
        (b'{"pressed": NaN}', DeadLetterReason.NON_FINITE_NUMBER),
        (b'{"pressed": true, "battery_pct": Infinity}', DeadLetterReason.NON_FINITE_NUMBER),
        (b'{"pressed": true, "battery_pct": -Infinity}', DeadLetterReason.NON_FINITE_NUMBER),
        (b'{"pressed": true, "battery_pct": 1e999}', DeadLetterReason.NON_FINITE_NUMBER),
        (b'{"pressed": true, "ignored": {"deep": [1, -1e999]}}', DeadLetterReason.NON_FINITE_NUMBER),
        (b"{}", DeadLetterReason.INVALID_PAYLOAD),
    ],
)
def test_refused_with_reason(payload: bytes, reason: DeadLetterReason) -> None:
    assert refused(PANIC, EVENT, payload, max_bytes=1_048_576) is reason


def test_non_finite_celsius_is_refused_before_validation() -> None:
    for text in (b'{"celsius": NaN}', b'{"celsius": 1e999}', b'{"celsius": -1E400}'):
        assert refused(TEMP, TELEMETRY, text) is DeadLetterReason.NON_FINITE_NUMBER


@pytest.mark.parametrize("pressed", ["yes", "true", "1", "on", 1, 1.0])
def test_unambiguous_press_spellings_are_coerced_to_true(pressed: object) -> None:
    # Pydantic's lax mode: a life-safety input errs toward raising the alarm rather than dead-lettering a press
    # written as "yes" or 1 by some gateway. Ambiguous values are still refused (below).
    event = parse(PANIC, EVENT, {"pressed": pressed})
    assert event.pressed is True
    assert event.data["pressed"] is True


@pytest.mark.parametrize("pressed", ["no", "false", "0", "off", 0])
def test_unambiguous_release_spellings_are_coerced_to_false(pressed: object) -> None:
    assert parse(PANIC, EVENT, {"pressed": pressed}).pressed is False


@pytest.mark.parametrize("pressed", ["maybe", "", 2, -1, 0.5, None, [], {}, [True], "PRESSED"])
def test_ambiguous_press_values_are_refused(pressed: object) -> None:
    assert refused(PANIC, EVENT, {"pressed": pressed}) is DeadLetterReason.INVALID_PAYLOAD


@pytest.mark.parametrize(
    ("kind", "channel", "payload"),
    [
        (PANIC, EVENT, {"pressed": True, "seq": -1}),
        (PANIC, EVENT, {"pressed": True, "seq": 1.5}),
        (PANIC, EVENT, {"pressed": True, "seq": 2**53 + 1}),
        (PANIC, EVENT, {"pressed": True, "seq": "seventeen"}),
        (PANIC, TELEMETRY, {"battery_pct": 101}),
        (PANIC, TELEMETRY, {"tamper": "open"}),
        (SMOKE, EVENT, {"smoke": "fire"}),
        (SMOKE, EVENT, {"smoke": True, "obscuration_db_m": -0.1}),
        (TEMP, TELEMETRY, {"celsius": "hot"}),
        (TEMP, TELEMETRY, {"celsius": None}),
        (TEMP, TELEMETRY, {"celsius": [21]}),
        (TEMP, TELEMETRY, {"temperature": 21}),
    ],
)
def test_wrong_types_and_ranges_are_invalid(kind: DeviceKind, channel: Channel, payload: dict[str, Any]) -> None:
    assert refused(kind, channel, payload) is DeadLetterReason.INVALID_PAYLOAD


def test_numeric_strings_are_coerced_like_other_lax_values() -> None:
    assert parse(TEMP, TELEMETRY, {"celsius": "23.5"}).celsius == 23.5
    assert parse(PANIC, EVENT, {"pressed": True, "seq": "17"}).seq == 17


def test_invalid_payload_detail_names_the_field() -> None:
    with pytest.raises(PayloadError) as caught:
        parse(TEMP, TELEMETRY, {"celsius": 999, "battery_pct": -1})
    assert caught.value.detail.startswith("celsius: ")
    assert "(+1 more)" in caught.value.detail


@pytest.mark.parametrize("channel", list(Channel))
def test_payload_over_max_bytes_is_refused_unread(channel: Channel) -> None:
    body = b'{"celsius": 20.0, "pad": "' + b"x" * 100 + b'"}'
    assert parse(TEMP, TELEMETRY, body, max_bytes=len(body)).celsius == 20.0
    assert refused(TEMP, channel, body, max_bytes=len(body) - 1) is DeadLetterReason.PAYLOAD_TOO_LARGE
    # Not decoded first: bad bytes over the cap are still "too large".
    assert refused(TEMP, channel, b"\xff" * 65, max_bytes=64) is DeadLetterReason.PAYLOAD_TOO_LARGE


@pytest.mark.parametrize("channel", [EVENT, TELEMETRY])
def test_camera_publishes_only_status(channel: Channel) -> None:
    assert refused(CAMERA, channel, {"motion": True}) is DeadLetterReason.UNSUPPORTED_CHANNEL
    assert parse(CAMERA, STATUS, b"online").online is True


def test_status_channel_is_parsed_by_the_status_parser_for_every_kind() -> None:
    # A smoke payload on the status channel is not a smoke reading.
    assert refused(SMOKE, STATUS, {"smoke": True}) is DeadLetterReason.INVALID_PAYLOAD
    assert parse(SMOKE, STATUS, b"offline").online is False


def test_panic_telemetry_is_allowed_but_temperature_payload_rules_hold() -> None:
    assert parse(PANIC, TELEMETRY, {"battery_pct": 5}).channel is TELEMETRY
    assert parse(SMOKE, TELEMETRY, {"smoke": False}).channel is TELEMETRY
    assert parse(TEMP, EVENT, {"celsius": 20}).channel is EVENT


def test_payload_models_forbid_nan_in_direct_use() -> None:
    for model, data in (
        (PanicButtonEvent, {"pressed": True, "battery_pct": float("nan")}),
        (PanicButtonSupervision, {"battery_pct": float("inf")}),
        (SmokeReading, {"smoke": True, "obscuration_db_m": float("nan")}),
        (TemperatureReading, {"celsius": float("nan")}),
    ):
        with pytest.raises(ValueError, match="finite"):
            model.model_validate(data)


# --- routing through the pipeline -------------------------------------------------------------------------------


@pytest.fixture
def pipeline(tmp_path: Path, store: Store) -> Pipeline:
    return Pipeline(HubConfig.model_validate(base_config(tmp_path, 1883, None)), store, HubMetrics())


_mono = itertools.count(1)


def inbound(topic_: str, payload: bytes | dict[str, Any], at: datetime = NOW) -> Inbound:
    return Inbound(topic_, encode(payload), qos=1, mid=1, received_at=at, received_mono=float(next(_mono)))


def route_refused(pipeline: Pipeline, topic_: str, payload: bytes | dict[str, Any]) -> DeadLetterReason:
    with pytest.raises(PayloadError) as caught:
        pipeline.parse(inbound(topic_, payload))
    return caught.value.reason


def test_pipeline_routes_registered_devices(pipeline: Pipeline) -> None:
    press = pipeline.parse(inbound(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 3}))
    assert (press.device_id, press.kind, press.channel, press.pressed, press.seq) == ("btn-1", PANIC, EVENT, True, 3)
    status = pipeline.parse(inbound(topic("camera", "cam-1", "status"), b"online"))
    assert (status.device_id, status.kind, status.online) == ("cam-1", CAMERA, True)
    reading = pipeline.parse(inbound(topic("temperature", "temp-1", "telemetry"), {"celsius": 30}))
    assert reading.celsius == 30.0


def test_pipeline_unknown_device(pipeline: Pipeline) -> None:
    assert route_refused(pipeline, topic("panic_button", "btn-9", "event"), {"pressed": True}) is (
        DeadLetterReason.UNKNOWN_DEVICE
    )


@pytest.mark.parametrize("kind", ["smoke", "temperature", "camera", "lamp", "PANIC_BUTTON"])
def test_pipeline_kind_mismatch(pipeline: Pipeline, kind: str) -> None:
    assert route_refused(pipeline, topic(kind, "btn-1", "event"), {"pressed": True}) is DeadLetterReason.KIND_MISMATCH


@pytest.mark.parametrize(
    "topic_",
    [
        f"{PREFIX}/other-school/panic_button/btn-1/event",
        f"other/{SITE}/panic_button/btn-1/event",
        f"{PREFIX}/{SITE}x/panic_button/btn-1/event",
        f"{PREFIX}/{SITE}/panic_button/btn-1",
        f"{PREFIX}/{SITE}/btn-1",
        f"{PREFIX}/{SITE}/",
        f"{PREFIX}/{SITE}",
        f"{PREFIX}/{SITE}/panic_button/btn-1/event/extra",
        f"{PREFIX}/{SITE}/panic_button//event",
        f"{PREFIX}/{SITE}//btn-1/event",
        f"/{PREFIX}/{SITE}/panic_button/btn-1/event",
        "",
    ],
)
def test_pipeline_bad_topic(pipeline: Pipeline, topic_: str) -> None:
    assert route_refused(pipeline, topic_, {"pressed": True}) is DeadLetterReason.BAD_TOPIC


@pytest.mark.parametrize("channel", ["alarm", "EVENT", "events", "status ", "+"])
def test_pipeline_unknown_channel(pipeline: Pipeline, channel: str) -> None:
    assert route_refused(pipeline, topic("panic_button", "btn-1", channel), {"pressed": True}) is (
        DeadLetterReason.UNSUPPORTED_CHANNEL
    )


def test_pipeline_applies_the_configured_payload_cap(pipeline: Pipeline) -> None:
    big = {"pressed": True, "pad": "x" * CAP}
    assert route_refused(pipeline, topic("panic_button", "btn-1", "event"), big) is (DeadLetterReason.PAYLOAD_TOO_LARGE)


def test_pipeline_process_stores_events_dead_letters_and_alarms(pipeline: Pipeline, store: Store) -> None:
    batch = [
        inbound(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1}),
        inbound(topic("smoke", "smoke-1", "telemetry"), {"smoke": False}),
        inbound(topic("panic_button", "btn-2", "event"), {"pressed": True, "ts": "0001-01-01T00:00:00+01:00"}),
        inbound(topic("panic_button", "nobody", "event"), {"pressed": True}),
        inbound(topic("temperature", "temp-1", "telemetry"), b'{"celsius": NaN}'),
    ]
    outcome = pipeline.process(batch)
    assert (outcome.events, outcome.dead_letters) == (2, 3)
    assert len(outcome.opened) == 1
    assert (store.count("events"), store.count("dead_letters"), store.count("alarms")) == (2, 3, 1)
    reasons = sorted(row["reason"] for row in store.list_dead_letters())
    assert reasons == ["invalid_payload", "non_finite_number", "unknown_device"]


# --- properties -------------------------------------------------------------------------------------------------

FIELD_NAMES = sorted(
    {
        *PanicButtonEvent.model_fields,
        *PanicButtonSupervision.model_fields,
        *SmokeReading.model_fields,
        *TemperatureReading.model_fields,
        "state",
    }
)

offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
timestamps = st.one_of(
    st.datetimes(timezones=offsets).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),  # naive
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # includes NaN and +-inf, which json.dumps writes as NaN/Infinity
    st.text(max_size=20),
    st.sampled_from(["online", "offline", "yes", "no", "true", "1", "23.5"]),
    timestamps,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8)), children, max_size=4),
    ),
    max_leaves=12,
)
random_objects = st.dictionaries(
    st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8)), json_values, max_size=len(FIELD_NAMES) + 2
)
# Objects built from the real fields with mostly plausible values, so accepted payloads are common too.
flags = st.one_of(st.booleans(), st.booleans(), st.sampled_from(["yes", "no", "true", 1, 0, 2, "maybe", None]))
numbers = st.one_of(st.integers(min_value=-100, max_value=500), st.floats(min_value=-100, max_value=500), st.floats())
plausible_objects = st.fixed_dictionaries(
    {},
    optional={
        "pressed": flags,
        "smoke": flags,
        "tamper": flags,
        "seq": st.integers(min_value=-2, max_value=2**54),
        "battery_pct": numbers,
        "celsius": numbers,
        "obscuration_db_m": numbers,
        "ts": st.one_of(timestamps, st.integers(min_value=-(2**40), max_value=2**40)),
        "state": st.sampled_from(["online", "offline", "ONLINE", "unknown"]),
        "extra": json_values,
    },
)
json_objects = st.one_of(plausible_objects, random_objects)
max_bytes = st.sampled_from([256, CAP, 1_048_576])


def check_contract(kind: DeviceKind, channel: Channel, payload: bytes, cap: int) -> None:
    """parse_message returns a storable DeviceEvent for (kind, channel) or raises PayloadError; nothing else."""
    outcome: DeviceEvent | PayloadError
    try:
        outcome = parse_message("dev-1", kind, channel, payload, NOW, cap)
    except PayloadError as exc:
        outcome = exc
    if isinstance(outcome, PayloadError):
        assert isinstance(outcome.reason, DeadLetterReason)
        note_event(f"refused: {outcome.reason}")
        if len(payload) > cap:
            assert outcome.reason is DeadLetterReason.PAYLOAD_TOO_LARGE
        return
    event = outcome
    assert len(payload) <= cap
    assert isinstance(event, DeviceEvent)
    assert (event.device_id, event.kind, event.channel) == ("dev-1", kind, channel)
    assert (event.online is not None) == (channel is STATUS)
    assert channel is STATUS or kind is not CAMERA
    to_iso(event.occurred_at)  # the store's form of the time exists
    json.dumps(event.data, allow_nan=False)  # the stored data is plain, finite JSON
    note_event(f"accepted: {kind} {channel}")


@settings(max_examples=200, deadline=None)
@given(
    payload=st.binary(max_size=6000),
    kind=st.sampled_from(DeviceKind),
    channel=st.sampled_from(Channel),
    cap=max_bytes,
)
def test_parse_message_any_bytes(payload: bytes, kind: DeviceKind, channel: Channel, cap: int) -> None:
    check_contract(kind, channel, payload, cap)


@settings(max_examples=200, deadline=None)
@given(obj=json_objects, kind=st.sampled_from(DeviceKind), channel=st.sampled_from(Channel), cap=max_bytes)
def test_parse_message_any_json_object(obj: dict[str, Any], kind: DeviceKind, channel: Channel, cap: int) -> None:
    check_contract(kind, channel, json.dumps(obj).encode(), cap)


@settings(max_examples=200, deadline=None)
@given(value=json_values, kind=st.sampled_from(DeviceKind), channel=st.sampled_from(Channel))
def test_parse_message_any_json_value(value: Any, kind: DeviceKind, channel: Channel) -> None:
    check_contract(kind, channel, json.dumps(value).encode(), CAP)


DEVICES = [("camera", "cam-1"), ("panic_button", "btn-1"), ("panic_button", "btn-2"), ("smoke", "smoke-1")]
DEVICES += [("temperature", "temp-1"), ("panic_button", "smoke-1"), ("smoke", "nobody")]
# Topics as paho hands them over: decoded strictly as UTF-8, so never a lone surrogate.
topic_chars = st.characters(codec="utf-8")
level = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/"), max_size=12)
registry_topics = st.builds(
    lambda device, channel: topic(device[0], device[1], channel),
    st.sampled_from(DEVICES),
    st.sampled_from([*Channel, "other"]),
)
any_topics = st.one_of(
    st.lists(level, min_size=0, max_size=5).map(lambda parts: "/".join([PREFIX, SITE, *parts])),
    st.text(alphabet=topic_chars, max_size=40),
)
# Most topics name a registry entry (some with the wrong kind or channel); the rest are anything at all.
topics = st.integers(min_value=0, max_value=9).flatmap(lambda n: registry_topics if n < 7 else any_topics)
good_payloads = st.one_of(
    plausible_objects.map(lambda obj: json.dumps(obj).encode()),
    st.sampled_from(
        [
            b"online",
            b"offline",
            b'{"state": "online"}',
            b'{"pressed": true, "seq": 2}',
            b'{"smoke": true}',
            b'{"celsius": 90}',
            b'{"celsius": 21.5}',
            b'{"battery_pct": 9}',
        ]
    ),
)
bad_payloads = st.one_of(
    st.binary(max_size=200),
    st.binary(min_size=CAP - 8, max_size=CAP + 8),
    random_objects.map(lambda obj: json.dumps(obj).encode()),
)
payloads = st.integers(min_value=0, max_value=9).flatmap(lambda n: good_payloads if n < 6 else bad_payloads)
known_good = st.sampled_from(
    [
        (topic("panic_button", "btn-1", "event"), b'{"pressed": true, "seq": 2}'),
        (topic("panic_button", "btn-2", "event"), b'{"pressed": false}'),
        (topic("panic_button", "btn-2", "telemetry"), b'{"battery_pct": 9, "tamper": true}'),
        (topic("smoke", "smoke-1", "event"), b'{"smoke": true, "obscuration_db_m": 0.3}'),
        (topic("smoke", "smoke-1", "telemetry"), b'{"smoke": false}'),
        (topic("temperature", "temp-1", "telemetry"), b'{"celsius": 90}'),
        (topic("temperature", "temp-1", "telemetry"), b'{"celsius": 21.5, "ts": "2025-03-01T16:00:00+08:00"}'),
        (topic("camera", "cam-1", "status"), b"offline"),
    ]
)
pairs = st.integers(min_value=0, max_value=9).flatmap(lambda n: known_good if n < 4 else st.tuples(topics, payloads))
messages = st.builds(
    lambda pair, mono: Inbound(pair[0], pair[1], qos=1, mid=1, received_at=NOW, received_mono=float(mono)),
    pairs,
    st.integers(min_value=0, max_value=10_000),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(messages, min_size=1, max_size=20))
def test_pipeline_stores_every_message_exactly_once(pipeline: Pipeline, store: Store, batch: list[Inbound]) -> None:
    # One store serves every example, so compare counts before and after.
    parsed = 0
    for message in batch:
        try:
            pipeline.parse(message)  # an adapter crash (anything but PayloadError) fails the test here
            parsed += 1
        except PayloadError:
            pass
    events, dead = store.count("events"), store.count("dead_letters")
    outcome = pipeline.process(batch)
    assert (outcome.events, outcome.dead_letters) == (parsed, len(batch) - parsed)
    assert store.count("events") - events == parsed
    assert store.count("dead_letters") - dead == len(batch) - parsed
    # Nothing was dead-lettered for a crash or a store failure: every parsed event was storable.
    assert all(row["reason"] != DeadLetterReason.ADAPTER_ERROR for row in store.list_dead_letters(limit=len(batch)))
    note_event(f"events in batch: {min(parsed, 3)}{'+' if parsed >= 3 else ''}")


@pytest.mark.parametrize(
    "snapshot",
    ["http://198.51.100.7/x.jpg", "//evil.example/x.jpg", "https://hub/api/v1/x", "/static/../x y", "javascript:x"],
)
def test_a_camera_snapshot_link_must_be_a_path_on_the_hub(snapshot: str) -> None:
    # The maintenance page loads it as an image: a device must not make the console fetch an outside address.
    body = {"labels": ["healthy"], "snapshot": snapshot}
    assert refused(DeviceKind.CAMERA, Channel.HEALTH, body) is DeadLetterReason.INVALID_PAYLOAD
    ok = parse(DeviceKind.CAMERA, Channel.HEALTH, {"labels": ["healthy"], "snapshot": "/api/v1/cameras/c1/snapshot"})
    assert ok.data["snapshot"] == "/api/v1/cameras/c1/snapshot"
