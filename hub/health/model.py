"""Device health: each device's state (online, offline, faulty, maintenance) from its messages, last will and troubles.

Pure functions decide (`derive_state`, `is_silent`, `troubles_of`); `HealthTracker` keeps the current state of every
device in memory, plans the changes a batch of events or the passing of time makes, and applies them once the
store has committed them (`hub.health.updater` runs that protocol). Every transition is stored: the state history
is what uptime reports are computed from.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from device_adapters.base import Channel, DeviceEvent

MISSED_HEARTBEATS = 3  # GB/T 28181: offline after 3 missed heartbeats


class DeviceState(StrEnum):
    UNKNOWN = "unknown"  # not heard from since the hub first knew it, and not yet overdue
    ONLINE = "online"
    OFFLINE = "offline"
    FAULTY = "faulty"
    MAINTENANCE = "maintenance"


class Trouble(StrEnum):
    """Reported troubles that make an online device faulty (and open a fault)."""

    TAMPER = "tamper"
    LOW_BATTERY = "low_battery"
    SENSOR_TROUBLE = "sensor_trouble"  # the device reports its own sensing element failed (`sensor_fault`)
    CAMERA_CHECK = "camera_check"  # the picture failed `fail_after` health checks in a row
    OPEN_CIRCUIT = "open_circuit"  # an electrical fire unit reports a probe or transformer circuit open
    # A reading at its pre-alarm level (electrical fire, gas, CO; marked by ingest): maintenance must look, but the
    # device works, so it does not make the device faulty (uptime is not charged for it).
    PREALARM = "prealarm"


# Troubles that open a fault without making the device faulty.
NOT_DEVICE_FAULTS = frozenset({Trouble.PREALARM})


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    """What the hub knows of one device now."""

    device_id: str
    state: DeviceState
    since: datetime
    last_seen_at: datetime | None = None
    online: bool | None = None  # presence: None until a message, a last will or a timeout says
    offline_reason: str | None = None
    troubles: frozenset[Trouble] = field(default_factory=frozenset)
    battery_pct: float | None = None
    maintenance: bool = False
    camera_failures: int = 0  # consecutive failing camera health checks (derived from stored events on start)
    # When an offline device went silent (last heard + one heartbeat interval), set when silence took it offline;
    # its offline fault's 24 h run from then, not from when the hub noticed (3 intervals later). Not stored.
    silent_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Transition:
    device_id: str
    from_state: DeviceState
    to_state: DeviceState
    at: datetime
    reason: str


def derive_state(online: bool | None, troubles: frozenset[Trouble], maintenance: bool) -> DeviceState:
    """Maintenance wins (planned), then offline (nothing else can be known), then faulty, then online."""
    if maintenance:
        return DeviceState.MAINTENANCE
    if online is None:
        return DeviceState.UNKNOWN
    if not online:
        return DeviceState.OFFLINE
    return DeviceState.FAULTY if troubles - NOT_DEVICE_FAULTS else DeviceState.ONLINE


def is_silent(last_heard: datetime, heartbeat_s: float, now: datetime) -> bool:
    """True once `MISSED_HEARTBEATS` whole intervals have passed without a message."""
    return now - last_heard >= timedelta(seconds=MISSED_HEARTBEATS * heartbeat_s)


def heard_after_absence(last_heard: datetime, absent_from: datetime, absent_to: datetime) -> datetime:
    """`last_heard` moved on by the part of the hub's own absence after it (hub.liveness): silence is counted only
    while the hub listened. Silence before the hub went away still counts, so a dead device is not kept online
    by a hub that keeps restarting."""
    if last_heard >= absent_to:
        return last_heard
    return last_heard + (absent_to - max(last_heard, absent_from))


# Troubles that follow a boolean flag in the message: True raises, False clears, absent leaves it as it was.
_FLAG_TROUBLES = (
    ("tamper", Trouble.TAMPER),
    ("sensor_fault", Trouble.SENSOR_TROUBLE),
    ("open_circuit", Trouble.OPEN_CIRCUIT),
    ("prealarm", Trouble.PREALARM),
)


def troubles_of(
    current: frozenset[Trouble], data: Mapping[str, object], low_battery_pct: float, battery_clear_pct: float
) -> frozenset[Trouble]:
    """Troubles after a message: tamper and sensor trouble follow their flags (absent: unchanged); low battery clears
    only above a higher level (hysteresis)."""
    troubles = set(current)
    for flag, trouble in _FLAG_TROUBLES:
        value = data.get(flag)
        if value is True:
            troubles.add(trouble)
        elif value is False:
            troubles.discard(trouble)
    battery = data.get("battery_pct")
    if isinstance(battery, int | float) and not isinstance(battery, bool):
        if battery < low_battery_pct:
            troubles.add(Trouble.LOW_BATTERY)
        elif battery >= battery_clear_pct:
            troubles.discard(Trouble.LOW_BATTERY)
    # A device's own low-battery flag (Zigbee2MQTT `battery_low`) raises the trouble whatever the percentage says;
    # it clears the trouble only in a message without a percentage to judge by.
    battery_low = data.get("battery_low")
    if battery_low is True:
        troubles.add(Trouble.LOW_BATTERY)
    elif battery_low is False and not isinstance(battery, int | float):
        troubles.discard(Trouble.LOW_BATTERY)
    return frozenset(troubles)


def camera_check(
    failures: int, troubles: frozenset[Trouble], labels: object, fail_after: int
) -> tuple[int, frozenset[Trouble]]:
    """Failing-check count and troubles after a camera health result: the trouble opens only after `fail_after`
    failures in a row (one bad frame is not a broken camera) and clears on the first healthy result."""
    if labels == ["healthy"]:
        return 0, troubles - {Trouble.CAMERA_CHECK}
    failures += 1
    return failures, (troubles | {Trouble.CAMERA_CHECK}) if failures >= fail_after else troubles


@dataclass(frozen=True, slots=True)
class HealthPlan:
    """New device records and the transitions between them, to be committed together."""

    updates: list[tuple[DeviceHealth, DeviceHealth]]  # (before, after)
    transitions: list[Transition]


class HealthTracker:
    """Current health of every registered device; thread-safe. Plans changes, applies them after commit."""

    def __init__(
        self,
        heartbeat_s: Mapping[str, float],
        saved: Iterable[DeviceHealth],
        now: datetime,
        *,
        low_battery_pct: float,
        battery_clear_pct: float,
        camera_fail_after: int = 3,
    ) -> None:
        self.lock = threading.RLock()
        self._heartbeat_s = dict(heartbeat_s)
        self._low = low_battery_pct
        self._clear = battery_clear_pct
        self._camera_fail_after = camera_fail_after
        self._started = now
        self._absent: tuple[datetime, datetime] | None = None
        known = {h.device_id: h for h in saved if h.device_id in self._heartbeat_s}
        self._health = {d: known.get(d, DeviceHealth(d, DeviceState.UNKNOWN, now)) for d in self._heartbeat_s}

    def get(self, device_id: str) -> DeviceHealth | None:
        with self.lock:
            return self._health.get(device_id)

    def all(self) -> list[DeviceHealth]:
        with self.lock:
            return list(self._health.values())

    def plan_events(self, events: Iterable[tuple[datetime, DeviceEvent]]) -> HealthPlan:
        """What a committed batch of events changes. Any message is a heartbeat; `offline` on status is the LWT."""
        with self.lock:
            working: dict[str, DeviceHealth] = {}
            reasons: dict[str, str] = {}
            for received_at, event in events:
                before = working.get(event.device_id) or self._health.get(event.device_id)
                if before is None:
                    continue
                after = self._after_event(before, received_at, event)
                working[event.device_id] = after
                if after.state != before.state:
                    reasons[event.device_id] = self._reason(after, event)
            return self._plan(working, reasons)

    def plan_time(self, now: datetime) -> HealthPlan:
        """What the passing of time changes: devices silent for 3 heartbeat intervals go offline."""
        with self.lock:
            working: dict[str, DeviceHealth] = {}
            reasons: dict[str, str] = {}
            for device_id, health in self._health.items():
                if health.online is False:
                    continue
                heard = health.last_seen_at or max(self._started, health.since)
                if self._absent is not None:
                    heard = heard_after_absence(heard, *self._absent)
                if is_silent(heard, self._heartbeat_s[device_id], now):
                    reason = f"no message for {MISSED_HEARTBEATS} heartbeat intervals"
                    silent = min(now, heard + timedelta(seconds=self._heartbeat_s[device_id]))
                    after = self._with(health, online=False, offline_reason=reason, at=now, silent_since=silent)
                    working[device_id] = after
                    reasons[device_id] = reason
            return self._plan(working, reasons)

    def hub_absent(self, start: datetime, end: datetime) -> None:
        """The hub itself was not running over [start, end): that is not the devices' silence."""
        with self.lock:
            self._absent = (start, end)

    def apply(self, plan: HealthPlan) -> None:
        with self.lock:
            for _, after in plan.updates:
                self._health[after.device_id] = after

    def _after_event(self, before: DeviceHealth, at: datetime, event: DeviceEvent) -> DeviceHealth:
        if event.channel is Channel.STATUS and event.online is False:
            reason = "device reported offline (last will)"
            return self._with(before, online=False, offline_reason=reason, at=at, silent_since=None)
        troubles = troubles_of(before.troubles, event.data, self._low, self._clear)
        failures = before.camera_failures
        if event.channel is Channel.HEALTH:
            failures, troubles = camera_check(failures, troubles, event.data.get("labels"), self._camera_fail_after)
        battery = event.data.get("battery_pct")
        if before.online is True and troubles == before.troubles:
            # The common case, a heartbeat that changes nothing but the time: one copy, no state to derive.
            if not isinstance(battery, int | float):
                return replace(before, last_seen_at=at, camera_failures=failures)
            return replace(before, last_seen_at=at, battery_pct=float(battery), camera_failures=failures)
        return self._with(
            before,
            online=True,
            offline_reason=None,
            troubles=troubles,
            camera_failures=failures,
            last_seen_at=at,
            battery_pct=float(battery) if isinstance(battery, int | float) else before.battery_pct,
            at=at,
        )

    @staticmethod
    def _with(health: DeviceHealth, *, at: datetime, **changes: object) -> DeviceHealth:
        updated = replace(health, **changes)  # type: ignore[arg-type]
        state = derive_state(updated.online, updated.troubles, updated.maintenance)
        return replace(updated, state=state, since=at if state != health.state else health.since)

    @staticmethod
    def _reason(after: DeviceHealth, event: DeviceEvent) -> str:
        if after.state is DeviceState.OFFLINE:
            return after.offline_reason or "offline"
        if after.state is DeviceState.FAULTY:
            return "reported " + ", ".join(sorted(after.troubles))
        return f"message on {event.channel.value}"

    def _plan(self, working: dict[str, DeviceHealth], reasons: dict[str, str]) -> HealthPlan:
        updates = [(self._health[d], after) for d, after in working.items()]
        transitions = [
            Transition(after.device_id, before.state, after.state, after.since, reasons.get(after.device_id, ""))
            for before, after in updates
            if before.state != after.state
        ]
        return HealthPlan(updates, transitions)
