"""The store's table-set versions and the typed records it hands across modules: an outbox item carries its alarm or
its trouble as a record, and an alarm reaches the API as a plain dict."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from alerts.model import AlarmKind
from hub.core.clock import ManualClock
from hub.health.faults import FaultChange, FaultKind
from hub.store import SCHEMA_VERSIONS, OutboxAlarm, OutboxTrouble, Store, enqueue_trouble
from hub.store.health import HealthStore

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def opened(tmp_path: Path) -> Store:
    store = Store(tmp_path / "hub.db", ManualClock(NOW))
    store.open()
    return store


def test_each_table_set_has_its_version_and_the_old_number_stays(tmp_path: Path) -> None:
    store = opened(tmp_path)
    assert {name: store.meta_get(f"schema:{name}") for name in SCHEMA_VERSIONS} == {
        "core": "2",
        "outbox": "2",
        "replays": "1",
    }
    assert store.meta_get("schema_version") == "2"
    store.open()  # a second open changes nothing
    assert store.meta_get("schema:outbox") == "2"


def test_an_outbox_item_carries_its_alarm_as_a_record(tmp_path: Path) -> None:
    store = opened(tmp_path)
    with store.transaction() as tx:
        alarm_id = tx.open_alarm(
            device_id="btn-1",
            kind=AlarmKind.PANIC,
            priority=1,
            reason="pressed",
            detail={"button": 1},
            device={"id": "btn-1"},
            occurred_at=NOW,
            raised_at=NOW,
            seq=1,
            endpoints=["p110"],
        )
    (item,) = store.due_outbox("p110", [], 10)
    assert item.alarm == OutboxAlarm(
        kind="panic",
        device={"id": "btn-1"},
        occurred_at="2026-12-01T08:00:00.000000+00:00",
        raised_at="2026-12-01T08:00:00.000000+00:00",
        trigger_count=1,
        reason="pressed",
        detail={"button": 1},
        closed_at=None,
        disposition=None,
    )
    assert (item.alarm_id, item.trouble, item.began_at) == (alarm_id, None, item.alarm.raised_at)
    view = store.get_alarm(alarm_id)
    assert type(view) is dict
    assert list(view)[:3] == ["id", "number", "kind"]
    assert list(view)[-3:] == ["deliveries", "triggers", "reports"]
    json.dumps(view)


def test_an_outbox_item_carries_its_trouble_as_a_record(tmp_path: Path) -> None:
    store = opened(tmp_path)
    health = HealthStore(store, 24, 600)
    health.open()
    (fault,) = health.apply_changes([FaultChange("btn-1", FaultKind.TAMPER, True, "tamper")], NOW)
    with store.write() as conn:
        enqueue_trouble(conn, fault.fault_id, ["p110"], {"id": "btn-1"}, NOW)
    (item,) = store.due_troubles("p110", [], 10)
    assert item.alarm is None
    assert item.fault_id == fault.fault_id
    assert item.trouble == OutboxTrouble(
        occurrence=0,
        kind="tamper",
        subject="btn-1",
        summary="tamper",
        device={"id": "btn-1"},
        opened_at="2026-12-01T08:00:00.000000+00:00",
        occurred_at="2026-12-01T08:00:00.000000+00:00",
        recovered_at=None,
    )
    assert item.began_at == "2026-12-01T08:00:00.000000+00:00"
