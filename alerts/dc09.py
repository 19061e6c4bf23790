"""SIA DC-09 forwarding: one alarm or device trouble goes to an alarm receiving centre as one DC-09 frame over TCP or
UDP, and the centre's answer says whether it arrived; also the supervision (NULL) frames and periodic test reports.

The frame format itself (CRC, encryption, building and reading frames, sequence numbers) is `alerts.dc09_frame`;
the event codes are `alerts.dc09_codes`.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from alerts.dc09_codes import (
    CID_MAX_ZONE,
    DEFAULT_CODES,
    PERIODIC_TEST_CID,
    PERIODIC_TEST_SIA,
    Code,
    manual_test_event,
    trouble_key,
)
from alerts.dc09_codes import EventCodes as EventCodes  # re-exported: tests and callers know them from here
from alerts.dc09_codes import map_event as map_event
from alerts.dc09_frame import Response, ResponseError, take_answer
from alerts.dc09_frame import SequenceAllocator as SequenceAllocator  # re-exported, as before the frame module
from alerts.dc09_frame import SequenceExhausted as SequenceExhausted
from alerts.dc09_frame import build_frame as build_frame
from alerts.dc09_frame import crc16_arc as crc16_arc
from alerts.dc09_frame import parse_response as parse_response
from alerts.forwarders import AlarmMessage, Delivery, PermanentForwardError, RetryableForwardError
from alerts.troubles import TroubleMessage
from hub.config import Dc09Endpoint

log = logging.getLogger(__name__)

_LINK_TEST_KEY = "(link test)"  # supervision frames share one number until one of them is ACKed
_TEST_REPORT_KEY = "(test report)"


class Dc09Forwarder:
    """Sends alarms and device troubles to a DC-09 receiver: one connection (or datagram socket) and one frame per
    attempt.

    A connection per attempt keeps concurrent sends apart: a NAK always carries sequence 0000, so on a shared
    connection it could not be told which frame it refuses. Thread-safe; the outbox calls `send` from a pool.
    """

    def __init__(
        self,
        endpoint: Dc09Endpoint,
        zone_of: Callable[[str], int],
        *,
        allocator: SequenceAllocator | None = None,
        now: Callable[[], datetime] | None = None,
        codes: Callable[[str, bool, int], EventCodes] | None = None,
    ) -> None:
        self.name = endpoint.name
        self._endpoint = endpoint
        self._key = endpoint.key_bytes()
        # The endpoint's `codes:` rows replace the defaults row by row.
        self._table: dict[str, Code] = {
            **DEFAULT_CODES,
            **{kind: Code(c.cid, c.sia, c.sia_restore) for kind, c in endpoint.codes.items()},
        }
        self._message_id = "SIA-DCS" if endpoint.format == "sia-dcs" else "ADM-CID"
        self._zone_of = zone_of
        self._allocator = allocator or SequenceAllocator()
        self._now = now or (lambda: datetime.now(UTC))
        self._codes = codes or (lambda kind, restore, zone: map_event(kind, restore, zone, self._table))
        self._lock = threading.Lock()
        self._offset = timedelta(0)

    @property
    def clock_offset_s(self) -> float:
        """Receiver clock minus ours, as learnt from its last NAK; added to every timestamp sent."""
        with self._lock:
            return self._offset.total_seconds()

    def send(self, message: AlarmMessage) -> Delivery:
        zone = self._zone(str(message.device.get("id", "")), f"alarm {message.alarm_id}")
        if message.event == "test":
            return self._event(message.idempotency_key, manual_test_event(zone))
        return self._event(message.idempotency_key, self._codes(message.kind, message.event == "restore", zone))

    def send_trouble(self, message: TroubleMessage) -> Delivery:
        """A device trouble (or its restore) as its trouble code on the device's zone; zone 0 for the hub's own."""
        device = message.device
        zone = 0 if device is None else self._zone(str(device.get("id", "")), f"trouble {message.idempotency_key}")
        key = trouble_key(message.kind, None if device is None else str(device.get("kind")))
        codes = map_event(key, message.event == "trouble_restore", zone, self._table, trouble=True)
        return self._event(message.idempotency_key, codes)

    def _event(self, key: str, codes: EventCodes) -> Delivery:
        event = codes.sia if self._message_id == "SIA-DCS" else codes.cid
        data = f"#{self._endpoint.account}|{event}"
        seq = self._sequence(key)
        try:
            response, _ = self._transact(self._message_id, seq, data)
        except PermanentForwardError:
            self._allocator.release(key)
            raise
        # A RetryableForwardError keeps the number held: the receiver may have the frame, so the resend reuses it.
        self._allocator.release(key)
        return Delivery(0, _receipt(response, seq))

    def link_test(self) -> float:
        """Send a NULL (supervision) frame; the round trip in seconds, or RetryableForwardError."""
        seq = self._sequence(_LINK_TEST_KEY)
        try:
            _, rtt = self._transact("NULL", seq, "")
        except PermanentForwardError as exc:
            raise RetryableForwardError(f"link test refused: {exc}") from exc
        self._allocator.release(_LINK_TEST_KEY)
        return rtt

    def test_report(self) -> float:
        """Send the periodic test report (Contact ID 602 / SIA RP, zone 0); the round trip in seconds."""
        event = PERIODIC_TEST_SIA if self._message_id == "SIA-DCS" else PERIODIC_TEST_CID
        seq = self._sequence(_TEST_REPORT_KEY)
        try:
            _, rtt = self._transact(self._message_id, seq, f"#{self._endpoint.account}|{event}")
        except PermanentForwardError as exc:
            raise RetryableForwardError(f"test report refused: {exc}") from exc
        self._allocator.release(_TEST_REPORT_KEY)
        return rtt

    def close(self) -> None:
        """Nothing stays open between attempts."""

    # --- internals ---

    def _zone(self, device_id: str, what: str) -> int:
        try:
            zone = int(self._zone_of(device_id))
        except (LookupError, ValueError, TypeError):
            log.warning("DC-09 %s: device %r has no zone; %s goes as zone 0", self.name, device_id, what)
            return 0
        if not 0 <= zone <= CID_MAX_ZONE:
            # Contact ID has three digits; SIA could carry more, but one zone plan for both formats is simpler.
            log.warning("DC-09 %s: zone %d of device %r exceeds 999; sent as zone 0", self.name, zone, device_id)
            return 0
        return zone

    def _sequence(self, key: str) -> int:
        try:
            return self._allocator.acquire(key)
        except SequenceExhausted as exc:
            raise RetryableForwardError(str(exc)) from exc
        except Exception as exc:
            # The persist hook failed: sending a number that a restart could repeat risks a receiver dropping a
            # later alarm as a duplicate, so this attempt waits for the outbox's retry instead.
            raise RetryableForwardError(f"could not record the sequence number: {type(exc).__name__}: {exc}") from exc

    def _stamp(self) -> datetime:
        with self._lock:
            return self._now() + self._offset

    def _frame(self, message_id: str, seq: int, data: str) -> bytes:
        e = self._endpoint
        return build_frame(
            message_id,
            seq,
            receiver=e.receiver,
            line=e.line,
            account=e.account,
            data=data,
            timestamp=self._stamp(),
            key=self._key,
        )

    def _transact(self, message_id: str, seq: int, data: str) -> tuple[Response, float]:
        """Send, and on a NAK that carries the receiver's time, resend once with that time; ACK or raise."""
        response, rtt = self._round_trip(self._frame(message_id, seq, data), seq)
        if response.kind == "NAK":
            if response.timestamp is None:
                raise RetryableForwardError(f"NAK for seq {seq:04d} without the receiver's time (unknown account?)")
            with self._lock:
                self._offset = response.timestamp - self._now()
                offset = self._offset.total_seconds()
            log.warning(
                "DC-09 %s: NAK for seq %04d; receiver clock is %+.0f s from ours, resending", self.name, seq, offset
            )
            response, rtt = self._round_trip(self._frame(message_id, seq, data), seq)
            if response.kind == "NAK":
                raise RetryableForwardError(
                    f"NAK again for seq {seq:04d} after correcting the timestamp by {offset:+.0f} s "
                    "(the receiver refuses the frame: account, key or format?)"
                )
        if response.kind == "DUH":
            raise PermanentForwardError(f"DUH for seq {seq:04d}: the receiver cannot process {message_id} [{data}]")
        if self._key is not None and not response.encrypted:
            log.warning("DC-09 %s: unencrypted %s to encrypted seq %04d", self.name, response.kind, seq)
        return response, rtt

    def _round_trip(self, frame: bytes, seq: int) -> tuple[Response, float]:
        e = self._endpoint
        started = time.monotonic()
        deadline = started + e.timeout_s
        try:
            if e.protocol == "udp":
                response = self._over_udp(frame, seq, deadline)
            else:
                response = self._over_tcp(frame, seq, deadline)
        except TimeoutError as exc:
            raise RetryableForwardError(f"no answer to seq {seq:04d} within {e.timeout_s:g} s") from exc
        except OSError as exc:
            raise RetryableForwardError(f"connection failed: {type(exc).__name__}: {exc}") from exc
        return response, time.monotonic() - started

    def _over_tcp(self, frame: bytes, seq: int, deadline: float) -> Response:
        e = self._endpoint
        with socket.create_connection((e.host, e.port), timeout=_remaining(deadline)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(frame)  # one frame per write: pysiaalarm parses each read on its own
            buffer = b""
            while True:
                sock.settimeout(_remaining(deadline))
                chunk = sock.recv(1024)
                if not chunk:
                    raise RetryableForwardError(f"receiver closed the connection without answering seq {seq:04d}")
                buffer += chunk
                while (answer := take_answer(buffer)) is not None:
                    raw, buffer = answer
                    response = self._match(raw, seq)
                    if response is not None:
                        return response

    def _over_udp(self, frame: bytes, seq: int, deadline: float) -> Response:
        e = self._endpoint
        family, kind, proto, _, address = socket.getaddrinfo(e.host, e.port, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, kind, proto) as sock:
            sock.connect(address)  # a connected socket hears only this receiver, and gets ICMP refusals
            sock.send(frame)
            while True:
                sock.settimeout(_remaining(deadline))
                response = self._match(sock.recv(4096), seq)
                if response is not None:
                    return response

    def _match(self, raw: bytes, seq: int) -> Response | None:
        """The answer to `seq`, None for an answer to some other frame; RetryableForwardError if garbled."""
        try:
            response = parse_response(raw, self._key)
        except ResponseError as exc:
            raise RetryableForwardError(f"garbled answer to seq {seq:04d}: {exc}") from exc
        # NAK carries 0000; a bare answer carries nothing: on a connection of our own, both answer our frame.
        if response.kind == "NAK" or response.sequence is None:
            return response
        if response.sequence != seq or (response.account not in (None, self._endpoint.account)):
            log.warning(
                "DC-09 %s: ignoring %s seq %04d #%s", self.name, response.kind, response.sequence, response.account
            )
            return None
        return response


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("deadline passed")
    return left


def _receipt(response: Response, seq: int) -> str:
    return f"{response.kind} seq {seq:04d} rcvr {response.receiver or '-'} line {response.line or '-'}"
