"""The ledger's rows on the hub's SQLite file: hazards and the signed steps of their closed loop, incidents and their
follow-up reports. Every change by a person is written with its audit row (naming that person) in one transaction.

The tables are the `ledger` set, version `LEDGER_VERSION` in `meta` as `schema:ledger`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from alerts.duties import DutyType
from hub.config.site import SiteConfig
from hub.core.clock import from_iso, to_iso
from hub.ledger.hazards import OPEN_STATES, HazardSource, HazardState, HazardStep, Severity, next_state
from hub.ledger.incidents import IncidentKind, IncidentState
from hub.store import Actor, InvalidStateError, NotFoundError, Store

LEDGER_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS hazards (
    id INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    source TEXT NOT NULL,
    found_by TEXT NOT NULL,
    fault_id INTEGER,
    place TEXT NOT NULL,
    category TEXT NOT NULL,
    summary TEXT NOT NULL,
    severity TEXT,
    due TEXT,
    responsible TEXT,
    supervisor TEXT,
    measures TEXT,
    registered_at TEXT NOT NULL,
    registered_by TEXT NOT NULL,
    assessed_at TEXT, assessed_by TEXT,
    reported_at TEXT, reported_by TEXT,
    monitoring_at TEXT, monitoring_by TEXT,
    fixed_at TEXT, fixed_by TEXT,
    accepted_at TEXT, accepted_by TEXT,
    closed_at TEXT, closed_by TEXT,
    warned_at TEXT,
    escalated_at TEXT
);
CREATE INDEX IF NOT EXISTS hazards_state ON hazards(state, due);
CREATE INDEX IF NOT EXISTS hazards_registered ON hazards(registered_at);
CREATE TABLE IF NOT EXISTS hazard_log (
    id INTEGER PRIMARY KEY,
    hazard_id INTEGER NOT NULL REFERENCES hazards(id),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    step TEXT NOT NULL,
    note TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS hazard_log_hazard ON hazard_log(hazard_id);
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    place TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    summary TEXT NOT NULL,
    people TEXT NOT NULL,
    police_called INTEGER NOT NULL,
    state TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    closed_at TEXT,
    closed_by TEXT,
    close_note TEXT
);
CREATE INDEX IF NOT EXISTS incidents_occurred ON incidents(occurred_at);
CREATE TABLE IF NOT EXISTS incident_reports (
    id INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents(id),
    type TEXT NOT NULL,
    at TEXT NOT NULL,
    by TEXT NOT NULL,
    note TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incident_reports_incident ON incident_reports(incident_id);
"""

# The columns each state's step signs (when, who).
_SIGNED = {
    HazardState.ASSESSED: "assessed",
    HazardState.REPORTED: "reported",
    HazardState.MONITORING: "monitoring",
    HazardState.FIXED: "fixed",
    HazardState.ACCEPTED: "accepted",
    HazardState.CLOSED: "closed",
}


@dataclass(frozen=True, slots=True)
class StepInput:
    """What a person brings to one step; the step decides which fields it needs."""

    note: str
    severity: Severity | None = None
    due: date | None = None
    measures: str | None = None
    responsible: str | None = None
    supervisor: str | None = None


