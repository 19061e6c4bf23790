"""Presses the hub handled and the broker's replays of them: the rows behind hub.ingest.replay's decision.

Ingest looks a fingerprint up, remembers it and records a replay inside its batch transaction, so a press and the
memory of having handled it commit together (a crash before the commit leaves neither, and the press comes back
as new). The guard's reads show an alarm's or a device's replays.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from alerts.model import AlarmKind
from hub.core.clock import from_iso, to_iso
from hub.ingest.replay import HandledPress, ReplayMark
from hub.store.db import Database, TransactionBase


class ReplayView(TypedDict):
    """A replay as the API shows it: when it came, what showed it, and the press it repeated."""

    received_at: str
    device_id: str
    topic: str
    alarm_id: str
    kind: str
    mark: str
    handled_at: str


class ReplayWrites(TransactionBase):
    """Ingest's writes, inside its batch transaction."""

    def handled_press(self, fingerprint: bytes) -> HandledPress | None:
        row = self._conn.execute(
            "SELECT alarm_id, handled_at FROM handled_presses WHERE fingerprint = ?", (fingerprint,)
        ).fetchone()
        return None if row is None else HandledPress(row[0], from_iso(row[1]))

    def remember_press(self, fingerprint: bytes, device_id: str, topic: str, alarm_id: str, at: datetime) -> None:
        """The hub handled this message (it raised or counted on `alarm_id`); a later identical one is handled anew."""
        when = to_iso(at)
        self._conn.execute(
            "INSERT INTO handled_presses (fingerprint, device_id, topic, alarm_id, handled_at, last_seen_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(fingerprint) DO UPDATE SET alarm_id = excluded.alarm_id,"
            " handled_at = excluded.handled_at, last_seen_at = excluded.last_seen_at",
            (fingerprint, device_id, topic[:1024], alarm_id, when, when),
        )

    def record_replay(
        self,
        fingerprint: bytes,
        press: HandledPress,
        device_id: str,
        topic: str,
        kind: AlarmKind,
        mark: ReplayMark,
        at: datetime,
    ) -> None:
        """Keep the replay, and keep its fingerprint alive while the broker keeps sending it."""
        when = to_iso(at)
        self._conn.execute(
            "INSERT INTO press_replays (device_id, topic, alarm_id, kind, mark, received_at, handled_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (device_id, topic[:1024], press.alarm_id, kind.value, mark.value, when, to_iso(press.handled_at)),
        )
        self._conn.execute(
            "UPDATE handled_presses SET last_seen_at = max(last_seen_at, ?) WHERE fingerprint = ?", (when, fingerprint)
        )


class ReplayRows(Database):
    """The replays the broker sent, for an alarm's timeline or a device's record."""

    def replays(
        self, *, alarm_id: str | None = None, device_id: str | None = None, limit: int = 200
    ) -> list[ReplayView]:
        """Replays of one alarm's presses or of one device (or all), newest first."""
        sql = "SELECT received_at, device_id, topic, alarm_id, kind, mark, handled_at FROM press_replays WHERE 1 = 1"
        args: list[str | int] = []
        if alarm_id is not None:
            sql += " AND alarm_id = ?"
            args.append(alarm_id)
        if device_id is not None:
            sql += " AND device_id = ?"
            args.append(device_id)
        sql += " ORDER BY id DESC LIMIT ?"
        args.append(limit)
        return [
            ReplayView(
                received_at=r[0], device_id=r[1], topic=r[2], alarm_id=r[3], kind=r[4], mark=r[5], handled_at=r[6]
            )
            for r in self._conn().execute(sql, args).fetchall()
        ]
