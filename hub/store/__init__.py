"""The embedded store: one SQLite file in WAL mode holding events, dead letters, alarms, the outbox and the audit log.

This module and its siblings (`hub.store.health`) hold all the SQL. Writers use `transaction()`; every thread
gets its own connection. An alarm and its outbox rows are written in one transaction, and a partial unique
index keeps one active alarm per device, so a crash or a redelivered message can never open a second one.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from alerts.model import AlarmKind, AlarmState, DeliveryState, Disposition
from hub.core.clock import Clock, from_iso, to_iso

SCHEMA_VERSION = 2  # 2: outbox rows may carry a device trouble (fault_id) instead of an alarm

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_device_time ON events(device_id, received_at);
CREATE INDEX IF NOT EXISTS events_received ON events(received_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    payload BLOB NOT NULL,
    payload_size INTEGER NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters(received_at);
CREATE TABLE IF NOT EXISTS alarms (
    number INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    priority INTEGER NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    device TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    raised_at TEXT NOT NULL,
    trigger_count INTEGER NOT NULL DEFAULT 1,
    last_trigger_at TEXT NOT NULL,
    acknowledged_at TEXT,
    acknowledged_by TEXT,
    closed_at TEXT,
    closed_by TEXT,
    close_note TEXT,
    disposition TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS alarms_one_active_per_device ON alarms(device_id) WHERE state != 'closed';
CREATE INDEX IF NOT EXISTS alarms_state ON alarms(state, priority, raised_at);
-- Every trigger of an alarm (its timeline). A device's own sequence number may appear once per alarm, so a
-- press the broker delivers again after a crash is recognised however many others came in between.
CREATE TABLE IF NOT EXISTS alarm_triggers (
    id INTEGER PRIMARY KEY,
    alarm_id TEXT NOT NULL REFERENCES alarms(id),
    at TEXT NOT NULL,
    seq INTEGER,
    reason TEXT NOT NULL,
    UNIQUE (alarm_id, seq)
);
CREATE TABLE IF NOT EXISTS delivery_attempts (
    id INTEGER PRIMARY KEY,
    outbox_id INTEGER NOT NULL REFERENCES outbox(id),
    attempt INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    http_status INTEGER,
    error TEXT,
    receipt TEXT
);
CREATE INDEX IF NOT EXISTS delivery_attempts_outbox ON delivery_attempts(outbox_id);
CREATE TABLE IF NOT EXISTS alarm_reports (
    id INTEGER PRIMARY KEY,
    alarm_id TEXT NOT NULL REFERENCES alarms(id),
    type TEXT NOT NULL,
    at TEXT NOT NULL,
    by TEXT NOT NULL,
    note TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alarm_reports_alarm ON alarm_reports(alarm_id);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""

# The outbox (created by `Store.open`, which migrates older files). A row carries an alarm (`alarm_id`; event alarm
# or restore) or a device trouble (`fault_id`, an id of hub.health_store's faults table, left without REFERENCES so
# this module does not depend on that table; `occurrence` counts the fault's recurrences; event trouble or
# trouble_restore; `subject` is the trouble as sent, JSON).
_OUTBOX_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    id INTEGER PRIMARY KEY,
    alarm_id TEXT REFERENCES alarms(id),
    endpoint TEXT NOT NULL,
    event TEXT NOT NULL DEFAULT 'alarm',
    position INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_attempt_at TEXT,
    next_attempt_at TEXT,
    last_error TEXT,
    http_status INTEGER,
    delivered_at TEXT,
    receipt TEXT,
    latency_ms REAL,
    fault_id INTEGER,
    occurrence INTEGER NOT NULL DEFAULT 0,
    subject TEXT,
    UNIQUE (alarm_id, endpoint, event),
    CHECK ((alarm_id IS NULL) != (fault_id IS NULL))
);
"""
_OUTBOX_INDEXES = """
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(endpoint, state, priority, created_at);
CREATE UNIQUE INDEX IF NOT EXISTS outbox_one_trouble ON outbox(fault_id, occurrence, endpoint, event)
    WHERE fault_id IS NOT NULL;
"""
# Columns of a schema-1 outbox that a rebuild copies (`event` and `position` came later without a migration, so a
# file may lack them; their defaults then apply).
_OUTBOX_V1_COLUMNS = (
    "id, alarm_id, endpoint, event, position, state, priority, created_at, attempts, last_attempt_at,"
    " next_attempt_at, last_error, http_status, delivered_at, receipt, latency_ms"
).split(", ")
# Troubles sort after every alarm priority (1, 2) and the alarm query never reads them (`priority < ?` on the index).
TROUBLE_PRIORITY = 100


