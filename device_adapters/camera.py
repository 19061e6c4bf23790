"""Camera: only the shared `status` channel so far; picture health arrives with the video work."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from device_adapters.base import Channel, DeadLetterReason, DeviceEvent, DeviceKind, PayloadError

KIND = DeviceKind.CAMERA


def parse(device_id: str, channel: Channel, data: dict[str, Any], received_at: datetime) -> DeviceEvent:
    """Cameras publish nothing on `event` or `telemetry` in the canonical format yet."""
    raise PayloadError(DeadLetterReason.UNSUPPORTED_CHANNEL, f"a camera does not publish on {channel!r}")
