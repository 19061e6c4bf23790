"""MQTT topic layout: `{prefix}/{site}/{kind}/{device_id}/{channel}`; the hub's own under `hub/`."""

from __future__ import annotations

from dataclasses import dataclass

from device_adapters.base import Channel, DeadLetterReason, PayloadError


@dataclass(frozen=True, slots=True)
class Topics:
    prefix: str
    site_id: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.site_id}"

    @property
    def device_filter(self) -> str:
        return f"{self.base}/+/+/+"

    @property
    def hub_status(self) -> str:
        return f"{self.base}/hub/status"

    def device(self, kind: str, device_id: str, channel: str) -> str:
        return f"{self.base}/{kind}/{device_id}/{channel}"

    def parse(self, topic: str) -> tuple[str, str, Channel]:
        """(kind, device_id, channel) of a device topic, or PayloadError."""
        head = self.base + "/"
        if not topic.startswith(head):
            raise PayloadError(DeadLetterReason.BAD_TOPIC, f"not under {head}")
        parts = topic[len(head) :].split("/")
        if len(parts) != 3 or not all(parts):
            raise PayloadError(DeadLetterReason.BAD_TOPIC, "expected {kind}/{device_id}/{channel} after the site")
        kind, device_id, channel = parts
        try:
            return kind, device_id, Channel(channel)
        except ValueError:
            raise PayloadError(
                DeadLetterReason.UNSUPPORTED_CHANNEL, f"channel {channel!r} is not event, telemetry or status"
            ) from None
