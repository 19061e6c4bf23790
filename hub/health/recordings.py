"""The recordings watcher: the thin timer around `hub.health.recordings_verdict`, and its SQL.

Per camera it reads the latest health report (an event on channel `health`) or the configured recordings folder
(`scan_folder`), stores the verdict in `recording_status` (the uptime report and the offline CLI read it from
there, `read_statuses`), opens or recovers `retention_shortfall` faults, and warns about a forecast shortfall.
The verdict's names are re-exported here, where they lived before.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sqlite3
from collections.abc import Callable, Sequence
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

from hub.core.clock import Clock, from_iso
from hub.core.periodic import Periodic, TimerDriven
from hub.health.faults import FaultChange
from hub.health.recordings_verdict import (
    MEGABITS_PER_GB,
    STALE_AFTER,
    RecordingStatus,
    Source,
    forecast_shortfall_on,
    judge,
    retained_days,
    retention_fault_changes,
)
from hub.store import Store, has_table

__all__ = [
    "MAX_DAY_FOLDERS",
    "MEGABITS_PER_GB",
    "SCHEMA",
    "STALE_AFTER",
    "RecordingStatus",
    "RecordingsWatcher",
    "Source",
    "forecast_shortfall_on",
    "judge",
    "latest_health",
    "read_statuses",
    "retained_days",
    "retention_fault_changes",
    "scan_folder",
]

log = logging.getLogger(__name__)

# One camera folder with more entries than this is not a recorder's day folders; the scan stops there.
MAX_DAY_FOLDERS = 20_000
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS recording_status (
    camera_id TEXT PRIMARY KEY,
    retained_days REAL,
    compliant INTEGER,
    shortfall_on TEXT,
    oldest_recording TEXT,
    source TEXT NOT NULL,
    checked_at TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""


def scan_folder(root: Path, camera_id: str) -> date | None:
    """The oldest non-empty day folder in `root/<camera_id>/YYYY-MM-DD/`, or None.

    Names that are not real dates, files and empty day folders are ignored; at most `MAX_DAY_FOLDERS` entries are
    read, and each candidate day is checked for one entry only, oldest first.
    """
    if not camera_id or camera_id in (".", "..") or "/" in camera_id or os.sep in camera_id:
        return None
    folder = root / camera_id
    days: list[tuple[date, str]] = []
    try:
        with os.scandir(folder) as entries:
            for count, entry in enumerate(entries):
                if count >= MAX_DAY_FOLDERS:
                    log.warning("%s has more than %d entries; scanned the first ones only", folder, MAX_DAY_FOLDERS)
                    break
                if not _DAY.match(entry.name) or not entry.is_dir(follow_symlinks=False):
                    continue
                try:
                    days.append((date.fromisoformat(entry.name), entry.path))
                except ValueError:
                    continue  # 2026-13-45 and the like
    except OSError:
        return None
    for day, path in sorted(days):
        try:
            with os.scandir(path) as inside:
                if next(inside, None) is not None:
                    return day
        except OSError:
            continue
    return None


def latest_health(conn: sqlite3.Connection, camera_id: str) -> tuple[dict[str, Any], datetime] | None:
    """The camera's latest `health` event: (payload, received_at)."""
    row = conn.execute(
        "SELECT data, received_at FROM events WHERE device_id = ? AND channel = 'health'"
        " ORDER BY received_at DESC, id DESC LIMIT 1",
        (camera_id,),
    ).fetchone()
    if row is None:
        return None
    try:
        data = json.loads(row[0])
    except ValueError:
        return None
    return (data, from_iso(row[1])) if isinstance(data, dict) else None


