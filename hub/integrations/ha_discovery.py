"""Home Assistant MQTT discovery: the hub's device states, alarms, batteries and temperatures as HA entities.

Off by default. `discovery_messages(config)` (pure) is the retained discovery config of every entity; the hub
publishes it on every (re)connect, then the current state of everything. After that it follows what happens:
device state transitions and alarms opening and closing (from the live feed), battery and temperature readings
(from committed ingest batches), each on a retained topic under `{prefix}/{site}/hub/device/{id}/`. Entities are
available while the hub's own status topic (its last will) says `online`.

Home Assistant sees; it never decides: alarms are still raised, forwarded and latched by the hub alone.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from device_adapters.base import DeviceEvent, DeviceKind
from hub.config import DeviceConfig, HubConfig
from hub.core.feed import FeedEvent
from hub.core.worker import OnError, Worker
from hub.health.model import DeviceHealth, DeviceState
from hub.mqtt.topics import Topics
from hub.store import Store

log = logging.getLogger(__name__)

Message = tuple[str, str]
Publish = Callable[[str, str], bool]

MANUFACTURER = "campus-hub"
# The binary_sensor device class of each alarming kind's alarm.
ALARM_CLASSES: Mapping[DeviceKind, str] = {
    DeviceKind.PANIC_BUTTON: "safety",
    DeviceKind.SMOKE: "smoke",
    DeviceKind.TEMPERATURE: "heat",
    DeviceKind.ELECTRICAL_FIRE: "heat",
    DeviceKind.GAS: "gas",
    DeviceKind.CO: "carbon_monoxide",
    DeviceKind.INTRUSION: "safety",
    DeviceKind.DOOR: "safety",
}
BATTERY_KINDS = frozenset(
    {DeviceKind.PANIC_BUTTON, DeviceKind.SMOKE, DeviceKind.GAS, DeviceKind.CO, DeviceKind.INTRUSION, DeviceKind.DOOR}
)
# Readings of the newer kinds as sensors: (entity, payload key, name, HA device class or None, unit).
READINGS: Mapping[DeviceKind, tuple[tuple[str, str, str, str | None, str], ...]] = {
    DeviceKind.ELECTRICAL_FIRE: (("residual_current", "residual_ma", "Residual current", "current", "mA"),),
    DeviceKind.GAS: (("gas", "lel_pct", "Combustible gas", None, "%LEL"),),
    DeviceKind.CO: (("co", "ppm", "Carbon monoxide", "carbon_monoxide", "ppm"),),
}
# The contact's own state as a binary sensor (not the hub's alarm): (entity, payload key, HA device class).
CONTACTS: Mapping[DeviceKind, tuple[str, str, str]] = {
    DeviceKind.DOOR: ("door", "open", "door"),
    DeviceKind.INTRUSION: ("motion", "alarm", "motion"),
}
_PENDING_ALARMS = 1000  # past this many unprocessed alarm notices, republish everything instead


def _object_id(text: str) -> str:
    # Discovery topic levels allow [a-zA-Z0-9_-] only; device ids may also hold '.'.
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def state_topic(topics: Topics, device_id: str, what: str) -> str:
    """Where the hub publishes a device's `state`, `alarm`, `battery` or `temperature` (retained)."""
    return f"{topics.base}/hub/device/{device_id}/{what}"


