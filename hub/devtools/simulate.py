"""A simulated school: every device in the registry connects with its own last will, sends heartbeats and readings,
and a button is pressed now and then. Used by the demo and by hand (`campus-hub simulate --press DEVICE`, or
`--trip DEVICE --level alarm|prealarm|restore` for electrical fire units, gas and CO detectors, intrusion detectors
and door contacts)."""

from __future__ import annotations

import json
import logging
import random
import threading
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from alerts.levels import levels_for
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


TRIP_KINDS = frozenset(
    {DeviceKind.ELECTRICAL_FIRE, DeviceKind.GAS, DeviceKind.CO, DeviceKind.INTRUSION, DeviceKind.DOOR}
)
TRIP_LEVELS = ("alarm", "prealarm", "restore")


def trip_payload(device: DeviceConfig, level: str) -> tuple[str, dict[str, object]]:
    """(channel, payload) that takes a device to `level`: past its alarm level, between its pre-alarm and alarm
    levels, or back to quiet (a detector restored, a door closed)."""
    if level not in TRIP_LEVELS:
        raise ValueError(f"level must be one of {', '.join(TRIP_LEVELS)}")
    if device.kind is DeviceKind.INTRUSION:
        return "event", {"alarm": level != "restore"}
    if device.kind is DeviceKind.DOOR:
        return "event", {"open": level != "restore"}
    levels = levels_for(device)
    key = {DeviceKind.ELECTRICAL_FIRE: "residual_ma", DeviceKind.GAS: "lel_pct", DeviceKind.CO: "ppm"}.get(device.kind)
    if key is None:
        raise ValueError(f"{device.id!r} is a {device.kind}; --trip takes {', '.join(sorted(TRIP_KINDS))}")
    level_of = levels[key]
    value = {
        "alarm": level_of.alarm * 1.2,
        "prealarm": (level_of.prealarm + level_of.alarm) / 2,
        "restore": level_of.prealarm / 4,
    }[level]
    body: dict[str, object] = {key: round(value, 1)}
    if device.kind is DeviceKind.ELECTRICAL_FIRE:
        body["temperatures_c"] = [35.0, 33.5]
    return "telemetry", body


def trip(config: HubConfig, device_id: str, level: str = "alarm", timeout: float = 5.0) -> dict[str, object]:
    """Publish one message that takes a device to `level` (see trip_payload), at QoS 1; returns what was sent."""
    device = config.device(device_id)
    if device is None or device.kind not in TRIP_KINDS:
        raise ValueError(f"{device_id!r} is not one of the registry's {', '.join(sorted(TRIP_KINDS))} devices")
    channel, body = trip_payload(device, level)
    topics = Topics(config.mqtt.topic_prefix, config.site.id)
    _publish_once(config, f"sim-trip-{device_id}", topics.device(device.kind, device.id, channel), body, timeout)
    return body


def _publish_once(config: HubConfig, name: str, topic: str, body: dict[str, object], timeout: float) -> None:
    client = _client(config, f"{name}-{random.randrange(1 << 30)}")  # noqa: S311 - not security
    client.connect(config.mqtt.host, config.mqtt.port)
    client.loop_start()
    try:
        info = client.publish(topic, json.dumps(body), qos=1)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"publish failed: {mqtt.error_string(info.rc)}")
        info.wait_for_publish(timeout)
    finally:
        client.disconnect()
        client.loop_stop()


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
        elif kind is DeviceKind.ELECTRICAL_FIRE:
            body = {
                "residual_ma": round(self._rng.uniform(20, 60), 1),
                "temperatures_c": [round(self._celsius + 12 + self._rng.uniform(-1, 1), 1) for _ in range(2)],
            }
        elif kind is DeviceKind.GAS:
            body = {"lel_pct": round(self._rng.uniform(0, 1.5), 1), "battery_pct": round(self._battery, 1)}
        elif kind is DeviceKind.CO:
            body = {"ppm": round(self._rng.uniform(0, 8)), "battery_pct": round(self._battery, 1)}
        elif kind is DeviceKind.INTRUSION:
            body = {"battery_pct": round(self._battery, 1), "tamper": False}  # supervision: no trip
        elif kind is DeviceKind.DOOR:
            body = {"open": False, "battery_pct": round(self._battery, 1), "tamper": False}
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
