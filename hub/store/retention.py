"""The hub's own retention: which stored records are past their policy, and a purger that deletes them in small
batches off the hot path.

`should_purge` is the one gate: nothing younger than max(policy, 90) days passes it, whatever the clock or the
configuration says (a naive, non-finite or negative input, a record time after `now`). Events (telemetry
included), dead letters and snapshot files are kept `retention.days`; closed alarms, closed faults and the audit
log `retention.records_days`. Active alarms and open faults are never deleted, however old. Handled presses
(hub.ingest.replay) are kept `retention.records_days` and at least the MQTT session expiry after the broker last
sent them, the newest of each device topic for ever.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub.config import MIN_RETENTION_DAYS, HubConfig
from hub.core.clock import Clock, from_iso, to_iso
from hub.core.periodic import Periodic, TimerDriven
from hub.store import Store, has_table

log = logging.getLogger(__name__)

# Between batches the write lock is free for this long, so ingest's commits never queue behind a purge.
BATCH_PAUSE_S = 0.02
# Snapshot files are a few per camera per check; this bounds the cost of one folder walk. A folder holding more
# is walked in part each tick (what was deleted no longer counts, so later files come within reach).
MAX_FILES_PER_TICK = 50_000


def effective_days(policy_days: float, floor_days: float = MIN_RETENTION_DAYS) -> float | None:
    """The days a record is kept: the largest of the policy, the floor and the rules' 90; None when either is not a
    finite number (a policy nobody can have meant keeps everything)."""
    try:
        policy, floor = float(policy_days), float(floor_days)
    except (TypeError, ValueError):
        return None
    if not (math.isfinite(policy) and math.isfinite(floor)):
        return None
    return max(policy, floor, float(MIN_RETENTION_DAYS))


def should_purge(
    record_time: datetime, policy_days: float, now: datetime, floor_days: float = MIN_RETENTION_DAYS
) -> bool:
    """True only when `record_time` is older than max(policy, floor, 90) days at `now`.

    Anything doubtful keeps the record: naive times, a non-finite policy (NaN, infinity), a record time after
    `now` (a clock set back), a policy too large to subtract.
    """
    if record_time.tzinfo is None or now.tzinfo is None:
        return False
    days = effective_days(policy_days, floor_days)
    if days is None or record_time >= now:
        return False
    try:
        return now - record_time > timedelta(days=days)
    except OverflowError:
        return False


def cutoff(now: datetime, days: float) -> datetime:
    """Records strictly older than this are past a `days` policy (never less than 90 days before `now`)."""
    if now.tzinfo is None:
        raise ValueError("cutoff needs a timezone-aware now")
    effective = effective_days(days)
    if effective is None:
        raise ValueError(f"not a usable retention period: {days!r}")
    try:
        return now - timedelta(days=effective)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


# --- the purger -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """One kind of stored record: how to find the oldest past-policy rows, and what goes with each."""

    name: str
    days: int
    select: str  # (key, time) of candidates, oldest first; parameters: cutoff text, limit
    delete: str  # the rows themselves; {keys} becomes the placeholders
    children: tuple[str, ...] = ()  # dependent rows, deleted first; {keys} as above
    summary: str = ""  # COUNT, MIN(time), MAX(time) of everything past policy; parameter: cutoff text


_PENDING = "('pending', 'standby')"
_NEWER_PRESS = (
    "EXISTS (SELECT 1 FROM handled_presses n WHERE n.device_id = h.device_id AND n.topic = h.topic"
    " AND n.last_seen_at > h.last_seen_at)"
)
TARGET_SQL: dict[str, tuple[str, str, tuple[str, ...], str]] = {
    "events": (
        "SELECT id, received_at FROM events WHERE received_at < ? ORDER BY received_at LIMIT ?",
        "DELETE FROM events WHERE id IN ({keys})",
        (),
        "SELECT COUNT(*), MIN(received_at), MAX(received_at) FROM events WHERE received_at < ?",
    ),
    "dead_letters": (
        "SELECT id, received_at FROM dead_letters WHERE received_at < ? ORDER BY received_at LIMIT ?",
        "DELETE FROM dead_letters WHERE id IN ({keys})",
        (),
        "SELECT COUNT(*), MIN(received_at), MAX(received_at) FROM dead_letters WHERE received_at < ?",
    ),
    # Only closed alarms, timed from their closing, and only once nothing is still waiting to go out for them.
    "alarms": (
        "SELECT id, closed_at FROM alarms a WHERE state = 'closed' AND closed_at IS NOT NULL AND closed_at < ?"  # noqa: S608
        f" AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.alarm_id = a.id AND o.state IN {_PENDING})"
        " ORDER BY closed_at LIMIT ?",
        "DELETE FROM alarms WHERE id IN ({keys})",
        (
            "DELETE FROM delivery_attempts WHERE outbox_id IN (SELECT id FROM outbox WHERE alarm_id IN ({keys}))",
            "DELETE FROM outbox WHERE alarm_id IN ({keys})",
            "DELETE FROM alarm_triggers WHERE alarm_id IN ({keys})",
            "DELETE FROM alarm_reports WHERE alarm_id IN ({keys})",
            "DELETE FROM alarm_evidence WHERE alarm_id IN ({keys})",
        ),
        "SELECT COUNT(*), MIN(closed_at), MAX(closed_at) FROM alarms a WHERE state = 'closed'"  # noqa: S608
        " AND closed_at IS NOT NULL AND closed_at < ?"
        f" AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.alarm_id = a.id AND o.state IN {_PENDING})",
    ),
    # Only closed faults (the end of the closed loop), timed from their closing.
    "faults": (
        "SELECT id, closed_at FROM faults WHERE state = 'closed' AND closed_at IS NOT NULL AND closed_at < ?"
        " ORDER BY closed_at LIMIT ?",
        "DELETE FROM faults WHERE id IN ({keys})",
        ("DELETE FROM fault_log WHERE fault_id IN ({keys})",),
        "SELECT COUNT(*), MIN(closed_at), MAX(closed_at) FROM faults WHERE state = 'closed'"
        " AND closed_at IS NOT NULL AND closed_at < ?",
    ),
    # The rows that point at evidence pictures go with the pictures (kept like all image information).
    "alarm_evidence": (
        "SELECT rowid, captured_at FROM alarm_evidence WHERE captured_at < ? ORDER BY captured_at LIMIT ?",
        "DELETE FROM alarm_evidence WHERE rowid IN ({keys})",
        (),
        "SELECT COUNT(*), MIN(captured_at), MAX(captured_at) FROM alarm_evidence WHERE captured_at < ?",
    ),
    "audit": (
        "SELECT id, at FROM audit WHERE at < ? ORDER BY id LIMIT ?",
        "DELETE FROM audit WHERE id IN ({keys})",
        (),
        "SELECT COUNT(*), MIN(at), MAX(at) FROM audit WHERE at < ?",
    ),
    # A handled press the broker has not sent again for longer than its session lasts; the newest of each device
    # topic stays whatever its age, as the broker may hold it retained for ever (see hub.ingest.replay).
    "handled_presses": (
        f"SELECT fingerprint, last_seen_at FROM handled_presses h WHERE last_seen_at < ? AND {_NEWER_PRESS}"  # noqa: S608
        " ORDER BY last_seen_at LIMIT ?",
        "DELETE FROM handled_presses WHERE fingerprint IN ({keys})",
        (),
        "SELECT COUNT(*), MIN(last_seen_at), MAX(last_seen_at) FROM handled_presses h"  # noqa: S608
        f" WHERE last_seen_at < ? AND {_NEWER_PRESS}",
    ),
    "press_replays": (
        "SELECT id, received_at FROM press_replays WHERE received_at < ? ORDER BY received_at LIMIT ?",
        "DELETE FROM press_replays WHERE id IN ({keys})",
        (),
        "SELECT COUNT(*), MIN(received_at), MAX(received_at) FROM press_replays WHERE received_at < ?",
    ),
}
MEDIA_TABLES = ("events", "dead_letters", "alarm_evidence")  # kept retention.days; the rest retention.records_days


def targets(days: int, records_days: int, session_expiry_s: int = 0) -> list[Target]:
    out: list[Target] = []
    for name, (select, delete, children, summary) in TARGET_SQL.items():
        policy = days if name in MEDIA_TABLES else records_days
        if name == "handled_presses":  # at least as long as the broker may still send a handled press again
            policy = max(policy, math.ceil(session_expiry_s / 86400))
        out.append(Target(name, policy, select, delete, children, summary))
    return out


@dataclass
class PurgeCount:
    """What one table lost (or would lose): how many, and the oldest and newest record time among them."""

    count: int = 0
    oldest: str | None = None
    newest: str | None = None

    def add(self, times: Sequence[str]) -> None:
        if not times:
            return
        self.count += len(times)
        low, high = min(times), max(times)
        self.oldest = low if self.oldest is None else min(self.oldest, low)
        self.newest = high if self.newest is None else max(self.newest, high)

    def as_json(self) -> dict[str, Any]:
        return {"count": self.count, "oldest": self.oldest, "newest": self.newest}


@dataclass
class PurgeResult:
    dry_run: bool
    now: datetime
    tables: dict[str, PurgeCount] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "now": to_iso(self.now),
            "tables": {name: count.as_json() for name, count in self.tables.items()},
        }


def snapshot_dir(config: HubConfig) -> Path:
    """Where camera snapshots and alarm evidence live: `video.snapshot_dir`, or `snapshots` beside the database."""
    return config.video.snapshot_dir or config.storage.path.parent / "snapshots"


# A camera's reference picture is its yardstick for blur, occlusion and a moved view, not a recording: it stays
# until maintenance re-takes it, however old.
KEEP_FILES = frozenset({"reference.jpg", "reference.json"})


def _files(root: Path, limit: int) -> Iterator[os.DirEntry[str]]:
    """Regular files under `root`, at most `limit`, without following links."""
    stack = [root]
    seen = 0
    while stack and seen < limit:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        seen += 1
                        yield entry
                        if seen >= limit:
                            return
        except OSError as exc:
            log.warning("cannot read snapshot folder: %s", exc)


class Purger(TimerDriven):
    """Deletes records past their retention, a batch per short transaction, with pauses between batches.

    Its `now` never runs ahead of the monotonic time since it started (a wall clock jumping forward cannot
    age records faster than time really passes); `should_purge` re-checks every row the SQL selects.
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        days: int,
        records_days: int,
        batch: int,
        interval_s: float = 3600,
        snapshots: Path | None = None,
        pause_s: float = BATCH_PAUSE_S,
        session_expiry_s: int = 0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._days = days
        self._records_days = records_days
        self._batch = max(1, batch)
        self._snapshots = snapshots
        self._pause_s = pause_s
        self._session_expiry_s = session_expiry_s
        self._stop = threading.Event()
        self._wall0 = clock.now()
        self._mono0 = clock.monotonic()
        self._timer = Periodic(
            "retention-purge", self.run_once, lambda: interval_s, on_exit=store.close_thread_connection
        )

    @classmethod
    def from_config(cls, store: Store, clock: Clock, config: HubConfig) -> Purger:
        retention = config.retention
        return cls(
            store,
            clock,
            days=retention.days,
            records_days=retention.records_days,
            batch=retention.purge_batch,
            interval_s=retention.purge_interval_s,
            snapshots=snapshot_dir(config),
            session_expiry_s=config.mqtt.session_expiry_s,
        )

    def stop(self) -> None:
        self._stop.set()
        super().stop()

    def trusted_now(self) -> datetime:
        """The clock's now, but never later than the start time plus the monotonic time elapsed since."""
        elapsed = max(0.0, self._clock.monotonic() - self._mono0)
        return min(self._clock.now(), self._wall0 + timedelta(seconds=elapsed))

    def run_once(self, *, dry_run: bool = False) -> PurgeResult:
        """One pass over every table and the snapshot folder; with `dry_run` only counts."""
        now = self.trusted_now()
        result = PurgeResult(dry_run, now)
        conn = self._store.connection()
        for target in targets(self._days, self._records_days, self._session_expiry_s):
            if not has_table(conn, target.name):
                continue
            try:
                result.tables[target.name] = self._count(conn, target, now) if dry_run else self._purge(target, now)
            except sqlite3.IntegrityError as exc:
                # A newer table refers to these rows; keep them rather than break its references.
                log.warning("purge of %s stopped: %s", target.name, exc)
        if self._snapshots is not None:
            result.tables["snapshots"] = self._purge_files(self._snapshots, now, dry_run)
        gone = {name: count.count for name, count in result.tables.items() if count.count}
        if gone and not dry_run:
            log.info("purged records past retention: %s", gone)
        return result

    @staticmethod
    def _count(conn: sqlite3.Connection, target: Target, now: datetime) -> PurgeCount:
        count, oldest, newest = conn.execute(target.summary, (to_iso(cutoff(now, target.days)),)).fetchone()
        return PurgeCount(int(count), oldest, newest)

    def _purge(self, target: Target, now: datetime) -> PurgeCount:
        done = PurgeCount()
        edge = to_iso(cutoff(now, target.days))
        while not self._stop.is_set():
            with self._store.write() as conn:
                rows = conn.execute(target.select, (edge, self._batch)).fetchall()
                chosen = [(key, at) for key, at in rows if should_purge(from_iso(at), target.days, now)]
                if chosen:
                    keys = [key for key, _ in chosen]
                    marks = ",".join("?" * len(keys))
                    for statement in (*target.children, target.delete):
                        # A dependent table another component owns may not exist in this database (yet).
                        if has_table(conn, statement.split()[2]):
                            conn.execute(statement.format(keys=marks), keys)
            done.add([at for _, at in chosen])
            if len(rows) < self._batch or not chosen:
                break
            self._stop.wait(self._pause_s)  # the write lock is free here; ingest commits in between
        return done

    def _purge_files(self, root: Path, now: datetime, dry_run: bool) -> PurgeCount:
        done = PurgeCount()
        if not root.is_dir():
            return done
        for entry in _files(root, MAX_FILES_PER_TICK):
            try:
                modified = datetime.fromtimestamp(entry.stat(follow_symlinks=False).st_mtime, UTC)
            except OSError:
                continue
            if entry.name in KEEP_FILES or not should_purge(modified, self._days, now):
                continue
            if not dry_run:
                try:
                    os.unlink(entry.path)
                except OSError as exc:
                    log.warning("cannot delete snapshot %s: %s", entry.path, exc)
                    continue
            done.add([to_iso(modified)])
        return done


def describe(result: PurgeResult) -> str:
    """Lines for `campus-hub purge`: per table, how many and the time span they cover."""
    verb = "would delete" if result.dry_run else "deleted"
    lines = [f"retention purge at {to_iso(result.now)} ({'dry run' if result.dry_run else 'done'})"]
    for name, count in result.tables.items():
        span = f" ({count.oldest} .. {count.newest})" if count.count else ""
        lines.append(f"  {name}: {verb} {count.count}{span}")
    return "\n".join(lines)