def read_statuses(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """Stored verdicts by camera id, as the API and reports show them ({} before the first check)."""
    if not has_table(conn, "recording_status"):
        return {}
    rows = conn.execute(
        "SELECT camera_id, retained_days, compliant, shortfall_on, oldest_recording, source, checked_at, detail"
        " FROM recording_status"
    ).fetchall()
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        detail = json.loads(r[7])
        out[r[0]] = {
            "camera_id": r[0],
            "retained_days": r[1],
            "compliant": None if r[2] is None else bool(r[2]),
            "shortfall_on": r[3],
            "forecast_warning": bool(detail.get("forecast_warning")),
            "oldest_recording": r[4],
            "source": r[5],
            "checked_at": r[6],
            "note": detail.get("note", ""),
            "young": bool(detail.get("reaches_policy_on")),
            "reaches_policy_on": detail.get("reaches_policy_on"),
            "young_since": detail.get("young_since"),
        }
    return out


def _save(conn: sqlite3.Connection, statuses: Sequence[RecordingStatus]) -> None:
    conn.executemany(
        "INSERT INTO recording_status (camera_id, retained_days, compliant, shortfall_on, oldest_recording, source,"
        " checked_at, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(camera_id) DO UPDATE SET"
        " retained_days = excluded.retained_days, compliant = excluded.compliant,"
        " shortfall_on = excluded.shortfall_on, oldest_recording = excluded.oldest_recording,"
        " source = excluded.source, checked_at = excluded.checked_at, detail = excluded.detail",
        [
            (
                j["camera_id"],
                j["retained_days"],
                None if j["compliant"] is None else int(j["compliant"]),
                j["shortfall_on"],
                j["oldest_recording"],
                j["source"],
                j["checked_at"],
                json.dumps(
                    {
                        "forecast_warning": j["forecast_warning"],
                        "note": j["note"],
                        "reaches_policy_on": j["reaches_policy_on"],
                        "young_since": j["young_since"],
                    },
                    ensure_ascii=False,
                ),
            )
            for j in (s.as_json() for s in statuses)
        ],
    )


Notify = Callable[[str, dict[str, Any]], object]


class RecordingsWatcher(TimerDriven):
    """Checks every camera's retention on an interval; faults for a shortfall now, warnings for a forecast one."""

    # The first check runs in the caller's thread, so the state is right once the hub has started.
    tick_on_start = True

    def __init__(
        self,
        store: Store,
        clock: Clock,
        camera_ids: Sequence[str],
        *,
        policy_days: int,
        horizon_days: int,
        root: Path | None,
        interval_s: float,
        zone: tzinfo,
        open_subjects: Callable[[], set[str]],
        apply_faults: Callable[[list[FaultChange], datetime], object],
        notify: Notify = lambda kind, data: None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._cameras = list(camera_ids)
        self._policy = policy_days
        self._horizon = horizon_days
        self._root = root
        self._zone = zone
        self._open_subjects = open_subjects
        self._apply_faults = apply_faults
        self._notify = notify
        self._warned: set[str] = set()
        self._last: dict[str, RecordingStatus] = {}
        self._days = Gauge(
            "campus_hub_recording_retained_days",
            "Days each camera's recordings reach back (NaN when unknown).",
            ["camera"],
            registry=registry,
        )
        self._warnings = Gauge(
            "campus_hub_recording_forecast_warnings",
            "Cameras whose recordings are forecast to fall short of retention.days within the horizon.",
            registry=registry,
        )
        self._timer = Periodic(
            "recordings-watch",
            self.run_once,
            lambda: interval_s,
            on_exit=store.close_thread_connection,
        )

    def open(self) -> None:
        self._store.ensure_schema(SCHEMA)

    def status(self, camera_id: str) -> dict[str, Any] | None:
        """The latest verdict for one camera (None before the first check or for an unknown id)."""
        found = self._last.get(camera_id)
        if found is not None:
            return found.as_json()
        return read_statuses(self._store.connection()).get(camera_id)

    def run_once(self) -> list[RecordingStatus]:
        """One check of every camera at the clock's now (tests call this directly with a ManualClock)."""
        now = self._clock.now()
        conn = self._store.connection()
        statuses: list[RecordingStatus] = []
        stored = read_statuses(conn)
        for camera_id in self._cameras:
            since = (stored.get(camera_id) or {}).get("young_since")
            health = latest_health(conn, camera_id)
            statuses.append(
                judge(
                    camera_id,
                    now,
                    self._policy,
                    self._horizon,
                    zone=self._zone,
                    payload=health[0] if health else None,
                    reported_at=health[1] if health else None,
                    folder_oldest=scan_folder(self._root, camera_id) if self._root is not None else None,
                    use_folder=self._root is not None,
                    young_since=from_iso(since) if since else None,
                )
            )
        with self._store.write() as write:
            _save(write, statuses)
        self._last = {s.camera_id: s for s in statuses}
        changes = retention_fault_changes(statuses, self._open_subjects(), self._policy)
        if changes:
            self._apply_faults(changes, now)
        for s in statuses:
            self._days.labels(s.camera_id).set(math.nan if s.retained_days is None else s.retained_days)
            if s.compliant is False:
                log.warning("camera %s: %s", s.camera_id, s.note)
            if s.warning and s.camera_id not in self._warned:
                log.warning("camera %s: %s", s.camera_id, s.note)
                self._notify("retention_warning", s.as_json())
        self._warned = {s.camera_id for s in statuses if s.warning}
        self._warnings.set(len(self._warned))
        return statuses
