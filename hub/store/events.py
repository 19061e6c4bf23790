"""Events and dead letters: what ingest writes for every device message it accepted or refused."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.core.clock import to_iso
from hub.store.db import Database, TransactionBase


@dataclass(frozen=True, slots=True)
class EventRow:
    device_id: str
    kind: str
    channel: str
    occurred_at: datetime
    received_at: datetime
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeadLetterRow:
    topic: str
    reason: str
    detail: str
    payload: bytes
    payload_size: int
    received_at: datetime


class EventWrites(TransactionBase):
    """Ingest's event and dead-letter inserts, inside its batch transaction."""

    def insert_events(self, rows: Sequence[EventRow]) -> None:
        self._conn.executemany(
            "INSERT INTO events (device_id, kind, channel, occurred_at, received_at, data) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    r.device_id,
                    r.kind,
                    r.channel,
                    to_iso(r.occurred_at),
                    to_iso(r.received_at),
                    json.dumps(r.data),
                )
                for r in rows
            ],
        )

    def insert_dead_letters(self, rows: Sequence[DeadLetterRow]) -> None:
        self._conn.executemany(
            "INSERT INTO dead_letters (topic, reason, detail, payload, payload_size, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(r.topic, r.reason, r.detail, r.payload, r.payload_size, to_iso(r.received_at)) for r in rows],
        )


class EventRows(Database):
    """Reading dead letters back for maintenance."""

    def list_dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        rows = (
            self._conn()
            .execute(
                "SELECT id, topic, reason, detail, payload, payload_size, received_at FROM dead_letters"
                " ORDER BY id DESC LIMIT ?",
                (limit,),
            )
            .fetchall()
        )
        return [
            {
                "id": r[0],
                "topic": r[1],
                "reason": r[2],
                "detail": r[3],
                "payload": bytes(r[4]).decode("utf-8", errors="replace"),
                "payload_size": r[5],
                "received_at": r[6],
            }
            for r in rows
        ]
