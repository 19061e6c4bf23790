"""Path supervision: DC-09 link tests and test reports against pysiaalarm, and a long outage becoming a fault."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from alerts.paths import PathHealth, PathStatus
from alerts.supervision import path_fault_changes, path_subject
from hub.devtools.broker import Mosquitto, free_port
from hub.devtools.receiver import Receiver
from hub.health.faults import FaultKind
from tests.alerts.test_dc09 import ACCOUNT, KEY16, forwarder
from tests.conftest import (
    RECEIVER_SECRET,
    TOKENS,
    HubFactory,
    Publisher,
    ReceiverFactory,
    base_config,
    topic,
    wait_until,
)

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def _path(status: PathStatus, since: datetime) -> PathHealth:
    return PathHealth("p", "http", status=status, since=since, last_error="refused")


def test_a_path_down_long_enough_opens_a_fault_and_up_recovers_it() -> None:
    down = _path(PathStatus.DOWN, T0)
    assert path_fault_changes([down], set(), T0 + timedelta(seconds=299), 300) == []
    (opening,) = path_fault_changes([down], set(), T0 + timedelta(seconds=300), 300)
    assert (opening.subject, opening.kind, opening.opening) == ("path:p", FaultKind.FORWARDING_PATH_DOWN, True)
    assert "refused" in opening.summary
    assert path_fault_changes([down], {"path:p"}, T0 + timedelta(hours=1), 300) == []
    (recovery,) = path_fault_changes([_path(PathStatus.UP, T0)], {"path:p"}, T0, 300)
    assert not recovery.opening
    assert path_fault_changes([_path(PathStatus.DEGRADED, T0)], set(), T0 + timedelta(hours=1), 300) == []


def test_periodic_test_report_reaches_the_receiver_as_rp(sia: ReceiverFactory) -> None:
    receiver = sia(key=KEY16)
    rtt = forwarder(receiver.port, key=KEY16).test_report()
    assert 0 < rtt < 2
    events = receiver.wait_for(1, 2.0)
    assert [(e.code, e.account) for e in events] == [("RP", ACCOUNT)]


def test_link_tests_bring_a_dc09_path_up_before_any_alarm(
    tmp_path: Path,
    broker: Mosquitto,
    start_hub: HubFactory,
    sia: ReceiverFactory,
) -> None:
    receiver = sia(key=KEY16)
    raw = base_config(tmp_path, broker.port, None)
    raw["forwarding"]["endpoints"] = [
        {"name": "arc", "kind": "dc09", "host": "127.0.0.1", "port": receiver.port, "account": ACCOUNT, "key": KEY16}
    ]
    hub = start_hub(raw, api=True)
    hub.supervisor.run_once()
    assert receiver.wait_for(1, 2.0), "no NULL link test reached the receiver"
    with httpx.Client(headers={"Authorization": f"Bearer {TOKENS['guard']}"}) as client:
        (path,) = client.get(f"http://127.0.0.1:{hub.api_port}/api/v1/forwarding").json()["paths"]
    assert (path["endpoint"], path["kind"], path["status"]) == ("arc", "dc09", "up")
    assert path["rtt_ms"] > 0
    assert hub.store.list_alarms() == []


def test_an_http_path_down_becomes_a_fault_and_recovers_when_it_answers(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    port = free_port()
    raw = base_config(tmp_path, broker.port, f"http://127.0.0.1:{port}/alarms", retry_max_s=0.2)
    raw["forwarding"]["path_fault_after_s"] = 0
    raw["forwarding"]["path_down_after_failures"] = 3
    hub = start_hub(raw, api=True)
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True})
    assert wait_until(lambda: hub.paths.snapshot()[0].status is PathStatus.DOWN, 10)
    hub.supervisor.run_once()
    (fault,) = [f for f in hub.health_store.list_faults() if f["kind"] == "forwarding_path_down"]
    assert (fault["subject"], fault["state"]) == (path_subject("police-110"), "registered")
    with httpx.Client(headers={"Authorization": f"Bearer {TOKENS['maintenance']}"}) as client:
        listed = client.get(f"http://127.0.0.1:{hub.api_port}/api/v1/faults", params={"state": "open"}).json()
    assert any(f["subject"] == "path:police-110" for f in listed["faults"])

    back = Receiver(RECEIVER_SECRET, port=port).start()
    try:
        assert back.state.wait_for(1, timeout=10)
        assert wait_until(lambda: hub.paths.snapshot()[0].status is PathStatus.UP, 5)
        hub.supervisor.run_once()
        assert hub.health_store.get_fault(fault["id"])["state"] == "recovered"
    finally:
        back.stop()
