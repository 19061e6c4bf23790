"""Uptime reports for the bureau, computed from state-transition intervals (never by scanning raw messages).

Pure functions: the interval arithmetic (`intervals`, `tally`, `uptime`, and `tally_rows`, the one linear pass
over time-ordered transitions a report makes), fault figures (`fault_stats`), the report itself
(`build_report`), its JSON and CSV forms, its ETag, the daily MQTT summary (`uptime_summary`) and the schedule
that publishes it (`UptimePublisher`, with the publishing injected). `hub.store.reports` does the reading.

Definitions (also sent in every report under `definitions`):

- A device's state before its first transition is `unknown`. Counting stops at `as_of`, the earlier of `to`
  and now rounded down to the minute (the future is not counted; the minute makes the answer, and so its ETag,
  stable between polls).
- Working (`uptime_pct`) counts only `online` time. `faulty` (tamper, low battery, a failed camera check) is
  networked but not working: a camera reporting a fault is not doing its job. Networked counts online + faulty.
- Excluded from the counted period (the denominator): `unknown` time always (not yet monitored: the hub had not
  heard from the device and had not waited 3 heartbeat intervals to judge it); and with
  `reports.exclude_maintenance` (the default) time in the `maintenance` state and offline/faulty time inside a
  planned maintenance window. Online time inside a window still counts as working, so registering a window can
  never lower a figure; without the switch, windows change nothing and `maintenance` time is downtime.
- Not monitored (`unmonitored_min`): time the hub itself was not running (`hub_gaps`, recorded by
  `hub.health.liveness` on start), whatever `reports.exclude_maintenance` says. No state is guessed for it: it is left
  out of every device's counted time and reported on its own, so counted + excluded + not monitored = period.
- Downtime = counted period - working time.
- Faults: those opened in the period; time to recover = recovered_at - opened_at, where a fault still open at
  the period's end (or recovered after it) counts to the end. SLA breaches: faults whose deadline fell in the
  period and that were not recovered by it, or whose breach was recorded. Maintenance windows change no fault,
  recovery or breach figure: a breach stays a breach. Nor do hub gaps: a fault's clock runs while the hub is
  down (its time to recover is real time), and a deadline that passed during a gap is a breach.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import operator
import threading
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain
from typing import Any, Literal, NamedTuple, Protocol

from device_adapters.base import DeviceKind
from hub.core.clock import Clock, to_iso
from hub.core.periodic import Periodic
from hub.health.model import DeviceState

log = logging.getLogger(__name__)

Group = Literal["device", "kind", "site"]
Format = Literal["json", "csv"]
Span = tuple[float, float]  # [start, end) in seconds since the epoch

DEFAULT_DAYS = 30
MAX_DAYS = 366
REPORT_VERSION = "uptime-3"  # part of every ETag: a new report layout must never be answered with 304
SITE_WIDE = "*"  # a maintenance window's subject for the whole site

# Index of each state in a tally's sums; also the order of the *_now columns.
_STATES = (DeviceState.UNKNOWN, DeviceState.ONLINE, DeviceState.OFFLINE, DeviceState.FAULTY, DeviceState.MAINTENANCE)
_INDEX = {state.value: i for i, state in enumerate(_STATES)}
_UNKNOWN, _ONLINE, _OFFLINE, _FAULTY, _MAINTENANCE = range(5)
# Hoisted out of the per-device loops (an enum attribute look-up costs more than a constant).
_STATE_UNKNOWN, _STATE_ONLINE, _STATE_OFFLINE = (
    DeviceState.UNKNOWN.value,
    DeviceState.ONLINE.value,
    DeviceState.OFFLINE.value,
)
_PLANNED_SLOT = {_OFFLINE: 5, _FAULTY: 6}  # where downtime inside a planned window is summed as well
_UNMONITORED = 7  # where time the hub was not running is summed (it is in no state's sum)


def state_index(state: str | None) -> int:
    """A state's index in a tally (unknown for anything else)."""
    return _INDEX.get(state or "", _UNKNOWN)


def state_index_sql(column: str) -> str:
    """SQL giving `state_index(column)`, so the report's hot loop gets small ints instead of making strings."""
    whens = " ".join(f"WHEN '{state.value}' THEN {i}" for i, state in enumerate(_STATES) if i != _UNKNOWN)
    return f"CASE {column} {whens} ELSE {_UNKNOWN} END"


