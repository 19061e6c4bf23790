"""Outbox rows written in other subjects' transactions: an alarm's legs when it opens, its restores when it closes
(or when a leg the close cancelled turns out delivered), and device troubles with the faults that open and recover
them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.core.clock import to_iso
from hub.store.db import NotFoundError

# Troubles sort after every alarm priority (1, 2) and the alarm query never reads them (`priority < ?` on the index).
TROUBLE_PRIORITY = 100


def insert_alarm_legs(
    conn: sqlite3.Connection,
    alarm_id: str,
    priority: int,
    raised: str,
    endpoints: Sequence[str],
    live: int | None,
    event: str = "alarm",
) -> None:
    """One outbox row per endpoint of a new alarm, in order: the first `live` (all when None) pending, the rest on
    standby for failover. `event` is `alarm`, or `test` for the test signal of an alarm raised on test."""
    live_count = len(endpoints) if live is None else live
    conn.executemany(
        "INSERT INTO outbox (alarm_id, endpoint, event, position, state, priority, created_at, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                alarm_id,
                name,
                event,
                position,
                "pending" if position < live_count else "standby",
                priority,
                raised,
                raised,
            )
            for position, name in enumerate(endpoints)
        ],
    )


def make_alarm_real(
    conn: sqlite3.Connection, alarm_id: str, priority: int, now: str, endpoints: Sequence[str], live: int | None
) -> list[str]:
    """A test alarm becomes a real one: its test signals not yet sent are cancelled and it gets its alarm legs, due
    now; returns the endpoints of the new legs."""
    conn.execute(
        "UPDATE outbox SET state = 'cancelled', next_attempt_at = NULL, last_error = 'cancelled: the guard said it is"
        " real' WHERE alarm_id = ? AND event = 'test' AND state IN ('pending', 'standby')",
        (alarm_id,),
    )
    insert_alarm_legs(conn, alarm_id, priority, now, endpoints, live)
    return list(endpoints)


def close_alarm_legs(conn: sqlite3.Connection, alarm_id: str, now: str) -> list[str]:
    """A closed alarm's undelivered legs are cancelled and each delivered one gets a `restore` behind it; returns the
    endpoints cancelled.

    A cancelled leg may still have an attempt in flight; if that attempt comes back delivered, `record_attempt` gives
    the leg its restore then (`enqueue_restores` with its id), so a centre that got the alarm always gets the restore.
    """
    cancelled = [
        r[0]
        for r in conn.execute(
            "UPDATE outbox SET state = 'cancelled', next_attempt_at = NULL,"
            " last_error = TRIM(COALESCE(last_error, '') || ' (cancelled: alarm closed before delivery)')"
            " WHERE alarm_id = ? AND state IN ('pending', 'standby') RETURNING endpoint",
            (alarm_id,),
        ).fetchall()
    ]
    enqueue_restores(conn, alarm_id, now)
    return cancelled


def enqueue_restores(conn: sqlite3.Connection, alarm_id: str, now: str, leg_id: int | None = None) -> int:
    """A pending `restore` behind each delivered alarm leg of a closed alarm (only leg `leg_id` when given) that has
    none yet; returns how many were added.

    The centres that have the alarm are told it is over (SIA PH/FH/KH, Contact ID 3xx; `restore` over HTTP). An alarm
    still open gets none: its restores come when it is closed.
    """
    return conn.execute(
        "INSERT OR IGNORE INTO outbox (alarm_id, endpoint, event, position, state, priority, created_at,"
        " next_attempt_at) SELECT o.alarm_id, o.endpoint, 'restore', o.position, 'pending', o.priority, ?, ?"
        " FROM outbox o JOIN alarms a ON a.id = o.alarm_id"
        " WHERE o.alarm_id = ? AND o.event = 'alarm' AND o.state = 'delivered' AND a.state = 'closed'"
        " AND (? IS NULL OR o.id = ?)",
        (now, now, alarm_id, leg_id, leg_id),
    ).rowcount


# Device troubles, written by the health store's hook in the transaction that opens or recovers the fault.


def enqueue_trouble(
    conn: sqlite3.Connection, fault_id: int, endpoints: Sequence[str], device: dict[str, Any] | None, at: datetime
) -> int:
    """One pending `trouble` row per endpoint for the fault's current occurrence; returns how many were added.

    The trouble is kept as sent (`subject`): a later registry edit does not rewrite what a centre was told.
    """
    row = conn.execute(
        "SELECT kind, subject, summary, opened_at, recurrences FROM faults WHERE id = ?", (fault_id,)
    ).fetchone()
    if row is None:
        raise NotFoundError("fault", f"no fault {fault_id}")
    when = to_iso(at)
    subject = json.dumps(
        {
            "kind": row[0],
            "subject": row[1],
            "summary": row[2],
            "device": device,
            "opened_at": row[3],
            "occurred_at": when,
            "recovered_at": None,
        },
        ensure_ascii=False,
    )
    before = conn.total_changes
    conn.executemany(
        "INSERT OR IGNORE INTO outbox (fault_id, occurrence, subject, endpoint, event, position, state, priority,"
        " created_at, next_attempt_at) VALUES (?, ?, ?, ?, 'trouble', ?, 'pending', ?, ?, ?)",
        [
            (fault_id, row[4], subject, name, position, TROUBLE_PRIORITY, when, when)
            for position, name in enumerate(endpoints)
        ],
    )
    return conn.total_changes - before


def enqueue_trouble_restore(conn: sqlite3.Connection, fault_id: int, at: datetime) -> int:
    """A pending `trouble_restore` behind each trouble row of the fault's current occurrence that was delivered or is
    still pending (one refused for good has nothing to restore); returns how many were added."""
    when = to_iso(at)
    return conn.execute(
        "INSERT OR IGNORE INTO outbox (fault_id, occurrence, subject, endpoint, event, position, state, priority,"
        " created_at, next_attempt_at)"
        " SELECT fault_id, occurrence, json_set(subject, '$.recovered_at', ?, '$.occurred_at', ?), endpoint,"
        " 'trouble_restore', position, 'pending', priority, ?, ? FROM outbox"
        " WHERE fault_id = ? AND event = 'trouble' AND state IN ('pending', 'delivered')"
        " AND occurrence = (SELECT recurrences FROM faults WHERE id = ?)",
        (when, when, when, when, fault_id, fault_id),
    ).rowcount
