"""Combustible gas detector (可燃气体探测器, GB 15322) in a canteen kitchen or boiler room: `telemetry` or `event`.

Canonical payload: `{"lel_pct": 3.0}`, the concentration as a percentage of the lower explosive limit; `alarm` is
the detector's own alarm output where it has one (a Zigbee detector that sends only that), `sensor_fault`,
`tamper` and `battery_pct` as other kinds. The hub compares `lel_pct` with the device's low and high levels.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from device_adapters.base import Channel, DetectorReading, DeviceEvent, DeviceKind, reading_event

KIND = DeviceKind.GAS


class GasReading(DetectorReading):
    """One reading of a combustible gas detector."""

    lel_pct: float = Field(ge=0, le=100, description="Concentration, % of the lower explosive limit (0-100 %LEL).")


def parse(device_id: str, channel: Channel, data: dict[str, Any], received_at: datetime) -> DeviceEvent:
    """A decoded payload on `channel` -> an event, or PayloadError."""
    return reading_event(KIND, GasReading, "a gas detector", device_id, channel, data, received_at)
