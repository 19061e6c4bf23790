"""One-button emergency alarm (一键报警).

Presses arrive on `event` (`{"pressed": true, "seq": 17}`); wireless supervision (battery, tamper) on `telemetry`.
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

KIND = DeviceKind.PANIC_BUTTON


class PanicButtonEvent(PayloadModel):
    """A button press (or release). `seq` lets the hub tell a redelivered press from a new one."""

    pressed: bool = Field(description="True when the button was pressed; false for a release or reset report.")
    seq: int | None = Field(default=None, ge=0, le=2**53, description="The device's own press counter.")
    ts: Timestamp | None = Field(default=None, description="When the device saw it, ISO 8601 with offset.")
    battery_pct: float | None = Field(default=None, ge=0, le=100, description="Battery level, percent.")
    tamper: bool | None = Field(default=None, description="True while the enclosure is open.")


class PanicButtonSupervision(PayloadModel):
    """The periodic supervision message of a wireless button: proof of life, battery and tamper."""

    battery_pct: float | None = Field(default=None, ge=0, le=100, description="Battery level, percent.")
    tamper: bool | None = Field(default=None, description="True while the enclosure is open.")
    sensor_fault: bool | None = Field(
        default=None, description="True while the button reports a failed self-test (contact or radio)."
    )
    ts: Timestamp | None = Field(default=None, description="When the device sent it, ISO 8601 with offset.")


def parse(device_id: str, channel: Channel, data: dict[str, Any], received_at: datetime) -> DeviceEvent:
    """A decoded payload on `channel` -> an event, or PayloadError."""
    if channel is Channel.TELEMETRY:
        supervision = validate(PanicButtonSupervision, data)
        return DeviceEvent(
            device_id=device_id,
            kind=KIND,
            channel=channel,
            occurred_at=supervision.ts or received_at,
            data=supervision.model_dump(mode="json", exclude_none=True),
        )
    if channel is not Channel.EVENT:
        raise PayloadError(DeadLetterReason.UNSUPPORTED_CHANNEL, f"a panic button does not publish on {channel!r}")
    msg = validate(PanicButtonEvent, data)
    return DeviceEvent(
        device_id=device_id,
        kind=KIND,
        channel=channel,
        occurred_at=msg.ts or received_at,
        data=msg.model_dump(mode="json", exclude_none=True),
        pressed=msg.pressed,
        seq=msg.seq,
    )
