"""What every device adapter shares: device kinds, channels, the typed event an adapter yields, and safe decoding."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationError


class DeviceKind(StrEnum):
    """Kinds of device in the registry; the value is also the topic level."""

    PANIC_BUTTON = "panic_button"
    SMOKE = "smoke"
    TEMPERATURE = "temperature"
    CAMERA = "camera"
    ELECTRICAL_FIRE = "electrical_fire"  # 电气火灾监控: residual current and cable temperatures of a distribution board
    GAS = "gas"  # 可燃气体: combustible gas, %LEL
    CO = "co"  # 一氧化碳: carbon monoxide, ppm
    INTRUSION = "intrusion"  # 入侵报警: PIR, microwave or glass-break detector
    DOOR = "door"  # 门磁: door or gate contact


# Kinds whose messages can raise a life-safety alarm: they reach the hub on the MQTT alarm lane (a session and queue
# of their own, committed ahead of telemetry). The one definition; a registry setting may extend it later.
# Gas and CO join: a leak or CO in a dormitory is a danger to life now, and their detectors report seldom, so they
# do not crowd the lane. Electrical fire units stay on the telemetry lane like heat sensors: their alarm warns of a
# fire that has not started, and every distribution board reports readings every few seconds, which on the alarm
# lane would queue ahead of presses. Intrusion and door contacts guard property in an empty building at night.
LIFE_SAFETY_KINDS: frozenset[DeviceKind] = frozenset(
    {DeviceKind.PANIC_BUTTON, DeviceKind.SMOKE, DeviceKind.GAS, DeviceKind.CO}
)


class Channel(StrEnum):
    """Last topic level: what a message is."""

    EVENT = "event"
    TELEMETRY = "telemetry"
    STATUS = "status"
    HEALTH = "health"  # a camera's picture and recording health (the hub's own checks, a recorder's or its own)


class DeadLetterReason(StrEnum):
    """Stable reason codes for messages that ingest could not accept (also the metric label)."""

    BAD_TOPIC = "bad_topic"
    UNKNOWN_DEVICE = "unknown_device"
    KIND_MISMATCH = "kind_mismatch"
    UNSUPPORTED_CHANNEL = "unsupported_channel"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    BAD_ENCODING = "bad_encoding"
    BAD_JSON = "bad_json"
    NON_FINITE_NUMBER = "non_finite_number"
    INVALID_PAYLOAD = "invalid_payload"
    ADAPTER_ERROR = "adapter_error"


class PayloadError(Exception):
    """A payload an adapter refuses; carries the dead-letter reason and a human-readable detail."""

    def __init__(self, reason: DeadLetterReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """One accepted message, reduced to what the rest of the hub needs.

    `occurred_at` is the device's own `ts` when it sent one, otherwise the hub's receive time.
    `data` is the validated payload as plain JSON types (what is stored).
    """

    device_id: str
    kind: DeviceKind
    channel: Channel
    occurred_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    pressed: bool = False
    smoke: bool = False
    celsius: float | None = None
    seq: int | None = None
    online: bool | None = None


class PayloadModel(BaseModel):
    """Base of every payload model: no NaN or infinity, immutable, unknown keys ignored.

    Validation is pydantic's lax mode on purpose: a cheap button that writes `"pressed": "yes"` or `1` still
    raises its alarm, while values with no clear meaning (`"maybe"`, `2`, `null`) are refused.
    """

    model_config = ConfigDict(frozen=True, allow_inf_nan=False, extra="ignore", strict=False)


M = TypeVar("M", bound=PayloadModel)


def _representable_in_utc(value: datetime) -> datetime:
    # The store keeps every time in UTC; 0001-01-01T00:00+01:00 has no UTC form and would fail the whole batch.
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp is out of range once converted to UTC") from None
    return value


Timestamp = Annotated[AwareDatetime, AfterValidator(_representable_in_utc)]
"""A device's `ts`: ISO 8601 with an offset (or Unix seconds), representable in UTC."""


def _reject_constant(name: str) -> Any:
    raise PayloadError(DeadLetterReason.NON_FINITE_NUMBER, f"{name} is not a number JSON allows")


# One decoder for every message: json.loads with parse_constant would build a new one each time.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def decode_text(payload: bytes) -> str:
    """Bytes -> text, or a BAD_ENCODING error naming the first byte that is not UTF-8."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(DeadLetterReason.BAD_ENCODING, f"not UTF-8 at byte {exc.start}") from exc


def decode_json_object(payload: bytes) -> dict[str, Any]:
    """Bytes -> JSON object, refusing bad UTF-8, non-objects and NaN/Infinity, each with its own reason."""
    text = decode_text(payload)
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise PayloadError(DeadLetterReason.BAD_JSON, f"{exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        raise PayloadError(DeadLetterReason.BAD_JSON, "nested too deeply") from exc
    except ValueError as exc:
        # e.g. an integer literal longer than Python's int conversion limit (4300 digits)
        raise PayloadError(DeadLetterReason.BAD_JSON, str(exc)[:120]) from exc
    if not isinstance(value, dict):
        raise PayloadError(DeadLetterReason.INVALID_PAYLOAD, f"expected a JSON object, got {type(value).__name__}")
    _check_finite(value)
    return value


def _check_finite(value: Any) -> None:
    # json.loads turns 1e999 into inf without calling parse_constant, so look again.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise PayloadError(DeadLetterReason.NON_FINITE_NUMBER, "a number is out of range")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def validate(model: type[M], data: dict[str, Any]) -> M:
    """Validate a decoded object against a payload model; a failure becomes an INVALID_PAYLOAD error."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise PayloadError(DeadLetterReason.INVALID_PAYLOAD, f"{where}: {first['msg']}{more}") from exc


class DeviceExtras(PayloadModel):
    """What any detector of the newer kinds may add to its reading: tamper, battery and its own time."""

    tamper: bool | None = Field(default=None, description="True while the device's cover is open or it is moved.")
    battery_pct: float | None = Field(default=None, ge=0, le=100, description="Battery level, percent.")
    ts: Timestamp | None = Field(default=None, description="When the device measured or sent it, ISO 8601 with offset.")


class DetectorReading(DeviceExtras):
    """A measuring detector's extras: its own alarm output and its self-test (the hub judges its levels)."""

    alarm: bool | None = Field(default=None, description="The detector's own alarm output, where it sends one.")
    sensor_fault: bool | None = Field(default=None, description="True while the detector reports its sensor failed.")


E = TypeVar("E", bound=DeviceExtras)


def reading_event(
    kind: DeviceKind,
    model: type[E],
    what: str,
    device_id: str,
    channel: Channel,
    data: dict[str, Any],
    received_at: datetime,
) -> DeviceEvent:
    """A reading on `telemetry` or `event` validated against `model` -> an event, or PayloadError (`what` names the
    device in the error, e.g. "a gas detector")."""
    if channel not in (Channel.TELEMETRY, Channel.EVENT):
        raise PayloadError(DeadLetterReason.UNSUPPORTED_CHANNEL, f"{what} does not publish on {channel!r}")
    msg = validate(model, data)
    return DeviceEvent(
        device_id=device_id,
        kind=kind,
        channel=channel,
        occurred_at=msg.ts or received_at,
        data=msg.model_dump(mode="json", exclude_none=True),
    )
