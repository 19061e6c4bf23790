"""Alarms first inside the process: while a possible alarm is on its way, telemetry work steps aside.

The hub is one Python process. Its threads share one interpreter lock, and when the machine is busy (a device
floods the broker) a thread that holds that lock may also be preempted by the operating system, so a press's
threads (its session's network thread, the writer, an outbox sender) wait behind telemetry work that has nothing
to do with it: each hand-off can cost a scheduler slice. `AlarmPriority` is a set of holds, each with a deadline:
the alarm lane takes one when a message arrives, the writer swaps it for one per alarm it opened, and the outbox
lets go once the alarm's first delivery attempt has ended. While any hold is live, telemetry threads wait in
`yield_to_alarms` (which blocks, so they give up the interpreter lock) instead of reading, parsing and committing.

Every hold ends by its deadline even if nobody lets it go (a forgotten hold delays telemetry by at most
`max_hold_s`). And telemetry never waits longer than `max_hold_s` in a row: holds that keep coming (a smoke
detector stuck in a loop floods the alarm lane, each of its messages a new hold) are then ignored for the next
`max_hold_s`, so telemetry, heat alarms among it, gets at least half of the time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

# How long one hold may keep telemetry waiting. Press -> commit -> first POST takes a few milliseconds on a quiet
# hub and tens under a flood; a receiving centre that is slow to answer must not stop telemetry for long.
MAX_HOLD_S = 0.25


class AlarmPriority:
    """Holds taken for alarms on their way; telemetry threads wait while any is live."""

    def __init__(self, max_hold_s: float = MAX_HOLD_S, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._max_hold_s = max_hold_s
        self._monotonic = monotonic
        self._cond = threading.Condition()
        self._holds: dict[Hashable, float] = {}
        self._waiting_since: float | None = None  # telemetry found the gate closed then, and has not gone on since
        self._open_until = 0.0  # holds are ignored until then: telemetry's turn after a long wait
        self._listeners: list[Callable[[], None]] = []

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call `callback` (it must not block) whenever holds are let go: a waiter elsewhere may go on."""
        self._listeners.append(callback)

    def hold(self, key: Hashable) -> None:
        with self._cond:
            self._holds[key] = self._monotonic() + self._max_hold_s

    def release(self, *keys: Hashable) -> None:
        with self._cond:
            for key in keys:
                self._holds.pop(key, None)
            if self._holds:
                return
            self._waiting_since = None  # telemetry goes on now: a later hold starts a new wait
            self._cond.notify_all()
        for callback in self._listeners:
            callback()

    def remaining_s(self) -> float:
        """How long telemetry must still wait at most (0.0: it may go on now)."""
        if not self._holds:  # the common case, read without the lock
            return 0.0
        with self._cond:
            return self._remaining_locked()

    def yield_to_alarms(self) -> None:
        """Wait (bounded by the holds' deadlines) while an alarm is on its way."""
        if not self._holds:
            return
        with self._cond:
            while (wait := self._remaining_locked()) > 0.0:
                self._cond.wait(wait)

    def _remaining_locked(self) -> float:
        now = self._monotonic()
        for key in [key for key, until in self._holds.items() if until <= now]:
            del self._holds[key]
        if not self._holds or now < self._open_until:
            self._waiting_since = None
            return 0.0
        if self._waiting_since is None:
            self._waiting_since = now
        turn_at = self._waiting_since + self._max_hold_s
        if now >= turn_at:
            self._open_until = now + self._max_hold_s
            self._waiting_since = None
            return 0.0
        return min(max(self._holds.values()), turn_at) - now
