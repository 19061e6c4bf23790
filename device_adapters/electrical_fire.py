"""Electrical fire monitoring unit (电气火灾监控, GB 14287): residual current and cable temperatures of one
distribution board, on `telemetry` (periodic) or `event` (the unit's own change report).

Canonical payload: `{"residual_ma": 120.0, "temperatures_c": [41.5, 38.0]}`; the unit's own faults ride along as
`open_circuit` (a sensor lead or transformer circuit open, GB 14287.1's 断线故障) and `sensor_fault`, each true
until a report with false clears it. The unit measures; the hub compares with the device's configured levels
(`residual_alarm_ma`, `residual_prealarm_ma`, `temperature_alarm_c`), so a unit is never trusted to hold them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field

from device_adapters.base import Channel, DeviceEvent, DeviceExtras, DeviceKind, reading_event

KIND = DeviceKind.ELECTRICAL_FIRE
# Monitoring units of the kind schools buy carry 1-8 temperature probes; a longer list is a broken payload.
MAX_TEMPERATURE_CHANNELS = 8

Celsius = Annotated[float, Field(ge=-40, le=300)]


class ElectricalFireReading(DeviceExtras):
    """One report of a monitoring unit; the ranges are what units measure, not alarm levels."""

    residual_ma: float = Field(
        ge=0, le=10_000, description="Residual (earth leakage) current, mA (GB 14287.2 units measure 0-1000 mA+)."
    )
    temperatures_c: list[Celsius] = Field(
        default_factory=list,
        max_length=MAX_TEMPERATURE_CHANNELS,
        description="Cable temperature per channel, °C, in the unit's channel order (GB 14287.3 probes).",
    )
    open_circuit: bool | None = Field(
        default=None, description="True while the unit reports a probe or transformer circuit open (断线)."
    )
    sensor_fault: bool | None = Field(default=None, description="True while the unit reports a failed sensor.")


def parse(device_id: str, channel: Channel, data: dict[str, Any], received_at: datetime) -> DeviceEvent:
    """A decoded payload on `channel` -> an event, or PayloadError."""
    return reading_event(KIND, ElectricalFireReading, "an electrical fire unit", device_id, channel, data, received_at)