def _payload(body: Mapping[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def discovery_messages(config: HubConfig) -> list[Message]:
    """(topic, payload) of every entity's retained discovery config."""
    prefix = config.homeassistant.discovery_prefix
    topics = Topics(config.mqtt.topic_prefix, config.site.id)
    node = _object_id(f"campus_hub_{config.site.id}")
    hub_device = {
        "identifiers": [node],
        "name": f"campus-hub {config.site.name}",
        "manufacturer": MANUFACTURER,
        "model": "edge hub",
    }
    availability = {
        "availability_topic": topics.hub_status,
        "payload_available": "online",
        "payload_not_available": "offline",
    }
    messages: list[Message] = [
        (
            f"{prefix}/binary_sensor/{node}/hub_status/config",
            _payload(
                {
                    "name": "Hub connection",
                    "unique_id": f"{node}_hub_status",
                    "device_class": "connectivity",
                    "state_topic": topics.hub_status,
                    "payload_on": "online",
                    "payload_off": "offline",
                    "device": hub_device,
                }
            ),
        )
    ]
    for device in config.devices:
        messages += _device_messages(prefix, node, topics, device, availability)
    return messages


def _device_messages(
    prefix: str, node: str, topics: Topics, device: DeviceConfig, availability: Mapping[str, str]
) -> list[Message]:
    object_id = _object_id(device.id)
    block = {
        "identifiers": [f"{node}_{object_id}"],
        "name": device.name,
        "manufacturer": MANUFACTURER,
        "model": device.kind.value,
        "suggested_area": device.location.building,
        "via_device": node,
    }

    def entity(component: str, what: str, body: dict[str, Any]) -> Message:
        unique = f"{node}_{object_id}_{what}"
        config = {"unique_id": unique, "state_topic": state_topic(topics, device.id, what), "device": block}
        return f"{prefix}/{component}/{node}/{object_id}_{what}/config", _payload({**config, **availability, **body})

    out = [
        entity("sensor", "state", {"name": "State", "device_class": "enum", "options": [s.value for s in DeviceState]})
    ]
    alarm_class = ALARM_CLASSES.get(device.kind)
    if alarm_class is not None:
        out.append(entity("binary_sensor", "alarm", {"name": "Alarm", "device_class": alarm_class}))
    if device.kind in BATTERY_KINDS:
        battery = {
            "name": "Battery",
            "device_class": "battery",
            "unit_of_measurement": "%",
            "state_class": "measurement",
        }
        out.append(entity("sensor", "battery", battery))
    for what, _, name, device_class, unit in READINGS.get(device.kind, ()):
        body: dict[str, Any] = {"name": name, "unit_of_measurement": unit, "state_class": "measurement"}
        if device_class is not None:
            body["device_class"] = device_class
        out.append(entity("sensor", what, body))
    if device.kind is DeviceKind.ELECTRICAL_FIRE:
        # One sensor per configured temperature setting (a unit set with one value shows its first channel).
        channels = len(device.temperature_alarm_c) if device.temperature_alarm_c else 1
        for channel in range(1, channels + 1):
            body = {"name": f"Cable temperature {channel}", "device_class": "temperature"}
            body |= {"unit_of_measurement": "°C", "state_class": "measurement"}
            out.append(entity("sensor", f"temperature_{channel}", body))
    contact = CONTACTS.get(device.kind)
    if contact is not None:
        out.append(entity("binary_sensor", contact[0], {"name": contact[0].title(), "device_class": contact[2]}))
    if device.kind is DeviceKind.TEMPERATURE:
        temperature = {
            "name": "Temperature",
            "device_class": "temperature",
            "unit_of_measurement": "°C",
            "state_class": "measurement",
        }
        out.append(entity("sensor", "temperature", temperature))
    return out


def state_messages(config: HubConfig, states: Iterable[DeviceHealth], alarmed: Iterable[str]) -> list[Message]:
    """The current state of every entity: device states, batteries the hub knows, alarms on or off."""
    topics = Topics(config.mqtt.topic_prefix, config.site.id)
    active = set(alarmed)
    known = config.device_index()
    out: list[Message] = []
    for health in states:
        device = known.get(health.device_id)
        if device is None:
            continue
        out.append((state_topic(topics, device.id, "state"), health.state.value))
        if health.battery_pct is not None and device.kind in BATTERY_KINDS:
            out.append((state_topic(topics, device.id, "battery"), _number(health.battery_pct)))
    for device in config.devices:
        if device.kind in ALARM_CLASSES:
            out.append((state_topic(topics, device.id, "alarm"), "ON" if device.id in active else "OFF"))
    return out


def reading_messages(config: HubConfig, events: Iterable[DeviceEvent]) -> list[Message]:
    """Battery and temperature readings in committed events -> their state topics."""
    topics = Topics(config.mqtt.topic_prefix, config.site.id)
    out: list[Message] = []
    for event in events:
        if event.celsius is not None:
            out.append((state_topic(topics, event.device_id, "temperature"), _number(event.celsius)))
        battery = event.data.get("battery_pct")
        if event.kind in BATTERY_KINDS and isinstance(battery, int | float) and not isinstance(battery, bool):
            out.append((state_topic(topics, event.device_id, "battery"), _number(battery)))
        out += _new_kind_readings(topics, event)
    return out


def _new_kind_readings(topics: Topics, event: DeviceEvent) -> list[Message]:
    out: list[Message] = []
    for what, key, *_ in READINGS.get(event.kind, ()):
        value = event.data.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out.append((state_topic(topics, event.device_id, what), _number(value)))
    temperatures = event.data.get("temperatures_c")
    if event.kind is DeviceKind.ELECTRICAL_FIRE and isinstance(temperatures, list):
        for channel, value in enumerate(temperatures, start=1):
            if isinstance(value, int | float) and not isinstance(value, bool):
                out.append((state_topic(topics, event.device_id, f"temperature_{channel}"), _number(value)))
    contact = CONTACTS.get(event.kind)
    flag = event.data.get(contact[1]) if contact else None
    if contact is not None and isinstance(flag, bool):
        out.append((state_topic(topics, event.device_id, contact[0]), "ON" if flag else "OFF"))
    return out


def _number(value: float) -> str:
    return f"{value:g}"


class HomeAssistant:
    """Publishes discovery and state in its own thread; the hooks it offers only record what changed."""

    def __init__(
        self,
        config: HubConfig,
        publish: Publish,
        *,
        states: Callable[[], Iterable[DeviceHealth]],
        alarmed: Callable[[], Iterable[str]],
        alarm_device: Callable[[str], str | None],
        on_thread_exit: Callable[[], None] = lambda: None,
    ) -> None:
        self._config = config
        self._topics = Topics(config.mqtt.topic_prefix, config.site.id)
        self._publish = publish
        self._states = states
        self._alarmed = alarmed
        self._alarm_device = alarm_device
        self._cond = threading.Condition()
        # Latest value per topic: bounded by the number of entities, however fast readings come.
        self._dirty: dict[str, str] = {}
        self._alarms: deque[tuple[str, bool]] = deque()
        self._resync = False
        # Wakes when there is something to publish; a failure ends it (Home Assistant's states stop, the hub goes on).
        self.worker = Worker(
            "homeassistant",
            self._publish_once,
            wait_first=True,
            on_error=OnError.DIE,
            on_thread_exit=on_thread_exit,
            cond=self._cond,
            ready=lambda: bool(self._resync or self._dirty or self._alarms),
        )
        self.published = 0

    # --- hooks (any thread, never block) ----------------------------------------------------------------------

    def connected(self) -> None:
        """The MQTT session is (re)established: publish discovery and every state again."""
        with self._cond:
            self._resync = True
            self._cond.notify()

    def notice(self, event: FeedEvent) -> None:
        if event.kind == "device_state":
            topic = state_topic(self._topics, str(event.data.get("device_id")), "state")
            self._mark({topic: str(event.data.get("to"))})
        elif event.kind in ("alarm_opened", "alarm_closed", "alarm_real"):
            if event.kind == "alarm_opened" and event.data.get("test"):
                return  # a press on test must not set off Home Assistant's automations; "this is real" does
            with self._cond:
                if len(self._alarms) >= _PENDING_ALARMS:
                    self._resync = True
                else:
                    self._alarms.append((str(event.data.get("alarm_id")), event.kind != "alarm_closed"))
                self._cond.notify()

    def committed(self, events: Iterable[DeviceEvent]) -> None:
        messages = reading_messages(self._config, events)
        if messages:
            self._mark(dict(messages))

    def _mark(self, messages: Mapping[str, str]) -> None:
        with self._cond:
            self._dirty.update(messages)
            self._cond.notify()

    # --- worker ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.worker.stop(timeout)

    def _publish_once(self) -> None:
        with self._cond:
            resync, self._resync = self._resync, False
            dirty, self._dirty = self._dirty, {}
            alarms = list(self._alarms)
            self._alarms.clear()
        self._send(resync, dirty, alarms)

    def _send(self, resync: bool, dirty: dict[str, str], alarms: list[tuple[str, bool]]) -> None:
        messages: list[Message] = []
        if resync:
            messages += discovery_messages(self._config)
        for alarm_id, opened in alarms:
            device_id = self._alarm_device(alarm_id)
            if device_id is not None:
                dirty[state_topic(self._topics, device_id, "alarm")] = "ON" if opened else "OFF"
        messages += dirty.items()
        if resync:
            # Read after the changes above were taken, so the snapshot is never older than what precedes it.
            messages += state_messages(self._config, self._states(), self._alarmed())
        for topic, payload in messages:
            if self._publish(topic, payload):
                self.published += 1
            else:
                log.debug("homeassistant: not connected; %s waits for the next connect", topic)


def alarmed_devices(store: Store) -> list[str]:
    """Devices with an alarm not yet closed (latched alarms count until a person closes them); presses on test are
    not alarms."""
    rows = store.connection().execute("SELECT device_id FROM alarms WHERE state != 'closed' AND test = 0").fetchall()
    return [str(row[0]) for row in rows]


def alarm_device(store: Store, alarm_id: str) -> str | None:
    row = store.connection().execute("SELECT device_id FROM alarms WHERE id = ?", (alarm_id,)).fetchone()
    return None if row is None else str(row[0])
