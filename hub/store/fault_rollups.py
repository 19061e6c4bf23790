"""The fault figures of an uptime report from per-day rollups (`figures`), and the step that keeps them (`roll_day`).

Why: a 90-day report over 10,000 devices reads ~80,000 faults and parses three times of each; a closed day's
faults rarely change, so each day's figures per subject are summed once and kept.

Design (the reference is `hub.reports.fault_figures.fault_stats` over every fault of the period, and these
figures equal it exactly, a property test holds them to it):

- `fault_rollup_days` marks the site-local days rolled up (they need not be contiguous: each day stands alone);
  `fault_rollup` holds per day, for each subject, what is fixed once the day is over: the faults opened in it
  and recovered before its end (count, total and longest time to recover) and the breaches of deadlines in it;
  one row a day (its subjects, and their figures as one array), so a 90-day report reads 90 rows, not 40,000.
  Faults opened in the day and recovered on a later one are summed apart ("folded"), with the latest of those
  recoveries: a report ending after it takes the sums, one ending before judges them one by one.
  `fault_rollup_live` lists the faults of a day whose part a report must judge itself: those not recovered when
  the day was rolled (their time to recover runs on to the report's end) and the rare ones whose time, read to
  the millisecond, rounds onto the day's end; and the folded ones.
- Triggers drop, in the transaction of the write and whoever writes, the days a fault's change can touch: the
  days of its opening and of its deadline (old and new), when its subject, kind, times or breach mark change,
  or its recovery moves before the end of a rolled day or was folded. A recovery or breach as it happens touches nothing
  rolled; a fault purged a year on drops just its own two days, not every day since.
- The roll step (`roll_day`, run by `hub.store.rollups.UptimeRollups`) rolls the earliest closed day not rolled,
  from the first fault's day, in one short write transaction, so a racing write cannot leave a stale day.
- A report takes the rolled days inside its period and reads the rest from the faults themselves: the part-days
  at its edges, days not rolled (yet or again), the faults listed live, and faults whose time falls a hair
  before its start and rounds onto it (which the reference counts when their other time is inside).
- Exactness: every time is a julianday-derived float of seconds, as in the reference. For times from `start`
  on, such floats are whole multiples of 2**(k-52) where 2**k <= start, so every difference and every sum below
  2**(k+1) (68 years of fault time for 2004-2038) is exact, whatever the order of the additions; a report whose
  total reaches that is left to the reference.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

import numpy as np
import orjson

from hub.core.clock import from_iso, to_iso
from hub.reports.fault_figures import FaultStats, count_fault
from hub.store import Store, has_table
from hub.store.faults import SCHEMA as FAULTS_SCHEMA


def _drop(*times: str) -> str:
    """Drop the rolled days the times fall in (by their text, as the roll step selects a day's faults); their rows
    go with them (`fault_rollup_day_drop`)."""
    where = " OR ".join(f"(start_at <= {t} AND end_at > {t})" for t in times)
    return f"DELETE FROM fault_rollup_days WHERE {where};"  # noqa: S608


# One transaction: on a fresh file the objects cost a few pages of WAL, not a few for each.
SCHEMA = f"""
BEGIN;
CREATE TABLE IF NOT EXISTS fault_rollup_days (
    day TEXT PRIMARY KEY,
    start_at TEXT NOT NULL,
    end_at TEXT NOT NULL,
    basis TEXT NOT NULL,
    rolled_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fault_rollup (
    day TEXT PRIMARY KEY,
    subjects TEXT NOT NULL,
    figures BLOB NOT NULL,
    folded_subjects TEXT NOT NULL,
    folded_figures BLOB NOT NULL,
    folded_until REAL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fault_rollup_live (
    day TEXT NOT NULL,
    part TEXT NOT NULL,
    fault_id INTEGER NOT NULL,
    PRIMARY KEY (day, part, fault_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS fault_rollup_live_fault ON fault_rollup_live(fault_id);
CREATE TRIGGER IF NOT EXISTS fault_rollup_day_drop AFTER DELETE ON fault_rollup_days
BEGIN DELETE FROM fault_rollup WHERE day = OLD.day; DELETE FROM fault_rollup_live WHERE day = OLD.day; END;
CREATE INDEX IF NOT EXISTS faults_opened ON faults(opened_at);
CREATE INDEX IF NOT EXISTS faults_due ON faults(due_at);
CREATE TRIGGER IF NOT EXISTS fault_rollup_insert AFTER INSERT ON faults
BEGIN {_drop("NEW.opened_at", "NEW.due_at")} END;
CREATE TRIGGER IF NOT EXISTS fault_rollup_delete AFTER DELETE ON faults
BEGIN {_drop("OLD.opened_at", "OLD.due_at")} END;
CREATE TRIGGER IF NOT EXISTS fault_rollup_update
AFTER UPDATE OF subject, kind, opened_at, due_at, recovered_at, breached_at ON faults
WHEN OLD.subject IS NOT NEW.subject OR OLD.kind IS NOT NEW.kind OR OLD.opened_at IS NOT NEW.opened_at
    OR OLD.due_at IS NOT NEW.due_at OR (OLD.breached_at IS NULL) != (NEW.breached_at IS NULL)
    OR (OLD.recovered_at IS NOT NEW.recovered_at AND min(ifnull(OLD.recovered_at, '~'), ifnull(NEW.recovered_at, '~'))
        < (SELECT max(end_at) FROM fault_rollup_days))
    OR (OLD.recovered_at IS NOT NEW.recovered_at
        AND EXISTS (SELECT 1 FROM fault_rollup_live WHERE fault_id = OLD.id AND part = 'folded'))
BEGIN {_drop("OLD.opened_at", "NEW.opened_at", "OLD.due_at", "NEW.due_at")} END;
COMMIT;
"""  # noqa: S608


def _epoch(column: str) -> str:
    # The reference's reading of a stored time (hub.store.reports), so equal texts give equal seconds.
    return f"((julianday({column}) - 2440587.5) * 86400.0)"


# A pre-alarm is not counted, as in the reference: the wiring or the air is in trouble, not the device.
_COLUMNS = (
    f"f.id, f.subject, f.opened_at, f.due_at, {_epoch('f.opened_at')}, {_epoch('f.due_at')},"
    f" {_epoch('f.recovered_at')}, f.breached_at IS NOT NULL"
)
_BETWEEN_SQL = (
    f"SELECT {_COLUMNS} FROM faults f"  # noqa: S608
    " WHERE ((f.opened_at >= ?1 AND f.opened_at < ?2) OR (f.due_at >= ?1 AND f.due_at < ?2)) AND f.kind != 'prealarm'"
)
_LIVE_SQL = (
    f"SELECT l.part = 'opened', l.part = 'due', {_COLUMNS} FROM fault_rollup_live l"  # noqa: S608
    " JOIN faults f ON f.id = l.fault_id WHERE l.day >= ? AND l.day <= ? AND l.part != 'folded'"
)
_FOLDED_SQL = (
    f"SELECT {_COLUMNS} FROM fault_rollup_live l"  # noqa: S608
    " JOIN faults f ON f.id = l.fault_id WHERE l.day = ? AND l.part = 'folded'"
)
_ROLLED_SQL = (
    "SELECT day, subjects, figures, folded_subjects, folded_figures, folded_until FROM fault_rollup"
    " WHERE day >= ? AND day <= ?"
)
# A day's figures: opened, total and longest time to recover (s), breaches; a row each, a column per subject.
_FIGURES = np.dtype("<f8")
# A stored time this much before a bound may read (to the millisecond) as the bound itself.
_HAIR = timedelta(milliseconds=2)

Row = tuple[int, str, str, str, float, float, float | None, int]


def _seconds(conn: Any, *texts: str) -> list[float]:
    row = conn.execute("SELECT " + ", ".join(_epoch("?") for _ in texts), texts).fetchone()
    return [float(v) for v in row]


def basis(timezone: str) -> str:
    """What the rolled days depend on besides the faults: the zone their days are in."""
    return timezone


class _Judge:
    """The reference's rules for single faults of one period, adding to `out`."""

    def __init__(self, out: dict[str, FaultStats], texts: tuple[str, str], bounds: tuple[float, float]) -> None:
        self.out = out
        self.start_text, self.end_text = texts
        self.start, self.end = bounds

    def add(self, row: Row, opened_part: bool, due_part: bool) -> None:
        _, subject, opened_text, due_text, opened, due, recovered, breach_recorded = row
        lo, hi = self.start_text, self.end_text
        if not (lo <= opened_text < hi or lo <= due_text < hi):
            return  # the reference never reads it
        count_fault(
            self.out, subject, opened, due, recovered, breach_recorded, self.start, self.end, opened_part, due_part
        )


def figures(
    conn: Any, start_text: str, end_text: str, start: float, end: float, rollup_basis: str
) -> dict[str, FaultStats] | None:
    """Per subject the reference's figures over [start, end) from the rolled days and the rest read exactly;
    None without rolled days inside it (or when exactness is not assured): the caller runs the reference."""
    if start <= 0.0 or not has_table(conn, "fault_rollup_days"):
        return None
    if conn.execute("SELECT 1 FROM fault_rollup_days WHERE basis != ? LIMIT 1", (rollup_basis,)).fetchone():
        return None  # rolled for another zone: the roll step starts over
    days = conn.execute(
        "SELECT day, start_at, end_at FROM fault_rollup_days WHERE start_at >= ? AND end_at <= ? ORDER BY start_at",
        (start_text, end_text),
    ).fetchall()
    if not days:
        return None
    parts: list[tuple[str, bytes]] = []
    unfolded: list[str] = []
    for day, subjects, figures, folded_subjects, folded_figures, until in conn.execute(
        _ROLLED_SQL, (days[0][0], days[-1][0])
    ):
        parts.append((subjects, figures))
        if until is None or until < end:
            parts.append((folded_subjects, folded_figures))
        else:
            unfolded.append(day)  # one of its faults recovered at or after the period's end: judged one by one
    out = _rolled(parts)
    judge = _Judge(out, (start_text, end_text), (start, end))
    for day in unfolded:
        for row in conn.execute(_FOLDED_SQL, (day,)):
            judge.add(row, True, False)
    for opened_part, due_part, *row in conn.execute(_LIVE_SQL, (days[0][0], days[-1][0])):
        judge.add(tuple(row), bool(opened_part), bool(due_part))
    for lo, hi in _uncovered(start_text, end_text, [(a, b) for _, a, b in days]):
        for row in conn.execute(_BETWEEN_SQL, (lo, hi)):
            judge.add(row, lo <= row[2] < hi, lo <= row[3] < hi)
    # Read as `start` itself though stored a hair before it: counted by the reference when the other time is in.
    hair = to_iso(from_iso(start_text) - _HAIR)
    for row in conn.execute(_BETWEEN_SQL, (hair, start_text)):
        judge.add(row, hair <= row[2] < start_text, hair <= row[3] < start_text)
    total = 0.0
    for stats in out.values():
        total += stats.ttr_total_s
    if total >= 2.0 ** math.frexp(start)[1]:
        return None  # sums past 2**(k+1) may round, and then their order matters: the reference's order rules
    return out


def _rolled(rows: list[tuple[str, bytes]]) -> dict[str, FaultStats]:
    """The days' figures added up per subject (whole numbers and exact sums, so in any order)."""
    subjects: list[str] = []
    parts = []
    for names, figures in rows:
        subjects.extend(orjson.loads(names))
        parts.append(np.frombuffer(figures, dtype=_FIGURES).reshape(4, -1))
    if not subjects:
        return {}
    data = np.concatenate(parts, axis=1)
    index = {subject: i for i, subject in enumerate(dict.fromkeys(subjects))}
    at = np.fromiter(map(index.__getitem__, subjects), dtype=np.intp, count=len(subjects))
    size = len(index)
    longest = np.zeros(size)
    np.maximum.at(longest, at, data[2])
    return {
        subject: FaultStats(int(opened), total, top, int(breaches))
        for subject, opened, total, top, breaches in zip(
            index,
            np.bincount(at, weights=data[0], minlength=size).tolist(),
            np.bincount(at, weights=data[1], minlength=size).tolist(),
            longest.tolist(),
            np.bincount(at, weights=data[3], minlength=size).tolist(),
            strict=True,
        )
    }


def _uncovered(start_text: str, end_text: str, days: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The stretches of [start, end) outside the rolled days (in time order, inside it)."""
    out: list[tuple[str, str]] = []
    at = start_text
    for day_start, day_end in days:
        if day_start > at:
            out.append((at, day_start))
        at = max(at, day_end)
    if at < end_text:
        out.append((at, end_text))
    return out


def roll_day(
    store: Store,
    timezone: str,
    zone: tzinfo,
    now: datetime,
    bounds: Callable[[date, tzinfo], tuple[datetime, datetime]],
) -> bool:
    """Roll up the earliest site day not rolled that closed before `now`, from the first fault's (`bounds`: a day's
    [start, end) in UTC); True when one was (more may be due)."""
    conn = store.connection()
    wanted = basis(timezone)
    if conn.execute("SELECT 1 FROM fault_rollup_days WHERE basis != ? LIMIT 1", (wanted,)).fetchone():
        with store.write() as write:
            for table in ("fault_rollup", "fault_rollup_live", "fault_rollup_days"):
                write.execute(f"DELETE FROM {table}")  # noqa: S608
        return True
    first = conn.execute("SELECT MIN(opened_at) FROM faults").fetchone()[0]
    if first is None:
        return False
    rolled = {row[0] for row in conn.execute("SELECT day FROM fault_rollup_days")}
    day = from_iso(first).astimezone(zone).date()
    while True:
        start, end = bounds(day, zone)
        if end > now:
            return False
        if day.isoformat() not in rolled:
            break
        day += timedelta(days=1)
    start_text, end_text = to_iso(start), to_iso(end)
    key = day.isoformat()
    with store.write() as write:
        (day_end,) = _seconds(write, end_text)
        sums: dict[str, list[Any]] = {}
        folded: dict[str, list[Any]] = {}
        until: float | None = None
        live: list[tuple[str, str, int]] = []
        for fault_id, subject, opened_text, due_text, opened, due, recovered, recorded in write.execute(
            _BETWEEN_SQL, (start_text, end_text)
        ):
            if start_text <= opened_text < end_text:
                if opened < day_end and recovered is not None:
                    ttr = recovered - opened
                    if ttr < 0.0:
                        ttr = 0.0
                    if recovered < day_end:
                        cur = sums.setdefault(subject, [0, 0.0, 0.0, 0])
                    else:  # recovered on a later day: fixed for reports ending after `until`
                        cur = folded.setdefault(subject, [0, 0.0, 0.0, 0])
                        live.append((key, "folded", fault_id))
                        until = recovered if until is None or recovered > until else until
                    cur[0] += 1
                    cur[1] += ttr
                    if ttr > cur[2]:
                        cur[2] = ttr
                else:  # still open now (or read as the day's end): the report's end decides
                    live.append((key, "opened", fault_id))
            if start_text <= due_text < end_text:
                if due < day_end:
                    if recorded or recovered is None or recovered > due:
                        sums.setdefault(subject, [0, 0.0, 0.0, 0])[3] += 1
                else:
                    live.append((key, "due", fault_id))
        write.execute("DELETE FROM fault_rollup_live WHERE day = ?", (key,))
        write.execute(
            "INSERT OR REPLACE INTO fault_rollup (day, subjects, figures, folded_subjects, folded_figures,"
            " folded_until) VALUES (?, ?, ?, ?, ?, ?)",
            (key, *_packed(sums), *_packed(folded), until),
        )
        write.executemany("INSERT INTO fault_rollup_live (day, part, fault_id) VALUES (?, ?, ?)", live)
        write.execute(
            "INSERT INTO fault_rollup_days (day, start_at, end_at, basis, rolled_at) VALUES (?, ?, ?, ?, ?)",
            (key, start_text, end_text, wanted, to_iso(now)),
        )
    return True


def _packed(sums: dict[str, list[Any]]) -> tuple[str, bytes]:
    """Subjects as a JSON list and their figures as one array (a row per figure, a column per subject)."""
    figures = np.array([[cur[i] for cur in sums.values()] for i in range(4)], dtype=_FIGURES)
    return orjson.dumps(list(sums)).decode("utf-8"), figures.tobytes()


def ensure_schema(store: Store) -> None:
    """The fault rollup tables, the faults' time indexes and the triggers (the faults table if not there yet)."""
    store.ensure_schema(FAULTS_SCHEMA)
    store.ensure_schema(SCHEMA)