DEFINITIONS = {
    "period": "[from, to), counted up to as_of: the earlier of to and now rounded down to the minute",
    "uptime_pct": "online time / counted time; faulty devices are not working",
    "networked_pct": "(online + faulty) time / counted time",
    "counted": "the period minus excluded and not monitored time",
    "excluded": "unknown (not yet monitored) time; with exclude_maintenance also maintenance-state time and "
    "offline/faulty time inside planned maintenance windows (online time inside a window stays counted)",
    "unmonitored_min": "minutes the hub itself was not running (hub_gaps), left out of counted time whatever "
    "exclude_maintenance says (device-minutes in group rows; minutes of the period in the summary)",
    "hub_gaps": "when the hub was not running, from its last proof of life to its next start; faults, recovery "
    "times and SLA breaches run on through them",
    "downtime_min": "counted minutes not online (device-minutes for groups)",
    "faults": "faults opened in the period; non-device subjects (forwarding paths) count in the site row only",
    "mttr_min": "mean of recovered_at - opened_at over those faults; one still open at the end counts to it",
    "sla_breaches": "faults whose recovery deadline fell in the period unrecovered; maintenance windows never "
    "hide a breach",
    "current_state": "state now (device rows); the *_now columns count devices per state now",
    "retention_days": "cameras: days their recordings reach back at the last check (null when not known)",
    "retention_ok": "cameras: whether that is at least retention.days (null when not known)",
}
RETENTION_NOTE = (
    "retention compliance: cameras whose recordings reach back at least retention.days, of the cameras with a "
    "current verdict (null when none has one yet); per camera in retention_days / retention_ok"
)
INSTALLED_NOTE = (
    "installed = in the registry (the hub cannot know of devices never registered); networked = not offline "
    "or unknown now; working = online now"
)

COLUMNS = (
    "group",
    "key",
    "name",
    "kind",
    "building",
    "devices",
    "uptime_pct",
    "networked_pct",
    "downtime_min",
    "counted_min",
    "excluded_min",
    "unmonitored_min",
    "planned_downtime_min",
    "faults",
    "mttr_min",
    "longest_recovery_min",
    "sla_breaches",
    "current_state",
    *(f"{state.value}_now" for state in _STATES),
    "retention_days",
    "retention_ok",
)


class PeriodError(ValueError):
    """The asked-for period cannot be reported on; the message says why."""


# --- interval arithmetic ---------------------------------------------------------------------------------------


def intervals(
    transitions: Iterable[tuple[datetime, DeviceState]],
    initial_state: DeviceState,
    window_start: datetime,
    window_end: datetime,
) -> list[tuple[datetime, datetime, DeviceState]]:
    """(start, end, state) intervals covering [window_start, window_end) exactly, without gaps or overlaps.

    `transitions` are (at, to_state); any order (ties keep their given order). Those before the window only set
    the state it starts in (so a whole history may be passed); those at or after its end are ignored.
    Zero-length intervals are dropped and equal neighbours merged.
    """
    out: list[tuple[datetime, datetime, DeviceState]] = []
    if window_end <= window_start:
        return out
    state, since = initial_state, window_start
    for at, to_state in sorted(transitions, key=lambda t: t[0]):
        if at >= window_end:
            break
        if at > since:
            _append(out, since, at, state)
            since = at
        state = to_state
    _append(out, since, window_end, state)
    return out


def _append(
    out: list[tuple[datetime, datetime, DeviceState]], start: datetime, end: datetime, state: DeviceState
) -> None:
    if out and out[-1][2] is state and out[-1][1] == start:
        out[-1] = (out[-1][0], end, state)
    else:
        out.append((start, end, state))


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """The union of spans as sorted, disjoint spans (empty ones dropped)."""
    merged: list[Span] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _overlap(start: float, end: float, spans: Sequence[Span], starts: Sequence[float]) -> float:
    """Length of [start, end) inside sorted disjoint `spans` (`starts` are their starts, for bisecting)."""
    i = max(bisect_right(starts, start) - 1, 0)
    total = 0.0
    while i < len(spans) and spans[i][0] < end:
        lo, hi = max(start, spans[i][0]), min(end, spans[i][1])
        if hi > lo:
            total += hi - lo
        i += 1
    return total


class Uptime(NamedTuple):
    """One device's (or a group's) figures over a period, in seconds. (Tuples: a report makes 10,000.)"""

    period_s: float
    counted_s: float
    working_s: float
    networked_s: float
    downtime_s: float
    excluded_s: float
    planned_downtime_s: float  # maintenance-state time plus offline/faulty time inside planned windows
    unmonitored_s: float = 0.0  # the hub itself was not running: in neither counted nor excluded time

    @property
    def pct(self) -> float | None:
        """Working share of the counted time, 0-100; None when nothing was counted."""
        return None if self.counted_s <= 0 else min(100.0, 100.0 * self.working_s / self.counted_s)

    @property
    def networked_pct(self) -> float | None:
        return None if self.counted_s <= 0 else min(100.0, 100.0 * self.networked_s / self.counted_s)


