"""Device troubles to the receiving centres: tamper, low battery, offline and their restores over DC-09 (pysiaalarm)
and HTTP (the reference receiver), store and forward, alarms first, no resend after a restart; the outbox's schema
migration; hex AES keys.

Real parts throughout: Mosquitto, the hub, pysiaalarm's receiver, HTTP servers and SQLite files on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pysiaalarm.event import SIAEvent

from alerts.dc09 import Dc09Forwarder, build_frame
from alerts.dc09_codes import map_event
from alerts.forwarders import AlarmMessage
from alerts.troubles import TroubleMessage, trouble_targets
from hub.app import Hub
from hub.config import Dc09Endpoint
from hub.core.clock import SystemClock
from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver
from hub.health.faults import FaultChange, FaultKind
from hub.store import _SCHEMA, Store, enqueue_trouble
from hub.store.health import HealthStore
from tests.alerts.test_dc09 import ScriptedPeer, frame_seq
from tests.conftest import (
    RECEIVER_SECRET,
    SIA_ACCOUNT,
    HubFactory,
    Publisher,
    ReceiverFactory,
    base_config,
    topic,
    wait_until,
)

KEY16 = "ABCDEF0123456789"
BTN_ZONE = 42  # btn-1's explicit zone; the other devices keep their place in the registry
OK_TELEMETRY = {"battery_pct": 80, "tamper": False}


def dc09(port: int, **extra: Any) -> dict[str, Any]:
    return {"name": "arc", "kind": "dc09", "host": "127.0.0.1", "port": port, "account": SIA_ACCOUNT, **extra}


def config(tmp_path: Path, broker: Mosquitto, endpoints: list[dict[str, Any]], **forwarding: Any) -> dict[str, Any]:
    raw = base_config(tmp_path, broker.port, None)
    raw["forwarding"]["endpoints"] = endpoints
    raw["forwarding"].update(forwarding)
    for device in raw["devices"]:
        if device["id"] == "btn-1":
            device["zone"] = BTN_ZONE
    return raw


def http(url: str, **extra: Any) -> dict[str, Any]:
    return {"name": "police-110", "kind": "http", "url": url, "secret": RECEIVER_SECRET, "troubles": True, **extra}


def troubles_of(hub: Hub, subject: str, kind: str) -> list[dict[str, Any]]:
    """Trouble outbox rows of the subject's faults of one kind."""
    return [
        row
        for fault in hub.health_store.list_faults(subject=subject)
        if fault["kind"] == kind
        for row in hub.store.trouble_deliveries(int(fault["id"]))
    ]


def sia_troubles(events: list[SIAEvent]) -> list[tuple[str | None, str | None]]:
    return [(e.code, e.ri) for e in events if e.code not in ("RP", None)]


# --- what is sent, and where --------------------------------------------------------------------------------


def test_trouble_targets_by_kind() -> None:
    endpoints = ["police", "arc"]
    paths = {"path:police": "police", "path:arc": "arc"}
    assert trouble_targets(FaultKind.TAMPER, "btn-1", endpoints, paths) == endpoints
    assert trouble_targets(FaultKind.INSPECTION, "btn-1", endpoints, paths) == []
    # The path that is down cannot hear about itself; the other centre learns the site's link to it is gone.
    assert trouble_targets(FaultKind.FORWARDING_PATH_DOWN, "path:police", endpoints, paths) == ["arc"]


@pytest.mark.parametrize(
    ("key", "restore", "zone", "cid", "sia"),
    [
        ("tamper", False, 5, "1137 01 005", "Nri5/TA005"),
        ("tamper", True, 5, "3137 01 005", "Nri5/TR005"),  # Contact ID restores keep the event code
        ("low_battery", False, 7, "1384 01 007", "Nri7/YT007"),
        ("low_battery", True, 7, "3384 01 007", "Nri7/YR007"),
        ("offline", False, 12, "1350 01 012", "Nri12/YC012"),
        ("offline", True, 12, "3350 01 012", "Nri12/YK012"),
        ("sensor_trouble", False, 3, "1380 01 003", "Nri3/UT003"),
        ("fire_trouble", True, 3, "3373 01 003", "Nri3/FJ003"),
        ("forwarding_path_down", False, 0, "1354 01 000", "Nri0/YC000"),
    ],
)
def test_trouble_codes(key: str, restore: bool, zone: int, cid: str, sia: str) -> None:
    assert map_event(key, restore, zone, trouble=True) == (cid, sia)


