"""Broker lock-down from the registry: which MQTT user may read and write which topics, as Mosquitto files.

`acl_for(config)` is a pure function from the configuration to an `AclPlan`: one user for the hub, one per
canonical device (user name = device id) with write access to its own topics only, and, for vendor-format
devices, the MQTT clients that really publish (Zigbee2MQTT itself, each Tasmota device). `render_text` turns the
plan into a Mosquitto ACL file whose comments carry the `mosquitto_passwd` commands and the broker settings, so
`campus-hub mqtt-acl --config F > campus-hub.acl` is a working file. No password is ever part of a plan.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from device_adapters import DeviceFormat
from device_adapters.base import DeviceKind
from hub.config import DeviceConfig, HubConfig
from hub.mqtt.broker_stats import DROPPED_TOPIC
from hub.mqtt.topics import Topics, vendor_topics

DEFAULT_PASSWORD_FILE = "/etc/mosquitto/campus-hub.passwd"  # noqa: S105 - a path, not a password
DEFAULT_ACL_FILE = "/etc/mosquitto/campus-hub.acl"
ZIGBEE2MQTT_USER = "zigbee2mqtt"

# Channels a canonical device publishes on; cameras (or their recorder) also report their own health.
DEVICE_CHANNELS = ("event", "telemetry", "status")
CAMERA_CHANNELS = (*DEVICE_CHANNELS, "health")


class AclError(ValueError):
    """The configuration cannot be turned into a broker ACL (no hub user, or two clients with one user name)."""


@dataclass(frozen=True, slots=True)
class AclUser:
    """One broker user and exactly the topics (or filters) it may read, write, or both."""

    name: str
    comment: str
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()
    readwrite: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AclPlan:
    """The hub's user first, then one user per MQTT client that publishes device data."""

    hub_user: str
    users: tuple[AclUser, ...]
    password_file: str = DEFAULT_PASSWORD_FILE
    acl_file: str = DEFAULT_ACL_FILE

    def user(self, name: str) -> AclUser:
        for user in self.users:
            if user.name == name:
                return user
        raise KeyError(name)


def _source_topic(device: DeviceConfig) -> str:
    # The registry already requires source_topic for every vendor format.
    if device.source_topic is None:
        raise AclError(f"device {device.id}: format {device.format} needs source_topic")
    return device.source_topic


def _zigbee2mqtt_base(device: DeviceConfig) -> str:
    # Zigbee2MQTT's base topic is the first level of the device's topic (friendly names may hold '/' themselves).
    return _source_topic(device).split("/", 1)[0]


def acl_for(
    config: HubConfig, *, password_file: str = DEFAULT_PASSWORD_FILE, acl_file: str = DEFAULT_ACL_FILE
) -> AclPlan:
    """Least privilege for every MQTT client of this registry; AclError when it cannot be expressed."""
    if not config.mqtt.username:
        raise AclError("mqtt.username is not set: the hub needs its own broker user once the broker is locked down")
    topics = Topics(config.mqtt.topic_prefix, config.site.id)
    hub_read: list[str] = [topics.device_filter]
    hub_write: list[str] = [f"{topics.base}/hub/#"]
    devices: list[AclUser] = []
    z2m_bases: dict[str, list[str]] = {}
    for device in config.devices:
        if device.format is DeviceFormat.CANONICAL:
            channels = CAMERA_CHANNELS if device.kind is DeviceKind.CAMERA else DEVICE_CHANNELS
            devices.append(
                AclUser(
                    name=device.id,
                    comment=f"{device.kind} {device.id}: its own topics only",
                    write=tuple(topics.device(device.kind, device.id, channel) for channel in channels),
                )
            )
            if device.kind is DeviceKind.CAMERA and device.source is not None:
                # The hub checks this camera itself and publishes the result like a recorder would.
                hub_write.append(topics.device(device.kind, device.id, "health"))
            continue
        hub_read += vendor_topics(device)
        if device.format is DeviceFormat.ZIGBEE2MQTT:
            z2m_bases.setdefault(_zigbee2mqtt_base(device), []).append(device.id)
        elif device.format is DeviceFormat.TASMOTA:
            t = _source_topic(device)
            devices.append(
                AclUser(
                    name=device.id,
                    comment=f"Tasmota {t} ({device.kind} {device.id}): set MqttUser {device.id} on the device",
                    read=(f"cmnd/{t}/#",),
                    write=(f"tele/{t}/#", f"stat/{t}/#"),
                )
            )
        else:
            raise AclError(f"device {device.id}: no ACL rule for format {device.format}")
    if z2m_bases:
        devices.insert(
            0,
            AclUser(
                name=ZIGBEE2MQTT_USER,
                comment="Zigbee2MQTT, the MQTT client of every Zigbee device: "
                + ", ".join(sorted(d for ids in z2m_bases.values() for d in ids)),
                # It publishes device states and reads its own /set and bridge requests under its base topic.
                readwrite=tuple(f"{base}/#" for base in sorted(z2m_bases)),
            ),
        )
    hub_read.append(DROPPED_TOPIC)  # the broker's count of messages it dropped (`$SYS` needs naming outright)
    if config.homeassistant.enabled:
        hub_write.append(f"{config.homeassistant.discovery_prefix}/#")
    # One user for both of the hub's sessions (the telemetry lane's client id and `{client_id}-alarms`): Mosquitto's
    # ACLs are per user, not per client id, and the alarm lane's per-kind filters lie inside `device_filter`.
    hub = AclUser(
        name=config.mqtt.username,
        comment="the hub: reads every device topic of the site, writes only its own",
        read=tuple(dict.fromkeys(hub_read)),
        write=tuple(dict.fromkeys(hub_write)),
    )
    users = (hub, *devices)
    seen: dict[str, str] = {}
    for user in users:
        if user.name in seen:
            raise AclError(f"broker user {user.name!r} would serve both {seen[user.name]} and {user.comment}")
        seen[user.name] = user.comment
    return AclPlan(hub_user=hub.name, users=users, password_file=password_file, acl_file=acl_file)


