"""What the hub's happenings become as InfluxDB points: readings, device states, alarms, faults, camera figures,
forwarding latencies, each tagged site, device, kind, building (and room).

Pure functions decide (`points_for_event`, `points_for_transition`, ...); `HubTelemetry` only hands their points
to the sink (hub/influx.py). `SCHEMA` lists every measurement and field written; tests hold the functions and the
Grafana dashboard (config/grafana-dashboard.json) to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alerts.outbox import AttemptResult
from device_adapters.base import DeviceEvent, DeviceKind
from hub.config import DeviceConfig
from hub.core.feed import FeedEvent
from hub.health.model import DeviceState
from hub.store import Store

FieldValue = float | int | bool | str

# Every measurement the hub writes and its fields (None: any numeric field, e.g. a camera's diagnosis figures).
# Tests hold `points_for_*` and the Grafana dashboard to this list.
SCHEMA: Mapping[str, frozenset[str] | None] = {
    "temperature": frozenset({"celsius"}),
    "battery": frozenset({"pct"}),
    "panic": frozenset({"pressed"}),
    "smoke": frozenset({"detected", "obscuration_db_m"}),
    "device_state": frozenset({"code"}),
    "camera": None,
    "alarm": frozenset({"active"}),
    "fault": frozenset({"open"}),
    "forwarding": frozenset({"latency_s", "rtt_s"}),
    "electrical_fire": frozenset({"residual_ma"}),
    "cable_temperature": frozenset({"celsius"}),  # tagged with its channel (1-based)
    "gas": frozenset({"lel_pct"}),
    "co": frozenset({"ppm"}),
    "intrusion": frozenset({"alarm", "armed"}),
    "door": frozenset({"open", "armed"}),
}

# Device state as a number a graph can draw (the state's name is also a tag).
STATE_CODES: Mapping[str, int] = {
    DeviceState.UNKNOWN.value: -1,
    DeviceState.OFFLINE.value: 0,
    DeviceState.ONLINE.value: 1,
    DeviceState.FAULTY.value: 2,
    DeviceState.MAINTENANCE.value: 3,
}


@dataclass(frozen=True, slots=True)
class Point:
    """One InfluxDB point."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    time: datetime

    def to_line(self) -> str:
        """InfluxDB line protocol, nanosecond precision."""
        tags = "".join(f",{_escape_key(k)}={_escape_key(v)}" for k, v in sorted(self.tags.items()) if v != "")
        fields = ",".join(f"{_escape_key(k)}={_field_value(v)}" for k, v in sorted(self.fields.items()))
        return f"{_escape_measurement(self.measurement)}{tags} {fields} {_nanoseconds(self.time)}"