class Tally(NamedTuple):
    """Seconds spent in each state within a period, the offline/faulty part inside planned windows, and the time
    the hub was not running (in no state: what the device did then is not known).

    Sums are additive, so a group's tally is the sum of its devices' and a period's the sum of its parts (`+`
    adds field by field, not tuple concatenation).
    """

    unknown_s: float = 0.0
    online_s: float = 0.0
    offline_s: float = 0.0
    faulty_s: float = 0.0
    maintenance_s: float = 0.0
    planned_offline_s: float = 0.0
    planned_faulty_s: float = 0.0
    unmonitored_s: float = 0.0

    def __add__(self, other: tuple[Any, ...]) -> Tally:
        if not isinstance(other, Tally):
            return NotImplemented  # never tuple concatenation
        return Tally(
            self.unknown_s + other.unknown_s,
            self.online_s + other.online_s,
            self.offline_s + other.offline_s,
            self.faulty_s + other.faulty_s,
            self.maintenance_s + other.maintenance_s,
            self.planned_offline_s + other.planned_offline_s,
            self.planned_faulty_s + other.planned_faulty_s,
            self.unmonitored_s + other.unmonitored_s,
        )

    def uptime(self, exclude_maintenance: bool) -> Uptime:
        # Clamped: overlaps are summed separately and may exceed their state's time by a rounding error.
        planned_off = min(self.planned_offline_s, self.offline_s)
        planned_faulty = min(self.planned_faulty_s, self.faulty_s)
        planned = self.maintenance_s + planned_off + planned_faulty
        if exclude_maintenance:
            # A sum of non-negative terms that includes online_s, so working <= counted holds in floating point.
            counted = self.online_s + (self.offline_s - planned_off) + (self.faulty_s - planned_faulty)
            networked = self.online_s + (self.faulty_s - planned_faulty)
            excluded = self.unknown_s + planned
        else:
            counted = self.online_s + self.offline_s + self.faulty_s + self.maintenance_s
            networked = self.online_s + self.faulty_s
            excluded = self.unknown_s
        unmonitored = self.unmonitored_s
        return Uptime(
            counted + excluded + unmonitored,
            counted,
            self.online_s,
            networked,
            counted - self.online_s,
            excluded,
            planned,
            unmonitored,
        )


def tally(
    spans: Iterable[tuple[datetime, datetime, DeviceState]],
    planned: Iterable[tuple[datetime, datetime]] = (),
    unmonitored: Iterable[tuple[datetime, datetime]] = (),
) -> Tally:
    """Time per state over `intervals(...)`, with the offline/faulty part inside the `planned` windows; time inside
    the `unmonitored` spans (hub gaps) counts as not monitored whatever the state."""
    windows = merge_spans((s.timestamp(), e.timestamp()) for s, e in planned)
    starts = [s for s, _ in windows]
    gaps = merge_spans((s.timestamp(), e.timestamp()) for s, e in unmonitored)
    sums = [0.0] * 8
    for start, end, state in spans:
        lo, hi = start.timestamp(), end.timestamp()
        outside = 0.0
        for piece_lo, piece_hi in _outside(lo, hi, gaps):
            _add(sums, 0, _INDEX[state.value], piece_lo, piece_hi, windows, starts)
            outside += piece_hi - piece_lo
        sums[_UNMONITORED] += (hi - lo) - outside
    return Tally(*sums)


def _outside(start: float, end: float, gaps: Sequence[Span]) -> list[Span]:
    """The parts of [start, end) outside sorted disjoint `gaps`."""
    pieces: list[Span] = []
    cursor = start
    for lo, hi in gaps:
        if hi <= cursor:
            continue
        if lo >= end:
            break
        if lo > cursor:
            pieces.append((cursor, lo))
        cursor = hi
        if cursor >= end:
            break
    if cursor < end:
        pieces.append((cursor, end))
    return pieces


def uptime(
    spans: Iterable[tuple[datetime, datetime, DeviceState]],
    planned: Iterable[tuple[datetime, datetime]] = (),
    *,
    exclude_maintenance: bool = True,
    unmonitored: Iterable[tuple[datetime, datetime]] = (),
) -> Uptime:
    """Figures of one device over its intervals; see the module docstring for what counts."""
    return tally(spans, planned, unmonitored).uptime(exclude_maintenance)


def _add(
    sums: list[Any], offset: int, state: int, start: float, end: float, spans: Sequence[Span], starts: Sequence[float]
) -> None:
    """Count [start, end) in `state` (sums from `offset`), and its part inside `spans` if offline or faulty."""
    sums[offset + state] += end - start
    slot = _PLANNED_SLOT.get(state)
    if slot is not None and spans:
        sums[offset + slot] += _overlap(start, end, spans, starts)


