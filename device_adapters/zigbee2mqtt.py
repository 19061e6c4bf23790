"""Zigbee2MQTT devices: the JSON state on `zigbee2mqtt/<friendly_name>` and `<...>/availability`, as DeviceEvents.

Z2M publishes one flat JSON object per device with whatever the device exposes (`smoke`, `battery`,
`battery_low`, `tamper`, `temperature`, `action`, `linkquality`, `voltage`, `last_seen`, and by device type
`occupancy`, `contact`, `gas`, `gas_value`, `carbon_monoxide`, ...). Each field is
checked on its own: a field the device kind lives by (a button's `action`, a detector's `smoke`, a sensor's
`temperature`) refuses the whole message when it is malformed, while a malformed side field (a Tuya battery
of 200 %) is dropped and named under `ignored`, so a smoke alarm is never lost to a bad battery reading.

Z2M gives no device time of its own (`last_seen` is optional and its form depends on a Z2M setting), so
`occurred_at` is the hub's receive time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
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
)
from device_adapters.status import parse_status


class Z2MTopic(StrEnum):
    """Which of a Z2M device's topics a message came on."""

    STATE = "state"  # zigbee2mqtt/<friendly_name>
    AVAILABILITY = "availability"  # zigbee2mqtt/<friendly_name>/availability


# A long `hold` is the usual SOS gesture; `emergency`/`sos` come from dedicated SOS buttons (Tuya TS0215A_sos,
# Heiman HS1EB). `release` (the end of a hold) and the `""` reset Z2M sends after an action are not presses.
DEFAULT_PRESS_ACTIONS = frozenset({"single", "double", "triple", "hold", "long", "emergency", "sos"})

_MAX_TEXT = 64


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _number(low: float, high: float) -> Callable[[object], float | None]:
    def check(value: object) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        try:
            number = float(value)
        except OverflowError:  # an integer literal too long for a float
            return None
        return number if math.isfinite(number) and low <= number <= high else None

    return check


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and len(value) <= _MAX_TEXT else None


def _last_seen(value: object) -> str | float | None:
    # An ISO string, epoch milliseconds or a relative text, depending on Z2M's `advanced.last_seen`.
    return _text(value) if isinstance(value, str) else _number(0, 2**53)(value)


# Z2M key -> (key stored in the event's data, checker). The stored names are the canonical payload's, so the
# health tracker (battery_pct, tamper) and alarm rules read vendor events exactly like canonical ones.
_FIELDS: Mapping[str, tuple[str, Callable[[object], object | None]]] = {
    "action": ("action", _text),
    "smoke": ("smoke", _flag),
    "temperature": ("celsius", _number(-60, 400)),
    "battery": ("battery_pct", _number(0, 100)),
    "battery_low": ("battery_low", _flag),
    "tamper": ("tamper", _flag),
    "humidity": ("humidity_pct", _number(0, 100)),
    "linkquality": ("linkquality", _number(0, 255)),
    "voltage": ("voltage_mv", _number(0, 100_000)),
    "last_seen": ("last_seen", _last_seen),
}

# Fields read for one kind only, because Z2M names the same idea differently per device type: a PIR's `occupancy`,
# a gas or CO detector's alarm (`gas`, `carbon_monoxide`) all become the canonical `alarm`; a contact's `contact` is
# true when *closed* (Z2M's convention), so it is stored as `closed` and turned into the canonical `open` below.
_KIND_FIELDS: Mapping[DeviceKind, Mapping[str, tuple[str, Callable[[object], object | None]]]] = {
    DeviceKind.INTRUSION: {"occupancy": ("alarm", _flag)},
    DeviceKind.DOOR: {"contact": ("closed", _flag)},
    DeviceKind.GAS: {"gas": ("alarm", _flag), "gas_value": ("lel_pct", _number(0, 100))},
    DeviceKind.CO: {"carbon_monoxide": ("alarm", _flag)},
}

# Built once: every message of a kind reads the same fields.
_FIELDS_BY_KIND: Mapping[DeviceKind, Mapping[str, tuple[str, Callable[[object], object | None]]]] = {
    kind: {**_FIELDS, **_KIND_FIELDS.get(kind, {})} for kind in DeviceKind
}

# The field a kind lives by: malformed, it refuses the message instead of being dropped.
_ESSENTIAL: Mapping[DeviceKind, str] = {
    DeviceKind.PANIC_BUTTON: "action",
    DeviceKind.SMOKE: "smoke",
    DeviceKind.TEMPERATURE: "temperature",
    DeviceKind.INTRUSION: "occupancy",
    DeviceKind.DOOR: "contact",
    DeviceKind.GAS: "gas",
    DeviceKind.CO: "carbon_monoxide",
}


def parse(
    device_id: str,
    kind: DeviceKind,
    topic: Z2MTopic,
    payload: bytes,
    received_at: datetime,
    press_actions: frozenset[str] = DEFAULT_PRESS_ACTIONS,
) -> DeviceEvent:
    """One Z2M message of a registered device -> an event, or PayloadError."""
    if topic is Z2MTopic.AVAILABILITY:
        # `{"state": "online"}`, or the plain `online`/`offline` of Z2M before 1.22 (legacy availability payload).
        return parse_status(device_id, kind, payload, received_at)
    obj = decode_json_object(payload)
    data: dict[str, Any] = {}
    ignored: list[str] = []
    for key, (name, check) in _FIELDS_BY_KIND[kind].items():
        raw = obj.get(key)
        if raw is None:
            continue
        value = check(raw)
        if value is not None:
            data[name] = value
        elif _ESSENTIAL.get(kind) == key:
            raise PayloadError(DeadLetterReason.INVALID_PAYLOAD, f"{key}: {_show(raw)} is not a valid {key}")
        else:
            ignored.append(key)
    if not data and not ignored:
        raise PayloadError(DeadLetterReason.INVALID_PAYLOAD, "no field the hub reads (smoke, action, battery, ...)")
    if ignored:
        data["ignored"] = ignored
    if "closed" in data:
        data["open"] = not data.pop("closed")
    if data.get("action") == "":
        del data["action"]  # Z2M's reset after an action: nothing happened
    pressed = kind is DeviceKind.PANIC_BUTTON and data.get("action") in press_actions
    smoke = kind is DeviceKind.SMOKE and data.get("smoke") is True
    celsius = data.get("celsius") if kind is DeviceKind.TEMPERATURE else None
    if pressed:
        data["pressed"] = True
    return DeviceEvent(
        device_id=device_id,
        kind=kind,
        channel=Channel.EVENT if pressed or smoke else Channel.TELEMETRY,
        occurred_at=received_at,
        data=data,
        pressed=pressed,
        smoke=smoke,
        celsius=celsius if isinstance(celsius, float) else None,
    )


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
