"""Presses on test are no alarm for the views of other systems: no InfluxDB alarm point, no Home Assistant alarm;
"this is real" counts from then on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alerts.model import AlarmKind
from hub.config import HubConfig
from hub.core.clock import ManualClock
from hub.core.feed import FeedEvent
from hub.integrations.ha_discovery import alarmed_devices
from hub.integrations.influx_points import HubTelemetry, Point
from hub.store import Actor, Store
from tests.conftest import base_config

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)


def _open(store: Store, device_id: str, *, test: bool) -> str:
    with store.transaction() as tx:
        return tx.open_alarm(
            device_id=device_id,
            kind=AlarmKind.PANIC,
            priority=1,
            reason="button pressed",
            detail={},
            device={"id": device_id},
            occurred_at=NOW,
            raised_at=NOW,
            seq=1,
            endpoints=[],
            test=test,
        )


def test_a_test_press_is_no_alarm_point_and_no_home_assistant_alarm_until_made_real(tmp_path: Path) -> None:
    config = HubConfig.model_validate(base_config(tmp_path, 1883, None))
    store = Store(tmp_path / "hub.db", ManualClock(NOW))
    store.open()
    points: list[Point] = []
    telemetry = HubTelemetry(points.extend, config.device_index(), config.site.id, store)
    tested = _open(store, "btn-1", test=True)
    real = _open(store, "btn-2", test=False)
    telemetry.notice(FeedEvent(1, "alarm_opened", {"alarm_id": tested, "kind": "panic", "test": True}, NOW))
    assert points == []
    assert alarmed_devices(store) == ["btn-2"]
    telemetry.notice(FeedEvent(2, "alarm_opened", {"alarm_id": real, "kind": "panic", "test": False}, NOW))
    assert [(p.tags["device"], p.fields["active"]) for p in points] == [("btn-2", 1)]
    store.make_real(tested, Actor("guard", "guard"), lambda _kind: [], None)
    telemetry.notice(FeedEvent(3, "alarm_real", {"alarm_id": tested, "by": "guard"}, NOW))
    assert [(p.tags["device"], p.fields["active"]) for p in points][-1] == ("btn-1", 1)
    assert sorted(alarmed_devices(store)) == ["btn-1", "btn-2"]