def tally_rows(
    rows: Iterable[tuple[str, int, float]],
    initial: Mapping[str, str | None],
    start: float,
    end: float,
    planned: Mapping[str, Sequence[Span]] | None = None,
    unmonitored: Iterable[Span] = (),
) -> dict[str, Tally]:
    """One linear pass over (device_id, state_index(to_state), at) rows in time order, all inside [start, end).

    `initial` names every device to tally (the registry) with its state at `start` (None: unknown); rows of other
    devices are skipped. `planned` holds each device's merged planned windows; `unmonitored` the hub's gaps (for
    every device). Same results as `tally(intervals(...), planned, unmonitored)` per device, without building
    intervals: this is the hot loop of a 10,000-device report.
    """
    planned = planned or {}
    # Per device one list, so a row costs one dict lookup: [state index, since, 5 state sums, 2 planned sums,
    # unmonitored sum, (windows, their starts, first start, last end) or None].
    open_: dict[str, list[Any]] = {}
    prepared: dict[int, tuple[Sequence[Span], list[float], float, float]] = {}
    for device, state in initial.items():
        spans = planned.get(device)
        window = None
        if spans:
            window = prepared.get(id(spans))  # devices sharing the site-wide windows share their bisect keys too
            if window is None:
                window = prepared[id(spans)] = (spans, [s for s, _ in spans], spans[0][0], spans[-1][1])
        open_[device] = [state_index(state), start, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, window]
    # Gaps are few and site-wide: the pass stops at each, closes every device's interval at its start, follows
    # the states recorded inside it without counting time, and counts the gap as not monitored.
    ordered = iter(rows)
    pending: tuple[str, int, float] | None = None
    for gap_start, gap_end in merge_spans((max(s, start), min(e, end)) for s, e in unmonitored):
        pending = _count(ordered, pending, open_, gap_start)
        for cur in open_.values():
            _close(cur, gap_start)
            cur[2 + _UNMONITORED] += gap_end - cur[1]
            cur[1] = gap_end
        pending = _follow(ordered, pending, open_, gap_end)
    _count(ordered, pending, open_, float("inf"))
    for cur in open_.values():
        _close(cur, end)
    return {device: Tally._make(cur[2:10]) for device, cur in open_.items()}


def _count(
    rows: Iterator[tuple[str, int, float]],
    pending: tuple[str, int, float] | None,
    open_: Mapping[str, list[Any]],
    limit: float,
) -> tuple[str, int, float] | None:
    """Count the rows before `limit` (and `pending`, read earlier); returns the first row at or after it."""
    if pending is not None:
        rows = chain((pending,), rows)
    for row in rows:
        device, to_state, at = row
        if at >= limit:
            return row
        cur = open_.get(device)
        if cur is None:
            continue
        since = cur[1]
        if at > since:  # times are read to the millisecond, so a row may sit a hair before `since`: never go back
            window = cur[10]
            if window is not None and at > window[2] and since < window[3]:
                _add(cur, 2, cur[0], since, at, window[0], window[1])
            else:
                cur[2 + cur[0]] += at - since
            cur[1] = at
        cur[0] = to_state
    return None


def _follow(
    rows: Iterator[tuple[str, int, float]],
    pending: tuple[str, int, float] | None,
    open_: Mapping[str, list[Any]],
    limit: float,
) -> tuple[str, int, float] | None:
    """Take the states of the rows before `limit` without counting time (inside a gap)."""
    if pending is not None:
        rows = chain((pending,), rows)
    for row in rows:
        if row[2] >= limit:
            return row
        cur = open_.get(row[0])
        if cur is not None:
            cur[0] = row[1]
    return None


def _close(cur: list[Any], at: float) -> None:
    """Count a device's current state from its `since` up to `at`."""
    since = cur[1]
    if at > since:
        window = cur[10]
        if window is not None:
            _add(cur, 2, cur[0], since, at, window[0], window[1])
        else:
            cur[2 + cur[0]] += at - since
        cur[1] = at


# --- faults -------------------------------------------------------------------------------------------------------


class FaultRecord(NamedTuple):
    """What a report needs of one fault; times in seconds since the epoch. A tuple, so database rows of the same
    shape are used as they come (a 90-day report may read a hundred thousand faults)."""

    subject: str
    opened: float
    due: float
    recovered: float | None
    breach_recorded: bool | int


