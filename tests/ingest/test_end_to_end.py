"""A press on a real Mosquitto reaches a real HTTP receiver: signature, contract, receipt, retries, latching."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver
from tests.conftest import RECEIVER_SECRET, TOKENS, HubFactory, Publisher, base_config, topic, wait_until


def test_press_reaches_receiver_signed_within_2_seconds(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, receiver.url))
    sent = time.monotonic()
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 17})
    got = receiver.state.wait_for(1, timeout=2.0)
    assert got, "no alarm reached the receiver within 2 s"
    assert got[0].at_mono - sent < 2.0
    post = got[0]
    # The signature is checked here independently of the receiver's own check.
    expected = "sha256=" + hmac.new(RECEIVER_SECRET.encode(), post.raw, hashlib.sha256).hexdigest()
    assert post.headers["X-Hub-Signature-256"] == expected
    body = post.body
    assert post.headers["Idempotency-Key"] == body["alarm_id"]
    assert body["kind"] == "panic"
    assert body["priority"] == 1
    assert body["site"] == {"id": "test-school", "name": "Test School", "address": "1 Test Road"}
    assert body["device"]["id"] == "btn-1"
    assert body["device"]["location"] == {"building": "A", "floor": "1", "room": "btn-1"}
    assert body["attempt"] == 1
    assert body["trigger_count"] == 1
    for key in ("occurred_at", "raised_at", "sent_at"):
        assert body[key].endswith("+00:00"), f"{key} is not UTC: {body[key]}"

    def delivered() -> bool:
        return bool(hub.store.get_alarm(body["alarm_id"])["deliveries"][0]["state"] == "delivered")

    assert wait_until(delivered, 2.0)
    alarm = hub.store.get_alarm(body["alarm_id"])
    assert alarm["deliveries"][0]["receipt"] == post.receipt
    assert alarm["state"] == "open"


def test_smoke_and_heat_raise_fire_and_heat(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    start_hub(base_config(tmp_path, broker.port, receiver.url))
    publisher.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": 23.0})
    publisher.publish(topic("smoke", "smoke-1", "telemetry"), {"smoke": False, "battery_pct": 90})
    publisher.publish(topic("smoke", "smoke-1", "event"), {"smoke": True, "obscuration_db_m": 0.21})
    publisher.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": 57.0})
    got = receiver.state.wait_for(2, timeout=5.0)
    kinds = sorted((r.body["kind"], r.body["device"]["id"]) for r in got)
    assert kinds == [("fire", "smoke-1"), ("heat", "temp-1")]


def test_open_alarm_latches_and_counts_triggers_across_restart(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    raw = base_config(tmp_path, broker.port, receiver.url)
    hub = start_hub(raw)
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    first = receiver.state.wait_for(1, timeout=5.0)[0].body["alarm_id"]
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 2})
    # The same press delivered twice (QoS 1 redelivery) is not a new trigger.
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 2})
    assert wait_until(lambda: hub.store.get_alarm(first)["trigger_count"] == 2, 5.0)
    hub.stop()

    hub2 = start_hub(raw)
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 3})
    assert wait_until(lambda: hub2.store.get_alarm(first)["trigger_count"] == 3, 5.0)
    assert hub2.store.count("alarms") == 1
    # A release never clears a latched alarm.
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": False, "seq": 4})
    assert wait_until(lambda: hub2.store.count("events") >= 5, 5.0)
    assert hub2.store.get_alarm(first)["state"] == "open"
    assert len(receiver.state.unique_alarm_ids()) == 1


def test_receiver_down_then_up_delivers_each_alarm_under_one_id(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    receiver = Receiver(RECEIVER_SECRET).start()
    port = receiver.port
    receiver.stop()  # the 110 endpoint is down: connections are refused
    hub = start_hub(base_config(tmp_path, broker.port, f"http://127.0.0.1:{port}/alarms", retry_max_s=0.3))
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    publisher.publish(topic("panic_button", "btn-2", "event"), {"pressed": True, "seq": 1})

    def attempts() -> int:
        return sum(d["attempts"] for a in hub.store.list_alarms() for d in a["deliveries"])

    assert wait_until(lambda: attempts() >= 6, 10.0), "the hub did not keep retrying"
    alarms = hub.store.list_alarms()
    assert {a["deliveries"][0]["state"] for a in alarms} == {"pending"}
    assert all("connection failed" in (a["deliveries"][0]["last_error"] or "") for a in alarms)

    back = Receiver(RECEIVER_SECRET, port=port).start()
    try:
        got = back.state.wait_for(2, timeout=10.0)
        assert {r.body["alarm_id"] for r in got} == {a["id"] for a in alarms}
        assert all(r.body["attempt"] > 1 for r in got)
        assert wait_until(lambda: all(a["deliveries"][0]["state"] == "delivered" for a in hub.store.list_alarms()), 5.0)
        history = hub.store.get_alarm(alarms[0]["id"])["deliveries"][0]["history"]
        assert [h["outcome"] for h in history][-1] == "delivered"
        assert all(h["outcome"] == "retry" for h in history[:-1])
    finally:
        back.stop()


def test_5xx_retries_and_4xx_is_permanent(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, receiver.url))

    def delivery_of(device: str) -> dict[str, object]:
        for alarm in hub.store.list_alarms():
            if alarm["device"]["id"] == device:
                delivery: dict[str, object] = alarm["deliveries"][0]
                return delivery
        return {}

    receiver.state.fail_with = 422
    publisher.publish(topic("panic_button", "btn-2", "event"), {"pressed": True, "seq": 1})
    assert wait_until(lambda: delivery_of("btn-2").get("state") == "failed", 10.0)
    assert delivery_of("btn-2")["http_status"] == 422
    assert "HTTP 422" in str(delivery_of("btn-2")["last_error"])

    receiver.state.fail_with = 503
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    assert wait_until(lambda: int(str(delivery_of("btn-1").get("attempts", 0))) >= 3, 10.0)
    assert delivery_of("btn-1")["state"] == "pending"
    receiver.state.fail_with = None
    assert wait_until(lambda: delivery_of("btn-1").get("state") == "delivered", 10.0)
    # The refused alarm is never sent again; the retried one arrived once it was accepted.
    assert [r.body["device"]["id"] for r in receiver.state.received] == ["btn-1"]
    assert delivery_of("btn-2")["state"] == "failed"


def test_garbage_goes_to_dead_letters_and_ingest_goes_on(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, receiver.url), api=True)
    bad = [
        (topic("panic_button", "btn-1", "event"), b"{not json"),
        (topic("panic_button", "btn-1", "event"), b'{"pressed": true, "seq": NaN}'),
        (topic("panic_button", "nobody", "event"), b'{"pressed": true}'),
        (topic("smoke", "btn-1", "event"), b'{"smoke": true}'),
        (topic("temperature", "temp-1", "telemetry"), b'{"celsius": "hot"}'),
        (topic("temperature", "temp-1", "telemetry"), b"\xff\xfe"),
        (topic("temperature", "temp-1", "telemetry"), b'{"celsius": 20, "pad": "' + b"x" * 5000 + b'"}'),
        (topic("temperature", "temp-1", "bogus"), b"{}"),
    ]
    for topic_, payload in bad:
        publisher.publish(topic_, payload)
    publisher.publish(topic("panic_button", "btn-2", "event"), {"pressed": True})
    assert receiver.state.wait_for(1, timeout=5.0)[0].body["device"]["id"] == "btn-2"
    assert wait_until(lambda: hub.store.count("dead_letters") == len(bad), 5.0)
    url = f"http://127.0.0.1:{hub.api_port}"
    response = httpx.get(f"{url}/api/v1/dead-letters", headers={"Authorization": f"Bearer {TOKENS['maintenance']}"})
    assert response.status_code == 200
    reasons = sorted(d["reason"] for d in response.json()["dead_letters"])
    assert reasons == sorted(
        [
            "bad_json",
            "non_finite_number",
            "unknown_device",
            "kind_mismatch",
            "invalid_payload",
            "bad_encoding",
            "payload_too_large",
            "unsupported_channel",
        ]
    )
    assert all(d["topic"] and d["received_at"].endswith("+00:00") for d in response.json()["dead_letters"])
    metrics = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKENS['maintenance']}"}).text
    assert 'campus_hub_dead_letters_total{reason="bad_json"} 1.0' in metrics
    assert "campus_hub_messages_ingested_total" in metrics


def test_messages_published_while_hub_is_away_are_processed_on_return(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    raw = base_config(tmp_path, broker.port, receiver.url)
    hub = start_hub(raw)
    hub.stop()  # the persistent session stays on the broker
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    for n in range(50):
        publisher.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": 20 + n / 100})
    hub2 = start_hub(raw)
    got = receiver.state.wait_for(1, timeout=5.0)
    assert got
    assert got[0].body["device"]["id"] == "btn-1"
    assert wait_until(lambda: hub2.store.count("events") == 51, 5.0)


def test_hub_announces_itself_online_and_retained(broker: Mosquitto, start_hub: HubFactory) -> None:
    start_hub()
    seen: list[tuple[str, bytes, bool]] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="status-reader")
    client.on_message = lambda c, u, m: seen.append((m.topic, bytes(m.payload), m.retain))
    client.connect("127.0.0.1", broker.port)
    client.subscribe("campus/test-school/hub/status", qos=1)
    client.loop_start()
    try:
        assert wait_until(lambda: bool(seen), 5.0)
        assert seen[0] == ("campus/test-school/hub/status", b"online", True)
    finally:
        client.disconnect()
        client.loop_stop()


def test_alarm_json_is_valid_utf8_with_chinese_names(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    raw = base_config(tmp_path, broker.port, receiver.url)
    raw["devices"][1]["name"] = "门卫室一键报警"
    start_hub(raw)
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True})
    post = receiver.state.wait_for(1, timeout=5.0)[0]
    assert json.loads(post.raw.decode("utf-8"))["device"]["name"] == "门卫室一键报警"


def test_broker_restart_loses_no_press(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, start_hub: HubFactory
) -> None:
    raw = base_config(tmp_path, broker.port, receiver.url)
    raw["devices"] += [
        {
            "id": f"b{n}",
            "kind": "panic_button",
            "name": f"b{n}",
            "location": {"building": "C", "floor": "1", "room": "x"},
        }
        for n in range(20)
    ]
    hub = start_hub(raw)
    before = Publisher(broker.port)
    for n in range(10):
        before.publish(topic("panic_button", f"b{n}", "event"), {"pressed": True})
    before.close()
    broker.stop()  # a clean stop: Mosquitto writes its persistence file
    assert wait_until(lambda: not hub.mqtt_connected, 10)
    broker.start()
    assert hub.ingest.wait_connected(15), "the hub did not reconnect after the broker restart"
    after = Publisher(broker.port)
    try:
        for n in range(10, 20):
            after.publish(topic("panic_button", f"b{n}", "event"), {"pressed": True})
    finally:
        after.close()
    got = receiver.state.wait_for(20, timeout=10)
    assert sorted(r.body["device"]["id"] for r in got) == sorted(f"b{n}" for n in range(20))
    assert len({r.body["alarm_id"] for r in got}) == 20


def test_presses_queued_for_the_hub_survive_a_broker_restart(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, start_hub: HubFactory
) -> None:
    raw = base_config(tmp_path, broker.port, receiver.url)
    raw["devices"] += [
        {
            "id": f"q{n}",
            "kind": "panic_button",
            "name": f"q{n}",
            "location": {"building": "C", "floor": "1", "room": "x"},
        }
        for n in range(10)
    ]
    start_hub(raw).stop()  # the hub's persistent session now waits on the broker
    pub = Publisher(broker.port)
    for n in range(10):
        pub.publish(topic("panic_button", f"q{n}", "event"), {"pressed": True})
    pub.close()
    broker.stop()
    broker.start()  # the queued presses come back from Mosquitto's persistence file
    start_hub(raw)
    got = receiver.state.wait_for(10, timeout=10)
    assert sorted(r.body["device"]["id"] for r in got) == sorted(f"q{n}" for n in range(10))
