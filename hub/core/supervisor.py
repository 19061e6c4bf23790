"""Keeps the alarm path's workers alive: a dead critical worker is restarted with back-off; one that keeps dying, or
stays stuck, ends the process with a non-zero code so that systemd (`Restart=on-failure`) starts the hub afresh.

`decide` is the policy as a pure function of what one worker's status and history are; `WorkerSupervisor` is the
worker (on the worker base) that reads the registry every second and acts on it. A stuck thread cannot be killed in
Python, and a hub that stays up with a deaf ingest or a silent outbox looks healthy to nobody but itself: exiting is
the only repair left. Exiting is `os._exit`, like a crash, because a graceful stop would wait on the very thread
that is stuck; the hub is built to survive a crash (commits before acks, the outbox is durable).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from hub.core.worker import OnError, Worker, Workers, WorkerState

log = logging.getLogger(__name__)

# sysexits.h EX_SOFTWARE: an internal software error; systemd's Restart=on-failure restarts on any non-zero code.
EX_SOFTWARE = 70
# The registry is read this often, seconds.
CHECK_INTERVAL_S = 1.0
# The back-off between restarts of one worker doubles up to this, seconds.
BACKOFF_MAX_S = 30.0


class Action(StrEnum):
    NONE = "none"  # running or stopped: nothing to do
    WAIT = "wait"  # dead and its back-off is not over, or stuck and not yet for long enough
    RESTART = "restart"
    EXIT = "exit"


@dataclass(frozen=True, slots=True)
class Policy:
    max_restarts: int
    window_s: float
    backoff_s: float
    stuck_exit_s: float
    backoff_max_s: float = BACKOFF_MAX_S


@dataclass(frozen=True, slots=True)
class History:
    """What the supervisor remembers of one worker (monotonic seconds)."""

    restarts: tuple[float, ...] = ()  # when it was restarted, within the window
    failing_since: float | None = None  # when it was first seen dead or stuck, this time


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str = ""


def decide(name: str, state: WorkerState, history: History, now: float, policy: Policy) -> Decision:
    """What to do about one critical worker in `state` at `now`."""
    if state in (WorkerState.RUNNING, WorkerState.STOPPED) or history.failing_since is None:
        return Decision(Action.NONE)
    failing_for = now - history.failing_since
    if state is WorkerState.STUCK:
        if failing_for >= policy.stuck_exit_s:
            return Decision(Action.EXIT, f"{name} stuck for {failing_for:.0f} s (limit {policy.stuck_exit_s:g} s)")
        return Decision(Action.WAIT)
    recent = [t for t in history.restarts if now - t < policy.window_s]
    if len(recent) >= policy.max_restarts:
        return Decision(
            Action.EXIT, f"{name} dead after {len(recent)} restart(s) within {policy.window_s:g} s (limit reached)"
        )
    backoff = min(policy.backoff_s * 2 ** len(recent), policy.backoff_max_s)
    if failing_for >= backoff:
        return Decision(Action.RESTART, f"{name} dead; restart {len(recent) + 1} of {policy.max_restarts}")
    return Decision(Action.WAIT)


def exit_process(code: int) -> None:
    """End the process now (see the module docstring for why not a graceful stop)."""
    for handler in logging.getLogger().handlers:
        handler.flush()  # the CRITICAL line must reach the journal
    os._exit(code)


class WorkerSupervisor:
    """Every `interval_s`, applies `decide` to each critical worker of `workers`.

    `on_restart(name)` is told of each restart (the metric); `exit_action` ends the process (tests inject a recorder;
    after it returns the supervisor stops acting). If the supervisor's own tick fails, nobody would watch the others,
    so that too ends the process.
    """

    def __init__(
        self,
        workers: Workers,
        policy: Policy,
        *,
        on_restart: Callable[[str], None] = lambda name: None,
        exit_action: Callable[[int], None] = exit_process,
        clock: Callable[[], float] = time.monotonic,
        interval_s: float = CHECK_INTERVAL_S,
    ) -> None:
        self._workers = workers
        self._policy = policy
        self._on_restart = on_restart
        self._exit = exit_action
        self._clock = clock
        self._history: dict[str, History] = {}
        self.exited: str | None = None  # the reason, once the process was told to exit
        self.worker = Worker(
            "worker-supervisor",
            self.check,
            interval=interval_s,
            wait_first=True,
            on_error=OnError.DIE,
            on_thread_exit=self._thread_ending,
        )

    def start(self) -> None:
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop()

    def check(self) -> None:
        """One look at every critical worker."""
        if self.exited is not None:
            return
        now = self._clock()
        for worker in self._workers.critical():
            if worker is self.worker:
                continue
            status = worker.status(now)
            failing = status.state in (WorkerState.DEAD, WorkerState.STUCK)
            before = self._history.get(worker.name, History())
            history = History(
                tuple(t for t in before.restarts if now - t < self._policy.window_s),
                (before.failing_since if before.failing_since is not None else now) if failing else None,
            )
            self._history[worker.name] = history
            decision = decide(worker.name, status.state, history, now, self._policy)
            if decision.action is Action.RESTART:
                log.error("supervisor: %s (%s)", decision.reason, status.last_error or "no error recorded")
                self._history[worker.name] = History((*history.restarts, now), None)
                self._on_restart(worker.name)
                try:
                    worker.restart()
                except Exception:
                    # Judged again at the next check: dead again (back-off, then the limit) or running.
                    log.exception("supervisor: restarting %s failed", worker.name)
            elif decision.action is Action.EXIT:
                self._give_up(decision.reason)
                return

    def _give_up(self, reason: str) -> None:
        self.exited = reason
        log.critical("supervisor: %s; the hub exits with %d so that it is restarted", reason, EX_SOFTWARE)
        self.worker.finish()
        self._exit(EX_SOFTWARE)

    def _thread_ending(self) -> None:
        if self.worker.status().state is WorkerState.DEAD and self.exited is None:
            self._give_up(f"worker-supervisor dead ({self.worker.status().last_error})")
