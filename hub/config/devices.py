"""The `devices:` section, one entry: what a device is, where it is, how it publishes, and a camera's picture
source."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator

from device_adapters import DeviceFormat
from device_adapters.base import DeviceKind
from hub.config.base import IdStr, StrictModel, require_username
from hub.config.zones import Period

# GB 14287.3: a temperature-type electrical fire detector's alarm setting lies within 55-140 °C.
TemperatureSetting = Annotated[float, Field(ge=55, le=140)]
PrealarmSetting = Annotated[float, Field(ge=20, le=140)]
TemperatureSettings = Annotated[list[TemperatureSetting], Field(min_length=1, max_length=8)]
PrealarmSettings = Annotated[list[PrealarmSetting], Field(min_length=1, max_length=8)]
ELECTRICAL_FIRE_LEVELS = ("residual_alarm_ma", "residual_prealarm_ma", "temperature_alarm_c", "temperature_prealarm_c")
GAS_LEVELS = ("gas_low_lel_pct", "gas_high_lel_pct")
CO_LEVELS = ("co_low_ppm", "co_high_ppm")


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
    kind: DeviceKind = Field(
        description="panic_button, smoke, temperature, camera, electrical_fire, gas, co, intrusion or door."
    )
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
    residual_alarm_ma: float | None = Field(
        default=None,
        ge=20,
        le=1000,
        description="Electrical fire units only: residual current alarm level, mA (default 300). GB 14287.2: the "
        "alarm value of a residual-current detector is settable within 20-1000 mA; GB 50116-2013 §9.2 advises "
        "300-500 mA.",
    )
    residual_prealarm_ma: float | None = Field(
        default=None,
        ge=10,
        le=1000,
        description="Electrical fire units only: pre-alarm level below residual_alarm_ma, mA (default 80 % of it): "
        "a trouble to maintenance and a warning to the guard, never an alarm to 110.",
    )
    temperature_alarm_c: TemperatureSettings | None = Field(
        default=None,
        description="Electrical fire units only: cable temperature alarm level, °C, one for every channel or a list "
        "with one per channel (default 70, the rated conductor temperature of PVC cable). GB 14287.3: settable "
        "within 55-140 °C.",
    )
    temperature_prealarm_c: PrealarmSettings | None = Field(
        default=None,
        description="Electrical fire units only: cable temperature pre-alarm level, °C, below the alarm level of "
        "its channel; one value or one per channel (default 10 °C below each alarm level).",
    )
    gas_low_lel_pct: float | None = Field(
        default=None,
        ge=1,
        le=25,
        description="Gas detectors only: low level, %LEL (default 10): a pre-alarm. GB 15322.1: the low alarm "
        "setting lies within 1-25 %LEL.",
    )
    gas_high_lel_pct: float | None = Field(
        default=None,
        gt=1,
        le=50,
        description="Gas detectors only: high level, %LEL (default 25): an alarm to the fire control room. "
        "GB 15322.1: the high alarm setting is not above 50 %LEL.",
    )
    co_low_ppm: float | None = Field(
        default=None,
        ge=25,
        le=100,
        description="CO detectors only: low level, ppm (default 50): a pre-alarm. 50 ppm is the first alarm "
        "point of household CO alarms (EN 50291-1, GB/T 34004).",
    )
    co_high_ppm: float | None = Field(
        default=None,
        ge=150,
        le=300,
        description="CO detectors only: high level, ppm (default 150): an alarm. Household CO alarm standards "
        "(EN 50291-1, GB/T 34004) alarm within minutes at 150-300 ppm.",
    )
    arming_zone: IdStr | None = Field(
        default=None,
        description="Intrusion detectors and door contacts only: the id of their zone in `arming_zones:` "
        "(布防 / 撤防). Without one, an intrusion detector is always armed and a door contact never (a gate "
        "watched only for its must_be_shut hours).",
    )
    must_be_shut: list[Period] = Field(
        default_factory=list,
        description="Door contacts only: when the door or gate must be shut (closed campus), site-local time; "
        "open in these hours, it shows on the guard's screen.",
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

    @field_validator("temperature_alarm_c", "temperature_prealarm_c", mode="before")
    @classmethod
    def _one_for_every_channel(cls, value: Any) -> Any:
        # One number serves every channel; kept as a one-item list so there is one shape to check and to read.
        return [value] if isinstance(value, int | float) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _levels_for_their_kinds(self) -> DeviceConfig:
        owners = (
            (ELECTRICAL_FIRE_LEVELS, {DeviceKind.ELECTRICAL_FIRE}),
            (GAS_LEVELS, {DeviceKind.GAS}),
            (CO_LEVELS, {DeviceKind.CO}),
            (("arming_zone",), {DeviceKind.INTRUSION, DeviceKind.DOOR}),
        )
        for names, kinds in owners:
            for name in names:
                if getattr(self, name) is not None and self.kind not in kinds:
                    raise ValueError(f"{name} applies to {' and '.join(sorted(kinds))} devices only, not {self.kind}")
        if self.must_be_shut and self.kind is not DeviceKind.DOOR:
            raise ValueError(f"must_be_shut applies to door devices only, not {self.kind}")
        return self

    @model_validator(mode="after")
    def _prealarm_below_alarm(self) -> DeviceConfig:
        if self.kind is DeviceKind.ELECTRICAL_FIRE:
            alarm = self.residual_alarm_ma if self.residual_alarm_ma is not None else DEFAULT_RESIDUAL_ALARM_MA
            if self.residual_prealarm_ma is not None and self.residual_prealarm_ma >= alarm:
                raise ValueError(f"residual_prealarm_ma must be below residual_alarm_ma ({alarm:g} mA)")
            alarms, prealarms = temperature_levels(self.temperature_alarm_c, self.temperature_prealarm_c)
            for channel, (high, low) in enumerate(zip(alarms, prealarms, strict=True)):
                if low >= high:
                    raise ValueError(
                        f"temperature_prealarm_c of channel {channel + 1} ({low:g} °C) must be below its "
                        f"temperature_alarm_c ({high:g} °C)"
                    )
        if self.kind is DeviceKind.GAS:
            low = self.gas_low_lel_pct if self.gas_low_lel_pct is not None else DEFAULT_GAS_LOW_LEL_PCT
            high = self.gas_high_lel_pct if self.gas_high_lel_pct is not None else DEFAULT_GAS_HIGH_LEL_PCT
            if low >= high:
                raise ValueError(f"gas_low_lel_pct ({low:g}) must be below gas_high_lel_pct ({high:g})")
        return self

    @model_validator(mode="after")
    def _vendor_format(self) -> DeviceConfig:
        if self.format is DeviceFormat.CANONICAL:
            if self.source_topic is not None:
                raise ValueError("source_topic applies to zigbee2mqtt and tasmota devices only (format is canonical)")
        elif self.kind is DeviceKind.CAMERA:
            raise ValueError(f"format {self.format} is not available for cameras")
        elif self.format is DeviceFormat.TASMOTA and self.kind not in TASMOTA_KINDS:
            raise ValueError(f"format tasmota is available for {', '.join(sorted(TASMOTA_KINDS))} only")
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


# Tasmota has no standard payload for gas, CO, intrusion, door or electrical fire devices (a Switch input's ON means
# open or closed by wiring alone), so they come canonical or through Zigbee2MQTT.
TASMOTA_KINDS = frozenset({DeviceKind.PANIC_BUTTON, DeviceKind.SMOKE, DeviceKind.TEMPERATURE})

DEFAULT_RESIDUAL_ALARM_MA = 300.0  # GB 50116-2013 §9.2: 300-500 mA
DEFAULT_RESIDUAL_PREALARM_FRACTION = 0.8
DEFAULT_TEMPERATURE_ALARM_C = 70.0  # rated conductor temperature of PVC-insulated cable
DEFAULT_TEMPERATURE_PREALARM_MARGIN_C = 10.0
DEFAULT_GAS_LOW_LEL_PCT = 10.0
DEFAULT_GAS_HIGH_LEL_PCT = 25.0
DEFAULT_CO_LOW_PPM = 50.0
DEFAULT_CO_HIGH_PPM = 150.0
MAX_TEMPERATURE_CHANNELS = 8


def temperature_levels(alarm: list[float] | None, prealarm: list[float] | None) -> tuple[list[float], list[float]]:
    """Alarm and pre-alarm levels per channel (up to 8); the last of a short list serves the channels after it."""
    alarms = alarm or [DEFAULT_TEMPERATURE_ALARM_C]
    prealarms = prealarm or [a - DEFAULT_TEMPERATURE_PREALARM_MARGIN_C for a in alarms]
    width = max(len(alarms), len(prealarms))
    return _widen(alarms, width), _widen(prealarms, width)


def _widen(values: list[float], width: int) -> list[float]:
    return values + [values[-1]] * (width - len(values)) if values else values


def _source_topic_problem(format_: DeviceFormat, topic: str) -> str | None:
    if any(ch in topic for ch in "+#\x00"):
        return "a topic may not contain '+', '#' or NUL"
    if format_ is DeviceFormat.TASMOTA and "/" in topic:
        return "a Tasmota topic is one level (the hub listens on tele/<topic>/SENSOR with the default FullTopic)"
    if topic.startswith("/") or topic.endswith("/") or "//" in topic:
        return "a topic may not start or end with '/' or have an empty level"
    return None
