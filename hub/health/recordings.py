"""How far back each camera's recordings reach, against the 90-day rule, and when that would stop being true.

Pure functions decide (`retained_days`, `forecast_shortfall_on`, `scan_folder`, `judge`); `RecordingsWatcher` is
the thin timer around them: per camera it reads the latest health report (an event on channel `health`) or the
configured recordings folder, stores the verdict in `recording_status` (the uptime report and the offline CLI
read it from there), opens or recovers `retention_shortfall` faults, and warns about a forecast shortfall.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Gauge

from hub.core.clock import Clock, from_iso, to_iso
from hub.core.periodic import Periodic
from hub.health.faults import FaultChange, FaultKind
from hub.store import Store, has_table

log = logging.getLogger(__name__)

Source = Literal["payload", "folder"]

MEGABITS_PER_GB = 8000.0  # decimal units, as recorders and disks report them: 1 GB = 8,000 megabits
# A camera health report older than this says nothing about today's recordings (the recorder may have wrapped).
STALE_AFTER = timedelta(days=2)
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


def retained_days(oldest: datetime, now: datetime) -> float:
    """Days between the oldest recording and now (0 when the oldest is in the future)."""
    return max(0.0, (now - oldest).total_seconds() / 86400.0)


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def forecast_shortfall_on(
    oldest: datetime,
    used_gb: float | None,
    free_gb: float | None,
    write_rate_mbps: float | None,
    policy_days: float,
    now: datetime,
) -> date | None:
    """The first UTC date on which the recordings would reach back less than `policy_days`, or None if never.

    Assumed: the recorder writes continuously at `write_rate_mbps` (megabits per second) and, when the disk is
    full, overwrites its oldest recordings (a ring buffer). Until then nothing is deleted, so the window only
    grows; from the moment free space runs out, now + free / rate, the window is what the whole disk holds at
    the current rate, (used + free) / rate. The change is taken as immediate at that moment: when older
    recordings were written at a lower rate the real window shrinks to that size a little later, so the forecast
    errs early, never late. Short already: today. No usable rate (missing, zero, negative, not finite): None,
    as nothing can be forecast.
    """
    if retained_days(oldest, now) < policy_days:
        return now.date()
    if not _finite(used_gb, free_gb, write_rate_mbps) or write_rate_mbps is None or write_rate_mbps <= 0:
        return None
    used, free = max(0.0, float(used_gb or 0.0)), max(0.0, float(free_gb or 0.0))
    full_window_days = (used + free) * MEGABITS_PER_GB / write_rate_mbps / 86400.0
    if full_window_days >= policy_days:
        return None
    full_at = now + timedelta(seconds=free * MEGABITS_PER_GB / write_rate_mbps)
    return full_at.date()


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


@dataclass(frozen=True, slots=True)
class RecordingStatus:
    """One camera's verdict. `compliant` is None when nothing current is known (no report, a stale one)."""

    camera_id: str
    retained_days: float | None
    compliant: bool | None
    shortfall_on: date | None
    source: Source
    checked_at: datetime
    oldest_recording: datetime | None = None
    warning: bool = False  # compliant now, but the forecast falls short within the horizon
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "camera_id": self.camera_id,
            "retained_days": None if self.retained_days is None else round(self.retained_days, 2),
            "compliant": self.compliant,
            "shortfall_on": self.shortfall_on.isoformat() if self.shortfall_on else None,
            "forecast_warning": self.warning,
            "oldest_recording": to_iso(self.oldest_recording) if self.oldest_recording else None,
            "source": self.source,
            "checked_at": to_iso(self.checked_at),
            "note": self.note,
        }


def _number(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


def judge(
    camera_id: str,
    now: datetime,
    policy_days: float,
    horizon_days: float,
    *,
    payload: Mapping[str, Any] | None = None,
    reported_at: datetime | None = None,
    folder_oldest: date | None = None,
    use_folder: bool = False,
) -> RecordingStatus:
    """The verdict for one camera from its latest health payload and/or its folder's oldest day.

    With `use_folder` the folder says how far back recordings reach (its day counts from 00:00 UTC); a camera with
    no recordings there reaches back 0 days (a recorder that stopped, a share that is not mounted). The payload,
    when there is a current one, still gives the rates for the forecast.
    """
    current = payload if payload is not None and (reported_at is None or now - reported_at <= STALE_AFTER) else None
    source: Source = "folder" if use_folder else "payload"
    oldest: datetime | None
    if use_folder:
        if folder_oldest is None:
            note = "no recordings in the recordings folder"
            return RecordingStatus(camera_id, 0.0, False, now.date(), source, now, note=note)
        oldest = datetime.combine(folder_oldest, time(), UTC)
        missing = ""
    else:
        oldest = _time(current.get("oldest_recording")) if current is not None else None
        if payload is None:
            missing = "no health report from the camera yet"
        elif current is None:
            missing = "the camera's latest health report is stale"
        else:
            missing = "the health report has no oldest_recording"
    if oldest is None:
        return RecordingStatus(camera_id, None, None, None, source, now, note=missing)
    days = retained_days(oldest, now)
    rates = current or {}
    shortfall = forecast_shortfall_on(
        oldest,
        _number(rates, "storage_used_gb"),
        _number(rates, "storage_free_gb"),
        _number(rates, "write_rate_mbps"),
        policy_days,
        now,
    )
    compliant = days >= policy_days
    warning = compliant and shortfall is not None and shortfall <= (now + timedelta(days=horizon_days)).date()
    note = "" if compliant else f"recordings reach back {days:.1f} days; at least {policy_days:g} required"
    if warning and shortfall is not None:
        note = f"forecast: recordings fall short of {policy_days:g} days on {shortfall.isoformat()}"
    return RecordingStatus(camera_id, days, compliant, shortfall, source, now, oldest, warning, note)


def retention_fault_changes(
    statuses: Sequence[RecordingStatus], open_subjects: set[str], policy_days: float
) -> list[FaultChange]:
    """A fault opens for each camera short now and recovers when it complies again; unknown changes nothing."""
    changes: list[FaultChange] = []
    for s in statuses:
        if s.compliant is False and s.camera_id not in open_subjects:
            changes.append(FaultChange(s.camera_id, FaultKind.RETENTION_SHORTFALL, True, s.note))
        elif s.compliant is True and s.camera_id in open_subjects:
            summary = f"recordings reach back {s.retained_days or 0:.1f} days (at least {policy_days:g})"
            changes.append(FaultChange(s.camera_id, FaultKind.RETENTION_SHORTFALL, False, summary))
    return changes


# --- reading and writing ------------------------------------------------------------------------------------------


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
                json.dumps({"forecast_warning": j["forecast_warning"], "note": j["note"]}, ensure_ascii=False),
            )
            for j in (s.as_json() for s in statuses)
        ],
    )


Notify = Callable[[str, dict[str, Any]], object]


class RecordingsWatcher:
    """Checks every camera's retention on an interval; faults for a shortfall now, warnings for a forecast one."""

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

    def start(self) -> None:
        """The first check runs now, in the caller's thread, so the state is right once the hub has started."""
        self._timer.start(tick_now=True)

    def stop(self) -> None:
        self._timer.stop()

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
        for camera_id in self._cameras:
            health = latest_health(conn, camera_id)
            statuses.append(
                judge(
                    camera_id,
                    now,
                    self._policy,
                    self._horizon,
                    payload=health[0] if health else None,
                    reported_at=health[1] if health else None,
                    folder_oldest=scan_folder(self._root, camera_id) if self._root is not None else None,
                    use_folder=self._root is not None,
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
