"""A named daemon thread that runs one tick on an interval until stopped: the loop the hub's timers share."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Calls `tick` every `interval()` seconds; a failing tick is logged and tried again at the next one.

    With `wait_first` the first tick comes one interval after `start()` (a watcher), without it at once (a
    publisher that should announce itself). `on_exit` runs in the thread as it ends (to close its store
    connection).
    """

    def __init__(
        self,
        name: str,
        tick: Callable[[], object],
        interval: Callable[[], float],
        *,
        wait_first: bool = True,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self._name = name
        self._tick = tick
        self._interval = interval
        self._wait_first = wait_first
        self._on_exit = on_exit
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, *, tick_now: bool = False) -> None:
        """With `tick_now` one tick runs first in the caller's thread (so the state is right once the hub has
        started); if it fails, the timer tries again at its next tick."""
        if tick_now:
            try:
                self._tick()
            except Exception:
                log.exception("%s: first tick failed; the timer tries again", self._name)
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            if self._wait_first and self._stop.wait(self._interval()):
                return
            while not self._stop.is_set():
                try:
                    self._tick()
                except Exception:
                    log.exception("%s failed; trying again", self._name)
                self._stop.wait(self._interval())
        finally:
            if self._on_exit is not None:
                self._on_exit()
