"""The outbox rows on a real SQLite file with a manual clock: retry state kept in the rows (what is due, when the next
back-off ends, a delivery freeing the path's waiting rows) and a close racing attempts in flight (a leg that turns out
delivered gets its restore; one that fails stays cancelled)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts.model import AlarmKind, DeliveryState
from hub.core.clock import ManualClock, to_iso
from hub.health.faults import FaultChange, FaultKind
from hub.store import Actor, OutboxItem, Store, enqueue_trouble
from hub.store.health import HealthStore

NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
GUARD = Actor("guard-1", "guard")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def store(tmp_path: Path, clock: ManualClock) -> Store:
    opened = Store(tmp_path / "hub.db", clock)
    opened.open()
    return opened


def raise_alarm(
    store: Store,
    clock: ManualClock,
    device: str,
    endpoints: list[str],
    *,
    priority: int = 1,
    live: int | None = None,
) -> str:
    kind = AlarmKind.PANIC if priority == 1 else AlarmKind.FIRE
    with store.transaction() as tx:
        return tx.open_alarm(
            device_id=device,
            kind=kind,
            priority=priority,
            reason="pressed",
            detail={},
            device={"id": device},
            occurred_at=clock.now(),
            raised_at=clock.now(),
            seq=1,
            endpoints=endpoints,
            live=live,
        )


def leg(store: Store, endpoint: str, alarm_id: str) -> OutboxItem:
    """The alarm's due row for the endpoint, as an outbox worker reads it before sending."""
    (item,) = [i for i in store.due_outbox(endpoint, [], 50) if i.alarm_id == alarm_id]
    return item


def record(store: Store, item: OutboxItem, outcome: DeliveryState, **extra: Any) -> bool:
    args: dict[str, Any] = {
        "started_at": NOW,
        "outcome": outcome,
        "http_status": 200 if outcome is DeliveryState.DELIVERED else 503,
        "error": None if outcome is DeliveryState.DELIVERED else "HTTP 503",
        "receipt": "r-1" if outcome is DeliveryState.DELIVERED else None,
        "next_attempt_at": None,
        "latency_ms": 3.0 if outcome is DeliveryState.DELIVERED else None,
        **extra,
    }
    return store.record_attempt(item, **args)


def deliveries(store: Store, alarm_id: str) -> list[tuple[str, str, str]]:
    return [(d["endpoint"], d["event"], d["state"]) for d in store.get_alarm(alarm_id)["deliveries"]]


def close(store: Store, alarm_id: str) -> list[str]:
    store.acknowledge(alarm_id, GUARD)
    return store.close(alarm_id, GUARD, "handled", None)


# --- retry state in the rows ------------------------------------------------------------------------------------


def test_a_row_waiting_on_backoff_is_not_due_until_its_time(store: Store, clock: ManualClock) -> None:
    alarm_id = raise_alarm(store, clock, "btn-1", ["p110"])
    retry_at = NOW + timedelta(seconds=10)
    assert store.next_retry_at("p110") is None
    record(store, leg(store, "p110", alarm_id), DeliveryState.PENDING, next_attempt_at=retry_at)
    assert store.due_outbox("p110", [], 10) == []
    assert store.next_retry_at("p110") == retry_at
    clock.advance(9.999)
    assert store.due_outbox("p110", [], 10) == []
    clock.advance(0.001)
    (again,) = store.due_outbox("p110", [], 10)
    assert (again.alarm_id, again.attempts) == (alarm_id, 1)
    assert store.next_retry_at("p110") is None  # it is due now, not waiting


def test_a_retried_priority_1_alarm_still_goes_before_an_older_priority_2(store: Store, clock: ManualClock) -> None:
    fire = raise_alarm(store, clock, "smoke-1", ["p110"], priority=2)
    clock.advance(1)
    panic = raise_alarm(store, clock, "btn-1", ["p110"])
    record(store, leg(store, "p110", panic), DeliveryState.PENDING, next_attempt_at=clock.now() + timedelta(seconds=2))
    assert [i.alarm_id for i in store.due_outbox("p110", [], 10)] == [fire]
    clock.advance(2)
    assert [i.alarm_id for i in store.due_outbox("p110", [], 10)] == [panic, fire]


def test_a_delivery_makes_every_row_waiting_on_that_endpoint_due(store: Store, clock: ManualClock) -> None:
    first = raise_alarm(store, clock, "btn-1", ["p110", "fire-room"])
    later = NOW + timedelta(seconds=30)
    for endpoint in ("p110", "fire-room"):
        record(store, leg(store, endpoint, first), DeliveryState.PENDING, next_attempt_at=later)
    second = raise_alarm(store, clock, "btn-2", ["p110", "fire-room"])
    assert record(store, leg(store, "p110", second), DeliveryState.DELIVERED) is False
    assert [i.alarm_id for i in store.due_outbox("p110", [], 10)] == [first]
    assert [i.alarm_id for i in store.due_outbox("fire-room", [], 10)] == [second]  # the other path still waits
    assert store.next_retry_at("fire-room") == later


def test_a_wait_longer_than_any_backoff_is_due_at_once(store: Store, clock: ManualClock) -> None:
    # An hour ahead is what a wall clock stepped back by an hour leaves behind; no back-off is that long.
    alarm_id = raise_alarm(store, clock, "btn-1", ["p110"])
    record(store, leg(store, "p110", alarm_id), DeliveryState.PENDING, next_attempt_at=NOW + timedelta(hours=1))
    assert store.due_outbox("p110", [], 10) == []
    assert [i.alarm_id for i in store.due_outbox("p110", [], 10, max_backoff_s=30)] == [alarm_id]
    assert store.next_retry_at("p110", max_backoff_s=30) is None


