"""Telemetry commits skip their own fsync; what they raise, and everything within a second, is fsynced all the same.

A power cut cannot be staged here, so the tests watch the two things durability rests on: the connection's
`synchronous` setting for each kind of commit, and each call that fsyncs the write-ahead log (a spy around the real
`Store.sync_wal`, which still runs).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.config import HubConfig
from hub.core.clock import ManualClock
from hub.ingest.pipeline import RELAXED_SYNC_S, Inbound, Pipeline
from hub.metrics import HubMetrics
from hub.store import Store
from tests.conftest import base_config, topic

NORMAL, FULL = 1, 2  # what PRAGMA synchronous reads back


class Spied:
    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = store.sync_wal

        def counting() -> None:
            self.calls += 1
            real()

        monkeypatch.setattr(store, "sync_wal", counting)


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Pipeline, Store, ManualClock, Spied]:
    clock = ManualClock(datetime(2026, 12, 6, 12, tzinfo=UTC))
    config = HubConfig.model_validate(base_config(tmp_path, 1883, "http://127.0.0.1:9/alarms"))
    store = Store(tmp_path / "hub.db", clock)
    store.open()
    return Pipeline(config, store, HubMetrics(), clock=clock), store, clock, Spied(store, monkeypatch)


def reading(n: int, celsius: float = 21.0) -> Inbound:
    payload = f'{{"celsius": {celsius}}}'.encode()
    return Inbound(topic("temperature", "temp-1", "telemetry"), payload, 1, n, datetime.now(UTC), float(n))


def synchronous(store: Store) -> int:
    return int(store.connection().execute("PRAGMA synchronous").fetchone()[0])


def test_readings_commit_relaxed_and_are_synced_within_a_second(
    setup: tuple[Pipeline, Store, ManualClock, Spied],
) -> None:
    pipe, store, clock, spy = setup
    pipe.process([reading(1)], relaxed=True)
    assert synchronous(store) == NORMAL
    first = spy.calls
    pipe.process([reading(2)], relaxed=True)
    clock.advance(RELAXED_SYNC_S / 2)
    pipe.process([reading(3)], relaxed=True)
    assert spy.calls == first, "plain readings inside the second are not fsynced one by one"
    clock.advance(RELAXED_SYNC_S / 2)
    pipe.process([reading(4)], relaxed=True)
    assert spy.calls == first + 1, "the oldest unsynced commit is a second old: the log is fsynced"
    assert store.count("events") == 4


def test_a_heat_alarm_raised_by_a_relaxed_commit_is_fsynced_before_it_returns(
    setup: tuple[Pipeline, Store, ManualClock, Spied],
) -> None:
    pipe, store, _, spy = setup
    pipe.process([reading(1)], relaxed=True)
    before = spy.calls
    outcome = pipe.process([reading(2, celsius=90.0)], relaxed=True)
    assert len(outcome.opened) == 1
    assert spy.calls == before + 1
    assert os.path.exists(f"{store.path}-wal")


def test_alarm_lane_commits_stay_full(setup: tuple[Pipeline, Store, ManualClock, Spied]) -> None:
    pipe, store, _, spy = setup
    pipe.process([reading(1)], relaxed=True)
    assert synchronous(store) == NORMAL
    press = Inbound(topic("panic_button", "btn-1", "event"), b'{"pressed": true}', 1, 9, datetime.now(UTC), 9.0)
    calls = spy.calls
    outcome = pipe.process([press])
    assert len(outcome.opened) == 1
    assert synchronous(store) == FULL
    assert spy.calls == calls, "a FULL commit syncs by itself"
