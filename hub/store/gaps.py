"""The hub's own gaps: `hub_gaps` (the spans when the hub was not running) and its proof of life in `meta`.

`hub.health.liveness` decides what is a gap; this module reads and writes it.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from hub.core.clock import from_iso, to_iso
from hub.store.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS hub_gaps (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    ended_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS hub_gaps_time ON hub_gaps(ended_at, started_at);
"""

Gap = tuple[datetime, datetime]


def record_alive(db: Database, alive_key: str, now: datetime, gap: Gap | None) -> None:
    """The gap (if any) and the new proof of life, in one transaction: a crash between them cannot record it twice."""
    with db.write() as conn:
        if gap is not None:
            conn.execute("INSERT INTO hub_gaps (started_at, ended_at) VALUES (?, ?)", (to_iso(gap[0]), to_iso(gap[1])))
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (alive_key, to_iso(now)),
        )


def read_gaps(conn: sqlite3.Connection) -> list[Gap]:
    """Every recorded gap, earliest first."""
    rows = conn.execute("SELECT started_at, ended_at FROM hub_gaps ORDER BY started_at, id")
    return [(from_iso(a), from_iso(b)) for a, b in rows.fetchall()]
