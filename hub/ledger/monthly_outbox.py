"""The monthly report's outbox on the hub's SQLite file: one row per site-local month (the month is its unique key,
so a month is never queued twice), the report's exact bytes as queued, its retry state and every attempt.

Kept apart from the alarms' outbox (`hub.store.outbox`): the bureau's report never competes with an alarm for a
slot, and nothing here changes how alarms are delivered. The retry state is the row's (`attempts`,
`next_attempt_at`), so a restart keeps the back-off; a row is done only once the bureau answered 2xx.

The tables are the `monthly_post` set, version `MONTHLY_POST_VERSION` in `meta` as `schema:monthly_post`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from hub.core.clock import from_iso, to_iso
from hub.store import Actor, InvalidStateError, NotFoundError, Store

MONTHLY_POST_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS monthly_deliveries (
    id INTEGER PRIMARY KEY,
    month TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    body BLOB NOT NULL,
    queued_at TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_attempt_at TEXT,
    http_status INTEGER,
    last_error TEXT,
    receipt TEXT,
    delivered_at TEXT
);
CREATE INDEX IF NOT EXISTS monthly_deliveries_due ON monthly_deliveries(state, next_attempt_at);
CREATE TABLE IF NOT EXISTS monthly_delivery_attempts (
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES monthly_deliveries(id),
    attempt INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    http_status INTEGER,
    error TEXT,
    receipt TEXT
);
CREATE INDEX IF NOT EXISTS monthly_delivery_attempts_delivery ON monthly_delivery_attempts(delivery_id);
"""

_COLUMNS = (
    "month, url, queued_at, state, attempts, next_attempt_at, last_attempt_at, http_status, last_error, receipt,"
    " delivered_at"
)


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its first attempt or its next retry
    DELIVERED = "delivered"  # the bureau answered 2xx
    FAILED = "failed"  # the bureau refused it (4xx): not retried until an admin asks


class Outcome(StrEnum):
    """What one attempt came to, as recorded."""

    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """One month's report waiting to be sent."""

    id: int
    month: str
    url: str
    body: bytes
    attempts: int


