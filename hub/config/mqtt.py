"""The `mqtt:` section: the broker the devices publish to, and TLS to it."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from hub.config.base import StrictModel, require_username


class TlsConfig(StrictModel):
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


class MqttConfig(StrictModel):
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
        description="Fixed MQTT client id of the telemetry lane's persistent session (the alarm lane's is this id"
        " plus -alarms); default campus-hub-{site.id}.",
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
        require_username(self.username, self.password)
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must not be less than reconnect_min_s")
        return self