@dataclass(slots=True)
class FaultStats:
    count: int = 0
    ttr_total_s: float = 0.0
    ttr_max_s: float = 0.0
    breaches: int = 0

    def add(self, other: FaultStats) -> None:
        self.count += other.count
        self.ttr_total_s += other.ttr_total_s
        self.ttr_max_s = max(self.ttr_max_s, other.ttr_max_s)
        self.breaches += other.breaches


def fault_stats(faults: Iterable[FaultRecord | tuple[Any, ...]], start: float, end: float) -> dict[str, FaultStats]:
    """Per subject: faults opened in [start, end), their times to recover (as of `end`), and breaches in it."""
    out: dict[str, FaultStats] = {}
    for subject, opened, due, recovered, breach_recorded in faults:
        stats = out.get(subject)
        if stats is None:
            stats = out[subject] = FaultStats()
        if start <= opened < end:
            ttr = (recovered if recovered is not None and recovered < end else end) - opened
            if ttr < 0.0:
                ttr = 0.0
            stats.count += 1
            stats.ttr_total_s += ttr
            if ttr > stats.ttr_max_s:
                stats.ttr_max_s = ttr
        # The breach belongs to the period its deadline fell in, so adjacent reports never count it twice or never.
        if start <= due < end and (breach_recorded or recovered is None or recovered > due):
            stats.breaches += 1
    return out


# --- the report ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """A report's period: [start, end) as asked, counted up to `as_of` (<= end)."""

    start: datetime
    end: datetime
    as_of: datetime

    def as_json(self) -> dict[str, str]:
        return {"from": to_iso(self.start), "to": to_iso(self.end), "as_of": to_iso(self.as_of)}


def resolve_period(start: datetime | None, end: datetime | None, now: datetime) -> Period:
    """The period to report: defaults to the last 30 days up to now; raises PeriodError for one that cannot be."""
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise PeriodError(f"{name} needs a UTC offset, e.g. 2026-01-01T00:00:00+08:00")
    # Rounded down to the minute, so the answer (and its ETag) stays the same between polls within a minute.
    now_q = now.astimezone(UTC).replace(second=0, microsecond=0)
    end = end.astimezone(UTC) if end is not None else now_q
    start = start.astimezone(UTC) if start is not None else end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise PeriodError("from must be before to")
    if end - start > timedelta(days=MAX_DAYS):
        raise PeriodError(f"a report covers at most {MAX_DAYS} days")
    as_of = min(end, now_q)
    if start >= as_of:
        raise PeriodError("the period has not started yet")
    return Period(start, end, as_of)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A registry entry as reports show it."""

    id: str
    kind: str
    name: str
    building: str


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A planned maintenance window; `subject` is a device id or '*' for the whole site."""

    id: int
    subject: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime
    cancelled_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "starts_at": to_iso(self.starts_at),
            "ends_at": to_iso(self.ends_at),
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": to_iso(self.created_at),
            "cancelled_at": to_iso(self.cancelled_at) if self.cancelled_at else None,
        }


def planned_spans(windows: Iterable[tuple[str, float, float]], device_ids: Iterable[str]) -> dict[str, list[Span]]:
    """Each device's merged planned windows from (subject, start, end); '*' windows apply to every device."""
    site: list[Span] = []
    own: dict[str, list[Span]] = {}
    for subject, start, end in windows:
        (site if subject == SITE_WIDE else own.setdefault(subject, [])).append((start, end))
    if not site:
        return {d: merge_spans(spans) for d, spans in own.items()}
    shared = merge_spans(site)  # one list for every device without windows of its own
    return {d: merge_spans([*site, *own[d]]) if d in own else shared for d in device_ids}


@dataclass(frozen=True)
class ReportInputs:
    """Everything a report is built from, already read and tallied."""

    site_id: str
    site_name: str
    devices: Sequence[DeviceInfo]
    period: Period
    exclude_maintenance: bool
    tallies: Mapping[str, Tally]
    faults: Mapping[str, FaultStats]  # by subject, including subjects that are not devices
    current: Mapping[str, str]  # device id -> state now
    windows: Sequence[MaintenanceWindow] = field(default_factory=tuple)
    # camera id -> its latest recordings verdict (hub.recordings): retained_days, compliant, ...
    retention: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    retention_days: int = 90
    hub_gaps: Sequence[tuple[datetime, datetime]] = ()  # when the hub was not running, overlapping the period


def unmonitored_spans(gaps: Iterable[tuple[datetime, datetime]], start: datetime, end: datetime) -> list[Span]:
    """The gaps' parts inside [start, end), merged, in seconds since the epoch."""
    lo, hi = start.timestamp(), end.timestamp()
    return merge_spans((max(a.timestamp(), lo), min(b.timestamp(), hi)) for a, b in gaps)


