"""The health bookkeeping can never cost a press: a failure saving device health inside the press's transaction
still commits and forwards the alarm, is counted, and is repaired by the health watcher once the store takes it.

The failure is real: a trigger in the hub's own SQLite file refuses writes to `device_state`, as a broken or
corrupted health table would.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hub.core.clock import SystemClock
from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver
from hub.store.store import Store
from tests.conftest import HubFactory, Publisher, base_config, topic, wait_until

BREAK_HEALTH = """
CREATE TRIGGER break_health_insert BEFORE INSERT ON device_state BEGIN SELECT RAISE(ABORT, 'health table broken'); END;
CREATE TRIGGER break_health_update BEFORE UPDATE ON device_state BEGIN SELECT RAISE(ABORT, 'health table broken'); END;
"""
MEND_HEALTH = "DROP TRIGGER break_health_insert; DROP TRIGGER break_health_update;"


def test_press_is_committed_and_forwarded_when_its_health_save_fails(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, receiver.url))
    hub.store.ensure_schema(BREAK_HEALTH)

    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 5})
    got = receiver.state.wait_for(1, timeout=5.0)
    assert [r.body["device"]["id"] for r in got] == ["btn-1"], "the press did not reach 110"
    assert hub.store.count("dead_letters") == 0, "the press became a dead letter"
    assert hub.store.count("alarms") == 1
    failures = hub.metrics.registry.get_sample_value("campus_hub_health_bookkeeping_failures_total")
    assert failures == 1
    # Memory did not run ahead of the database: the device is as the store has it (never heard from).
    before_repair = hub.tracker.get("btn-1")
    assert before_repair is not None
    assert before_repair.last_seen_at is None
    assert hub.health_updater.repair_pending == 1

    # While the table is still broken, the repair fails and keeps the events for the next tick.
    with pytest.raises(sqlite3.IntegrityError):
        hub.watcher.run_once()
    assert hub.health_updater.repair_pending == 1

    hub.store.ensure_schema(MEND_HEALTH)
    hub.watcher.run_once()
    assert hub.health_updater.repair_pending == 0
    row = hub.store.connection().execute("SELECT online, last_seen_at FROM device_state WHERE device_id = 'btn-1'")
    online, last_seen = row.fetchone()
    assert online == 1
    assert last_seen is not None
    repaired = hub.tracker.get("btn-1")
    assert repaired is not None
    assert repaired.online is True

    # Later presses on the mended store need no repair.
    publisher.publish(topic("panic_button", "btn-2", "event"), {"pressed": True, "seq": 1})
    assert wait_until(lambda: len(receiver.state.unique_alarm_ids()) == 2, 5.0)
    assert hub.metrics.registry.get_sample_value("campus_hub_health_bookkeeping_failures_total") == 1


def test_a_failed_transaction_shows_its_own_error_not_the_rollback(tmp_path: Path) -> None:
    """When SQLite has already ended the transaction, the store must not raise "no transaction is active" over
    the real error."""
    store = Store(tmp_path / "hub.db", SystemClock())
    store.open()

    class Cause(Exception):
        pass

    def fail_after_sqlite_rolled_back() -> None:
        with store.write() as conn:
            conn.execute("ROLLBACK")  # as SQLite does by itself on some disk-full and I/O errors
            raise Cause("the real error")

    with pytest.raises(Cause) as raised:
        fail_after_sqlite_rolled_back()
    assert str(raised.value) == "the real error"
    assert not store.connection().in_transaction
    # The write lock was released: the next transaction goes through.
    store.meta_set("after", "ok")
    assert store.meta_get("after") == "ok"
