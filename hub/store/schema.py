"""The schema: every table of the store's own subjects, and the migrations that bring an older file up to date.

The tables come in sets, each with its version in `meta` (`schema:<set>`): `core` (events, dead letters, alarms and
their triggers, reports and delivery attempts, the audit log), `outbox` and `replays` (presses the hub handled and
the broker's replays of them). A set's version rises with each migration it gets. Components with tables of their
own (health, reports, sessions, ...) create them with `ensure_schema`.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from hub.store.db import Database

# The version of each table set, written to `meta` as `schema:<set>` on every open.
# outbox 2: a row may carry a device trouble (fault_id) instead of an alarm. replays 1: handled presses, replays.
# core 2: alarms.test (an alarm raised while its device was on test: recorded, never sent to 110 as an alarm).
SCHEMA_VERSIONS = {"core": 2, "outbox": 2, "replays": 1}
# The single number files had before the sets were versioned apart; kept as it was for tools that read it.
SCHEMA_VERSION = 2

CORE_SCHEMA = """
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
    disposition TEXT,
    test INTEGER NOT NULL DEFAULT 0
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
# or restore) or a device trouble (`fault_id`, an id of hub.store.health's faults table, left without REFERENCES so
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
-- When an endpoint's next back-off ends (the outbox worker's sleep), read on every pass of the worker; created on
-- open, so older files get it too.
CREATE INDEX IF NOT EXISTS outbox_retry ON outbox(endpoint, state, next_attempt_at);
CREATE UNIQUE INDEX IF NOT EXISTS outbox_one_trouble ON outbox(fault_id, occurrence, endpoint, event)
    WHERE fault_id IS NOT NULL;
"""
# Alarm-raising messages the hub handled, by fingerprint (hub.ingest.replay), and the broker's replays of them that
# raised nothing. `alarm_id` has no REFERENCES: a fingerprint outlives its alarm's purge while the broker may still
# hold the message; `last_seen_at` is renewed by each replay, so a retained copy is remembered while it keeps coming.
REPLAYS_SCHEMA = """
CREATE TABLE IF NOT EXISTS handled_presses (
    fingerprint BLOB PRIMARY KEY,
    device_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    alarm_id TEXT NOT NULL,
    handled_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS handled_presses_topic ON handled_presses(device_id, topic, last_seen_at);
CREATE INDEX IF NOT EXISTS handled_presses_seen ON handled_presses(last_seen_at);
CREATE TABLE IF NOT EXISTS press_replays (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    alarm_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    mark TEXT NOT NULL,
    received_at TEXT NOT NULL,
    handled_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS press_replays_alarm ON press_replays(alarm_id);
CREATE INDEX IF NOT EXISTS press_replays_received ON press_replays(received_at);
"""

# Columns of a schema-1 outbox that a rebuild copies (`event` and `position` came later without a migration, so a
# file may lack them; their defaults then apply).
_OUTBOX_V1_COLUMNS = (
    "id, alarm_id, endpoint, event, position, state, priority, created_at, attempts, last_attempt_at,"
    " next_attempt_at, last_error, http_status, delivered_at, receipt, latency_ms"
).split(", ")

log = logging.getLogger(__name__)


class StoreOpenError(Exception):
    """The database file cannot be used at all: what is wrong and what to do, in one message."""

    def __init__(self, path: Path, cause: BaseException) -> None:
        reason = str(cause)
        if "not a database" in reason or "malformed" in reason:
            advice = (
                "the file is damaged or is not a campus-hub database: move it aside (the hub then starts with a new "
                "one) and restore the latest backup (`campus-hub backup`) over it while the hub is stopped"
            )
        elif "unable to open" in reason or isinstance(cause, OSError):
            advice = (
                "the file or its folder cannot be opened for writing (missing, read-only filesystem, or owned by "
                "another user): check storage.path, the folder's permissions and that the disk is mounted read-write"
            )
        else:
            advice = "check the disk (dmesg), then restore the latest backup if the file is damaged"
        super().__init__(f"{path}: {reason}: {advice}")
        self.path = path


class Migrations(Database):
    """Opening the file: create what is missing and migrate what is old."""

    def open(self) -> None:
        """Create the file and schema if needed, after a quick check of the file: a file that is not a database
        (or cannot be opened) raises `StoreOpenError` saying what to do; damaged pages are kept in `damage`."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            problems = [row[0] for row in self._conn().execute("PRAGMA quick_check").fetchall()]
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StoreOpenError(self.path, exc) from exc
        if problems != ["ok"]:
            self.damage = "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
            log.error("store %s is damaged: %s; see README 'Backups' to restore", self.path, self.damage)
        self.ensure_schema(CORE_SCHEMA)
        self._migrate_alarms_test()
        self._migrate_outbox()
        self.ensure_schema(_OUTBOX_INDEXES)
        self.ensure_schema(REPLAYS_SCHEMA)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) ON CONFLICT(key) DO NOTHING",
                (str(SCHEMA_VERSION),),
            )
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [(f"schema:{name}", str(version)) for name, version in SCHEMA_VERSIONS.items()],
            )

    def _migrate_alarms_test(self) -> None:
        """Core 1 -> 2: `alarms.test`, 0 for every alarm already there (they were all forwarded as real ones).

        ADD COLUMN with a constant default rewrites no row, so a large file upgrades at once.
        """
        conn = self._conn()
        columns = {row[1] for row in conn.execute("PRAGMA table_info(alarms)").fetchall()}
        if "test" in columns:
            return
        with self._write() as write:
            write.execute("ALTER TABLE alarms ADD COLUMN test INTEGER NOT NULL DEFAULT 0")

    def _migrate_outbox(self) -> None:
        """Create the outbox, or bring a schema-1 one to schema 2 (rows and their ids kept, in one transaction).

        SQLite cannot drop NOT NULL from `alarm_id` in place, so the table is rebuilt as its documentation describes
        (foreign keys off while delivery_attempts points at a table being swapped, checked before the commit).
        Files older than the versioned sets have no `schema:outbox`, so the table's own columns say which it is.
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
