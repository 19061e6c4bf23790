"""Console login sessions' rows: the `sessions` table, keyed by the SHA-256 of the cookie's session id.

`hub.web.sessions` decides who is logged in and for how long; this module only reads and writes the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.core.clock import from_iso, to_iso
from hub.store.db import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,
    token_name TEXT NOT NULL,
    role TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions(expires_at);
"""


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in person: the token name and role they logged in with, and the CSRF secret of their pages."""

    token_name: str
    role: str
    csrf: str
    expires_at: datetime


def insert_session(db: Database, id_hash: str, session: Session, now: datetime) -> None:
    """Store a new session; expired rows go in the same transaction (a login is rare enough to pay for the sweep)."""
    with db.write() as conn:
        conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (to_iso(now),))
        conn.execute(
            "INSERT INTO sessions (id_hash, token_name, role, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            (id_hash, session.token_name, session.role, session.csrf, to_iso(now), to_iso(session.expires_at)),
        )


def find_session(db: Database, id_hash: str) -> Session | None:
    """The stored session, expired or not; None when there is no such row."""
    row = (
        db.connection()
        .execute("SELECT token_name, role, csrf, expires_at FROM sessions WHERE id_hash = ?", (id_hash,))
        .fetchone()
    )
    return None if row is None else Session(str(row[0]), str(row[1]), str(row[2]), from_iso(row[3]))


def extend_session(db: Database, id_hash: str, expires_at: datetime) -> None:
    with db.write() as conn:
        conn.execute("UPDATE sessions SET expires_at = ? WHERE id_hash = ?", (to_iso(expires_at), id_hash))


def delete_session(db: Database, id_hash: str) -> bool:
    """Remove the row; False when there was none."""
    with db.write() as conn:
        return conn.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,)).rowcount > 0
