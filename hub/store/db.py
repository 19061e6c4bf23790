"""The database handle: one SQLite connection per thread, the process's write lock, transactions, the `meta`
key-value table, and the store's error tree.

Every subject's row class (`hub.store.alarms`, `.outbox`, ...) is a mixin over `Database`, so they all share these
connections and this lock; `hub.store.store` puts them together.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hub.core.clock import Clock, to_iso


class StoreError(Exception):
    """Base of the store's own errors; `what` names the kind of record (alarm, fault) for the API's error codes."""

    def __init__(self, what: str, message: str) -> None:
        super().__init__(message)
        self.what = what


class NotFoundError(StoreError):
    """No such record."""


class InvalidStateError(StoreError):
    """The record exists but is not in a state that allows the change."""


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the table exists (tables other components own may not, in this database or not yet)."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None


class TransactionBase:
    """One open write transaction's connection; the `Transaction` mixins write through it."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @property
    def connection(self) -> sqlite3.Connection:
        return self._conn


class Database:
    """The SQLite file: a connection per thread (sqlite3 connections must not cross threads) and one write lock."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self._clock = clock
        self._local = threading.local()
        self._write_lock = threading.Lock()

    def ensure_schema(self, script: str) -> None:
        """Run `CREATE ... IF NOT EXISTS` statements (the store's and those of components with tables of their own)."""
        with self._write_lock:
            self._conn().executescript(script)

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
