"""`Store` and `Transaction`: each subject's rows (alarms, outbox, audit, events) put together on one database.

Call sites everywhere use one `Store` (`store.get_alarm`, `store.due_outbox`, `store.transaction()`, ...); each
method's SQL lives in its subject's module, the class it comes from names that module.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hub.store.alarms import AlarmRows, AlarmWrites
from hub.store.audit import AuditRows
from hub.store.db import Synchronous
from hub.store.events import EventRows, EventWrites
from hub.store.outbox import OutboxRows
from hub.store.replays import ReplayRows, ReplayWrites
from hub.store.schema import Migrations

# The tables `count` may be asked about: the store's own.
_COUNTED = (
    "events",
    "dead_letters",
    "alarms",
    "outbox",
    "delivery_attempts",
    "audit",
    "alarm_reports",
    "handled_presses",
    "press_replays",
)


class Transaction(AlarmWrites, EventWrites, ReplayWrites):
    """The writes ingest makes in one commit."""


class Store(AlarmRows, OutboxRows, AuditRows, EventRows, ReplayRows, Migrations):
    """SQLite access for every thread of the hub."""

    @contextmanager
    def transaction(self, synchronous: Synchronous = "FULL") -> Iterator[Transaction]:
        """A write transaction: everything inside commits together or not at all; durable against a power cut on
        COMMIT unless `synchronous` is NORMAL (then only from the next `sync_wal`)."""
        with self._write(synchronous) as conn:
            yield Transaction(conn)

    def count(self, table: str) -> int:
        """Rows in one of the hub's tables (tests and diagnostics)."""
        if table not in _COUNTED:
            raise ValueError(f"unknown table {table!r}")
        return int(self._conn().execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608
