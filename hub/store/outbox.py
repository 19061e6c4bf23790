"""The outbox: one row per alarm (or device trouble) and endpoint, what is due, each attempt, and failover's legs.

A row carries an alarm (`alarm`, or `restore` once it is closed) or a device trouble (`trouble`, `trouble_restore`);
the forwarders get the alarm or trouble as a typed record read with the row (`OutboxAlarm`, `OutboxTrouble`), never
as the columns' names. Alarm rows are added with their alarm (`hub.store.alarms`), trouble rows in the transaction
that opens or recovers the fault (`enqueue_trouble*`, called by `alerts.troubles` from the health store's hook).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alerts.model import DeliveryState
from hub.core.clock import from_iso, to_iso
from hub.store.db import Database, NotFoundError

# Troubles sort after every alarm priority (1, 2) and the alarm query never reads them (`priority < ?` on the index).
TROUBLE_PRIORITY = 100


@dataclass(frozen=True, slots=True)
class OutboxAlarm:
    """The alarm an outbox row carries, as its forwarder sends it."""

    kind: str
    device: dict[str, Any]
    occurred_at: str
    raised_at: str
    trigger_count: int
    reason: str
    detail: dict[str, Any]
    closed_at: str | None
    disposition: str | None


@dataclass(frozen=True, slots=True)
class OutboxTrouble:
    """A device trouble as it was first sent (the registry entry of then, not of now), and its occurrence."""

    occurrence: int
    kind: str
    subject: str
    summary: str
    device: dict[str, Any] | None
    opened_at: str
    occurred_at: str  # when this trouble began, or (restore) ended
    recovered_at: str | None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One alarm (or device trouble) waiting for one endpoint, with what the forwarder needs to build the request.

    An alarm row has `alarm`; a trouble row has `fault_id` and `trouble`, and its `alarm_id` is the trouble's key
    (`trouble:<fault>.<occurrence>`).
    """

    id: int
    alarm_id: str
    endpoint: str
    priority: int
    attempts: int
    alarm: OutboxAlarm | None
    event: str = "alarm"
    fault_id: int | None = None
    trouble: OutboxTrouble | None = None

    @property
    def began_at(self) -> str:
        """When the alarm was raised or the trouble began (or ended, for a restore): what delivery time counts from."""
        if self.alarm is not None:
            return self.alarm.raised_at
        if self.trouble is not None:
            return self.trouble.occurred_at
        raise ValueError(f"outbox row {self.id} carries neither an alarm nor a trouble")


@dataclass(frozen=True, slots=True)
class Leg:
    """One endpoint's share of one alarm, as failover sees it."""

    outbox_id: int
    position: int
    state: str
    attempts: int


def _trouble(subject: dict[str, Any], occurrence: int) -> OutboxTrouble:
    # Read as leniently as the JSON was once read by key: a field missing from an old row is sent as before.
    recovered = subject.get("recovered_at")
    return OutboxTrouble(
        occurrence=int(occurrence),
        kind=str(subject.get("kind")),
        subject=str(subject.get("subject")),
        summary=str(subject.get("summary", "")),
        device=subject.get("device"),
        opened_at=str(subject.get("opened_at")),
        occurred_at=str(subject.get("occurred_at")),
        recovered_at=None if recovered is None else str(recovered),
    )


class OutboxRows(Database):
    """The outbox workers' and failover's reads and writes, and the API's view of a fault's troubles."""

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
                alarm=OutboxAlarm(
                    kind=r[5],
                    device=json.loads(r[6]),
                    occurred_at=r[7],
                    raised_at=r[8],
                    trigger_count=r[9],
                    reason=r[10],
                    detail=json.loads(r[11]),
                    closed_at=r[13],
                    disposition=r[14],
                ),
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
                alarm=None,
                event=r[6],
                fault_id=r[4],
                trouble=_trouble(json.loads(r[7]), r[5]),
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


# --- rows added in other subjects' transactions ---------------------------------------------------------------


def insert_alarm_legs(
    conn: sqlite3.Connection, alarm_id: str, priority: int, raised: str, endpoints: Sequence[str], live: int | None
) -> None:
    """One outbox row per endpoint of a new alarm, in order: the first `live` (all when None) pending, the rest on
    standby for failover."""
    live_count = len(endpoints) if live is None else live
    conn.executemany(
        "INSERT INTO outbox (alarm_id, endpoint, position, state, priority, created_at, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (alarm_id, name, position, "pending" if position < live_count else "standby", priority, raised, raised)
            for position, name in enumerate(endpoints)
        ],
    )


def close_alarm_legs(conn: sqlite3.Connection, alarm_id: str, now: str) -> list[str]:
    """A closed alarm's undelivered legs are cancelled and each delivered one gets a `restore` behind it; returns the
    endpoints cancelled."""
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
    return cancelled


# Device troubles, written by the health store's hook in the transaction that opens or recovers the fault.


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
