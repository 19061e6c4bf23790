"""The hub's configuration as pydantic models: every section and field, its limits, and the cross-field rules.

Every model forbids unknown keys and documents every field. Secrets are `SecretStr`; they may come from
the YAML file, from `CAMPUS_HUB__SECTION__KEY` environment variables, or from a file named by
`CAMPUS_HUB__SECTION__KEY_FILE` (the Docker/systemd credentials convention). Reading a file, the environment
overlay and errors that name key and line are in `hub.config.loader`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from alerts.dc09_codes import DEFAULT_CODES
from alerts.model import AlarmKind
from device_adapters import DeviceFormat
from device_adapters.base import DeviceKind
from device_adapters.routing import vendor_topic_map

ENV_PREFIX = "CAMPUS_HUB__"
MIN_RETENTION_DAYS = 90
MAX_RECOVERY_HOURS = 24.0

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# Topic levels must not hold MQTT wildcards or separators; ids are also used in URLs.
IdStr = Annotated[str, Field(pattern=_ID, description="Identifier: letters, digits, '_', '.', '-'; at most 64.")]


class Role(StrEnum):
    """API token roles."""

    GUARD = "guard"
    MAINTENANCE = "maintenance"
    BUREAU = "bureau"
    ADMIN = "admin"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteConfig(_Model):
    """The campus this hub serves; sent with every alarm."""

    id: IdStr = Field(description="Site identifier, used in MQTT topics and reports.")
    name: str = Field(min_length=1, description="School name as the 110 centre should read it.")
    address: str = Field(min_length=1, description="Street address as the 110 centre should read it.")


class TlsConfig(_Model):
    """TLS to the MQTT broker."""

    ca_file: Path | None = Field(default=None, description="CA certificate (PEM) that signed the broker's certificate.")
    cert_file: Path | None = Field(default=None, description="Client certificate (PEM), for brokers that require one.")
    key_file: Path | None = Field(default=None, description="Private key (PEM) of the client certificate.")

    @model_validator(mode="after")
    def _pair_and_exist(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        for name in ("ca_file", "cert_file", "key_file"):
            value = getattr(self, name)
            if value is not None and not value.is_file():
                raise ValueError(f"{name}: no such file: {value}")
        return self


def _require_username(username: str | None, password: SecretStr | None) -> None:
    """A password alone authenticates nobody: refuse it rather than connect anonymously."""
    if password is not None and not username:
        raise ValueError("password given without username")


class MqttConfig(_Model):
    """The broker the devices publish to."""

    host: str = Field(default="127.0.0.1", min_length=1, description="Broker host name or address.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker port (8883 is usual with TLS).")
    topic_prefix: str = Field(
        default="campus",
        pattern=r"^[^#+/]+(/[^#+/]+)*$",
        description="First topic level(s): topics are {topic_prefix}/{site.id}/{kind}/{device_id}/{channel}.",
    )
    username: str | None = Field(default=None, description="Broker user name; none for an open broker.")
    password: SecretStr | None = Field(default=None, description="Broker password (prefer CAMPUS_HUB__MQTT__PASSWORD).")
    tls: TlsConfig | None = Field(default=None, description="TLS settings; omit for plain TCP.")
    client_id: str | None = Field(
        default=None,
        description="Fixed MQTT client id of the persistent session; default campus-hub-{site.id}.",
    )
    keepalive_s: int = Field(default=30, ge=5, le=600, description="MQTT keep-alive interval, seconds.")
    session_expiry_s: int = Field(
        default=7 * 24 * 3600,
        ge=60,
        description="How long the broker keeps the hub's session and queued messages while the hub is away, seconds.",
    )
    receive_maximum: int = Field(
        default=1000,
        ge=1,
        le=65535,
        description="How many unacknowledged QoS 1 messages the broker may send at once.",
    )
    max_payload_bytes: int = Field(
        default=4096, ge=64, le=1_048_576, description="Larger payloads are dead-lettered unread."
    )
    reconnect_min_s: float = Field(default=0.5, gt=0, description="First reconnect delay, seconds.")
    reconnect_max_s: float = Field(default=30.0, gt=0, description="Longest reconnect delay, seconds.")

    @model_validator(mode="after")
    def _credentials(self) -> MqttConfig:
        _require_username(self.username, self.password)
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must not be less than reconnect_min_s")
        return self


class StorageConfig(_Model):
    """The embedded store."""

    path: Path = Field(default=Path("campus-hub.db"), description="SQLite file; relative to the config file's folder.")


class RetentionConfig(_Model):
    """How long the hub keeps what it collects."""

    days: int = Field(
        default=MIN_RETENTION_DAYS,
        description="Days video/image information and telemetry are kept; the rules require at least 90.",
    )
    records_days: int = Field(default=365, description="Days alarms, faults and the audit log are kept; at least 90.")
    purge_interval_s: float = Field(
        default=3600, ge=10, le=86400, description="How often records past their retention are purged, seconds."
    )
    purge_batch: int = Field(
        default=500, ge=1, le=10000, description="Rows deleted per short transaction, so ingest never waits long."
    )

    @field_validator("days", "records_days")
    @classmethod
    def _at_least_90(cls, value: int, info: ValidationInfo) -> int:
        if value < MIN_RETENTION_DAYS:
            what = "video and image information" if info.field_name == "days" else "alarm records and the audit log"
            raise ValueError(
                f"retention.{info.field_name} must be at least {MIN_RETENTION_DAYS}: the rules require {what} "
                f"to be kept no less than {MIN_RETENTION_DAYS} days"
            )
        return value


class EscalationWebhook(_Model):
    """An HTTP endpoint that also receives each SLA escalation (the same JSON as the MQTT escalation)."""

    url: AnyHttpUrl = Field(description="URL the escalation JSON is POSTed to.")
    secret: SecretStr | None = Field(
        default=None,
        description="Shared secret for X-Hub-Signature-256 (HMAC-SHA256 of the body). Without it: unsigned.",
    )
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="Per-request timeout, seconds.")


class SlaConfig(_Model):
    """The recovery rule for failures of the technical security system."""

    recovery_hours: float = Field(
        default=MAX_RECOVERY_HOURS,
        gt=0,
        le=MAX_RECOVERY_HOURS,
        description="Hours within which a failure must be restored; the rules allow at most 24.",
    )
    warn_at: list[float] = Field(
        default_factory=lambda: [0.5, 0.8],
        description="Fractions of the recovery time at which an open fault raises a warning.",
    )
    flap_window_s: float = Field(
        default=600,
        ge=0,
        le=86400,
        description="A fault that recurs within this many seconds of recovering continues, with its original deadline.",
    )
    escalation_webhook: EscalationWebhook | None = Field(
        default=None, description="Optional HTTP endpoint that receives every SLA escalation too."
    )

    @field_validator("warn_at")
    @classmethod
    def _fractions(cls, values: list[float]) -> list[float]:
        if any(not 0 < v < 1 for v in values):
            raise ValueError("each warn_at fraction must be between 0 and 1 (the deadline itself is the breach)")
        return sorted(set(values))


class HealthConfig(_Model):
    """How device health is judged."""

    low_battery_pct: float = Field(
        default=20, ge=0, le=100, description="Battery below this percentage is a low-battery trouble."
    )
    battery_clear_pct: float = Field(
        default=25,
        ge=0,
        le=100,
        description="Low battery clears only at or above this, so a level near it cannot flap.",
    )
    check_interval_s: float = Field(
        default=1.0, gt=0, le=60, description="How often silent devices and fault deadlines are checked, seconds."
    )

    @model_validator(mode="after")
    def _hysteresis(self) -> HealthConfig:
        if self.battery_clear_pct < self.low_battery_pct:
            raise ValueError("battery_clear_pct must not be below low_battery_pct")
        return self


class ReportsConfig(_Model):
    """Uptime reports for the education bureau."""

    exclude_maintenance: bool = Field(
        default=True,
        description="Leave downtime inside planned maintenance windows out of uptime (breaches always count).",
    )


class RecordingsConfig(_Model):
    """How far back each camera's recordings reach (the 90-day video retention rule)."""

    root: Path | None = Field(
        default=None,
        description="Recordings folder laid out root/<camera_id>/YYYY-MM-DD/...; relative to the config file. "
        "Without it the cameras' health reports are used.",
    )
    check_interval_s: float = Field(
        default=3600, ge=1, le=86400, description="How often each camera's retention is checked, seconds."
    )
    forecast_horizon_days: int = Field(
        default=14, ge=0, le=365, description="Warn when the forecast falls short of retention within this many days."
    )