def _rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class LedgerStore:
    """Hazards and incidents on the hub's store."""

    def __init__(self, store: Store, site: SiteConfig) -> None:
        self._store = store
        self._site = site

    def open(self) -> None:
        self._store.ensure_schema(SCHEMA)
        self._store.meta_set("schema:ledger", str(LEDGER_VERSION))

    # --- hazards ---------------------------------------------------------------------------------------------------

    def register_hazard(
        self,
        actor: Actor,
        now: datetime,
        *,
        place: str,
        category: str,
        summary: str,
        source: HazardSource,
        found_by: str,
        fault_id: int | None = None,
    ) -> int:
        """登记: a hazard found by a person, an inspection or an equipment fault; audited."""
        at = to_iso(now)
        with self._store.write() as conn:
            cursor = conn.execute(
                "INSERT INTO hazards (state, source, found_by, fault_id, place, category, summary, registered_at,"
                " registered_by) VALUES ('registered', ?, ?, ?, ?, ?, ?, ?, ?)",
                (source.value, found_by, fault_id, place, category, summary, at, actor.name),
            )
            hazard_id = int(cursor.lastrowid or 0)
            detail = {"place": place, "category": category, "source": source.value, "fault_id": fault_id}
            self._log(conn, hazard_id, at, actor, "register", summary, detail)
            self._store.audit(conn, at, actor, "hazard.register", f"hazard:{hazard_id}", {**detail, "note": summary})
        return hazard_id

    def step_hazard(self, hazard_id: int, step: HazardStep, actor: Actor, now: datetime, given: StepInput) -> None:
        """One signed step of the closed loop; InvalidStateError when the loop does not allow it now."""
        at = to_iso(now)
        with self._store.write() as conn:
            row = conn.execute("SELECT state, severity FROM hazards WHERE id = ?", (hazard_id,)).fetchone()
            if row is None:
                raise NotFoundError("hazard", f"no hazard {hazard_id}")
            current, severity = HazardState(row[0]), Severity(row[1]) if row[1] else None
            target = next_state(current, step, severity)
            if target is None:
                raise InvalidStateError("hazard", f"a {current.value} hazard cannot take the step {step.value}")
            signed = _SIGNED[target]
            sets = ["state = ?"]
            args: list[Any] = [target.value]
            if step is not HazardStep.MONITOR or current is not HazardState.MONITORING:
                # A repeated `monitor` updates the measures; the step itself stays signed by who began it.
                sets += [f"{signed}_at = ?", f"{signed}_by = ?"]
                args += [at, actor.name]
            detail: dict[str, Any] = {}
            if step is HazardStep.ASSESS:
                detail = {
                    "severity": given.severity.value if given.severity else None,
                    "due": given.due.isoformat() if given.due else None,
                    "responsible": given.responsible,
                    "supervisor": given.supervisor,
                }
                sets += ["severity = ?", "due = ?", "responsible = ?", "supervisor = ?"]
                args += [detail["severity"], detail["due"], given.responsible, given.supervisor]
            if given.measures is not None:
                detail["measures"] = given.measures
                sets.append("measures = ?")
                args.append(given.measures)
            conn.execute(f"UPDATE hazards SET {', '.join(sets)} WHERE id = ?", (*args, hazard_id))  # noqa: S608
            self._log(conn, hazard_id, at, actor, step.value, given.note, detail)
            self._store.audit(
                conn, at, actor, f"hazard.{step.value}", f"hazard:{hazard_id}", {**detail, "note": given.note}
            )

    def get_hazard(self, hazard_id: int, now: datetime) -> dict[str, Any]:
        found = self._read_hazards(now, "WHERE id = ?", [hazard_id])
        if not found:
            raise NotFoundError("hazard", f"no hazard {hazard_id}")
        return found[0]

    def list_hazards(self, now: datetime, states: Sequence[HazardState] | None = None) -> list[dict[str, Any]]:
        """Hazards oldest first, each with its signed steps (`timeline`)."""
        args: list[Any] = [s.value for s in states or []]
        return self._read_hazards(now, f"WHERE state IN ({','.join('?' * len(args))})" if args else "", args)

    def _read_hazards(self, now: datetime, where: str, args: Sequence[Any]) -> list[dict[str, Any]]:
        conn = self._store.connection()
        # `where` is one of this module's two fixed clauses; the values are bound.
        rows = _rows(conn.execute(f"SELECT * FROM hazards {where} ORDER BY id", args))  # noqa: S608
        hazards = [self._hazard_view(row, now) for row in rows]
        steps: dict[int, list[dict[str, Any]]] = {h["id"]: [] for h in hazards}
        if hazards:
            log = conn.execute(
                "SELECT hazard_id, at, actor, role, step, note, detail FROM hazard_log"  # noqa: S608
                f" WHERE hazard_id IN (SELECT id FROM hazards {where}) ORDER BY id",
                args,
            )
            for entry in _rows(log):
                steps[entry.pop("hazard_id")].append({**entry, "detail": json.loads(entry["detail"])})
        for hazard in hazards:
            hazard["timeline"] = steps[hazard["id"]]
        return hazards

    def unfixed_with_due(self) -> list[dict[str, Any]]:
        """Hazards not yet fixed that have a target date (the watcher's warnings and escalations)."""
        marks = ",".join("?" * len(OPEN_STATES))
        cursor = self._store.connection().execute(
            "SELECT id, place, category, summary, severity, due, responsible, warned_at, escalated_at"  # noqa: S608
            f" FROM hazards WHERE due IS NOT NULL AND state IN ({marks}) ORDER BY id",
            [s.value for s in OPEN_STATES],
        )
        return _rows(cursor)

    def mark_hazard(self, hazard_id: int, *, warned: datetime | None = None, escalated: datetime | None = None) -> None:
        """Record that the warning or the escalation of a hazard went out (each goes out once)."""
        with self._store.write() as conn:
            if warned is not None:
                conn.execute("UPDATE hazards SET warned_at = ? WHERE id = ?", (to_iso(warned), hazard_id))
            if escalated is not None:
                conn.execute("UPDATE hazards SET escalated_at = ? WHERE id = ?", (to_iso(escalated), hazard_id))

    def open_incidents_owing(self) -> list[dict[str, Any]]:
        """Incidents that have not yet made both reports (the watcher's overdue notices)."""
        cursor = self._store.connection().execute(
            "SELECT id FROM incidents i WHERE (SELECT COUNT(DISTINCT type) FROM incident_reports r"
            " WHERE r.incident_id = i.id) < 2"
        )
        return [self.get_incident(row[0]) for row in cursor.fetchall()]

    def overdue(self, hazard: dict[str, Any], at: datetime) -> bool:
        """Past its target date (the end of that site-local day) and not yet fixed at `at`."""
        if not hazard["due"]:
            return False
        deadline = self._site.day_bounds(date.fromisoformat(hazard["due"]))[1]
        fixed = from_iso(hazard["fixed_at"]) if hazard["fixed_at"] else None
        return (fixed or at) >= deadline and (fixed is not None or HazardState(hazard["state"]) in OPEN_STATES)

    def _hazard_view(self, row: dict[str, Any], now: datetime) -> dict[str, Any]:
        return {**row, "overdue": self.overdue(row, now)}

    @staticmethod
    def _log(
        conn: sqlite3.Connection, hazard_id: int, at: str, actor: Actor, step: str, note: str, detail: dict[str, Any]
    ) -> None:
        conn.execute(
            "INSERT INTO hazard_log (hazard_id, at, actor, role, step, note, detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (hazard_id, at, actor.name, actor.role, step, note, json.dumps(detail, ensure_ascii=False)),
        )

    # --- incidents -------------------------------------------------------------------------------------------------

    def record_incident(
        self,
        actor: Actor,
        now: datetime,
        *,
        kind: IncidentKind,
        place: str,
        occurred_at: datetime,
        summary: str,
        people: str,
        police_called: bool,
    ) -> int:
        at = to_iso(now)
        with self._store.write() as conn:
            cursor = conn.execute(
                "INSERT INTO incidents (kind, place, occurred_at, summary, people, police_called, state, recorded_at,"
                " recorded_by) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)",
                (kind.value, place, to_iso(occurred_at), summary, people, int(police_called), at, actor.name),
            )
            incident_id = int(cursor.lastrowid or 0)
            detail = {"kind": kind.value, "place": place, "occurred_at": to_iso(occurred_at), "police": police_called}
            self._store.audit(conn, at, actor, "incident.record", f"incident:{incident_id}", detail)
        return incident_id

    def add_incident_report(
        self, incident_id: int, actor: Actor, now: datetime, duty: DutyType, at: datetime, by: str, note: str
    ) -> None:
        recorded = to_iso(now)
        with self._store.write() as conn:
            self._incident_state(conn, incident_id)
            conn.execute(
                "INSERT INTO incident_reports (incident_id, type, at, by, note, recorded_at, recorded_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (incident_id, duty.value, to_iso(at), by, note, recorded, actor.name),
            )
            detail = {"type": duty.value, "at": to_iso(at), "by": by, "note": note}
            self._store.audit(conn, recorded, actor, "incident.report", f"incident:{incident_id}", detail)

    def close_incident(self, incident_id: int, actor: Actor, now: datetime, note: str) -> None:
        at = to_iso(now)
        with self._store.write() as conn:
            if self._incident_state(conn, incident_id) is IncidentState.CLOSED:
                raise InvalidStateError("incident", f"incident {incident_id} is already closed")
            conn.execute(
                "UPDATE incidents SET state = 'closed', closed_at = ?, closed_by = ?, close_note = ? WHERE id = ?",
                (at, actor.name, note, incident_id),
            )
            self._store.audit(conn, at, actor, "incident.close", f"incident:{incident_id}", {"note": note})

    def get_incident(self, incident_id: int) -> dict[str, Any]:
        found = self.list_incidents(incident_id=incident_id)
        if not found:
            raise NotFoundError("incident", f"no incident {incident_id}")
        return found[0]

    def list_incidents(
        self,
        *,
        incident_id: int | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Incidents newest first, each with its reports (oldest first); `start`/`end` bound when they happened."""
        where: list[str] = []
        args: list[Any] = []
        if incident_id is not None:
            where.append("id = ?")
            args.append(incident_id)
        if start is not None:
            where.append("occurred_at >= ?")
            args.append(to_iso(start))
        if end is not None:
            where.append("occurred_at < ?")
            args.append(to_iso(end))
        sql = "SELECT * FROM incidents" + (" WHERE " + " AND ".join(where) if where else "")  # noqa: S608
        conn = self._store.connection()
        incidents = _rows(conn.execute(sql + " ORDER BY occurred_at DESC, id DESC LIMIT ?", (*args, limit)))
        reports: dict[int, list[dict[str, Any]]] = {i["id"]: [] for i in incidents}
        if incidents:
            marks = ",".join("?" * len(reports))
            cursor = conn.execute(
                "SELECT incident_id, type, at, by, note, recorded_at, recorded_by FROM incident_reports"  # noqa: S608
                f" WHERE incident_id IN ({marks}) ORDER BY at, id",
                list(reports),
            )
            for report in _rows(cursor):
                reports[report.pop("incident_id")].append(report)
        return [{**i, "police_called": bool(i["police_called"]), "reports": reports[i["id"]]} for i in incidents]

    @staticmethod
    def _incident_state(conn: sqlite3.Connection, incident_id: int) -> IncidentState:
        row = conn.execute("SELECT state FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        if row is None:
            raise NotFoundError("incident", f"no incident {incident_id}")
        return IncidentState(row[0])
