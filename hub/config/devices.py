"""The `devices:` section, one entry: what a device is, where it is, how it publishes, and a camera's picture
source."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator

from device_adapters import DeviceFormat
from device_adapters.base import DeviceKind
from hub.config.base import IdStr, StrictModel, require_username


class Location(StrictModel):
    """Where a device is, as a guard would walk to it."""

    building: str = Field(min_length=1, description="Building name or number.")
    floor: str = Field(description="Floor, as written on the building's plans.")
    room: str = Field(description="Room name or number.")

    @field_validator("floor", "room", mode="before")
    @classmethod
    def _numbers_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class HttpSnapshotSource(StrictModel):
    """A camera's HTTP(S) snapshot URL (what ONVIF GetSnapshotUri returns): one JPEG per request."""

    kind: Literal["http_snapshot"] = Field(description="Source type: http_snapshot.")
    url: AnyHttpUrl = Field(description="Snapshot URL; credentials in it are never logged.")
    username: str | None = Field(default=None, min_length=1, description="User name, if not in the URL.")
    password: SecretStr | None = Field(default=None, description="Password (prefer the environment).")
    auth: Literal["basic", "digest"] = Field(
        default="basic", description="HTTP authentication with username/password: basic or digest."
    )
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="Hard limit for the whole grab, seconds.")
    max_bytes: int = Field(
        default=8_000_000, ge=1024, le=64_000_000, description="Larger answers are refused unread past this, bytes."
    )

    @model_validator(mode="after")
    def _credentials(self) -> HttpSnapshotSource:
        require_username(self.username, self.password)
        return self


class StreamSource(StrictModel):
    """A camera stream read with OpenCV (RTSP or MJPEG over HTTP); prefer the substream, a few frames suffice."""

    kind: Literal["stream"] = Field(description="Source type: stream.")
    url: str = Field(
        pattern=r"^(rtsps?|https?)://[^\s]+$", description="rtsp://, rtsps:// or http(s):// stream URL (substream)."
    )
    username: str | None = Field(default=None, min_length=1, description="User name, if not in the URL.")
    password: SecretStr | None = Field(default=None, description="Password (prefer the environment).")
    frames: int = Field(default=3, ge=1, le=50, description="Frames read per check; the last one is diagnosed.")
    timeout_s: float = Field(default=10.0, gt=0, le=120, description="Hard limit for the whole grab, seconds.")

    @model_validator(mode="after")
    def _credentials(self) -> StreamSource:
        require_username(self.username, self.password)
        return self


class FileSource(StrictModel):
    """A still image or video file that another program keeps current (or a test picture)."""

    kind: Literal["file"] = Field(description="Source type: file.")
    path: Path = Field(description="Image or video file; absolute, or relative to the hub's working folder.")
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="Hard limit for the whole grab, seconds.")


CameraSource = Annotated[HttpSnapshotSource | StreamSource | FileSource, Field(discriminator="kind")]


class DeviceConfig(StrictModel):
    """One device of the registry."""

    id: IdStr = Field(description="Device id; also the topic level after the kind.")
    kind: DeviceKind = Field(description="panic_button, smoke, temperature or camera.")
    name: str = Field(min_length=1, description="Name a guard recognises.")
    location: Location = Field(description="Building, floor and room.")
    heartbeat_s: int = Field(
        default=60, ge=5, le=86400, description="Expected interval between messages; offline after 3 missed."
    )
    cameras: list[str] = Field(default_factory=list, description="Ids of cameras that see this device's area.")
    zone: int | None = Field(
        default=None,
        ge=1,
        le=999,
        description="Zone number DC-09 centres know the device by (1-999, unique); default its place in devices.",
    )
    heat_threshold_c: float | None = Field(
        default=None,
        ge=30,
        le=150,
        description="Temperature sensors only: overrides alarms.heat_threshold_c.",
    )
    heat_rate_c_per_min: float | None = Field(
        default=None,
        gt=0,
        le=100,
        description="Temperature sensors only: overrides alarms.heat_rate_c_per_min.",
    )
    source: CameraSource | None = Field(
        default=None, description="Cameras only: where the hub grabs a frame for checks and alarm evidence."
    )
    format: DeviceFormat = Field(
        default=DeviceFormat.CANONICAL,
        description="How the device publishes: canonical (the hub's own topics and payloads), zigbee2mqtt or tasmota.",
    )
    source_topic: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="zigbee2mqtt: the device's full base topic (zigbee2mqtt/<friendly_name>); tasmota: its <topic>.",
    )
    press_actions: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None,
        min_length=1,
        description="Zigbee2MQTT panic buttons only: `action` values that count as a press "
        "(default single, double, triple, hold, long, emergency, sos).",
    )

    @model_validator(mode="after")
    def _source_only_for_cameras(self) -> DeviceConfig:
        if self.source is not None and self.kind is not DeviceKind.CAMERA:
            raise ValueError(f"source applies to cameras only, not {self.kind}")
        return self

    @model_validator(mode="after")
    def _heat_only_for_temperature(self) -> DeviceConfig:
        if self.kind is not DeviceKind.TEMPERATURE:
            for name in ("heat_threshold_c", "heat_rate_c_per_min"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} applies to temperature devices only, not {self.kind}")
        return self

    @model_validator(mode="after")
    def _vendor_format(self) -> DeviceConfig:
        if self.format is DeviceFormat.CANONICAL:
            if self.source_topic is not None:
                raise ValueError("source_topic applies to zigbee2mqtt and tasmota devices only (format is canonical)")
        elif self.kind is DeviceKind.CAMERA:
            raise ValueError(f"format {self.format} is not available for cameras")
        elif self.source_topic is None:
            raise ValueError(f"source_topic is required when format is {self.format}")
        else:
            problem = _source_topic_problem(self.format, self.source_topic)
            if problem:
                raise ValueError(f"source_topic {self.source_topic!r}: {problem}")
        if self.press_actions is not None and (
            self.format is not DeviceFormat.ZIGBEE2MQTT or self.kind is not DeviceKind.PANIC_BUTTON
        ):
            raise ValueError("press_actions applies to zigbee2mqtt panic buttons only")
        return self


def _source_topic_problem(format_: DeviceFormat, topic: str) -> str | None:
    if any(ch in topic for ch in "+#\x00"):
        return "a topic may not contain '+', '#' or NUL"
    if format_ is DeviceFormat.TASMOTA and "/" in topic:
        return "a Tasmota topic is one level (the hub listens on tele/<topic>/SENSOR with the default FullTopic)"
    if topic.startswith("/") or topic.endswith("/") or "//" in topic:
        return "a topic may not start or end with '/' or have an empty level"
    return None
