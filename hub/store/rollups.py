"""Each device's time per state over a stretch of time, from the transitions or from per-day rollups: the tallies
of an uptime report (`tallies`), and the worker that keeps the rollups current (`UptimeRollups`).

Why rollups: a 90-day report over 10,000 devices walks ~300,000 transitions in Python. Closed site-local days
never change unless something about the past arrives, so each is tallied once and kept.

Design (chosen over updating rollups in the transaction that writes a transition, which would put work on the
health writer's every commit and still need the same invalidation for windows and gaps):

- `uptime_rollup_days` holds the rolled days, one row each, a contiguous run of the site's days from the day of
  the first transition (`seq` 0) up to the last closed day; `uptime_rollup` holds, per day and device, the sums
  in milliseconds from the run's start to the end of that day (prefix sums, so any run of whole days costs two
  rows per device, not ninety) and the device's state at the day's end.
- Triggers invalidate, in the very transaction of the write and whoever writes (the hub, the CLI, a test, an
  older hub's code path), every rolled day from the earliest one a change can touch: a transition inserted,
  changed or deleted at `at` (it changes the state of every later day too), a maintenance window or hub gap
  added, changed or removed (from its start; an early end from the earlier end). A rolled day therefore never
  disagrees with the transitions; live transitions (at now, after every closed day) delete nothing.
- The worker (`UptimeRollups`, one `Worker`) rolls the next closed day: it tallies it in a read snapshot, then,
  in a write transaction, commits it only if nothing it read changed meanwhile, so a write racing the roll-up
  cannot leave a stale day. An older file gets its rollups the same way, day by day from the first (backfill).
  The same worker rolls the days of the fault figures first (`hub.store.fault_rollups`, which stand alone).
- A report (`tallies`) takes the rolled whole days inside its period (one run, by construction) and computes the
  edges (the part-days at either end, and days not rolled yet) exactly from the transitions; without a usable run
  it makes the full pass (`full_sums`), which stays the reference.
- Every time is read as whole milliseconds (`ms`): SQLite's date functions read stored times to the millisecond
  anyway, and sums of whole numbers are exact, so the rollup figures equal the full pass's to the last bit.
- Rollups are for one site zone and one registry (`basis`): a new zone or device list discards and rebuilds them.

Neither the rollups nor their absence changes a report's figures, so the report's ETag ignores them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from hub.config import HubConfig
from hub.core.clock import Clock, from_iso, to_iso
from hub.core.worker import Worker
from hub.reports.counting import STATES, Tally, planned_spans, state_index_sql, tally_sums
from hub.store import Store, fault_rollups, has_table
from hub.store.gaps import SCHEMA as GAPS_SCHEMA

log = logging.getLogger(__name__)

# `schema:rollups` in meta. 2: per-day fault figures (`hub.store.fault_rollups`) and the faults' time indexes.
ROLLUPS_VERSION = 2
# A day is rolled once it has been over this long: transitions committed just after midnight with times just
# before it would otherwise invalidate the day as soon as it was rolled.
CLOSE_AFTER = timedelta(minutes=10)
INTERVAL_S = 300.0
# Between two days of a backfill the write lock is left free for others this long.
BACKFILL_PAUSE_S = 0.05
# Device rows written per transaction (about 10 ms on the development machine).
ROWS_PER_COMMIT = 2000

_SUMS = ("unknown", "online", "offline", "faulty", "maintenance", "planned_offline", "planned_faulty", "unmonitored")
_SUM_COLUMNS = ", ".join(f"{name}_ms" for name in _SUMS)
# A stored end state's name by its index (an enum's .value per device would be a descriptor call each).
_STATE_VALUES = tuple(state.value for state in STATES)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS uptime_rollup_days (
    day TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    start_at TEXT NOT NULL,
    end_at TEXT NOT NULL,
    basis TEXT NOT NULL,
    rolled_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS uptime_rollup_days_end ON uptime_rollup_days(end_at);
CREATE TABLE IF NOT EXISTS uptime_rollup (
    day TEXT NOT NULL,
    device_id TEXT NOT NULL,
    {", ".join(f"{name}_ms INTEGER NOT NULL" for name in _SUMS)},
    end_state INTEGER NOT NULL,
    PRIMARY KEY (day, device_id)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS uptime_rollup_transition_insert AFTER INSERT ON state_transitions
BEGIN DELETE FROM uptime_rollup_days WHERE end_at > NEW.at; END;
CREATE TRIGGER IF NOT EXISTS uptime_rollup_transition_update AFTER UPDATE ON state_transitions
BEGIN DELETE FROM uptime_rollup_days WHERE end_at > min(OLD.at, NEW.at); END;
CREATE TRIGGER IF NOT EXISTS uptime_rollup_transition_delete AFTER DELETE ON state_transitions
BEGIN DELETE FROM uptime_rollup_days WHERE end_at > OLD.at; END;
CREATE TRIGGER IF NOT EXISTS uptime_rollup_window_insert AFTER INSERT ON maintenance_windows
BEGIN DELETE FROM uptime_rollup_days WHERE end_at > NEW.starts_at; END;
CREATE TRIGGER IF NOT EXISTS uptime_rollup_window_update AFTER UPDATE ON maintenance_windows
BEGIN DELETE FROM uptime_rollup_days WHERE end_at > CASE
    WHEN OLD.subject = NEW.subject AND OLD.starts_at = NEW.starts_at AND OLD.cancelled_at IS NEW.cancelled_at
    THEN min(OLD.ends_at, NEW.ends_at) ELSE min(OLD.starts_at, NEW.starts_at) END; END;
CREATE TRIGGER IF NOT EXISTS uptime_rollup_window_delete AFTER DELETE ON maintenance_windows
BEGIN DELETE FROM uptime_rollup_days WHERE end_at > OLD.starts_at; END;
CREATE TRIGGER IF NOT EXISTS uptime_rollup_gap_insert AFTER INSERT ON hub_gaps
BEGIN DELETE FROM uptime_rollup_days WHERE end_at > NEW.started_at; END;
CREATE TRIGGER IF NOT EXISTS uptime_rollup_gap_update AFTER UPDATE ON hub_gaps
BEGIN DELETE FROM uptime_rollup_days WHERE end_at > min(OLD.started_at, NEW.started_at); END;
CREATE TRIGGER IF NOT EXISTS uptime_rollup_gap_delete AFTER DELETE ON hub_gaps
BEGIN DELETE FROM uptime_rollup_days WHERE end_at > OLD.started_at; END;
"""  # noqa: S608


