"""Test mode and drill rows: the `test_windows` table set (devices, a building or the whole site on test from a start
to an end, who started and ended it, a drill's plan and summary), and the reads of the test/drill log.

`alerts.testmode` decides who is on test and keeps that in memory; this module only reads and writes the rows. Each
change is audited in its own transaction, naming the person.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.core.clock import from_iso, to_iso
from hub.store.audit import Actor, write_audit
from hub.store.db import Database, InvalidStateError, NotFoundError

SCHEMA_SET = "test_mode"
SCHEMA_VERSION = 1
# `devices` is a JSON list of device ids, or NULL for the whole site (devices added later are on test too).
# `ended_at` is set when a person ends it early; otherwise it ends at `until` by itself. `maintenance_window` is the
# maintenance window (hub.store.reports) that asked for it, ended with it.
SCHEMA = """
CREATE TABLE IF NOT EXISTS test_windows (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    devices TEXT,
    building TEXT,
    note TEXT NOT NULL,
    plan TEXT,
    starts_at TEXT NOT NULL,
    until TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    ended_at TEXT,
    ended_by TEXT,
    summary TEXT,
    summary_by TEXT,
    summary_at TEXT,
    maintenance_window INTEGER
);
CREATE INDEX IF NOT EXISTS test_windows_until ON test_windows(until);
CREATE INDEX IF NOT EXISTS test_windows_starts ON test_windows(starts_at);
"""


@dataclass(frozen=True, slots=True)
class TestWindow:
    """One test mode (kind `test`) or drill (kind `drill`) as stored."""

    __test__ = False  # pytest: not a test class, whatever its name

    id: str
    kind: str
    devices: tuple[str, ...] | None  # None: the whole site
    building: str | None
    note: str
    plan: str | None
    starts_at: datetime
    until: datetime
    created_at: datetime
    created_by: str
    ended_at: datetime | None
    ended_by: str | None
    summary: str | None
    summary_by: str | None
    summary_at: datetime | None
    maintenance_window: int | None = None

    @property
    def ends_at(self) -> datetime:
        """When it stops (stopped) putting presses on test: its end, or earlier when a person ended it."""
        return self.until if self.ended_at is None else min(self.until, self.ended_at)

    def covers(self, device_id: str, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at and (self.devices is None or device_id in self.devices)

    def as_json(self, now: datetime) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return None if value is None else to_iso(value)

        return {
            "id": self.id,
            "type": self.kind,
            "site": self.devices is None,
            "devices": None if self.devices is None else list(self.devices),
            "building": self.building,
            "note": self.note,
            "plan": self.plan,
            "starts_at": to_iso(self.starts_at),
            "until": to_iso(self.until),
            "ends_at": to_iso(self.ends_at),
            "active": self.starts_at <= now < self.ends_at,
            "created_at": to_iso(self.created_at),
            "created_by": self.created_by,
            "ended_at": iso(self.ended_at),
            "ended_by": self.ended_by,
            "summary": self.summary,
            "summary_by": self.summary_by,
            "summary_at": iso(self.summary_at),
            "maintenance_window": self.maintenance_window,
        }


_COLUMNS = (
    "id, kind, devices, building, note, plan, starts_at, until, created_at, created_by, ended_at, ended_by,"
    " summary, summary_by, summary_at, maintenance_window"
)


def _window(row: sqlite3.Row | tuple[Any, ...]) -> TestWindow:
    def when(value: str | None) -> datetime | None:
        return None if value is None else from_iso(value)

    devices = row[2]
    return TestWindow(
        id=row[0],
        kind=row[1],
        devices=None if devices is None else tuple(json.loads(devices)),
        building=row[3],
        note=row[4],
        plan=row[5],
        starts_at=from_iso(row[6]),
        until=from_iso(row[7]),
        created_at=from_iso(row[8]),
        created_by=row[9],
        ended_at=when(row[10]),
        ended_by=row[11],
        summary=row[12],
        summary_by=row[13],
        summary_at=when(row[14]),
        maintenance_window=row[15],
    )


class TestWindowRows:
    """The `test_windows` table on the hub's store."""

    __test__ = False

    def __init__(self, db: Database) -> None:
        self._db = db

    def open(self) -> None:
        self._db.ensure_schema(SCHEMA)
        self._db.meta_set(f"schema:{SCHEMA_SET}", str(SCHEMA_VERSION))

    def insert(self, window: TestWindow, actor: Actor) -> None:
        """Store a new test mode or drill, audited (`test_mode.start` / `drill.plan`)."""
        with self._db.write() as conn:
            conn.execute(
                f"INSERT INTO test_windows ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL,"  # noqa: S608
                " NULL, ?)",
                (
                    window.id,
                    window.kind,
                    None if window.devices is None else json.dumps(list(window.devices)),
                    window.building,
                    window.note,
                    window.plan,
                    to_iso(window.starts_at),
                    to_iso(window.until),
                    to_iso(window.created_at),
                    window.created_by,
                    window.maintenance_window,
                ),
            )
            action = "drill.plan" if window.kind == "drill" else "test_mode.start"
            detail = {
                "site": window.devices is None,
                "devices": None if window.devices is None else list(window.devices),
                "building": window.building,
                "starts_at": to_iso(window.starts_at),
                "until": to_iso(window.until),
                "note": window.note,
                "maintenance_window": window.maintenance_window,
            }
            write_audit(conn, to_iso(window.created_at), actor, action, window.id, detail)

    def end(self, window_id: str, actor: Actor, now: datetime) -> TestWindow:
        """End a test mode or drill now, audited; NotFoundError, or InvalidStateError when it is over already."""
        with self._db.write() as conn:
            window = self._get(conn, window_id)
            if window.ends_at <= now:
                raise InvalidStateError("test_mode", f"{window.kind} {window_id} ended at {to_iso(window.ends_at)}")
            conn.execute(
                "UPDATE test_windows SET ended_at = ?, ended_by = ? WHERE id = ?", (to_iso(now), actor.name, window_id)
            )
            write_audit(
                conn,
                to_iso(now),
                actor,
                f"{'drill' if window.kind == 'drill' else 'test_mode'}.end",
                window_id,
                {"until": to_iso(window.until)},
            )
            return self._get(conn, window_id)

    def summarise(self, window_id: str, actor: Actor, summary: str, now: datetime) -> TestWindow:
        """Write a drill's summary and evaluation (after it), audited."""
        with self._db.write() as conn:
            window = self._get(conn, window_id)
            if window.kind != "drill":
                raise InvalidStateError("drill", f"{window_id} is a test mode, not a drill")
            conn.execute(
                "UPDATE test_windows SET summary = ?, summary_by = ?, summary_at = ? WHERE id = ?",
                (summary, actor.name, to_iso(now), window_id),
            )
            write_audit(conn, to_iso(now), actor, "drill.summary", window_id, {"summary": summary[:200]})
            return self._get(conn, window_id)

    def of_maintenance_window(self, maintenance_window: int) -> list[TestWindow]:
        rows = (
            self._db.connection()
            .execute(
                f"SELECT {_COLUMNS} FROM test_windows WHERE maintenance_window = ?",  # noqa: S608
                (maintenance_window,),
            )
            .fetchall()
        )
        return [_window(r) for r in rows]

    def get(self, window_id: str) -> TestWindow:
        return self._get(self._db.connection(), window_id)

    def current(self, now: datetime) -> list[TestWindow]:
        """Windows not over by `now` (running, or starting later), earliest start first."""
        rows = (
            self._db.connection()
            .execute(
                f"SELECT {_COLUMNS} FROM test_windows WHERE until > ? AND (ended_at IS NULL OR ended_at > ?)"  # noqa: S608
                " ORDER BY starts_at, id",
                (to_iso(now), to_iso(now)),
            )
            .fetchall()
        )
        return [_window(r) for r in rows]

    def overlapping(self, start: datetime, end: datetime) -> list[TestWindow]:
        """Windows that ran (or run) at some time in [start, end), earliest start first."""
        rows = (
            self._db.connection()
            .execute(
                f"SELECT {_COLUMNS} FROM test_windows WHERE starts_at < ? AND until > ?"  # noqa: S608
                " AND (ended_at IS NULL OR ended_at > ?) ORDER BY starts_at, id",
                (to_iso(end), to_iso(start), to_iso(start)),
            )
            .fetchall()
        )
        return [_window(r) for r in rows]

    def alarms_between(
        self, start: datetime, end: datetime, device_ids: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Alarms raised in [start, end) (of these devices when given): the presses a test or drill saw."""
        sql = (
            "SELECT id, number, device_id, kind, raised_at, state, test, device, closed_by, disposition FROM alarms"
            " WHERE raised_at >= ? AND raised_at < ?"
        )
        args: list[Any] = [to_iso(start), to_iso(end)]
        if device_ids is not None:
            sql += f" AND device_id IN ({','.join('?' * len(device_ids))})"
            args += device_ids
        rows = self._db.connection().execute(sql + " ORDER BY raised_at, number", args).fetchall()
        return [
            {
                "id": r[0],
                "number": r[1],
                "device_id": r[2],
                "kind": r[3],
                "raised_at": r[4],
                "state": r[5],
                "test": bool(r[6]),
                "device": json.loads(r[7]),
                "closed_by": r[8],
                "disposition": r[9],
            }
            for r in rows
        ]

    @staticmethod
    def _get(conn: sqlite3.Connection, window_id: str) -> TestWindow:
        row = conn.execute(f"SELECT {_COLUMNS} FROM test_windows WHERE id = ?", (window_id,)).fetchone()  # noqa: S608
        if row is None:
            raise NotFoundError("test_mode", f"no test mode or drill {window_id}")
        return _window(row)
