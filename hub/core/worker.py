"""The one shape of every background thread of the hub: a named loop of ticks and waits, supervised.

A `Worker` runs `tick` on its own daemon thread, then waits: for the delay the tick returns (or its interval), until
`wake()` is called, until a `ready()` condition holds, or until `stop()`. It closes the thread's resources through
`on_thread_exit` on that thread, logs and counts a tick that raises, and either goes on or is marked dead. It keeps a
heartbeat (the monotonic times of the last tick's start and finish) so a tick that runs far too long shows as stuck.
A dead worker can be `restart`ed on a new thread (`hub.core.supervisor` decides when). `Workers` is the composition
root's list of them, which `/healthz` reports.

Test-only: the environment variable `CAMPUS_HUB_TEST_FAIL_WORKERS` (comma-separated worker names, read when a worker
is built) makes every tick of those workers raise `InjectedFault` before it runs. It exists so that a test can make
a real hub process lose a critical worker; never set it on a real hub.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

log = logging.getLogger(__name__)

# A tick is stuck once it has run this many intervals (see `Worker.stuck_after_s`).
STUCK_INTERVALS = 5
# ... and never sooner than this: ticks that block on a queue or the network legitimately take seconds.
STUCK_MIN_S = 60.0
# After a failed tick, a worker with no interval (one that waits to be woken) tries again this much later: soon,
# but not in a tight loop of the same error.
ERROR_RETRY_S = 1.0
# Test-only (see the module docstring): the workers whose every tick fails.
FAIL_WORKERS_ENV = "CAMPUS_HUB_TEST_FAIL_WORKERS"
# How long `restart` waits for the dead thread to finish its clean-up before starting the new one.
RESTART_JOIN_S = 1.0


class InjectedFault(RuntimeError):
    """The failure `CAMPUS_HUB_TEST_FAIL_WORKERS` puts into a worker's tick (tests only)."""


