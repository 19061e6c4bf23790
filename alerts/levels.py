"""Alarm and pre-alarm levels of measuring devices (electrical fire units, gas and CO detectors): each device's
levels from its registry entry, and which reading of a message crosses which level. Pure functions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from device_adapters.base import DeviceKind
from hub.config.devices import (
    DEFAULT_CO_HIGH_PPM,
    DEFAULT_CO_LOW_PPM,
    DEFAULT_GAS_HIGH_LEL_PCT,
    DEFAULT_GAS_LOW_LEL_PCT,
    DEFAULT_RESIDUAL_ALARM_MA,
    DEFAULT_RESIDUAL_PREALARM_FRACTION,
    MAX_TEMPERATURE_CHANNELS,
    DeviceConfig,
    temperature_levels,
)

MEASURING_KINDS = frozenset({DeviceKind.ELECTRICAL_FIRE, DeviceKind.GAS, DeviceKind.CO})

# Reading name (as `readings` yields it) -> unit and what a person calls it.
_UNITS = {"residual_ma": "mA", "temperatures_c": "°C", "lel_pct": "%LEL", "ppm": "ppm"}
_NAMES = {
    "residual_ma": "residual current",
    "temperatures_c": "cable temperature",
    "lel_pct": "combustible gas",
    "ppm": "CO",
}


@dataclass(frozen=True, slots=True)
class Level:
    """One reading's two levels; the pre-alarm is below the alarm."""

    alarm: float
    prealarm: float


@dataclass(frozen=True, slots=True)
class Crossing:
    """A reading at or above one of its levels: what the alarm body and the console show."""

    reading: str  # "residual_ma", "temperatures_c[1]" (channel 2), "lel_pct", "ppm"
    value: float
    level: float
    unit: str

    def describe(self, which: str) -> str:
        """`residual current 520 mA at or above the alarm level 300 mA`."""
        base, _, index = self.reading.partition("[")
        name = _NAMES[base] + (f" channel {int(index.rstrip(']')) + 1}" if index else "")
        return f"{name} {self.value:g} {self.unit} at or above the {which} level {self.level:g} {self.unit}"

    def as_detail(self) -> dict[str, Any]:
        return {"reading": self.reading, "value": self.value, "level": self.level, "unit": self.unit}


Levels = Mapping[str, Level]


def levels_for(device: DeviceConfig) -> dict[str, Level]:
    """The device's levels by reading name: its registry settings, the defaults where it has none."""
    if device.kind is DeviceKind.ELECTRICAL_FIRE:
        alarm = device.residual_alarm_ma if device.residual_alarm_ma is not None else DEFAULT_RESIDUAL_ALARM_MA
        prealarm = device.residual_prealarm_ma
        levels = {"residual_ma": Level(alarm, prealarm if prealarm is not None else alarm * _PREALARM)}
        alarms, prealarms = temperature_levels(device.temperature_alarm_c, device.temperature_prealarm_c)
        for channel in range(MAX_TEMPERATURE_CHANNELS):
            last = min(channel, len(alarms) - 1)
            levels[f"temperatures_c[{channel}]"] = Level(alarms[last], prealarms[last])
        return levels
    if device.kind is DeviceKind.GAS:
        low, high = device.gas_low_lel_pct, device.gas_high_lel_pct
        return {
            "lel_pct": Level(
                high if high is not None else DEFAULT_GAS_HIGH_LEL_PCT,
                low if low is not None else DEFAULT_GAS_LOW_LEL_PCT,
            )
        }
    if device.kind is DeviceKind.CO:
        low, high = device.co_low_ppm, device.co_high_ppm
        return {
            "ppm": Level(
                high if high is not None else DEFAULT_CO_HIGH_PPM, low if low is not None else DEFAULT_CO_LOW_PPM
            )
        }
    return {}


_PREALARM = DEFAULT_RESIDUAL_PREALARM_FRACTION


def readings(data: Mapping[str, Any]) -> Iterator[tuple[str, float]]:
    """The measured values of a stored payload, by reading name."""
    for name in ("residual_ma", "lel_pct", "ppm"):
        value = data.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            yield name, float(value)
    temperatures = data.get("temperatures_c")
    if isinstance(temperatures, list):
        for channel, value in enumerate(temperatures):
            if isinstance(value, int | float) and not isinstance(value, bool):
                yield f"temperatures_c[{channel}]", float(value)


def crossings(data: Mapping[str, Any], levels: Levels) -> tuple[Crossing | None, Crossing | None]:
    """(alarm, pre-alarm): the reading furthest past its alarm level, and the one furthest past its pre-alarm level
    (a reading past its alarm level is past its pre-alarm level too)."""
    alarm: tuple[float, Crossing] | None = None
    prealarm: tuple[float, Crossing] | None = None
    for name, value in readings(data):
        level = levels.get(name)
        if level is None:
            continue
        unit = _UNITS[name.partition("[")[0]]
        if value >= level.alarm and (alarm is None or value / level.alarm > alarm[0]):
            alarm = (value / level.alarm, Crossing(name, value, level.alarm, unit))
        if value >= level.prealarm and (prealarm is None or value / level.prealarm > prealarm[0]):
            prealarm = (value / level.prealarm, Crossing(name, value, level.prealarm, unit))
    return (alarm[1] if alarm else None), (prealarm[1] if prealarm else None)
