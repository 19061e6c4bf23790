"""SQL of fault tickets: opening, continuing and recovering them automatically, the closed loop people walk them
through, their SLA marks, and reading them with their log.

Shares the hub's SQLite file and write lock with `hub.store.Store`. `HealthStore` (`hub.store.health`) is a
`FaultStore`: a health change opens and recovers faults in the transaction that saves it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hub.core.clock import from_iso, to_iso
from hub.health.faults import FaultAction, FaultChange, FaultKind, FaultState, next_state, sla_deadline
from hub.store import Actor, InvalidStateError, NotFoundError, Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY,
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    source TEXT NOT NULL,
    summary TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    due_at TEXT NOT NULL,
    assignee TEXT,
    recovered_at TEXT,
    resume_state TEXT,
    verified_at TEXT,
    closed_at TEXT,
    breached_at TEXT,
    warned_fraction REAL NOT NULL DEFAULT 0,
    recurrences INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS faults_one_active
    ON faults(subject, kind) WHERE state IN ('registered', 'assigned', 'in_repair');
CREATE INDEX IF NOT EXISTS faults_state ON faults(state, due_at);
CREATE TABLE IF NOT EXISTS fault_log (
    id INTEGER PRIMARY KEY,
    fault_id INTEGER NOT NULL REFERENCES faults(id),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS fault_log_fault ON fault_log(fault_id);
"""
# faults 2: `noticed_at`, when the hub noticed a fault that began earlier (a silent device); NULL on older rows.
FAULTS_SCHEMA_VERSION = 2

SYSTEM = Actor("campus-hub", "system")
OVERRIDE = "recover_override"  # the fault_log action of a recovery made over the device's word
_ACTIVE_SQL = "('registered', 'assigned', 'in_repair')"


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """Something that happened to a fault automatically: opened, recurred or recovered."""

    fault_id: int
    subject: str
    kind: FaultKind
    what: str


FaultHook = Callable[[sqlite3.Connection, Sequence[FaultEvent], datetime], None]


