"""The `forwarding:` section: the receiving endpoints alarms go to (110, the fire control room; signed JSON over HTTP,
or SIA DC-09 frames), which alarm kinds each takes, how their paths are tested, and how hard the hub tries."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationInfo, field_validator, model_validator

from alerts.dc09_codes import DEFAULT_CODES
from alerts.model import AlarmKind
from hub.config.base import ENV_PREFIX, IdStr, StrictModel, require_unique


class HttpEndpoint(StrictModel):
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
    test_signal: bool = Field(
        default=False,
        description="Send presses on test as a test signal (event test, with test: true) instead of nothing. Off "
        "by default: a receiver built for alarms alone must not take a test for an alarm.",
    )
    link_test_s: float = Field(
        default=0,
        ge=0,
        le=3600,
        description="Interval of link tests between alarms (a signed event link_test POST to url, or a GET of "
        "health_url), seconds; 0: off. A failing link test moves the path towards down like a failed alarm.",
    )
    health_url: AnyHttpUrl | None = Field(
        default=None,
        description="URL the link test GETs (any 2xx: the path is up) instead of POSTing event link_test to url.",
    )
    alarm_kinds: list[AlarmKind] | None = Field(
        default=None,
        description="Alarm kinds this endpoint takes (panic, fire, heat, ...). Absent: every kind. The rules send the "
        "one-button alarm (panic) to 110, and fire to 119, the fire control room or the school's duty endpoint.",
    )

    @field_validator("alarm_kinds")
    @classmethod
    def _kinds_once(cls, kinds: list[AlarmKind] | None) -> list[AlarmKind] | None:
        return _unique_kinds(kinds)

    @field_validator("link_test_s")
    @classmethod
    def _link_test_interval(cls, value: float) -> float:
        if 0 < value < 1:
            raise ValueError("link_test_s must be 0 (off) or at least 1 second")
        return value


_ACCOUNT_RE = r"^[0-9A-Fa-f]{3,16}$"
_RL_RE = r"^[0-9A-Fa-f]{1,6}$"
_SIA_CODE_RE = r"^[A-Z]{2}$"
_KEY_LENGTHS = {"ascii": (16, 24, 32), "hex": (32, 48, 64)}


class Dc09Code(StrictModel):
    """The codes one event kind is sent with, replacing the default row."""

    cid: int = Field(ge=100, le=999, description="Contact ID event code, three digits (restores use qualifier 3).")
    sia: str = Field(pattern=_SIA_CODE_RE, description="SIA event code, two capital letters (e.g. TA).")
    sia_restore: str = Field(pattern=_SIA_CODE_RE, description="SIA code of the event's restore (e.g. TR).")


class Dc09Endpoint(StrictModel):
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
    test_signal: bool = Field(
        default=True,
        description="Send presses on test as the centre's test code (Contact ID 601 / SIA RX on the device's "
        "zone) instead of nothing.",
    )
    alarm_kinds: list[AlarmKind] | None = Field(
        default=None,
        description="Alarm kinds this endpoint takes (panic, fire, heat, ...). Absent: every kind. The rules send the "
        "one-button alarm (panic) to 110, and fire to 119, the fire control room or the school's duty endpoint.",
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

    @field_validator("alarm_kinds")
    @classmethod
    def _kinds_once(cls, kinds: list[AlarmKind] | None) -> list[AlarmKind] | None:
        return _unique_kinds(kinds)

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


def _unique_kinds(kinds: list[AlarmKind] | None) -> list[AlarmKind] | None:
    if kinds is not None:
        require_unique([k.value for k in kinds], "alarm kind")
    return kinds


def takes(endpoint: HttpEndpoint | Dc09Endpoint, kind: AlarmKind) -> bool:
    """Whether alarms of `kind` go to this endpoint (`alarm_kinds` absent: every kind)."""
    return endpoint.alarm_kinds is None or kind in endpoint.alarm_kinds


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


Endpoint = Annotated[HttpEndpoint | Dc09Endpoint, Field(discriminator="kind")]


class ForwardingConfig(StrictModel):
    """Where alarms go and how hard the hub tries."""

    endpoints: list[Endpoint] = Field(default_factory=list, description="Receiving endpoints, in failover order.")
    mode: Literal["all", "first"] = Field(
        default="all",
        description="all: every alarm goes to every endpoint that takes its kind. first: to the first of those that "
        "ACKs, in order, with failover.",
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
        require_unique([e.name for e in endpoints], "endpoint name")
        return endpoints

    @model_validator(mode="after")
    def _retry_order(self) -> ForwardingConfig:
        if self.retry_max_s < self.retry_base_s:
            raise ValueError("retry_max_s must not be less than retry_base_s")
        return self

    @model_validator(mode="after")
    def _every_kind_taken(self) -> ForwardingConfig:
        # An alarm kind no endpoint takes would be raised here and reach nobody: refused, not warned. Without any
        # endpoint the hub runs stand-alone, which warnings() already says.
        missing = [k.value for k in AlarmKind if self.endpoints and not self.endpoints_for(k)]
        if missing:
            raise ValueError(
                f"no endpoint takes alarm kind {', '.join(missing)}: add it to some endpoint's alarm_kinds "
                "(panic to 110; fire and heat to the fire control room or the school's duty endpoint)"
            )
        return self

    def endpoints_for(self, kind: AlarmKind) -> list[str]:
        """Names of the endpoints that take alarms of `kind`, in the configured (failover) order."""
        return [e.name for e in self.endpoints if takes(e, kind)]

    def test_endpoints_for(self, kind: AlarmKind) -> list[str]:
        """Names of the endpoints that take alarms of `kind` and a test signal for a press on test."""
        return [e.name for e in self.endpoints if takes(e, kind) and e.test_signal]


# Kinds the rules send to the fire service (119, the fire control room), not to the police: fire, and the warnings
# of fire and of leaks (the fire and rescue service answers gas leaks too).
FIRE_SERVICE_KINDS = frozenset({AlarmKind.FIRE, AlarmKind.HEAT, AlarmKind.ELECTRICAL_FIRE, AlarmKind.GAS, AlarmKind.CO})


def police_named(name: str) -> bool:
    """Whether an endpoint's name says it is the police 110 centre (the hub cannot know otherwise)."""
    return "110" in name or "police" in name.lower()


def kind_warnings(index: int, endpoint: HttpEndpoint | Dc09Endpoint) -> list[str]:
    """`HubConfig.warnings` about the alarm kinds of the endpoint at `forwarding.endpoints[index]`."""
    if not police_named(endpoint.name):
        return []
    sent = sorted(k.value for k in FIRE_SERVICE_KINDS if takes(endpoint, k))
    if not sent:
        return []
    how = "alarm_kinds lists them" if endpoint.alarm_kinds is not None else "alarm_kinds is absent: every kind"
    return [
        f"forwarding.endpoints[{index}] ({endpoint.name!r}) looks like the police 110 centre and takes "
        f"{', '.join(sent)} ({how}); the rules send fire to 119, the fire control room or the school's duty "
        "endpoint: set its alarm_kinds, e.g. [panic]"
    ]


def dc09_warnings(index: int, endpoint: Dc09Endpoint, devices: int) -> list[str]:
    """`HubConfig.warnings` for one DC-09 endpoint at `forwarding.endpoints[index]`, given the registry's size."""
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