class WorkerState(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"  # not started yet, stopped, or ended its own work
    DEAD = "dead"  # a tick raised and the worker's policy is to stop there, or the thread ended unasked
    STUCK = "stuck"  # the thread lives but one tick has run longer than `stuck_after_s`
    FAILING = "failing"  # the thread lives but its last `failing_after` ticks all raised (until one succeeds)


class OnError(StrEnum):
    """What a worker does after a tick raised (it is logged with the traceback and counted either way)."""

    CONTINUE = "continue"
    DIE = "die"


@dataclass(frozen=True, slots=True)
class WorkerStatus:
    name: str
    alive: bool
    state: WorkerState
    last_error: str | None
    errors: int  # ticks that raised
    restarts: int  # new threads started after the worker died (`Worker.restart`, by the supervisor)

    def json(self) -> dict[str, object]:
        return {
            "alive": self.alive,
            "state": self.state.value,
            "last_error": self.last_error,
            "errors": self.errors,
            "restarts": self.restarts,
        }


Interval = float | Callable[[], float] | None


class Worker:
    """Runs `tick` in a loop on a thread named `name`.

    `tick` returns how long to wait before the next one, or None for `interval` (seconds, or a callable read each
    time; None waits until woken). With `wait_first` the first tick comes after one wait. The wait ends early on
    `wake()`, on `stop()`, and when `ready()` holds; `ready` is read under `cond`, so a producer that changes what
    it reads notifies `cond` (pass the producer's own condition). A wake-up during a tick is not lost: the flag is
    cleared before the tick, not after it.

    A tick that raises is logged with its traceback and counted; with `OnError.CONTINUE` the next tick comes after
    the interval (or `ERROR_RETRY_S` without one), with `OnError.DIE` the thread ends and the worker is dead. So is
    a worker whose thread ended without `stop()`/`finish()` (a `BaseException` such as `SystemExit` in its tick).
    With `failing_after`, that many ticks raising in a row make the worker `failing` until a tick succeeds.
    `restart()` runs a dead worker on a new thread, then `on_restart`: what its owner must redo once the thread that
    died is gone (the ingest writer reconnects, so the broker sends again what it had not acknowledged).
    `stop()` ends the loop at the next wait; a worker that drains by itself is told so by its owner and `join`ed,
    and its tick calls `finish()` when done. `on_thread_exit` runs last on the worker's own thread either way.
    """

    def __init__(
        self,
        name: str,
        tick: Callable[[], float | None],
        *,
        interval: Interval = None,
        wait_first: bool = False,
        on_error: OnError = OnError.CONTINUE,
        on_thread_exit: Callable[[], None] | None = None,
        cond: threading.Condition | None = None,
        ready: Callable[[], bool] | None = None,
        stuck_after_s: float | None = None,
        on_restart: Callable[[], None] | None = None,
        failing_after: int | None = None,
    ) -> None:
        self.name = name
        self._tick = tick
        self._interval = interval
        self._wait_first = wait_first
        self._on_error = on_error
        self._on_thread_exit = on_thread_exit
        self._cond = cond or threading.Condition()
        self._ready = ready
        self._stuck_after_s = stuck_after_s
        self._on_restart = on_restart
        self._injected_fault = name in os.environ.get(FAIL_WORKERS_ENV, "").split(",")
        self._failing_after = failing_after
        self._stopping = False
        self._woken = False
        self._thread: threading.Thread | None = None
        # Heartbeat and counters: written by the worker's thread, read by status() (single assignments).
        self._tick_started: float | None = None
        self._tick_finished: float | None = None
        self._last_wait: float | None = None  # the interval last read by the thread, to judge a stuck tick by
        self._dead = False
        self._errors = 0
        self._restarts = 0
        self._errors_in_row = 0
        self._last_error: str | None = None

    # --- control (any thread) -------------------------------------------------------------------------------

    def start(self) -> None:
        with self._cond:
            self._stopping = False
        self._dead = False
        self._errors_in_row = 0
        thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        thread.start()
        self._thread = thread  # only once alive: a created thread not yet started would read as one that ended

    def restart(self) -> None:
        """Run a dead worker again on a new thread, counted in `restarts`, then call `on_restart` (after the start:
        the owner's recovery may need the new thread running, e.g. to drain a queue a blocked producer waits on)."""
        self.join(RESTART_JOIN_S)  # the dead thread may still be in on_thread_exit
        self._restarts += 1
        self.start()
        if self._on_restart is not None:
            self._on_restart()

    def wake(self) -> None:
        """Run the next tick now (or as soon as the current one is done)."""
        with self._cond:
            self._woken = True
            self._cond.notify_all()

    def finish(self) -> None:
        """Ask the loop to end after the current tick, without waiting for it (a tick may call this)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def join(self, timeout: float) -> None:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """End the loop after the current tick and wait up to `timeout` for the thread."""
        self.finish()
        self.join(timeout)

    @property
    def stopping(self) -> bool:
        return self._stopping

    def wait_stop(self, timeout: float) -> bool:
        """Sleep up to `timeout` unless stopping; True when stopping (for a tick's own back-off waits)."""
        with self._cond:
            return self._cond.wait_for(lambda: self._stopping, timeout)

    # --- supervision ------------------------------------------------------------------------------------------

    @property
    def stuck_after_s(self) -> float | None:
        """How long one tick may run before the worker counts as stuck; None: never (no interval to judge by)."""
        if self._stuck_after_s is not None:
            return self._stuck_after_s
        # Not calling a callable interval here: it may read the store, and status() is asked from other threads.
        interval = self._last_wait if callable(self._interval) else self._interval
        return max(STUCK_INTERVALS * (interval or 0.0), STUCK_MIN_S)

    def status(self, now: float | None = None) -> WorkerStatus:
        alive = self._thread is not None and self._thread.is_alive()
        started, finished = self._tick_started, self._tick_finished
        now = time.monotonic() if now is None else now
        limit = self.stuck_after_s
        in_tick = started is not None and (finished is None or finished < started)
        if self._dead or (self._thread is not None and not alive and not self._stopping):
            # The second case: the thread ended although nobody asked it to (a tick let a BaseException out).
            state = WorkerState.DEAD
        elif not alive:
            state = WorkerState.STOPPED
        elif in_tick and limit is not None and started is not None and now - started > limit:
            state = WorkerState.STUCK
        elif self._failing_after is not None and self._errors_in_row >= self._failing_after:
            state = WorkerState.FAILING
        else:
            state = WorkerState.RUNNING
        return WorkerStatus(self.name, alive, state, self._last_error, self._errors, self._restarts)

    # --- the thread -------------------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            if self._wait_first and self._pause(None):
                return
            while True:
                with self._cond:
                    if self._stopping:
                        return
                    self._woken = False
                if not self._run_tick():
                    return
        finally:
            if self._on_thread_exit is not None:
                self._on_thread_exit()

    def _run_tick(self) -> bool:
        """One tick and the wait after it; False when the loop is to end."""
        self._tick_started = time.monotonic()
        try:
            if self._injected_fault:
                raise InjectedFault(f"{FAIL_WORKERS_ENV} names {self.name} (tests only)")
            delay = self._tick()
            self._errors_in_row = 0
        except Exception as exc:
            self._errors += 1
            self._errors_in_row += 1
            self._last_error = f"{type(exc).__name__}: {exc}"
            if self._on_error is OnError.DIE:
                self._dead = True
                log.exception("%s failed; the worker stops (dead)", self.name)
                return False
            log.exception("%s failed; trying again", self.name)
            delay = None if self._interval is not None else ERROR_RETRY_S
        except BaseException as exc:
            # SystemExit (or the like) in a thread would end it silently: whatever the policy, the worker is dead.
            self._errors += 1
            self._last_error = f"{type(exc).__name__}: {exc}"
            self._dead = True
            log.exception("%s ended by %s; the worker stops (dead)", self.name, type(exc).__name__)
            return False
        finally:
            self._tick_finished = time.monotonic()
        return not self._pause(delay)

    def _pause(self, delay: float | None) -> bool:
        """Wait as the class says; True when stopping."""
        if delay is None:
            delay = self._interval() if callable(self._interval) else self._interval
            self._last_wait = delay
        ready = self._ready
        with self._cond:
            self._cond.wait_for(lambda: self._stopping or self._woken or (ready is not None and ready()), delay)
            return self._stopping


class Workers:
    """The hub's workers in one place, so their supervision is reported together (see `/healthz`).

    A worker registered as `critical` is one the alarm path needs: if it is dead or stuck the hub is not healthy.
    """

    def __init__(self) -> None:
        self._workers: list[tuple[Worker, bool]] = []

    def add(self, worker: Worker, *, critical: bool = False) -> Worker:
        self._workers.append((worker, critical))
        return worker

    def critical(self) -> list[Worker]:
        """The workers the alarm path needs (the supervisor restarts them, or ends the process)."""
        return [w for w, critical in self._workers if critical]

    def __iter__(self) -> Iterator[Worker]:
        return iter(w for w, _ in self._workers)

    def statuses(self) -> list[WorkerStatus]:
        now = time.monotonic()
        return [w.status(now) for w, _ in self._workers]

    def failing(self) -> list[str]:
        """Why the alarm path is not healthy: one line per critical worker that is dead, stuck or failing."""
        now = time.monotonic()
        reasons: list[str] = []
        for worker, critical in self._workers:
            status = worker.status(now)
            if critical and status.state in (WorkerState.DEAD, WorkerState.STUCK, WorkerState.FAILING):
                with_error = status.state in (WorkerState.DEAD, WorkerState.FAILING)
                detail = f" ({status.last_error})" if status.last_error and with_error else ""
                reasons.append(f"{status.name} {status.state.value}{detail}")
        return reasons

    def health(self, *, detail: bool = False) -> dict[str, object]:
        """What `/healthz` adds: `workers`, each one's state (with `detail`, its whole status), and `reason` when a
        critical worker is dead, stuck or failing (the hub is then unhealthy)."""
        statuses = self.statuses()
        extra: dict[str, object] = {
            "workers": {s.name: s.json() for s in statuses} if detail else {s.name: s.state.value for s in statuses}
        }
        failing = self.failing()
        if failing:
            extra["reason"] = "; ".join(failing)
        return extra
