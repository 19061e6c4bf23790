"""Room for alarms when the store's disk fills: the reserve file, freeing what the hub may free, and the probe that
says when the store can take everything again.

The reserve is a file of `storage.reserve_mb` beside the database (`<db>.reserve`), written at start. When a write
fails for want of room the store is degraded (`Database.degraded`); the pipeline then stores only alarm-relevant
messages and asks `free_for_alarms` first: the reserve goes, the WAL is checkpointed and truncated, and the
telemetry-only tables the hub owns are emptied, oldest first. Nothing the 90-day rule protects is deleted here:
events, alarms, faults and the audit log stay. Recovery (`probe`) needs a small write to succeed and room for the
reserve, as much again, and the write-ahead log to grow back to the size it had when it was truncated for room,
so telemetry does not fill the disk again at once (the truncation gave that room back only for a while: a hub that
recovered on it would go full again within seconds, and tell the centres each time); the reserve is then
recreated.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import threading
from pathlib import Path

from hub.store.db import Database, has_table

log = logging.getLogger(__name__)

MIB = 1024 * 1024
# Telemetry-only tables the hub owns and may empty for alarms: waiting points for the Influx server.
TELEMETRY_TABLES = ("influx_spill",)
TRIM_CHUNK = 500  # rows per transaction, so each delete needs little WAL space of its own
MIN_HEADROOM = MIB  # with no reserve configured, recovery still wants this much room


class StoreSpace:
    """The reserve file and the freeing and probing around it, for one database file."""

    def __init__(self, db: Database, reserve_mb: float) -> None:
        self._db = db
        self.reserve_path = Path(f"{db.path}.reserve")
        self._reserve_bytes = int(reserve_mb * MIB)
        self._lock = threading.Lock()  # the writer and the guard both free space; once each time is enough
        # The largest write-ahead log truncated for room: telemetry will grow it back, so recovery wants that room.
        self._wal_regrow = 0

    @property
    def reserve_bytes(self) -> int:
        return self._reserve_bytes

    def free_bytes(self) -> int:
        """Room left on the database's filesystem for the hub (what an unprivileged write could use)."""
        return shutil.disk_usage(self._db.path.parent).free

    def has_reserve(self) -> bool:
        return self.reserve_path.exists()

    def ensure_reserve(self) -> bool:
        """Write the reserve file if it is missing and there is room for it; True when it is in place."""
        if self._reserve_bytes == 0:
            return True
        with self._lock:
            if self.reserve_path.exists() and self.reserve_path.stat().st_size >= self._reserve_bytes:
                return True
            if self.free_bytes() < self._reserve_bytes + self._headroom():
                return False
            try:
                # Real blocks, not a sparse file: a hole would give nothing back when deleted.
                with self.reserve_path.open("wb") as handle:
                    chunk = b"\0" * MIB
                    left = self._reserve_bytes
                    while left > 0:
                        handle.write(chunk[: min(left, MIB)])
                        left -= MIB
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError as exc:
                log.error("store: could not write the reserve file %s: %s", self.reserve_path, exc)
                self.reserve_path.unlink(missing_ok=True)
                return False
            log.info("store: reserve of %d bytes in place at %s", self._reserve_bytes, self.reserve_path)
            return True

    def free_for_alarms(self) -> None:
        """Give alarms the room the hub can free: the reserve, the WAL's tail, the telemetry-only tables."""
        with self._lock:
            if self.reserve_path.exists():
                self.reserve_path.unlink()
                log.error("store: reserve file given up so alarms can still be written")
            self._wal_regrow = max(self._wal_regrow, self._wal_bytes())
            self._checkpoint()
            self._trim_telemetry()

    def probe(self) -> bool:
        """Whether the store can take everything again: a small write succeeds and there is room to spare."""
        if self.free_bytes() < self._reserve_bytes + self._headroom() + self._wal_regrow:
            return False
        return self._db.check_writable()

    def _wal_bytes(self) -> int:
        try:
            return os.stat(f"{self._db.path}-wal").st_size
        except FileNotFoundError:
            return 0

    def _headroom(self) -> int:
        return max(self._reserve_bytes, MIN_HEADROOM)

    def _checkpoint(self) -> None:
        # TRUNCATE empties the WAL file; the pages it held are in the database file already.
        try:
            self._db.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            log.warning("store: WAL checkpoint while freeing space failed: %r", exc)

    def _trim_telemetry(self) -> None:
        for table in TELEMETRY_TABLES:
            deleted = 0
            try:
                if not has_table(self._db.connection(), table):
                    continue
                while True:
                    with self._db.write() as conn:
                        rows = conn.execute(
                            f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} LIMIT ?)",  # noqa: S608
                            (TRIM_CHUNK,),
                        ).rowcount
                    deleted += rows
                    if rows < TRIM_CHUNK:
                        break
            except sqlite3.Error as exc:
                log.warning("store: emptying %s for alarms stopped after %d rows: %r", table, deleted, exc)
            if deleted:
                log.error("store: %d rows of %s (telemetry) deleted to make room for alarms", deleted, table)