class MonthlyOutbox:
    """The monthly report's deliveries on the hub's store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def open(self) -> None:
        self._store.ensure_schema(SCHEMA)
        self._store.meta_set("schema:monthly_post", str(MONTHLY_POST_VERSION))

    def has(self, month: str) -> bool:
        row = self._store.connection().execute("SELECT 1 FROM monthly_deliveries WHERE month = ?", (month,))
        return row.fetchone() is not None

    def queue(self, month: str, url: str, body: bytes, now: datetime) -> bool:
        """Queue one month's report; False when that month is already queued (or sent): the unique month decides."""
        with self._store.write() as conn:
            cursor = conn.execute(
                "INSERT INTO monthly_deliveries (month, url, body, queued_at, state) VALUES (?, ?, ?, ?, 'pending')"
                " ON CONFLICT(month) DO NOTHING",
                (month, url, body, to_iso(now)),
            )
            return cursor.rowcount == 1

    def due(self, now: datetime, max_backoff_s: float) -> list[DueDelivery]:
        """Pending rows whose retry time has come, oldest month first. A row set to wait longer than any back-off
        from now is due too: the wall clock went back after it was written."""
        horizon = datetime.fromtimestamp(now.timestamp() + max_backoff_s, now.tzinfo)
        rows = (
            self._store.connection()
            .execute(
                "SELECT id, month, url, body, attempts FROM monthly_deliveries WHERE state = 'pending'"
                " AND (next_attempt_at IS NULL OR next_attempt_at <= ? OR next_attempt_at > ?) ORDER BY month",
                (to_iso(now), to_iso(horizon)),
            )
            .fetchall()
        )
        return [DueDelivery(r[0], r[1], r[2], bytes(r[3]), r[4]) for r in rows]

    def next_retry_at(self, now: datetime) -> datetime | None:
        """When the earliest pending row waiting on back-off becomes due (None: none waits)."""
        row = (
            self._store.connection()
            .execute(
                "SELECT MIN(next_attempt_at) FROM monthly_deliveries WHERE state = 'pending' AND next_attempt_at > ?",
                (to_iso(now),),
            )
            .fetchone()
        )
        return None if row is None or row[0] is None else from_iso(row[0])

    def record_attempt(
        self,
        item: DueDelivery,
        *,
        started_at: datetime,
        finished_at: datetime,
        outcome: Outcome,
        http_status: int | None,
        error: str | None,
        receipt: str | None,
        next_attempt_at: datetime | None,
    ) -> None:
        """Store one attempt and move the row on, in one commit: delivered, failed, or pending until its retry."""
        attempt = item.attempts + 1
        state = {
            Outcome.DELIVERED: DeliveryState.DELIVERED,
            Outcome.RETRY: DeliveryState.PENDING,
            Outcome.FAILED: DeliveryState.FAILED,
        }[outcome]
        with self._store.write() as conn:
            conn.execute(
                "INSERT INTO monthly_delivery_attempts (delivery_id, attempt, started_at, finished_at, outcome,"
                " http_status, error, receipt) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (item.id, attempt, to_iso(started_at), to_iso(finished_at), outcome.value, http_status, error, receipt),
            )
            conn.execute(
                "UPDATE monthly_deliveries SET attempts = ?, state = ?, next_attempt_at = ?, last_attempt_at = ?,"
                " http_status = ?, last_error = ?, receipt = COALESCE(?, receipt),"
                " delivered_at = CASE WHEN ? THEN ? ELSE delivered_at END WHERE id = ?",
                (
                    attempt,
                    state.value,
                    to_iso(next_attempt_at) if next_attempt_at else None,
                    to_iso(started_at),
                    http_status,
                    error,
                    receipt,
                    outcome is Outcome.DELIVERED,
                    to_iso(finished_at),
                    item.id,
                ),
            )

    def retry(self, month: str, actor: Actor, now: datetime) -> None:
        """An admin sends a refused month again (after the bureau fixed its side); audited naming the person."""
        at = to_iso(now)
        with self._store.write() as conn:
            row = conn.execute("SELECT state FROM monthly_deliveries WHERE month = ?", (month,)).fetchone()
            if row is None:
                raise NotFoundError("monthly_delivery", f"no monthly report queued for {month}")
            if row[0] != DeliveryState.FAILED.value:
                raise InvalidStateError("monthly_delivery", f"the report of {month} is {row[0]}, not failed")
            conn.execute(
                "UPDATE monthly_deliveries SET state = 'pending', next_attempt_at = ? WHERE month = ?", (at, month)
            )
            Store.audit(conn, at, actor, "monthly_report.retry", f"monthly_report:{month}", {"month": month})

    def latest(self, limit: int = 24) -> list[dict[str, Any]]:
        """The latest months' deliveries, newest first."""
        return self._select(f"SELECT {_COLUMNS} FROM monthly_deliveries ORDER BY month DESC LIMIT ?", (limit,))  # noqa: S608

    def get(self, month: str) -> dict[str, Any]:
        """One month's delivery with every attempt."""
        found = self._select(f"SELECT id, {_COLUMNS} FROM monthly_deliveries WHERE month = ?", (month,))  # noqa: S608
        if not found:
            raise NotFoundError("monthly_delivery", f"no monthly report queued for {month}")
        delivery = found[0]
        delivery["attempts_log"] = self._select(
            "SELECT attempt, started_at, finished_at, outcome, http_status, error, receipt"
            " FROM monthly_delivery_attempts WHERE delivery_id = ? ORDER BY attempt",
            (delivery.pop("id"),),
        )
        return delivery

    def body(self, month: str) -> bytes | None:
        row = self._store.connection().execute("SELECT body FROM monthly_deliveries WHERE month = ?", (month,))
        found = row.fetchone()
        return None if found is None else bytes(found[0])

    def counts(self) -> dict[str, int]:
        """Deliveries per state (for /metrics)."""
        rows = self._store.connection().execute("SELECT state, COUNT(*) FROM monthly_deliveries GROUP BY state")
        return {r[0]: r[1] for r in rows.fetchall()}

    def _select(self, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        cursor: sqlite3.Cursor = self._store.connection().execute(sql, args)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
