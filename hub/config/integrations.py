"""The `influx:` and `homeassistant:` sections: optional telemetry to InfluxDB and Home Assistant discovery."""

from __future__ import annotations

from pydantic import AnyHttpUrl, Field, SecretStr

from hub.config.base import StrictModel


class InfluxConfig(StrictModel):
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


class HomeAssistantConfig(StrictModel):
    """Home Assistant MQTT discovery for the hub's alarm and device-state entities."""

    enabled: bool = Field(default=False, description="Publish retained MQTT discovery configs; off by default.")
    discovery_prefix: str = Field(
        default="homeassistant",
        pattern=r"^[^#+/]+(/[^#+/]+)*$",
        description="Home Assistant's MQTT discovery prefix.",
    )
