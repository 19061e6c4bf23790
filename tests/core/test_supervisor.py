"""The worker supervisor: the restart/exit policy as a pure function, and the supervisor acting on real workers
(real threads; only the process exit is injected, since ending pytest is not an option)."""

from __future__ import annotations

import logging
import threading

import pytest

from hub.core.supervisor import EX_SOFTWARE, Action, History, Policy, WorkerSupervisor, decide
from hub.core.worker import OnError, Worker, Workers, WorkerState

WAIT = 5.0  # the bound of every wait on a thread; a healthy run takes milliseconds
POLICY = Policy(max_restarts=3, window_s=60.0, backoff_s=1.0, stuck_exit_s=30.0, backoff_max_s=4.0)


def test_a_running_or_stopped_worker_needs_nothing() -> None:
    for state in (WorkerState.RUNNING, WorkerState.STOPPED):
        assert decide("w", state, History((1.0,), 5.0), 100.0, POLICY).action is Action.NONE


def test_a_dead_worker_is_restarted_after_a_back_off_that_doubles() -> None:
    dead = WorkerState.DEAD
    assert decide("w", dead, History((), 100.0), 100.5, POLICY).action is Action.WAIT
    assert decide("w", dead, History((), 100.0), 101.0, POLICY).action is Action.RESTART
    once = History((101.0,), 110.0)  # died again after one restart: 2 s now
    assert decide("w", dead, once, 111.9, POLICY).action is Action.WAIT
    assert decide("w", dead, once, 112.0, POLICY).action is Action.RESTART
    # ... capped at backoff_max_s
    many = Policy(max_restarts=10, window_s=60.0, backoff_s=1.0, stuck_exit_s=30.0, backoff_max_s=4.0)
    often = History((100.0, 101.0, 102.0, 103.0), 104.0)
    assert decide("w", dead, often, 107.9, many).action is Action.WAIT
    assert decide("w", dead, often, 108.0, many).action is Action.RESTART


def test_a_worker_that_keeps_dying_within_the_window_ends_the_process() -> None:
    history = History((10.0, 20.0, 30.0), 40.0)
    decision = decide("ingest-writer", WorkerState.DEAD, history, 40.0, POLICY)
    assert decision.action is Action.EXIT
    assert decision.reason == "ingest-writer dead after 3 restart(s) within 60 s (limit reached)"
    # Restarts older than the window no longer count: the same deaths spread out are restarted.
    assert decide("ingest-writer", WorkerState.DEAD, history, 80.0, POLICY).action is Action.RESTART
    # No restarts allowed: the first death ends the process.
    strict = Policy(max_restarts=0, window_s=60.0, backoff_s=0.0, stuck_exit_s=30.0)
    assert decide("w", WorkerState.DEAD, History((), 5.0), 5.0, strict).action is Action.EXIT


def test_a_stuck_worker_ends_the_process_once_stuck_beyond_the_limit() -> None:
    stuck = WorkerState.STUCK
    assert decide("outbox-110", stuck, History((), 100.0), 129.9, POLICY).action is Action.WAIT
    decision = decide("outbox-110", stuck, History((), 100.0), 130.0, POLICY)
    assert decision.action is Action.EXIT
    assert decision.reason == "outbox-110 stuck for 30 s (limit 30 s)"


def _supervisor(workers: Workers, policy: Policy, exits: list[int], restarted: list[str]) -> WorkerSupervisor:
    return WorkerSupervisor(workers, policy, on_restart=restarted.append, exit_action=exits.append, interval_s=0.02)


def test_a_dead_critical_worker_is_restarted_on_a_new_thread_and_its_owner_recovers() -> None:
    ticks: list[str] = []
    recovered = threading.Event()
    second = threading.Event()

    def tick() -> float:
        ticks.append(threading.current_thread().name)
        if len(ticks) == 1:
            raise RuntimeError("ack refused")
        second.set()
        return 60.0

    def broken() -> None:
        raise OSError("no disk")

    workers = Workers()
    writer = workers.add(Worker("ingest-writer", tick, on_error=OnError.DIE, on_restart=recovered.set), critical=True)
    optional = workers.add(Worker("influx", broken, on_error=OnError.DIE))
    exits: list[int] = []
    restarted: list[str] = []
    supervisor = _supervisor(workers, Policy(3, 60.0, 0.0, 30.0), exits, restarted)
    writer.start()
    optional.start()
    supervisor.start()
    try:
        assert second.wait(WAIT)
        assert recovered.wait(WAIT)
        status = writer.status()
        assert (status.state, status.alive, status.errors, status.restarts) == (WorkerState.RUNNING, True, 1, 1)
        assert status.last_error == "RuntimeError: ack refused"
        assert restarted == ["ingest-writer"]  # the optional worker stays dead: only the alarm path is restarted
        assert optional.status().state is WorkerState.DEAD
        assert exits == []
    finally:
        supervisor.stop()
        writer.stop(WAIT)


def test_a_critical_worker_that_keeps_dying_ends_the_process_with_a_critical_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken() -> None:
        raise OSError("disk gone")

    workers = Workers()
    writer = workers.add(Worker("ingest-writer", broken, on_error=OnError.DIE), critical=True)
    exited = threading.Event()
    exits: list[int] = []
    restarted: list[str] = []

    def exit_action(code: int) -> None:
        exits.append(code)
        exited.set()

    supervisor = WorkerSupervisor(
        workers, Policy(2, 60.0, 0.0, 30.0), on_restart=restarted.append, exit_action=exit_action, interval_s=0.02
    )
    with caplog.at_level(logging.ERROR, logger="hub.core.supervisor"):
        writer.start()
        supervisor.start()
        assert exited.wait(WAIT)
        supervisor.worker.join(WAIT)
    assert exits == [EX_SOFTWARE]
    assert restarted == ["ingest-writer", "ingest-writer"]
    assert writer.status().restarts == 2
    assert supervisor.exited == "ingest-writer dead after 2 restart(s) within 60 s (limit reached)"
    critical = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(critical) == 1
    assert "ingest-writer" in critical[0].getMessage()
    assert not supervisor.worker.status().alive  # it stops acting once it has asked for the exit


def test_a_stuck_critical_worker_ends_the_process() -> None:
    inside = threading.Event()
    release = threading.Event()

    def tick() -> None:
        inside.set()
        release.wait(WAIT)

    workers = Workers()
    outbox = workers.add(Worker("outbox-110", tick, interval=60.0, stuck_after_s=0.05), critical=True)
    exited = threading.Event()
    supervisor = WorkerSupervisor(
        workers, Policy(3, 60.0, 0.0, stuck_exit_s=0.2), exit_action=lambda code: exited.set(), interval_s=0.02
    )
    outbox.start()
    try:
        assert inside.wait(WAIT)
        supervisor.start()
        assert exited.wait(WAIT)
        assert supervisor.exited is not None
        assert supervisor.exited.startswith("outbox-110 stuck for")
        assert outbox.status().restarts == 0  # a stuck thread is never "restarted" beside itself
    finally:
        release.set()
        supervisor.stop()
        outbox.stop(WAIT)


def test_the_supervisor_dying_ends_the_process() -> None:
    class Exploding(Workers):
        def critical(self) -> list[Worker]:
            raise RuntimeError("registry corrupted")

    exits: list[int] = []
    supervisor = WorkerSupervisor(Exploding(), POLICY, exit_action=exits.append, interval_s=0.01)
    supervisor.start()
    supervisor.worker.join(WAIT)
    assert exits == [EX_SOFTWARE]
    assert supervisor.exited == "worker-supervisor dead (RuntimeError: registry corrupted)"
