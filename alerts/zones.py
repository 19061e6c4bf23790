"""The zones' live state, shared by ingest and the console: each zone's manual override (kept in SQLite), the last
reported state of every door and detector, and the arm / disarm a person asks for (refused with reasons, audited).

The pipeline asks `armed(device_id, at)` for every intrusion and door message and tells `note(events)` what it
committed; the routes call `arm`, `disarm` and `view`. One lock guards the memory; decisions are in alerts.arming.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from alerts.arming import Contact, Override, arm_refusals, is_armed, manual_override, open_in_shut_hours
from device_adapters.base import Channel, DeviceEvent, DeviceKind
from hub.config import HubConfig, ZoneConfig
from hub.core.clock import Clock, to_iso
from hub.store import Actor, Store
from hub.store.arming import SCHEMA, audit_refusal, last_contact_states, load_overrides, save_override

log = logging.getLogger(__name__)

ZONED_KINDS = frozenset({DeviceKind.INTRUSION, DeviceKind.DOOR})


class ArmRefused(Exception):
    """A zone that may not be armed or disarmed now, with every reason a guard must see."""

    def __init__(self, zone_id: str, reasons: list[str]) -> None:
        super().__init__(f"zone {zone_id}: " + "; ".join(reasons))
        self.zone_id = zone_id
        self.reasons = reasons


class ZoneBoard:
    """Arming state of every zone and the last state of every door and detector; thread-safe."""

    def __init__(self, config: HubConfig, store: Store, clock: Clock) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._tz = config.site.tz()
        self._zones = {z.id: z for z in config.arming_zones}
        self._devices = {d.id: d for d in config.devices if d.kind in ZONED_KINDS}
        self._lock = threading.Lock()
        self._overrides: dict[str, Override] = {}
        self._active: dict[str, bool] = {}  # door open / detector in alarm, by device id

    def open(self) -> None:
        """Create the table, then read the overrides and every contact's last state back."""
        self._store.ensure_schema(SCHEMA)
        overrides = load_overrides(self._store)
        states = last_contact_states(self._store, list(self._devices))
        with self._lock:
            self._overrides = {z: o for z, o in overrides.items() if z in self._zones}
            self._active = states

    def zone_of(self, device_id: str) -> ZoneConfig | None:
        device = self._devices.get(device_id)
        return self._zones.get(device.arming_zone) if device and device.arming_zone else None

    def armed(self, device_id: str, at: datetime) -> bool:
        """Whether the device's zone is armed at `at`. Outside any zone an intrusion detector is always armed (it is
        there to alarm), while a door contact is never (a closed-campus gate is watched for its shut hours only)."""
        zone = self.zone_of(device_id)
        if zone is None:
            device = self._devices.get(device_id)
            return device is not None and device.kind is DeviceKind.INTRUSION
        with self._lock:
            override = self._overrides.get(zone.id)
        return is_armed(zone, at.astimezone(self._tz), override)

    def note(self, events: Iterable[DeviceEvent]) -> None:
        """Committed events: the doors' and detectors' new states."""
        with self._lock:
            for event in events:
                if event.kind not in ZONED_KINDS or event.channel is Channel.STATUS:
                    continue
                value = event.data.get("open" if event.kind is DeviceKind.DOOR else "alarm")
                if isinstance(value, bool):
                    self._active[event.device_id] = value

    def arm(self, zone_id: str, actor: Actor) -> dict[str, Any]:
        """Arm now, or ArmRefused naming every open door and detector in alarm (the refusal is audited too)."""
        zone = self._zone(zone_id)
        now = self._clock.now()
        reasons = arm_refusals(self._contacts(zone.id))
        if reasons:
            audit_refusal(self._store, zone.id, now, actor, reasons)
            raise ArmRefused(zone.id, reasons)
        self._set(zone, True, now, actor)
        return self.zone_json(zone, now)

    def disarm(self, zone_id: str, actor: Actor) -> dict[str, Any]:
        """Disarm now, or ArmRefused for a 24-hour zone."""
        zone = self._zone(zone_id)
        now = self._clock.now()
        if zone.always_armed:
            reasons = [f"zone {zone.name} is a 24-hour zone and is never disarmed"]
            audit_refusal(self._store, zone.id, now, actor, reasons, "zone_disarm_refused")
            raise ArmRefused(zone.id, reasons)
        self._set(zone, False, now, actor)
        return self.zone_json(zone, now)

    def view(self) -> dict[str, Any]:
        """Every zone's arming and contacts, and the doors open in their shut hours (closed campus)."""
        now = self._clock.now()
        return {"zones": [self.zone_json(z, now) for z in self._zones.values()], "doors_open": self.doors_open(now)}

    def doors_open(self, now: datetime) -> list[dict[str, Any]]:
        with self._lock:
            doors = {d: self._active.get(d, False) for d, c in self._devices.items() if c.kind is DeviceKind.DOOR}
        shut = {d: c.must_be_shut for d, c in self._devices.items()}
        return [
            {"device_id": d, "name": self._devices[d].name, "location": self._devices[d].location.model_dump()}
            for d in open_in_shut_hours(doors, shut, now.astimezone(self._tz))
        ]

    def zone_json(self, zone: ZoneConfig, now: datetime) -> dict[str, Any]:
        with self._lock:
            override = self._overrides.get(zone.id)
        local = now.astimezone(self._tz)
        holds = override is not None and (override.until is None or local < override.until)
        return {
            "id": zone.id,
            "name": zone.name,
            "always_armed": zone.always_armed,
            "armed": is_armed(zone, local, override),
            "manual": {"armed": override.armed, "by": override.by, "at": to_iso(override.at),
                       "until": to_iso(override.until) if override.until else None} if override and holds else None,
            "contacts": [
                {"device_id": c.device_id, "name": c.name, "kind": c.kind, "active": c.active}
                for c in self._contacts(zone.id)
            ],
            "refusals": arm_refusals(self._contacts(zone.id)),
        }  # fmt: skip

    def _set(self, zone: ZoneConfig, armed: bool, now: datetime, actor: Actor) -> None:
        override = manual_override(zone, armed, now.astimezone(self._tz), actor.name)
        detail = {"zone": zone.name, "until": to_iso(override.until) if override.until else None}
        save_override(self._store, zone.id, override, actor, detail)
        with self._lock:
            self._overrides[zone.id] = override
        log.warning("zone %s (%s) %s by %s", zone.id, zone.name, "armed" if armed else "disarmed", actor.name)

    def _zone(self, zone_id: str) -> ZoneConfig:
        zone = self._zones.get(zone_id)
        if zone is None:
            raise KeyError(zone_id)
        return zone

    def _contacts(self, zone_id: str) -> list[Contact]:
        with self._lock:
            return [
                Contact(d.id, d.name, d.kind.value, self._active.get(d.id, False))
                for d in self._devices.values()
                if d.arming_zone == zone_id
            ]
