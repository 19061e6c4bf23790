"""Camera: picture and recording health on `health` (the hub's own checks, a recorder's or the camera's own).

The payload is the same whoever checked: `labels` from the picture diagnosis (`healthy` when nothing is wrong),
its `metrics`, and a recorder's storage figures, kept in the event's `data` as validated for the retention
work to read. `event` and `telemetry` carry nothing for a camera.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

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
from video.labels import Label

KIND = DeviceKind.CAMERA
HEALTHY = Label.HEALTHY.value


# A relative path on the hub's own API: no scheme, no host, no `//`, no backslash, no spaces.
HUB_PATH = re.compile(r"/api/(?:[A-Za-z0-9._~%-]+/)*[A-Za-z0-9._~%-]+(?:\?[A-Za-z0-9._~%=&-]*)?")


class CameraHealth(PayloadModel):
    """One health check of one camera, published on `{prefix}/{site}/camera/{id}/health`."""

    ts: Timestamp | None = Field(default=None, description="When the check ran, ISO 8601 with offset.")
    labels: list[Label] = Field(
        min_length=1, max_length=len(Label), description="Diagnosis labels; ['healthy'] when nothing is wrong."
    )
    metrics: dict[str, float] = Field(
        default_factory=dict, max_length=64, description="Diagnosis figures by name (brightness, sharpness, ...)."
    )
    source: Literal["hub", "recorder", "camera"] | None = Field(default=None, description="Who ran the check.")
    snapshot: str | None = Field(default=None, max_length=1024, description="Relative URL of the checked frame.")
    oldest_recording: Timestamp | None = Field(default=None, description="Recorder: oldest footage it still holds.")
    storage_used_gb: float | None = Field(default=None, ge=0, description="Recorder: storage in use, GB.")
    storage_free_gb: float | None = Field(default=None, ge=0, description="Recorder: storage free, GB.")
    write_rate_mbps: float | None = Field(default=None, ge=0, description="Recorder: recording write rate, Mbit/s.")

    @field_validator("snapshot")
    @classmethod
    def _hub_path(cls, value: str | None) -> str | None:
        # The maintenance page loads this as an image: anything but a path on the hub itself (an outside address, a
        # scheme, a protocol-relative `//host`) would make the console fetch what a device chose.
        if value is not None and not HUB_PATH.fullmatch(value):
            raise ValueError("snapshot must be a path on the hub (/api/...), not an address elsewhere")
        return value

    @field_validator("labels")
    @classmethod
    def _distinct(cls, labels: list[Label]) -> list[Label]:
        if len(set(labels)) != len(labels):
            raise ValueError("labels repeat")
        if Label.HEALTHY in labels and len(labels) > 1:
            raise ValueError("'healthy' cannot come with other labels")
        return labels


def is_healthy(labels: object) -> bool:
    """Whether a stored health payload's labels say the picture is fine."""
    return isinstance(labels, list) and labels == [HEALTHY]


def parse(device_id: str, channel: Channel, data: dict[str, Any], received_at: datetime) -> DeviceEvent:
    """A decoded payload on `channel` -> a health event, or PayloadError (an unknown label is invalid_payload)."""
    if channel is not Channel.HEALTH:
        raise PayloadError(DeadLetterReason.UNSUPPORTED_CHANNEL, f"a camera does not publish on {channel!r}")
    health = validate(CameraHealth, data)
    return DeviceEvent(
        device_id=device_id,
        kind=KIND,
        channel=channel,
        occurred_at=health.ts or received_at,
        data=health.model_dump(mode="json", exclude_none=True),
    )
