"""MQTT topic layout: `{prefix}/{site}/{kind}/{device_id}/{channel}`; the hub's own under `hub/`.

Vendor devices (Zigbee2MQTT, Tasmota) publish on their vendor's topics instead: `vendor_topics` lists a device's
exact topics (what ingest subscribes to and the broker ACL grants) and `vendor_routes` maps each of them back to
its device. Routing is by exact topic, never by prefix, because a Z2M friendly name may itself contain `/`
(`zigbee2mqtt/Block A/Floor 2/SOS`): with exact keys no name can shadow another, and the one overlap that could
exist (a device named like another's `.../availability` topic) is refused as a registry error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from device_adapters import DeviceFormat, TasmotaTopic, VendorTopic, Z2MTopic
from device_adapters.base import Channel, DeadLetterReason, DeviceKind, PayloadError
from device_adapters.zigbee2mqtt import DEFAULT_PRESS_ACTIONS

if TYPE_CHECKING:
    from hub.config import DeviceConfig


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str
    site_id: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.site_id}"

    @property
    def device_filter(self) -> str:
        return f"{self.base}/+/+/+"

    @property
    def hub_status(self) -> str:
        return f"{self.base}/hub/status"

    def device(self, kind: str, device_id: str, channel: str) -> str:
        return f"{self.base}/{kind}/{device_id}/{channel}"

    def parse(self, topic: str) -> tuple[str, str, Channel]:
        """(kind, device_id, channel) of a device topic, or PayloadError."""
        head = self.base + "/"
        if not topic.startswith(head):
            raise PayloadError(DeadLetterReason.BAD_TOPIC, f"not under {head}")
        parts = topic[len(head) :].split("/")
        if len(parts) != 3 or not all(parts):
            raise PayloadError(DeadLetterReason.BAD_TOPIC, "expected {kind}/{device_id}/{channel} after the site")
        kind, device_id, channel = parts
        try:
            return kind, device_id, Channel(channel)
        except ValueError:
            raise PayloadError(
                DeadLetterReason.UNSUPPORTED_CHANNEL, f"channel {channel!r} is not event, telemetry, status or health"
            ) from None


@dataclass(frozen=True, slots=True)
class VendorRoute:
    """Where a message on one vendor topic goes: the registered device, and which of its topics it is."""

    device_id: str
    kind: DeviceKind
    topic: VendorTopic
    press_actions: frozenset[str] = DEFAULT_PRESS_ACTIONS


def vendor_topic_map(format_: str, kind: str, source_topic: str) -> list[tuple[str, VendorTopic]]:
    """The exact topics of a vendor device and what each carries; empty for the canonical format.

    Plain values in, so the registry check can run it on raw YAML items too.
    """
    if format_ == DeviceFormat.ZIGBEE2MQTT:
        return [(source_topic, Z2MTopic.STATE), (f"{source_topic}/availability", Z2MTopic.AVAILABILITY)]
    if format_ == DeviceFormat.TASMOTA:
        topics: list[tuple[str, VendorTopic]] = [
            (f"tele/{source_topic}/SENSOR", TasmotaTopic.SENSOR),
            (f"tele/{source_topic}/LWT", TasmotaTopic.LWT),
            (f"tele/{source_topic}/STATE", TasmotaTopic.STATE),
        ]
        if kind == DeviceKind.PANIC_BUTTON:
            topics.append((f"stat/{source_topic}/POWER", TasmotaTopic.POWER))  # the wired button input
        return topics
    return []


def vendor_topics(device: DeviceConfig) -> list[str]:
    """The exact topics a vendor-format device publishes on (empty for a canonical device)."""
    if device.source_topic is None:
        return []
    return [topic for topic, _ in vendor_topic_map(device.format, device.kind, device.source_topic)]


def vendor_routes(devices: Iterable[DeviceConfig]) -> dict[str, VendorRoute]:
    """Exact vendor topic -> route, built once from the registry (which has already refused shared topics)."""
    routes: dict[str, VendorRoute] = {}
    for device in devices:
        if device.source_topic is None:
            continue
        actions = frozenset(device.press_actions) if device.press_actions is not None else DEFAULT_PRESS_ACTIONS
        for topic, part in vendor_topic_map(device.format, device.kind, device.source_topic):
            if topic in routes:
                raise ValueError(f"{topic!r} is claimed by {routes[topic].device_id!r} and {device.id!r}")
            routes[topic] = VendorRoute(device.id, device.kind, part, actions)
    return routes
