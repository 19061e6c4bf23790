"""Carbon monoxide detector (一氧化碳) in a dormitory, canteen or boiler room: `telemetry` or `event`.

Canonical payload: `{"ppm": 12}`; `alarm` is the detector's own alarm output where it has one, `sensor_fault`,
`tamper` and `battery_pct` as other kinds. The hub compares `ppm` with the device's low and high levels.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from device_adapters.base import Channel, DetectorReading, DeviceEvent, DeviceKind, reading_event

KIND = DeviceKind.CO


class CoReading(DetectorReading):
    """One reading of a CO detector."""

    ppm: float = Field(ge=0, le=10_000, description="CO concentration, parts per million (0-10000).")


def parse(device_id: str, channel: Channel, data: dict[str, Any], received_at: datetime) -> DeviceEvent:
    """A decoded payload on `channel` -> an event, or PayloadError."""
    return reading_event(KIND, CoReading, "a CO detector", device_id, channel, data, received_at)
