"""SQL of the guard room's daily record of the three "four 100%" items the hub cannot measure (guards on duty,
gate closed, guard posts staffed): one row per school day in the site's zone, written from the console, audited.

A table set of its own (`guard_room`, version in `meta` as `schema:guard_room`); reports read it with
`read_days` on any connection (the offline CLI's read-only one too).
"""

from __future__ import annotations

import sqlite3
from datetime import date, datetime

from hub.core.clock import to_iso
from hub.reports.four_items import GuardRoomDay
from hub.store import Actor, Store, has_table

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS guard_room_days (
    day TEXT PRIMARY KEY,
    guards_on_duty INTEGER NOT NULL,
    gate_closed INTEGER NOT NULL,
    posts_staffed INTEGER NOT NULL,
    note TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
"""
_COLUMNS = "day, guards_on_duty, gate_closed, posts_staffed, note, recorded_by, recorded_at"


def _day(row: sqlite3.Row | tuple[object, ...]) -> GuardRoomDay:
    return GuardRoomDay(
        day=date.fromisoformat(str(row[0])),
        guards_on_duty=int(str(row[1])),
        gate_closed=bool(row[2]),
        posts_staffed=bool(row[3]),
        note=str(row[4]),
        recorded_by=str(row[5]),
        recorded_at=str(row[6]),
    )


def read_days(conn: sqlite3.Connection, first: date, last: date) -> dict[date, GuardRoomDay]:
    """Recorded days from `first` to `last` (site-local dates, both included); {} on a file without the table."""
    if not has_table(conn, "guard_room_days"):
        return {}
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM guard_room_days WHERE day >= ? AND day <= ? ORDER BY day",  # noqa: S608
        (first.isoformat(), last.isoformat()),
    ).fetchall()
    return {d.day: d for d in map(_day, rows)}


def fingerprint(conn: sqlite3.Connection) -> tuple[object, ...]:
    """Changes whenever a day is recorded or corrected (part of the uptime report's ETag)."""
    if not has_table(conn, "guard_room_days"):
        return (None,)
    return tuple(conn.execute("SELECT COUNT(*), MAX(recorded_at) FROM guard_room_days").fetchone())


class GuardRoomStore:
    """The guard room's daily records on the hub's store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def open(self) -> None:
        self._store.ensure_schema(SCHEMA)
        self._store.meta_set("schema:guard_room", str(SCHEMA_VERSION))

    def record(
        self,
        day: date,
        guards_on_duty: int,
        gate_closed: bool,
        posts_staffed: bool,
        note: str,
        actor: Actor,
        now: datetime,
    ) -> GuardRoomDay:
        """Record (or correct) one day; audited as `four_items.record` with what it replaced."""
        at = to_iso(now)
        with self._store.write() as conn:
            before = conn.execute(
                f"SELECT {_COLUMNS} FROM guard_room_days WHERE day = ?",  # noqa: S608
                (day.isoformat(),),
            ).fetchone()
            conn.execute(
                f"INSERT INTO guard_room_days ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
                " ON CONFLICT(day) DO UPDATE SET guards_on_duty = excluded.guards_on_duty,"
                " gate_closed = excluded.gate_closed, posts_staffed = excluded.posts_staffed, note = excluded.note,"
                " recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at",
                (day.isoformat(), guards_on_duty, int(gate_closed), int(posts_staffed), note, actor.name, at),
            )
            detail = {
                "guards_on_duty": guards_on_duty,
                "gate_closed": gate_closed,
                "posts_staffed": posts_staffed,
                "note": note,
                "replaced": _day(before).as_json() if before is not None else None,
            }
            self._store.audit(conn, at, actor, "four_items.record", day.isoformat(), detail)
        return GuardRoomDay(day, guards_on_duty, gate_closed, posts_staffed, note, actor.name, at)

    def days(self, first: date, last: date) -> dict[date, GuardRoomDay]:
        return read_days(self._store.connection(), first, last)
