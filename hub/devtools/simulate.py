"""A simulated school: every device in the registry connects with its own last will, sends heartbeats and readings,
and a button is pressed now and then. Used by the demo and by hand (`campus-hub simulate --press DEVICE`)."""

from __future__ import annotations

import json
import logging
import random
import threading
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from device_adapters.base import DeviceKind
from hub.config import DeviceConfig, HubConfig
from hub.mqtt.topics import Topics

log = logging.getLogger(__name__)


def _client(config: HubConfig, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    if config.mqtt.username:
        password = config.mqtt.password.get_secret_value() if config.mqtt.password else None
        client.username_pw_set(config.mqtt.username, password)
    if config.mqtt.tls is not None:
        tls = config.mqtt.tls
        client.tls_set(
            ca_certs=str(tls.ca_file) if tls.ca_file else None,
            certfile=str(tls.cert_file) if tls.cert_file else None,
            keyfile=str(tls.key_file) if tls.key_file else None,
        )
    return client


def press(config: HubConfig, device_id: str, seq: int | None = None, timeout: float = 5.0) -> None:
    """Publish one press of a panic button, at QoS 1, and wait for the broker's PUBACK."""
    device = config.device(device_id)
    if device is None or device.kind is not DeviceKind.PANIC_BUTTON:
        raise ValueError(f"{device_id!r} is not a panic_button in the registry")
    topics = Topics(config.mqtt.topic_prefix, config.site.id)
    client = _client(config, f"sim-press-{device_id}-{random.randrange(1 << 30)}")  # noqa: S311 - not security
    client.connect(config.mqtt.host, config.mqtt.port)
    client.loop_start()
    try:
        payload = {
            "pressed": True,
            "seq": seq if seq is not None else random.randrange(1 << 30),  # noqa: S311
            "ts": datetime.now(UTC).isoformat(),
        }
        info = client.publish(topics.device(device.kind, device.id, "event"), json.dumps(payload), qos=1)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"publish failed: {mqtt.error_string(info.rc)}")
        info.wait_for_publish(timeout)
    finally:
        client.disconnect()
        client.loop_stop()


class SimulatedDevice:
    """One device with its own MQTT connection, so its last will marks it offline when it dies."""

    def __init__(self, config: HubConfig, device: DeviceConfig, rng: random.Random) -> None:
        self.device = device
        self._topics = Topics(config.mqtt.topic_prefix, config.site.id)
        self._rng = rng
        self._seq = 0
        self._celsius = rng.uniform(19.0, 24.0)
        self._battery = rng.uniform(60.0, 100.0)
        self.client = _client(config, f"sim-{config.site.id}-{device.id}")
        status = self.topic("status")
        self.client.will_set(status, "offline", qos=1, retain=True)
        self.client.on_connect = lambda c, u, f, rc, p: c.publish(status, "online", qos=1, retain=True)
        self.client.connect_async(config.mqtt.host, config.mqtt.port, keepalive=30)

    def topic(self, channel: str) -> str:
        return self._topics.device(self.device.kind, self.device.id, channel)

    def heartbeat(self) -> None:
        self._battery = max(0.0, self._battery - self._rng.uniform(0, 0.01))
        kind = self.device.kind
        if kind is DeviceKind.TEMPERATURE:
            self._celsius += self._rng.uniform(-0.2, 0.2)
            body: dict[str, object] = {
                "celsius": round(self._celsius, 2),
                "battery_pct": round(self._battery, 1),
            }
        elif kind is DeviceKind.SMOKE:
            body = {
                "smoke": False,
                "obscuration_db_m": round(self._rng.uniform(0, 0.01), 3),
                "battery_pct": round(self._battery, 1),
                "tamper": False,
            }
        elif kind is DeviceKind.PANIC_BUTTON:
            body = {"battery_pct": round(self._battery, 1), "tamper": False}
        else:
            self.client.publish(self.topic("status"), "online", qos=1, retain=True)
            return
        self.client.publish(self.topic("telemetry"), json.dumps(body), qos=1)

    def press(self) -> None:
        self._seq += 1
        body = {"pressed": True, "seq": self._seq, "ts": datetime.now(UTC).isoformat()}
        self.client.publish(self.topic("event"), json.dumps(body), qos=1)
        log.warning("simulator: %s (%s) pressed", self.device.id, self.device.name)


class School:
    """All simulated devices, ticking in one thread."""

    def __init__(self, config: HubConfig, press_every_s: float = 0.0, seed: int | None = None) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - simulation, not security
        self.devices = [SimulatedDevice(config, d, self._rng) for d in config.devices]
        self._press_every_s = press_every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> School:
        for sim in self.devices:
            sim.client.loop_start()
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        tick = 1.0
        elapsed = 0.0
        next_press = self._press_every_s
        while not self._stop.wait(tick):
            elapsed += tick
            for sim in self.devices:
                # Heartbeats at a third of the interval: well inside the 3-missed-heartbeats offline rule.
                period = max(1.0, sim.device.heartbeat_s / 3)
                if elapsed % period < tick:
                    sim.heartbeat()
            if self._press_every_s and elapsed >= next_press:
                buttons = [s for s in self.devices if s.device.kind is DeviceKind.PANIC_BUTTON]
                if buttons:
                    self._rng.choice(buttons).press()
                next_press += self._press_every_s

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for sim in self.devices:
            sim.client.disconnect()
            sim.client.loop_stop()
