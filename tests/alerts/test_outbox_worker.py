"""The outbox worker in a real hub (real Mosquitto, real HTTP receivers on 127.0.0.1, a real SQLite file): a close
while the POST to 110 is in flight, back-off kept across a restart, a recovered path sending its waiting alarms at
once, and a store that cannot be read showing on /healthz and in /metrics."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerts.dc09 import build_frame
from alerts.outbox import MIN_WAIT_S, POLL_S, next_wake_s
from hub.app import Hub
from hub.core.clock import from_iso
from hub.devtools.broker import Mosquitto, free_port
from hub.devtools.receiver import Receiver
from tests.alerts.test_dc09 import ACCOUNT, ScriptedPeer, frame_seq
from tests.conftest import RECEIVER_SECRET, TOKENS, HubFactory, Publisher, base_config, topic, wait_until

WAIT = 10.0  # the bound of every wait; a healthy hub takes milliseconds


@dataclass(frozen=True, slots=True)
class Post:
    event: str
    key: str
    body: dict[str, Any]
    at: datetime


class HeldReceiver:
    """An HTTP receiver on 127.0.0.1 that holds the first alarm POST until `release(status)` and answers every other
    POST at once with 200."""

    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.arrived: list[Post] = []
        self.answered: list[tuple[str, int]] = []
        self._gate = threading.Event()
        self._status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                post = Post(str(body["event"]), str(self.headers["Idempotency-Key"]), body, datetime.now(UTC))
                with outer.changed:
                    first = not outer.arrived
                    outer.arrived.append(post)
                    outer.changed.notify_all()
                status = 200
                if first:
                    outer._gate.wait(WAIT * 2)  # bounded: a test that fails must still end
                    status = outer._status
                data = json.dumps({"receipt": f"r-{len(outer.arrived)}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                with outer.changed:
                    outer.answered.append((post.event, status))
                    outer.changed.notify_all()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alarms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, predicate: Callable[[], bool], timeout: float = WAIT) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)

    def release(self, status: int) -> None:
        self._status = status
        self._gate.set()

    def stop(self) -> None:
        self._gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def held() -> Iterator[HeldReceiver]:
    receiver = HeldReceiver()
    yield receiver
    receiver.stop()


def test_the_worker_sleeps_until_the_earliest_backoff_ends_and_never_longer_than_a_poll() -> None:
    now = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    assert next_wake_s(None, now) == POLL_S
    assert next_wake_s(now + timedelta(seconds=0.25), now) == 0.25
    assert next_wake_s(now + timedelta(hours=1), now) == POLL_S
    assert next_wake_s(now - timedelta(seconds=1), now) == MIN_WAIT_S


def deliveries(hub: Hub, alarm_id: str) -> list[tuple[str, str]]:
    return [(d["event"], d["state"]) for d in hub.store.get_alarm(alarm_id)["deliveries"]]


def close_alarm(hub: Hub, alarm_id: str) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['guard']}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{hub.api_port}", headers=headers, timeout=WAIT) as guard:
        guard.post(f"/api/v1/alarms/{alarm_id}/ack").raise_for_status()
        closed = guard.post(f"/api/v1/alarms/{alarm_id}/close", json={"note": "drill", "disposition": "drill"})
        closed.raise_for_status()


def held_hub(tmp_path: Path, broker: Mosquitto, start_hub: HubFactory, url: str) -> Hub:
    raw = base_config(tmp_path, broker.port, url, retry_base_s=0.05, retry_max_s=0.05)
    raw["forwarding"]["endpoints"][0]["timeout_s"] = 30  # the POST is held across the close, however slow the test
    return start_hub(raw, api=True)


def test_an_alarm_closed_while_its_post_is_held_gets_its_restore_once_the_post_succeeds(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, held: HeldReceiver
) -> None:
    hub = held_hub(tmp_path, broker, start_hub, held.url)
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    assert held.wait(lambda: [p.event for p in held.arrived] == ["alarm"]), held.arrived
    alarm_id = held.arrived[0].body["alarm_id"]
    close_alarm(hub, alarm_id)
    assert deliveries(hub, alarm_id) == [("alarm", "cancelled")]  # the close found the POST in flight

    held.release(200)
    assert held.wait(lambda: [p.event for p in held.arrived] == ["alarm", "restore"]), held.arrived
    restore = held.arrived[1]
    assert restore.key == f"{alarm_id}:restore"
    assert (restore.body["alarm_id"], restore.body["disposition"]) == (alarm_id, "drill")
    assert restore.body["closed_at"] is not None
    assert wait_until(lambda: deliveries(hub, alarm_id) == [("alarm", "delivered"), ("restore", "delivered")], WAIT)


def test_an_alarm_closed_while_its_post_is_held_stays_cancelled_when_the_post_fails(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, held: HeldReceiver
) -> None:
    hub = held_hub(tmp_path, broker, start_hub, held.url)
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    assert held.wait(lambda: len(held.arrived) == 1)
    alarm_id = held.arrived[0].body["alarm_id"]
    close_alarm(hub, alarm_id)
    held.release(503)

    def recorded() -> bool:
        return len(hub.store.get_alarm(alarm_id)["deliveries"][0]["history"]) == 1

    assert wait_until(recorded, WAIT)
    (leg,) = hub.store.get_alarm(alarm_id)["deliveries"]
    assert (leg["event"], leg["state"], leg["next_attempt_at"]) == ("alarm", "cancelled", None)
    assert [h["outcome"] for h in leg["history"]] == ["retry"]
    # A next alarm goes and comes back; a retry of the cancelled leg (due 50 ms after its 503) would have gone too.
    publisher.publish(topic("panic_button", "btn-2", "event"), {"pressed": True, "seq": 1})
    assert held.wait(lambda: len(held.answered) == 2), held.answered
    assert [p.body["device"]["id"] for p in held.arrived] == ["btn-1", "btn-2"]
    assert [p.event for p in held.arrived] == ["alarm", "alarm"]


def test_a_dc09_alarm_closed_while_its_frame_awaits_the_ack_gets_its_restore_once_acked(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    # A scripted DC-09 receiver on 127.0.0.1 (pysiaalarm's cannot be told to hold an ACK): it ACKs every frame, the
    # first alarm only once the gate opens.
    gate = threading.Event()
    seen_alarm = threading.Event()

    def reply(frame: bytes) -> bytes:
        if b"/PA" in frame and not seen_alarm.is_set():
            seen_alarm.set()
            gate.wait(WAIT * 2)  # bounded: a test that fails must still end
        return build_frame(
            "ACK", int(frame_seq(frame)), receiver="0", line="0", account=ACCOUNT, data="", timestamp=None
        )

    peer = ScriptedPeer(reply)
    try:
        raw = base_config(tmp_path, broker.port, None, retry_base_s=0.05, retry_max_s=0.05)
        raw["forwarding"]["endpoints"] = [
            {
                "name": "arc",
                "kind": "dc09",
                "host": "127.0.0.1",
                "port": peer.port,
                "account": ACCOUNT,
                "timeout_s": 30,  # the frame is held across the close, however slow the test
                "link_test_s": 3600,  # no link test waits behind the held frame
                "troubles": False,
            }
        ]
        hub = start_hub(raw, api=True)
        publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
        assert seen_alarm.wait(WAIT)
        (alarm,) = hub.store.list_alarms()
        close_alarm(hub, alarm["id"])
        assert deliveries(hub, alarm["id"]) == [("alarm", "cancelled")]
        gate.set()
        assert wait_until(
            lambda: deliveries(hub, alarm["id"]) == [("alarm", "delivered"), ("restore", "delivered")], WAIT
        )
        events = [f for f in peer.frames if b"SIA-DCS" in f]
        assert [b"/PA" in f for f in events] == [True, False]
        assert b"/PH" in events[1]  # the panic's restore code
    finally:
        peer.close()


def test_a_restart_in_the_middle_of_backoff_neither_resends_at_once_nor_forgets(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, receiver: Receiver
) -> None:
    # A back-off of 5 to 10 s: long enough for the restart to fall inside it on a busy machine.
    raw = base_config(tmp_path, broker.port, receiver.url, retry_base_s=10.0, retry_max_s=10.0)
    receiver.state.fail_with = 503
    hub = start_hub(raw)
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})

    def first_attempt() -> dict[str, Any] | None:
        alarms = hub.store.list_alarms()
        leg = alarms[0]["deliveries"][0] if alarms else None
        return leg if leg is not None and leg["attempts"] == 1 else None

    assert wait_until(lambda: first_attempt() is not None, WAIT)
    leg = first_attempt()
    assert leg is not None
    alarm_id = hub.store.list_alarms()[0]["id"]
    retry_at = from_iso(leg["next_attempt_at"])
    hub.stop()
    receiver.state.fail_with = None

    again = start_hub(raw)
    restarted_at = datetime.now(UTC)
    assert restarted_at < retry_at, "the restart took longer than the back-off: nothing left to check"
    (got,) = receiver.state.wait_for(1, timeout=2 * WAIT)
    assert got.at >= retry_at, f"resent {(retry_at - got.at).total_seconds():.3f} s before its back-off ended"
    assert (got.body["alarm_id"], got.body["attempt"]) == (alarm_id, 2)
    assert receiver.state.posts == 2
    assert wait_until(lambda: deliveries(again, alarm_id) == [("alarm", "delivered")], WAIT)


def test_a_path_that_recovers_sends_every_alarm_waiting_on_it_at_once(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    port = free_port()  # nothing listens there yet: connections are refused
    # A back-off of 15 to 30 s: an alarm sent sooner went because the path recovered, not because its wait ended.
    raw = base_config(tmp_path, broker.port, f"http://127.0.0.1:{port}/alarms", retry_base_s=30.0, retry_max_s=30.0)
    hub = start_hub(raw)
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})

    def waiting() -> list[str]:
        return [a["id"] for a in hub.store.list_alarms() if a["deliveries"][0]["attempts"] == 1]

    assert wait_until(lambda: len(waiting()) == 1, WAIT)
    (first,) = waiting()
    back = Receiver(RECEIVER_SECRET, port=port).start()
    try:
        publisher.publish(topic("panic_button", "btn-2", "event"), {"pressed": True, "seq": 1})
        got = back.state.wait_for(2, timeout=WAIT)
        assert len(got) == 2, "the alarm waiting on back-off did not go when the path recovered"
        assert got[1].body["alarm_id"] == first
        assert got[1].body["attempt"] == 2
        assert (got[1].at - got[0].at).total_seconds() < 5.0
    finally:
        back.stop()


def test_an_outbox_that_cannot_read_the_store_is_counted_and_unhealthy_until_a_read_succeeds(
    broker: Mosquitto,
    publisher: Publisher,
    start_hub: HubFactory,
    receiver: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, receiver.url), api=True)
    # The injected fault: the store's outbox read raises the error SQLite raises for a failing disk. A real failing
    # disk cannot be made here without failing every other reader and writer of the file with it.
    broken = threading.Event()
    real_read = hub.store.due_outbox

    def due_outbox(*args: Any, **kwargs: Any) -> Any:
        if broken.is_set():
            raise sqlite3.OperationalError("disk I/O error")
        return real_read(*args, **kwargs)

    monkeypatch.setattr(hub.store, "due_outbox", due_outbox)

    def errors() -> float:
        value = hub.metrics.registry.get_sample_value(
            "campus_hub_outbox_store_errors_total", {"endpoint": "police-110"}
        )
        return -1.0 if value is None else value

    with httpx.Client(base_url=f"http://127.0.0.1:{hub.api_port}", timeout=WAIT) as anon:
        assert anon.get("/healthz").status_code == 200
        assert errors() == 0.0
        broken.set()
        publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
        assert wait_until(lambda: anon.get("/healthz").status_code == 503, 3 * WAIT)
        body = anon.get("/healthz").json()
        assert body["reason"] == (
            "outbox-police-110 failing (OutboxReadError: outbox police-110: reading the store failed: disk I/O error)"
        )
        assert body["workers"]["outbox-police-110"] == "failing"
        assert errors() >= 3.0
        assert receiver.state.posts == 0  # the alarm is stored and waits for the outbox to read it

        broken.clear()
        assert receiver.state.wait_for(1, timeout=WAIT), "the alarm was not sent once the store could be read"
        assert wait_until(lambda: anon.get("/healthz").status_code == 200, WAIT)
        assert "reason" not in anon.get("/healthz").json()