def _gap_json(gap: tuple[datetime, datetime], period: Period) -> dict[str, Any]:
    inside = unmonitored_spans([gap], period.start, period.as_of)
    return {
        "started_at": to_iso(gap[0]),
        "ended_at": to_iso(gap[1]),
        "unmonitored_min": round(sum(b - a for a, b in inside) / 60.0, 2),
    }


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _row(
    group: str,
    key: str,
    name: str,
    kind: str | None,
    building: str | None,
    devices: int,
    figures: Uptime,
    faults: FaultStats,
    states: Mapping[str, int],
    current_state: str | None,
) -> dict[str, Any]:
    count = faults.count
    counted = figures.counted_s
    return {
        "group": group,
        "key": key,
        "name": name,
        "kind": kind,
        "building": building,
        "devices": devices,
        "uptime_pct": round(min(100.0, 100.0 * figures.working_s / counted), 3) if counted > 0 else None,
        "networked_pct": round(min(100.0, 100.0 * figures.networked_s / counted), 3) if counted > 0 else None,
        "downtime_min": round(figures.downtime_s / 60.0, 2),
        "counted_min": round(counted / 60.0, 2),
        "excluded_min": round(figures.excluded_s / 60.0, 2),
        "unmonitored_min": round(figures.unmonitored_s / 60.0, 2),
        "planned_downtime_min": round(figures.planned_downtime_s / 60.0, 2),
        "faults": count,
        "mttr_min": round(faults.ttr_total_s / count / 60.0, 2) if count else None,
        "longest_recovery_min": round(faults.ttr_max_s / 60.0, 2) if count else None,
        "sla_breaches": faults.breaches,
        "current_state": current_state,
        "unknown_now": states.get("unknown", 0),
        "online_now": states.get("online", 0),
        "offline_now": states.get("offline", 0),
        "faulty_now": states.get("faulty", 0),
        "maintenance_now": states.get("maintenance", 0),
        "retention_days": None,
        "retention_ok": None,
    }


def retention_compliance(
    devices: Sequence[DeviceInfo], retention: Mapping[str, Mapping[str, Any]], policy_days: int
) -> dict[str, Any] | None:
    """Cameras compliant / cameras with a current verdict; None while no camera has one."""
    verdicts = [
        retention[d.id].get("compliant") for d in devices if d.kind == DeviceKind.CAMERA.value and d.id in retention
    ]
    known = [v for v in verdicts if v is not None]
    if not known:
        return None
    compliant = sum(v is True for v in known)
    cameras = sum(d.kind == DeviceKind.CAMERA.value for d in devices)
    return {
        "policy_days": policy_days,
        "cameras": cameras,
        "known": len(known),
        "compliant": compliant,
        "share": round(compliant / len(known), 4),
    }


def four_100(devices: Sequence[DeviceInfo], current: Mapping[str, str]) -> dict[str, Any]:
    """Shares of one-button alarms and cameras installed, networked and working now (the "four 100%" figure)."""
    out: dict[str, Any] = {}
    totals = Counter[str]()
    unknown, online, not_networked = _STATE_UNKNOWN, _STATE_ONLINE, (_STATE_OFFLINE, _STATE_UNKNOWN)
    for kind in (DeviceKind.PANIC_BUTTON, DeviceKind.CAMERA):
        states = [current.get(d.id, unknown) for d in devices if d.kind == kind.value]
        counts = Counter(
            installed=len(states),
            networked=sum(s not in not_networked for s in states),
            working=sum(s == online for s in states),
        )
        totals.update(counts)
        out[kind.value] = _shares(counts)
    out["combined"] = _shares(totals)
    out["note"] = INSTALLED_NOTE
    return out


def _shares(counts: Counter[str]) -> dict[str, Any]:
    installed = counts["installed"]
    return {
        "installed": installed,
        "networked": counts["networked"],
        "working": counts["working"],
        "installed_share": 1.0 if installed else 0.0,
        "networked_share": round(counts["networked"] / installed, 4) if installed else None,
        "working_share": round(counts["working"] / installed, 4) if installed else None,
    }


class _Group:
    """Running sums of one group of devices."""

    __slots__ = ("devices", "faults", "states", "sums")

    def __init__(self) -> None:
        self.devices = 0
        self.sums = [0.0] * 8
        self.faults = FaultStats()
        self.states: Counter[str] = Counter()

    def add(self, figures: Tally, faults: FaultStats | None, state: str) -> None:
        sums = self.sums
        sums[0] += figures.unknown_s
        sums[1] += figures.online_s
        sums[2] += figures.offline_s
        sums[3] += figures.faulty_s
        sums[4] += figures.maintenance_s
        sums[5] += figures.planned_offline_s
        sums[6] += figures.planned_faulty_s
        sums[7] += figures.unmonitored_s
        if faults is not None:
            self.faults.add(faults)
        self.states[state] += 1
        self.devices += 1

    def uptime(self, exclude_maintenance: bool) -> Uptime:
        return Tally(*self.sums).uptime(exclude_maintenance)


