"""The database handle: one SQLite connection per thread, the process's write lock, transactions, the `meta`
key-value table, and the store's error tree.

Every subject's row class (`hub.store.alarms`, `.outbox`, ...) is a mixin over `Database`, so they all share these
connections and this lock; `hub.store.store` puts them together.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Literal

from hub.core.clock import Clock, to_iso

log = logging.getLogger(__name__)

# SQLite's primary result codes for "no room" and "the disk failed" (extended codes carry them in the low byte).
SQLITE_IOERR = 10
SQLITE_FULL = 13

# How a commit reaches the disk. FULL: the WAL is fsynced before COMMIT returns (alarms, faults, every person's
# action). NORMAL: written to the WAL but synced only at the next FULL commit, `sync_wal` or checkpoint; it survives
# a crash of the process, not a power cut. Only ingest's telemetry batches ask for it (see `Pipeline`).
Synchronous = Literal["FULL", "NORMAL"]


class StoreDegraded(StrEnum):
    """Why the store cannot write: the filesystem is full, or the disk reports I/O errors."""

    FULL = "full"
    IO_ERROR = "io_error"


def store_failure(exc: BaseException) -> StoreDegraded | None:
    """The degraded reason an SQLite error means, or None for an error that is not the disk's (a bug, a lock)."""
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return None
    primary = int(code) & 0xFF
    if primary == SQLITE_FULL:
        return StoreDegraded.FULL
    if primary == SQLITE_IOERR:
        return StoreDegraded.IO_ERROR
    return None


@contextmanager
def savepoint(conn: sqlite3.Connection, name: str) -> Iterator[sqlite3.Connection]:
    """A nested transaction inside the open one: a failure undoes only what was written inside the block.

    If SQLite already ended the whole transaction (it may, on a full disk or an I/O error), there is nothing left
    to roll back to; the original error is raised unchanged and the caller's transaction fails with it.
    """
    conn.execute(f"SAVEPOINT {name}")
    try:
        yield conn
    except BaseException as exc:
        if conn.in_transaction:
            try:
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
            except sqlite3.Error as undo:
                exc.add_note(f"rolling back to savepoint {name} also failed: {undo!r}")
        raise
    conn.execute(f"RELEASE {name}")


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
        # Set when a write fails because the disk is full or failing; cleared only by `mark_writable` (the space
        # guard's probe), so writers that would fill the disk again hold back until there is room.
        self._degraded: StoreDegraded | None = None
        self._degraded_lock = threading.Lock()
        self._last_probe: tuple[float, bool] | None = None  # (monotonic time, writable) of the last write probe
        # What `PRAGMA quick_check` found wrong at open (None: nothing); /healthz reports it until a restore.
        self.damage: str | None = None

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

    def sync_wal(self) -> None:
        """Make every commit so far durable: fsync the write-ahead log, as a FULL commit would have.

        Any descriptor of a file flushes the file's written pages, so this needs neither a transaction nor the write
        lock; SQLite has already written the frames of each commit, NORMAL or not, before COMMIT returned.
        """
        try:
            fd = os.open(f"{self.path}-wal", os.O_RDONLY)
        except FileNotFoundError:
            return  # no log: everything is in the database file, which checkpoints sync
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

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
            self._local.synchronous = "FULL"
        return conn

    def close_thread_connection(self) -> None:
        """Close the calling thread's connection (workers call this when they stop)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @property
    def degraded(self) -> StoreDegraded | None:
        """Why the store cannot write now, or None while it can."""
        return self._degraded

    def mark_degraded(self, reason: StoreDegraded) -> None:
        with self._degraded_lock:
            if self._degraded is None:
                log.error("store: degraded (%s); alarms only until there is room again", reason.value)
            self._degraded = reason

    def mark_writable(self) -> None:
        with self._degraded_lock:
            if self._degraded is not None:
                log.warning("store: writable again (was %s)", self._degraded.value)
            self._degraded = None

    @contextmanager
    def _write(self, synchronous: Synchronous = "FULL") -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        if self._local.synchronous != synchronous:
            # SQLite ignores this pragma inside a transaction, so it is set before BEGIN, per connection.
            conn.execute(f"PRAGMA synchronous={synchronous}")
            self._local.synchronous = synchronous
        # One writer at a time inside the process; BEGIN IMMEDIATE takes SQLite's lock up front.
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                self._failed(conn, exc)
                raise

    def _failed(self, conn: sqlite3.Connection, exc: BaseException) -> None:
        """Undo a failed transaction without hiding why it failed, and note a disk that is full or failing."""
        reason = store_failure(exc)
        if reason is not None:
            self.mark_degraded(reason)
        # SQLite may already have rolled back by itself (disk full, I/O error); a second ROLLBACK would raise
        # "no transaction is active" and replace the real error.
        if not conn.in_transaction:
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error as undo:
            log.error("store: rollback after %r failed too: %r", exc, undo)
            exc.add_note(f"the rollback also failed: {undo!r}")

    def check_writable(self, max_age_s: float = 0.0) -> bool:
        """True when a write transaction can be taken now. With `max_age_s`, a probe that young is answered from
        memory: /healthz is polled by anyone, and each probe is a synchronous commit (CPU, and wear on an SD card)."""
        now = self._clock.monotonic()
        last = self._last_probe
        if last is not None and now - last[0] < max_age_s:
            return last[1]
        ok = self._probe_write()
        self._last_probe = (now, ok)
        return ok

    def integrity_check(self) -> list[str]:
        """The full `PRAGMA integrity_check` (reads every page: minutes on a large file); ['ok'] when sound."""
        return [row[0] for row in self._conn().execute("PRAGMA integrity_check").fetchall()]

    def backup(self, target: Path) -> None:
        """An online, consistent copy of the database to `target` (SQLite's backup API, while the hub runs)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        copy = sqlite3.connect(target)
        try:
            self._conn().backup(copy)
        finally:
            copy.close()

    def _probe_write(self) -> bool:
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
