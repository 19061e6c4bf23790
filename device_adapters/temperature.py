"""Temperature sensor: `telemetry` (or `event`), `{"celsius": 23.4}`."""

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

KIND = DeviceKind.TEMPERATURE


class TemperatureReading(PayloadModel):
    """One temperature reading. The range is the widest any indoor sensor reports, not an alarm limit."""

    celsius: float = Field(ge=-60, le=400, description="Measured temperature, degrees Celsius.")
    battery_pct: float | None = Field(default=None, ge=0, le=100, description="Battery level, percent.")
    sensor_fault: bool | None = Field(
        default=None, description="True while the sensor reports its probe faulty (open, shorted, out of range)."
    )
    ts: Timestamp | None = Field(default=None, description="When the device measured it, ISO 8601 with offset.")


def parse(device_id: str, channel: Channel, data: dict[str, Any], received_at: datetime) -> DeviceEvent:
    """A decoded payload on `channel` -> an event, or PayloadError."""
    if channel not in (Channel.TELEMETRY, Channel.EVENT):
        raise PayloadError(
            DeadLetterReason.UNSUPPORTED_CHANNEL, f"a temperature sensor does not publish on {channel!r}"
        )
    msg = validate(TemperatureReading, data)
    return DeviceEvent(
        device_id=device_id,
        kind=KIND,
        channel=channel,
        occurred_at=msg.ts or received_at,
        data=msg.model_dump(mode="json", exclude_none=True),
        celsius=msg.celsius,
    )
