"""Smoke detector: `event` or `telemetry`.

Canonical payload: `{"smoke": true, "obscuration_db_m": 0.21, "battery_pct": 80, "tamper": false}`; an optional
`"sensor_fault": true` reports a failed sensing chamber (sensor trouble, a fault) until `false` clears it.
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

KIND = DeviceKind.SMOKE


class SmokeReading(PayloadModel):
    """A smoke detector's report; `smoke` is the detector's own alarm decision."""

    smoke: bool = Field(description="True while the detector is in alarm.")
    obscuration_db_m: float | None = Field(
        default=None,
        ge=0,
        le=100,
        description="Measured obscuration, dB/m (GB 4715 threshold is 0.05 and up).",
    )
    battery_pct: float | None = Field(default=None, ge=0, le=100, description="Battery level, percent.")
    tamper: bool | None = Field(default=None, description="True while the detector is off its base or opened.")
    sensor_fault: bool | None = Field(
        default=None, description="True while the detector reports its sensing chamber faulty (dirty, failed)."
    )
    ts: Timestamp | None = Field(default=None, description="When the device measured it, ISO 8601 with offset.")


def parse(device_id: str, channel: Channel, data: dict[str, Any], received_at: datetime) -> DeviceEvent:
    """A decoded payload on `channel` -> an event, or PayloadError."""
    if channel not in (Channel.EVENT, Channel.TELEMETRY):
        raise PayloadError(DeadLetterReason.UNSUPPORTED_CHANNEL, f"a smoke detector does not publish on {channel!r}")
    msg = validate(SmokeReading, data)
    return DeviceEvent(
        device_id=device_id,
        kind=KIND,
        channel=channel,
        occurred_at=msg.ts or received_at,
        data=msg.model_dump(mode="json", exclude_none=True),
        smoke=msg.smoke,
    )
