"""Per-endpoint alarm kinds end to end: a smoke alarm reaches only the endpoints that take fire, a panic press 110."""

from __future__ import annotations

from pathlib import Path

from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver
from tests.conftest import RECEIVER_SECRET, HubFactory, Publisher, base_config, topic


def test_smoke_goes_to_the_fire_room_only_and_a_panic_press_to_110(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    fire_room = Receiver(RECEIVER_SECRET).start()
    try:
        raw = base_config(tmp_path, broker.port, receiver.url)
        raw["forwarding"]["endpoints"][0]["alarm_kinds"] = ["panic"]
        raw["forwarding"]["endpoints"].append(
            {
                "name": "fire-room",
                "kind": "http",
                "url": fire_room.url,
                "secret": RECEIVER_SECRET,
                "timeout_s": 2,
                "alarm_kinds": ["fire", "heat"],
            }
        )
        hub = start_hub(raw)
        publisher.publish(topic("smoke", "smoke-1", "event"), {"smoke": True})
        (smoke,) = fire_room.state.wait_for(1, timeout=5)
        assert smoke.body["kind"] == "fire"
        publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True})
        (panic,) = receiver.state.wait_for(1, timeout=5)
        assert panic.body["kind"] == "panic"
        # The smoke alarm has one leg only: no row for 110 was ever written, so nothing can send it there later.
        legs = hub.store.get_alarm(smoke.body["alarm_id"])["deliveries"]
        assert [(d["endpoint"], d["state"]) for d in legs] == [("fire-room", "delivered")]
        panic_legs = hub.store.get_alarm(panic.body["alarm_id"])["deliveries"]
        assert [d["endpoint"] for d in panic_legs] == ["police-110"]
        # Each receiver got exactly its own kind: the panic press never reached the fire room, nor smoke 110.
        assert [r.body["kind"] for r in receiver.state.received] == ["panic"]
        assert [r.body["kind"] for r in fire_room.state.received] == ["fire"]
    finally:
        fire_room.stop()


def test_failover_order_applies_among_the_endpoints_that_take_the_kind(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, publisher: Publisher, start_hub: HubFactory
) -> None:
    duty = Receiver(RECEIVER_SECRET).start()
    try:
        raw = base_config(tmp_path, broker.port, receiver.url)
        raw["forwarding"]["mode"] = "first"
        raw["forwarding"]["endpoints"][0]["alarm_kinds"] = ["panic"]
        duty_room = {
            "name": "duty",
            "kind": "http",
            "url": duty.url,
            "secret": RECEIVER_SECRET,
            "alarm_kinds": ["fire", "heat"],
        }
        raw["forwarding"]["endpoints"].append(duty_room)
        hub = start_hub(raw)
        # In failover mode only the first endpoint is live; for smoke the first that takes fire is the duty room.
        publisher.publish(topic("smoke", "smoke-1", "event"), {"smoke": True})
        (smoke,) = duty.state.wait_for(1, timeout=5)
        legs = hub.store.get_alarm(smoke.body["alarm_id"])["deliveries"]
        assert [(d["endpoint"], d["position"]) for d in legs] == [("duty", 0)]
        assert receiver.state.posts == 0
    finally:
        duty.stop()
