"""The store on a real full filesystem: a failed write shows SQLite's own error (not a failed rollback's), leaves
no transaction open and the write lock free, degrades the store, and the space guard's freeing and probe work."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hub.core.clock import SystemClock
from hub.store import Store
from hub.store.db import StoreDegraded, store_failure
from hub.store.space import StoreSpace
from tests.smalldisk import fill, small_disk

__all__ = ["small_disk"]  # the fixture, used by name


def test_a_write_on_a_full_disk_raises_its_own_error_and_degrades_the_store(small_disk: Path) -> None:
    store = Store(small_disk / "hub.db", SystemClock())
    store.open()
    space = StoreSpace(store, reserve_mb=0.5)
    assert space.ensure_reserve()
    store.ensure_schema("CREATE TABLE IF NOT EXISTS influx_spill (id INTEGER PRIMARY KEY AUTOINCREMENT, line TEXT);")
    with store.write() as conn:
        conn.executemany("INSERT INTO influx_spill (line) VALUES (?)", [("x" * 200,)] * 1000)
    store.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    filler = fill(small_disk, leave=0)

    def big_write() -> None:
        with store.write() as conn:
            conn.execute("INSERT INTO meta (key, value) VALUES ('big', ?)", ("y" * 300_000,))

    with pytest.raises(sqlite3.OperationalError) as raised:
        big_write()
    assert store_failure(raised.value) is StoreDegraded.FULL, raised.value
    assert "full" in str(raised.value)
    assert not store.connection().in_transaction
    assert store.degraded is StoreDegraded.FULL
    assert not space.probe()  # no room for the reserve and as much again

    # Freeing for alarms: the reserve goes and the telemetry-only table is emptied; then a small write fits.
    space.free_for_alarms()
    assert not space.reserve_path.exists()
    assert store.connection().execute("SELECT COUNT(*) FROM influx_spill").fetchone()[0] == 0
    store.meta_set("alarm", "fits")
    assert store.meta_get("alarm") == "fits"

    filler.unlink()
    assert space.probe()
    assert space.ensure_reserve()
    store.mark_writable()
    assert store.degraded is None
    store.close_thread_connection()


def test_recovery_waits_for_room_for_the_write_ahead_log_that_was_truncated(small_disk: Path) -> None:
    # Truncating the WAL for alarms gives its room back only until telemetry grows it again: a hub that recovered on
    # that room would go full again within seconds (and tell the centres each time).
    store = Store(small_disk / "hub.db", SystemClock())
    store.open()
    space = StoreSpace(store, reserve_mb=0.25)
    assert space.ensure_reserve()
    store.ensure_schema("CREATE TABLE IF NOT EXISTS readings (id INTEGER PRIMARY KEY, line TEXT);")
    with store.write() as conn:
        conn.executemany("INSERT INTO readings (line) VALUES (?)", [("x" * 200,)] * 200)
    store.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.connection().execute("PRAGMA wal_autocheckpoint=0")  # the log keeps growing, as between checkpoints
    for n in range(15):  # the same pages again and again: the log grows, the database file will not
        with store.write() as conn:
            conn.execute("UPDATE readings SET line = ?", (str(n) * 200,))
    wal = Path(f"{store.path}-wal").stat().st_size
    assert 500_000 < wal < 1_000_000
    # Leave exactly the room recovery asked for before (the reserve and as much again, at least 1 MiB), less the
    # reserve and the WAL that freeing gives back.
    needed = space.reserve_bytes + max(space.reserve_bytes, 1024 * 1024)
    filler = fill(small_disk, leave=needed - space.reserve_bytes - wal + 64 * 1024)
    space.free_for_alarms()
    assert not space.reserve_path.exists()
    assert space.free_bytes() >= needed, "the test's disk did not leave the old recovery room"
    assert not space.probe(), "recovered on room the write-ahead log will take back"
    filler.unlink()
    assert space.probe()
    store.close_thread_connection()
