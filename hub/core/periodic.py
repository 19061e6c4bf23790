"""The hub's timers: a `Worker` whose wait is its interval, keeping the timer's own start-up choices."""

from __future__ import annotations

import logging
from collections.abc import Callable

from hub.core.worker import Worker

log = logging.getLogger(__name__)


class Periodic(Worker):
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
        self._timer_tick = tick
        super().__init__(name, self._run_timer_tick, interval=interval, wait_first=wait_first, on_thread_exit=on_exit)

    def _run_timer_tick(self) -> None:
        self._timer_tick()

    def start(self, *, tick_now: bool = False) -> None:
        """With `tick_now` one tick runs first in the caller's thread (so the state is right once the hub has
        started); if it fails, the timer tries again at its next tick."""
        if tick_now:
            try:
                self._timer_tick()
            except Exception:
                log.exception("%s: first tick failed; the timer tries again", self.name)
        super().start()


class TimerDriven:
    """A component that one `Periodic` runs (`self._timer`): supervision sees it as `worker`, and starting and
    stopping the component are the timer's. `tick_on_start`: the first tick runs in the caller's thread, so the
    component's state is right once the hub has started."""

    _timer: Periodic
    tick_on_start = False

    @property
    def worker(self) -> Periodic:
        """The timer thread, for supervision (/healthz)."""
        return self._timer

    def start(self) -> None:
        self._timer.start(tick_now=self.tick_on_start)

    def stop(self) -> None:
        self._timer.stop()
