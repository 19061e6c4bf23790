"""The arming tables: each zone's manual override (who armed or disarmed it, until when), and the audit row that
names the person, written in one transaction."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime

from alerts.arming import Override
from hub.core.clock import from_iso, to_iso
from hub.store.audit import Actor, write_audit
from hub.store.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS zone_overrides (
    zone_id TEXT PRIMARY KEY,
    armed INTEGER NOT NULL,
    at TEXT NOT NULL,
    until TEXT,
    by_name TEXT NOT NULL,
    by_role TEXT NOT NULL
);
"""


def load_overrides(db: Database) -> dict[str, Override]:
    rows = db.connection().execute("SELECT zone_id, armed, at, until, by_name FROM zone_overrides").fetchall()
    return {r[0]: Override(bool(r[1]), from_iso(r[2]), from_iso(r[3]) if r[3] else None, r[4]) for r in rows}


def save_override(db: Database, zone_id: str, override: Override, actor: Actor, detail: Mapping[str, object]) -> None:
    """The override and its audit row, together."""
    with db.write() as conn:
        _upsert(conn, zone_id, override, actor)
        action = "zone_arm" if override.armed else "zone_disarm"
        write_audit(conn, to_iso(override.at), actor, action, zone_id, dict(detail))


def _upsert(conn: sqlite3.Connection, zone_id: str, override: Override, actor: Actor) -> None:
    conn.execute(
        "INSERT INTO zone_overrides (zone_id, armed, at, until, by_name, by_role) VALUES (?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(zone_id) DO UPDATE SET armed = excluded.armed, at = excluded.at, until = excluded.until, "
        "by_name = excluded.by_name, by_role = excluded.by_role",
        (
            zone_id,
            int(override.armed),
            to_iso(override.at),
            to_iso(override.until) if override.until else None,
            actor.name,
            actor.role,
        ),
    )


def audit_refusal(
    db: Database, zone_id: str, at: datetime, actor: Actor, reasons: list[str], action: str = "zone_arm_refused"
) -> None:
    """A refused arm (or disarm) is a person's action too: kept with its reasons."""
    with db.write() as conn:
        write_audit(conn, to_iso(at), actor, action, zone_id, {"reasons": reasons})


def last_contact_states(db: Database, device_ids: list[str]) -> dict[str, bool]:
    """Each door's last `open` and each detector's last `alarm`, from the stored events (the state at start-up)."""
    out: dict[str, bool] = {}
    conn = db.connection()
    for device_id in device_ids:
        row = conn.execute(
            "SELECT coalesce(json_extract(data, '$.open'), json_extract(data, '$.alarm')) FROM events "
            "WHERE device_id = ? AND (json_extract(data, '$.open') IS NOT NULL "
            "OR json_extract(data, '$.alarm') IS NOT NULL) ORDER BY received_at DESC, id DESC LIMIT 1",
            (device_id,),
        ).fetchone()
        if row is not None and row[0] is not None:
            out[device_id] = bool(row[0])
    return out


def last_prealarm_reading(db: Database, device_id: str) -> dict[str, object] | None:
    """The reading of the device's latest message at its pre-alarm level (what the guard's warning shows)."""
    row = (
        db.connection()
        .execute(
            "SELECT json_extract(data, '$.prealarm_reading'), received_at FROM events WHERE device_id = ? "
            "AND json_extract(data, '$.prealarm') = 1 ORDER BY received_at DESC, id DESC LIMIT 1",
            (device_id,),
        )
        .fetchone()
    )
    if row is None or row[0] is None:
        return None
    reading: dict[str, object] = json.loads(row[0])
    return {**reading, "at": row[1]}