def _escape_measurement(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")


def _escape_key(text: str) -> str:
    return _escape_measurement(text).replace("=", "\\=")


def _field_value(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return repr(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _nanoseconds(at: datetime) -> int:
    if at.tzinfo is None:
        raise ValueError("naive datetimes are never written")
    delta = at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


# --- what happenings become (pure) --------------------------------------------------------------------------------


def device_tags(device: DeviceConfig, site: str) -> dict[str, str]:
    """site, device, kind, building, and the room so a dashboard can say where (same cardinality as device)."""
    location = device.location
    return {
        "site": site,
        "device": device.id,
        "kind": device.kind.value,
        "building": location.building,
        "room": location.room,
    }


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def points_for_event(event: DeviceEvent, device: DeviceConfig, site: str) -> list[Point]:
    """A committed device event -> its points: temperature, battery, press and smoke flags, camera figures, and the
    readings of electrical fire units, gas and CO detectors, intrusion detectors and doors."""
    tags = device_tags(device, site)
    at = event.occurred_at
    points: list[Point] = []
    if event.celsius is not None and math.isfinite(event.celsius):
        points.append(Point("temperature", tags, {"celsius": float(event.celsius)}, at))
    battery = _number(event.data.get("battery_pct"))
    if battery is not None:
        points.append(Point("battery", tags, {"pct": battery}, at))
    if event.kind is DeviceKind.PANIC_BUTTON and "pressed" in event.data:
        points.append(Point("panic", tags, {"pressed": int(event.pressed)}, at))
    if event.kind is DeviceKind.SMOKE and "smoke" in event.data:
        fields: dict[str, FieldValue] = {"detected": int(event.smoke)}
        obscuration = _number(event.data.get("obscuration_db_m"))
        if obscuration is not None:
            fields["obscuration_db_m"] = obscuration
        points.append(Point("smoke", tags, fields, at))
    points += _new_kind_points(event, tags)
    metrics = event.data.get("metrics")
    if event.kind is DeviceKind.CAMERA and isinstance(metrics, dict):
        figures = {str(k): v for k, v in ((k, _number(v)) for k, v in metrics.items()) if v is not None}
        if figures:
            points.append(Point("camera", tags, figures, at))
    return points


def _new_kind_points(event: DeviceEvent, tags: dict[str, str]) -> list[Point]:
    """Electrical fire readings (one point per temperature channel, tagged by it), gas, CO, intrusion and doors."""
    at = event.occurred_at
    points: list[Point] = []
    if event.kind is DeviceKind.ELECTRICAL_FIRE:
        residual = _number(event.data.get("residual_ma"))
        if residual is not None:
            points.append(Point("electrical_fire", tags, {"residual_ma": residual}, at))
        temperatures = event.data.get("temperatures_c")
        for channel, value in enumerate(temperatures if isinstance(temperatures, list) else [], start=1):
            celsius = _number(value)
            if celsius is not None:
                points.append(Point("cable_temperature", {**tags, "channel": str(channel)}, {"celsius": celsius}, at))
    for kind, measurement, key in ((DeviceKind.GAS, "gas", "lel_pct"), (DeviceKind.CO, "co", "ppm")):
        value = _number(event.data.get(key))
        if event.kind is kind and value is not None:
            points.append(Point(measurement, tags, {key: value}, at))
    for kind, measurement, key in ((DeviceKind.INTRUSION, "intrusion", "alarm"), (DeviceKind.DOOR, "door", "open")):
        flag = event.data.get(key)
        if event.kind is kind and isinstance(flag, bool):
            fields: dict[str, FieldValue] = {key: int(flag)}
            armed = event.data.get("armed")
            if isinstance(armed, bool):
                fields["armed"] = int(armed)
            points.append(Point(measurement, tags, fields, at))
    return points


def points_for_transition(device: DeviceConfig, site: str, to_state: str, at: datetime) -> list[Point]:
    """A device state change -> the state as an integer field and a string tag."""
    code = STATE_CODES.get(to_state)
    if code is None:
        return []
    return [Point("device_state", {**device_tags(device, site), "state": to_state}, {"code": code}, at)]


def points_for_alarm(device: DeviceConfig, site: str, alarm_kind: str, active: bool, at: datetime) -> list[Point]:
    """An alarm opened (1) or closed (0) on a device; the alarm's kind is a tag."""
    return [Point("alarm", {**device_tags(device, site), "alarm": alarm_kind}, {"active": int(active)}, at)]


def points_for_fault(
    subject: str, device: DeviceConfig | None, site: str, fault_kind: str, what: str, at: datetime
) -> list[Point]:
    """A fault opened or recurred (1) or recovered (0) on a device or a forwarding path; its kind is a tag."""
    if what not in ("opened", "recurred", "recovered"):
        return []
    tags = device_tags(device, site) if device else {"site": site, "device": subject, "kind": "path"}
    return [Point("fault", {**tags, "fault": fault_kind}, {"open": int(what != "recovered")}, at)]


def points_for_attempt(result: AttemptResult, site: str, at: datetime) -> list[Point]:
    """A delivered alarm -> its forwarding latency (raised to acknowledged) and the attempt's round trip."""
    if result.outcome.value != "delivered" or result.event != "alarm":
        return []
    tags = {"site": site, "endpoint": result.endpoint, "kind": "forwarding"}
    fields: dict[str, FieldValue] = {"latency_s": max(result.since_raised_s, 0.0), "rtt_s": max(result.rtt_s, 0.0)}
    return [Point("forwarding", tags, fields, at)]


def alarm_subject(store: Store, alarm_id: str) -> tuple[str, str] | None:
    """(device_id, alarm kind) of an alarm: one indexed read on the calling thread's connection."""
    row = store.connection().execute("SELECT device_id, kind FROM alarms WHERE id = ?", (alarm_id,)).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


Offer = Callable[[list[Point]], None]


class HubTelemetry:
    """What the hub does, as points for the sink. Called on the ingest, outbox and feed threads; never blocks."""

    def __init__(self, offer: Offer, devices: Mapping[str, DeviceConfig], site: str, store: Store) -> None:
        self._offer = offer
        self._devices = devices
        self._site = site
        self._store = store

    def committed(self, events: Iterable[DeviceEvent]) -> None:
        points: list[Point] = []
        for event in events:
            device = self._devices.get(event.device_id)
            if device is not None:
                points += points_for_event(event, device, self._site)
        self._offer(points)

    def attempted(self, result: AttemptResult, at: datetime) -> None:
        self._offer(points_for_attempt(result, self._site, at))

    def notice(self, event: FeedEvent) -> None:
        """Device state changes and alarms opening and closing, from the live feed."""
        if event.kind == "device_state":
            device = self._devices.get(str(event.data.get("device_id")))
            if device is not None:
                self._offer(points_for_transition(device, self._site, str(event.data.get("to")), event.at))
        elif event.kind == "fault":
            subject_id = str(event.data.get("subject"))
            kind, what = str(event.data.get("kind")), str(event.data.get("what"))
            self._offer(points_for_fault(subject_id, self._devices.get(subject_id), self._site, kind, what, event.at))
        elif event.kind in ("alarm_opened", "alarm_closed", "alarm_real"):
            # A press on test is no alarm in any figure; it counts from the moment the guard makes it real.
            test = event.kind == "alarm_opened" and bool(event.data.get("test"))
            subject = None if test else alarm_subject(self._store, str(event.data.get("alarm_id")))
            device = self._devices.get(subject[0]) if subject else None
            if subject is not None and device is not None:
                active = event.kind != "alarm_closed"
                self._offer(points_for_alarm(device, self._site, subject[1], active, event.at))
