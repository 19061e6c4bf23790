"""Alarms: opening one with its outbox rows, its triggers, acknowledge and close, follow-up reports, and the
alarm as the API shows it (`AlarmView`).

A partial unique index keeps one active alarm per device, and an alarm and its outbox rows are written in one
transaction, so a crash or a redelivered message can never open a second one.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypedDict

from alerts.model import AlarmKind, AlarmState, DeliveryState, Disposition
from hub.core.clock import to_iso
from hub.store.audit import Actor, write_audit
from hub.store.db import Database, InvalidStateError, NotFoundError, TransactionBase
from hub.store.legs import close_alarm_legs, insert_alarm_legs, make_alarm_real


@dataclass(frozen=True, slots=True)
class ActiveAlarm:
    id: str
    kind: AlarmKind
    test: bool = False


class DutyCandidate(NamedTuple):
    """An alarm that may still owe a follow-up report (a tuple, so callers may unpack it)."""

    alarm_id: str
    kind: str
    raised_at: str
    disposition: str | None
    reports: list[tuple[str, str]]  # (report type, at) of the reports made so far


class TriggerView(TypedDict):
    at: str
    seq: int | None
    reason: str


class ReportView(TypedDict):
    type: str
    at: str
    by: str
    note: str
    recorded_at: str
    recorded_by: str


class AlarmView(TypedDict):
    """An alarm as the API returns it: its row, its deliveries, triggers and reports (a dict at run time, so the
    JSON is the dict as built).

    A delivery stays a plain dict: it has `history` (its attempts) only in `get_alarm`, and callers pass it on as a
    mapping.
    """

    id: str
    number: int
    kind: str
    priority: int
    state: str
    reason: str
    detail: dict[str, Any]
    device: dict[str, Any]
    occurred_at: str
    raised_at: str
    trigger_count: int
    last_trigger_at: str
    acknowledged_at: str | None
    acknowledged_by: str | None
    closed_at: str | None
    closed_by: str | None
    close_note: str | None
    disposition: str | None
    test: bool
    deliveries: list[dict[str, Any]]
    triggers: list[TriggerView]
    reports: list[ReportView]


class AlarmWrites(TransactionBase):
    """Ingest's alarm writes, inside its batch transaction."""

    def active_alarm(self, device_id: str) -> ActiveAlarm | None:
        row = self._conn.execute(
            "SELECT id, kind, test FROM alarms WHERE device_id = ? AND state != 'closed'", (device_id,)
        ).fetchone()
        return None if row is None else ActiveAlarm(row[0], AlarmKind(row[1]), bool(row[2]))

    def promote_test_alarm(self, alarm_id: str, at: datetime, endpoints: Sequence[str], live: int | None) -> None:
        """A test alarm still open when its device, no longer on test, triggers again becomes a real one, forwarded
        from now (its pending test signals cancelled): a press off test must never be latched onto a test."""
        row = self._conn.execute("SELECT priority FROM alarms WHERE id = ? AND test = 1", (alarm_id,)).fetchone()
        if row is None:
            return
        self._conn.execute("UPDATE alarms SET test = 0 WHERE id = ?", (alarm_id,))
        make_alarm_real(self._conn, alarm_id, row[0], to_iso(at), endpoints, live)

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
        test: bool = False,
    ) -> str:
        """Insert an open alarm and one outbox row per endpoint, in order; returns the alarm id.

        The first `live` endpoints (all when None) are pending at once; the rest wait on standby for failover. An
        alarm raised on test (`test`) gets a `test` row per endpoint instead, all pending: the test signal of each
        endpoint that takes one, and no alarm.
        """
        alarm_id = str(uuid.uuid4())
        raised = to_iso(raised_at)
        self._conn.execute(
            "INSERT INTO alarms (id, device_id, kind, priority, state, reason, detail, device, occurred_at, raised_at,"
            " trigger_count, last_trigger_at, test) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, 1, ?, ?)",
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
                int(test),
            ),
        )
        self._conn.execute(
            "INSERT INTO alarm_triggers (alarm_id, at, seq, reason) VALUES (?, ?, ?, ?)",
            (alarm_id, raised, seq, reason),
        )
        if test:
            insert_alarm_legs(self._conn, alarm_id, priority, raised, endpoints, None, event="test")
        else:
            insert_alarm_legs(self._conn, alarm_id, priority, raised, endpoints, live)
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