def build_report(inputs: ReportInputs, group: Group) -> dict[str, Any]:
    """The report as a JSON-ready dict: period, rows of the chosen grouping, summary, windows, definitions."""
    exclude = inputs.exclude_maintenance
    zero, none = Tally(), FaultStats()
    tallies = [inputs.tallies.get(d.id, zero) for d in inputs.devices]
    states = [inputs.current.get(d.id, _STATE_UNKNOWN) for d in inputs.devices]
    device_rows: list[dict[str, Any]] = []
    kinds: dict[str, _Group] = {}
    if group != "site":
        for device, figures, state in zip(inputs.devices, tallies, states, strict=True):
            faults = inputs.faults.get(device.id)
            if group == "device":
                device_rows.append(
                    _row(
                        "device",
                        device.id,
                        device.name,
                        device.kind,
                        device.building,
                        1,
                        figures.uptime(exclude),
                        faults or none,
                        {state: 1},
                        state,
                    )
                )
                verdict = inputs.retention.get(device.id)
                if verdict is not None:
                    days = verdict.get("retained_days")
                    device_rows[-1]["retention_days"] = None if days is None else round(float(days), 2)
                    device_rows[-1]["retention_ok"] = verdict.get("compliant")
                continue
            kind = kinds.get(device.kind)
            if kind is None:
                kind = kinds[device.kind] = _Group()
            kind.add(figures, faults, state)
    site_tally = Tally._make(map(sum, zip(*tallies, strict=True))) if tallies else zero
    site_states = Counter(states)
    site_faults = FaultStats()
    for stats in inputs.faults.values():
        site_faults.add(stats)  # every subject, devices or not: a forwarding path down is a failure too
    site_row = _row(
        "site",
        inputs.site_id,
        inputs.site_name,
        None,
        None,
        len(tallies),
        site_tally.uptime(exclude),
        site_faults,
        site_states,
        None,
    )
    if group == "device":
        rows = device_rows
    elif group == "kind":
        rows = [
            _row("kind", k.value, k.value, k.value, None, g.devices, g.uptime(exclude), g.faults, g.states, None)
            for k in DeviceKind
            for g in [kinds.get(k.value)]
            if g is not None
        ]
    else:
        rows = [site_row]
    gaps = unmonitored_spans(inputs.hub_gaps, inputs.period.start, inputs.period.as_of)
    return {
        "report": "uptime",
        "site": {"id": inputs.site_id, "name": inputs.site_name},
        "period": inputs.period.as_json(),
        "group": group,
        "exclude_maintenance": exclude,
        "rows": rows,
        "summary": {
            "devices": len(tallies),
            "uptime_pct": site_row["uptime_pct"],
            "networked_pct": site_row["networked_pct"],
            "downtime_min": site_row["downtime_min"],
            "unmonitored_min": round(sum(b - a for a, b in gaps) / 60.0, 2),
            "faults": site_faults.count,
            "mttr_min": site_row["mttr_min"],
            "longest_recovery_min": site_row["longest_recovery_min"],
            "sla_breaches": site_faults.breaches,
            "current_states": {s.value: site_states.get(s.value, 0) for s in _STATES},
            "four_100": four_100(inputs.devices, inputs.current),
            "retention_compliance": retention_compliance(inputs.devices, inputs.retention, inputs.retention_days),
            "retention_note": RETENTION_NOTE,
        },
        "maintenance_windows": [w.as_json() for w in inputs.windows],
        "hub_gaps": [_gap_json(g, inputs.period) for g in inputs.hub_gaps],
        "definitions": DEFINITIONS,
    }


# --- forms ----------------------------------------------------------------------------------------------------

CSV_BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FREE_TEXT = [COLUMNS.index(c) for c in ("key", "name", "building")]  # what the registry's authors wrote


