"""The hub's configuration as pydantic models: every section and field, its limits, and the cross-field rules.

One module per section, as the YAML file reads: `site`, `mqtt` (with TLS), `storage` (storage and retention),
`health` (health, sla, reports), `video` (video, recordings), `forwarding` (HTTP and DC-09 endpoints), `api`
(tokens and roles), `alarms` (alarm rules and incident duties), `devices` (an entry, its location and camera
source), `integrations` (influx, homeassistant), `supervision` (restart and exit limits of the alarm path's
workers), `flooding` (when a device's message rate is a fault), `zones` (arming_zones); `registry` checks the
device list as a whole and `root` holds `HubConfig`, the whole file. `base` is what they share.

Every model forbids unknown keys and documents every field. Secrets are `SecretStr`; they may come from
the YAML file, from `CAMPUS_HUB__SECTION__KEY` environment variables, or from a file named by
`CAMPUS_HUB__SECTION__KEY_FILE` (the Docker/systemd credentials convention). Reading a file, the environment
overlay and errors that name key and line are in `hub.config.loader`.

Every public name is re-exported here, so callers import from `hub.config` without knowing the section modules.
"""

from __future__ import annotations

from hub.config.alarms import AlarmRulesConfig, IncidentDutiesConfig
from hub.config.api import ApiConfig, ApiToken, Role
from hub.config.base import ENV_PREFIX, IdStr, Path_, StrictModel, key_text
from hub.config.devices import CameraSource, DeviceConfig, FileSource, HttpSnapshotSource, Location, StreamSource
from hub.config.flooding import FloodingConfig
from hub.config.forwarding import Dc09Code, Dc09Endpoint, Endpoint, ForwardingConfig, HttpEndpoint
from hub.config.health import (
    MAX_RECOVERY_HOURS,
    EscalationWebhook,
    HealthConfig,
    MonthlyDelivery,
    ReportsConfig,
    SlaConfig,
)
from hub.config.integrations import HomeAssistantConfig, InfluxConfig
from hub.config.mqtt import MqttConfig, TlsConfig
from hub.config.registry import REGISTRY_ERROR, registry_problems
from hub.config.root import HubConfig
from hub.config.site import SiteConfig
from hub.config.storage import MIN_RETENTION_DAYS, RetentionConfig, StorageConfig
from hub.config.supervision import SupervisionConfig
from hub.config.testmode import TestModeConfig
from hub.config.video import RecordingsConfig, VideoConfig
from hub.config.zones import Period, ZoneConfig
from hub.core.redact import redact_url

__all__ = [
    "TestModeConfig",
    "ENV_PREFIX",
    "MAX_RECOVERY_HOURS",
    "MIN_RETENTION_DAYS",
    "REGISTRY_ERROR",
    "AlarmRulesConfig",
    "ApiConfig",
    "ApiToken",
    "CameraSource",
    "Dc09Code",
    "Dc09Endpoint",
    "DeviceConfig",
    "Endpoint",
    "EscalationWebhook",
    "FileSource",
    "FloodingConfig",
    "ForwardingConfig",
    "HealthConfig",
    "HomeAssistantConfig",
    "HttpEndpoint",
    "HttpSnapshotSource",
    "HubConfig",
    "IdStr",
    "IncidentDutiesConfig",
    "InfluxConfig",
    "Location",
    "MqttConfig",
    "Period",
    "Path_",
    "RecordingsConfig",
    "MonthlyDelivery",
    "ReportsConfig",
    "RetentionConfig",
    "Role",
    "SiteConfig",
    "SlaConfig",
    "StorageConfig",
    "SupervisionConfig",
    "StreamSource",
    "StrictModel",
    "TlsConfig",
    "VideoConfig",
    "ZoneConfig",
    "key_text",
    "redact_url",
    "registry_problems",
]
