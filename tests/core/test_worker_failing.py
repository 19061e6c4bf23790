"""The worker base's `failing` state: ticks that keep raising make a living worker unhealthy until one succeeds."""

from __future__ import annotations

import threading

from hub.core.worker import Worker, Workers, WorkerState

WAIT = 5.0  # the bound of every wait on the worker's thread; a healthy run takes milliseconds


class ScriptedTick:
    """A tick that raises while `failing` is set, and tells how many times it ran."""

    def __init__(self) -> None:
        self.failing = threading.Event()
        self.changed = threading.Condition()
        self.failures = 0
        self.successes = 0

    def __call__(self) -> float:
        with self.changed:
            if self.failing.is_set():
                self.failures += 1
                self.changed.notify_all()
                raise OSError("disk I/O error")
            self.successes += 1
            self.changed.notify_all()
        return 0.02

    def wait(self, *, failures: int = 0, successes: int = 0) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.failures >= failures and self.successes >= successes, WAIT)


def test_ticks_failing_in_a_row_make_the_worker_failing_until_one_succeeds() -> None:
    tick = ScriptedTick()
    tick.failing.set()
    worker = Worker("outbox-p", tick, interval=0.02, failing_after=3)
    workers = Workers()
    workers.add(worker, critical=True)
    worker.start()
    try:
        # The base counts a failure after the tick has raised: once a fourth tick ran, three were counted.
        assert tick.wait(failures=4)
        status = worker.status()
        assert status.state is WorkerState.FAILING
        assert status.alive
        assert workers.failing() == ["outbox-p failing (OSError: disk I/O error)"]
        assert workers.health()["reason"] == "outbox-p failing (OSError: disk I/O error)"

        tick.failing.clear()
        assert tick.wait(successes=2)  # the first success was counted before the second tick began
        assert worker.status().state is WorkerState.RUNNING
        assert workers.failing() == []
    finally:
        worker.stop(WAIT)


def test_without_failing_after_a_worker_that_keeps_failing_stays_running() -> None:
    tick = ScriptedTick()
    tick.failing.set()
    worker = Worker("optional", tick, interval=0.02)
    worker.start()
    try:
        assert tick.wait(failures=5)
        assert worker.status().state is WorkerState.RUNNING
    finally:
        worker.stop(WAIT)