class HttpEndpoint(_Model):
    """A 110-style receiving endpoint that takes alarms as signed JSON over HTTP(S)."""

    name: IdStr = Field(description="Endpoint name, shown on each alarm's delivery record.")
    kind: Literal["http"] = Field(description="Transport: http.")
    url: AnyHttpUrl = Field(description="URL the alarm JSON is POSTed to.")
    secret: SecretStr | None = Field(
        default=None,
        description="Shared secret for X-Hub-Signature-256 (HMAC-SHA256 of the body). Without it alarms go unsigned.",
    )
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="Per-request timeout, seconds.")
    troubles: bool = Field(
        default=False,
        description="Also POST device troubles (event trouble / trouble_restore). Off by default: a 110 receiver "
        "built for alarms alone must not take a trouble for an alarm.",
    )


_ACCOUNT_RE = r"^[0-9A-Fa-f]{3,16}$"
_RL_RE = r"^[0-9A-Fa-f]{1,6}$"
_SIA_CODE_RE = r"^[A-Z]{2}$"
_KEY_LENGTHS = {"ascii": (16, 24, 32), "hex": (32, 48, 64)}


class Dc09Code(_Model):
    """The codes one event kind is sent with, replacing the default row."""

    cid: int = Field(ge=100, le=999, description="Contact ID event code, three digits (restores use qualifier 3).")
    sia: str = Field(pattern=_SIA_CODE_RE, description="SIA event code, two capital letters (e.g. TA).")
    sia_restore: str = Field(pattern=_SIA_CODE_RE, description="SIA code of the event's restore (e.g. TR).")


