"""Which exact MQTT topics a vendor-format device (Zigbee2MQTT, Tasmota) publishes on, and what each carries.

Plain values in, so the configuration's registry check can run it on raw YAML items, and the hub's topic routing
(`hub.mqtt.topics`) on validated devices: both ask here, and neither needs the other.
"""

from __future__ import annotations

from device_adapters import DeviceFormat, TasmotaTopic, VendorTopic, Z2MTopic
from device_adapters.base import DeviceKind


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
