"""Test mode and drills: which devices are on test right now, asked by ingest on every press without a query or a
lock, and starting, ending and listing them (with the test/drill log the bureau reads).

A press on a device on test is recorded as a test alarm and never sent to 110 as an alarm (see `hub.ingest.pipeline`).
The windows live in the store (they survive a restart); the lookup is an immutable snapshot in memory, replaced
whole on every change, and a window stops counting at its end by the clock alone, so an expired test mode ends by
itself without anyone writing anything.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from device_adapters.base import LIFE_SAFETY_KINDS
from hub.config import DeviceConfig
from hub.core.clock import Clock, from_iso, to_iso
from hub.store import Actor, Store
from hub.store.testmode import TestWindow, TestWindowRows

# A start given as "now" may lie this far in the past (the operator's clock, a slow request).
START_SKEW = timedelta(minutes=2)


class TestModeRefused(ValueError):
    """A test mode or drill that cannot be started as asked; `code` is the API's stable error code."""

    __test__ = False

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class _Snapshot:
    windows: tuple[TestWindow, ...] = ()

    def covering(self, device_id: str, at: datetime) -> TestWindow | None:
        return next((w for w in self.windows if w.covers(device_id, at)), None)


class TestMode:
    """The test windows: the in-memory lookup ingest asks, and the changes the API and CLI make."""

    __test__ = False

    def __init__(
        self,
        store: Store,
        clock: Clock,
        devices: Sequence[DeviceConfig],
        *,
        max_hours: float,
        notify: Callable[[str, dict[str, Any]], object] | None = None,
    ) -> None:
        self._rows = TestWindowRows(store)
        self._clock = clock
        self._devices = {d.id: d for d in devices}
        self._max = timedelta(hours=max_hours)
        self._notify: Callable[[str, dict[str, Any]], object] = notify or (lambda _kind, _payload: None)
        self._snapshot = _Snapshot()
        self._change = threading.Lock()  # changes only: the lookup never takes it

    def open(self) -> None:
        self._rows.open()
        self.refresh()

    def refresh(self) -> None:
        """Read the windows not yet over into a new snapshot (after every change, and at start)."""
        self._snapshot = _Snapshot(tuple(self._rows.current(self._clock.now())))

    # --- the alarm path ------------------------------------------------------------------------------------------

    def window_of(self, device_id: str, at: datetime) -> TestWindow | None:
        """The test mode or drill that has this device on test at `at`, if any: one attribute read, no lock."""
        return self._snapshot.covering(device_id, at)

    def on_test(self, device_id: str, at: datetime) -> bool:
        return self.window_of(device_id, at) is not None

    # --- changes -------------------------------------------------------------------------------------------------

    def start(
        self,
        actor: Actor,
        *,
        devices: Sequence[str] | None = None,
        site: bool = False,
        building: str | None = None,
        until: datetime,
        note: str,
        starts_at: datetime | None = None,
        kind: str = "test",
        plan: str | None = None,
        maintenance_window: int | None = None,
    ) -> TestWindow:
        """Put devices, a building or the whole site on test from `starts_at` (now) until `until`; audited."""
        now = self._clock.now()
        start = now if starts_at is None or starts_at < now else starts_at
        if starts_at is not None and starts_at < now - START_SKEW:
            raise TestModeRefused("start_in_past", "a test mode or drill cannot start in the past")
        chosen = sum([devices is not None, site, building is not None])
        if chosen != 1:
            raise TestModeRefused("scope_required", "give exactly one of devices, building or site")
        if until <= start:
            raise TestModeRefused("until_not_after_start", "until must lie after the start")
        if until - start > self._max:
            hours = self._max.total_seconds() / 3600
            raise TestModeRefused("until_too_far", f"a test mode or drill lasts at most {hours:g} hours")
        scope: tuple[str, ...] | None = None
        if devices is not None:
            unknown = sorted(set(devices) - set(self._devices))
            if not devices or unknown:
                raise TestModeRefused("unknown_device", f"no such device: {', '.join(unknown) or '(none given)'}")
            scope = tuple(dict.fromkeys(devices))
        elif building is not None:
            scope = tuple(d.id for d in self._devices.values() if d.location.building == building)
            if not scope:
                raise TestModeRefused("unknown_building", f"no device is in building {building!r}")
        window = TestWindow(
            id=str(uuid.uuid4()),
            kind=kind,
            devices=scope,
            building=building,
            note=note,
            plan=plan,
            starts_at=start,
            until=until,
            created_at=now,
            created_by=actor.name,
            ended_at=None,
            ended_by=None,
            summary=None,
            summary_by=None,
            summary_at=None,
            maintenance_window=maintenance_window,
        )
        with self._change:
            self._rows.insert(window, actor)
            self.refresh()
        self._notify(f"{'drill' if kind == 'drill' else 'test_mode'}_started", window.as_json(now))
        return window

    def end(self, window_id: str, actor: Actor) -> TestWindow:
        """End a test mode or drill now (presses go to 110 again at once); audited."""
        now = self._clock.now()
        with self._change:
            window = self._rows.end(window_id, actor, now)
            self.refresh()
        self._notify(f"{'drill' if window.kind == 'drill' else 'test_mode'}_ended", window.as_json(now))
        return window

    def end_for_maintenance(self, maintenance_window: int, actor: Actor) -> list[str]:
        """End the test modes a maintenance window asked for (the window ended early); their ids."""
        now = self._clock.now()
        ended = []
        for window in self._rows.of_maintenance_window(maintenance_window):
            if window.ends_at > now:
                ended.append(self.end(window.id, actor).id)
        return ended

    def summarise(self, window_id: str, actor: Actor, summary: str) -> TestWindow:
        return self._rows.summarise(window_id, actor, summary, self._clock.now())

    # --- reads ---------------------------------------------------------------------------------------------------

    def active(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The test modes (and drills) running now."""
        now = self._clock.now()
        return [
            w.as_json(now) for w in self._rows.current(now) if w.starts_at <= now and (kind is None or w.kind == kind)
        ]

    def get(self, window_id: str) -> dict[str, Any]:
        return self._rows.get(window_id).as_json(self._clock.now())

    def log(self, start: datetime, end: datetime) -> dict[str, Any]:
        """The test/drill log of [start, end): each test mode and drill with each device's result (pressed and seen,
        or never seen), and every press raised on test in the period."""
        now = self._clock.now()
        windows = self._rows.overlapping(start, end)
        alarms = self._rows.alarms_between(start, end) if windows else []
        entries = []
        covered_ids: set[str] = set()
        for window in windows:
            seen = [a for a in alarms if _raised_in(a, window)]
            covered_ids.update(a["id"] for a in seen)
            results = []
            for device_id in self._scope(window):
                device = self._devices.get(device_id)
                presses = [a for a in seen if a["device_id"] == device_id]
                results.append(
                    {
                        "device_id": device_id,
                        "name": device.name if device else None,
                        "location": device.location.model_dump() if device else None,
                        "result": "seen" if presses else "not_seen",
                        "alarms": [
                            {"id": a["id"], "number": a["number"], "raised_at": a["raised_at"]} for a in presses
                        ],
                    }
                )
            entries.append({**window.as_json(now), "results": results})
        presses = [{**a, "made_real": not a["test"]} for a in alarms if a["id"] in covered_ids]
        return {"from": to_iso(start), "to": to_iso(end), "entries": entries, "presses": presses}

    def _scope(self, window: TestWindow) -> list[str]:
        if window.devices is not None:
            return list(window.devices)
        # The whole site: the devices a person presses or smokes in a test (buttons and smoke detectors).
        return [d.id for d in self._devices.values() if d.kind in LIFE_SAFETY_KINDS]


def _raised_in(alarm: dict[str, Any], window: TestWindow) -> bool:
    return window.covers(alarm["device_id"], from_iso(alarm["raised_at"]))
