"""A local 110-style receiving endpoint for the demo and tests: checks the signature, de-duplicates, answers a receipt.

It speaks the hub's documented HTTP contract from the other side: POST JSON with `Idempotency-Key` and
`X-Hub-Signature-256`; 200 with `{"receipt": ...}` on acceptance (the same receipt again for a repeat of the
same alarm id), 401 for a bad signature, 400 for a body that is not the contract. Test signals of presses on test
(`event: test`, `test: true`, keyed `<alarm_id>:test`) are accepted and logged as tests; link tests (`event:
link_test`, keyed `link_test:<sent_at>`, or a GET) are answered and counted apart. Device troubles
(`event: trouble | trouble_restore`, keyed `trouble:<fault_id>.<occurrence>[:restore]`) are accepted and logged alike.
It also plays the district bureau's endpoint for the monthly safety report (`event: monthly_report`, keyed
`monthly_report:<site id>:<YYYY-MM>`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

REQUIRED = (
    "alarm_id",
    "kind",
    "priority",
    "site",
    "device",
    "occurred_at",
    "raised_at",
    "sent_at",
    "attempt",
)
TROUBLE_REQUIRED = (
    "fault_id",
    "occurrence",
    "kind",
    "subject",
    "site",
    "device",
    "opened_at",
    "occurred_at",
    "sent_at",
    "attempt",
)
TROUBLE_EVENTS = ("trouble", "trouble_restore")


@dataclass(frozen=True, slots=True)
class Received:
    """One accepted POST."""

    body: dict[str, Any]
    raw: bytes
    headers: dict[str, str]
    receipt: str
    duplicate: bool
    at: datetime
    at_mono: float


@dataclass
class ReceiverState:
    """What the receiver has seen; shared with the handler threads."""

    secret: bytes | None
    received: list[Received] = field(default_factory=list)
    receipts: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(init=False)
    # Tests set these to play a receiver that is failing.
    fail_with: int | None = None
    hold_s: float = 0.0
    posts: int = 0
    link_tests: int = 0  # link_test POSTs and health GETs answered 200 (kept apart from `received`)

    def __post_init__(self) -> None:
        self.arrived = threading.Condition(self.lock)

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        """Block until `count` posts were accepted (or the timeout passes); returns what arrived."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def wait_for_posts(self, count: int, timeout: float) -> bool:
        """Block until `count` POSTs started arriving, accepted or not."""
        with self.arrived:
            return self.arrived.wait_for(lambda: self.posts >= count, timeout)

    def wait_for_link_tests(self, count: int, timeout: float) -> bool:
        """Block until `count` link tests were answered 200."""
        with self.arrived:
            return self.arrived.wait_for(lambda: self.link_tests >= count, timeout)

    def unique_alarm_ids(self) -> set[str]:
        with self.lock:
            return {r.body["alarm_id"] for r in self.received if r.body.get("event", "alarm") == "alarm"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("receiver: %s", format % args)

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        """The health URL a link test may GET instead of POSTing: 200 unless told to fail."""
        state = self.server.state
        if state.fail_with is not None:
            self._answer(state.fail_with, {"error": "receiver told to fail"})
            return
        with state.arrived:
            state.link_tests += 1
            state.arrived.notify_all()
        self._answer(200, {"ok": True})

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        state = self.server.state
        length = int(self.headers.get("Content-Length", "0") or 0)
        raw = self.rfile.read(length)
        with state.arrived:
            state.posts += 1
            state.arrived.notify_all()
        if state.hold_s:
            time.sleep(state.hold_s)
        if state.fail_with is not None:
            self._answer(state.fail_with, {"error": "receiver told to fail"})
            return
        if state.secret is not None:
            expected = "sha256=" + hmac.new(state.secret, raw, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, self.headers.get("X-Hub-Signature-256", "")):
                self._answer(401, {"error": "bad signature"})
                return
        try:
            body = json.loads(raw)
        except ValueError:
            self._answer(400, {"error": "body is not JSON"})
            return
        event = body.get("event", "alarm") if isinstance(body, dict) else None
        if event == "link_test":
            self._link_test(body)
            return
        if event == "monthly_report":
            self._monthly_report(body, raw)
            return
        trouble = event in TROUBLE_EVENTS
        required = TROUBLE_REQUIRED if trouble else REQUIRED
        missing = [k for k in required if not isinstance(body, dict) or k not in body]
        if missing:
            self._answer(400, {"error": f"missing {', '.join(missing)}"})
            return
        if trouble:
            restore = ":restore" if event == "trouble_restore" else ""
            key = f"trouble:{body['fault_id']}.{body['occurrence']}{restore}"
        else:
            key = body["alarm_id"] if event == "alarm" else f"{body['alarm_id']}:{event}"
        if self.headers.get("Idempotency-Key") != key:
            self._answer(
                400,
                {
                    "error": "Idempotency-Key must be alarm_id (alarm_id:restore for a restore), or "
                    "trouble:<fault_id>.<occurrence> (with :restore for a trouble_restore)"
                },
            )
            return
        now = datetime.now(UTC)
        with state.arrived:
            duplicate = key in state.receipts
            receipt = state.receipts.setdefault(key, f"110-{len(state.receipts) + 1:06d}")
            state.received.append(
                Received(body, raw, dict(self.headers.items()), receipt, duplicate, now, time.monotonic())
            )
            state.arrived.notify_all()
        if not duplicate and trouble:
            device = body["device"] or {}
            log.warning(
                "110 RECEIVED %s %s on %s (%s, %s), receipt %s",
                event,
                body["kind"],
                body["subject"],
                device.get("name", "the hub itself"),
                body.get("summary", ""),
                receipt,
            )
        elif not duplicate and event == "test":
            log.warning("110 RECEIVED test signal (not an alarm) %s from %s", body["kind"], body["device"].get("name"))
        elif not duplicate and event == "restore":
            log.warning("110 RECEIVED restore of alarm %s (%s)", body["alarm_id"], body.get("disposition"))
        elif not duplicate:
            device = body["device"]
            loc = device.get("location", {})
            log.warning(
                "110 RECEIVED %s alarm from %s: %s (%s %s %s), receipt %s",
                body["kind"],
                body["site"].get("name"),
                device.get("name"),
                loc.get("building"),
                loc.get("floor"),
                loc.get("room"),
                receipt,
            )
        self._answer(200, {"receipt": receipt, "duplicate": duplicate})

    def _monthly_report(self, body: dict[str, Any], raw: bytes) -> None:
        state = self.server.state
        missing = [k for k in ("site", "month", "queued_at", "report") if k not in body]
        if missing:
            self._answer(400, {"error": f"missing {', '.join(missing)}"})
            return
        key = f"monthly_report:{body['site'].get('id')}:{body['month']}"
        if self.headers.get("Idempotency-Key") != key:
            self._answer(400, {"error": "Idempotency-Key of a monthly report must be monthly_report:<site>:<month>"})
            return
        with state.arrived:
            duplicate = key in state.receipts
            receipt = state.receipts.setdefault(key, f"bureau-{len(state.receipts) + 1:06d}")
            state.received.append(
                Received(body, raw, dict(self.headers.items()), receipt, duplicate, datetime.now(UTC), time.monotonic())
            )
            state.arrived.notify_all()
        if not duplicate:
            log.warning("BUREAU RECEIVED monthly report %s of %s, receipt %s", body["month"], body["site"], receipt)
        self._answer(200, {"receipt": receipt, "duplicate": duplicate})

    def _link_test(self, body: dict[str, Any]) -> None:
        state = self.server.state
        if "site" not in body or "sent_at" not in body:
            self._answer(400, {"error": "a link test needs site and sent_at"})
            return
        if self.headers.get("Idempotency-Key") != f"link_test:{body['sent_at']}":
            self._answer(400, {"error": "Idempotency-Key of a link test must be link_test:<sent_at>"})
            return
        with state.arrived:
            state.link_tests += 1
            state.arrived.notify_all()
        self._answer(200, {"receipt": "link-test"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: ReceiverState) -> None:
        self.state = state
        super().__init__(address, _Handler)


class Receiver:
    """The receiver as a background thread, on 127.0.0.1 unless told otherwise."""

    def __init__(self, secret: str | None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = ReceiverState(secret.encode() if secret else None)
        self._server = _Server((host, port), self.state)
        self.port: int = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}/alarms"
        self._thread: threading.Thread | None = None

    def start(self) -> Receiver:
        self._thread = threading.Thread(target=self._server.serve_forever, name="receiver", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
