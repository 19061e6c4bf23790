"""The HTTP API over a real uvicorn on loopback: roles on every route, acknowledge/close, the audit log."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hub.app import Hub
from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver
from tests.conftest import TOKENS, HubFactory, Publisher, base_config, topic, wait_until


def _client(hub: Hub, role: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {TOKENS[role]}"} if role else {}
    return httpx.Client(base_url=f"http://127.0.0.1:{hub.api_port}", headers=headers, timeout=5)


@pytest.fixture
def hub_with_alarm(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> tuple[Hub, str]:
    hub = start_hub(base_config(tmp_path, broker.port, receiver.url), api=True)
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 5})
    alarm_id = receiver.state.wait_for(1, timeout=5)[0].body["alarm_id"]
    return hub, alarm_id


ROUTES = [
    ("GET", "/api/v1/alarms", {"guard", "maintenance", "admin"}),
    ("GET", "/api/v1/alarms/{id}", {"guard", "maintenance", "admin"}),
    ("GET", "/api/v1/dead-letters", {"maintenance", "admin"}),
    ("GET", "/api/v1/forwarding", {"guard", "maintenance", "admin"}),
    ("GET", "/api/v1/audit", {"admin"}),
    ("GET", "/metrics", {"maintenance", "bureau", "admin"}),
    ("POST", "/api/v1/alarms/{id}/ack", {"guard", "admin"}),
    ("POST", "/api/v1/alarms/{id}/close", {"guard", "admin"}),
    ("POST", "/api/v1/alarms/{id}/reports", {"guard", "admin"}),
    ("POST", "/api/v1/four-items", {"guard", "admin"}),
    ("GET", "/api/v1/four-items", {"guard", "maintenance", "bureau", "admin"}),
]


@pytest.mark.parametrize(("method", "path", "allowed"), ROUTES)
def test_every_route_checks_token_and_role(
    hub_with_alarm: tuple[Hub, str], method: str, path: str, allowed: set[str]
) -> None:
    hub, alarm_id = hub_with_alarm
    url = path.format(id=alarm_id)
    with _client(hub, None) as anon:
        response = anon.request(method, url)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"
        assert response.headers["WWW-Authenticate"] == "Bearer"
        bad = anon.request(method, url, headers={"Authorization": "Bearer not-a-token-at-all"})
        assert bad.status_code == 401
    for role in TOKENS:
        if role in allowed:
            continue
        with _client(hub, role) as client:
            response = client.request(method, url, json={"note": "x"})
            assert response.status_code == 403, role
            assert response.json()["error"]["code"] == "forbidden"


def test_acknowledge_then_close_with_note_is_audited(hub_with_alarm: tuple[Hub, str]) -> None:
    hub, alarm_id = hub_with_alarm
    with _client(hub, "guard") as guard, _client(hub, "admin") as admin:
        listed = guard.get("/api/v1/alarms", params={"state": "open"}).json()["alarms"]
        assert [a["id"] for a in listed] == [alarm_id]
        assert listed[0]["deliveries"][0]["state"] in ("pending", "delivered")

        early = guard.post(f"/api/v1/alarms/{alarm_id}/close", json={"note": "too soon"})
        assert early.status_code == 409
        assert early.json()["error"]["code"] == "alarm_state_conflict"

        acked = guard.post(f"/api/v1/alarms/{alarm_id}/ack")
        assert acked.status_code == 200
        assert acked.json()["state"] == "acknowledged"
        assert acked.json()["acknowledged_by"] == "guard"
        assert guard.post(f"/api/v1/alarms/{alarm_id}/ack").status_code == 409

        no_note = guard.post(f"/api/v1/alarms/{alarm_id}/close", json={})
        assert no_note.status_code == 422
        assert no_note.json()["error"]["code"] == "invalid_request"
        bad_disposition = guard.post(f"/api/v1/alarms/{alarm_id}/close", json={"note": "x", "disposition": "whatever"})
        assert bad_disposition.status_code == 422

        closed = guard.post(
            f"/api/v1/alarms/{alarm_id}/close",
            json={"note": "学生误按 pressed by a pupil", "disposition": "false_alarm"},
        )
        assert closed.status_code == 200
        body = closed.json()
        assert body["state"] == "closed"
        assert body["close_note"] == "学生误按 pressed by a pupil"
        assert body["disposition"] == "false_alarm"
        assert body["closed_at"] >= body["acknowledged_at"] >= body["raised_at"]

        assert guard.get("/api/v1/alarms", params={"state": "open"}).json()["alarms"] == []
        assert guard.get("/api/v1/alarms", params={"state": "bogus"}).status_code == 422
        assert guard.get("/api/v1/alarms/no-such-alarm").json()["error"]["code"] == "alarm_not_found"

        audit = admin.get("/api/v1/audit").json()["audit"]
        actions = [(a["action"], a["target"], a["actor"], a["role"]) for a in reversed(audit)]
        assert actions == [
            ("alarm.acknowledge", alarm_id, "guard", "guard"),
            ("alarm.close", alarm_id, "guard", "guard"),
        ]
        assert audit[0]["detail"]["disposition"] == "false_alarm"


def test_a_new_press_after_close_opens_a_new_alarm(
    hub_with_alarm: tuple[Hub, str], publisher: Publisher, receiver: Receiver
) -> None:
    hub, alarm_id = hub_with_alarm
    with _client(hub, "guard") as guard:
        guard.post(f"/api/v1/alarms/{alarm_id}/ack").raise_for_status()
        guard.post(
            f"/api/v1/alarms/{alarm_id}/close", json={"note": "drill", "disposition": "drill"}
        ).raise_for_status()
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 6})
    got = receiver.state.wait_for(3, timeout=5)  # the alarm, its restore, the new alarm
    assert len({r.body["alarm_id"] for r in got if r.body["event"] == "alarm"}) == 2
    (restore,) = [r for r in got if r.body["event"] == "restore"]
    assert restore.body["alarm_id"] == alarm_id
    assert restore.headers["Idempotency-Key"] == f"{alarm_id}:restore"
    assert (restore.body["disposition"], restore.body["closed_at"] is not None) == ("drill", True)
    assert wait_until(
        lambda: (
            [(d["event"], d["state"]) for d in hub.store.get_alarm(alarm_id)["deliveries"]]
            == [("alarm", "delivered"), ("restore", "delivered")]
        ),
        5,
    )


def test_closing_cancels_a_delivery_that_never_succeeded(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    receiver.state.fail_with = 503
    hub = start_hub(base_config(tmp_path, broker.port, receiver.url), api=True)
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True})
    assert receiver.state.wait_for_posts(1, timeout=5)
    alarm_id = hub.store.list_alarms()[0]["id"]
    with _client(hub, "guard") as guard:
        guard.post(f"/api/v1/alarms/{alarm_id}/ack").raise_for_status()
        guard.post(f"/api/v1/alarms/{alarm_id}/close", json={"note": "line down, phoned 110"}).raise_for_status()
    assert wait_until(lambda: hub.store.get_alarm(alarm_id)["deliveries"][0]["state"] == "cancelled", 5)
    posts = receiver.state.posts
    receiver.state.fail_with = None
    # Nothing is sent for a closed alarm: wait for a later alarm to be delivered, then look back.
    publisher.publish(topic("panic_button", "btn-2", "event"), {"pressed": True})
    got = receiver.state.wait_for(1, timeout=5)
    assert [r.body["device"]["id"] for r in got] == ["btn-2"]
    assert receiver.state.posts <= posts + 2
    audit = hub.store.list_audit()
    assert audit[0]["detail"]["undelivered_endpoints"] == ["police-110"]


def test_healthz_reports_mqtt_and_store(tmp_path: Path, broker: Mosquitto, start_hub: HubFactory) -> None:
    hub = start_hub(api=True)
    with _client(hub, None) as anon:
        ok = anon.get("/healthz")
        assert ok.status_code == 200
        workers = [w.name for w in hub.worker_registry]
        assert "ingest-writer" in workers
        assert "worker-supervisor" in workers
        assert ok.json() == {
            "status": "ok",
            "mqtt_connected": True,
            "store_writable": True,
            "store": "ok",
            "workers": dict.fromkeys(workers, "running"),  # every answer names each worker's state
        }
        broker.stop()
        assert wait_until(lambda: not hub.mqtt_connected, 10)
        down = anon.get("/healthz")
        assert down.status_code == 503
        assert down.json()["mqtt_connected"] is False
        broker.start()
        assert hub.ingest.wait_connected(15)
        assert anon.get("/healthz").status_code == 200
