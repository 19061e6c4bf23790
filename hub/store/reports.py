"""SQL of uptime reports: planned maintenance windows, and reading what a report is built from in one snapshot.

A report reads the state-transition history (one ordered query over the period, plus each device's last
transition before it for the state it starts in), the faults' figures (per day from `hub.store.fault_rollups`
where rolled, else from the faults that matter to the period) and the current states; never raw messages. Its
ETag comes from `fingerprint`, a handful of index look-ups, so a poll that finds nothing new costs almost nothing.
The hub uses `ReportStore` on its own store; `campus-hub report uptime` uses the module functions on a read-only
connection to the same file.
"""

from __future__ import annotations

import gc
import hashlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hub.config import HubConfig
from hub.core.clock import from_iso, to_iso
from hub.health.recordings import read_statuses
from hub.reports.build import ReportInputs, build_report
from hub.reports.fault_figures import fault_stats
from hub.reports.formats import render, report_etag
from hub.reports.four_items import school_days_in
from hub.reports.model import (
    MAX_DAYS,
    SITE_WIDE,
    DeviceInfo,
    Format,
    Group,
    MaintenanceWindow,
    Period,
    previous_site_day,
    resolve_period,
    site_days,
)
from hub.reports.publisher import uptime_summary
from hub.store import Actor, InvalidStateError, NotFoundError, Store, fault_rollups, has_table, rollups
from hub.store.guard_room import fingerprint as guard_room_fingerprint
from hub.store.guard_room import read_days

SCHEMA = """
CREATE TABLE IF NOT EXISTS maintenance_windows (
    id INTEGER PRIMARY KEY,
    subject TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    cancelled_at TEXT
);
CREATE INDEX IF NOT EXISTS maintenance_windows_time ON maintenance_windows(ends_at, starts_at);
"""

# A window may be registered a little after it starts (clock skew, typing); much later would excuse past outages.
WINDOW_LATE_S = 300


def _epoch(column: str) -> str:
    # julianday() is SQLite's fastest parse of the stored ISO text; every time a report compares goes through it,
    # so equal texts give equal seconds.
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


# A fault matters when it opened in the period or its deadline fell in it (the deadline is at most 24 h later).
# A pre-alarm is not counted: it is the wiring or the air the device watches, not the device, that is in trouble.
_FAULTS_SQL = (
    f"SELECT subject, {_epoch('opened_at')}, {_epoch('due_at')}, {_epoch('recovered_at')},"  # noqa: S608
    " breached_at IS NOT NULL FROM faults NOT INDEXED"  # one pass in rowid order, as ever, whatever indexes exist
    " WHERE ((opened_at >= ?1 AND opened_at < ?2) OR (due_at >= ?1 AND due_at < ?2)) AND kind != 'prealarm'"
)
_WINDOW_COLUMNS = "id, subject, starts_at, ends_at, reason, created_by, created_at, cancelled_at"


class WindowError(ValueError):
    """A maintenance window that cannot be registered; the message says why."""


def registry(config: HubConfig) -> list[DeviceInfo]:
    return [DeviceInfo(d.id, d.kind.value, d.name, d.location.building) for d in config.devices]


def config_digest(config: HubConfig) -> str:
    """What of the configuration a report shows or depends on; part of the ETag, so a new registry is a new answer."""
    basis = [
        config.site.id,
        config.site.name,
        config.reports.exclude_maintenance,
        config.retention.days,
        [(d.id, d.kind.value, d.name, d.location.building) for d in config.devices],
        config.site.timezone,
        config.reports.school_days,
        config.reports.min_guards_on_duty,
    ]
    return hashlib.sha256(json.dumps(basis, ensure_ascii=False).encode("utf-8")).hexdigest()


def fingerprint(conn: sqlite3.Connection) -> list[Any]:
    """Cheap markers that change whenever anything a report reads changes (each a b-tree end, not a scan).

    Every transition and every fault change (opened, recurred, recovered, warned, breached, each closed-loop step)
    appends a row; MIN(id) moves when old rows are purged. Maintenance windows and hub gaps are few, so they are
    counted.
    """
    row = conn.execute(
        "SELECT (SELECT MAX(id) FROM state_transitions), (SELECT MIN(id) FROM state_transitions),"
        " (SELECT MAX(id) FROM faults), (SELECT MAX(id) FROM fault_log), (SELECT MIN(id) FROM fault_log)"
    ).fetchone()
    windows: tuple[Any, ...] = (None,)
    if has_table(conn, "maintenance_windows"):
        # TOTAL(ends_at) moves when a running window is ended early (its end is brought forward).
        windows = conn.execute(
            "SELECT COUNT(*), MAX(id), COUNT(cancelled_at), TOTAL(julianday(ends_at)) FROM maintenance_windows"
        ).fetchone()
    recordings: tuple[Any, ...] = (None,)
    if has_table(conn, "recording_status"):
        recordings = conn.execute("SELECT MAX(checked_at), COUNT(*) FROM recording_status").fetchone()
    gaps: tuple[Any, ...] = (None,)
    if has_table(conn, "hub_gaps"):
        gaps = conn.execute("SELECT COUNT(*), MAX(id), TOTAL(julianday(ended_at)) FROM hub_gaps").fetchone()
    return [*row, *windows, *recordings, *gaps, *guard_room_fingerprint(conn)]


