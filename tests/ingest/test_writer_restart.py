"""The ingest writer dies inside a real hub (real Mosquitto, real SQLite, the real HTTP 110 receiver): /healthz says
so, the worker supervisor restarts it, and every press reaches the receiver exactly once.

The only fakes are the injected faults, each at a boundary of the writer and said so where it is made.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.app import Hub
from hub.core.worker import WorkerState
from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver
from hub.ingest.pipeline import BatchOutcome, Inbound
from hub.mqtt.session import Ackable
from hub.mqtt.topics import Lane
from tests.conftest import HubFactory, Publisher, base_config, topic, wait_until

PRESS_1 = topic("panic_button", "btn-1", "event")
PRESS_2 = topic("panic_button", "btn-2", "event")
# Long enough that /healthz is read while the writer is dead, short enough for a quick test (the default is 1 s).
BACKOFF_S = 2.0


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def _start(tmp_path: Path, broker: Mosquitto, receiver: Receiver, start_hub: HubFactory) -> Hub:
    raw = base_config(tmp_path, broker.port, receiver.url)
    raw["supervision"] = {"restart_backoff_s": BACKOFF_S, "max_restarts": 3}
    return start_hub(raw, api=True)


def _healthz(hub: Hub) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{hub.api_port}/healthz", timeout=5)


def _dead(hub: Hub) -> bool:
    return hub.ingest.worker.status().state is WorkerState.DEAD


def _each_alarm_received_once(receiver: Receiver, count: int) -> None:
    assert wait_until(lambda: len(receiver.state.unique_alarm_ids()) == count, 15), receiver.state.unique_alarm_ids()
    posts = Counter(r.body["alarm_id"] for r in receiver.state.received if r.body.get("event", "alarm") == "alarm")
    assert set(posts.values()) == {1}, f"an alarm reached 110 more than once: {posts}"


def test_a_writer_whose_acks_fail_is_restarted_and_every_press_reaches_110_once(
    tmp_path: Path,
    broker: Mosquitto,
    publisher: Publisher,
    receiver: Receiver,
    start_hub: HubFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub = _start(tmp_path, broker, receiver, start_hub)
    db = tmp_path / "hub.db"
    real_ack = hub.ingest.sessions[Lane.ALARM].ack  # presses travel on the alarm lane
    failed = threading.Event()

    def ack_failing_once(items: Sequence[Ackable]) -> None:
        # Injected fault at the MQTT boundary: the PUBACKs of the batch holding the first press fail to go out
        # (after its commit), once. Everything else is acknowledged by the real session.
        if not failed.is_set() and any(isinstance(i, Inbound) and i.topic == PRESS_1 for i in items):
            failed.set()
            raise RuntimeError("ack refused")
        real_ack(items)

    monkeypatch.setattr(hub.ingest.sessions[Lane.ALARM], "ack", ack_failing_once)
    publisher.publish(PRESS_1, {"pressed": True, "seq": 1})
    assert wait_until(lambda: _dead(hub), 10)

    down = _healthz(hub)
    assert down.status_code == 503
    assert down.json()["reason"] == "ingest-writer dead (RuntimeError: ack refused)"
    assert down.json()["workers"]["ingest-writer"] == "dead"
    publisher.publish(PRESS_2, {"pressed": True, "seq": 1})  # pressed while the writer is dead

    assert wait_until(lambda: _healthz(hub).status_code == 200, 15), _healthz(hub).json()
    status = hub.ingest.worker.status()
    assert (status.state, status.restarts) == (WorkerState.RUNNING, 1)
    _each_alarm_received_once(receiver, 2)
    # The first press was committed but never acknowledged: the restart's reconnect made the broker send it again,
    # which is stored as an event and recognised as the same press (one trigger), not a second alarm.
    assert wait_until(lambda: _rows(db, "SELECT COUNT(*) FROM events WHERE device_id = 'btn-1'") == [(2,)], 10)
    assert sorted(_rows(db, "SELECT device_id, trigger_count FROM alarms")) == [("btn-1", 1), ("btn-2", 1)]
    assert 'campus_hub_worker_restarts_total{worker="ingest-writer"} 1.0' in hub.metrics.render().decode()


def test_a_batch_taken_but_not_committed_comes_back_from_the_broker_after_the_restart(
    tmp_path: Path,
    broker: Mosquitto,
    publisher: Publisher,
    receiver: Receiver,
    start_hub: HubFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub = _start(tmp_path, broker, receiver, start_hub)
    db = tmp_path / "hub.db"
    real_process = hub.pipeline.process
    failed = threading.Event()

    def process_ending_the_thread_once(batch: Sequence[Inbound], relaxed: bool = False) -> BatchOutcome:
        # Injected fault at the pipeline boundary: SystemExit (a library calling sys.exit()) is what the writer's
        # commit retry does not catch, so the batch is off the queue, not committed and not acknowledged.
        if not failed.is_set() and any(m.topic == PRESS_1 for m in batch):
            failed.set()
            raise SystemExit("sys.exit() in a library")
        return real_process(batch, relaxed=relaxed)

    monkeypatch.setattr(hub.pipeline, "process", process_ending_the_thread_once)
    publisher.publish(PRESS_1, {"pressed": True, "seq": 1})
    assert wait_until(lambda: _dead(hub), 10)
    down = _healthz(hub)
    assert down.status_code == 503
    assert down.json()["reason"] == "ingest-writer dead (SystemExit: sys.exit() in a library)"
    assert _rows(db, "SELECT COUNT(*) FROM alarms") == [(0,)]  # nothing committed while it is dead

    assert wait_until(lambda: _healthz(hub).status_code == 200, 15), _healthz(hub).json()
    _each_alarm_received_once(receiver, 1)
    assert _rows(db, "SELECT device_id, trigger_count FROM alarms") == [("btn-1", 1)]
    assert _rows(db, "SELECT COUNT(*) FROM events WHERE device_id = 'btn-1'") == [(1,)]  # committed once, acked
    assert hub.ingest.worker.status().restarts == 1
