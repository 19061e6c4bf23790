"""Device adapters: one module per device kind, each a pydantic payload model and a parse function.

`parse_message` is the single entry point ingest calls: raw bytes on a known device's channel in,
a `DeviceEvent` out, or a `PayloadError` naming the dead-letter reason. It never raises anything else
for any input bytes (a property test holds it to that).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from device_adapters import camera, panic_button, smoke, temperature
from device_adapters.base import (
    Channel,
    DeadLetterReason,
    DeviceEvent,
    DeviceKind,
    PayloadError,
    decode_json_object,
)
from device_adapters.status import parse_status

Parser = Callable[[str, Channel, dict[str, Any], datetime], DeviceEvent]

PARSERS: Mapping[DeviceKind, Parser] = {
    DeviceKind.PANIC_BUTTON: panic_button.parse,
    DeviceKind.SMOKE: smoke.parse,
    DeviceKind.TEMPERATURE: temperature.parse,
    DeviceKind.CAMERA: camera.parse,
}


def parse_message(
    device_id: str,
    kind: DeviceKind,
    channel: Channel,
    payload: bytes,
    received_at: datetime,
    max_bytes: int,
) -> DeviceEvent:
    """Decode and validate one message of a registered device."""
    if len(payload) > max_bytes:
        raise PayloadError(DeadLetterReason.PAYLOAD_TOO_LARGE, f"{len(payload)} bytes, the cap is {max_bytes}")
    if channel is Channel.STATUS:
        return parse_status(device_id, kind, payload, received_at)
    return PARSERS[kind](device_id, channel, decode_json_object(payload), received_at)


__all__ = [
    "PARSERS",
    "Channel",
    "DeadLetterReason",
    "DeviceEvent",
    "DeviceKind",
    "PayloadError",
    "parse_message",
]
