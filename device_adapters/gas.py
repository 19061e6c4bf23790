"""Combustible gas detector (可燃气体探测器, GB 15322) in a canteen kitchen or boiler room: `telemetry` or `event`.

Canonical payload: `{"lel_pct": 3.0}`, the concentration as a percentage of the lower explosive limit; `alarm` is
the detector's own alarm output where it has one (a Zigbee detector that sends only that), `sensor_fault`,
`tamper` and `battery_pct` as other kinds. The hub compares `lel_pct` with the device's low and high levels.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from device_adapters.base import (
    Channel,
    DeadLetterReason,
    DeviceEvent,
    DeviceKind,
    PayloadError,
    PayloadModel,
    Timestamp,
    validate,
)

KIND = DeviceKind.GAS


class GasReading(PayloadModel):
    """One reading of a combustible gas detector."""

    lel_pct: float = Field(ge=0, le=100, description="Concentration, % of the lower explosive limit (0-100 %LEL).")
    alarm: bool | None = Field(default=None, description="The detector's own alarm output, where it sends one.")
    sensor_fault: bool | None = Field(default=None, description="True while the detector reports its sensor failed.")
    tamper: bool | None = Field(default=None, description="True while the detector is opened or off its mount.")
    battery_pct: float | None = Field(default=None, ge=0, le=100, description="Battery level, percent.")
    ts: Timestamp | None = Field(default=None, description="When the detector measured it, ISO 8601 with offset.")


def parse(device_id: str, channel: Channel, data: dict[str, Any], received_at: datetime) -> DeviceEvent:
    """A decoded payload on `channel` -> an event, or PayloadError."""
    if channel not in (Channel.TELEMETRY, Channel.EVENT):
        raise PayloadError(DeadLetterReason.UNSUPPORTED_CHANNEL, f"a gas detector does not publish on {channel!r}")
    msg = validate(GasReading, data)
    return DeviceEvent(
        device_id=device_id,
        kind=KIND,
        channel=channel,
        occurred_at=msg.ts or received_at,
        data=msg.model_dump(mode="json", exclude_none=True),
    )