class Dc09Endpoint(_Model):
    """An alarm receiving centre that takes SIA DC-09 frames (ANSI/SIA DC-09 IP event reporting) over TCP or UDP."""

    name: IdStr = Field(description="Endpoint name, shown on each alarm's delivery record.")
    kind: Literal["dc09"] = Field(description="Transport: dc09.")
    host: str = Field(min_length=1, description="Receiver host name or address.")
    port: int = Field(ge=1, le=65535, description="Receiver port (DC-09 has no standard port; the centre assigns it).")
    account: str = Field(
        pattern=_ACCOUNT_RE,
        description="Account number the centre knows this site by (the # field): 3-16 hex digits.",
    )
    receiver: str = Field(default="0", pattern=_RL_RE, description="Receiver number (the R field): 1-6 hex digits.")
    line: str = Field(default="0", pattern=_RL_RE, description="Account prefix / line (the L field): 1-6 hex digits.")
    format: Literal["sia-dcs", "adm-cid"] = Field(
        default="sia-dcs",
        description="sia-dcs: SIA event codes (PA, FA, KA). adm-cid: Contact ID events (120, 111, 158).",
    )
    key_encoding: Literal["ascii", "hex"] = Field(
        default="ascii",
        description="How key is written: ascii (its characters' bytes are the key, as pysiaalarm reads it) or hex.",
    )
    key: SecretStr | None = Field(
        default=None,
        description="AES key: 16, 24 or 32 ASCII characters, or 32, 48 or 64 hex digits with key_encoding hex. "
        "Without it frames go unencrypted.",
    )
    troubles: bool = Field(
        default=True, description="Also send device troubles and their restores (tamper, low battery, offline...)."
    )
    codes: dict[str, Dc09Code] = Field(
        default_factory=dict,
        description="Per-kind overrides of the default event codes (alarm kinds, trouble kinds, fire_trouble).",
    )
    link_test_s: float = Field(
        default=60, ge=5, le=3600, description="Interval of NULL link-test (supervision) frames, seconds."
    )
    test_report_s: float = Field(
        default=86400, ge=60, le=7 * 86400, description="Interval of periodic test reports (CID 602 / SIA RP), seconds."
    )
    protocol: Literal["tcp", "udp"] = Field(default="tcp", description="tcp or udp.")
    timeout_s: float = Field(
        default=5.0, gt=0, le=60, description="Wait for the receiver's answer to a frame, seconds."
    )

    @field_validator("account", "receiver", "line")
    @classmethod
    def _upper(cls, value: str) -> str:
        # Receivers look accounts up as written; pysiaalarm, for one, upper-cases its own and matches exactly.
        return value.upper()

    @field_validator("key")
    @classmethod
    def _key_length(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        encoding = info.data.get("key_encoding")
        if value is None or encoding is None:  # no key, or key_encoding is itself wrong (and reported)
            return value
        text, lengths = value.get_secret_value(), _KEY_LENGTHS[encoding]
        if encoding == "ascii" and (not text.isascii() or len(text) not in lengths):
            raise ValueError("key must be 16, 24 or 32 ASCII characters (AES-128, AES-192 or AES-256)")
        if encoding == "hex" and (len(text) not in lengths or not _is_hex(text)):
            raise ValueError(
                f"key must be 32, 48 or 64 hex digits with key_encoding hex (AES-128, AES-192 or AES-256); "
                f"it has {len(text)} characters" + ("" if _is_hex(text) else ", not all of them hex digits")
            )
        return value

    @field_validator("codes")
    @classmethod
    def _known_kinds(cls, codes: dict[str, Dc09Code]) -> dict[str, Dc09Code]:
        unknown = sorted(set(codes) - set(DEFAULT_CODES))
        if unknown:
            raise ValueError(f"no such event kind: {', '.join(unknown)} (known: {', '.join(sorted(DEFAULT_CODES))})")
        return codes

    def key_bytes(self) -> bytes | None:
        """The AES key as bytes, decoded as `key_encoding` says; None without a key."""
        if self.key is None:
            return None
        text = self.key.get_secret_value()
        return bytes.fromhex(text) if self.key_encoding == "hex" else text.encode("ascii")


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


Endpoint = Annotated[HttpEndpoint | Dc09Endpoint, Field(discriminator="kind")]


class ForwardingConfig(_Model):
    """Where alarms go and how hard the hub tries."""

    endpoints: list[Endpoint] = Field(default_factory=list, description="Receiving endpoints, in failover order.")
    mode: Literal["all", "first"] = Field(
        default="all",
        description="all: every alarm goes to every endpoint. first: to the first that ACKs, in order, with failover.",
    )
    failover_after_failures: int = Field(
        default=2, ge=1, le=100, description="first mode: bring in the next endpoint after this many failed attempts."
    )
    failover_after_s: float = Field(
        default=2.0,
        gt=0,
        le=300,
        description="first mode: bring in the next endpoint when an alarm is undelivered after this long, seconds.",
    )
    path_fault_after_s: float = Field(
        default=300,
        ge=0,
        le=86400,
        description="A path down this long opens a fault on the path itself (it is part of the security system).",
    )
    path_down_after_failures: int = Field(
        default=3, ge=1, le=1000, description="A path is down after this many failures in a row (degraded before)."
    )
    retry_base_s: float = Field(default=0.5, gt=0, description="First retry delay, seconds; doubles each attempt.")
    retry_max_s: float = Field(default=30.0, gt=0, description="Longest retry delay, seconds.")
    concurrency: int = Field(default=4, ge=1, le=64, description="Alarms in flight at once per endpoint.")
    send_troubles: bool = Field(
        default=True,
        description="Send device troubles (faults the hub opens by itself) to endpoints whose troubles is on.",
    )

    @field_validator("endpoints")
    @classmethod
    def _unique_names(cls, endpoints: list[HttpEndpoint | Dc09Endpoint]) -> list[HttpEndpoint | Dc09Endpoint]:
        _require_unique([e.name for e in endpoints], "endpoint name")
        return endpoints

    @model_validator(mode="after")
    def _retry_order(self) -> ForwardingConfig:
        if self.retry_max_s < self.retry_base_s:
            raise ValueError("retry_max_s must not be less than retry_base_s")
        return self


class ApiToken(_Model):
    """A bearer token and the role it grants."""

    name: IdStr = Field(description="Who holds the token; recorded in the audit log.")
    role: Role = Field(description="guard, maintenance, bureau or admin.")
    token: SecretStr = Field(description="The token (prefer CAMPUS_HUB__API__TOKENS__<name>__TOKEN).")

    @field_validator("token")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 8:
            raise ValueError("token is shorter than 8 characters")
        return value


class ApiConfig(_Model):
    """The HTTP API and console."""

    host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    port: int = Field(default=8080, ge=0, le=65535, description="Port the API listens on; 0 picks a free one.")
    tokens: list[ApiToken] = Field(default_factory=list, description="Bearer tokens; none means no API access.")
    secure_cookies: bool = Field(
        default=False,
        description="Mark console session cookies Secure (only sent over https); on when a TLS proxy fronts the hub.",
    )

    @field_validator("tokens")
    @classmethod
    def _unique(cls, tokens: list[ApiToken]) -> list[ApiToken]:
        _require_unique([t.name for t in tokens], "token name")
        _require_unique([t.token.get_secret_value() for t in tokens], "token value", show=False)
        return tokens


class IncidentDutiesConfig(_Model):
    """Follow-up reports a serious incident obliges the school to make; local rules differ, so they are set here."""

    phone_report_minutes: float = Field(
        default=30, gt=0, le=24 * 60, description="Minutes after the alarm by which the phone report is due."
    )
    written_report_minutes: float = Field(
        default=60, gt=0, le=7 * 24 * 60, description="Minutes after the alarm by which the written report is due."
    )
    kinds: list[AlarmKind] = Field(
        default_factory=lambda: [AlarmKind.PANIC, AlarmKind.FIRE, AlarmKind.HEAT],
        description="Alarm kinds that carry the duties.",
    )


class AlarmRulesConfig(_Model):
    """Site-wide defaults of the alarm rules; devices may override the heat limits."""

    heat_threshold_c: float = Field(
        default=57.0,
        ge=30,
        le=150,
        description="Heat alarm at or above this temperature (57 is inside class A1's 54-65 static response).",
    )
    heat_rate_c_per_min: float = Field(
        default=10.0, gt=0, le=100, description="Heat alarm when the temperature rises at least this fast."
    )
    heat_rate_window_s: float = Field(
        default=60.0, ge=10, le=600, description="Window over which the rate of rise is measured, seconds."
    )
    heat_rate_min_span_s: float = Field(
        default=15.0,
        ge=1,
        description="Shortest span a rate of rise is computed over, so sensor noise between close readings is ignored.",
    )

    @model_validator(mode="after")
    def _span_in_window(self) -> AlarmRulesConfig:
        if self.heat_rate_min_span_s > self.heat_rate_window_s:
            raise ValueError("heat_rate_min_span_s must not exceed heat_rate_window_s")
        return self


class Location(_Model):
    """Where a device is, as a guard would walk to it."""

    building: str = Field(min_length=1, description="Building name or number.")
    floor: str = Field(description="Floor, as written on the building's plans.")
    room: str = Field(description="Room name or number.")

    @field_validator("floor", "room", mode="before")
    @classmethod
    def _numbers_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class HttpSnapshotSource(_Model):
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
        _require_username(self.username, self.password)
        return self


class StreamSource(_Model):
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
        _require_username(self.username, self.password)
        return self


class FileSource(_Model):
    """A still image or video file that another program keeps current (or a test picture)."""

    kind: Literal["file"] = Field(description="Source type: file.")
    path: Path = Field(description="Image or video file; absolute, or relative to the hub's working folder.")
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="Hard limit for the whole grab, seconds.")


