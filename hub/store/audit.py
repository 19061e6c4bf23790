"""The audit log: who did what to which record, written in the same transaction as the change itself."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from hub.store.db import Database


@dataclass(frozen=True, slots=True)
class Actor:
    """A person acting through the API: the token's name and role."""

    name: str
    role: str


def write_audit(
    conn: sqlite3.Connection, at: str, actor: Actor, action: str, target: str, detail: dict[str, Any]
) -> None:
    """One audit row, on the connection of the transaction that makes the change."""
    conn.execute(
        "INSERT INTO audit (at, actor, role, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)",
        (at, actor.name, actor.role, action, target, json.dumps(detail, ensure_ascii=False)),
    )


class AuditRows(Database):
    """The audit log on the store: `audit` for writers that hold a transaction, `list_audit` for the API."""

    @staticmethod
    def audit(
        conn: sqlite3.Connection, at: str, actor: Actor, action: str, target: str, detail: dict[str, Any]
    ) -> None:
        write_audit(conn, at, actor, action, target, detail)

    def list_audit(self, limit: int = 200) -> list[dict[str, Any]]:
        rows = (
            self._conn()
            .execute("SELECT at, actor, role, action, target, detail FROM audit ORDER BY id DESC LIMIT ?", (limit,))
            .fetchall()
        )
        return [
            {
                "at": r[0],
                "actor": r[1],
                "role": r[2],
                "action": r[3],
                "target": r[4],
                "detail": json.loads(r[5]),
            }
            for r in rows
        ]