class FaultStore:
    """Fault persistence on the hub's store."""

    def __init__(
        self, store: Store, recovery_hours: float, flap_window_s: float, *, on_fault_events: FaultHook | None = None
    ) -> None:
        self._store = store
        self._recovery_hours = recovery_hours
        self._flap = timedelta(seconds=flap_window_s)
        # Called inside the transaction that opened or recovered faults automatically (troubles to the centres).
        self._on_fault_events = on_fault_events

    def open(self) -> None:
        self._store.ensure_schema(SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Bring an older file's faults up to FAULTS_SCHEMA_VERSION (a column added; rows keep what they had)."""
        with self._store.write() as conn:
            columns = {r[1] for r in conn.execute("PRAGMA table_info(faults)").fetchall()}
            if "noticed_at" not in columns:
                conn.execute("ALTER TABLE faults ADD COLUMN noticed_at TEXT")
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema:faults', ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (str(FAULTS_SCHEMA_VERSION),),
            )

    def apply_fault_changes(
        self, conn: sqlite3.Connection, changes: Sequence[FaultChange], now: datetime
    ) -> list[FaultEvent]:
        """Open, continue (within the flap window) or recover faults; returns what happened."""
        events: list[FaultEvent] = []
        at = to_iso(now)
        for change in changes:
            if change.opening:
                events += self._open(conn, change, now)
                continue
            row = conn.execute(
                f"SELECT id, state FROM faults WHERE subject = ? AND kind = ? AND state IN {_ACTIVE_SQL}",  # noqa: S608
                (change.subject, change.kind.value),
            ).fetchone()
            if row is None:
                continue
            conn.execute(
                "UPDATE faults SET state = 'recovered', recovered_at = ?, resume_state = ? WHERE id = ?",
                (at, row[1], row[0]),
            )
            self._log(conn, row[0], at, SYSTEM.name, "recovered", change.summary)
            events.append(FaultEvent(row[0], change.subject, change.kind, "recovered"))
        if events and self._on_fault_events is not None:
            self._on_fault_events(conn, events, now)
        return events

    def _open(self, conn: sqlite3.Connection, change: FaultChange, now: datetime) -> list[FaultEvent]:
        at = to_iso(now)
        active = conn.execute(
            f"SELECT id FROM faults WHERE subject = ? AND kind = ? AND state IN {_ACTIVE_SQL}",  # noqa: S608
            (change.subject, change.kind.value),
        ).fetchone()
        if active is not None:
            return []
        flapped = conn.execute(
            "SELECT id, resume_state FROM faults WHERE subject = ? AND kind = ? AND state = 'recovered'"
            " AND recovered_at >= ? ORDER BY id DESC LIMIT 1",
            (change.subject, change.kind.value, to_iso(now - self._flap)),
        ).fetchone()
        if flapped is not None:
            # A brief recovery does not reset the clock: the same fault goes on, due when it always was.
            conn.execute(
                "UPDATE faults SET state = ?, recovered_at = NULL, resume_state = NULL,"
                " recurrences = recurrences + 1 WHERE id = ?",
                (flapped[1] or FaultState.REGISTERED.value, flapped[0]),
            )
            self._log(conn, flapped[0], at, SYSTEM.name, "recurred", change.summary)
            return [FaultEvent(flapped[0], change.subject, change.kind, "recurred")]
        # The clock starts when the failure began (a silent device: last heard + its heartbeat), never later than
        # now; when the hub noticed is kept beside it.
        began = min(change.started_at, now) if change.started_at is not None else now
        fault_id = self._insert(conn, change.subject, change.kind, "auto", change.summary, now, began)
        return [FaultEvent(fault_id, change.subject, change.kind, "opened")]

    def _insert(
        self,
        conn: sqlite3.Connection,
        subject: str,
        kind: FaultKind,
        source: str,
        summary: str,
        now: datetime,
        opened_at: datetime | None = None,
        hours: float | None = None,
    ) -> int:
        at = to_iso(now)
        opened = opened_at or now
        due = sla_deadline(opened, self._recovery_hours if hours is None else hours)
        cursor = conn.execute(
            "INSERT INTO faults (subject, kind, state, source, summary, opened_at, due_at, noticed_at)"
            " VALUES (?, ?, 'registered', ?, ?, ?, ?, ?)",
            (subject, kind.value, source, summary, to_iso(opened), to_iso(due), at),
        )
        fault_id = int(cursor.lastrowid or 0)
        self._log(conn, fault_id, at, SYSTEM.name if source == "auto" else source, "registered", summary)
        return fault_id

    def open_manual(
        self,
        subject: str,
        kind: FaultKind,
        summary: str,
        actor: Actor,
        now: datetime,
        deadline_hours: float | None = None,
    ) -> int:
        """A fault maintenance registers by hand (an inspection finding); audited. `deadline_hours` (inspection
        findings: the person's deadline) replaces the recovery rule's hours when given."""
        with self._store.write() as conn:
            if conn.execute(
                f"SELECT 1 FROM faults WHERE subject = ? AND kind = ? AND state IN {_ACTIVE_SQL}",  # noqa: S608
                (subject, kind.value),
            ).fetchone():
                raise InvalidStateError("fault", f"{subject} already has an open {kind} fault")
            fault_id = self._insert(conn, subject, kind, f"manual:{actor.name}", summary, now, hours=deadline_hours)
            detail = {"kind": kind, "summary": summary, "deadline_hours": deadline_hours}
            self._store.audit(conn, to_iso(now), actor, "fault.open", str(fault_id), detail)
        return fault_id

    def act(
        self,
        fault_id: int,
        action: FaultAction,
        actor: Actor,
        now: datetime,
        note: str,
        assignee: str | None,
        *,
        overriding: str | None = None,
    ) -> None:
        """One closed-loop step by a person; refused when the loop does not allow it from the current state.
        `overriding`: why the device said it still failed when the person recovered it anyway (logged as
        `recover_override` and audited so; the watcher re-checks and reopens it while the failure holds)."""
        at = to_iso(now)
        with self._store.write() as conn:
            row = conn.execute("SELECT state FROM faults WHERE id = ?", (fault_id,)).fetchone()
            if row is None:
                raise NotFoundError("fault", f"no fault {fault_id}")
            current = FaultState(row[0])
            target = next_state(current, action)
            if target is None:
                raise InvalidStateError("fault", f"a {current.value} fault cannot {action.value.replace('_', ' ')}")
            column = {
                FaultState.RECOVERED: "recovered_at",
                FaultState.VERIFIED: "verified_at",
                FaultState.CLOSED: "closed_at",
            }.get(target)
            sets = ["state = ?"] + ([f"{column} = ?"] if column else [])
            args: list[Any] = [target.value] + ([at] if column else [])
            if action is FaultAction.ASSIGN:
                sets.append("assignee = ?")
                args.append(assignee)
            if target is FaultState.RECOVERED:
                sets.append("resume_state = ?")
                args.append(current.value)
            conn.execute(f"UPDATE faults SET {', '.join(sets)} WHERE id = ?", (*args, fault_id))  # noqa: S608
            text = note if not assignee else f"assigned to {assignee}. {note}".strip()
            step = action.value
            detail: dict[str, Any] = {"note": note, "to": assignee}
            if overriding is not None and action is FaultAction.RECOVER:
                step = OVERRIDE
                text = f"{note} (override: {overriding})".strip()
                detail["still_failing"] = overriding
            self._log(conn, fault_id, at, actor.name, step, text)
            self._store.audit(conn, at, actor, f"fault.{step}", str(fault_id), detail)

    def overridden_recoveries(self) -> list[tuple[int, str, FaultKind]]:
        """(id, subject, kind) of automatic faults a person marked recovered over the device's word, not yet
        verified: the watcher re-checks them."""
        rows = (
            self._store.connection()
            .execute(
                "SELECT f.id, f.subject, f.kind FROM faults f WHERE f.state = 'recovered' AND f.source = 'auto'"
                " AND (SELECT l.action FROM fault_log l WHERE l.fault_id = f.id AND l.action != 'note'"
                " ORDER BY l.id DESC LIMIT 1) = ?",
                (OVERRIDE,),
            )
            .fetchall()
        )
        return [(r[0], r[1], FaultKind(r[2])) for r in rows]

    def reopen_overridden(self, fault_id: int, now: datetime, why: str) -> bool:
        """Put an overridden recovery back where it was (its clock never stopped: opened and due stay)."""
        at = to_iso(now)
        with self._store.write() as conn:
            row = conn.execute("SELECT resume_state FROM faults WHERE id = ? AND state = 'recovered'", (fault_id,))
            found = row.fetchone()
            if found is None:
                return False
            conn.execute(
                "UPDATE faults SET state = ?, recovered_at = NULL, resume_state = NULL WHERE id = ?",
                (found[0] or FaultState.REGISTERED.value, fault_id),
            )
            self._log(conn, fault_id, at, SYSTEM.name, "reopened", f"override re-checked: {why}")
        return True

    def add_note(self, fault_id: int, actor: Actor, now: datetime, note: str) -> None:
        at = to_iso(now)
        with self._store.write() as conn:
            if conn.execute("SELECT 1 FROM faults WHERE id = ?", (fault_id,)).fetchone() is None:
                raise NotFoundError("fault", f"no fault {fault_id}")
            self._log(conn, fault_id, at, actor.name, "note", note)
            self._store.audit(conn, at, actor, "fault.note", str(fault_id), {"note": note})

    @staticmethod
    def _log(conn: sqlite3.Connection, fault_id: int, at: str, actor: str, action: str, note: str) -> None:
        conn.execute(
            "INSERT INTO fault_log (fault_id, at, actor, action, note) VALUES (?, ?, ?, ?, ?)",
            (fault_id, at, actor, action, note),
        )

    # --- SLA watch -------------------------------------------------------------------------------------------------

    def open_subjects(self, kind: FaultKind) -> set[str]:
        """Subjects with an active fault of this kind."""
        rows = (
            self._store.connection()
            .execute(
                f"SELECT subject FROM faults WHERE kind = ? AND state IN {_ACTIVE_SQL}",  # noqa: S608
                (kind.value,),
            )
            .fetchall()
        )
        return {r[0] for r in rows}

    def apply_changes(self, changes: Sequence[FaultChange], now: datetime) -> list[FaultEvent]:
        """`apply_fault_changes` in a transaction of its own (for faults not caused by an ingest batch)."""
        with self._store.write() as conn:
            return self.apply_fault_changes(conn, changes, now)

    def active_faults(self) -> list[tuple[int, str, str, datetime, datetime, float, str | None]]:
        """(id, subject, kind, opened_at, due_at, warned_fraction, breached_at) of faults whose clock runs."""
        rows = (
            self._store.connection()
            .execute(
                "SELECT id, subject, kind, opened_at, due_at, warned_fraction, breached_at FROM faults"  # noqa: S608
                f" WHERE state IN {_ACTIVE_SQL}"
            )
            .fetchall()
        )
        return [(r[0], r[1], r[2], from_iso(r[3]), from_iso(r[4]), r[5], r[6]) for r in rows]

    def record_sla(self, fault_id: int, now: datetime, warned: float, breached: bool, note: str) -> None:
        at = to_iso(now)
        with self._store.write() as conn:
            conn.execute(
                "UPDATE faults SET warned_fraction = MAX(warned_fraction, ?),"
                " breached_at = CASE WHEN ? THEN COALESCE(breached_at, ?) ELSE breached_at END WHERE id = ?",
                (warned, breached, at, fault_id),
            )
            self._log(conn, fault_id, at, SYSTEM.name, "sla_breach" if breached else "sla_warning", note)

    def late_recoveries_unmarked(self) -> list[tuple[int, datetime]]:
        """Faults recovered after their deadline whose breach was not yet recorded (the watcher was not running)."""
        rows = (
            self._store.connection()
            .execute(
                "SELECT id, recovered_at FROM faults WHERE breached_at IS NULL AND recovered_at IS NOT NULL"
                " AND recovered_at > due_at"
            )
            .fetchall()
        )
        return [(r[0], from_iso(r[1])) for r in rows]

    # --- reading -------------------------------------------------------------------------------------------------

    def list_faults(
        self, states: Sequence[FaultState] | None = None, subject: str | None = None
    ) -> list[dict[str, Any]]:
        sql = "SELECT * FROM faults"
        where: list[str] = []
        args: list[Any] = []
        if states:
            where.append(f"state IN ({','.join('?' * len(states))})")
            args += [s.value for s in states]
        if subject:
            where.append("subject = ?")
            args.append(subject)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY (state IN ('verified', 'closed')), due_at LIMIT 1000"
        conn = self._store.connection()
        conn.row_factory = sqlite3.Row
        try:
            return [dict(row) for row in conn.execute(sql, args).fetchall()]
        finally:
            conn.row_factory = None

    def get_fault(self, fault_id: int) -> dict[str, Any]:
        conn = self._store.connection()
        conn.row_factory = sqlite3.Row
        try:
            row = conn.execute("SELECT * FROM faults WHERE id = ?", (fault_id,)).fetchone()
            if row is None:
                raise NotFoundError("fault", f"no fault {fault_id}")
            fault = dict(row)
            fault["log"] = [
                dict(r)
                for r in conn.execute(
                    "SELECT at, actor, action, note FROM fault_log WHERE fault_id = ? ORDER BY id", (fault_id,)
                ).fetchall()
            ]
            return fault
        finally:
            conn.row_factory = None
