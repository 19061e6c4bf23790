"""The hub's own liveness: a proof of life every minute, and the gaps when the hub was not running.

While the hub is down (power cut, crash, upgrade) nothing is recorded, so without this a report would count
that time in each device's last known state. The hub writes `meta` `alive_at` every `interval_s` and at a clean
stop; on start, an `alive_at` older than `GAP_AFTER_INTERVALS` intervals means nobody was watching, and
[alive_at, now) goes into `hub_gaps`. Reports count gap time as not monitored (`hub.reports`); the health
tracker does not count it as the devices' silence (`HealthTracker.hub_absent`).

A gap starts at the last proof of life, so after a crash it may begin up to one interval before the hub really
stopped: the report then calls that minute not monitored rather than guess. Wall times, not the monotonic clock:
the two ends of a gap lie in different processes.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timedelta

from hub.core.clock import Clock, from_iso, to_iso
from hub.core.periodic import Periodic
from hub.store import Store
from hub.store.gaps import SCHEMA as SCHEMA
from hub.store.gaps import Gap as Gap
from hub.store.gaps import read_gaps, record_alive

log = logging.getLogger(__name__)

ALIVE_KEY = "alive_at"
INTERVAL_S = 60.0
# A proof of life may be one interval old plus a slow tick; older than two means the hub was away.
GAP_AFTER_INTERVALS = 2


def gap_to_record(alive_at: datetime | None, now: datetime, interval_s: float) -> Gap | None:
    """The gap to record on start: (alive_at, now) when the last proof of life is older than two intervals.

    None for a new store (no proof of life yet: there was no hub to be away) and for a clock that went back.
    """
    if alive_at is None or now - alive_at <= timedelta(seconds=GAP_AFTER_INTERVALS * interval_s):
        return None
    return alive_at, now


class Liveness:
    """Writes the proof of life on a timer and at a clean stop; records the gap since the last one on start."""

    def __init__(self, store: Store, clock: Clock, *, interval_s: float = INTERVAL_S) -> None:
        self._store = store
        self._clock = clock
        self._interval_s = interval_s
        self._started = False
        self._timer = Periodic("liveness", self.beat, lambda: interval_s, on_exit=store.close_thread_connection)

    @property
    def worker(self) -> Periodic:
        return self._timer

    def open(self) -> None:
        self._store.ensure_schema(SCHEMA)

    def check(self) -> Gap | None:
        """Record the gap since the last proof of life (if it is one) and write a new proof, in one transaction."""
        now = self._clock.now()
        text = self._store.meta_get(ALIVE_KEY)
        alive_at: datetime | None = None
        if text:
            try:
                alive_at = from_iso(text)
            except ValueError:
                log.error("meta %s is not a time (%r); no gap can be judged this start", ALIVE_KEY, text)
        if alive_at is not None and alive_at > now:
            log.warning("the last proof of life (%s) is after now (%s): has the clock gone back?", text, to_iso(now))
        gap = gap_to_record(alive_at, now, self._interval_s)
        record_alive(self._store, ALIVE_KEY, now, gap)
        if gap is not None:
            minutes = (gap[1] - gap[0]).total_seconds() / 60.0
            log.warning(
                "the hub was not running from %s to %s (%.1f min): reports count it as not monitored",
                to_iso(gap[0]),
                to_iso(gap[1]),
                minutes,
            )
        return gap

    def beat(self) -> None:
        self._store.meta_set(ALIVE_KEY, to_iso(self._clock.now()))

    def start(self) -> Gap | None:
        """The start-up check, then a proof of life every interval; returns the gap recorded, if any."""
        gap = self.check()
        self._started = True
        self._timer.start()
        return gap

    def stop(self) -> None:
        """Stop the timer and leave a last proof of life, so a quick clean restart is no gap."""
        if not self._started:
            return  # a hub built but never started watched nothing: a proof of life now would hide a gap
        self._started = False
        self._timer.stop()
        try:
            self.beat()
        except sqlite3.Error:
            log.exception("the last proof of life could not be written; the next start may record a gap")

    def gaps(self) -> list[Gap]:
        """Every recorded gap, earliest first."""
        return read_gaps(self._store.connection())