def render_json(report: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; the same report always gives the same bytes (the API and the CLI agree)."""
    return json.dumps(report, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def render_csv(report: Mapping[str, Any]) -> bytes:
    """A header row and one row per group, UTF-8 with a BOM and CRLF line ends.

    The BOM is for the bureau's Excel: without it Excel on a Chinese-locale Windows opens UTF-8 as GBK and the
    device names come out garbled; Python (`utf-8-sig`), pandas and LibreOffice read it fine.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # csv writes None as an empty cell
    writer.writerow(COLUMNS)
    cells = operator.itemgetter(*COLUMNS)
    for row in report["rows"]:
        values = list(cells(row))
        for i in _FREE_TEXT:
            value = values[i]
            if isinstance(value, str) and value.startswith(_FORMULA_START):
                values[i] = "'" + value  # a name Excel would run as a formula is shown as text
        writer.writerow(values)
    return (CSV_BOM + buffer.getvalue()).encode("utf-8")


def render(report: Mapping[str, Any], fmt: Format) -> bytes:
    return render_csv(report) if fmt == "csv" else render_json(report)


def report_etag(config_digest: str, fingerprint: Sequence[Any], period: Period, group: str, fmt: str) -> str:
    """A strong ETag from what could change the answer: the data's fingerprint, the registry and settings, the
    period and its `as_of` (which moves with the clock only while `to` is in the future), grouping and format."""
    basis = [REPORT_VERSION, config_digest, list(fingerprint), period.as_json(), group, fmt]
    digest = hashlib.sha256(json.dumps(basis, separators=(",", ":"), default=str).encode("utf-8")).hexdigest()
    return f'"{digest[:32]}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match uses the weak comparison (RFC 9110 13.1.2): W/ prefixes do not matter; '*' matches any."""
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    return any(tag.strip() == "*" or tag.strip().removeprefix("W/") == wanted for tag in if_none_match.split(","))


# --- the daily MQTT summary -------------------------------------------------------------------------------------


def previous_utc_day(now: datetime) -> tuple[datetime, datetime]:
    """[yesterday 00:00, today 00:00) in UTC: the period a daily summary covers."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1), today


def uptime_summary(report: Mapping[str, Any], generated_at: datetime) -> dict[str, Any]:
    """The retained summary for district brokers, from a site-grouped report: site-level figures, counts, shares."""
    summary = report["summary"]
    return {
        "site": report["site"],
        "period": report["period"],
        "uptime_pct": summary["uptime_pct"],
        "networked_pct": summary["networked_pct"],
        "downtime_min": summary["downtime_min"],
        "unmonitored_min": summary["unmonitored_min"],
        "devices": summary["devices"],
        "faults": summary["faults"],
        "sla_breaches": summary["sla_breaches"],
        "current_states": summary["current_states"],
        "four_100": {k: v for k, v in summary["four_100"].items() if k != "note"},
        "retention_compliance": summary["retention_compliance"],
        "exclude_maintenance": report["exclude_maintenance"],
        "generated_at": to_iso(generated_at),
    }


class Publish(Protocol):
    def __call__(self, topic: str, payload: str, retain: bool = True) -> bool: ...


class UptimePublisher:
    """Publishes the retained daily summary at start and then once per UTC day; a failed publish (no broker yet)
    is tried again every `retry_s`. `summary(now)` builds the payload (the previous UTC day); `publish` sends it."""

    def __init__(
        self,
        summary: Callable[[datetime], Mapping[str, Any]],
        publish: Publish,
        topic: str,
        clock: Clock,
        *,
        interval_s: float = 60.0,
        retry_s: float = 5.0,
        on_thread_exit: Callable[[], None] | None = None,
    ) -> None:
        self.topic = topic
        self._summary = summary
        self._publish = publish
        self._clock = clock
        self._interval_s = interval_s
        self._retry_s = retry_s
        self._on_exit = on_thread_exit
        self._lock = threading.Lock()
        self._published_day: str | None = None
        # Announce at once; then check each interval, or sooner while a publish is still owed.
        self._timer = Periodic(
            "uptime-summary",
            lambda: self.run_once(self._clock.now()),
            lambda: self._interval_s if self.done(self._clock.now()) else self._retry_s,
            wait_first=False,
            on_exit=self._on_exit,
        )

    def done(self, now: datetime) -> bool:
        """Whether the summary of `now`'s UTC day (or a later one) has gone out."""
        return self._published_day is not None and _utc_day(now) <= self._published_day

    def run_once(self, now: datetime) -> bool:
        """Publish if this UTC day's summary has not gone out yet; True when it went out now."""
        day = _utc_day(now)
        with self._lock:  # the timer thread and a caller may tick together; one publish per day
            # ISO dates order as text; a tick whose clock reading predates a later publish must not go back a day.
            if self._published_day is not None and day <= self._published_day:
                return False
            payload = json.dumps(self._summary(now), ensure_ascii=False, separators=(",", ":"))
            if not self._publish(self.topic, payload, retain=True):
                log.warning("uptime summary could not be published on %s; trying again", self.topic)
                return False
            self._published_day = day
            return True

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()


def _utc_day(now: datetime) -> str:
    return now.astimezone(UTC).date().isoformat()