def ms(column: str) -> str:
    """SQL reading a stored time (or a `?` parameter) as whole milliseconds since the epoch.

    julianday() is SQLite's fastest parse and holds the time to the millisecond; its error is far below half a
    millisecond, so rounding gives back exactly the milliseconds SQLite read. The value stays a float (Python's
    float arithmetic is faster than its int's): floats hold whole numbers exactly up to 2**53, and so do their
    sums and differences, far beyond any sum of milliseconds here.
    """
    return f"round((julianday({column}) - 2440587.5) * 86400000.0)"


INITIAL_SQL = (
    "SELECT j.value, (SELECT s.to_state FROM state_transitions s WHERE s.device_id = j.value AND s.at < ?"
    " ORDER BY s.at DESC, s.id DESC LIMIT 1) FROM json_each(?) j"
)
# The text bounds and julianday() are both monotone, so every row's time falls inside the stretch's.
_STRETCH_SQL = (
    f"SELECT device_id, {state_index_sql('to_state')}, {ms('at')} FROM state_transitions"  # noqa: S608
    " WHERE at >= ? AND at < ? ORDER BY at, id"
)
_WINDOWS_SQL = (
    f"SELECT subject, {ms('starts_at')}, {ms('ends_at')} FROM maintenance_windows"  # noqa: S608
    " WHERE cancelled_at IS NULL AND starts_at < ? AND ends_at > ?"
)
_GAPS_SQL = f"SELECT {ms('started_at')}, {ms('ended_at')} FROM hub_gaps WHERE started_at < ? AND ended_at > ?"  # noqa: S608


def basis(timezone: str, device_ids: Iterable[str]) -> str:
    """What rollups depend on besides the history: the zone their days are in and the devices they cover."""
    return hashlib.sha256(json.dumps([timezone, sorted(device_ids)]).encode("utf-8")).hexdigest()


