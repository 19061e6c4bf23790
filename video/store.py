"""Where camera pictures and their records live: JPEG files under the snapshot folder, evidence rows in SQLite.

Files: `<root>/<camera>/latest.jpg` (last checked frame), `<root>/<camera>/reference.jpg` and `reference.json`
(the known-good frame and when it was taken), `<root>/evidence/<alarm>/<camera>.jpg`. Each is written to a
temporary name and renamed, so a reader never sees half a picture. Rows share the hub's SQLite file.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from hub.core.clock import from_iso, to_iso
from hub.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS alarm_evidence (
    alarm_id TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    captured_at TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (alarm_id, camera_id)
);
CREATE INDEX IF NOT EXISTS alarm_evidence_captured ON alarm_evidence(captured_at);
-- The newest health result of a camera without scanning its heartbeats.
CREATE INDEX IF NOT EXISTS events_health ON events(device_id, id) WHERE channel = 'health';
"""


def evidence_url(alarm_id: str, camera_id: str) -> str:
    return f"/api/v1/evidence/{alarm_id}/{camera_id}.jpg"


def snapshot_url(camera_id: str) -> str:
    return f"/api/v1/cameras/{camera_id}/snapshot"


@dataclass(frozen=True, slots=True)
class HealthResult:
    """A camera's stored health result (from the hub's checks or a recorder's)."""

    occurred_at: datetime
    data: dict[str, Any]


class SnapshotFiles:
    """The JPEG files of cameras and alarms under one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def latest(self, camera_id: str) -> Path:
        return self.root / camera_id / "latest.jpg"

    def reference(self, camera_id: str) -> Path:
        return self.root / camera_id / "reference.jpg"

    def evidence(self, alarm_id: str, camera_id: str) -> Path:
        return self.root / "evidence" / alarm_id / f"{camera_id}.jpg"

    def reference_taken_at(self, camera_id: str) -> datetime | None:
        try:
            meta = json.loads((self.root / camera_id / "reference.json").read_text(encoding="utf-8"))
            return from_iso(str(meta["taken_at"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def save_reference(self, camera_id: str, jpeg: bytes, taken_at: datetime) -> None:
        self.write(self.reference(camera_id), jpeg)
        meta = json.dumps({"taken_at": to_iso(taken_at)}).encode("utf-8")
        self.write(self.root / camera_id / "reference.json", meta)

    @staticmethod
    def write(path: Path, data: bytes) -> None:
        """Write atomically: a temporary file in the same folder, then a rename."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_bytes(data)
        temporary.replace(path)

    def read(self, path: Path) -> bytes | None:
        """The file's bytes, or None when missing; refuses paths outside the root."""
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root.resolve()):
            return None
        try:
            return resolved.read_bytes()
        except OSError:
            return None


class VideoStore:
    """Evidence rows and health-result reads on the hub's store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def open(self) -> None:
        self._store.ensure_schema(SCHEMA)

    def add_evidence(self, alarm_id: str, camera_id: str, captured_at: datetime, path: str) -> None:
        with self._store.write() as conn:
            conn.execute(
                "INSERT INTO alarm_evidence (alarm_id, camera_id, captured_at, path) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(alarm_id, camera_id) DO UPDATE SET captured_at = excluded.captured_at,"
                " path = excluded.path",
                (alarm_id, camera_id, to_iso(captured_at), path),
            )

    def evidence_of(self, alarm_id: str) -> list[dict[str, Any]]:
        """An alarm's evidence as the API and the 110 payload show it."""
        rows = (
            self._store.connection()
            .execute(
                "SELECT camera_id, captured_at FROM alarm_evidence WHERE alarm_id = ? ORDER BY camera_id",
                (alarm_id,),
            )
            .fetchall()
        )
        return [{"camera_id": r[0], "captured_at": r[1], "url": evidence_url(alarm_id, r[0])} for r in rows]

    def evidence_path(self, alarm_id: str, camera_id: str) -> str | None:
        row = (
            self._store.connection()
            .execute("SELECT path FROM alarm_evidence WHERE alarm_id = ? AND camera_id = ?", (alarm_id, camera_id))
            .fetchone()
        )
        return None if row is None else str(row[0])

    def alarm_cameras(self, alarm_id: str) -> list[str]:
        """The cameras linked to the alarm's device, as recorded with the alarm."""
        row = self._store.connection().execute("SELECT device FROM alarms WHERE id = ?", (alarm_id,)).fetchone()
        if row is None:
            return []
        cameras = json.loads(row[0]).get("cameras", [])
        return [str(c) for c in cameras] if isinstance(cameras, list) else []

    def latest_health(self, camera_id: str) -> HealthResult | None:
        row = (
            self._store.connection()
            .execute(
                "SELECT occurred_at, data FROM events WHERE device_id = ? AND channel = 'health'"
                " ORDER BY id DESC LIMIT 1",
                (camera_id,),
            )
            .fetchone()
        )
        return None if row is None else HealthResult(from_iso(row[0]), json.loads(row[1]))

    def failing_streak(self, camera_id: str, limit: int = 1000) -> int:
        """Failing health results in a row, newest first, up to the last healthy one (the count a restart keeps)."""
        streak = 0
        rows = self._store.connection().execute(
            "SELECT data FROM events WHERE device_id = ? AND channel = 'health' ORDER BY id DESC LIMIT ?",
            (camera_id, limit),
        )
        for (data,) in rows:
            if _labels(data) == ["healthy"]:
                break
            streak += 1
        return streak


def _labels(data: str) -> Any:
    try:
        return json.loads(data).get("labels")
    except (ValueError, AttributeError, sqlite3.Error):
        return None
