"""Door or gate contact (门磁) for key locations and closed-campus management: `event` when it opens or closes,
`telemetry` for its periodic state.

Canonical payload (both channels): `{"open": true}`, with `tamper` and `battery_pct` as other kinds. An open door
in an armed zone is an intrusion alarm, and an open door in its shut hours shows on the guard's screen; both are
the hub's decisions (alerts.arming), not the contact's.
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

KIND = DeviceKind.DOOR


class DoorState(PayloadModel):
    """A contact's state: open or closed."""

    open: bool = Field(description="True while the door or gate is open.")
    tamper: bool | None = Field(default=None, description="True while the contact's cover is open or it is moved.")
    battery_pct: float | None = Field(default=None, ge=0, le=100, description="Battery level, percent.")
    ts: Timestamp | None = Field(default=None, description="When the contact changed, ISO 8601 with offset.")


def parse(device_id: str, channel: Channel, data: dict[str, Any], received_at: datetime) -> DeviceEvent:
    """A decoded payload on `channel` -> an event, or PayloadError."""
    if channel not in (Channel.EVENT, Channel.TELEMETRY):
        raise PayloadError(DeadLetterReason.UNSUPPORTED_CHANNEL, f"a door contact does not publish on {channel!r}")
    msg = validate(DoorState, data)
    return DeviceEvent(
        device_id=device_id,
        kind=KIND,
        channel=channel,
        occurred_at=msg.ts or received_at,
        data=msg.model_dump(mode="json", exclude_none=True),
    )