def initial_states(conn: sqlite3.Connection, ids: Sequence[str], at_text: str) -> dict[str, str | None]:
    """Each device's state just before `at_text` (None: no transition yet)."""
    return dict(conn.execute(INITIAL_SQL, (at_text, json.dumps(list(ids)))).fetchall())


def _rolled_states(
    conn: sqlite3.Connection, ids: Sequence[str], at_text: str, rollup_basis: str
) -> dict[str, str | None]:
    """`initial_states`, from the end states of the last rolled day ending by `at_text` and the transitions
    since (a day's worth at most, where `initial_states` looks up every device's history)."""
    day = conn.execute(
        "SELECT day, end_at FROM uptime_rollup_days WHERE basis = ? AND end_at <= ? ORDER BY end_at DESC LIMIT 1",
        (rollup_basis, at_text),
    ).fetchone()
    if day is None:
        return initial_states(conn, ids, at_text)
    ends = dict(conn.execute("SELECT device_id, end_state FROM uptime_rollup WHERE day = ?", (day[0],)).fetchall())
    if any(d not in ends for d in ids):
        return initial_states(conn, ids, at_text)
    states: dict[str, str | None] = {d: _STATE_VALUES[ends[d]] for d in ids}
    # In time order, so each device ends up with its last transition's state, as `INITIAL_SQL` picks it.
    for device, to_state in conn.execute(
        "SELECT device_id, to_state FROM state_transitions WHERE at >= ? AND at < ? ORDER BY at, id",
        (day[1], at_text),
    ):
        if device in states:
            states[device] = to_state
    return states


def _bounds_ms(conn: sqlite3.Connection, *texts: str) -> list[float]:
    row = conn.execute("SELECT " + ", ".join(ms("?") for _ in texts), texts).fetchone()
    return [float(v) for v in row]


class _Context:
    """The planned windows and hub gaps of a whole report period, read once and clipped per stretch."""

    def __init__(self, conn: sqlite3.Connection, start_text: str, end_text: str) -> None:
        self.windows: list[tuple[str, float, float]] = []
        if has_table(conn, "maintenance_windows"):
            self.windows = conn.execute(_WINDOWS_SQL, (end_text, start_text)).fetchall()
        self.gaps: list[tuple[float, float]] = []
        if has_table(conn, "hub_gaps"):
            self.gaps = conn.execute(_GAPS_SQL, (end_text, start_text)).fetchall()


def _stretch(
    conn: sqlite3.Connection,
    ids: Sequence[str],
    initial: dict[str, str | None],
    texts: tuple[str, str],
    bounds: tuple[float, float],
    context: _Context,
    ends: dict[str, int] | None = None,
    *,
    quiet_alike: bool = True,
) -> dict[str, list[float]]:
    """Sums in milliseconds over one stretch, exactly from its transitions (a `Tally`'s fields, in order).

    With `quiet_alike`, the devices without a transition or a planned window in the stretch (most, in a part-day)
    are tallied once per state they start in, not one by one: the pass would do the very same steps for each. The
    reference (`full_sums`) takes every device through the pass, so the property test holds the two equal.
    """
    start, end = bounds
    planned = planned_spans(((s, max(a, start), min(b, end)) for s, a, b in context.windows), ids)
    rows = conn.execute(_STRETCH_SQL, texts).fetchall()
    if not quiet_alike:
        return {d: cur[2:10] for d, cur in tally_sums(rows, initial, start, end, planned, context.gaps, ends).items()}
    busy = {row[0] for row in rows}
    busy.update(d for d, spans in planned.items() if spans)
    moving: dict[str, str | None] = {}
    quiet: dict[str | None, list[str]] = {}
    for device, state in initial.items():
        if device in busy:
            moving[device] = state
        else:
            quiet.setdefault(state, []).append(device)
    out = {d: cur[2:10] for d, cur in tally_sums(rows, moving, start, end, planned, context.gaps, ends).items()}
    for state, devices in quiet.items():
        alike: dict[str, int] = {}
        (figures,) = tally_sums((), {devices[0]: state}, start, end, None, context.gaps, alike).values()
        out.update((d, figures[2:10]) for d in devices)
        if ends is not None:
            ends.update(dict.fromkeys(devices, alike[devices[0]]))
    return out