class AlarmRows(Database):
    """The guard's alarm reads and state changes, each change audited in its own transaction."""

    def list_alarms(self, state: AlarmState | None = None, limit: int = 200) -> list[AlarmView]:
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
            return [self._alarm_view(conn, row) for row in rows]
        finally:
            conn.row_factory = None

    def get_alarm(self, alarm_id: str) -> AlarmView:
        conn = self._conn()
        conn.row_factory = sqlite3.Row
        try:
            row = conn.execute("SELECT * FROM alarms WHERE id = ?", (alarm_id,)).fetchone()
            if row is None:
                raise NotFoundError("alarm", f"no alarm {alarm_id}")
            return self._alarm_view(conn, row, with_attempts=True)
        finally:
            conn.row_factory = None

    def _alarm_view(self, conn: sqlite3.Connection, row: sqlite3.Row, with_attempts: bool = False) -> AlarmView:
        alarm_id = row["id"]
        # Keys in the order the API has always sent them.
        return AlarmView(
            id=alarm_id,
            number=row["number"],
            kind=row["kind"],
            priority=row["priority"],
            state=row["state"],
            reason=row["reason"],
            detail=json.loads(row["detail"]),
            device=json.loads(row["device"]),
            occurred_at=row["occurred_at"],
            raised_at=row["raised_at"],
            trigger_count=row["trigger_count"],
            last_trigger_at=row["last_trigger_at"],
            acknowledged_at=row["acknowledged_at"],
            acknowledged_by=row["acknowledged_by"],
            closed_at=row["closed_at"],
            closed_by=row["closed_by"],
            close_note=row["close_note"],
            disposition=row["disposition"],
            test=bool(row["test"]),
            deliveries=_deliveries(conn, alarm_id, with_attempts),
            triggers=[
                TriggerView(at=t[0], seq=t[1], reason=t[2])
                for t in conn.execute(
                    "SELECT at, seq, reason FROM alarm_triggers WHERE alarm_id = ? ORDER BY id", (alarm_id,)
                ).fetchall()
            ],
            reports=[
                ReportView(type=r[0], at=r[1], by=r[2], note=r[3], recorded_at=r[4], recorded_by=r[5])
                for r in conn.execute(
                    "SELECT type, at, by, note, recorded_at, recorded_by FROM alarm_reports WHERE alarm_id = ?"
                    " ORDER BY at, id",
                    (alarm_id,),
                ).fetchall()
            ],
        )

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
            write_audit(conn, now, actor, "alarm.acknowledge", alarm_id, {})

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
            cancelled = close_alarm_legs(conn, alarm_id, now)
            detail: dict[str, Any] = {"note": note, "disposition": disposition.value if disposition else None}
            if cancelled:
                detail["undelivered_endpoints"] = cancelled
            write_audit(conn, now, actor, "alarm.close", alarm_id, detail)
        return cancelled

    def make_real(
        self, alarm_id: str, actor: Actor, endpoints_for: Callable[[AlarmKind], Sequence[str]], live: int | None
    ) -> list[str]:
        """A test alarm is real after all (the guard says so): it stops being a test, gets its alarm legs (the
        endpoints that take its kind, due now) and its pending test signals are cancelled, audited in the same
        transaction. Returns the endpoints it now goes to."""
        now = to_iso(self._clock.now())
        with self._write() as conn:
            row = conn.execute("SELECT state, test, kind, priority FROM alarms WHERE id = ?", (alarm_id,)).fetchone()
            if row is None:
                raise NotFoundError("alarm", f"no alarm {alarm_id}")
            if not row[1]:
                raise InvalidStateError("alarm", "the alarm is not a test: it is forwarded already")
            if row[0] == AlarmState.CLOSED:
                raise InvalidStateError("alarm", "the alarm is closed; a new press raises a new alarm")
            conn.execute("UPDATE alarms SET test = 0 WHERE id = ?", (alarm_id,))
            sent_to = make_alarm_real(conn, alarm_id, row[3], now, endpoints_for(AlarmKind(row[2])), live)
            write_audit(conn, now, actor, "alarm.real", alarm_id, {"endpoints": sent_to})
        return sent_to

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
            write_audit(conn, now, actor, "alarm.report", alarm_id, {"type": report_type, "at": to_iso(at), "by": by})

    def duty_candidates(self, kinds: Sequence[str]) -> list[DutyCandidate]:
        """Alarms of these kinds that may still owe a report, with the reports made so far."""
        if not kinds:
            return []
        marks = ",".join("?" * len(kinds))
        conn = self._conn()
        rows = conn.execute(
            f"SELECT id, kind, raised_at, disposition FROM alarms WHERE kind IN ({marks})"  # noqa: S608
            " AND test = 0 AND (disposition IS NULL OR disposition = 'real')"
            " AND (SELECT COUNT(DISTINCT type) FROM alarm_reports r WHERE r.alarm_id = alarms.id) < 2",
            tuple(kinds),
        ).fetchall()
        out: list[DutyCandidate] = []
        for alarm_id, kind, raised_at, disposition in rows:
            reports = conn.execute("SELECT type, at FROM alarm_reports WHERE alarm_id = ?", (alarm_id,)).fetchall()
            out.append(DutyCandidate(alarm_id, kind, raised_at, disposition, [(t, a) for t, a in reports]))
        return out

    @staticmethod
    def _state_of(conn: sqlite3.Connection, alarm_id: str) -> AlarmState:
        row = conn.execute("SELECT state FROM alarms WHERE id = ?", (alarm_id,)).fetchone()
        if row is None:
            raise NotFoundError("alarm", f"no alarm {alarm_id}")
        return AlarmState(row[0])


# A delivery attempt's columns as the API shows them.
_ATTEMPT_KEYS = ("attempt", "started_at", "finished_at", "outcome", "http_status", "error", "receipt")


def _deliveries(conn: sqlite3.Connection, alarm_id: str, with_attempts: bool) -> list[dict[str, Any]]:
    """Each leg (and restore) of an alarm with its state; with its attempts when `with_attempts`."""
    deliveries = []
    for out in conn.execute(
        "SELECT * FROM outbox WHERE alarm_id = ? ORDER BY event = 'restore', position", (alarm_id,)
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
                {k: a[k] for k in _ATTEMPT_KEYS}
                for a in conn.execute(
                    "SELECT * FROM delivery_attempts WHERE outbox_id = ? ORDER BY attempt", (out["id"],)
                ).fetchall()
            ]
        deliveries.append(delivery)
    return deliveries