CameraSource = Annotated[HttpSnapshotSource | StreamSource | FileSource, Field(discriminator="kind")]


class VideoConfig(_Model):
    """Camera checks (picture diagnosis) and alarm evidence snapshots."""

    check_interval_s: float = Field(
        default=300, ge=1, le=86400, description="Each camera with a source is checked this often, seconds."
    )
    concurrency: int = Field(default=2, ge=1, le=32, description="Camera checks running at once (worker threads).")
    fail_after_checks: int = Field(
        default=3, ge=1, le=100, description="A camera_check fault opens after this many failing checks in a row."
    )
    snapshot_dir: Path | None = Field(
        default=None,
        description="Folder of reference frames, latest snapshots and evidence; default: 'snapshots' next to the "
        "SQLite file. Relative to the config file's folder.",
    )
    evidence_budget_s: float = Field(
        default=2.0, gt=0, le=30, description="Time allowed to grab evidence snapshots when an alarm opens, seconds."
    )


class DeviceConfig(_Model):
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


class InfluxConfig(_Model):
    """Telemetry to InfluxDB 2.x (or anything that speaks its write API); SQLite stays the store of record."""

    enabled: bool = Field(default=False, description="Write telemetry points to InfluxDB; off by default.")
    url: AnyHttpUrl = Field(
        default=AnyHttpUrl("http://127.0.0.1:8086"), description="Base URL of the InfluxDB (or VictoriaMetrics) server."
    )
    org: str = Field(default="campus", min_length=1, description="InfluxDB organisation name.")
    bucket: str = Field(default="campus-hub", min_length=1, description="Bucket the points go to.")
    token: SecretStr | None = Field(
        default=None, description="API token with write access (prefer CAMPUS_HUB__INFLUX__TOKEN); none for VM."
    )
    batch_size: int = Field(default=500, ge=1, le=50_000, description="Points per write request, at most.")
    flush_interval_s: float = Field(
        default=1.0, gt=0, le=60, description="A partial batch is written after this many seconds."
    )
    spill_max_rows: int = Field(
        default=200_000,
        ge=100,
        le=50_000_000,
        description="Points kept in SQLite while the server is unreachable; past it the oldest are dropped.",
    )
    timeout_s: float = Field(default=5.0, gt=0, le=120, description="Timeout of one write request, seconds.")
    retry_max_s: float = Field(
        default=30.0, gt=0, le=3600, description="Longest wait between attempts while the server fails, seconds."
    )