def test_the_retry_index_is_created_on_open_for_older_files_too(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "hub.db"
    Store(path, clock).open()
    with sqlite3.connect(path) as old:
        old.execute("DROP INDEX outbox_retry")  # a file from before the index
    again = Store(path, clock)
    again.open()
    plan = again.connection().execute(
        "EXPLAIN QUERY PLAN SELECT MIN(next_attempt_at) FROM outbox WHERE endpoint = 'p' AND state = 'pending'"
        " AND next_attempt_at > '2026'"
    )
    assert "outbox_retry" in " ".join(str(row) for row in plan.fetchall())


def test_a_trouble_waiting_on_backoff_is_not_due_until_its_time(store: Store, clock: ManualClock) -> None:
    health = HealthStore(store, 24, 600)
    health.open()
    (fault,) = health.apply_changes([FaultChange("btn-1", FaultKind.TAMPER, True, "tamper")], NOW)
    with store.write() as conn:
        enqueue_trouble(conn, fault.fault_id, ["p110"], None, NOW)
    (item,) = store.due_troubles("p110", [], 10)
    record(store, item, DeliveryState.PENDING, next_attempt_at=NOW + timedelta(seconds=5))
    assert store.due_troubles("p110", [], 10) == []
    clock.advance(5)
    assert [i.id for i in store.due_troubles("p110", [], 10)] == [item.id]


# --- a close racing the attempts in flight ------------------------------------------------------------------------


def test_closed_while_in_flight_a_leg_that_delivers_gets_its_restore_one_that_fails_stays_cancelled(
    store: Store, clock: ManualClock
) -> None:
    alarm_id = raise_alarm(store, clock, "btn-1", ["p110", "fire-room"])
    in_flight = {e: leg(store, e, alarm_id) for e in ("p110", "fire-room")}
    clock.advance(1)
    assert close(store, alarm_id) == ["p110", "fire-room"]
    assert store.due_outbox("p110", [], 10) == []

    assert record(store, in_flight["p110"], DeliveryState.DELIVERED) is True
    assert record(store, in_flight["fire-room"], DeliveryState.PENDING, next_attempt_at=NOW) is False
    assert deliveries(store, alarm_id) == [
        ("p110", "alarm", "delivered"),
        ("fire-room", "alarm", "cancelled"),
        ("p110", "restore", "pending"),
    ]
    (restore,) = store.due_outbox("p110", [], 10)
    assert (restore.alarm_id, restore.event, restore.priority) == (alarm_id, "restore", 1)
    assert restore.alarm is not None
    assert restore.alarm.closed_at == to_iso(clock.now())
    assert store.due_outbox("fire-room", [], 10) == []
    failed = store.get_alarm(alarm_id)["deliveries"][1]
    assert (failed["attempts"], failed["next_attempt_at"]) == (1, None)
    assert failed["last_error"] == "(cancelled: alarm closed before delivery)"  # why it stopped, not the 503
    assert [h["outcome"] for h in failed["history"]] == ["retry"]


def test_a_permanent_refusal_after_the_close_leaves_the_leg_cancelled(store: Store, clock: ManualClock) -> None:
    alarm_id = raise_alarm(store, clock, "btn-1", ["p110"])
    item = leg(store, "p110", alarm_id)
    close(store, alarm_id)
    assert record(store, item, DeliveryState.FAILED) is False
    assert deliveries(store, alarm_id) == [("p110", "alarm", "cancelled")]


def test_failover_closed_while_the_first_leg_is_in_flight_restores_only_where_it_was_delivered(
    store: Store, clock: ManualClock
) -> None:
    alarm_id = raise_alarm(store, clock, "btn-1", ["p110", "backup"], live=1)
    item = leg(store, "p110", alarm_id)
    close(store, alarm_id)
    assert record(store, item, DeliveryState.DELIVERED, stand_down_others=True) is True
    assert deliveries(store, alarm_id) == [
        ("p110", "alarm", "delivered"),
        ("backup", "alarm", "cancelled"),  # on standby when the alarm closed: never sent, nothing to restore
        ("p110", "restore", "pending"),
    ]


def test_a_leg_stood_down_while_in_flight_that_delivers_is_restored_on_close(store: Store, clock: ManualClock) -> None:
    alarm_id = raise_alarm(store, clock, "btn-1", ["p110", "backup"], live=1)
    slow = leg(store, "p110", alarm_id)
    (backup_id,) = [lg.outbox_id for _, legs in store.standby_alarms() for lg in legs if lg.state == "standby"]
    store.activate_legs([backup_id])
    assert record(store, leg(store, "backup", alarm_id), DeliveryState.DELIVERED, stand_down_others=True) is False
    assert deliveries(store, alarm_id) == [("p110", "alarm", "cancelled"), ("backup", "alarm", "delivered")]
    # The primary's answer comes late: that centre has the alarm too, so it is told when the alarm is over.
    assert record(store, slow, DeliveryState.DELIVERED, stand_down_others=True) is False
    close(store, alarm_id)
    assert deliveries(store, alarm_id) == [
        ("p110", "alarm", "delivered"),
        ("backup", "alarm", "delivered"),
        ("p110", "restore", "pending"),
        ("backup", "restore", "pending"),
    ]


def test_a_late_delivery_recorded_twice_adds_one_restore(store: Store, clock: ManualClock) -> None:
    alarm_id = raise_alarm(store, clock, "btn-1", ["p110"])
    item = leg(store, "p110", alarm_id)
    close(store, alarm_id)
    assert record(store, item, DeliveryState.DELIVERED) is True
    assert record(store, item, DeliveryState.DELIVERED) is False
    assert [e for _, e, _ in deliveries(store, alarm_id)] == ["alarm", "restore"]
