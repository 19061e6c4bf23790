"""Home Assistant MQTT discovery: the pure discovery configs, and a real Mosquitto subscriber that sees the retained
configs and the state updates an alarm and a device's first message make."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hub.config import HubConfig
from hub.devtools.broker import Mosquitto
from hub.integrations.ha_discovery import discovery_messages
from tests.conftest import PREFIX, SITE, TOKENS, HubFactory, Publisher, base_config, topic, wait_until

HUB_STATUS = f"{PREFIX}/{SITE}/hub/status"
NODE = "campus_hub_test-school"


def ha_config(tmp_path: Path, port: int) -> dict[str, Any]:
    raw = base_config(tmp_path, port, None)
    raw["homeassistant"] = {"enabled": True}
    return raw


def test_discovery_messages_describe_every_entity(tmp_path: Path) -> None:
    config = HubConfig.model_validate(ha_config(tmp_path, 1883))
    messages = dict(discovery_messages(config))
    assert len(messages) == len(discovery_messages(config))  # one config per topic
    bodies = {topic_: json.loads(payload) for topic_, payload in messages.items()}
    for topic_ in bodies:
        assert re.fullmatch(r"homeassistant/(sensor|binary_sensor)/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+/config", topic_)
    unique_ids = [b["unique_id"] for b in bodies.values()]
    assert len(set(unique_ids)) == len(unique_ids)

    hub = bodies[f"homeassistant/binary_sensor/{NODE}/hub_status/config"]
    assert (hub["state_topic"], hub["payload_on"], hub["payload_off"]) == (HUB_STATUS, "online", "offline")
    assert hub["device_class"] == "connectivity"

    alarm = bodies[f"homeassistant/binary_sensor/{NODE}/btn-1_alarm/config"]
    assert alarm["device_class"] == "safety"
    assert alarm["state_topic"] == f"{PREFIX}/{SITE}/hub/device/btn-1/alarm"
    assert (alarm["availability_topic"], alarm["payload_available"], alarm["payload_not_available"]) == (
        HUB_STATUS,
        "online",
        "offline",
    )
    assert alarm["device"] == {
        "identifiers": [f"{NODE}_btn-1"],
        "name": "panic_button btn-1",
        "manufacturer": "campus-hub",
        "model": "panic_button",
        "suggested_area": "A",
        "via_device": NODE,
    }
    assert bodies[f"homeassistant/binary_sensor/{NODE}/smoke-1_alarm/config"]["device_class"] == "smoke"
    assert bodies[f"homeassistant/binary_sensor/{NODE}/temp-1_alarm/config"]["device_class"] == "heat"
    temperature = bodies[f"homeassistant/sensor/{NODE}/temp-1_temperature/config"]
    assert (temperature["device_class"], temperature["unit_of_measurement"]) == ("temperature", "°C")
    assert bodies[f"homeassistant/sensor/{NODE}/smoke-1_battery/config"]["device_class"] == "battery"
    state = bodies[f"homeassistant/sensor/{NODE}/cam-1_state/config"]
    assert state["options"] == ["unknown", "online", "offline", "faulty", "maintenance"]
    # A camera raises no alarm and reports no battery or temperature.
    assert not [t for t in bodies if "/cam-1_" in t and not t.endswith("cam-1_state/config")]
    assert not [t for t in bodies if t.endswith(("temp-1_battery/config", "btn-1_temperature/config"))]


class Watcher:
    """A Home Assistant stand-in on the real broker: the last message per topic, with its retain flag."""

    def __init__(self, port: int, client_id: str = "test-home-assistant") -> None:
        self.last: dict[str, tuple[str, bool]] = {}
        self.changed = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([("homeassistant/#", 1), (f"{PREFIX}/{SITE}/hub/#", 1)])
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self.changed:
            self.last[msg.topic] = (msg.payload.decode(), bool(msg.retain))
            self.changed.notify_all()

    def wait_for(self, topic_: str, payload: str | None, timeout: float = 10) -> tuple[str, bool] | None:
        with self.changed:
            self.changed.wait_for(
                lambda: topic_ in self.last and (payload is None or self.last[topic_][0] == payload), timeout
            )
            return self.last.get(topic_)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_home_assistant_sees_retained_discovery_and_state_updates(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    hub = start_hub(ha_config(tmp_path, broker.port), api=True)
    config_topic = f"homeassistant/binary_sensor/{NODE}/btn-1_alarm/config"
    assert wait_until(lambda: hub.homeassistant is not None and hub.homeassistant.published > 0, 10)
    # The first watcher may subscribe while the hub's first round is still going out (those arrive live, not
    # retained): it waits for the round's last kind of message, then a second one checks what is retained.
    first = Watcher(broker.port, "test-home-assistant-0")
    try:
        assert first.wait_for(HUB_STATUS, "online") is not None
        assert first.wait_for(f"{PREFIX}/{SITE}/hub/device/btn-1/alarm", "OFF") is not None
    finally:
        first.close()
    # Home Assistant starting after the hub still finds everything: the configs and states are retained.
    watcher = Watcher(broker.port)
    try:
        seen = watcher.wait_for(config_topic, None)
        assert seen is not None
        assert seen[1], "discovery config is not retained"
        assert json.loads(seen[0])["device_class"] == "safety"
        assert watcher.wait_for(f"{PREFIX}/{SITE}/hub/device/btn-1/alarm", "OFF") == ("OFF", True)
        assert watcher.wait_for(HUB_STATUS, "online") == ("online", True)

        publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
        publisher.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": 21.5})
        assert watcher.wait_for(f"{PREFIX}/{SITE}/hub/device/btn-1/alarm", "ON") is not None
        assert watcher.wait_for(f"{PREFIX}/{SITE}/hub/device/btn-1/state", "online") is not None
        assert watcher.wait_for(f"{PREFIX}/{SITE}/hub/device/temp-1/temperature", "21.5") is not None

        # A person closes the alarm through the API: the binary sensor goes off.
        alarm_id = hub.store.list_alarms()[0]["id"]
        guard = httpx.Client(
            base_url=f"http://127.0.0.1:{hub.api_port}", headers={"Authorization": f"Bearer {TOKENS['guard']}"}
        )
        with guard:
            assert guard.post(f"/api/v1/alarms/{alarm_id}/ack").status_code == 200
            closed = guard.post(f"/api/v1/alarms/{alarm_id}/close", json={"note": "drill", "disposition": "drill"})
            assert closed.status_code == 200, closed.text
        assert watcher.wait_for(f"{PREFIX}/{SITE}/hub/device/btn-1/alarm", "OFF") is not None
    finally:
        watcher.close()
    # What a Home Assistant connecting now finds: the latest states, retained.
    later = Watcher(broker.port, "test-home-assistant-2")
    try:
        assert later.wait_for(f"{PREFIX}/{SITE}/hub/device/temp-1/temperature", "21.5") == ("21.5", True)
        assert later.wait_for(f"{PREFIX}/{SITE}/hub/device/btn-1/state", "online") == ("online", True)
        assert later.wait_for(f"{PREFIX}/{SITE}/hub/device/btn-1/alarm", "OFF") == ("OFF", True)
    finally:
        later.close()


def test_discovery_is_published_again_after_a_broker_restart(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory
) -> None:
    hub = start_hub(ha_config(tmp_path, broker.port))
    ha = hub.homeassistant
    assert ha is not None
    count = len(discovery_messages(hub.config))
    assert wait_until(lambda: ha.published >= count, 10)
    first = ha.published
    broker.stop()
    assert wait_until(lambda: not hub.mqtt_connected, 10)
    broker.start()
    assert hub.ingest.wait_connected(15)
    assert wait_until(lambda: ha.published >= first + count, 10), (first, ha.published)
    watcher = Watcher(broker.port)
    try:
        seen = watcher.wait_for(f"homeassistant/binary_sensor/{NODE}/smoke-1_alarm/config", None)
        assert seen is not None
        assert seen[1]
    finally:
        watcher.close()