def test_an_unknown_trouble_kind_is_a_logged_generic_trouble(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="alerts.dc09_codes"):
        assert map_event("mystery", False, 4, trouble=True) == ("1300 01 004", "Nri4/UT004")
        # An alarm kind is never sent as a trouble code, nor a trouble kind as an alarm.
        assert map_event("panic", False, 4, trouble=True).sia == "Nri4/UT004"
        assert map_event("tamper", False, 4).sia == "Nri4/UA004"
    assert "no event code for trouble kind 'mystery'" in caplog.text


# --- end to end: a real broker, hub, pysiaalarm and the reference HTTP receiver --------------------------------


def test_tamper_on_a_panic_button_is_a_trouble_at_both_centres_and_clearing_it_a_restore(
    tmp_path: Path,
    broker: Mosquitto,
    publisher: Publisher,
    start_hub: HubFactory,
    sia: ReceiverFactory,
    receiver: Receiver,
) -> None:
    arc = sia(key=KEY16)
    hub = start_hub(config(tmp_path, broker, [dc09(arc.port, key=KEY16), http(receiver.url)]))
    publisher.publish(topic("panic_button", "btn-1", "telemetry"), {"battery_pct": 80, "tamper": True})
    assert wait_until(lambda: sia_troubles(arc.events) == [("TA", str(BTN_ZONE))], 5.0), arc.events
    (event,) = [e for e in arc.events if e.code == "TA"]
    assert (event.account, event.encrypted) == (SIA_ACCOUNT, True)
    (posted,) = receiver.state.wait_for(1, 5.0)
    body = posted.body
    assert (body["event"], body["kind"], body["subject"], body["occurrence"]) == ("trouble", "tamper", "btn-1", 0)
    assert body["device"]["id"] == "btn-1"
    assert body["device"]["location"] == {"building": "A", "floor": "1", "room": "btn-1"}
    assert posted.headers["Idempotency-Key"] == f"trouble:{body['fault_id']}.0"
    assert body["opened_at"] == body["occurred_at"]

    publisher.publish(topic("panic_button", "btn-1", "telemetry"), OK_TELEMETRY)
    assert wait_until(lambda: sia_troubles(arc.events) == [("TA", str(BTN_ZONE)), ("TR", str(BTN_ZONE))], 5.0)
    restore = receiver.state.wait_for(2, 5.0)[1]
    assert restore.body["event"] == "trouble_restore"
    assert restore.body["fault_id"] == body["fault_id"]
    assert restore.body["recovered_at"] is not None
    assert restore.headers["Idempotency-Key"] == f"trouble:{body['fault_id']}.0:restore"

    def all_delivered() -> bool:
        rows = troubles_of(hub, "btn-1", "tamper")
        return len(rows) == 4 and all(r["state"] == "delivered" and r["receipt"] for r in rows)

    assert wait_until(all_delivered, 5.0), troubles_of(hub, "btn-1", "tamper")
    receipts = {(r["endpoint"], r["event"]): r["receipt"] for r in troubles_of(hub, "btn-1", "tamper")}
    assert receipts[("police-110", "trouble")] == posted.receipt
    assert receipts[("arc", "trouble")].startswith("ACK seq ")


def test_offline_is_350_and_back_online_its_restore_over_contact_id(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, sia: ReceiverFactory
) -> None:
    arc = sia()
    raw = config(tmp_path, broker, [dc09(arc.port, format="adm-cid")])
    zone = f"{[d['id'] for d in raw['devices']].index('btn-2') + 1:03d}"
    start_hub(raw)
    # The device's last will: offline at once, not after three missed heartbeats.
    publisher.publish(topic("panic_button", "btn-2", "status"), "offline", retain=True)

    def cid() -> list[tuple[str | None, str | None, str | None]]:
        return [(e.event_qualifier, e.event_type, e.ri) for e in arc.events if e.event_type not in ("602", None)]

    assert wait_until(lambda: cid() == [("1", "350", zone)], 5.0), arc.events
    publisher.publish(topic("panic_button", "btn-2", "status"), "online", retain=True)
    assert wait_until(lambda: cid() == [("1", "350", zone), ("3", "350", zone)], 5.0), arc.events
    assert [e.code for e in arc.events if e.event_type == "350"] == ["YC", "YK"]


