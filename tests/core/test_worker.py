"""The worker base: supervision of a failing or stuck tick, wake-ups, stop and the thread's own clean-up."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from hub.core.periodic import Periodic
from hub.core.worker import OnError, Worker, Workers, WorkerState

WAIT = 5.0  # the bound of every wait on the worker's thread; a healthy run takes milliseconds


def _ended(worker: Worker) -> bool:
    worker.join(WAIT)
    return not worker.status().alive


def test_a_failing_tick_is_logged_counted_and_the_worker_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []
    second = threading.Event()

    def tick() -> float:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("bad row")
        second.set()
        return 60.0

    worker = Worker("flaky", tick, interval=0.0)
    with caplog.at_level(logging.ERROR, logger="hub.core.worker"):
        worker.start()
        assert second.wait(WAIT)
    status = worker.status()
    worker.stop(WAIT)
    assert status.state is WorkerState.RUNNING
    assert status.alive
    assert (status.errors, status.restarts, status.last_error) == (1, 0, "ValueError: bad row")  # same thread
    assert "flaky failed; trying again" in caplog.text
    assert "ValueError: bad row" in caplog.text  # the traceback is logged


def test_a_failing_tick_marks_a_die_worker_dead_and_its_thread_still_cleans_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exits: list[str] = []

    def tick() -> None:
        raise RuntimeError("disk gone")

    worker = Worker("writer", tick, on_error=OnError.DIE, on_thread_exit=lambda: exits.append("closed"))
    with caplog.at_level(logging.ERROR, logger="hub.core.worker"):
        worker.start()
        assert _ended(worker)
    status = worker.status()
    assert status.state is WorkerState.DEAD
    assert not status.alive
    assert (status.errors, status.restarts, status.last_error) == (1, 0, "RuntimeError: disk gone")
    assert exits == ["closed"]
    assert "writer failed; the worker stops (dead)" in caplog.text


def test_stop_joins_the_thread_and_on_thread_exit_runs_on_it() -> None:
    ran = threading.Event()
    exit_thread: list[str] = []
    worker = Worker(
        "named",
        lambda: ran.set(),
        interval=60.0,
        on_thread_exit=lambda: exit_thread.append(threading.current_thread().name),
    )
    assert worker.status().state is WorkerState.STOPPED  # not started yet
    worker.start()
    assert ran.wait(WAIT)
    assert worker.status().state is WorkerState.RUNNING
    started = time.monotonic()
    worker.stop(WAIT)
    assert time.monotonic() - started < WAIT  # the 60 s wait ends at once on stop
    assert not worker.status().alive
    assert worker.status().state is WorkerState.STOPPED
    assert exit_thread == ["named"]


def test_a_tick_running_past_its_limit_shows_as_stuck() -> None:
    inside = threading.Event()
    release = threading.Event()

    def tick() -> None:
        inside.set()
        release.wait(WAIT)

    worker = Worker("slow", tick, interval=60.0, stuck_after_s=30.0)
    worker.start()
    try:
        assert inside.wait(WAIT)
        now = time.monotonic()
        assert worker.status(now).state is WorkerState.RUNNING
        assert worker.status(now + 31.0).state is WorkerState.STUCK  # judged at a later instant, no sleeping
    finally:
        release.set()
        worker.stop(WAIT)


def test_waiting_between_ticks_is_never_stuck() -> None:
    pausing = threading.Event()

    def ready() -> bool:
        pausing.set()  # read only in the wait, after the tick's finish is recorded
        return False

    worker = Worker("idle", lambda: None, interval=None, stuck_after_s=1.0, ready=ready)
    worker.start()
    try:
        assert pausing.wait(WAIT)
        assert worker.status(time.monotonic() + 3600).state is WorkerState.RUNNING
    finally:
        worker.stop(WAIT)


def test_wake_runs_a_tick_before_the_interval() -> None:
    ticks = threading.Semaphore(0)
    worker = Worker("wakeable", lambda: ticks.release(), interval=60.0)
    worker.start()
    try:
        assert ticks.acquire(timeout=WAIT)  # the first tick comes at once
        worker.wake()
        assert ticks.acquire(timeout=WAIT)  # long before 60 s
    finally:
        worker.stop(WAIT)


def test_a_wake_during_a_tick_is_not_lost() -> None:
    first = threading.Event()
    go_on = threading.Event()
    count: list[int] = []
    second = threading.Event()

    def tick() -> None:
        count.append(1)
        if len(count) == 1:
            first.set()
            go_on.wait(WAIT)
        else:
            second.set()

    worker = Worker("busy", tick, interval=60.0)
    worker.start()
    try:
        assert first.wait(WAIT)
        worker.wake()  # while the first tick runs
        go_on.set()
        assert second.wait(WAIT)
    finally:
        worker.stop(WAIT)


def test_a_ready_condition_ends_the_wait() -> None:
    cond = threading.Condition()
    work: list[str] = []
    done = threading.Event()

    def tick() -> None:
        with cond:
            taken = list(work)
            work.clear()
        if taken:
            done.set()

    worker = Worker("consumer", tick, wait_first=True, cond=cond, ready=lambda: bool(work))
    worker.start()
    try:
        with cond:
            work.append("x")
            cond.notify_all()
        assert done.wait(WAIT)
    finally:
        worker.stop(WAIT)


def test_finish_from_the_tick_ends_the_loop_and_wait_stop_sees_a_stop() -> None:
    worker = Worker("once", lambda: worker.finish(), interval=0.0)
    worker.start()
    assert _ended(worker)
    assert worker.status().state is WorkerState.STOPPED
    assert worker.wait_stop(0.0)


def test_periodic_waits_one_interval_first_unless_told_otherwise() -> None:
    ticked = threading.Event()
    timer = Periodic("watcher", ticked.set, lambda: 60.0)
    timer.start()
    try:
        assert not ticked.wait(0.2)  # bounded: the tick is a minute away
        timer.wake()
        assert ticked.wait(WAIT)
    finally:
        timer.stop(WAIT)
    first = threading.Event()
    publisher = Periodic("publisher", first.set, lambda: 60.0, wait_first=False)
    publisher.start()
    try:
        assert first.wait(WAIT)
    finally:
        publisher.stop(WAIT)


def test_workers_report_and_a_dead_critical_worker_makes_the_hub_unhealthy() -> None:
    def broken() -> None:
        raise OSError("no disk")

    workers = Workers()
    alive = workers.add(Worker("outbox-a", lambda: 60.0), critical=True)
    optional = workers.add(Worker("influx", broken, on_error=OnError.DIE))
    alive.start()
    optional.start()
    try:
        assert _ended(optional)
        assert workers.health() == {"workers": {"outbox-a": "running", "influx": "dead"}}  # only an optional one
        assert workers.health(detail=True)["workers"] == {
            "outbox-a": {"alive": True, "state": "running", "last_error": None, "errors": 0, "restarts": 0},
            "influx": {"alive": False, "state": "dead", "last_error": "OSError: no disk", "errors": 1, "restarts": 0},
        }
        critical = workers.add(Worker("ingest-writer", broken, on_error=OnError.DIE), critical=True)
        critical.start()
        assert _ended(critical)
        assert workers.health()["reason"] == "ingest-writer dead (OSError: no disk)"
        assert [w.name for w in workers] == ["outbox-a", "influx", "ingest-writer"]
    finally:
        alive.stop(WAIT)
    quiet = Workers()
    assert quiet.health() == {"workers": {}}
    assert quiet.health(detail=True) == {"workers": {}}


def test_a_worker_that_waits_to_be_woken_retries_a_failed_tick_soon() -> None:
    calls: list[int] = []
    again = threading.Event()

    def tick() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("once")
        again.set()

    worker = Worker("on-demand", tick, interval=None)
    worker.start()
    try:
        assert again.wait(WAIT)  # no wake() needed: the retry comes after ERROR_RETRY_S
    finally:
        worker.stop(WAIT)


def test_restart_runs_a_dead_worker_on_a_new_thread_then_its_owners_recovery() -> None:
    threads: list[threading.Thread] = []
    order: list[str] = []
    second = threading.Event()

    def tick() -> float:
        threads.append(threading.current_thread())
        if len(threads) == 1:
            raise RuntimeError("once")
        order.append("tick")
        second.set()
        return 60.0

    worker = Worker("writer", tick, on_error=OnError.DIE, on_restart=lambda: order.append("on_restart"))
    worker.start()
    assert _ended(worker)
    assert worker.status().state is WorkerState.DEAD
    worker.restart()
    try:
        assert second.wait(WAIT)
        status = worker.status()
        assert (status.state, status.alive, status.errors, status.restarts) == (WorkerState.RUNNING, True, 1, 1)
        assert threads[0] is not threads[1]
        assert "on_restart" in order
    finally:
        worker.stop(WAIT)
    assert worker.status().state is WorkerState.STOPPED  # stopped on purpose after a restart: not dead


def test_a_thread_ended_by_system_exit_is_dead_not_stopped(caplog: pytest.LogCaptureFixture) -> None:
    def tick() -> None:
        raise SystemExit("a library called sys.exit()")

    # Even with CONTINUE: a BaseException cannot be gone on from.
    worker = Worker("outbox-x", tick, interval=0.0, on_error=OnError.CONTINUE)
    with caplog.at_level(logging.ERROR, logger="hub.core.worker"):
        worker.start()
        assert _ended(worker)
    status = worker.status()
    assert (status.state, status.errors, status.last_error) == (
        WorkerState.DEAD,
        1,
        "SystemExit: a library called sys.exit()",
    )
    assert "outbox-x ended by SystemExit" in caplog.text


def test_the_test_only_environment_hook_fails_every_tick_of_the_named_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMPUS_HUB_TEST_FAIL_WORKERS", "ingest-writer,outbox-x")
    ran: list[int] = []
    named = Worker("ingest-writer", lambda: ran.append(1), on_error=OnError.DIE)
    named.start()
    assert _ended(named)
    assert named.status().state is WorkerState.DEAD
    assert named.status().last_error == ("InjectedFault: CAMPUS_HUB_TEST_FAIL_WORKERS names ingest-writer (tests only)")
    assert ran == []  # the fault comes before the tick
    ticked = threading.Event()
    other = Worker("ingest-writer-2", ticked.set, interval=60.0, on_error=OnError.DIE)  # exact names only
    other.start()
    try:
        assert ticked.wait(WAIT)
    finally:
        other.stop(WAIT)