def full_sums(conn: sqlite3.Connection, ids: Sequence[str], start_text: str, end_text: str) -> dict[str, list[float]]:
    """The reference: sums in milliseconds over [start, end) from one pass over its transitions."""
    bounds = _bounds_ms(conn, start_text, end_text)
    return _stretch(
        conn,
        ids,
        initial_states(conn, ids, start_text),
        (start_text, end_text),
        (bounds[0], bounds[1]),
        _Context(conn, start_text, end_text),
        quiet_alike=False,
    )


_RUN_SQL = (
    f"SELECT a.device_id, {', '.join(f'a.{n}_ms - b.{n}_ms' for n in _SUMS)}, a.end_state"  # noqa: S608
    " FROM uptime_rollup a JOIN uptime_rollup b ON b.day = ?2 AND b.device_id = a.device_id WHERE a.day = ?1"
)
_UPTO_SQL = f"SELECT device_id, {_SUM_COLUMNS}, end_state FROM uptime_rollup WHERE day = ?"  # noqa: S608


_Parts = tuple[dict[str, Any], dict[str, list[float]], dict[str, list[float]]]


def _rolled_parts(
    conn: sqlite3.Connection, ids: Sequence[str], start_text: str, end_text: str, rollup_basis: str
) -> _Parts | None:
    """The run's rows by device (its sums at indices 1-8) and the head's and tail's sums (empty when the run
    reaches that end); None without a usable run."""
    if not has_table(conn, "uptime_rollup_days"):
        return None
    days = conn.execute(
        "SELECT day, seq, start_at, end_at FROM uptime_rollup_days WHERE basis = ? AND start_at >= ? AND end_at <= ?"
        " ORDER BY day",
        (rollup_basis, start_text, end_text),
    ).fetchall()
    if len(days) < 2:  # a day or none: the edges would cost as much as the pass
        return None
    for before, after in zip(days, days[1:], strict=False):
        if after[1] != before[1] + 1 or after[2] != before[3]:
            return None  # not one run: the rollups changed under a reader without a snapshot
    first, last = days[0], days[-1]
    if first[1] == 0:
        rows = conn.execute(_UPTO_SQL, (last[0],)).fetchall()
    else:
        previous = conn.execute(
            "SELECT day FROM uptime_rollup_days WHERE basis = ? AND end_at = ? AND seq = ?",
            (rollup_basis, first[2], first[1] - 1),
        ).fetchone()
        if previous is None:
            return None
        rows = conn.execute(_RUN_SQL, (last[0], previous[0])).fetchall()
    run = {row[0]: row for row in rows}
    if any(d not in run for d in ids):
        return None
    start, run_start, run_end, end = _bounds_ms(conn, start_text, first[2], last[3], end_text)
    context = _Context(conn, start_text, end_text)
    head: dict[str, list[float]] = {}
    if run_start > start:
        initial = _rolled_states(conn, ids, start_text, rollup_basis)
        head = _stretch(conn, ids, initial, (start_text, first[2]), (start, run_start), context)
    tail: dict[str, list[float]] = {}
    if end > run_end:
        initial = {d: _STATE_VALUES[run[d][-1]] for d in ids}
        tail = _stretch(conn, ids, initial, (last[3], end_text), (run_end, end), context)
    return run, head, tail


def rolled_sums(
    conn: sqlite3.Connection, ids: Sequence[str], start_text: str, end_text: str, rollup_basis: str
) -> dict[str, list[float]] | None:
    """Sums in milliseconds over [start, end): rolled whole days plus exact edges; None without a usable run."""
    parts = _rolled_parts(conn, ids, start_text, end_text, rollup_basis)
    if parts is None:
        return None
    run, head, tail = parts
    zero = [0] * len(_SUMS)
    return {
        d: [a + b + c for a, b, c in zip(run[d][1:-1], head.get(d, zero), tail.get(d, zero), strict=True)] for d in ids
    }


_new_tally = tuple.__new__  # skips the namedtuple's own __new__, a Python call per device