def test_a_trouble_while_the_receiver_is_down_is_delivered_when_it_comes_back(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    hub = start_hub(config(tmp_path, broker, [http(f"http://127.0.0.1:{port}/alarms")]))
    publisher.publish(topic("smoke", "smoke-1", "telemetry"), {"smoke": False, "battery_pct": 5, "tamper": False})

    def failed_twice() -> bool:
        rows = troubles_of(hub, "smoke-1", "low_battery")
        return len(rows) == 1 and rows[0]["attempts"] >= 2 and rows[0]["state"] == "pending"

    assert wait_until(failed_twice, 10.0), troubles_of(hub, "smoke-1", "low_battery")
    late = Receiver(RECEIVER_SECRET, port=port).start()
    try:
        (posted,) = late.state.wait_for(1, 10.0)
        assert (posted.body["event"], posted.body["kind"], posted.body["subject"]) == (
            "trouble",
            "low_battery",
            "smoke-1",
        )
        assert wait_until(lambda: troubles_of(hub, "smoke-1", "low_battery")[0]["state"] == "delivered", 5.0)
        (row,) = troubles_of(hub, "smoke-1", "low_battery")
        assert row["receipt"] == posted.receipt
        assert row["attempts"] >= 3
    finally:
        late.stop()


class GatedReceiver:
    """An HTTP receiver on 127.0.0.1 that answers alarms at once and holds every trouble until `release()`."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.changed = threading.Condition()
        self.arrived: list[str] = []
        self.answered: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                event = str(body["event"])
                with outer.changed:
                    outer.arrived.append(event)
                    outer.changed.notify_all()
                if event.startswith("trouble"):
                    outer.gate.wait(15)  # bounded: a test that fails must still end
                data = json.dumps({"receipt": f"r-{event}"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                with outer.changed:
                    outer.answered.append(event)
                    outer.changed.notify_all()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alarms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)

    def release(self) -> None:
        self.gate.set()

    def stop(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gated() -> Iterator[GatedReceiver]:
    receiver = GatedReceiver()
    yield receiver
    receiver.stop()


def test_troubles_in_flight_or_queued_never_hold_an_alarm_back(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, gated: GatedReceiver
) -> None:
    # One alarm slot: if a trouble could take it, the held trouble would keep the alarm waiting.
    hub = start_hub(config(tmp_path, broker, [http(gated.url, secret=None)], concurrency=1))
    for device in ("btn-1", "btn-2"):
        publisher.publish(topic("panic_button", device, "telemetry"), {"battery_pct": 5, "tamper": True})
    publisher.publish(topic("smoke", "smoke-1", "telemetry"), {"smoke": False, "battery_pct": 80, "tamper": True})
    assert gated.wait(lambda: gated.arrived == ["trouble"], 5.0), gated.arrived  # one held, four queued
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})

    def alarm_delivered() -> bool:
        alarms = hub.store.list_alarms()
        return len(alarms) == 1 and alarms[0]["deliveries"][0]["state"] == "delivered"

    assert wait_until(alarm_delivered, 5.0), "the alarm waited behind the troubles"
    assert gated.answered == ["alarm"]  # every trouble is still held or queued
    assert gated.arrived == ["trouble", "alarm"]  # the queued troubles did not go before it either
    gated.release()
    assert gated.wait(lambda: len(gated.answered) == 6, 10.0), gated.answered
    assert gated.answered[0] == "alarm"
    assert sorted(gated.arrived) == ["alarm"] + ["trouble"] * 5


def test_a_restarted_hub_does_not_resend_delivered_troubles(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, receiver: Receiver
) -> None:
    raw = config(tmp_path, broker, [http(receiver.url)])
    hub = start_hub(raw)
    publisher.publish(topic("panic_button", "btn-1", "telemetry"), {"battery_pct": 80, "tamper": True})
    receiver.state.wait_for(1, 5.0)
    assert wait_until(lambda: troubles_of(hub, "btn-1", "tamper")[0]["state"] == "delivered", 5.0)
    hub.stop()
    again = start_hub(raw)
    # A new trouble after the restart: once it has arrived, a resend of the old one (due first) would have too.
    publisher.publish(topic("panic_button", "btn-2", "telemetry"), {"battery_pct": 80, "tamper": True})
    assert wait_until(lambda: any(r.body["subject"] == "btn-2" for r in receiver.state.received), 5.0)
    assert [(r.body["subject"], r.duplicate) for r in receiver.state.received] == [("btn-1", False), ("btn-2", False)]
    assert [r["attempts"] for r in troubles_of(again, "btn-1", "tamper")] == [1]


def test_troubles_are_not_sent_when_switched_off(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, receiver: Receiver
) -> None:
    site_wide_off = config(tmp_path / "a", broker, [http(receiver.url)], send_troubles=False)
    http_default = http(receiver.url)
    del http_default["troubles"]  # off by default for HTTP: a 110 receiver built for alarms only
    for raw in (site_wide_off, config(tmp_path / "b", broker, [http_default])):
        hub = start_hub(raw)
        publisher.publish(topic("panic_button", "btn-1", "telemetry"), {"battery_pct": 80, "tamper": True})

        def opened(hub: Hub = hub) -> bool:
            return bool(hub.health_store.list_faults(subject="btn-1"))

        assert wait_until(opened, 5.0)
        assert troubles_of(hub, "btn-1", "tamper") == []
        publisher.publish(topic("panic_button", "btn-1", "telemetry"), OK_TELEMETRY)
        hub.stop()
    assert receiver.state.received == []


# --- the outbox's schema migration ----------------------------------------------------------------------------

_V1_OUTBOX = """
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    alarm_id TEXT NOT NULL REFERENCES alarms(id),
    endpoint TEXT NOT NULL,
    {extra}
    state TEXT NOT NULL,
    priority INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_attempt_at TEXT,
    next_attempt_at TEXT,
    last_error TEXT,
    http_status INTEGER,
    delivered_at TEXT,
    receipt TEXT,
    latency_ms REAL,
    UNIQUE (alarm_id, endpoint{unique})
);
CREATE INDEX outbox_due ON outbox(endpoint, state, priority, created_at);
"""


@pytest.mark.parametrize("with_event", [True, False], ids=["schema-1", "before-restores"])
def test_an_existing_database_file_is_migrated_with_its_rows(tmp_path: Path, with_event: bool) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    extra = "event TEXT NOT NULL DEFAULT 'alarm', position INTEGER NOT NULL DEFAULT 0," if with_event else ""
    old.executescript(
        _SCHEMA + _V1_OUTBOX.format(extra=extra, unique=", event" if with_event else "") + "PRAGMA user_version = 0;"
    )
    old.execute(
        "INSERT INTO alarms (id, device_id, kind, priority, state, reason, detail, device, occurred_at, raised_at,"
        " last_trigger_at) VALUES ('a-1', 'btn-1', 'panic', 1, 'open', 'pressed', '{}', '{}', 't', 't', 't')"
    )
    old.execute(
        "INSERT INTO outbox (id, alarm_id, endpoint, state, priority, created_at, receipt)"
        " VALUES (7, 'a-1', 'p110', 'delivered', 1, 't', 'r-7')"
    )
    old.execute(
        "INSERT INTO delivery_attempts (outbox_id, attempt, started_at, finished_at, outcome)"
        " VALUES (7, 1, 't', 't', 'delivered')"
    )
    old.commit()
    old.close()

    store = Store(path, SystemClock())
    store.open()
    health = HealthStore(store, 24, 600)
    health.open()
    conn = store.connection()
    columns = {r[1]: r for r in conn.execute("PRAGMA table_info(outbox)").fetchall()}
    assert {"fault_id", "occurrence", "subject", "event", "position"} <= set(columns)
    assert columns["alarm_id"][3] == 0  # NOT NULL is gone
    assert conn.execute("SELECT id, alarm_id, endpoint, event, state, receipt FROM outbox").fetchall() == [
        (7, "a-1", "p110", "alarm", "delivered", "r-7")
    ]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert store.meta_get("schema_version") == "2"
    alarm = store.get_alarm("a-1")
    assert alarm["deliveries"][0]["history"][0]["outcome"] == "delivered"
    # Troubles now fit, and a second open finds nothing to do.
    now = datetime.now(UTC)
    (opened,) = health.apply_changes([FaultChange("btn-1", FaultKind.TAMPER, True, "tamper")], now)
    with store.write() as write:
        assert enqueue_trouble(write, opened.fault_id, ["p110"], None, now) == 1
    store.close_thread_connection()
    again = Store(path, SystemClock())
    again.open()
    assert [r["event"] for r in again.trouble_deliveries(opened.fault_id)] == ["trouble"]
    assert again.count("outbox") == 2


# --- hex keys -------------------------------------------------------------------------------------------------


def trouble(kind: str = "tamper", device: str = "btn-1", event: str = "trouble") -> TroubleMessage:
    return TroubleMessage(
        fault_id=3,
        occurrence=0,
        kind=kind,
        subject=device,
        device={"id": device, "kind": "panic_button", "name": "Gate", "location": {}},
        summary="device reports tamper",
        opened_at="2026-11-23T00:00:00.000000+00:00",
        occurred_at="2026-11-23T00:00:00.000000+00:00",
        sent_at="2026-11-23T00:00:00.001000+00:00",
        attempt=1,
        event=event,
    )


def endpoint(port: int, **extra: Any) -> Dc09Endpoint:
    return Dc09Endpoint.model_validate({**dc09(port), "timeout_s": 2, **extra})


def test_a_hex_key_encrypts_with_the_bytes_it_spells(scripted_peer: list[ScriptedPeer]) -> None:
    # pysiaalarm only takes keys as ASCII text, and these bytes are not text: the frame is checked by decrypting
    # it here with the `cryptography` AES primitives, as a receiver holding the binary key would.
    raw_key = bytes(range(0xE0, 0x100))  # 32 bytes, none of them printable ASCII
    key_hex = raw_key.hex()

    def ack(frame: bytes) -> bytes:
        stamp = datetime.now(UTC)
        return build_frame(
            "ACK",
            int(frame_seq(frame)),
            receiver="0",
            line="0",
            account=SIA_ACCOUNT,
            data="",
            timestamp=stamp,
            key=raw_key,
        )

    peer = ScriptedPeer(ack)
    scripted_peer.append(peer)
    fwd = Dc09Forwarder(endpoint(peer.port, key=key_hex, key_encoding="hex"), {"btn-1": 5}.__getitem__)
    delivery = fwd.send_trouble(trouble())
    assert delivery.receipt == "ACK seq 0001 rcvr R0 line L0"
    (frame,) = peer.frames
    assert frame.startswith(b"\n")
    assert b'"*SIA-DCS"0001R0L0#1234[' in frame
    sealed = bytes.fromhex(frame[frame.index(b"[") + 1 : -1].decode())
    decryptor = Cipher(algorithms.AES(raw_key), modes.CBC(bytes(16))).decryptor()
    plain = decryptor.update(sealed) + decryptor.finalize()
    assert b"|#1234|Nri5/TA005]_" in plain


@pytest.fixture
def scripted_peer() -> Iterator[list[ScriptedPeer]]:
    peers: list[ScriptedPeer] = []
    yield peers
    for peer in peers:
        peer.close()


def test_an_ascii_key_and_its_hex_form_reach_the_same_receiver(sia: ReceiverFactory) -> None:
    receiver = sia(key=KEY16)
    zones = {"btn-1": 5}.__getitem__
    as_text = Dc09Forwarder(endpoint(receiver.port, key=KEY16), zones)
    as_hex = Dc09Forwarder(endpoint(receiver.port, key=KEY16.encode().hex(), key_encoding="hex"), zones)
    assert as_hex._key == as_text._key == KEY16.encode()
    as_text.send(AlarmMessage("a-1", "panic", 1, {"id": "btn-1"}, "t", "t", "2026-11-23T00:00:00+00:00", 1, 1))
    as_hex.send_trouble(trouble())
    events = receiver.wait_for(2, 5.0)
    # pysiaalarm calls back on its own threads after the ACK, so arrival order is not theirs to keep.
    assert sorted((e.code, e.ri, e.encrypted) for e in events) == [("PA", "5", True), ("TA", "5", True)]


def test_a_codes_override_replaces_a_code_the_receiver_does_not_know(sia: ReceiverFactory) -> None:
    # pysiaalarm's Contact ID table has no 384 (RF low battery): it ACKs the frame but reads it as SIA YN, "invalid
    # report". The endpoint's `codes:` row sends low battery as 302 (low system battery), which it reads as YT/YR.
    receiver = sia()
    zones = {"btn-1": 5}.__getitem__
    Dc09Forwarder(endpoint(receiver.port, format="adm-cid"), zones).send_trouble(trouble("low_battery"))
    override = {"low_battery": {"cid": 302, "sia": "YT", "sia_restore": "YR"}}
    fixed = Dc09Forwarder(endpoint(receiver.port, format="adm-cid", codes=override), zones)
    fixed.send_trouble(trouble("low_battery"))
    fixed.send_trouble(trouble("low_battery", event="trouble_restore"))
    events = receiver.wait_for(3, 5.0)
    assert sorted((e.event_qualifier, e.event_type, e.code, e.ri) for e in events) == [
        ("1", "302", "YT", "005"),
        ("1", "384", "YN", "005"),
        ("3", "302", "YR", "005"),
    ]


@pytest.mark.parametrize("size", [16, 24, 32])
def test_key_bytes_decode_a_hex_key_of_each_aes_size(size: int) -> None:
    key = os.urandom(size).hex()
    assert Dc09Endpoint.model_validate({**dc09(1), "key": key, "key_encoding": "hex"}).key_bytes() == bytes.fromhex(key)
