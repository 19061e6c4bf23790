"""A locked-down broker: passwords, an ACL made by `campus-hub mqtt-acl`, TLS with a CA and client certificates.

Everything is real: a CA, server and client certificates made here with `cryptography`, a password file made with
Debian's `mosquitto_passwd`, and Mosquitto on two loopback listeners (plain with passwords, and TLS that requires
a client certificate), both under the ACL the command printed.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import re
import secrets
import shutil
import sqlite3
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hub import cli
from hub.app import Hub
from hub.config import HubConfig, TlsConfig
from hub.devtools.broker import BrokerTls, Mosquitto, issue_certificate, loopback_pki, write_key
from hub.devtools.receiver import Receiver
from hub.ingest.writer import tls_context
from hub.mqtt.acl import AclError, acl_for, render_text
from hub.mqtt.topics import vendor_topics
from tests.conftest import PREFIX, SITE, TOKENS, base_config, topic, wait_until

HUB_USER = "campus-hub"
# Fresh per run, so a hit in a log or a response cannot be a coincidence with a fixed string.
HUB_PASSWORD = "hub-pw-" + secrets.token_hex(12)
CANONICAL = ("cam-1", "btn-1", "btn-2", "smoke-1", "temp-1")
# Zigbee2MQTT is the MQTT client of its devices; a Tasmota device is its own client, named after its device id.
DEVICE_PASSWORDS = {d: f"{d}-pw-" + secrets.token_hex(6) for d in (*CANONICAL, "zigbee2mqtt", "temp-t")}
Z2M_BUTTON = "zigbee2mqtt/Dorm 1/SOS button"  # friendly names may hold spaces and '/'
TASMOTA = "tasmota_5F2A1B"
NOT_AUTHORIZED = 135  # MQTT v5 reason code "Not authorized"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


# --- certificates ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    misnamed_cert: Path  # signed by the CA, for broker.example only
    misnamed_key: Path
    rogue_ca: Path  # a CA that signed nothing here
    encrypted_key: Path  # the client key under a passphrase


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A self-signed CA, a broker certificate for 127.0.0.1/localhost and a client certificate for the hub."""
    folder = tmp_path_factory.mktemp("pki")
    base = loopback_pki(folder, client_name=HUB_USER)
    ca = x509.load_pem_x509_certificate(base.ca.read_bytes())
    ca_key = serialization.load_pem_private_key(base.ca_key.read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    misnamed_key = ec.generate_private_key(ec.SECP256R1())
    misnamed = issue_certificate(
        "broker.example",
        misnamed_key,
        ca,
        ca_key,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        san=[x509.DNSName("broker.example")],
    )
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert isinstance(ca_name, str)
    rogue_ca = issue_certificate(ca_name, rogue_key, None, rogue_key, ca=True)  # the same name, another key
    client_key = serialization.load_pem_private_key(base.client_key.read_bytes(), None)
    assert isinstance(client_key, ec.EllipticCurvePrivateKey)
    pki = Pki(
        base.ca,
        base.server_cert,
        base.server_key,
        base.client_cert,
        base.client_key,
        *(folder / name for name in ("misnamed.pem", "misnamed.key", "rogue-ca.pem", "client-encrypted.key")),
    )
    pem = serialization.Encoding.PEM
    pki.misnamed_cert.write_bytes(misnamed.public_bytes(pem))
    write_key(pki.misnamed_key, misnamed_key)
    pki.rogue_ca.write_bytes(rogue_ca.public_bytes(pem))
    write_key(pki.encrypted_key, client_key, passphrase=b"passphrase")
    return pki


# --- the locked-down broker --------------------------------------------------------------------------------------


def vendor_devices() -> list[dict[str, Any]]:
    def device(id_: str, kind: str, fmt: str, source_topic: str) -> dict[str, Any]:
        location = {"building": "Dorm 1", "floor": "1", "room": id_}
        return {"id": id_, "kind": kind, "name": id_, "location": location, "format": fmt, "source_topic": source_topic}

    return [
        device("btn-z", "panic_button", "zigbee2mqtt", Z2M_BUTTON),
        device("smoke-z", "smoke", "zigbee2mqtt", "zigbee2mqtt/Dorm 1/Smoke 101"),
        device("temp-t", "temperature", "tasmota", TASMOTA),
    ]


def hub_raw(tmp_path: Path, port: int, receiver_url: str | None, pki: Pki, password: str) -> dict[str, Any]:
    """The conftest registry plus vendor devices, Home Assistant discovery on, the hub's user, password and TLS."""
    raw = base_config(tmp_path, port, receiver_url)
    raw["devices"] += vendor_devices()
    raw["homeassistant"] = {"enabled": True}
    raw["mqtt"].update(
        {
            "username": HUB_USER,
            "password": password,
            "reconnect_min_s": 0.5,
            "reconnect_max_s": 1,
            "tls": {"ca_file": str(pki.ca), "cert_file": str(pki.client_cert), "key_file": str(pki.client_key)},
        }
    )
    return raw


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(list(argv))
    return code, out.getvalue()


@pytest.fixture
def secured(tmp_path: Path, pki: Pki) -> Iterator[Mosquitto]:
    """Mosquitto with no anonymous access, the password file and the ACL from `campus-hub mqtt-acl`."""
    folder = tmp_path / "secured"
    folder.mkdir()
    config_file = folder / "hub.yaml"
    # The password is in this file on purpose: the command must not print it.
    config_file.write_text(yaml.safe_dump(hub_raw(tmp_path, 1883, None, pki, HUB_PASSWORD)), encoding="utf-8")
    code, acl_text = run_cli("mqtt-acl", "--config", str(config_file))
    assert code == 0
    assert HUB_PASSWORD not in acl_text
    acl_file = folder / "campus-hub.acl"
    acl_file.write_text(acl_text, encoding="utf-8")
    passwd = folder / "campus-hub.passwd"
    for index, (user, password) in enumerate([(HUB_USER, HUB_PASSWORD), *DEVICE_PASSWORDS.items()]):
        create = ["-c"] if index == 0 else []
        subprocess.run(  # noqa: S603 - Debian's mosquitto_passwd with our own arguments
            [MOSQUITTO_PASSWD, "-b", *create, str(passwd), user, password], check=True, timeout=10
        )
    tls = BrokerTls(pki.ca, pki.server_cert, pki.server_key, require_certificate=True)
    # Debug logging names every PUBLISH the broker received or denied, and from which client.
    with Mosquitto(
        folder / "broker", extra_conf="log_type debug", password_file=passwd, acl_file=acl_file, tls=tls
    ) as running:
        yield running


@pytest.fixture
def hubs() -> Iterator[list[Hub]]:
    started: list[Hub] = []
    yield started
    for hub in started:
        hub.stop()


def start(hubs: list[Hub], raw: dict[str, Any], *, api: bool = False) -> Hub:
    hub = Hub(HubConfig.model_validate(raw))
    hubs.append(hub)
    hub.start()
    if api:
        hub.start_api_thread()
    return hub


# --- MQTT v5 clients as devices and intruders ----------------------------------------------------------------------


class Client:
    """An MQTT v5 client that records CONNACK and every PUBACK reason code."""

    def __init__(self, port: int, username: str | None, password: str | None, tls: ssl.SSLContext | None = None):
        self.client_id = f"test-{username}-{secrets.token_hex(3)}"
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls is not None:
            self.client.tls_set_context(tls)
        self.port = port
        self.connack: ReasonCode | None = None
        self.failed: str | None = None
        self.pubacks: dict[int, ReasonCode] = {}
        self._changed = threading.Condition()
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish

    def _on_connect(self, c: mqtt.Client, u: object, f: mqtt.ConnectFlags, rc: ReasonCode, p: Any) -> None:
        with self._changed:
            self.connack = rc
            self._changed.notify_all()

    def _on_connect_fail(self, c: mqtt.Client, u: object) -> None:
        with self._changed:
            self.failed = "connect failed"
            self._changed.notify_all()

    def _on_disconnect(self, c: mqtt.Client, u: object, f: mqtt.DisconnectFlags, rc: ReasonCode, p: Any) -> None:
        with self._changed:
            self.failed = self.failed or f"disconnected: {rc}"
            self._changed.notify_all()

    def _on_publish(self, c: mqtt.Client, u: object, mid: int, rc: ReasonCode, p: Properties | None) -> None:
        with self._changed:
            self.pubacks[mid] = rc
            self._changed.notify_all()

    def connect(self, timeout: float = 5.0) -> bool:
        """True when the broker accepted; False when it refused or the connection broke first."""
        try:
            self.client.connect("127.0.0.1", self.port)
        except (OSError, ssl.SSLError) as exc:
            self.failed = f"connect raised {exc!r}"
            return False
        self.client.loop_start()
        with self._changed:
            self._changed.wait_for(lambda: self.connack is not None or self.failed is not None, timeout)
        return self.connack is not None and not self.connack.is_failure and self.failed is None

    def publish(self, topic_: str, payload: dict[str, Any] | str, timeout: float = 5.0) -> ReasonCode:
        data = json.dumps(payload) if isinstance(payload, dict) else payload
        info = self.client.publish(topic_, data, qos=1)
        assert info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS
        with self._changed:
            assert self._changed.wait_for(lambda: info.mid in self.pubacks, timeout), f"no PUBACK for {topic_}"
            return self.pubacks[info.mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        client.close()


def client_tls(pki: Pki, *, with_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if with_certificate:
        context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    return context


def broker_log(broker: Mosquitto) -> str:
    return (broker.workdir / "mosquitto.log").read_text(encoding="utf-8", errors="replace")


def broker_saw(broker: Mosquitto, verdict: str, client_id: str, topic_part: str) -> bool:
    """Whether the broker's debug log shows a PUBLISH from this client on a matching topic that it "Received" or
    "Denied"."""
    mark = f"{verdict} PUBLISH from {client_id} "
    return any(mark in line and topic_part in line for line in broker_log(broker).splitlines())


def rows(hub: Hub, sql: str, *args: object) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{hub.config.storage.path}?mode=ro", uri=True)
    try:
        return list(conn.execute(sql, args))
    finally:
        conn.close()


# --- the plan, without a broker ------------------------------------------------------------------------------------


def registry(tmp_path: Path, **mqtt: Any) -> HubConfig:
    raw = base_config(tmp_path, 1883, None)
    raw["mqtt"].update({"username": HUB_USER, **mqtt})
    return HubConfig.model_validate(raw)


def test_plan_gives_each_device_its_own_topics_and_the_hub_read_access(tmp_path: Path) -> None:
    plan = acl_for(registry(tmp_path))
    base = f"{PREFIX}/{SITE}"
    hub = plan.user(HUB_USER)
    assert plan.users[0] is hub
    # The device filter also covers camera/{id}/health; `#` never matches `$SYS`, so the counter is named.
    assert hub.read == (f"{base}/+/+/+", "$SYS/broker/publish/messages/dropped")
    assert hub.write == (f"{base}/hub/#",)  # cam-1 has no source: the hub does not check it, so never writes its health
    assert hub.readwrite == ()
    button = plan.user("btn-1")
    assert button.write == tuple(topic("panic_button", "btn-1", c) for c in ("event", "telemetry", "status"))
    assert button.read == ()
    assert button.readwrite == ()
    camera = plan.user("cam-1")
    assert camera.write[-1] == topic("camera", "cam-1", "health")
    assert sorted(u.name for u in plan.users) == sorted([HUB_USER, *CANONICAL])


def test_plan_for_vendor_devices_home_assistant_and_checked_cameras(tmp_path: Path, pki: Pki) -> None:
    raw = hub_raw(tmp_path, 1883, None, pki, HUB_PASSWORD)
    raw["devices"][0]["source"] = {"kind": "file", "path": str(tmp_path / "cam-1.jpg")}
    config = HubConfig.model_validate(raw)
    plan = acl_for(config)
    base = f"{PREFIX}/{SITE}"
    hub = plan.user(HUB_USER)
    assert hub.write == (f"{base}/hub/#", f"{base}/camera/cam-1/health", "homeassistant/#")
    # Exactly the vendor topics ingest subscribes to, nothing wider.
    assert hub.read == (
        f"{base}/+/+/+",
        Z2M_BUTTON,
        f"{Z2M_BUTTON}/availability",
        "zigbee2mqtt/Dorm 1/Smoke 101",
        "zigbee2mqtt/Dorm 1/Smoke 101/availability",
        f"tele/{TASMOTA}/SENSOR",
        f"tele/{TASMOTA}/LWT",
        f"tele/{TASMOTA}/STATE",
        "$SYS/broker/publish/messages/dropped",
    )
    assert set(hub.read[1:-1]) == {t for d in config.devices for t in vendor_topics(d)}
    z2m = plan.user("zigbee2mqtt")
    assert z2m.readwrite == ("zigbee2mqtt/#",)
    assert "btn-z" in z2m.comment
    assert "smoke-z" in z2m.comment
    tasmota = plan.user("temp-t")
    assert tasmota.write == (f"tele/{TASMOTA}/#", f"stat/{TASMOTA}/#")
    assert tasmota.read == (f"cmnd/{TASMOTA}/#",)
    # Zigbee devices are not MQTT clients themselves: no user of their own.
    assert sorted(u.name for u in plan.users) == sorted([HUB_USER, *DEVICE_PASSWORDS])
    text = render_text(plan, config)
    assert f"topic read {Z2M_BUTTON}\n" in text  # Mosquitto reads the rest of the line: spaces are fine
    # A canonical device named like the Zigbee2MQTT client would share its user.
    raw["devices"][1]["id"] = "zigbee2mqtt"
    with pytest.raises(AclError, match="zigbee2mqtt"):
        acl_for(HubConfig.model_validate(raw))


def test_plan_refuses_a_missing_hub_user_and_a_shared_user_name(tmp_path: Path) -> None:
    raw = base_config(tmp_path, 1883, None)
    with pytest.raises(AclError, match=r"mqtt\.username"):
        acl_for(HubConfig.model_validate(raw))
    with pytest.raises(AclError, match="btn-1"):
        acl_for(registry(tmp_path, username="btn-1"))


def test_text_is_an_acl_file_and_json_carries_the_same_plan(tmp_path: Path) -> None:
    config = registry(tmp_path)
    text = render_text(acl_for(config), config)
    acl = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert all(re.fullmatch(r"user \S+|topic (read|write|readwrite) \S+", line) for line in acl), acl
    assert acl.count("user btn-2") == 1
    # Interactive password commands only: -b would put passwords into shell history.
    commands = [line.strip("# ") for line in text.splitlines() if "mosquitto_passwd /" in line or "-c /" in line]
    assert commands[0] == f"mosquitto_passwd -c /etc/mosquitto/campus-hub.passwd {HUB_USER}"
    assert len(commands) == 1 + len(CANONICAL)
    config_file = tmp_path / "hub.yaml"
    raw = base_config(tmp_path, 1883, None)
    raw["mqtt"].update({"username": HUB_USER, "password": HUB_PASSWORD})
    config_file.write_text(yaml.safe_dump(raw), encoding="utf-8")
    code, out = run_cli("mqtt-acl", "--config", str(config_file), "--format", "json", "--password-file", "/srv/pw")
    assert code == 0
    assert HUB_PASSWORD not in out
    body = json.loads(out)
    assert body["hub_user"] == HUB_USER
    assert body["password_commands"][1] == "mosquitto_passwd /srv/pw cam-1"
    assert [u["name"] for u in body["users"]] == [HUB_USER, "cam-1", "btn-1", "btn-2", "smoke-1", "temp-1"]
    assert body["acl"] == render_text(acl_for(config, password_file="/srv/pw"), config)


def test_command_without_a_hub_user_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_file = tmp_path / "hub.yaml"
    config_file.write_text(yaml.safe_dump(base_config(tmp_path, 1883, None)), encoding="utf-8")
    assert cli.main(["mqtt-acl", "--config", str(config_file)]) == 2
    assert "mqtt.username" in capsys.readouterr().err


# --- against the locked-down broker --------------------------------------------------------------------------------


def test_hub_over_tls_with_password_and_certificate_forwards_a_press(
    tmp_path: Path,
    pki: Pki,
    secured: Mosquitto,
    receiver: Receiver,
    hubs: list[Hub],
    clients: list[Client],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    assert secured.tls_port is not None
    hub = start(hubs, hub_raw(tmp_path, secured.tls_port, receiver.url, pki, HUB_PASSWORD), api=True)
    assert hub.ingest.wait_connected(10), "hub did not connect over TLS with its password and certificate"
    button = Client(secured.port, "btn-1", DEVICE_PASSWORDS["btn-1"])
    clients.append(button)
    assert button.connect()
    assert button.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1}).value == 0
    got = receiver.state.wait_for(1, timeout=5.0)
    assert [r.body["device"]["id"] for r in got] == ["btn-1"]

    # Everything the hub publishes is inside its ACL: status, Home Assistant discovery, HA states after the press.
    hub_id = f"campus-hub-{SITE}"
    for part in ("'homeassistant/", f"'{PREFIX}/{SITE}/hub/status'", f"'{PREFIX}/{SITE}/hub/device/btn-1/alarm'"):
        assert wait_until(functools.partial(broker_saw, secured, "Received", hub_id, part), 5), part
    assert f"Denied PUBLISH from {hub_id}" not in broker_log(secured)
    # ... and so is the broker's dropped-messages counter it watches (retained, so it comes on subscribing).
    assert wait_until(lambda: hub.broker_stats.dropped == 0, 15), broker_log(secured)[-2000:]

    with httpx.Client(
        base_url=f"http://127.0.0.1:{hub.api_port}", headers={"Authorization": f"Bearer {TOKENS['admin']}"}, timeout=5
    ) as api:
        assert api.get("/healthz").json()["mqtt_connected"] is True
        for path in ("/api/v1/alarms", "/api/v1/forwarding", "/api/v1/devices", "/api/v1/audit", "/metrics"):
            response = api.get(path)
            assert response.status_code == 200, path
            assert HUB_PASSWORD not in response.text, path
    assert HUB_PASSWORD not in caplog.text
    assert HUB_PASSWORD not in repr(hub.config)


def test_wrong_password_is_refused_not_reported_connected_and_retried(
    tmp_path: Path, pki: Pki, secured: Mosquitto, hubs: list[Hub], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-password-" + secrets.token_hex(6)
    assert secured.tls_port is not None
    hub = start(hubs, hub_raw(tmp_path, secured.tls_port, None, pki, wrong), api=True)

    def refusals() -> int:
        return sum("refused the connection" in r.getMessage() for r in caplog.records)

    assert wait_until(lambda: refusals() >= 2, 10), "the hub did not try again after being refused"
    assert not hub.mqtt_connected
    assert hub.metrics.registry.get_sample_value("campus_hub_mqtt_connected") == 0
    health = httpx.get(f"http://127.0.0.1:{hub.api_port}/healthz", timeout=5)
    assert health.status_code == 503
    assert health.json()["mqtt_connected"] is False
    assert wrong not in caplog.text


def test_tls_listener_refuses_a_client_without_certificate(pki: Pki, secured: Mosquitto, clients: list[Client]) -> None:
    assert secured.tls_port is not None
    without = Client(secured.tls_port, HUB_USER, HUB_PASSWORD, client_tls(pki, with_certificate=False))
    clients.append(without)
    assert not without.connect()
    assert without.connack is None, "the broker answered CONNECT without a client certificate"
    # The same client with the certificate gets in: the refusal above was the certificate's.
    with_cert = Client(secured.tls_port, HUB_USER, HUB_PASSWORD, client_tls(pki, with_certificate=True))
    clients.append(with_cert)
    assert with_cert.connect()


def test_device_writes_its_own_topics_only(
    tmp_path: Path, pki: Pki, secured: Mosquitto, hubs: list[Hub], clients: list[Client]
) -> None:
    assert secured.tls_port is not None
    hub = start(hubs, hub_raw(tmp_path, secured.tls_port, None, pki, HUB_PASSWORD))
    assert hub.ingest.wait_connected(10)
    button = Client(secured.port, "btn-1", DEVICE_PASSWORDS["btn-1"])
    clients.append(button)
    assert button.connect()

    assert button.publish(topic("panic_button", "btn-1", "telemetry"), {"battery_pct": 81}).value == 0
    assert wait_until(lambda: bool(rows(hub, "SELECT 1 FROM events WHERE device_id = 'btn-1'")), 5)
    # Another device's topics and the hub's own are refused at the broker.
    for foreign in (
        topic("panic_button", "btn-2", "event"),
        topic("panic_button", "btn-2", "status"),
        f"{PREFIX}/{SITE}/hub/status",
        topic("smoke", "btn-1", "event"),
    ):
        payload: dict[str, Any] | str = "offline" if foreign.endswith("status") else {"pressed": True, "smoke": True}
        assert button.publish(foreign, payload).value == NOT_AUTHORIZED, foreign
    # A later message on the same connection arrives after anything the broker had passed on before it.
    assert button.publish(topic("panic_button", "btn-1", "telemetry"), {"battery_pct": 79}).value == 0
    assert wait_until(lambda: len(rows(hub, "SELECT 1 FROM events WHERE device_id = 'btn-1'")) >= 2, 5)
    assert rows(hub, "SELECT device_id FROM events WHERE device_id != 'btn-1'") == []
    # The broker's own log agrees; it is also what shows the hub publishing nothing outside its ACL.
    assert broker_saw(secured, "Denied", button.client_id, f"'{topic('panic_button', 'btn-2', 'event')}'")
    assert rows(hub, "SELECT id FROM alarms") == []
    assert rows(hub, "SELECT topic FROM dead_letters") == []


def test_vendor_clients_write_their_vendor_topics_only(
    tmp_path: Path, pki: Pki, secured: Mosquitto, receiver: Receiver, hubs: list[Hub], clients: list[Client]
) -> None:
    assert secured.tls_port is not None
    hub = start(hubs, hub_raw(tmp_path, secured.tls_port, receiver.url, pki, HUB_PASSWORD))
    assert hub.ingest.wait_connected(10)
    z2m = Client(secured.port, "zigbee2mqtt", DEVICE_PASSWORDS["zigbee2mqtt"])
    tasmota = Client(secured.port, "temp-t", DEVICE_PASSWORDS["temp-t"])
    clients += [z2m, tasmota]
    assert z2m.connect()
    assert tasmota.connect()

    # Zigbee2MQTT publishes for the SOS button (a friendly name with spaces): the press reaches the 110 receiver.
    assert z2m.publish(Z2M_BUTTON, {"action": "single", "battery": 90}).value == 0
    got = receiver.state.wait_for(1, timeout=5.0)
    assert [r.body["device"]["id"] for r in got] == ["btn-z"]
    # The Tasmota sensor writes its own telemetry, but neither a Zigbee topic nor another device's canonical one.
    reading = {"Time": "2026-11-29T12:00:00", "DS18B20": {"Id": "01131B1F4C6A", "Temperature": 21.5}, "TempUnit": "C"}
    assert tasmota.publish(f"tele/{TASMOTA}/SENSOR", reading).value == 0
    assert wait_until(lambda: bool(rows(hub, "SELECT 1 FROM events WHERE device_id = 'temp-t'")), 5)
    assert tasmota.publish(Z2M_BUTTON, {"action": "single"}).value == NOT_AUTHORIZED
    assert tasmota.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": 80}).value == NOT_AUTHORIZED
    # Sent after the refused ones on the same connection: once it is stored, they would have been too.
    assert tasmota.publish(f"tele/{TASMOTA}/LWT", "Online").value == 0
    assert wait_until(lambda: len(rows(hub, "SELECT 1 FROM events WHERE device_id = 'temp-t'")) >= 2, 5)
    assert rows(hub, "SELECT device_id FROM events WHERE device_id = 'temp-1'") == []
    assert [a[0] for a in rows(hub, "SELECT device_id FROM alarms")] == ["btn-z"]  # no second press, no heat


@pytest.mark.parametrize(("case", "why"), [("misnamed", "address mismatch"), ("rogue_ca", "certificate verify failed")])
def test_hub_checks_the_broker_certificate_and_says_why_it_cannot_connect(
    tmp_path: Path, pki: Pki, hubs: list[Hub], caplog: pytest.LogCaptureFixture, case: str, why: str
) -> None:
    caplog.set_level(logging.INFO)
    cert, key = (pki.misnamed_cert, pki.misnamed_key) if case == "misnamed" else (pki.server_cert, pki.server_key)
    tls = BrokerTls(pki.ca, cert, key, require_certificate=False)
    with Mosquitto(tmp_path / "broker", tls=tls) as broker:
        assert broker.tls_port is not None
        raw = base_config(tmp_path, broker.tls_port, None)
        raw["mqtt"]["tls"] = {"ca_file": str(pki.rogue_ca if case == "rogue_ca" else pki.ca)}
        hub = start(hubs, raw)

        def explained() -> bool:
            return any("cannot connect" in r.getMessage() and why in r.getMessage() for r in caplog.records)

        assert wait_until(explained, 5), caplog.text
        assert not hub.mqtt_connected
        hubs.remove(hub)
        hub.stop()  # before the broker goes, so nothing retries against a closed port


def test_encrypted_client_key_fails_at_start_instead_of_prompting(pki: Pki) -> None:
    tls = TlsConfig(ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.encrypted_key)
    with pytest.raises(ValueError, match="encrypted"):
        tls_context(tls)


def test_anonymous_and_wrong_password_clients_are_refused(secured: Mosquitto, clients: list[Client]) -> None:
    anonymous = Client(secured.port, None, None)
    clients.append(anonymous)
    assert not anonymous.connect()
    assert anonymous.connack is not None
    assert anonymous.connack.is_failure
    impostor = Client(secured.port, "btn-1", DEVICE_PASSWORDS["btn-2"])
    clients.append(impostor)
    assert not impostor.connect()
    assert impostor.connack is not None
    assert impostor.connack.getName() in ("Bad user name or password", "Not authorized")
