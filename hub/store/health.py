"""SQL of device health: each device's current state and the state-transition history reports are computed from.

Shares the hub's SQLite file and write lock with `hub.store.Store`; health changes are written in the same
transaction as the events that caused them. A `HealthStore` is also the `FaultStore` (`hub.store.faults`),
because saving a health change opens or recovers the faults it implies in that same transaction; the fault names
are re-exported here, where they lived before.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from hub.core.clock import from_iso, to_iso
from hub.health.faults import faults_for_change
from hub.health.model import DeviceHealth, DeviceState, HealthPlan, Trouble
from hub.store.faults import SYSTEM, FaultEvent, FaultHook, FaultStore

__all__ = ["SCHEMA", "SYSTEM", "FaultEvent", "FaultHook", "FaultStore", "HealthStore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS device_state (
    device_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    since TEXT NOT NULL,
    last_seen_at TEXT,
    online INTEGER,
    offline_reason TEXT,
    troubles TEXT NOT NULL,
    battery_pct REAL,
    maintenance INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS state_transitions (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    at TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS state_transitions_device ON state_transitions(device_id, at);
CREATE INDEX IF NOT EXISTS state_transitions_at ON state_transitions(at);
"""


class HealthStore(FaultStore):
    """Device-state and fault persistence on the hub's store."""

    def open(self) -> None:
        self._store.ensure_schema(SCHEMA)
        super().open()

    # --- device state ------------------------------------------------------------------------------------------

    def load(self) -> list[DeviceHealth]:
        rows = (
            self._store.connection()
            .execute(
                "SELECT device_id, state, since, last_seen_at, online, offline_reason, troubles, battery_pct,"
                " maintenance FROM device_state"
            )
            .fetchall()
        )
        return [
            DeviceHealth(
                device_id=r[0],
                state=DeviceState(r[1]),
                since=from_iso(r[2]),
                last_seen_at=from_iso(r[3]) if r[3] else None,
                online=None if r[4] is None else bool(r[4]),
                offline_reason=r[5],
                troubles=frozenset(Trouble(t) for t in json.loads(r[6])),
                battery_pct=r[7],
                maintenance=bool(r[8]),
            )
            for r in rows
        ]

    def save(self, conn: sqlite3.Connection, plan: HealthPlan, now: datetime) -> list[FaultEvent]:
        """Write the planned health records and transitions, and open or recover the faults they imply."""
        conn.executemany(
            "INSERT INTO device_state (device_id, state, since, last_seen_at, online, offline_reason, troubles,"
            " battery_pct, maintenance) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(device_id) DO UPDATE SET"
            " state = excluded.state, since = excluded.since, last_seen_at = excluded.last_seen_at,"
            " online = excluded.online, offline_reason = excluded.offline_reason, troubles = excluded.troubles,"
            " battery_pct = excluded.battery_pct, maintenance = excluded.maintenance",
            [
                (
                    h.device_id,
                    h.state.value,
                    to_iso(h.since),
                    to_iso(h.last_seen_at) if h.last_seen_at else None,
                    None if h.online is None else int(h.online),
                    h.offline_reason,
                    json.dumps(sorted(h.troubles)),
                    h.battery_pct,
                    int(h.maintenance),
                )
                for _, h in plan.updates
            ],
        )
        conn.executemany(
            "INSERT INTO state_transitions (device_id, from_state, to_state, at, reason) VALUES (?, ?, ?, ?, ?)",
            [(t.device_id, t.from_state.value, t.to_state.value, to_iso(t.at), t.reason) for t in plan.transitions],
        )
        changes = [change for before, after in plan.updates for change in faults_for_change(before, after)]
        return self.apply_fault_changes(conn, changes, now)

    def transitions(self, device_id: str, limit: int = 100) -> list[dict[str, Any]]:
        rows = (
            self._store.connection()
            .execute(
                "SELECT from_state, to_state, at, reason FROM state_transitions WHERE device_id = ?"
                " ORDER BY id DESC LIMIT ?",
                (device_id, limit),
            )
            .fetchall()
        )
        return [{"from": r[0], "to": r[1], "at": r[2], "reason": r[3]} for r in rows]
