"""Alarms: opening one with its outbox rows, its triggers, acknowledge and close, follow-up reports, and the
alarm as the API shows it.

A partial unique index keeps one active alarm per device, and an alarm and its outbox rows are written in one
transaction, so a crash or a redelivered message can never open a second one.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from alerts.model import AlarmKind, AlarmState, DeliveryState, Disposition
from hub.core.clock import to_iso
from hub.store.audit import Actor, write_audit
from hub.store.db import Database, InvalidStateError, NotFoundError, TransactionBase
from hub.store.outbox import close_alarm_legs, insert_alarm_legs


@dataclass(frozen=True, slots=True)
class ActiveAlarm:
    id: str
    kind: AlarmKind


class AlarmWrites(TransactionBase):
    """Ingest's alarm writes, inside its batch transaction."""

    def active_alarm(self, device_id: str) -> ActiveAlarm | None:
        row = self._conn.execute(
            "SELECT id, kind FROM alarms WHERE device_id = ? AND state != 'closed'", (device_id,)
        ).fetchone()
        return None if row is None else ActiveAlarm(row[0], AlarmKind(row[1]))

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
    ) -> str:
        """Insert an open alarm and one outbox row per endpoint, in order; returns the alarm id.

        The first `live` endpoints (all when None) are pending at once; the rest wait on standby for failover.
        """
        alarm_id = str(uuid.uuid4())
        raised = to_iso(raised_at)
        self._conn.execute(
            "INSERT INTO alarms (id, device_id, kind, priority, state, reason, detail, device, occurred_at, raised_at,"
            " trigger_count, last_trigger_at) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, 1, ?)",
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
            ),
        )
        self._conn.execute(
            "INSERT INTO alarm_triggers (alarm_id, at, seq, reason) VALUES (?, ?, ?, ?)",
            (alarm_id, raised, seq, reason),
        )
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

    def list_alarms(self, state: AlarmState | None = None, limit: int = 200) -> list[dict[str, Any]]:
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
            return [self._alarm_dict(conn, row) for row in rows]
        finally:
            conn.row_factory = None

    def get_alarm(self, alarm_id: str) -> dict[str, Any]:
        conn = self._conn()
        conn.row_factory = sqlite3.Row
        try:
            row = conn.execute("SELECT * FROM alarms WHERE id = ?", (alarm_id,)).fetchone()
            if row is None:
                raise NotFoundError("alarm", f"no alarm {alarm_id}")
            return self._alarm_dict(conn, row, with_attempts=True)
        finally:
            conn.row_factory = None

    def _alarm_dict(self, conn: sqlite3.Connection, row: sqlite3.Row, with_attempts: bool = False) -> dict[str, Any]:
        alarm = {
            "id": row["id"],
            "number": row["number"],
            "kind": row["kind"],
            "priority": row["priority"],
            "state": row["state"],
            "reason": row["reason"],
            "detail": json.loads(row["detail"]),
            "device": json.loads(row["device"]),
            "occurred_at": row["occurred_at"],
            "raised_at": row["raised_at"],
            "trigger_count": row["trigger_count"],
            "last_trigger_at": row["last_trigger_at"],
            "acknowledged_at": row["acknowledged_at"],
            "acknowledged_by": row["acknowledged_by"],
            "closed_at": row["closed_at"],
            "closed_by": row["closed_by"],
            "close_note": row["close_note"],
            "disposition": row["disposition"],
        }
        deliveries = []
        for out in conn.execute(
            "SELECT * FROM outbox WHERE alarm_id = ? ORDER BY event = 'restore', position", (row["id"],)
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
                    {
                        k: a[k]
                        for k in (
                            "attempt",
                            "started_at",
                            "finished_at",
                            "outcome",
                            "http_status",
                            "error",
                            "receipt",
                        )
                    }
                    for a in conn.execute(
                        "SELECT * FROM delivery_attempts WHERE outbox_id = ? ORDER BY attempt", (out["id"],)
                    ).fetchall()
                ]
            deliveries.append(delivery)
        alarm["deliveries"] = deliveries
        alarm["triggers"] = [
            {"at": t[0], "seq": t[1], "reason": t[2]}
            for t in conn.execute(
                "SELECT at, seq, reason FROM alarm_triggers WHERE alarm_id = ? ORDER BY id", (row["id"],)
            ).fetchall()
        ]
        alarm["reports"] = [
            {"type": r[0], "at": r[1], "by": r[2], "note": r[3], "recorded_at": r[4], "recorded_by": r[5]}
            for r in conn.execute(
                "SELECT type, at, by, note, recorded_at, recorded_by FROM alarm_reports WHERE alarm_id = ?"
                " ORDER BY at, id",
                (row["id"],),
            ).fetchall()
        ]
        return alarm

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

    def duty_candidates(self, kinds: Sequence[str]) -> list[tuple[str, str, str, str | None, list[tuple[str, str]]]]:
        """(id, kind, raised_at, disposition, [(report type, at)]) of alarms that may still owe a report."""
        if not kinds:
            return []
        marks = ",".join("?" * len(kinds))
        conn = self._conn()
        rows = conn.execute(
            f"SELECT id, kind, raised_at, disposition FROM alarms WHERE kind IN ({marks})"  # noqa: S608
            " AND (disposition IS NULL OR disposition = 'real')"
            " AND (SELECT COUNT(DISTINCT type) FROM alarm_reports r WHERE r.alarm_id = alarms.id) < 2",
            tuple(kinds),
        ).fetchall()
        out = []
        for alarm_id, kind, raised_at, disposition in rows:
            reports = conn.execute("SELECT type, at FROM alarm_reports WHERE alarm_id = ?", (alarm_id,)).fetchall()
            out.append((alarm_id, kind, raised_at, disposition, [(t, a) for t, a in reports]))
        return out

    @staticmethod
    def _state_of(conn: sqlite3.Connection, alarm_id: str) -> AlarmState:
        row = conn.execute("SELECT state FROM alarms WHERE id = ?", (alarm_id,)).fetchone()
        if row is None:
            raise NotFoundError("alarm", f"no alarm {alarm_id}")
        return AlarmState(row[0])
