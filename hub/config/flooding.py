"""The `flooding:` section: when a device sends so many more messages than its heartbeat implies that it is a fault."""

from __future__ import annotations

from pydantic import Field

from hub.config.base import StrictModel


class FloodingConfig(StrictModel):
    """A device floods when its message rate stays above max(floor_per_min, multiple x 60 / heartbeat_s)."""

    multiple: float = Field(
        default=10,
        ge=2,
        le=1000,
        description="Allowed messages a minute, as a multiple of what the heartbeat_s implies (60/heartbeat_s).",
    )
    floor_per_min: float = Field(
        default=60,
        ge=1,
        le=100_000,
        description="The allowed rate is never below this many messages a minute (room for events and retries).",
    )
    window_s: float = Field(
        default=60,
        ge=2,
        le=3600,
        description="Seconds the rate must stay above the allowed rate to open a flooding fault, and stay under "
        "it to recover; rates are counted in six buckets of window_s/6.",
    )