def _window(row: Sequence[Any]) -> MaintenanceWindow:
    return MaintenanceWindow(
        id=row[0],
        subject=row[1],
        starts_at=from_iso(row[2]),
        ends_at=from_iso(row[3]),
        reason=row[4],
        created_by=row[5],
        created_at=from_iso(row[6]),
        cancelled_at=from_iso(row[7]) if row[7] else None,
    )


def read_windows(
    conn: sqlite3.Connection, start: datetime | None = None, end: datetime | None = None
) -> list[MaintenanceWindow]:
    """Windows that are not cancelled and overlap [start, end) (all when not given), earliest first."""
    if not has_table(conn, "maintenance_windows"):
        return []
    sql = f"SELECT {_WINDOW_COLUMNS} FROM maintenance_windows WHERE cancelled_at IS NULL"  # noqa: S608
    args: list[str] = []
    if end is not None:
        sql += " AND starts_at < ?"
        args.append(to_iso(end))
    if start is not None:
        sql += " AND ends_at > ?"
        args.append(to_iso(start))
    return [_window(r) for r in conn.execute(sql + " ORDER BY starts_at, id LIMIT 10000", args).fetchall()]


def read_inputs(
    conn: sqlite3.Connection,
    config: HubConfig,
    devices: Sequence[DeviceInfo],
    period: Period,
    *,
    use_rollups: bool = True,
) -> ReportInputs:
    """Read and tally everything a report needs; call inside `snapshot` so the parts agree. The tallies come from
    the per-day rollups where they serve (`hub.store.rollups`, equal to the full pass), or without `use_rollups`
    from the full pass alone."""
    start_text, end_text = to_iso(period.start), to_iso(period.as_of)
    start, end = conn.execute(f"SELECT {_epoch('?1')}, {_epoch('?2')}", (start_text, end_text)).fetchone()  # noqa: S608
    ids = [d.id for d in devices]
    windows = read_windows(conn, period.start, period.as_of)
    # The hub's own gaps (hub.liveness), as stored; the tallies read them again in milliseconds.
    gaps: list[tuple[str, str]] = []
    if has_table(conn, "hub_gaps"):
        gaps = conn.execute(
            "SELECT started_at, ended_at FROM hub_gaps WHERE started_at < ? AND ended_at > ? ORDER BY started_at, id",
            (end_text, start_text),
        ).fetchall()
    rollup_basis = rollups.basis(config.site.timezone, ids) if use_rollups else None
    tallies = rollups.tallies(conn, ids, start_text, end_text, rollup_basis)
    faults = None
    if use_rollups:
        faults = fault_rollups.figures(
            conn, start_text, end_text, start, end, fault_rollups.basis(config.site.timezone)
        )
    if faults is None:
        # Rows have FaultRecord's shape: (subject, opened, due, recovered, breach recorded).
        faults = fault_stats(conn.execute(_FAULTS_SQL, (start_text, end_text)), start, end)
    current: dict[str, str] = dict(conn.execute("SELECT device_id, state FROM device_state").fetchall())
    local_days = [d for d, _, _ in site_days(period.start, period.as_of, config.site.tz())]
    school = school_days_in(local_days, config.reports.school_days)
    return ReportInputs(
        site_id=config.site.id,
        site_name=config.site.name,
        devices=devices,
        period=period,
        exclude_maintenance=config.reports.exclude_maintenance,
        tallies=tallies,
        faults=faults,
        current=current,
        windows=windows,
        retention=read_statuses(conn),
        retention_days=config.retention.days,
        hub_gaps=[(from_iso(a), from_iso(b)) for a, b in gaps],
        timezone=config.site.timezone,
        school_days=school,
        guard_room=read_days(conn, school[0], school[-1]) if school else {},
        min_guards=config.reports.min_guards_on_duty,
    )


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One read transaction, so the fingerprint and every part of a report see the same database."""
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")


def read_report(
    conn: sqlite3.Connection,
    config: HubConfig,
    period: Period,
    group: Group,
    fmt: Format,
    devices: Sequence[DeviceInfo] | None = None,
    digest: str | None = None,
    *,
    use_rollups: bool = True,
) -> tuple[str, bytes, dict[str, Any]]:
    """(ETag, body, report) of one period, read in one snapshot (`use_rollups`: see `read_inputs`)."""
    devices = registry(config) if devices is None else devices
    with _collector_paused():
        with snapshot(conn):
            marks = fingerprint(conn)
            report = build_report(read_inputs(conn, config, devices, period, use_rollups=use_rollups), group)
        etag = report_etag(digest or config_digest(config), marks, period, group, fmt)
        return etag, render(report, fmt), report


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a report is made, back on after (unless it was off already).

    A 10,000-device report allocates some 10^5 tuples, lists and dicts (fault rows, tallies, rows) that all live
    until it is rendered; their allocation set off a full collection of the whole heap in every report (a sixth
    of its time), which can find nothing: a report makes no reference cycles, reference counting frees it all.
    Another thread's report may turn the collector back on early; that costs only speed.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def open_readonly(path: Path) -> sqlite3.Connection:
    """A connection that cannot write (the offline report); works while the hub runs (WAL)."""
    if not path.is_file():
        raise FileNotFoundError(f"no database at {path}")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


class ReportStore:
    """Uptime reports and maintenance windows on the hub's store."""

    def __init__(self, store: Store, config: HubConfig) -> None:
        self._store = store
        self._config = config
        self._devices = registry(config)
        self._digest = config_digest(config)
        self._known = {d.id for d in self._devices}

    def open(self) -> None:
        self._store.ensure_schema(SCHEMA)
        rollups.ensure_schema(self._store)

    def etag(self, period: Period, group: Group, fmt: Format) -> str:
        """The ETag a report would have, without building it."""
        return report_etag(self._digest, fingerprint(self._store.connection()), period, group, fmt)

    def report(self, period: Period, group: Group, fmt: Format) -> tuple[str, bytes]:
        etag, body, _ = read_report(
            self._store.connection(), self._config, period, group, fmt, self._devices, self._digest
        )
        return etag, body

    def daily_summary(self, now: datetime) -> dict[str, Any]:
        """The retained MQTT summary: the previous day in the site's zone, site-level, with the shares as of now."""
        day, start, end = previous_site_day(now, self._config.site.tz())
        period = resolve_period(start, end, now)
        _, _, report = read_report(
            self._store.connection(), self._config, period, "site", "json", self._devices, self._digest
        )
        return uptime_summary(report, now, day.isoformat())

    def add_window(
        self, subject: str, starts_at: datetime, ends_at: datetime, reason: str, actor: Actor, now: datetime
    ) -> MaintenanceWindow:
        """Register a planned window; audited. Refuses unknown subjects, empty or over-long windows and windows
        registered after the fact (which could excuse outages that already happened)."""
        if subject != SITE_WIDE and subject not in self._known:
            raise WindowError(f"subject: {subject!r} is neither a registered device nor '*' (the whole site)")
        if ends_at <= starts_at:
            raise WindowError("ends_at must be after starts_at")
        if ends_at - starts_at > timedelta(days=MAX_DAYS):
            raise WindowError(f"a maintenance window lasts at most {MAX_DAYS} days")
        if starts_at < now - timedelta(seconds=WINDOW_LATE_S):
            raise WindowError("starts_at is in the past: a planned window is registered before it starts")
        at = to_iso(now)
        with self._store.write() as conn:
            cursor = conn.execute(
                "INSERT INTO maintenance_windows (subject, starts_at, ends_at, reason, created_by, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (subject, to_iso(starts_at), to_iso(ends_at), reason, actor.name, at),
            )
            window_id = int(cursor.lastrowid or 0)
            detail = {"subject": subject, "starts_at": to_iso(starts_at), "ends_at": to_iso(ends_at), "reason": reason}
            self._store.audit(conn, at, actor, "maintenance_window.create", str(window_id), detail)
            row = conn.execute(
                f"SELECT {_WINDOW_COLUMNS} FROM maintenance_windows WHERE id = ?",  # noqa: S608
                (window_id,),
            ).fetchone()
        return _window(row)

    def list_windows(self, start: datetime | None = None, end: datetime | None = None) -> list[MaintenanceWindow]:
        return read_windows(self._store.connection(), start, end)

    def end_window(self, window_id: int, actor: Actor, now: datetime) -> MaintenanceWindow:
        """Cancel a window that has not started, or end a running one now; audited. The record stays: a cancelled
        window keeps its times with `cancelled_at`, an ended one its start with the end brought forward to now
        (the planned end is in the audit log), so the time already spent in it stays planned in every report."""
        at = to_iso(now)
        with self._store.write() as conn:
            row = conn.execute(
                f"SELECT {_WINDOW_COLUMNS} FROM maintenance_windows WHERE id = ?",  # noqa: S608
                (window_id,),
            ).fetchone()
            if row is None:
                raise NotFoundError("maintenance_window", f"no maintenance window {window_id}")
            window = _window(row)
            if window.cancelled_at is not None:
                raise InvalidStateError("maintenance_window", f"maintenance window {window_id} was cancelled")
            if window.ends_at <= now:
                raise InvalidStateError("maintenance_window", f"maintenance window {window_id} is over")
            detail = {"subject": window.subject, "planned_ends_at": to_iso(window.ends_at)}
            if window.starts_at > now:
                conn.execute("UPDATE maintenance_windows SET cancelled_at = ? WHERE id = ?", (at, window_id))
                action = "maintenance_window.cancel"
            else:
                conn.execute("UPDATE maintenance_windows SET ends_at = ? WHERE id = ?", (at, window_id))
                action = "maintenance_window.end"
            self._store.audit(conn, at, actor, action, str(window_id), detail)
            row = conn.execute(
                f"SELECT {_WINDOW_COLUMNS} FROM maintenance_windows WHERE id = ?",  # noqa: S608
                (window_id,),
            ).fetchone()
        return _window(row)