class HomeAssistantConfig(_Model):
    """Home Assistant MQTT discovery for the hub's alarm and device-state entities."""

    enabled: bool = Field(default=False, description="Publish retained MQTT discovery configs; off by default.")
    discovery_prefix: str = Field(
        default="homeassistant",
        pattern=r"^[^#+/]+(/[^#+/]+)*$",
        description="Home Assistant's MQTT discovery prefix.",
    )


class HubConfig(_Model):
    """The whole configuration file."""

    site: SiteConfig = Field(description="The campus.")
    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="The MQTT broker.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="The embedded SQLite store.")
    retention: RetentionConfig = Field(default_factory=RetentionConfig, description="Retention policy.")
    sla: SlaConfig = Field(default_factory=SlaConfig, description="Recovery-time rule.")
    health: HealthConfig = Field(default_factory=HealthConfig, description="Device health judgement.")
    reports: ReportsConfig = Field(default_factory=ReportsConfig, description="Uptime reports for the bureau.")
    recordings: RecordingsConfig = Field(
        default_factory=RecordingsConfig, description="Camera recording retention checks."
    )
    forwarding: ForwardingConfig = Field(default_factory=ForwardingConfig, description="Alarm forwarding to 110.")
    api: ApiConfig = Field(default_factory=ApiConfig, description="HTTP API and console.")
    alarms: AlarmRulesConfig = Field(default_factory=AlarmRulesConfig, description="Alarm rule defaults.")
    incidents: IncidentDutiesConfig = Field(
        default_factory=IncidentDutiesConfig, description="Report duties after a serious incident."
    )
    influx: InfluxConfig = Field(default_factory=InfluxConfig, description="Telemetry to InfluxDB (off by default).")
    homeassistant: HomeAssistantConfig = Field(
        default_factory=HomeAssistantConfig, description="Home Assistant MQTT discovery (off by default)."
    )
    video: VideoConfig = Field(default_factory=VideoConfig, description="Camera checks and alarm evidence.")
    devices: list[DeviceConfig] = Field(default_factory=list, description="The device registry.")

    @field_validator("devices")
    @classmethod
    def _registry(cls, devices: list[DeviceConfig]) -> list[DeviceConfig]:
        problems = registry_problems(devices)
        if problems:
            text = "; ".join(f"devices{key_text(path)}: {message}" for path, message in problems)
            raise PydanticCustomError(REGISTRY_ERROR, "{problems}", {"problems": text})
        return devices

    def device(self, device_id: str) -> DeviceConfig | None:
        """The registry entry of a device id, if any."""
        return self.device_index().get(device_id)

    def device_index(self) -> dict[str, DeviceConfig]:
        """Registry by device id."""
        return {d.id: d for d in self.devices}

    def zones(self) -> dict[str, int]:
        """Each device's zone at DC-09 centres: its `zone`, else its 1-based place in the registry."""
        return {d.id: d.zone if d.zone is not None else n for n, d in enumerate(self.devices, start=1)}

    def warnings(self) -> list[str]:
        """Valid but risky settings, printed by check-config and logged at start-up."""
        out: list[str] = []
        for index, endpoint in enumerate(self.forwarding.endpoints):
            if isinstance(endpoint, Dc09Endpoint):
                out += _dc09_warnings(index, endpoint, len(self.devices))
                continue
            if endpoint.secret is None:
                out.append(
                    f"forwarding.endpoints[{index}].secret is not set: alarms to {endpoint.name!r} go unsigned "
                    f"(set {ENV_PREFIX}FORWARDING__ENDPOINTS__{endpoint.name}__SECRET)"
                )
            if endpoint.url.scheme == "http" and endpoint.url.host not in ("127.0.0.1", "localhost", "::1"):
                out.append(f"forwarding.endpoints[{index}].url is plain http to a remote host; prefer https")
        unnumbered = [d.id for d in self.devices if d.zone is None]
        if unnumbered and any(isinstance(e, Dc09Endpoint) for e in self.forwarding.endpoints):
            out.append(
                f"devices without zone ({len(unnumbered)}, e.g. {unnumbered[0]!r}) are numbered by their place in "
                "devices for DC-09 centres: inserting, removing or reordering devices renumbers their zones; set zone"
            )
        if not self.forwarding.endpoints:
            out.append("forwarding.endpoints is empty: alarms are raised and latched here but reach no 110 centre")
        if not self.api.tokens:
            out.append("api.tokens is empty: every API request except /healthz is refused")
        if self.mqtt.username and self.mqtt.tls is None and self.mqtt.host not in ("127.0.0.1", "localhost", "::1"):
            out.append("mqtt.password travels in clear text to a remote broker; configure mqtt.tls")
        return out