class StoreError(Exception):
    """Base of the store's own errors; `what` names the kind of record (alarm, fault) for the API's error codes."""

    def __init__(self, what: str, message: str) -> None:
        super().__init__(message)
        self.what = what


class NotFoundError(StoreError):
    """No such record."""


class InvalidStateError(StoreError):
    """The record exists but is not in a state that allows the change."""


@dataclass(frozen=True, slots=True)
class EventRow:
    device_id: str
    kind: str
    channel: str
    occurred_at: datetime
    received_at: datetime
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    topic: str
    reason: str
    detail: str
    payload: bytes
    payload_size: int
    received_at: datetime


@dataclass(frozen=True, slots=True)
class ActiveAlarm:
    id: str
    kind: AlarmKind


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One alarm (or device trouble) waiting for one endpoint, with what the forwarder needs to build the request.

    A trouble row has `fault_id` and `trouble` (the trouble as sent, with its `occurrence`); its `alarm_id` is the
    trouble's key (`trouble:<fault>.<occurrence>`) and its `alarm` is empty.
    """

    id: int
    alarm_id: str
    endpoint: str
    priority: int
    attempts: int
    alarm: dict[str, Any]
    event: str = "alarm"
    fault_id: int | None = None
    trouble: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Leg:
    """One endpoint's share of one alarm, as failover sees it."""

    outbox_id: int
    position: int
    state: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Actor:
    """A person acting through the API: the token's name and role."""

    name: str
    role: str


