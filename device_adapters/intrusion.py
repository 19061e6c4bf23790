"""Intrusion detector (入侵报警: PIR, microwave, glass-break) at a key location: `event` when it trips or restores,
`telemetry` for supervision.

Canonical event: `{"alarm": true}`; supervision `{"tamper": false, "battery_pct": 90}`. Whether a trip is an alarm
depends on the arming of the detector's zone, which the hub decides (alerts.arming), never the detector.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from device_adapters.base import (
    Channel,
    DeadLetterReason,
    DetectorReading,
    DeviceEvent,
    DeviceExtras,
    DeviceKind,
    PayloadError,
    validate,
)

KIND = DeviceKind.INTRUSION


class IntrusionEvent(DeviceExtras):
    """A detector's trip (`alarm` true) or restore (false)."""

    alarm: bool = Field(description="True when the detector tripped; false when it restored.")


class IntrusionSupervision(DetectorReading):
    """The periodic supervision message: proof of life, tamper, battery, and the detector's state if it sends it."""


def parse(device_id: str, channel: Channel, data: dict[str, Any], received_at: datetime) -> DeviceEvent:
    """A decoded payload on `channel` -> an event, or PayloadError."""
    if channel is Channel.EVENT:
        event = validate(IntrusionEvent, data)
        ts, dumped = event.ts, event.model_dump(mode="json", exclude_none=True)
    elif channel is Channel.TELEMETRY:
        supervision = validate(IntrusionSupervision, data)
        ts, dumped = supervision.ts, supervision.model_dump(mode="json", exclude_none=True)
    else:
        raise PayloadError(
            DeadLetterReason.UNSUPPORTED_CHANNEL, f"an intrusion detector does not publish on {channel!r}"
        )
    return DeviceEvent(device_id=device_id, kind=KIND, channel=channel, occurred_at=ts or received_at, data=dumped)
