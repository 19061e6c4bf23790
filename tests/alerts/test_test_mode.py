"""Test mode (测试) end to end: a press on a device on test is recorded and shown as a test and never reaches 110 as
an alarm, while every other device's press goes out as usual; "this is real" forwards it at once; roles, bounds,
expiry by the clock, restarts, and the upgrade of an older store file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerts.testmode import TestMode, TestModeRefused
from hub.app import Hub
from hub.config import HubConfig
from hub.core.clock import ManualClock, to_iso
from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver
from hub.store import Actor, AlarmView, Store
from tests.conftest import SIA_ACCOUNT, TOKENS, HubFactory, Publisher, ReceiverFactory, base_config, topic, wait_until

KEY16 = "ABCDEF0123456789"

NOW = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
MAINT = Actor("it_office", "maintenance")


def _client(hub: Hub, role: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {TOKENS[role]}"}
    return httpx.Client(base_url=f"http://127.0.0.1:{hub.api_port}", headers=headers, timeout=5)


def _until(hub: Hub, minutes: float = 60) -> str:
    return to_iso(hub.clock.now() + timedelta(minutes=minutes))


def _alarm_of(hub: Hub, device_id: str) -> AlarmView | None:
    return next((a for a in hub.store.list_alarms() if a["device"]["id"] == device_id), None)


def test_a_press_on_test_never_reaches_110_and_another_device_goes_out_as_usual(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, receiver.url), api=True)
    with _client(hub, "maintenance") as maint:
        started = maint.post(
            "/api/v1/test-mode", json={"devices": ["btn-1"], "until": _until(hub), "note": "monthly button test"}
        )
    assert started.status_code == 201, started.text
    window_id = started.json()["id"]
    assert started.json()["created_by"] == "maintenance"

    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    assert wait_until(lambda: _alarm_of(hub, "btn-1") is not None, 5)
    publisher.publish(topic("panic_button", "btn-2", "event"), {"pressed": True, "seq": 1})
    (forwarded,) = receiver.state.wait_for(1, timeout=5)
    assert forwarded.body["device"]["id"] == "btn-2"
    assert forwarded.body["event"] == "alarm"

    with _client(hub, "guard") as guard:
        alarms = {a["device"]["id"]: a for a in guard.get("/api/v1/alarms").json()["alarms"]}
        log = guard.get("/api/v1/test-log").json()
    tested = alarms["btn-1"]
    assert tested["test"] is True
    assert tested["deliveries"] == []  # no row for any endpoint: nothing can ever send it as an alarm
    assert tested["duties"] == []  # a test press owes no report
    assert alarms["btn-2"]["test"] is False
    assert [d["state"] for d in alarms["btn-2"]["deliveries"]] == ["delivered"]
    # The feed told the guard's console it was a test.
    opened = {e.data["alarm_id"]: e.data for e in hub.feed.recent(100) if e.kind == "alarm_opened"}
    assert opened[tested["id"]]["test"] is True
    assert opened[alarms["btn-2"]["id"]]["test"] is False
    # The log names the test, who started it, and each device's result.
    (entry,) = log["entries"]
    assert (entry["id"], entry["type"], entry["created_by"], entry["note"]) == (
        window_id,
        "test",
        "maintenance",
        "monthly button test",
    )
    assert [(r["device_id"], r["result"]) for r in entry["results"]] == [("btn-1", "seen")]
    assert [p["id"] for p in log["presses"]] == [tested["id"]]
    # Nothing but btn-2's alarm ever reached the receiver.
    assert receiver.state.unique_alarm_ids() == {alarms["btn-2"]["id"]}
    assert receiver.state.posts == 1


def test_this_is_real_forwards_a_test_press_at_once_and_is_audited(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, receiver.url), api=True)
    with _client(hub, "admin") as admin:
        assert admin.post("/api/v1/test-mode", json={"site": True, "until": _until(hub)}).status_code == 201
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    assert wait_until(lambda: _alarm_of(hub, "btn-1") is not None, 5)
    alarm = _alarm_of(hub, "btn-1")
    assert alarm is not None
    assert alarm["test"]
    with _client(hub, "bureau") as bureau:
        refused = bureau.post(f"/api/v1/alarms/{alarm['id']}/real")
    assert refused.status_code == 403
    with _client(hub, "guard") as guard:
        real = guard.post(f"/api/v1/alarms/{alarm['id']}/real")
        assert real.status_code == 200, real.text
        assert real.json()["test"] is False
        (got,) = receiver.state.wait_for(1, timeout=5)
        assert (got.body["alarm_id"], got.body["event"]) == (alarm["id"], "alarm")
        again = guard.post(f"/api/v1/alarms/{alarm['id']}/real")
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "alarm_state_conflict"
    with _client(hub, "admin") as admin:
        entries = admin.get("/api/v1/audit").json()["audit"]
    real_rows = [e for e in entries if e["action"] == "alarm.real"]
    assert [(e["actor"], e["target"]) for e in real_rows] == [("guard", alarm["id"])]
    assert [e["actor"] for e in entries if e["action"] == "test_mode.start"] == ["admin"]
    # Now it is an alarm like any other: it owes its reports.
    assert hub.store.get_alarm(alarm["id"])["test"] is False


def test_an_endpoint_that_takes_test_signals_gets_one_it_can_tell_apart(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    raw = base_config(tmp_path, broker.port, receiver.url)
    raw["forwarding"]["endpoints"][0]["test_signal"] = True
    hub = start_hub(raw, api=True)
    with _client(hub, "maintenance") as maint:
        assert maint.post("/api/v1/test-mode", json={"devices": ["smoke-1"], "until": _until(hub)}).status_code == 201
    publisher.publish(topic("smoke", "smoke-1", "event"), {"smoke": True})
    (signal,) = receiver.state.wait_for(1, timeout=5)
    assert (signal.body["event"], signal.body["test"], signal.body["kind"]) == ("test", True, "fire")
    assert signal.headers["Idempotency-Key"] == f"{signal.body['alarm_id']}:test"
    assert receiver.state.unique_alarm_ids() == set()  # no alarm, only the test signal
    assert wait_until(
        lambda: [d["event"] for d in hub.store.get_alarm(signal.body["alarm_id"])["deliveries"]] == ["test"], 5
    )


def test_ending_test_mode_early_sends_the_next_press_and_a_press_off_test_makes_an_open_test_alarm_real(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, receiver.url), api=True)
    with _client(hub, "maintenance") as maint:
        window_id = maint.post("/api/v1/test-mode", json={"devices": ["btn-1"], "until": _until(hub)}).json()["id"]
        publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
        assert wait_until(lambda: _alarm_of(hub, "btn-1") is not None, 5)
        assert [w["id"] for w in maint.get("/api/v1/test-mode").json()["test_modes"]] == [window_id]
        ended = maint.delete(f"/api/v1/test-mode/{window_id}")
        assert ended.status_code == 200
        assert ended.json()["ended_by"] == "maintenance"
        assert maint.get("/api/v1/test-mode").json()["test_modes"] == []
        assert maint.delete(f"/api/v1/test-mode/{window_id}").status_code == 409
    # The test alarm is still open (latched); a new press off test must reach 110, not be counted on the test.
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 2})
    (got,) = receiver.state.wait_for(1, timeout=5)
    alarm = _alarm_of(hub, "btn-1")
    assert alarm is not None
    assert (got.body["alarm_id"], got.body["event"]) == (alarm["id"], "alarm")
    assert alarm["test"] is False
    assert alarm["trigger_count"] == 2


@pytest.mark.parametrize(
    ("role", "body", "status", "code"),
    [
        ("guard", {"site": True}, 403, "forbidden"),
        ("bureau", {"site": True}, 403, "forbidden"),
        ("maintenance", {"site": True, "until_minutes": 9 * 60}, 422, "until_too_far"),
        ("maintenance", {"site": True, "until_minutes": -5}, 422, "until_not_after_start"),
        ("maintenance", {"devices": ["btn-9"]}, 422, "unknown_device"),
        ("maintenance", {"devices": ["btn-1"], "site": True}, 422, "scope_required"),
        ("maintenance", {"building": "Z"}, 422, "unknown_building"),
        ("maintenance", {"site": True, "until": None}, 422, "invalid_request"),
    ],
)
def test_starting_test_mode_checks_role_and_bounds(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory, role: str, body: dict[str, Any], status: int, code: str
) -> None:
    hub = start_hub(api=True)
    request = {k: v for k, v in body.items() if k != "until_minutes"}
    if "until" not in body:
        request["until"] = _until(hub, body.get("until_minutes", 30))
    elif body["until"] is None:
        del request["until"]
    with _client(hub, role) as client:
        response = client.post("/api/v1/test-mode", json=request)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert hub.test_mode.active() == []


def test_reading_the_log_and_what_is_on_test_is_open_to_every_console_role(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory
) -> None:
    hub = start_hub(api=True)
    for role in TOKENS:
        with _client(hub, role) as client:
            assert client.get("/api/v1/test-mode").status_code == 200
            assert client.get("/api/v1/test-log", params={"from": "2026-01-01T00:00:00+08:00"}).status_code == 200
    with httpx.Client(base_url=f"http://127.0.0.1:{hub.api_port}") as anon:
        assert anon.get("/api/v1/test-log").status_code == 401
        assert anon.delete("/api/v1/test-mode/x").status_code == 401


# --- the lookup, its clock and the store -------------------------------------------------------------------------


def _mode(tmp_path: Path, clock: ManualClock) -> TestMode:
    config = HubConfig.model_validate(base_config(tmp_path, 1883, None))
    store = Store(tmp_path / "hub.db", clock)
    store.open()
    mode = TestMode(store, clock, config.devices, max_hours=config.test_mode.max_hours)
    mode.open()
    return mode


def test_test_mode_ends_by_itself_at_its_end_and_survives_a_restart(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    mode = _mode(tmp_path, clock)
    window = mode.start(MAINT, building="A", until=NOW + timedelta(minutes=10), note="")
    assert window.devices is not None
    assert "btn-2" in window.devices
    assert mode.on_test("btn-2", clock.now())
    restarted = _mode(tmp_path, clock)  # a new process reading the same file
    assert restarted.on_test("btn-2", clock.now())
    assert [w["id"] for w in restarted.active()] == [window.id]
    clock.advance(10 * 60)
    assert not restarted.on_test("btn-2", clock.now())
    assert restarted.active() == []
    (entry,) = restarted.log(NOW - timedelta(hours=1), clock.now())["entries"]
    assert {r["result"] for r in entry["results"]} == {"not_seen"}


def test_the_whole_site_covers_devices_and_the_maximum_is_enforced(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    mode = _mode(tmp_path, clock)
    with pytest.raises(TestModeRefused) as caught:
        mode.start(MAINT, site=True, until=NOW + timedelta(hours=8, seconds=1), note="")
    assert caught.value.code == "until_too_far"
    mode.start(MAINT, site=True, until=NOW + timedelta(hours=8), note="")
    assert all(mode.on_test(d, NOW) for d in ("btn-1", "btn-2", "smoke-1", "temp-1"))
    assert not mode.on_test("btn-1", NOW - timedelta(seconds=1))


def test_an_older_store_file_gets_alarms_test_and_keeps_its_alarms_real(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    # A core-1 file: the alarms table as it was before `test`, with one alarm in it.
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('schema:core', '1');"
        "CREATE TABLE alarms (number INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, device_id TEXT NOT NULL,"
        " kind TEXT NOT NULL, priority INTEGER NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL,"
        " detail TEXT NOT NULL, device TEXT NOT NULL, occurred_at TEXT NOT NULL, raised_at TEXT NOT NULL,"
        " trigger_count INTEGER NOT NULL DEFAULT 1, last_trigger_at TEXT NOT NULL, acknowledged_at TEXT,"
        " acknowledged_by TEXT, closed_at TEXT, closed_by TEXT, close_note TEXT, disposition TEXT);"
    )
    at = to_iso(NOW)
    conn.execute(
        "INSERT INTO alarms (id, device_id, kind, priority, state, reason, detail, device, occurred_at, raised_at,"
        " last_trigger_at) VALUES ('old', 'btn-1', 'panic', 1, 'open', 'pressed', '{}', ?, ?, ?, ?)",
        ('{"id": "btn-1"}', at, at, at),
    )
    conn.commit()
    conn.close()
    store = Store(path, ManualClock(NOW))
    store.open()
    assert store.meta_get("schema:core") == "2"
    assert store.get_alarm("old")["test"] is False
    store.open()  # a second open finds the column and changes nothing
    assert [c[1] for c in store.connection().execute("PRAGMA table_info(alarms)")].count("test") == 1


def test_a_dc09_centre_gets_its_manual_test_code_for_a_press_on_test(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, sia: ReceiverFactory
) -> None:
    receiver = sia(key=KEY16)
    raw = base_config(tmp_path, broker.port, None)
    raw["forwarding"]["endpoints"] = [
        {
            "name": "arc",
            "kind": "dc09",
            "host": "127.0.0.1",
            "port": receiver.port,
            "account": SIA_ACCOUNT,
            "key": KEY16,
        }
    ]
    hub = start_hub(raw)
    hub.test_mode.start(MAINT, devices=["btn-1"], until=hub.clock.now() + timedelta(minutes=30), note="")
    zone = str([d["id"] for d in raw["devices"]].index("btn-1") + 1)
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    assert wait_until(lambda: len(receiver.alarms()) >= 1, 5)
    assert [(e.code, e.ri) for e in receiver.alarms()] == [("RX", zone)]  # manual test, never PA


def test_a_drill_over_a_building_is_kept_with_its_plan_results_and_summary(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, receiver.url), api=True)
    plan = {"plan": "疏散演练：一键报警、烟感各一次", "building": "A", "until": _until(hub, 45)}
    with _client(hub, "guard") as guard:
        assert guard.post("/api/v1/drills", json=plan).status_code == 403
    with _client(hub, "maintenance") as maint:
        drill = maint.post("/api/v1/drills", json=plan)
        assert drill.status_code == 201, drill.text
        drill_id = drill.json()["id"]
        assert drill.json()["type"] == "drill"
        publisher.publish(topic("smoke", "smoke-1", "event"), {"smoke": True})
        assert wait_until(lambda: _alarm_of(hub, "smoke-1") is not None, 5)
        assert maint.delete(f"/api/v1/test-mode/{drill_id}").status_code == 200
        summary = maint.post(f"/api/v1/drills/{drill_id}/summary", json={"summary": "烟感报警到达值班室，按钮未按"})
        assert summary.status_code == 200
        assert summary.json()["summary_by"] == "maintenance"
    with _client(hub, "bureau") as bureau:
        (entry,) = bureau.get("/api/v1/test-log").json()["entries"]
    assert (entry["type"], entry["plan"], entry["building"]) == ("drill", plan["plan"], "A")
    results = {r["device_id"]: r["result"] for r in entry["results"]}
    assert results["smoke-1"] == "seen"
    assert results["btn-1"] == results["btn-2"] == "not_seen"
    assert receiver.state.posts == 0  # a drill's smoke never reached 110


def test_a_maintenance_window_puts_its_devices_on_test_only_when_it_says_so(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, receiver.url), api=True)
    start = to_iso(hub.clock.now())
    with _client(hub, "maintenance") as maint:
        plain = maint.post(
            "/api/v1/maintenance-windows",
            json={"subject": "btn-2", "starts_at": start, "ends_at": _until(hub), "reason": "battery swap"},
        )
        assert plain.status_code == 201, plain.text
        assert "test_mode_id" not in plain.json()
        tested = maint.post(
            "/api/v1/maintenance-windows",
            json={"subject": "btn-1", "starts_at": start, "ends_at": _until(hub), "reason": "rewiring", "test": True},
        )
        assert tested.status_code == 201, tested.text
        assert [w["id"] for w in maint.get("/api/v1/test-mode").json()["test_modes"]] == [tested.json()["test_mode_id"]]
        # A window longer than test mode may last is refused whole: no window stays without its test.
        too_long = maint.post(
            "/api/v1/maintenance-windows",
            json={
                "subject": "smoke-1",
                "starts_at": start,
                "ends_at": _until(hub, 9 * 60),
                "reason": "x",
                "test": True,
            },
        )
        assert too_long.status_code == 422
        assert too_long.json()["error"]["code"] == "until_too_far"
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    assert wait_until(lambda: _alarm_of(hub, "btn-1") is not None, 5)
    # The window without `test` does not hold btn-2 back: maintenance never silences a button by itself.
    publisher.publish(topic("panic_button", "btn-2", "event"), {"pressed": True, "seq": 1})
    (got,) = receiver.state.wait_for(1, timeout=5)
    assert got.body["device"]["id"] == "btn-2"
    tested_alarm = _alarm_of(hub, "btn-1")
    assert tested_alarm is not None
    assert tested_alarm["test"] is True
    # Ending the window early ends its test with it.
    with _client(hub, "maintenance") as maint:
        assert maint.post(f"/api/v1/maintenance-windows/{tested.json()['id']}/end").status_code == 200
        assert maint.get("/api/v1/test-mode").json()["test_modes"] == []
    assert not hub.test_mode.on_test("btn-1", hub.clock.now())


NEW_ROUTES = [
    ("POST", "/api/v1/test-mode", {"maintenance", "admin"}),
    ("DELETE", "/api/v1/test-mode/{id}", {"maintenance", "admin"}),
    ("GET", "/api/v1/test-mode", {"guard", "maintenance", "bureau", "admin"}),
    ("GET", "/api/v1/test-log", {"guard", "maintenance", "bureau", "admin"}),
    ("POST", "/api/v1/drills", {"maintenance", "admin"}),
    ("POST", "/api/v1/drills/{id}/summary", {"maintenance", "admin"}),
    ("POST", "/api/v1/alarms/{id}/real", {"guard", "admin"}),
]


def test_every_new_route_checks_token_and_role(tmp_path: Path, broker: Mosquitto, start_hub: HubFactory) -> None:
    hub = start_hub(api=True)
    base = f"http://127.0.0.1:{hub.api_port}"
    for method, path, allowed in NEW_ROUTES:
        url = base + path.format(id="no-such-id")
        with httpx.Client(timeout=5) as anon:
            assert anon.request(method, url).status_code == 401, (method, path)
        for role in TOKENS:
            with _client(hub, role) as client:
                status = client.request(method, url).status_code
            # Allowed roles get past the check (to a 200, or 404/409/422 for the made-up id and the empty body).
            assert (status == 403) is (role not in allowed), (method, path, role, status)


def test_a_redelivered_test_press_after_the_test_ended_stays_a_test(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, receiver.url), api=True)
    window = hub.test_mode.start(MAINT, devices=["btn-1"], until=hub.clock.now() + timedelta(minutes=30), note="")
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    assert wait_until(lambda: _alarm_of(hub, "btn-1") is not None, 5)
    hub.test_mode.end(window.id, MAINT)
    # The same press again (its seq says so): it is the test press, not a new one, and must not call 110.
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    # Presses are committed in order on the alarm lane: once btn-2's alarm is out, btn-1's copy was handled.
    publisher.publish(topic("panic_button", "btn-2", "event"), {"pressed": True, "seq": 1})
    (got,) = receiver.state.wait_for(1, timeout=5)
    assert got.body["device"]["id"] == "btn-2"
    alarm = _alarm_of(hub, "btn-1")
    assert alarm is not None
    assert (alarm["test"], alarm["trigger_count"], alarm["deliveries"]) == (True, 1, [])
