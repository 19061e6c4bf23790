"""Alarm rules: pure functions from a device event (and a temperature history) to an alarm trigger, or none."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from alerts.levels import Levels, crossings
from alerts.model import PRIORITY, AlarmKind, Priority
from device_adapters.base import Channel, DeviceEvent, DeviceKind


@dataclass(frozen=True, slots=True)
class HeatRule:
    """Heat limits of one temperature sensor (site defaults with the device's overrides applied)."""

    threshold_c: float
    rate_c_per_min: float
    window_s: float
    min_span_s: float


@dataclass(frozen=True, slots=True)
class Trigger:
    """An event that raises (or, on an open alarm, re-triggers) an alarm."""

    kind: AlarmKind
    priority: Priority
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


def _trigger(kind: AlarmKind, reason: str, **detail: Any) -> Trigger:
    return Trigger(kind, PRIORITY[kind], reason, detail)


def heat_trigger(celsius: float, at_s: float, history: Iterable[tuple[float, float]], rule: HeatRule) -> Trigger | None:
    """Static limit, or rate of rise measured against the readings of the last `window_s` seconds.

    `history` holds earlier (seconds, celsius) readings of the same sensor on the same monotonic time base as
    `at_s`. The rate is taken against the oldest reading at least `min_span_s` old, so two close readings that
    differ by sensor noise cannot fake a fast rise.
    """
    if celsius >= rule.threshold_c:
        return _trigger(
            AlarmKind.HEAT,
            f"{celsius:.1f} °C at or above {rule.threshold_c:.1f} °C",
            celsius=celsius,
            threshold_c=rule.threshold_c,
        )
    for then_s, then_c in history:  # oldest first
        span = at_s - then_s
        if span > rule.window_s:
            continue
        if span < rule.min_span_s:
            break  # every later reading is younger still
        rate = (celsius - then_c) / (span / 60.0)
        if rate >= rule.rate_c_per_min:
            return _trigger(
                AlarmKind.HEAT,
                f"rising {rate:.1f} °C/min (limit {rule.rate_c_per_min:.1f})",
                celsius=celsius,
                rate_c_per_min=round(rate, 2),
            )
        break  # only the oldest usable reading counts: it spans the most time
    return None


_MEASURED_ALARM = {
    DeviceKind.ELECTRICAL_FIRE: AlarmKind.ELECTRICAL_FIRE,
    DeviceKind.GAS: AlarmKind.GAS,
    DeviceKind.CO: AlarmKind.CO,
}


def level_trigger(event: DeviceEvent, levels: Levels) -> Trigger | None:
    """An electrical fire unit's, gas or CO detector's reading at its alarm level, or the detector's own alarm output.

    The reading that crossed goes into the detail (reading, value, level, unit): the alarm body and the console show
    it. A pre-alarm is not a trigger: it is a trouble (hub.ingest.pipeline marks it, hub.health opens the fault).
    """
    kind = _MEASURED_ALARM.get(event.kind)
    if kind is None:
        return None
    crossed, _ = crossings(event.data, levels)
    if crossed is not None:
        return _trigger(kind, crossed.describe("alarm"), **crossed.as_detail())
    if event.data.get("alarm") is True:
        return _trigger(kind, "the detector's own alarm output", **{"reading": "alarm", "value": True})
    return None


def arming_trigger(event: DeviceEvent, armed: bool) -> Trigger | None:
    """An intrusion detector's trip or a door's opening, in an armed zone; in a disarmed zone it is logged only."""
    if not armed:
        return None
    if event.kind is DeviceKind.INTRUSION and event.data.get("alarm") is True:
        return _trigger(AlarmKind.INTRUSION, "detector tripped in an armed zone", reading="alarm", value=True)
    if event.kind is DeviceKind.DOOR and event.data.get("open") is True:
        return _trigger(AlarmKind.INTRUSION, "door open in an armed zone", reading="open", value=True)
    return None


def evaluate(
    event: DeviceEvent,
    heat: HeatRule | None,
    history: Iterable[tuple[float, float]],
    at_s: float,
    *,
    levels: Levels | None = None,
    armed: bool = True,
) -> Trigger | None:
    """The trigger an event raises, if any. Status messages never raise alarms (offline is a fault, not an alarm).

    `levels` are the device's alarm levels (measuring kinds); `armed` whether its zone is armed when the message
    arrived (intrusion detectors and door contacts; a device in no zone is always armed).
    """
    if event.channel is Channel.STATUS:
        return None
    if levels is not None and event.kind in _MEASURED_ALARM:
        return level_trigger(event, levels)
    if event.kind in (DeviceKind.INTRUSION, DeviceKind.DOOR):
        return arming_trigger(event, armed)
    if event.kind is DeviceKind.PANIC_BUTTON and event.pressed:
        return _trigger(AlarmKind.PANIC, "button pressed", seq=event.seq)
    if event.kind is DeviceKind.SMOKE and event.smoke:
        return _trigger(AlarmKind.FIRE, "smoke detected", obscuration_db_m=event.data.get("obscuration_db_m"))
    if event.kind is DeviceKind.TEMPERATURE and event.celsius is not None and heat is not None:
        return heat_trigger(event.celsius, at_s, history, heat)
    return None


class TemperatureHistory:
    """Recent readings per sensor, bounded by time and count, for the rate-of-rise rule."""

    def __init__(self, window_s: float, max_per_device: int = 256) -> None:
        self._window_s = window_s
        self._max = max_per_device
        self._readings: dict[str, deque[tuple[float, float]]] = {}

    def readings(self, device_id: str, now_s: float) -> Sequence[tuple[float, float]]:
        """Readings still inside the window, oldest first (a live view: read it before the next `add`)."""
        readings = self._readings.get(device_id)
        if readings is None:
            return ()
        while readings and now_s - readings[0][0] > self._window_s:
            readings.popleft()
        return readings

    def add(self, device_id: str, at_s: float, celsius: float) -> None:
        self._readings.setdefault(device_id, deque(maxlen=self._max)).append((at_s, celsius))