def _seconds(ids: Sequence[str], parts: _Parts) -> dict[str, Tally]:
    """`rolled_sums` in seconds as tallies, in one step (10,000 devices: the lists in between cost as much)."""
    run, head, tail = parts
    zero = [0.0] * len(_SUMS)
    out: dict[str, Tally] = {}
    # Unrolled: the sums are whole numbers, so adding before dividing is exact, as in `rolled_sums`.
    for d in ids:
        r, h, t = run[d], head.get(d, zero), tail.get(d, zero)
        out[d] = _new_tally(
            Tally,
            (
                (r[1] + h[0] + t[0]) / 1000.0,
                (r[2] + h[1] + t[1]) / 1000.0,
                (r[3] + h[2] + t[2]) / 1000.0,
                (r[4] + h[3] + t[3]) / 1000.0,
                (r[5] + h[4] + t[4]) / 1000.0,
                (r[6] + h[5] + t[5]) / 1000.0,
                (r[7] + h[6] + t[6]) / 1000.0,
                (r[8] + h[7] + t[7]) / 1000.0,
            ),
        )
    return out


def tallies(
    conn: sqlite3.Connection,
    ids: Sequence[str],
    start_text: str,
    end_text: str,
    rollup_basis: str | None,
) -> dict[str, Tally]:
    """Each device's tally in seconds over [start, end): from the rollups where they serve (`rollup_basis`), else
    (or with None) from the full pass; the two agree exactly."""
    parts = None if rollup_basis is None else _rolled_parts(conn, ids, start_text, end_text, rollup_basis)
    if parts is not None:
        return _seconds(ids, parts)
    return {
        d: Tally._make([v / 1000.0 for v in sums]) for d, sums in full_sums(conn, ids, start_text, end_text).items()
    }


def day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """A site-local day's [start, end) in UTC."""
    after = day + timedelta(days=1)
    return (
        datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC),
        datetime(after.year, after.month, after.day, tzinfo=zone).astimezone(UTC),
    )


def _marks(conn: sqlite3.Connection) -> tuple[Any, ...]:
    """What a roll-up read, besides the transitions: windows and gaps change rarely and are few, so counted."""
    windows = conn.execute(
        "SELECT COUNT(*), MAX(id), COUNT(cancelled_at), TOTAL(julianday(ends_at)), TOTAL(julianday(starts_at))"
        " FROM maintenance_windows"
    ).fetchone()
    gaps = conn.execute(
        "SELECT COUNT(*), MAX(id), TOTAL(julianday(started_at)), TOTAL(julianday(ended_at)) FROM hub_gaps"
    ).fetchone()
    return (*windows, *gaps)


def _reset(store: Store, why: str) -> None:
    with store.write() as write:
        write.execute("DELETE FROM uptime_rollup_days")
        write.execute("DELETE FROM uptime_rollup")
    log.info("uptime rollups: %s; rolling up again from the first day", why)