def _dc09_warnings(index: int, endpoint: Dc09Endpoint, devices: int) -> list[str]:
    out: list[str] = []
    if endpoint.key is None:
        out.append(
            f"forwarding.endpoints[{index}].key is not set: DC-09 frames to {endpoint.name!r} go unencrypted "
            f"(set {ENV_PREFIX}FORWARDING__ENDPOINTS__{endpoint.name}__KEY)"
        )
    if endpoint.format == "adm-cid" and devices > 999:
        out.append(
            f"forwarding.endpoints[{index}]: Contact ID zones stop at 999; alarms of devices past the 999th "
            f"go to {endpoint.name!r} as zone 000"
        )
    return out


REGISTRY_ERROR = "device_registry"

Path_ = tuple[str | int, ...]
"""A key's place in the document: names and list indexes."""


def key_text(path: Path_) -> str:
    """`devices[2].location.room` for ("devices", 2, "location", "room")."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def registry_problems(devices: Sequence[Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """Duplicate device ids, camera links that name no camera and shared vendor topics, each with its path.

    Takes validated `DeviceConfig`s or the raw YAML items alike, so `parse_config` can report these (each at its
    own line) even when other devices have errors that keep pydantic from running the registry check.
    """

    def get(item: Any, key: str) -> Any:
        return item.get(key) if isinstance(item, Mapping) else getattr(item, key, None)

    problems: list[tuple[tuple[str | int, ...], str]] = []
    first: dict[str, int] = {}
    kinds: dict[str, str] = {}
    for index, device in enumerate(devices):
        device_id, kind = get(device, "id"), get(device, "kind")
        if not isinstance(device_id, str):
            continue
        if device_id in first:
            problems.append(
                ((index, "id"), f"duplicate device id: {device_id!r} (first at devices[{first[device_id]}])")
            )
            continue
        first[device_id] = index
        kinds[device_id] = str(kind)
    for index, device in enumerate(devices):
        cameras = get(device, "cameras")
        if not isinstance(cameras, list):
            continue
        for position, camera in enumerate(cameras):
            if not isinstance(camera, str) or kinds.get(camera) == DeviceKind.CAMERA.value:
                continue
            what = "is not in devices" if camera not in kinds else f"is a {kinds[camera]}, not a camera"
            problems.append(((index, "cameras", position), f"{camera!r} {what}"))
    # Vendor topics are routed by exact match, so two devices may not share one (nor a name that is another's
    # `<base>/availability`).
    claimed: dict[str, int] = {}
    for index, device in enumerate(devices):
        source = get(device, "source_topic")
        if not isinstance(source, str):
            continue
        for vendor_topic, _ in vendor_topic_map(str(get(device, "format")), str(get(device, "kind")), source):
            if vendor_topic in claimed:
                problems.append(
                    ((index, "source_topic"), f"topic {vendor_topic!r} is already devices[{claimed[vendor_topic]}]'s")
                )
                break
            claimed[vendor_topic] = index
    problems += _zone_problems([get(device, "zone") for device in devices])
    return problems


def _zone_problems(zones: Sequence[Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """Explicit zones that repeat one another or another device's default (its 1-based place in the list)."""
    implicit = {index + 1: index for index, zone in enumerate(zones) if zone is None}
    explicit: dict[int, int] = {}
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for index, zone in enumerate(zones):
        if not isinstance(zone, int) or isinstance(zone, bool):
            continue  # absent, or not a number (reported by pydantic)
        if zone in explicit:
            problems.append(((index, "zone"), f"duplicate zone {zone} (first at devices[{explicit[zone]}])"))
        elif zone in implicit:
            other = implicit[zone]
            problems.append(
                (
                    (index, "zone"),
                    f"zone {zone} is already devices[{other}]'s (its place in the list): choose another zone "
                    f"or give devices[{other}] a zone of its own",
                )
            )
        else:
            explicit[zone] = index
    return problems


def _require_unique(values: list[str], what: str, *, show: bool = True) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what}" + (f": {value!r}" if show else ""))
        seen.add(value)


_SECRET_RE = re.compile(r"(://[^:/@]*:)[^@/]*@")


def redact_url(url: str) -> str:
    """A URL fit for logs: any password in it is replaced."""
    return _SECRET_RE.sub(r"\1***@", url)
