"""Interval arithmetic: time per state from state transitions, with planned windows and hub gaps taken out.

`intervals`, `tally` and `uptime` work on one device's history; `tally_rows` is the one linear pass over
time-ordered transitions of every device that a report makes (its hot loop). What counts is defined in the
package docstring (`hub.reports`). The per-device and the all-devices forms stay together: they must agree.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from itertools import chain
from typing import Any, NamedTuple

from hub.health.model import DeviceState
from hub.reports.model import SITE_WIDE, Span

# Index of each state in a tally's sums; also the order of the *_now columns.
STATES = (DeviceState.UNKNOWN, DeviceState.ONLINE, DeviceState.OFFLINE, DeviceState.FAULTY, DeviceState.MAINTENANCE)
_INDEX = {state.value: i for i, state in enumerate(STATES)}
_UNKNOWN, _ONLINE, _OFFLINE, _FAULTY, _MAINTENANCE = range(5)
_PLANNED_SLOT = {_OFFLINE: 5, _FAULTY: 6}  # where downtime inside a planned window is summed as well
_UNMONITORED = 7  # where time the hub was not running is summed (it is in no state's sum)


def state_index(state: str | None) -> int:
    """A state's index in a tally (unknown for anything else)."""
    return _INDEX.get(state or "", _UNKNOWN)


def state_index_sql(column: str) -> str:
    """SQL giving `state_index(column)`, so the report's hot loop gets small ints instead of making strings."""
    whens = " ".join(f"WHEN '{state.value}' THEN {i}" for i, state in enumerate(STATES) if i != _UNKNOWN)
    return f"CASE {column} {whens} ELSE {_UNKNOWN} END"


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


def tally_sums(
    rows: Iterable[tuple[str, int, float]],
    initial: Mapping[str, str | None],
    start: float,
    end: float,
    planned: Mapping[str, Sequence[Span]] | None = None,
    unmonitored: Iterable[Span] = (),
    ends: dict[str, int] | None = None,
) -> dict[str, list[Any]]:
    """One linear pass over (device_id, state_index(to_state), at) rows in time order, all inside [start, end).

    `initial` names every device to tally (the registry) with its state at `start` (None: unknown); rows of other
    devices are skipped. `planned` holds each device's merged planned windows; `unmonitored` the hub's gaps (for
    every device). Same results as `tally(intervals(...), planned, unmonitored)` per device, without building
    intervals: this is the hot loop of a 10,000-device report. Each device's list holds a `Tally`'s fields at
    indices 2-9 (the rest is the pass's own state), so callers that add tallies up make no tuples. `ends`, when
    given, receives each device's state index at `end` (what the next stretch of time starts in).

    Times may be floats or ints; in whole milliseconds (ints, or floats holding whole numbers) every sum is exact,
    so tallies of adjacent stretches add up to the tally of the whole to the last bit (`hub.store.rollups` relies
    on it).
    """
    planned = planned or {}
    # Per device one list, so a row costs one dict lookup: [state index, since, 5 state sums, 2 planned sums,
    # unmonitored sum, (windows, their starts, first start, last end) or None].
    open_: dict[str, list[Any]] = {}
    prepared: dict[int, tuple[Sequence[Span], list[float], float, float]] = {}
    index = _INDEX.get  # `state_index` inlined: a call per device of 10,000 shows
    for device, state in initial.items():
        spans = planned.get(device)
        window = None
        if spans:
            window = prepared.get(id(spans))  # devices sharing the site-wide windows share their bisect keys too
            if window is None:
                window = prepared[id(spans)] = (spans, [s for s, _ in spans], spans[0][0], spans[-1][1])
        open_[device] = [index(state or "", _UNKNOWN), start, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, window]
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
    if ends is not None:
        ends.update((device, cur[0]) for device, cur in open_.items())
    return open_


def tally_rows(
    rows: Iterable[tuple[str, int, float]],
    initial: Mapping[str, str | None],
    start: float,
    end: float,
    planned: Mapping[str, Sequence[Span]] | None = None,
    unmonitored: Iterable[Span] = (),
    ends: dict[str, int] | None = None,
) -> dict[str, Tally]:
    """`tally_sums` as a `Tally` per device."""
    sums = tally_sums(rows, initial, start, end, planned, unmonitored, ends)
    return {device: Tally._make(cur[2:10]) for device, cur in sums.items()}


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


def unmonitored_spans(gaps: Iterable[tuple[datetime, datetime]], start: datetime, end: datetime) -> list[Span]:
    """The gaps' parts inside [start, end), merged, in seconds since the epoch."""
    lo, hi = start.timestamp(), end.timestamp()
    return merge_spans((max(a.timestamp(), lo), min(b.timestamp(), hi)) for a, b in gaps)
