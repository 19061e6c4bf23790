"""MQTT topic layout: `{prefix}/{site}/{kind}/{device_id}/{channel}`; the hub's own under `hub/`.

Vendor devices (Zigbee2MQTT, Tasmota) publish on their vendor's topics instead (which ones, `device_adapters.routing`
knows): `vendor_topics` lists a device's exact topics (what ingest subscribes to and the broker ACL grants) and
`vendor_routes` maps each of them back to its device. Routing is by exact topic, never by prefix, because a Z2M
friendly name may itself contain `/` (`zigbee2mqtt/Block A/Floor 2/SOS`): with exact keys no name can shadow another,
and the one overlap that could exist (a device named like another's `.../availability` topic) is refused as a
registry error.

Lanes: life-safety kinds (`LIFE_SAFETY_KINDS`) travel on the alarm lane's session, every other kind on the
telemetry lane's. `lane_filters` gives each lane its subscriptions, per device kind (never the old
`{prefix}/{site}/+/+/+`, which would deliver a press on both) plus each vendor device's exact topics on its kind's lane.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from paho.mqtt.client import topic_matches_sub

from device_adapters import VendorTopic
from device_adapters.base import LIFE_SAFETY_KINDS, Channel, DeadLetterReason, DeviceKind, PayloadError
from device_adapters.routing import vendor_topic_map as vendor_topic_map  # its home; re-exported for old callers
from device_adapters.zigbee2mqtt import DEFAULT_PRESS_ACTIONS
from hub.config import DeviceConfig

log = logging.getLogger(__name__)


class Lane(StrEnum):
    """Which of the hub's two MQTT sessions (and ingest queues) a message travels on."""

    ALARM = "alarm"  # panic buttons and smoke detectors: committed ahead of everything else
    TELEMETRY = "telemetry"  # every other kind (heat alarms from temperature readings included)


def lane_of(kind: DeviceKind) -> Lane:
    return Lane.ALARM if kind in LIFE_SAFETY_KINDS else Lane.TELEMETRY


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

    def kind_filter(self, kind: DeviceKind) -> str:
        return f"{self.base}/{kind.value}/+/+"

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


def lane_filters(topics: Topics, devices: Iterable[DeviceConfig]) -> dict[Lane, list[str]]:
    """Each lane's subscriptions: its kinds' canonical filters, then its vendor devices' exact topics (sorted).

    A vendor topic that a canonical filter of the other lane also matches (a source_topic inside the hub's own
    tree) is left to that filter, with a warning: subscribing it on both sessions would deliver it twice.
    """
    filters: dict[Lane, list[str]] = {lane: [] for lane in Lane}
    for kind in DeviceKind:
        filters[lane_of(kind)].append(topics.kind_filter(kind))
    vendor: dict[Lane, list[str]] = {lane: [] for lane in Lane}
    for device in devices:
        lane = lane_of(device.kind)
        other = Lane.TELEMETRY if lane is Lane.ALARM else Lane.ALARM
        for topic in vendor_topics(device):
            if any(topic_matches_sub(f, topic) for f in filters[other]):
                log.warning(
                    "MQTT: %s of %s lies under the %s lane's device topics; it travels there", topic, device.id, other
                )
                continue
            vendor[lane].append(topic)
    return {lane: filters[lane] + sorted(vendor[lane]) for lane in Lane}
