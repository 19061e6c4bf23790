"""Tasmota devices: `tele/<topic>/SENSOR`, `tele/<topic>/LWT`, `tele/<topic>/STATE` and `stat/<topic>/POWER`.

- SENSOR: `{"Time": "...", "DS18B20": {"Id": "...", "Temperature": 21.5}, "TempUnit": "C"}`; the sensor object's
  name varies (`DS18B20`, `DS18B20-1`, `SHT3X`, `AM2301`, `BME280`, ...), so the first object with a numeric
  `Temperature` is the reading, converted from Fahrenheit when `TempUnit` says `F`.
- LWT: `Online` / `Offline` (retained; Tasmota's MQTT last will).
- STATE: the periodic state report, taken as proof of life only. It carries `"POWER": "ON"` too, which is the
  relay's state, not a new press, so it never raises anything.
- POWER: `ON` / `OFF` from a wired button input (panic buttons only): `ON` is a press.

Tasmota's `Time` is local time without an offset, and the hub cannot know the device's timezone setting (nor
trust its NTP state), so `occurred_at` is the hub's receive time; the device's text is kept as `device_time`.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Any

from device_adapters.base import (
    Channel,
    DeadLetterReason,
    DeviceEvent,
    DeviceKind,
    PayloadError,
    decode_json_object,
    decode_text,
)
from device_adapters.status import parse_status


class TasmotaTopic(StrEnum):
    """Which of a Tasmota device's topics a message came on; the value is the topic's last level."""

    SENSOR = "SENSOR"  # tele/<topic>/SENSOR
    LWT = "LWT"  # tele/<topic>/LWT
    STATE = "STATE"  # tele/<topic>/STATE
    POWER = "POWER"  # stat/<topic>/POWER


_MAX_TEXT = 64
_POWER = {"ON": True, "OFF": False}


def parse(device_id: str, kind: DeviceKind, topic: TasmotaTopic, payload: bytes, received_at: datetime) -> DeviceEvent:
    """One Tasmota message of a registered device -> an event, or PayloadError."""
    if topic is TasmotaTopic.LWT:
        return parse_status(device_id, kind, payload, received_at)
    if topic is TasmotaTopic.POWER:
        return _power(device_id, kind, payload, received_at)
    obj = decode_json_object(payload)
    data: dict[str, Any] = {}
    device_time = obj.get("Time")
    if isinstance(device_time, str) and len(device_time) <= _MAX_TEXT:
        data["device_time"] = device_time
    celsius: float | None = None
    if topic is TasmotaTopic.STATE:
        uptime = obj.get("UptimeSec")
        if isinstance(uptime, int) and not isinstance(uptime, bool) and 0 <= uptime <= 2**53:
            data["uptime_s"] = uptime
    elif kind is DeviceKind.TEMPERATURE:
        celsius = _reading(obj, data)
    return DeviceEvent(
        device_id=device_id,
        kind=kind,
        channel=Channel.TELEMETRY,
        occurred_at=received_at,
        data=data,
        celsius=celsius,
    )


def _reading(obj: dict[str, Any], data: dict[str, Any]) -> float:
    """The first sensor object's Temperature in °C (filling `data`), or PayloadError."""
    for name, sensor in obj.items():
        if not isinstance(sensor, dict):
            continue
        value = sensor.get("Temperature")
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue  # null while a sensor fails to read; a later sensor may still have one
        try:
            celsius = _to_celsius(float(value), obj.get("TempUnit", "C"))
        except OverflowError:  # an integer literal too long for a float
            celsius = math.inf
        if not (math.isfinite(celsius) and -60 <= celsius <= 400):
            raise PayloadError(
                DeadLetterReason.INVALID_PAYLOAD, f"{name[:32]}.Temperature: {str(value)[:20]} is out of range"
            )
        data["celsius"] = round(celsius, 2)
        data["sensor"] = name[:_MAX_TEXT]
        sensor_id = sensor.get("Id")
        if isinstance(sensor_id, str) and len(sensor_id) <= _MAX_TEXT:
            data["sensor_id"] = sensor_id
        humidity = sensor.get("Humidity")
        if isinstance(humidity, int | float) and not isinstance(humidity, bool) and 0 <= humidity <= 100:
            data["humidity_pct"] = float(humidity)
        return float(data["celsius"])
    raise PayloadError(DeadLetterReason.INVALID_PAYLOAD, "no sensor object with a numeric Temperature")


def _to_celsius(value: float, unit: object) -> float:
    if unit == "C":
        return value
    if unit == "F":
        return (value - 32.0) * 5.0 / 9.0
    raise PayloadError(DeadLetterReason.INVALID_PAYLOAD, f"TempUnit: {str(unit)[:20]!r} is not C or F")


def _power(device_id: str, kind: DeviceKind, payload: bytes, received_at: datetime) -> DeviceEvent:
    if kind is not DeviceKind.PANIC_BUTTON:
        raise PayloadError(DeadLetterReason.UNSUPPORTED_CHANNEL, f"POWER is read from panic buttons only, not a {kind}")
    word = decode_text(payload).strip().upper()
    if word not in _POWER:
        raise PayloadError(DeadLetterReason.INVALID_PAYLOAD, f"POWER must be ON or OFF, got {word[:20]!r}")
    return DeviceEvent(
        device_id=device_id,
        kind=kind,
        channel=Channel.EVENT,
        occurred_at=received_at,
        data={"pressed": _POWER[word]},
        pressed=_POWER[word],
    )
