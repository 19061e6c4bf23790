"""The rest of device health: the escalation webhook (a real loopback HTTP server), ending or cancelling a planned
maintenance window and the live `maintenance` state, and sensor trouble reported by devices (real Mosquitto)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.app import Hub
from hub.core.clock import ManualClock, to_iso
from hub.devtools.broker import Mosquitto
from hub.health.faults import FaultKind, faults_for_change
from hub.health.maintenance import covering, maintenance_plan
from hub.health.model import DeviceHealth, DeviceState, Trouble, troubles_of
from hub.health.watch import escalation_payload
from hub.integrations.webhook import EscalationWebhook, retry_delay
from hub.reports import MaintenanceWindow
from hub.store import Actor
from tests.conftest import TOKENS, HubFactory, Publisher, base_config, topic, wait_until

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
SECRET = "escalation-shared-secret"


class Hook:
    """A loopback HTTP receiver that answers with the statuses it is given, in turn, then 200."""

    def __init__(self, statuses: list[int], gate: threading.Event | None = None) -> None:
        self.statuses = list(statuses)
        self.gate = gate
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.arrived = threading.Condition()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with hook.arrived:
                    hook.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    hook.arrived.notify_all()
                if hook.gate is not None:
                    hook.gate.wait(10)
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/escalation"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 10) -> list[tuple[dict[str, str], bytes]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)

    def close(self) -> None:
        if self.gate is not None:
            self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook_factory() -> Iterator[Any]:
    hooks: list[Hook] = []

    def make(statuses: list[int], gate: threading.Event | None = None) -> Hook:
        hooks.append(Hook(statuses, gate))
        return hooks[-1]

    yield make
    for hook in hooks:
        hook.close()


EVENT = {
    "type": "sla_breach",
    "fault_id": 7,
    "subject": "cam-1",
    "kind": "offline",
    "opened_at": "2026-11-01T08:00:00.000000+00:00",
    "due_at": "2026-11-02T08:00:00.000000+00:00",
    "at": "2026-11-02T08:00:01.000000+00:00",
}


def test_retry_delay_doubles_and_is_capped() -> None:
    assert [retry_delay(n, 1.0, 10.0) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_webhook_posts_signed_json_retries_and_never_blocks_the_caller(hook_factory: Any) -> None:
    gate = threading.Event()
    hook: Hook = hook_factory([503, 429], gate)
    webhook = EscalationWebhook(hook.url, SECRET, 5.0, backoff_base_s=0.01)
    webhook.start()
    try:
        assert webhook.send(EVENT) is True
        # The receiver holds its first answer: the caller got on with its work all the same.
        assert len(hook.wait_for(1)) == 1
        assert webhook.delivered == 0
        gate.set()
        requests = hook.wait_for(3)
        assert wait_until(lambda: webhook.delivered == 1, 10)
    finally:
        webhook.stop()
    assert len(requests) == 3
    body = escalation_payload(EVENT).encode("utf-8")
    for headers, sent in requests:
        assert sent == body
        assert json.loads(sent) == EVENT
        assert headers["content-type"] == "application/json"
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["x-hub-signature-256"] == expected
    assert len({headers["idempotency-key"] for headers, _ in requests}) == 1


def test_webhook_gives_up_on_a_permanent_refusal(hook_factory: Any) -> None:
    hook: Hook = hook_factory([400])
    webhook = EscalationWebhook(hook.url, None, 5.0, backoff_base_s=0.01)
    assert webhook.deliver(EVENT) is False
    (only,) = hook.wait_for(1)
    assert "x-hub-signature-256" not in only[0]
    webhook.stop()


def test_a_breach_reaches_the_webhook(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory, hook_factory: Any
) -> None:
    hook: Hook = hook_factory([])
    clock = ManualClock(T0)
    raw = base_config(tmp_path, broker.port, None)
    raw["health"] = {"check_interval_s": 60}  # the test drives the watcher itself
    raw["sla"] = {"escalation_webhook": {"url": hook.url, "secret": SECRET, "timeout_s": 2}}
    hub = start_hub(raw, clock=clock)
    fault_id = hub.health_store.open_manual(
        "cam-1", FaultKind.INSPECTION, "lens cracked", _actor("maintenance"), clock.now()
    )
    clock.advance(24 * 3600 + 1)
    hub.watcher.run_once()
    (request,) = hook.wait_for(1)
    sent = json.loads(request[1])
    assert (sent["type"], sent["fault_id"], sent["subject"], sent["kind"]) == (
        "sla_breach",
        fault_id,
        "cam-1",
        "inspection",
    )
    assert request[0]["x-hub-signature-256"].startswith("sha256=")


def _actor(role: str) -> Actor:
    return Actor(role, role)


# --- maintenance windows: ending, cancelling, and the live state ------------------------------------------------


def _window(id_: int, subject: str, start: datetime, end: datetime) -> MaintenanceWindow:
    return MaintenanceWindow(id_, subject, start, end, "work", "m", start)


def test_covering_and_the_plan_are_pure() -> None:
    windows = [_window(1, "*", T0, T0 + timedelta(hours=1)), _window(2, "cam-1", T0, T0 + timedelta(hours=3))]
    assert covering(windows, ["cam-1", "btn-1"], T0) == {"cam-1": 2, "btn-1": 1}
    assert covering(windows, ["cam-1", "btn-1"], T0 + timedelta(hours=2)) == {"cam-1": 2}
    assert covering(windows, ["cam-1"], T0 - timedelta(seconds=1)) == {}
    online = DeviceHealth("cam-1", DeviceState.ONLINE, T0, online=True)
    plan = maintenance_plan([online], {"cam-1": 2}, T0)
    ((before, after),) = plan.updates
    assert (after.state, after.maintenance, plan.transitions[0].reason) == (
        DeviceState.MAINTENANCE,
        True,
        "maintenance window 2 started",
    )
    assert faults_for_change(before, after) == []
    # Ending: the device went offline and got tampered with during the work; both faults open now.
    during = DeviceHealth(
        "cam-1", DeviceState.MAINTENANCE, T0, online=False, troubles=frozenset({Trouble.TAMPER}), maintenance=True
    )
    plan = maintenance_plan([during], {}, T0 + timedelta(hours=3))
    ((before, after),) = plan.updates
    assert after.state is DeviceState.OFFLINE
    opened = {(c.kind, c.opening) for c in faults_for_change(before, after)}
    assert {(FaultKind.OFFLINE, True), (FaultKind.TAMPER, True), (FaultKind.LOW_BATTERY, False)} <= opened
    assert maintenance_plan([online], {}, T0).updates == []


def _api(hub: Hub, role: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{hub.api_port}", headers={"Authorization": f"Bearer {TOKENS[role]}"}, timeout=10
    )


def _state(hub: Hub, device_id: str) -> DeviceState | None:
    health = hub.tracker.get(device_id)
    return None if health is None else health.state


def test_a_running_window_sets_maintenance_and_ending_it_early_restores_the_state(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    clock = ManualClock(T0)
    raw = base_config(tmp_path, broker.port, None)
    raw["health"] = {"check_interval_s": 60}  # the test drives the timers itself
    hub = start_hub(raw, api=True, clock=clock)
    publisher.publish(topic("camera", "cam-1", "status"), "online", retain=True)
    assert wait_until(lambda: _state(hub, "cam-1") is DeviceState.ONLINE, 5)
    with _api(hub, "maintenance") as api:
        start, end = clock.now() + timedelta(minutes=10), clock.now() + timedelta(hours=4)
        created = api.post(
            "/api/v1/maintenance-windows",
            json={"subject": "cam-1", "starts_at": to_iso(start), "ends_at": to_iso(end), "reason": "new lens"},
        )
        assert created.status_code == 201, created.text
        window = created.json()
        hub.maintenance.run_once()
        assert _state(hub, "cam-1") is DeviceState.ONLINE  # not started yet

        clock.advance(600)
        hub.maintenance.run_once()
        assert _state(hub, "cam-1") is DeviceState.MAINTENANCE
        device = api.get("/api/v1/devices/cam-1").json()
        assert device["state"] == "maintenance"
        assert device["transitions"][0]["reason"] == f"maintenance window {window['id']} started"

        # Silent during planned work: offline underneath, but no fault opens.
        clock.advance(3 * 60 + 1)
        hub.watcher.run_once()
        assert _state(hub, "cam-1") is DeviceState.MAINTENANCE
        assert hub.health_store.list_faults(subject="cam-1") == []

        ended = api.post(f"/api/v1/maintenance-windows/{window['id']}/end")
        assert ended.status_code == 200, ended.text
        assert (ended.json()["ends_at"], ended.json()["cancelled_at"]) == (to_iso(clock.now()), None)
        hub.maintenance.run_once()
        # The work is over and the camera is still silent: offline, with its fault open from now.
        assert _state(hub, "cam-1") is DeviceState.OFFLINE
        (fault,) = hub.health_store.list_faults(subject="cam-1")
        assert (fault["kind"], fault["opened_at"]) == ("offline", to_iso(clock.now()))
        # History kept: the window is still listed (ended), and ending it again is a conflict.
        listed = api.get("/api/v1/maintenance-windows").json()["maintenance_windows"]
        assert [(w["id"], w["starts_at"]) for w in listed] == [(window["id"], to_iso(start))]
        again = api.post(f"/api/v1/maintenance-windows/{window['id']}/end")
        assert (again.status_code, again.json()["error"]["code"]) == (409, "maintenance_window_state_conflict")
        missing = api.post("/api/v1/maintenance-windows/9999/end")
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "maintenance_window_not_found")

        # A window that has not started is cancelled outright.
        later = api.post(
            "/api/v1/maintenance-windows",
            json={
                "subject": "*",
                "starts_at": to_iso(clock.now() + timedelta(days=1)),
                "ends_at": to_iso(clock.now() + timedelta(days=1, hours=2)),
                "reason": "power work",
            },
        ).json()
        cancelled = api.post(f"/api/v1/maintenance-windows/{later['id']}/end").json()
        assert cancelled["cancelled_at"] == to_iso(clock.now())
    with _api(hub, "guard") as guard:
        refused = guard.post(f"/api/v1/maintenance-windows/{later['id']}/end")
        assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
    with _api(hub, "admin") as admin:
        actions = [(a["action"], a["target"]) for a in admin.get("/api/v1/audit").json()["audit"]]
    assert ("maintenance_window.end", str(window["id"])) in actions
    assert ("maintenance_window.cancel", str(later["id"])) in actions


# --- sensor trouble --------------------------------------------------------------------------------------------


def test_troubles_of_follows_the_sensor_fault_flag() -> None:
    none: frozenset[Trouble] = frozenset()
    assert troubles_of(none, {"sensor_fault": True}, 20, 25) == {Trouble.SENSOR_TROUBLE}
    assert troubles_of(frozenset({Trouble.SENSOR_TROUBLE}), {"celsius": 20}, 20, 25) == {Trouble.SENSOR_TROUBLE}
    assert troubles_of(frozenset({Trouble.SENSOR_TROUBLE}), {"sensor_fault": False}, 20, 25) == none
    assert troubles_of(none, {"sensor_fault": "yes"}, 20, 25) == none  # only a real boolean counts


@pytest.mark.parametrize(
    ("kind", "device", "channel", "payload"),
    [
        ("smoke", "smoke-1", "telemetry", {"smoke": False}),
        ("temperature", "temp-1", "telemetry", {"celsius": 21.5}),
        ("panic_button", "btn-1", "telemetry", {"battery_pct": 90}),
    ],
)
def test_a_reported_sensor_fault_opens_and_clears_a_fault(
    tmp_path: Path,
    broker: Mosquitto,
    publisher: Publisher,
    start_hub: HubFactory,
    kind: str,
    device: str,
    channel: str,
    payload: dict[str, Any],
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, None))
    publisher.publish(topic(kind, device, channel), {**payload, "sensor_fault": True})
    assert wait_until(lambda: _state(hub, device) is DeviceState.FAULTY, 5)
    health = hub.tracker.get(device)
    assert health is not None
    assert health.troubles == {Trouble.SENSOR_TROUBLE}
    (fault,) = hub.health_store.list_faults(subject=device)
    assert (fault["kind"], fault["state"]) == ("sensor_trouble", "registered")
    publisher.publish(topic(kind, device, channel), {**payload, "sensor_fault": False})
    assert wait_until(lambda: _state(hub, device) is DeviceState.ONLINE, 5)
    (fault,) = hub.health_store.list_faults(subject=device)
    assert fault["state"] == "recovered"
    assert hub.store.count("dead_letters") == 0
