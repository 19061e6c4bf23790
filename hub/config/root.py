"""`HubConfig`, the whole configuration file: every section, the registry check, and the warnings about valid but
risky settings."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from device_adapters.base import LIFE_SAFETY_KINDS
from hub.config.alarms import AlarmRulesConfig, IncidentDutiesConfig
from hub.config.api import ApiConfig
from hub.config.base import ENV_PREFIX, StrictModel, key_text
from hub.config.devices import DeviceConfig
from hub.config.flooding import FloodingConfig
from hub.config.forwarding import Dc09Endpoint, ForwardingConfig, dc09_warnings, kind_warnings
from hub.config.health import HealthConfig, ReportsConfig, SlaConfig
from hub.config.integrations import HomeAssistantConfig, InfluxConfig
from hub.config.mqtt import MqttConfig
from hub.config.registry import REGISTRY_ERROR, registry_problems
from hub.config.site import SiteConfig
from hub.config.storage import RetentionConfig, StorageConfig
from hub.config.supervision import SupervisionConfig
from hub.config.testmode import TestModeConfig
from hub.config.video import RecordingsConfig, VideoConfig
from hub.config.zones import ZoneConfig, check_zones

MISSED = (
    3  # heartbeats missed before a device is offline (hub.health.model.MISSED_HEARTBEATS; config imports no health)
)
# A dead panic button or smoke detector unnoticed for longer than this is a risk worth a warning.
SILENCE_NOTICE_S = 300


class HubConfig(StrictModel):
    """The whole configuration file."""

    site: SiteConfig = Field(description="The campus.")
    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="The MQTT broker.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="The embedded SQLite store.")
    retention: RetentionConfig = Field(default_factory=RetentionConfig, description="Retention policy.")
    sla: SlaConfig = Field(default_factory=SlaConfig, description="Recovery-time rule.")
    health: HealthConfig = Field(default_factory=HealthConfig, description="Device health judgement.")
    flooding: FloodingConfig = Field(
        default_factory=FloodingConfig, description="Devices sending far more messages than their heartbeat implies."
    )
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
    supervision: SupervisionConfig = Field(
        default_factory=SupervisionConfig, description="Restarting the alarm path's workers, or exiting."
    )
    arming_zones: list[ZoneConfig] = Field(
        default_factory=list,
        description="Arming zones of intrusion detectors and door contacts, with their schedules (before devices).",
    )
    test_mode: TestModeConfig = Field(
        default_factory=TestModeConfig, description="Bounds of test mode and drills (presses not sent to 110)."
    )
    devices: list[DeviceConfig] = Field(default_factory=list, description="The device registry.")

    @field_validator("arming_zones")
    @classmethod
    def _unique_zones(cls, zones: list[ZoneConfig]) -> list[ZoneConfig]:
        return check_zones(zones)

    @field_validator("devices")
    @classmethod
    def _registry(cls, devices: list[DeviceConfig], info: ValidationInfo) -> list[DeviceConfig]:
        zones = info.data.get("arming_zones")
        # Zones that failed validation are reported on their own; a device naming one is not reported again.
        zone_ids = {z.id for z in zones} if zones is not None else None
        problems = registry_problems(devices, zone_ids)
        if problems:
            text = "; ".join(f"devices{key_text(path)}: {message}" for path, message in problems)
            raise PydanticCustomError(REGISTRY_ERROR, "{problems}", {"problems": text})
        return devices

    def arming_zone(self, zone_id: str) -> ZoneConfig | None:
        """The arming zone of an id, if any."""
        return next((z for z in self.arming_zones if z.id == zone_id), None)

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
            out += kind_warnings(index, endpoint)
            if isinstance(endpoint, Dc09Endpoint):
                out += dc09_warnings(index, endpoint, len(self.devices))
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
        slow = [d for d in self.devices if d.kind in LIFE_SAFETY_KINDS and MISSED * d.heartbeat_s > SILENCE_NOTICE_S]
        if slow:
            first = slow[0]
            out.append(
                f"{len(slow)} life-safety device(s) (e.g. {first.id!r}, heartbeat_s {first.heartbeat_s}) are noticed "
                f"offline only after {MISSED} x heartbeat_s, more than {SILENCE_NOTICE_S // 60} minutes: a dead "
                "button or smoke detector goes unseen that long; lower their heartbeat_s"
            )
        if not self.forwarding.endpoints:
            out.append("forwarding.endpoints is empty: alarms are raised and latched here but reach no 110 centre")
        if not self.api.tokens:
            out.append("api.tokens is empty: every API request except /healthz is refused")
        if self.mqtt.username and self.mqtt.tls is None and self.mqtt.host not in ("127.0.0.1", "localhost", "::1"):
            out.append("mqtt.password travels in clear text to a remote broker; configure mqtt.tls")
        return out
