"""Device adapters: one module per device kind, each a pydantic payload model and a parse function.

`parse_message` is the single entry point ingest calls: raw bytes on a known device's channel in,
a `DeviceEvent` out, or a `PayloadError` naming the dead-letter reason. It never raises anything else
for any input bytes (a property test holds it to that). `parse_vendor_message` is its twin for devices that
publish in a vendor's format (Zigbee2MQTT, Tasmota) on the vendor's own topics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from device_adapters import (
    camera,
    co,
    door,
    electrical_fire,
    gas,
    intrusion,
    panic_button,
    smoke,
    tasmota,
    temperature,
    zigbee2mqtt,
)
from device_adapters.base import (
    Channel,
    DeadLetterReason,
    DeviceEvent,
    DeviceKind,
    PayloadError,
    decode_json_object,
)
from device_adapters.status import parse_status
from device_adapters.tasmota import TasmotaTopic
from device_adapters.zigbee2mqtt import Z2MTopic


class DeviceFormat(StrEnum):
    """How a device publishes: the hub's own topics and payloads, or a vendor's (see zigbee2mqtt.py, tasmota.py)."""

    CANONICAL = "canonical"
    ZIGBEE2MQTT = "zigbee2mqtt"
    TASMOTA = "tasmota"


VendorTopic = Z2MTopic | TasmotaTopic

Parser = Callable[[str, Channel, dict[str, Any], datetime], DeviceEvent]

PARSERS: Mapping[DeviceKind, Parser] = {
    DeviceKind.PANIC_BUTTON: panic_button.parse,
    DeviceKind.SMOKE: smoke.parse,
    DeviceKind.TEMPERATURE: temperature.parse,
    DeviceKind.CAMERA: camera.parse,
    DeviceKind.ELECTRICAL_FIRE: electrical_fire.parse,
    DeviceKind.GAS: gas.parse,
    DeviceKind.CO: co.parse,
    DeviceKind.INTRUSION: intrusion.parse,
    DeviceKind.DOOR: door.parse,
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


def parse_vendor_message(
    device_id: str,
    kind: DeviceKind,
    topic: VendorTopic,
    payload: bytes,
    received_at: datetime,
    max_bytes: int,
    press_actions: frozenset[str] = zigbee2mqtt.DEFAULT_PRESS_ACTIONS,
) -> DeviceEvent:
    """Decode one message a registered vendor device sent on one of its own topics; same contract as parse_message.

    Vendors may retain a device's last state (Z2M's `retain` option, Tasmota's PowerRetain). A retained press is
    still a press here: ingest (hub.ingest.replay) tells one it already handled from one it never saw, for vendor
    and canonical devices alike.
    """
    if len(payload) > max_bytes:
        raise PayloadError(DeadLetterReason.PAYLOAD_TOO_LARGE, f"{len(payload)} bytes, the cap is {max_bytes}")
    if isinstance(topic, Z2MTopic):
        return zigbee2mqtt.parse(device_id, kind, topic, payload, received_at, press_actions)
    return tasmota.parse(device_id, kind, topic, payload, received_at)


__all__ = [
    "PARSERS",
    "Channel",
    "DeadLetterReason",
    "DeviceEvent",
    "DeviceFormat",
    "DeviceKind",
    "PayloadError",
    "TasmotaTopic",
    "VendorTopic",
    "Z2MTopic",
    "parse_message",
    "parse_vendor_message",
]
