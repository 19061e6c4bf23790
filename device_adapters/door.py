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

from device_adapters.base import Channel, DeviceEvent, DeviceExtras, DeviceKind, reading_event

KIND = DeviceKind.DOOR


class DoorState(DeviceExtras):
    """A contact's state: open or closed."""

    open: bool = Field(description="True while the door or gate is open.")


def parse(device_id: str, channel: Channel, data: dict[str, Any], received_at: datetime) -> DeviceEvent:
    """A decoded payload on `channel` -> an event, or PayloadError."""
    return reading_event(KIND, DoorState, "a door contact", device_id, channel, data, received_at)