def roll_next_day(store: Store, ids: Sequence[str], timezone: str, zone: tzinfo, now: datetime) -> bool:
    """Roll up the day after the last rolled one if it is closed; True when a day was rolled (more may be due)."""
    conn = store.connection()
    wanted = basis(timezone, ids)
    last = conn.execute("SELECT day, seq, end_at, basis FROM uptime_rollup_days ORDER BY day DESC LIMIT 1").fetchone()
    if last is not None and last[3] != wanted:
        _reset(store, "the site zone or the registry changed")
        return True
    conn.execute("BEGIN")  # one snapshot: the day's inputs and the marks checked before committing agree
    try:
        seen_id = conn.execute("SELECT MAX(id) FROM state_transitions").fetchone()[0] or 0
        marks = _marks(conn)
        if last is None:
            first = conn.execute("SELECT MIN(at) FROM state_transitions").fetchone()[0]
            if first is None:
                return False
            day, seq = from_iso(first).astimezone(zone).date(), 0
        else:
            day, seq = date.fromisoformat(last[0]) + timedelta(days=1), last[1] + 1
        start, end = day_bounds(day, zone)
        if end > now - CLOSE_AFTER:
            return False
        start_text, end_text = to_iso(start), to_iso(end)
        base = {} if last is None else {row[0]: row[1:] for row in conn.execute(_UPTO_SQL, (last[0],))}
        broken = last is not None and any(d not in base for d in ids)  # never while only this module writes rows
        ends: dict[str, int] = {}
        day_tallies: dict[str, list[float]] = {}
        if not broken:
            if last is None:
                initial = initial_states(conn, ids, start_text)
            else:
                initial = {d: _STATE_VALUES[base[d][-1]] for d in ids}
            bounds = _bounds_ms(conn, start_text, end_text)
            context = _Context(conn, start_text, end_text)
            day_tallies = _stretch(conn, ids, initial, (start_text, end_text), (bounds[0], bounds[1]), context, ends)
    finally:
        conn.execute("COMMIT")
    if broken:
        _reset(store, f"day {day - timedelta(days=1)} lacks devices of its basis")
        return True
    zero = (0,) * len(_SUMS)
    rows = [
        (
            day.isoformat(),
            d,
            *(a + b for a, b in zip(base.get(d, zero)[: len(_SUMS)], day_tallies[d], strict=True)),
            ends[d],
        )
        for d in ids
    ]
    # The device rows go in small transactions, so the write lock is never held long (alarms commit too); they
    # count for nothing until the day's own row is committed, last, after checking nothing changed meanwhile.
    # Rows left from a day rolled before and invalidated are replaced, not deleted first (that could be millions).
    if last is None:
        with store.write() as write:
            write.execute("DELETE FROM uptime_rollup")  # a new first day: SQLite truncates the table without a scan
    for chunk in range(0, len(rows), ROWS_PER_COMMIT):
        with store.write() as write:
            write.executemany(
                f"INSERT OR REPLACE INTO uptime_rollup (day, device_id, {_SUM_COLUMNS}, end_state)"  # noqa: S608
                f" VALUES ({', '.join('?' * (len(_SUMS) + 3))})",
                rows[chunk : chunk + ROWS_PER_COMMIT],
            )
    with store.write() as write:
        now_last = write.execute("SELECT day FROM uptime_rollup_days ORDER BY day DESC LIMIT 1").fetchone()
        moved = write.execute(
            "SELECT 1 FROM state_transitions WHERE id > ? AND at < ? LIMIT 1", (seen_id, end_text)
        ).fetchone()
        if (now_last[0] if now_last else None) != (last[0] if last else None) or moved or _marks(write) != marks:
            return True  # something the day depends on changed while it was tallied: tally it again
        write.execute(
            "INSERT INTO uptime_rollup_days (day, seq, start_at, end_at, basis, rolled_at) VALUES (?, ?, ?, ?, ?, ?)",
            (day.isoformat(), seq, start_text, end_text, wanted, to_iso(now)),
        )
    return True


def ensure_schema(store: Store) -> None:
    """The rollup tables and their triggers (the tables the triggers watch are created if not there yet)."""
    from hub.store.health import SCHEMA as HEALTH_SCHEMA
    from hub.store.reports import SCHEMA as REPORTS_SCHEMA

    store.ensure_schema(HEALTH_SCHEMA)
    store.ensure_schema(REPORTS_SCHEMA)
    store.ensure_schema(GAPS_SCHEMA)
    store.ensure_schema(SCHEMA)
    fault_rollups.ensure_schema(store)
    store.meta_set("schema:rollups", str(ROLLUPS_VERSION))


class UptimeRollups:
    """Keeps the per-day uptime rollups current: rolls each closed day, and the days triggers invalidated."""

    def __init__(self, store: Store, config: HubConfig, clock: Clock, *, interval_s: float = INTERVAL_S) -> None:
        self._store = store
        self._clock = clock
        self._ids = [d.id for d in config.devices]
        self._timezone = config.site.timezone
        self._zone = config.site.tz()
        self._interval_s = interval_s
        self._worker = Worker(
            "uptime-rollups", self.tick, interval=interval_s, on_thread_exit=store.close_thread_connection
        )

    @property
    def worker(self) -> Worker:
        return self._worker

    def open(self) -> None:
        ensure_schema(self._store)

    def roll(self) -> bool:
        """Roll one day if one is due, the faults' first; True when one was (or must be tried again)."""
        now = self._clock.now()
        if fault_rollups.roll_day(self._store, self._timezone, self._zone, now - CLOSE_AFTER, day_bounds):
            return True
        return roll_next_day(self._store, self._ids, self._timezone, self._zone, now)

    def catch_up(self) -> int:
        """Roll every due day now, in the calling thread; the number of steps taken."""
        steps = 0
        while self.roll():
            steps += 1
        return steps

    def tick(self) -> float:
        return BACKFILL_PAUSE_S if self.roll() else self._interval_s

    def start(self) -> None:
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()