# --- rendering ---------------------------------------------------------------------------------------------------


def acl_lines(plan: AclPlan) -> list[str]:
    """The ACL file proper: `user` blocks of `topic` lines (Mosquitto reads the rest of a line as the topic)."""
    lines: list[str] = []
    for user in plan.users:
        lines += ["", f"# {user.comment}", f"user {user.name}"]
        lines += [f"topic read {t}" for t in user.read]
        lines += [f"topic write {t}" for t in user.write]
        lines += [f"topic readwrite {t}" for t in user.readwrite]
    return lines


def password_commands(plan: AclPlan) -> list[str]:
    """Interactive `mosquitto_passwd` lines: each prompts for the password, which so stays out of shell history."""
    first, *rest = plan.users
    out = [f"mosquitto_passwd -c {plan.password_file} {first.name}"]
    out += [f"mosquitto_passwd {plan.password_file} {user.name}" for user in rest]
    return out


def _pattern_note(base: str) -> list[str]:
    return [
        "Alternative for canonical devices: instead of one block per device, one line for all of them",
        f"    pattern write {base}/+/%u/+",
        "(%u is the connecting user name, so each device's user name must be its id). It is shorter and needs",
        "no change when a device is added, but it lets a device write under any kind and any channel name;",
        "the hub would dead-letter those, the per-device blocks below refuse them at the broker.",
    ]


def render_text(plan: AclPlan, config: HubConfig) -> str:
    """A complete Mosquitto ACL file; everything that is not ACL (passwords, broker settings) is a comment."""
    base = Topics(config.mqtt.topic_prefix, config.site.id).base
    comments = [
        f"Mosquitto ACL for site {config.site.id}, made by `campus-hub mqtt-acl` from the device registry.",
        f"Save it as {plan.acl_file}; clients not listed here can read and write nothing.",
        "",
        "1. Passwords. Each command prompts for the password, so it stays out of shell history",
        "   (-c creates the file and replaces an existing one: use it for the first user only):",
        *(f"    {line}" for line in password_commands(plan)),
        "   In bulk: write `user:password` lines into the file (chmod 600) and hash them in place with",
        f"    mosquitto_passwd -U {plan.password_file}",
        "   Avoid `mosquitto_passwd -b FILE USER PASSWORD` typed at a shell: it keeps the password in the",
        "   history and shows it in the process list.",
        "   The hub's own password goes in CAMPUS_HUB__MQTT__PASSWORD or CAMPUS_HUB__MQTT__PASSWORD_FILE, never in",
        "   the configuration file.",
        "",
        "2. Broker settings (mosquitto.conf):",
        "    allow_anonymous false",
        f"    password_file {plan.password_file}",
        f"    acl_file {plan.acl_file}",
        "    max_queued_messages 100000",
        "   (not 0: Mosquitto before 2.0.22 then drops a client's connection after any refused publish,",
        '   eclipse-mosquitto/mosquitto#3244, instead of answering it with "Not authorized")',
        "   and for TLS on a listener: cafile, certfile, keyfile (and require_certificate true to demand",
        "   client certificates). Reload Mosquitto (SIGHUP) after changing either file.",
        "",
        *_pattern_note(base),
    ]
    lines = [f"# {c}".rstrip() for c in comments] + acl_lines(plan)
    return "\n".join(lines) + "\n"


def render_json(plan: AclPlan, config: HubConfig) -> str:
    body = {
        "site": config.site.id,
        "hub_user": plan.hub_user,
        "password_file": plan.password_file,
        "acl_file": plan.acl_file,
        "users": [asdict(u) for u in plan.users],
        "password_commands": password_commands(plan),
        "acl": render_text(plan, config),
    }
    return json.dumps(body, ensure_ascii=False, indent=2) + "\n"
