"""The embedded store: one SQLite file in WAL mode holding events, dead letters, alarms, the outbox and the audit log,
and beside them device health, faults and report data.

Where each subject's SQL lives:
- `db`: connections (one per thread), the write lock, transactions, `meta`, the error tree.
- `schema`: the store's tables, their versions (`schema:<set>` in `meta`) and the migrations of older files.
- `events`: events and dead letters.  `alarms`: alarms, triggers, acknowledge/close, reports, the API's `AlarmView`.
- `outbox`: delivery rows, attempts, failover legs, device troubles.  `audit`: the audit log.
- `legs`: outbox rows written in other subjects' transactions (an alarm's legs and restores, device troubles).
- `store`: `Store` and `Transaction`, the subjects put together; call sites use those two.
- `health`, `reports`, `retention`: device health and faults, report reads and maintenance windows, purging.
- `gaps`, `sessions`: the hub's own downtime (for `hub.health.liveness`), console logins (for `hub.web.sessions`).
- `replays`: alarm-raising messages ingest handled, and the broker's replays of them (for `hub.ingest.replay`).
- `testmode`: test modes and drills (table set `test_mode`, for `alerts.testmode`) and the test/drill log's reads.

Writers use `transaction()` or `write()`; every thread gets its own connection. A few components still keep a small
table of their own next to their logic (recording status, the Influx spill) and reach the file through
`ensure_schema`, `connection()` and `write()`.
"""

from __future__ import annotations

from hub.store.alarms import ActiveAlarm, AlarmView, DutyCandidate, ReportView, TriggerView
from hub.store.audit import Actor
from hub.store.db import InvalidStateError, NotFoundError, StoreError, has_table
from hub.store.events import DeadLetterRow, EventRow
from hub.store.outbox import (
    TROUBLE_PRIORITY,
    Leg,
    OutboxAlarm,
    OutboxItem,
    OutboxTrouble,
    enqueue_trouble,
    enqueue_trouble_restore,
)
from hub.store.schema import CORE_SCHEMA, SCHEMA_VERSION, SCHEMA_VERSIONS
from hub.store.store import Store, Transaction

# The core tables' script under its old name (tests build files of older schemas on it).
_SCHEMA = CORE_SCHEMA

__all__ = [
    "CORE_SCHEMA",
    "SCHEMA_VERSION",
    "SCHEMA_VERSIONS",
    "TROUBLE_PRIORITY",
    "_SCHEMA",
    "ActiveAlarm",
    "Actor",
    "AlarmView",
    "DeadLetterRow",
    "DutyCandidate",
    "EventRow",
    "InvalidStateError",
    "Leg",
    "NotFoundError",
    "OutboxAlarm",
    "OutboxItem",
    "OutboxTrouble",
    "ReportView",
    "Store",
    "StoreError",
    "Transaction",
    "TriggerView",
    "enqueue_trouble",
    "enqueue_trouble_restore",
    "has_table",
]
