"""The outbox: one row per alarm (or device trouble) and endpoint, what is due, each attempt, and failover's legs.

A row carries an alarm (`alarm`, or `restore` once it is closed) or a device trouble (`trouble`, `trouble_restore`);
the forwarders get the alarm or trouble as a typed record read with the row (`OutboxAlarm`, `OutboxTrouble`), never
as the columns' names. The rows themselves are added in other subjects' transactions (`hub.store.legs`).

The retry state is the row's: `attempts` and `next_attempt_at` (when a row waiting on back-off may go again), so a
restart keeps the back-off; a row is due when `next_attempt_at` is unset or past.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alerts.model import DeliveryState
from hub.core.clock import from_iso, to_iso
from hub.store.db import Database
from hub.store.legs import TROUBLE_PRIORITY as TROUBLE_PRIORITY  # re-exported: hub.store's names stay where they were
from hub.store.legs import enqueue_restores
from hub.store.legs import enqueue_trouble as enqueue_trouble
from hub.store.legs import enqueue_trouble_restore as enqueue_trouble_restore


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


# A pending row is due when it waits for no time, or its time has come, or (the second value bound, not NULL) it waits
# longer than any back-off: the wall clock went back after it was written, and an alarm must not wait out the jump.
_DUE = " AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= ? OR o.next_attempt_at > ?)"


class OutboxRows(Database):
    """The outbox workers' and failover's reads and writes, and the API's view of a fault's troubles."""

    def due_outbox(
        self, endpoint: str, exclude: Sequence[int], limit: int, *, max_backoff_s: float | None = None
    ) -> list[OutboxItem]:
        """Due alarm rows of an endpoint, priority first then oldest, skipping those already in flight.

        With `max_backoff_s` (the longest retry delay), a row set to wait longer than that from now is due too.
        """
        placeholders = ",".join("?" * len(exclude))
        # Only "?" placeholders and fixed clauses are formatted in; every value is bound.
        sql = (
            "SELECT o.id, o.alarm_id, o.endpoint, o.priority, o.attempts, a.kind, a.device, a.occurred_at,"  # noqa: S608
            " a.raised_at, a.trigger_count, a.reason, a.detail, o.event, a.closed_at, a.disposition"
            " FROM outbox o JOIN alarms a ON a.id = o.alarm_id"
            " WHERE o.endpoint = ? AND o.state = 'pending' AND o.priority < ?"
            + _DUE
            + (f" AND o.id NOT IN ({placeholders})" if exclude else "")
            + " ORDER BY o.priority, o.created_at, o.id LIMIT ?"
        )
        args = (endpoint, TROUBLE_PRIORITY, *self._due_args(max_backoff_s), *exclude, limit)
        rows = self._conn().execute(sql, args).fetchall()
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

    def due_troubles(
        self, endpoint: str, exclude: Sequence[int], limit: int, *, max_backoff_s: float | None = None
    ) -> list[OutboxItem]:
        """Due trouble rows of an endpoint, oldest first; a restore waits until its trouble is no longer pending."""
        placeholders = ",".join("?" * len(exclude))
        sql = (
            "SELECT o.id, o.endpoint, o.priority, o.attempts, o.fault_id, o.occurrence, o.event, o.subject"  # noqa: S608
            " FROM outbox o WHERE o.endpoint = ? AND o.state = 'pending' AND o.priority >= ?"
            " AND o.fault_id IS NOT NULL"
            + _DUE
            + (f" AND o.id NOT IN ({placeholders})" if exclude else "")
            + " AND NOT (o.event = 'trouble_restore' AND EXISTS (SELECT 1 FROM outbox t WHERE t.fault_id = o.fault_id"
            " AND t.occurrence = o.occurrence AND t.endpoint = o.endpoint AND t.event = 'trouble'"
            " AND t.state = 'pending'))"
            " ORDER BY o.priority, o.created_at, o.id LIMIT ?"
        )
        args = (endpoint, TROUBLE_PRIORITY, *self._due_args(max_backoff_s), *exclude, limit)
        rows = self._conn().execute(sql, args).fetchall()
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

    def next_retry_at(self, endpoint: str, *, max_backoff_s: float | None = None) -> datetime | None:
        """When the endpoint's next row waiting on back-off becomes due (None: none waits), for the worker's sleep.

        Rows already due are not counted: they are in flight, waiting for a free slot, or a trouble restore behind its
        trouble, and each of those is woken by an attempt being recorded, not by time.
        """
        now = self._clock.now()
        sql = "SELECT MIN(next_attempt_at) FROM outbox WHERE endpoint = ? AND state = 'pending' AND next_attempt_at > ?"
        args: list[str] = [endpoint, to_iso(now)]
        if max_backoff_s is not None:
            sql += " AND next_attempt_at <= ?"
            args.append(to_iso(now + timedelta(seconds=max_backoff_s)))
        row = self._conn().execute(sql, args).fetchone()
        return None if row is None or row[0] is None else from_iso(row[0])

    def _due_args(self, max_backoff_s: float | None) -> tuple[str, str | None]:
        """The values of `_DUE`: now, and how far ahead no back-off reaches (None: no such limit)."""
        now = self._clock.now()
        return to_iso(now), None if max_backoff_s is None else to_iso(now + timedelta(seconds=max_backoff_s))

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
    ) -> bool:
        """Store one attempt and move the outbox row to its new state (still pending, until `next_attempt_at`, on a
        retryable failure). Returns True when the delivery was of a leg whose alarm was closed meanwhile, and that
        leg's restore was added.

        A leg cancelled while its attempt was in flight (the alarm was closed, or failover stood it down) stays
        cancelled unless the attempt delivered: then the centre has the alarm, the leg is delivered, and a closed
        alarm's restore for that endpoint is added in the same commit. A delivery also proves the path works: the
        endpoint's rows waiting on back-off are due at once. With `stand_down_others` (failover mode), a delivery
        cancels the alarm's other legs in the same commit.
        """
        now = self._clock.now()
        attempt = item.attempts + 1
        delivered = outcome is DeliveryState.DELIVERED
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
            # A cancelled leg whose attempt did not deliver stays as it was cancelled: its reason stays on the row
            # (this attempt's error is in the history) and it gets no retry time.
            conn.execute(
                "UPDATE outbox SET attempts = ?, last_attempt_at = ?, http_status = ?,"
                " last_error = CASE WHEN state = 'cancelled' AND NOT ? THEN last_error ELSE ? END,"
                " state = CASE WHEN state = 'cancelled' AND NOT ? THEN state ELSE ? END,"
                " next_attempt_at = CASE WHEN state = 'cancelled' AND NOT ? THEN NULL ELSE ? END,"
                " receipt = COALESCE(?, receipt),"
                " delivered_at = CASE WHEN ? THEN ? ELSE delivered_at END,"
                " latency_ms = COALESCE(?, latency_ms) WHERE id = ?",
                (
                    attempt,
                    to_iso(started_at),
                    http_status,
                    delivered,
                    error,
                    delivered,
                    outcome.value,
                    delivered,
                    to_iso(next_attempt_at) if next_attempt_at else None,
                    receipt,
                    delivered,
                    to_iso(now),
                    latency_ms,
                    item.id,
                ),
            )
            if not delivered:
                return False
            conn.execute(
                "UPDATE outbox SET next_attempt_at = ? WHERE endpoint = ? AND state = 'pending'"
                " AND next_attempt_at > ?",
                (to_iso(now), item.endpoint, to_iso(now)),
            )
            if stand_down_others:
                conn.execute(
                    "UPDATE outbox SET state = 'cancelled', next_attempt_at = NULL, last_error = ?"
                    " WHERE alarm_id = ? AND id != ? AND event = 'alarm' AND state IN ('pending', 'standby')",
                    (f"not needed: delivered via {item.endpoint}", item.alarm_id, item.id),
                )
            if item.fault_id is None and item.event == "alarm":
                return enqueue_restores(conn, item.alarm_id, to_iso(now), leg_id=item.id) > 0
            return False

    def standby_alarms(self) -> list[tuple[datetime, list[Leg]]]:
        """(raised_at, legs) of every alarm that still has a standby leg."""
        rows = (
            self._conn()
            .execute(
                "SELECT o.alarm_id, a.raised_at, o.id, o.position, o.state, o.attempts FROM outbox o"
                " JOIN alarms a ON a.id = o.alarm_id"
                " WHERE o.alarm_id IN (SELECT alarm_id FROM outbox WHERE state = 'standby') AND o.event = 'alarm'"
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