class Transaction:
    """The writes ingest makes in one commit."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @property
    def connection(self) -> sqlite3.Connection:
        return self._conn

    def insert_events(self, rows: Sequence[EventRow]) -> None:
        self._conn.executemany(
            "INSERT INTO events (device_id, kind, channel, occurred_at, received_at, data) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    r.device_id,
                    r.kind,
                    r.channel,
                    to_iso(r.occurred_at),
                    to_iso(r.received_at),
                    json.dumps(r.data),
                )
                for r in rows
            ],
        )

    def insert_dead_letters(self, rows: Sequence[DeadLetterRow]) -> None:
        self._conn.executemany(
            "INSERT INTO dead_letters (topic, reason, detail, payload, payload_size, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(r.topic, r.reason, r.detail, r.payload, r.payload_size, to_iso(r.received_at)) for r in rows],
        )

    def active_alarm(self, device_id: str) -> ActiveAlarm | None:
        row = self._conn.execute(
            "SELECT id, kind FROM alarms WHERE device_id = ? AND state != 'closed'", (device_id,)
        ).fetchone()
        return None if row is None else ActiveAlarm(row[0], AlarmKind(row[1]))

    def open_alarm(
        self,
        *,
        device_id: str,
        kind: AlarmKind,
        priority: int,
        reason: str,
        detail: dict[str, Any],
        device: dict[str, Any],
        occurred_at: datetime,
        raised_at: datetime,
        seq: int | None,
        endpoints: Sequence[str],
        live: int | None = None,
    ) -> str:
        """Insert an open alarm and one outbox row per endpoint, in order; returns the alarm id.

        The first `live` endpoints (all when None) are pending at once; the rest wait on standby for failover.
        """
        alarm_id = str(uuid.uuid4())
        raised = to_iso(raised_at)
        self._conn.execute(
            "INSERT INTO alarms (id, device_id, kind, priority, state, reason, detail, device, occurred_at, raised_at,"
            " trigger_count, last_trigger_at) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, 1, ?)",
            (
                alarm_id,
                device_id,
                kind.value,
                priority,
                reason,
                json.dumps(detail),
                json.dumps(device),
                to_iso(occurred_at),
                raised,
                raised,
            ),
        )
        self._conn.execute(
            "INSERT INTO alarm_triggers (alarm_id, at, seq, reason) VALUES (?, ?, ?, ?)",
            (alarm_id, raised, seq, reason),
        )
        live_count = len(endpoints) if live is None else live
        self._conn.executemany(
            "INSERT INTO outbox (alarm_id, endpoint, position, state, priority, created_at, next_attempt_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (alarm_id, name, position, "pending" if position < live_count else "standby", priority, raised, raised)
                for position, name in enumerate(endpoints)
            ],
        )
        return alarm_id

    def retrigger(self, alarm_id: str, at: datetime, seq: int | None, reason: str) -> bool:
        """Count another trigger on an active alarm; False (nothing counted) for a sequence number it already has."""
        when = to_iso(at)
        added = self._conn.execute(
            "INSERT OR IGNORE INTO alarm_triggers (alarm_id, at, seq, reason) VALUES (?, ?, ?, ?)",
            (alarm_id, when, seq, reason),
        ).rowcount
        if added:
            self._conn.execute(
                "UPDATE alarms SET trigger_count = trigger_count + 1, last_trigger_at = ? WHERE id = ?",
                (when, alarm_id),
            )
        return bool(added)


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the table exists (tables other components own may not, in this database or not yet)."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


class Store:
    """SQLite access for every thread of the hub."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self._clock = clock
        self._local = threading.local()
        self._write_lock = threading.Lock()

    def open(self) -> None:
        """Create the file and schema if needed."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.ensure_schema(_SCHEMA)
        self._migrate_outbox()
        self.ensure_schema(_OUTBOX_INDEXES)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT(key) DO NOTHING",
                (str(SCHEMA_VERSION),),
            )

    def ensure_schema(self, script: str) -> None:
        """Run `CREATE ... IF NOT EXISTS` statements (this module's and its siblings')."""
        with self._write_lock:
            self._conn().executescript(script)

    def _migrate_outbox(self) -> None:
        """Create the outbox, or bring a schema-1 one to schema 2 (rows and their ids kept, in one transaction).

        SQLite cannot drop NOT NULL from `alarm_id` in place, so the table is rebuilt as its documentation describes
        (foreign keys off while delivery_attempts points at a table being swapped, checked before the commit).
        """
        conn = self._conn()
        columns = {row[1] for row in conn.execute("PRAGMA table_info(outbox)").fetchall()}
        if not columns:
            self.ensure_schema(_OUTBOX_TABLE.format(table="outbox"))
            return
        if "fault_id" in columns:
            return
        copied = ", ".join(c for c in _OUTBOX_V1_COLUMNS if c in columns)
        with self._write_lock:
            conn.execute("PRAGMA foreign_keys=OFF")  # only outside a transaction does this take effect
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute("DROP TABLE IF EXISTS outbox_v2")
                    conn.execute(_OUTBOX_TABLE.format(table="outbox_v2"))
                    conn.execute(f"INSERT INTO outbox_v2 ({copied}) SELECT {copied} FROM outbox")  # noqa: S608
                    conn.execute("DROP TABLE outbox")
                    conn.execute("ALTER TABLE outbox_v2 RENAME TO outbox")
                    broken = conn.execute("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise sqlite3.IntegrityError(f"outbox migration would break foreign keys: {broken[:5]}")
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', ?)"
                        " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        (str(SCHEMA_VERSION),),
                    )
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                conn.execute("PRAGMA foreign_keys=ON")

    def meta_get(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def meta_set(self, key: str, value: str) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def connection(self) -> sqlite3.Connection:
        """The calling thread's connection, for the sibling store modules' reads."""
        return self._conn()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction on the calling thread's connection, for the sibling store modules."""
        with self._write() as conn:
            yield conn

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=True)
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: an alarm acknowledged to the broker must survive power loss, not only a crash.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
        return conn

    def close_thread_connection(self) -> None:
        """Close the calling thread's connection (workers call this when they stop)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        # One writer at a time inside the process; BEGIN IMMEDIATE takes SQLite's lock up front.
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A write transaction: everything inside commits together or not at all."""
        with self._write() as conn:
            yield Transaction(conn)

    def check_writable(self) -> bool:
        """True when a write transaction can be taken now (used by /healthz)."""
        try:
            with self._write() as conn:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('last_health_check', ?)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (to_iso(self._clock.now()),),
                )
        except sqlite3.Error:
            return False
        return True

    # --- alarms ----------------------------------------------------------------------------------------------

    def list_alarms(self, state: AlarmState | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Alarms, most urgent first, then newest; with their delivery states."""
        sql = "SELECT * FROM alarms"
        args: list[Any] = []
        if state is not None:
            sql += " WHERE state = ?"
            args.append(state.value)
        sql += " ORDER BY (state = 'closed'), priority, raised_at DESC LIMIT ?"
        args.append(limit)
        conn = self._conn()
        conn.row_factory = sqlite3.Row
        try:
            rows = conn.execute(sql, args).fetchall()
            return [self._alarm_dict(conn, row) for row in rows]
        finally:
            conn.row_factory = None

    def get_alarm(self, alarm_id: str) -> dict[str, Any]:
        conn = self._conn()
        conn.row_factory = sqlite3.Row
        try:
            row = conn.execute("SELECT * FROM alarms WHERE id = ?", (alarm_id,)).fetchone()
            if row is None:
                raise NotFoundError("alarm", f"no alarm {alarm_id}")
            return self._alarm_dict(conn, row, with_attempts=True)
        finally:
            conn.row_factory = None

    def _alarm_dict(self, conn: sqlite3.Connection, row: sqlite3.Row, with_attempts: bool = False) -> dict[str, Any]:
        alarm = {
            "id": row["id"],
            "number": row["number"],
            "kind": row["kind"],
            "priority": row["priority"],
            "state": row["state"],
            "reason": row["reason"],
            "detail": json.loads(row["detail"]),
            "device": json.loads(row["device"]),
            "occurred_at": row["occurred_at"],
            "raised_at": row["raised_at"],
            "trigger_count": row["trigger_count"],
            "last_trigger_at": row["last_trigger_at"],
            "acknowledged_at": row["acknowledged_at"],
            "acknowledged_by": row["acknowledged_by"],
            "closed_at": row["closed_at"],
            "closed_by": row["closed_by"],
            "close_note": row["close_note"],
            "disposition": row["disposition"],
        }
        deliveries = []
        for out in conn.execute(
            "SELECT * FROM outbox WHERE alarm_id = ? ORDER BY event = 'restore', position", (row["id"],)
        ).fetchall():
            delivery = {
                "endpoint": out["endpoint"],
                "event": out["event"],
                "position": out["position"],
                "state": out["state"],
                "attempts": out["attempts"],
                "last_attempt_at": out["last_attempt_at"],
                "next_attempt_at": out["next_attempt_at"] if out["state"] == DeliveryState.PENDING else None,
                "delivered_at": out["delivered_at"],
                "receipt": out["receipt"],
                "http_status": out["http_status"],
                "last_error": out["last_error"],
                "latency_ms": out["latency_ms"],
            }
            if with_attempts:
                delivery["history"] = [
                    {
                        k: a[k]
                        for k in (
                            "attempt",
                            "started_at",
                            "finished_at",
                            "outcome",
                            "http_status",
                            "error",
                            "receipt",
                        )
                    }
                    for a in conn.execute(
                        "SELECT * FROM delivery_attempts WHERE outbox_id = ? ORDER BY attempt", (out["id"],)
                    ).fetchall()
                ]
            deliveries.append(delivery)
        alarm["deliveries"] = deliveries
        alarm["triggers"] = [
            {"at": t[0], "seq": t[1], "reason": t[2]}
            for t in conn.execute(
                "SELECT at, seq, reason FROM alarm_triggers WHERE alarm_id = ? ORDER BY id", (row["id"],)
            ).fetchall()
        ]
        alarm["reports"] = [
            {"type": r[0], "at": r[1], "by": r[2], "note": r[3], "recorded_at": r[4], "recorded_by": r[5]}
            for r in conn.execute(
                "SELECT type, at, by, note, recorded_at, recorded_by FROM alarm_reports WHERE alarm_id = ?"
                " ORDER BY at, id",
                (row["id"],),
            ).fetchall()
        ]
        return alarm

    def acknowledge(self, alarm_id: str, actor: Actor) -> None:
        """open -> acknowledged, audited in the same transaction."""
        now = to_iso(self._clock.now())
        with self._write() as conn:
            state = self._state_of(conn, alarm_id)
            if state != AlarmState.OPEN:
                raise InvalidStateError("alarm", f"alarm is {state}, only an open alarm can be acknowledged")
            conn.execute(
                "UPDATE alarms SET state = 'acknowledged', acknowledged_at = ?, acknowledged_by = ? WHERE id = ?",
                (now, actor.name, alarm_id),
            )
            self.audit(conn, now, actor, "alarm.acknowledge", alarm_id, {})

    def close(self, alarm_id: str, actor: Actor, note: str, disposition: Disposition | None) -> list[str]:
        """acknowledged -> closed with a note; pending deliveries are cancelled. Returns the cancelled endpoints."""
        now = to_iso(self._clock.now())
        with self._write() as conn:
            state = self._state_of(conn, alarm_id)
            if state != AlarmState.ACKNOWLEDGED:
                raise InvalidStateError("alarm", f"alarm is {state}, only an acknowledged alarm can be closed")
            conn.execute(
                "UPDATE alarms SET state = 'closed', closed_at = ?, closed_by = ?, close_note = ?, disposition = ?"
                " WHERE id = ?",
                (now, actor.name, note, disposition.value if disposition else None, alarm_id),
            )
            cancelled = [
                r[0]
                for r in conn.execute(
                    "UPDATE outbox SET state = 'cancelled', next_attempt_at = NULL,"
                    " last_error = TRIM(COALESCE(last_error, '') || ' (cancelled: alarm closed before delivery)')"
                    " WHERE alarm_id = ? AND state IN ('pending', 'standby') RETURNING endpoint",
                    (alarm_id,),
                ).fetchall()
            ]
            # The centres that have the alarm are told it is over (SIA PH/FH/KH, Contact ID 3xx; `restore` over HTTP).
            conn.execute(
                "INSERT INTO outbox (alarm_id, endpoint, event, position, state, priority, created_at, next_attempt_at)"
                " SELECT alarm_id, endpoint, 'restore', position, 'pending', priority, ?, ? FROM outbox"
                " WHERE alarm_id = ? AND event = 'alarm' AND state = 'delivered'",
                (now, now, alarm_id),
            )
            detail: dict[str, Any] = {"note": note, "disposition": disposition.value if disposition else None}
            if cancelled:
                detail["undelivered_endpoints"] = cancelled
            self.audit(conn, now, actor, "alarm.close", alarm_id, detail)
        return cancelled

    def add_report(self, alarm_id: str, actor: Actor, report_type: str, at: datetime, by: str, note: str) -> None:
        """Record a follow-up report (phone or written) made for an alarm, in any state; audited."""
        now = to_iso(self._clock.now())
        with self._write() as conn:
            self._state_of(conn, alarm_id)
            conn.execute(
                "INSERT INTO alarm_reports (alarm_id, type, at, by, note, recorded_at, recorded_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (alarm_id, report_type, to_iso(at), by, note, now, actor.name),
            )
            self.audit(conn, now, actor, "alarm.report", alarm_id, {"type": report_type, "at": to_iso(at), "by": by})

    def duty_candidates(self, kinds: Sequence[str]) -> list[tuple[str, str, str, str | None, list[tuple[str, str]]]]:
        """(id, kind, raised_at, disposition, [(report type, at)]) of alarms that may still owe a report."""
        if not kinds:
            return []
        marks = ",".join("?" * len(kinds))
        conn = self._conn()
        rows = conn.execute(
            f"SELECT id, kind, raised_at, disposition FROM alarms WHERE kind IN ({marks})"  # noqa: S608
            " AND (disposition IS NULL OR disposition = 'real')"
            " AND (SELECT COUNT(DISTINCT type) FROM alarm_reports r WHERE r.alarm_id = alarms.id) < 2",
            tuple(kinds),
        ).fetchall()
        out = []
        for alarm_id, kind, raised_at, disposition in rows:
            reports = conn.execute("SELECT type, at FROM alarm_reports WHERE alarm_id = ?", (alarm_id,)).fetchall()
            out.append((alarm_id, kind, raised_at, disposition, [(t, a) for t, a in reports]))
        return out

    @staticmethod
    def _state_of(conn: sqlite3.Connection, alarm_id: str) -> AlarmState:
        row = conn.execute("SELECT state FROM alarms WHERE id = ?", (alarm_id,)).fetchone()
        if row is None:
            raise NotFoundError("alarm", f"no alarm {alarm_id}")
        return AlarmState(row[0])

    @staticmethod
    def audit(
        conn: sqlite3.Connection, at: str, actor: Actor, action: str, target: str, detail: dict[str, Any]
    ) -> None:
        conn.execute(
            "INSERT INTO audit (at, actor, role, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
            (at, actor.name, actor.role, action, target, json.dumps(detail, ensure_ascii=False)),
        )

    def list_audit(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = (
            self._conn()
            .execute("SELECT at, actor, role, action, target, detail FROM audit ORDER BY id DESC LIMIT ?", (limit,))
            .fetchall()
        )
        return [
            {
                "at": r[0],
                "actor": r[1],
                "role": r[2],
                "action": r[3],
                "target": r[4],
                "detail": json.loads(r[5]),
            }
            for r in rows
        ]

    # --- outbox ----------------------------------------------------------------------------------------------

    def due_outbox(self, endpoint: str, exclude: Sequence[int], limit: int) -> list[OutboxItem]:
        """Pending rows of an endpoint, priority first then oldest, skipping those already in flight."""
        placeholders = ",".join("?" * len(exclude))
        # Only "?" placeholders are formatted in; every value is bound.
        sql = (
            "SELECT o.id, o.alarm_id, o.endpoint, o.priority, o.attempts, a.kind, a.device, a.occurred_at,"  # noqa: S608
            " a.raised_at, a.trigger_count, a.reason, a.detail, o.event, a.closed_at, a.disposition"
            " FROM outbox o JOIN alarms a ON a.id = o.alarm_id"
            " WHERE o.endpoint = ? AND o.state = 'pending' AND o.priority < ?"
            + (f" AND o.id NOT IN ({placeholders})" if exclude else "")
            + " ORDER BY o.priority, o.created_at, o.id LIMIT ?"
        )
        rows = self._conn().execute(sql, (endpoint, TROUBLE_PRIORITY, *exclude, limit)).fetchall()
        return [
            OutboxItem(
                id=r[0],
                alarm_id=r[1],
                endpoint=r[2],
                priority=r[3],
                attempts=r[4],
                alarm={
                    "kind": r[5],
                    "device": json.loads(r[6]),
                    "occurred_at": r[7],
                    "raised_at": r[8],
                    "trigger_count": r[9],
                    "reason": r[10],
                    "detail": json.loads(r[11]),
                    "closed_at": r[13],
                    "disposition": r[14],
                },
                event=r[12],
            )
            for r in rows
        ]

    def due_troubles(self, endpoint: str, exclude: Sequence[int], limit: int) -> list[OutboxItem]:
        """Pending trouble rows of an endpoint, oldest first; a restore waits until its trouble is no longer pending."""
        placeholders = ",".join("?" * len(exclude))
        sql = (
            "SELECT o.id, o.endpoint, o.priority, o.attempts, o.fault_id, o.occurrence, o.event, o.subject"  # noqa: S608
            " FROM outbox o WHERE o.endpoint = ? AND o.state = 'pending' AND o.priority >= ?"
            " AND o.fault_id IS NOT NULL"
            + (f" AND o.id NOT IN ({placeholders})" if exclude else "")
            + " AND NOT (o.event = 'trouble_restore' AND EXISTS (SELECT 1 FROM outbox t WHERE t.fault_id = o.fault_id"
            " AND t.occurrence = o.occurrence AND t.endpoint = o.endpoint AND t.event = 'trouble'"
            " AND t.state = 'pending'))"
            " ORDER BY o.priority, o.created_at, o.id LIMIT ?"
        )
        rows = self._conn().execute(sql, (endpoint, TROUBLE_PRIORITY, *exclude, limit)).fetchall()
        return [
            OutboxItem(
                id=r[0],
                alarm_id=f"trouble:{r[4]}.{r[5]}",
                endpoint=r[1],
                priority=r[2],
                attempts=r[3],
                alarm={},
                event=r[6],
                fault_id=r[4],
                trouble={**json.loads(r[7]), "occurrence": r[5]},
            )
            for r in rows
        ]

    def trouble_deliveries(self, fault_id: int) -> list[dict[str, Any]]:
        """Every trouble and trouble_restore row of a fault, with its delivery state and receipt."""
        conn = self._conn()
        conn.row_factory = sqlite3.Row
        try:
            rows = conn.execute(
                "SELECT id, endpoint, event, occurrence, state, attempts, last_attempt_at, delivered_at, receipt,"
                " http_status, last_error FROM outbox WHERE fault_id = ? ORDER BY occurrence, event, position, id",
                (fault_id,),
            ).fetchall()
            return [dict(row) for row in rows]
        finally:
            conn.row_factory = None

    def record_attempt(
        self,
        item: OutboxItem,
        *,
        started_at: datetime,
        outcome: DeliveryState,
        http_status: int | None,
        error: str | None,
        receipt: str | None,
        next_attempt_at: datetime | None,
        latency_ms: float | None,
        stand_down_others: bool = False,
    ) -> None:
        """Store one attempt and move the outbox row to its new state (still pending on a retryable failure).

        With `stand_down_others` (failover mode), a delivery cancels the alarm's other legs in the same commit.
        """
        now = self._clock.now()
        attempt = item.attempts + 1
        with self._write() as conn:
            conn.execute(
                "INSERT INTO delivery_attempts (outbox_id, attempt, started_at, finished_at, outcome, http_status,"
                " error, receipt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    item.id,
                    attempt,
                    to_iso(started_at),
                    to_iso(now),
                    "retry" if outcome is DeliveryState.PENDING else outcome.value,
                    http_status,
                    error,
                    receipt,
                ),
            )
            conn.execute(
                "UPDATE outbox SET attempts = ?, last_attempt_at = ?, http_status = ?, last_error = ?,"
                " state = CASE WHEN state = 'cancelled' AND ? = 'pending' THEN state ELSE ? END,"
                " next_attempt_at = ?, receipt = COALESCE(?, receipt),"
                " delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END,"
                " latency_ms = COALESCE(?, latency_ms) WHERE id = ?",
                (
                    attempt,
                    to_iso(started_at),
                    http_status,
                    error,
                    outcome.value,
                    outcome.value,
                    to_iso(next_attempt_at) if next_attempt_at else None,
                    receipt,
                    outcome.value,
                    to_iso(now),
                    latency_ms,
                    item.id,
                ),
            )
            if stand_down_others and outcome is DeliveryState.DELIVERED:
                conn.execute(
                    "UPDATE outbox SET state = 'cancelled', next_attempt_at = NULL, last_error = ?"
                    " WHERE alarm_id = ? AND id != ? AND event = 'alarm' AND state IN ('pending', 'standby')",
                    (f"not needed: delivered via {item.endpoint}", item.alarm_id, item.id),
                )

    def standby_alarms(self) -> list[tuple[datetime, list[Leg]]]:
        """(raised_at, legs) of every alarm that still has a standby leg."""
        rows = (
            self._conn()
            .execute(
                "SELECT o.alarm_id, a.raised_at, o.id, o.position, o.state, o.attempts FROM outbox o"
                " JOIN alarms a ON a.id = o.alarm_id"
                " WHERE o.alarm_id IN (SELECT alarm_id FROM outbox WHERE state = 'standby')"
                " ORDER BY o.alarm_id, o.position"
            )
            .fetchall()
        )
        grouped: dict[str, tuple[datetime, list[Leg]]] = {}
        for alarm_id, raised_at, outbox_id, position, state, attempts in rows:
            grouped.setdefault(alarm_id, (from_iso(raised_at), []))[1].append(Leg(outbox_id, position, state, attempts))
        return list(grouped.values())

    def activate_legs(self, outbox_ids: Sequence[int]) -> None:
        """Standby -> pending (failover brings a path in)."""
        with self._write() as conn:
            conn.executemany(
                "UPDATE outbox SET state = 'pending', next_attempt_at = ? WHERE id = ? AND state = 'standby'",
                [(to_iso(self._clock.now()), i) for i in outbox_ids],
            )

    def outbox_depth(self) -> dict[str, int]:
        """Pending deliveries per endpoint."""
        rows = (
            self._conn()
            .execute("SELECT endpoint, COUNT(*) FROM outbox WHERE state = 'pending' GROUP BY endpoint")
            .fetchall()
        )
        return {r[0]: r[1] for r in rows}

    # --- dead letters and events -----------------------------------------------------------------------------

    def list_dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = (
            self._conn()
            .execute(
                "SELECT id, topic, reason, detail, payload, payload_size, received_at FROM dead_letters"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            )
            .fetchall()
        )
        return [
            {
                "id": r[0],
                "topic": r[1],
                "reason": r[2],
                "detail": r[3],
                "payload": bytes(r[4]).decode("utf-8", errors="replace"),
                "payload_size": r[5],
                "received_at": r[6],
            }
            for r in rows
        ]

    def count(self, table: str) -> int:
        """Rows in one of the hub's tables (tests and diagnostics)."""
        if table not in ("events", "dead_letters", "alarms", "outbox", "delivery_attempts", "audit", "alarm_reports"):
            raise ValueError(f"unknown table {table!r}")
        return int(self._conn().execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608


# --- device troubles (written by hub.health_store's hook, in the transaction that opens or recovers the fault) ----


def enqueue_trouble(
    conn: sqlite3.Connection, fault_id: int, endpoints: Sequence[str], device: dict[str, Any] | None, at: datetime
) -> int:
    """One pending `trouble` row per endpoint for the fault's current occurrence; returns how many were added.

    The trouble is kept as sent (`subject`): a later registry edit does not rewrite what a centre was told.
    """
    row = conn.execute(
        "SELECT kind, subject, summary, opened_at, recurrences FROM faults WHERE id = ?", (fault_id,)
    ).fetchone()
    if row is None:
        raise NotFoundError("fault", f"no fault {fault_id}")
    when = to_iso(at)
    subject = json.dumps(
        {
            "kind": row[0],
            "subject": row[1],
            "summary": row[2],
            "device": device,
            "opened_at": row[3],
            "occurred_at": when,
            "recovered_at": None,
        },
        ensure_ascii=False,
    )
    before = conn.total_changes
    conn.executemany(
        "INSERT OR IGNORE INTO outbox (fault_id, occurrence, subject, endpoint, event, position, state, priority,"
        " created_at, next_attempt_at) VALUES (?, ?, ?, ?, 'trouble', ?, 'pending', ?, ?, ?)",
        [
            (fault_id, row[4], subject, name, position, TROUBLE_PRIORITY, when, when)
            for position, name in enumerate(endpoints)
        ],
    )
    return conn.total_changes - before


def enqueue_trouble_restore(conn: sqlite3.Connection, fault_id: int, at: datetime) -> int:
    """A pending `trouble_restore` behind each trouble row of the fault's current occurrence that was delivered or is
    still pending (one refused for good has nothing to restore); returns how many were added."""
    when = to_iso(at)
    return conn.execute(
        "INSERT OR IGNORE INTO outbox (fault_id, occurrence, subject, endpoint, event, position, state, priority,"
        " created_at, next_attempt_at)"
        " SELECT fault_id, occurrence, json_set(subject, '$.recovered_at', ?, '$.occurred_at', ?), endpoint,"
        " 'trouble_restore', position, 'pending', priority, ?, ? FROM outbox"
        " WHERE fault_id = ? AND event = 'trouble' AND state IN ('pending', 'delivered')"
        " AND occurrence = (SELECT recurrences FROM faults WHERE id = ?)",
        (when, when, when, when, fault_id, fault_id),
    ).rowcount
