"""SIA DC-09 forwarding: CRC, frames and answers, event codes, sequence numbers, and delivery to a real receiver.

The receiver is pysiaalarm 3.2.2 (Home Assistant's DC-09 receiver), an independent implementation started on a free
loopback port. A small scripted TCP peer stands in only for answers pysiaalarm cannot be made to give: silence,
a reset, a garbled frame, a NAK that persists after the timestamp is corrected.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st
from pysiaalarm.account import SIAAccount
from pysiaalarm.event import NAKEvent, SIAEvent
from pysiaalarm.utils.enums import CommunicationsProtocol, MessageTypes

from alerts.dc09 import (
    Dc09Forwarder,
    EventCodes,
    SequenceAllocator,
    SequenceExhausted,
    build_frame,
    crc16_arc,
    map_event,
    parse_response,
)
from alerts.forwarders import AlarmMessage, PermanentForwardError, RetryableForwardError
from alerts.model import Disposition
from hub.config import Dc09Endpoint, HubConfig
from hub.config.loader import ConfigError, parse_config
from hub.devtools.broker import Mosquitto
from hub.store import Actor
from tests.conftest import SIA_ACCOUNT, HubFactory, Publisher, ReceiverFactory, base_config, topic, wait_until

ACCOUNT = SIA_ACCOUNT
KEY16 = "ABCDEF0123456789"
KEY32 = "0123456789ABCDEF0123456789ABCDEF"
ZONES = {"btn-1": 5, "smoke-1": 7, "temp-1": 12}


def message(alarm_id: str = "a-1", kind: str = "panic", device: str = "btn-1") -> AlarmMessage:
    return AlarmMessage(
        alarm_id=alarm_id,
        kind=kind,
        priority=1,
        device={"id": device, "kind": "panic_button", "name": "Gate", "location": {}},
        occurred_at="2026-11-23T00:00:00.000000+00:00",
        raised_at="2026-11-23T00:00:00.001000+00:00",
        sent_at="2026-11-23T00:00:00.002000+00:00",
        attempt=1,
        trigger_count=1,
    )


def endpoint(port: int, **extra: Any) -> Dc09Endpoint:
    return Dc09Endpoint.model_validate(
        {"name": "arc", "kind": "dc09", "host": "127.0.0.1", "port": port, "account": ACCOUNT, "timeout_s": 2, **extra}
    )


def forwarder(port: int, **extra: Any) -> Dc09Forwarder:
    options = {k: extra.pop(k) for k in ("allocator", "now", "codes") if k in extra}
    return Dc09Forwarder(endpoint(port, **extra), ZONES.__getitem__, **options)


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- a real receiver ------------------------------------------------------------------------------------------


# --- a scripted peer, for answers a real receiver will not give -----------------------------------------------


class ScriptedPeer:
    """A TCP peer that records each frame and answers it with `reply(frame)`: bytes, None (silence) or RESET."""

    RESET = b"<reset>"

    def __init__(self, reply: Callable[[bytes], bytes | None]) -> None:
        self.frames: list[bytes] = []
        self._reply = reply
        self._stop = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.05)
        self.port = int(self._server.getsockname()[1])
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            self._open.append(conn)
            conn.settimeout(5)
            data = b""
            while b"\r" not in data:
                chunk = conn.recv(1024)
                if not chunk:
                    break
                data += chunk
            self.frames.append(data)
            answer = self._reply(data)
            if answer == self.RESET:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            elif answer is not None:
                conn.sendall(answer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._open:
            conn.close()
        self._server.close()


@pytest.fixture
def scripted() -> Iterator[Callable[[Callable[[bytes], bytes | None]], ScriptedPeer]]:
    peers: list[ScriptedPeer] = []

    def factory(reply: Callable[[bytes], bytes | None]) -> ScriptedPeer:
        peer = ScriptedPeer(reply)
        peers.append(peer)
        return peer

    yield factory
    for peer in peers:
        peer.close()


def frame_seq(frame: bytes) -> str:
    """The sequence field of a frame we sent (after `"id"`)."""
    quote = frame.index(b'"', frame.index(b'"') + 1)
    return frame[quote + 1 : quote + 5].decode()


# --- CRC --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "crc"),
    [
        (b"123456789", 0xBB3D),  # the CRC-16/ARC catalogue check value
        (b"", 0x0000),
        # Frames from real panels, as logged by pysiaalarm with matching sent and calculated CRC
        # (pysiaalarm issue #72, a Sigma S PRO; home-assistant/core issue #131728, ADM-CID).
        (b'"NULL"0000L0#008312[]', 0xD344),
        (b'"ADM-CID"0068R0L0#AAA[#AAA|3401 01 070]', 0x7788),
    ],
)
def test_crc16_arc_known_vectors(data: bytes, crc: int) -> None:
    assert crc16_arc(data) == crc


@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=200))
def test_crc16_arc_agrees_with_pysiaalarm(text: str) -> None:
    assert f"{crc16_arc(text.encode()):04X}" == SIAEvent._crc_calc(text)


# --- frames -----------------------------------------------------------------------------------------------------

AT = datetime(2026, 11, 23, 8, 15, 30, tzinfo=UTC)


def test_plain_frame_has_the_standard_layout_crc_and_length() -> None:
    frame = build_frame("SIA-DCS", 42, receiver="0", line="0", account=ACCOUNT, data="#1234|Nri5/PA005", timestamp=AT)
    body = b'"SIA-DCS"0042R0L0#1234[#1234|Nri5/PA005]_08:15:30,11-23-2026'
    assert frame == b"\n%04X%04X%s\r" % (crc16_arc(body), len(body), body)
    assert frame[5:6] == b"0"  # 0LLL
    assert int(frame[5:9], 16) == len(frame) - 10  # LF, CRC, length and CR are outside the count


def test_frame_refuses_what_the_fields_cannot_hold() -> None:
    with pytest.raises(ValueError, match="sequence"):
        build_frame("NULL", 10000, receiver="0", line="0", account=ACCOUNT, data="", timestamp=AT)
    with pytest.raises(ValueError, match="0LLL"):
        build_frame("SIA-DCS", 1, receiver="0", line="0", account=ACCOUNT, data="x" * 4096, timestamp=AT)
    with pytest.raises(ValueError, match="timestamp"):
        build_frame("NULL", 1, receiver="0", line="0", account=ACCOUNT, data="", timestamp=None, key=KEY16.encode())


@pytest.mark.parametrize(("message_id", "data"), [("SIA-DCS", "#1234|Nri5/PA005"), ("ADM-CID", "#1234|1120 01 005")])
def test_plain_frame_round_trips_through_pysiaalarms_parser(message_id: str, data: str) -> None:
    frame = build_frame(message_id, 7, receiver="3A", line="1", account=ACCOUNT, data=data, timestamp=AT)
    event = SIAEvent.from_line(frame[1:-1].decode(), {ACCOUNT: SIAAccount(ACCOUNT)})
    assert event.valid_message  # pysiaalarm's CRC over the same span agrees
    assert (event.sequence, event.receiver, event.line, event.account) == ("0007", "R3A", "L1", ACCOUNT)
    assert (event.code, event.ri) == ("PA", "005" if message_id == "ADM-CID" else "5")
    assert event.timestamp == AT


@pytest.mark.parametrize("key", [KEY16, "0123456789ABCDEF01234567", KEY32])
def test_encrypted_frame_round_trips_through_pysiaalarms_parser(key: str) -> None:
    frame = build_frame(
        "SIA-DCS", 9, receiver="0", line="0", account=ACCOUNT, data="#1234|Nri7/FA007", timestamp=AT, key=key.encode()
    )
    assert frame[9:19] == b'"*SIA-DCS"'
    event = SIAEvent.from_line(frame[1:-1].decode(), {ACCOUNT: SIAAccount(ACCOUNT, key)})
    assert event.valid_message
    assert event.encrypted
    assert (event.code, event.ri, event.timestamp) == ("FA", "7", AT)


@pytest.mark.parametrize("data_len", range(0, 40))
def test_encrypted_region_is_pad_bar_data_timestamp_in_whole_blocks(data_len: int) -> None:
    data = "#1234|" + "N" * data_len
    frame = build_frame(
        "SIA-DCS", 1, receiver="0", line="0", account=ACCOUNT, data=data, timestamp=AT, key=KEY16.encode()
    )
    sealed = bytes.fromhex(frame[frame.index(b"[") + 1 : -1].decode())
    decryptor = Cipher(algorithms.AES(KEY16.encode()), modes.CBC(bytes(16))).decryptor()
    plain = decryptor.update(sealed) + decryptor.finalize()
    tail = f"|{data}]_08:15:30,11-23-2026".encode()
    assert plain.endswith(tail)
    pad = plain[: -len(tail)]
    # DC-09 5.4.4: 1-16 pad bytes, 16 when the rest already fills whole blocks; never '|', '[' or ']'.
    assert len(pad) == 16 - len(tail) % 16
    assert not set(pad) & set(b"|[]")


def test_frames_of_the_same_event_differ_by_their_random_pad() -> None:
    def make() -> bytes:
        return build_frame(
            "NULL", 1, receiver="0", line="0", account=ACCOUNT, data="", timestamp=AT, key=KEY16.encode()
        )

    assert make() != make()


# --- answers ----------------------------------------------------------------------------------------------------


def _pysiaalarm_answer(frame: bytes, key: str | None = None) -> bytes:
    event = SIAEvent.from_line(frame[1:-1].decode(), {ACCOUNT: SIAAccount(ACCOUNT, key, allowed_timeband=None)})
    return event.create_response()


def test_parse_pysiaalarms_plain_ack() -> None:
    frame = build_frame("SIA-DCS", 42, receiver="0", line="0", account=ACCOUNT, data="#1234|Nri5/PA005", timestamp=AT)
    response = parse_response(_pysiaalarm_answer(frame))
    assert (response.kind, response.sequence, response.receiver, response.line, response.account) == (
        "ACK",
        42,
        "R0",
        "L0",
        ACCOUNT,
    )
    assert response.framed
    assert not response.encrypted


def test_parse_pysiaalarms_encrypted_ack_needs_the_key() -> None:
    frame = build_frame(
        "ADM-CID",
        43,
        receiver="0",
        line="0",
        account=ACCOUNT,
        data="#1234|1120 01 005",
        timestamp=AT,
        key=KEY16.encode(),
    )
    answer = _pysiaalarm_answer(frame, KEY16)
    response = parse_response(answer, KEY16.encode())
    assert (response.kind, response.sequence, response.encrypted) == ("ACK", 43, True)
    assert response.timestamp is not None
    assert abs((response.timestamp - datetime.now(UTC)).total_seconds()) < 5
    with pytest.raises(ValueError, match="wrong key"):
        parse_response(answer, b"X" * 16)
    with pytest.raises(ValueError, match="no key"):
        parse_response(answer)


def test_parse_pysiaalarms_duh_and_nak() -> None:
    frame = build_frame("SIA-DCS", 44, receiver="0", line="0", account=ACCOUNT, data="#1234|Nri5/ZX005", timestamp=AT)
    duh = parse_response(_pysiaalarm_answer(frame))
    assert (duh.kind, duh.sequence) == ("DUH", 44)
    nak = parse_response(NAKEvent().create_response())
    assert (nak.kind, nak.sequence, nak.account) == ("NAK", 0, None)
    assert nak.timestamp is not None
    assert abs((nak.timestamp - datetime.now(UTC)).total_seconds()) < 5
    bare = parse_response(b'"NAK"')
    assert (bare.kind, bare.framed, bare.sequence, bare.timestamp) == ("NAK", False, None, None)


def test_response_round_trip_through_build_frame() -> None:
    frame = build_frame("ACK", 17, receiver="A1", line="2", account=ACCOUNT, data="", timestamp=AT, key=KEY32.encode())
    response = parse_response(frame, KEY32.encode())
    assert (response.kind, response.sequence, response.receiver, response.line, response.timestamp) == (
        "ACK",
        17,
        "RA1",
        "L2",
        AT,
    )


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (b"\n\r", "empty"),
        (b'\nFFFF0014"ACK"0001R0L0#1234[]\r', "CRC"),
        (b'\n%04X0099"ACK"0001R0L0#1234[]\r' % crc16_arc(b'"ACK"0001R0L0#1234[]'), "length"),
        (b'\n%04X0014"BAD"0001R0L0#1234[]\r' % crc16_arc(b'"BAD"0001R0L0#1234[]'), "not an ACK"),
        (b"garbage\r", "not a DC-09 frame"),
    ],
)
def test_garbled_answers_are_refused(answer: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_response(answer)


# --- event codes ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "restore", "expected"),
    [
        ("panic", False, ("1120 01 005", "Nri5/PA005")),
        ("panic", True, ("3120 01 005", "Nri5/PH005")),
        ("fire", False, ("1111 01 005", "Nri5/FA005")),
        ("fire", True, ("3111 01 005", "Nri5/FH005")),
        ("heat", False, ("1158 01 005", "Nri5/KA005")),
        ("heat", True, ("3158 01 005", "Nri5/KH005")),
    ],
)
def test_map_event(kind: str, restore: bool, expected: tuple[str, str]) -> None:
    assert map_event(kind, restore, 5) == expected


def test_unknown_kind_is_a_logged_general_alarm(caplog: pytest.LogCaptureFixture) -> None:
    assert map_event("flood", False, 12) == EventCodes("1140 01 012", "Nri12/UA012")
    assert "flood" in caplog.text


# --- sequence numbers -------------------------------------------------------------------------------------------


def test_sequence_wraps_from_9999_to_0001() -> None:
    allocator = SequenceAllocator(last_used=9998)
    assert [allocator.acquire(k) for k in "abc"] == [9999, 1, 2]


def test_a_resend_of_the_same_alarm_keeps_its_number_until_released() -> None:
    allocator = SequenceAllocator()
    assert allocator.acquire("a") == 1
    assert allocator.acquire("a") == 1
    assert allocator.acquire("b") == 2
    allocator.release("a")
    assert allocator.acquire("a") == 3


def test_a_held_number_is_skipped_when_the_counter_comes_round() -> None:
    allocator = SequenceAllocator()
    assert allocator.acquire("waiting") == 1
    for index in range(9998):
        seq = allocator.acquire(f"k{index}")
        allocator.release(f"k{index}")
    assert seq == 9999
    assert allocator.acquire("next") == 2  # 0001 is still unacknowledged


def test_a_stale_hold_is_reclaimed_only_when_its_number_comes_round() -> None:
    clock = [0.0]
    allocator = SequenceAllocator(last_used=9998, stale_after_s=60, monotonic=lambda: clock[0])
    assert allocator.acquire("lost") == 9999
    clock[0] = 61.0
    for index in range(9998):
        assert allocator.acquire(f"k{index}") == index + 1
        allocator.release(f"k{index}")
    assert "lost" in allocator.held()  # stale, but nothing needed its number yet
    assert allocator.acquire("late") == 9999
    assert "lost" not in allocator.held()


def test_a_resent_hold_is_not_stale() -> None:
    clock = [0.0]
    allocator = SequenceAllocator(last_used=9998, stale_after_s=60, monotonic=lambda: clock[0])
    assert allocator.acquire("retrying") == 9999
    clock[0] = 50.0
    assert allocator.acquire("retrying") == 9999  # the outbox resends it
    clock[0] = 100.0
    for index in range(9998):
        allocator.acquire(f"k{index}")
        allocator.release(f"k{index}")
    assert allocator.acquire("next") == 1  # 9999 was resent 50 s ago: still held
    assert allocator.held()["retrying"] == 9999


def test_every_number_held_is_exhaustion() -> None:
    allocator = SequenceAllocator()
    for index in range(9999):
        allocator.acquire(f"k{index}")
    with pytest.raises(SequenceExhausted):
        allocator.acquire("one-too-many")


def test_numbers_are_persisted_before_use_and_a_restart_continues_after_them() -> None:
    saved: list[int] = []
    allocator = SequenceAllocator(persist=saved.append)
    assert [allocator.acquire(k) for k in "abc"] == [1, 2, 3]
    assert saved == [1, 2, 3]
    allocator.acquire("a")  # held: nothing new to persist
    assert saved == [1, 2, 3]
    restarted = SequenceAllocator(last_used=saved[-1], persist=saved.append)
    assert restarted.acquire("d") == 4


def test_a_failed_persist_leaves_the_allocator_unchanged() -> None:
    def broken(seq: int) -> None:
        raise OSError("disk full")

    allocator = SequenceAllocator(persist=broken)
    with pytest.raises(OSError, match="disk full"):
        allocator.acquire("a")
    assert allocator.last_used == 0
    assert allocator.held() == {}


def test_allocator_is_thread_safe_no_number_is_in_flight_twice() -> None:
    allocator = SequenceAllocator(last_used=9000)  # wraps during the run
    in_flight: set[int] = set()
    guard = threading.Lock()
    clashes: list[int] = []
    taken: list[list[int]] = [[] for _ in range(16)]
    start = threading.Barrier(16)

    def work(worker: int) -> None:
        start.wait(5)
        for index in range(400):
            key = f"{worker}-{index}"
            seq = allocator.acquire(key)
            with guard:
                if seq in in_flight:
                    clashes.append(seq)
                in_flight.add(seq)
            taken[worker].append(seq)
            if index % 4:  # one in four stays held, as an unacknowledged alarm would
                with guard:
                    in_flight.discard(seq)
                allocator.release(key)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    assert clashes == []
    held = allocator.held()
    assert len(held) == 16 * 100
    assert len(set(held.values())) == len(held)
    assert all(1 <= seq <= 9999 for seqs in taken for seq in seqs)


# --- delivery to a real receiver --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["sia-dcs", "adm-cid"])
@pytest.mark.parametrize("key", [None, KEY16, KEY32])
def test_alarm_reaches_pysiaalarm_with_account_code_and_zone(sia: ReceiverFactory, fmt: str, key: str | None) -> None:
    receiver = sia(key=key)
    fwd = forwarder(receiver.port, format=fmt, key=key)
    delivery = fwd.send(message(kind="fire", device="smoke-1"))
    assert delivery.http_status == 0
    assert delivery.receipt == "ACK seq 0001 rcvr R0 line L0"
    events = receiver.wait_for(1, 2.0)
    assert len(events) == 1
    event = events[0]
    assert (event.account, event.code, event.sequence, event.encrypted) == (ACCOUNT, "FA", "0001", key is not None)
    if fmt == "adm-cid":
        assert (event.event_qualifier, event.event_type, event.partition, event.ri) == ("1", "111", "01", "007")
    else:
        assert (event.ri, event.message) == ("7", "007")
    assert receiver.client.counts.valid_events == 1


def test_each_kind_arrives_as_its_code(sia: ReceiverFactory) -> None:
    receiver = sia()
    fwd = forwarder(receiver.port)
    for index, (kind, device) in enumerate(
        [("panic", "btn-1"), ("fire", "smoke-1"), ("heat", "temp-1"), ("x", "btn-1")]
    ):
        fwd.send(message(alarm_id=f"a-{index}", kind=kind, device=device))
    events = receiver.wait_for(4, 2.0)
    # pysiaalarm calls back from one thread per connection: arrival order is not send order.
    assert sorted((str(e.code), str(e.ri)) for e in events) == [("FA", "7"), ("KA", "12"), ("PA", "5"), ("UA", "5")]


def test_udp_delivery(sia: ReceiverFactory) -> None:
    receiver = sia(protocol=CommunicationsProtocol.UDP)
    delivery = forwarder(receiver.port, protocol="udp").send(message())
    assert delivery.receipt == "ACK seq 0001 rcvr R0 line L0"
    assert [(e.code, e.ri) for e in receiver.wait_for(1, 2.0)] == [("PA", "5")]


def test_stale_timestamp_is_nakked_then_corrected_by_the_receivers_time(sia: ReceiverFactory) -> None:
    receiver = sia(key=KEY16)
    skew = timedelta(seconds=-120)  # our clock is two minutes slow: outside the -40 s window
    fwd = forwarder(receiver.port, key=KEY16, now=lambda: datetime.now(UTC) + skew)
    delivery = fwd.send(message())
    assert delivery.receipt == "ACK seq 0001 rcvr R0 line L0"
    assert receiver.client.counts.error_timestamp == 1  # the first frame was refused for its time
    assert 118 <= fwd.clock_offset_s <= 122
    events = receiver.wait_for(1, 2.0)
    assert [(e.code, e.sequence) for e in events] == [("PA", "0001")]
    # The offset is kept: the next alarm is not refused first.
    fwd.send(message(alarm_id="a-2"))
    assert receiver.client.counts.error_timestamp == 1
    assert len(receiver.wait_for(2, 2.0)) == 2


def test_a_second_nak_is_retryable(scripted: Callable[[Callable[[bytes], bytes | None]], ScriptedPeer]) -> None:
    peer = scripted(lambda frame: NAKEvent().create_response())
    with pytest.raises(RetryableForwardError, match="NAK again"):
        forwarder(peer.port).send(message())
    assert len(peer.frames) == 2
    assert frame_seq(peer.frames[0]) == frame_seq(peer.frames[1]) == "0001"  # the resend is the same frame number


def test_unknown_code_gets_duh_and_is_permanent(sia: ReceiverFactory) -> None:
    receiver = sia()

    def codes(kind: str, restore: bool, zone: int) -> EventCodes:
        return EventCodes("1120 01 005", f"Nri{zone}/ZX{zone:03d}")  # ZX is no SIA code

    fwd = forwarder(receiver.port, codes=codes)
    with pytest.raises(PermanentForwardError, match="DUH") as caught:
        fwd.send(message())
    assert caught.value.http_status is None
    assert receiver.client.counts.error_code == 1
    assert receiver.events == []


def test_unknown_account_gets_a_bare_nak_and_is_retryable(sia: ReceiverFactory) -> None:
    receiver = sia(account="BEEF")
    with pytest.raises(RetryableForwardError, match="without the receiver's time"):
        forwarder(receiver.port).send(message())
    assert receiver.client.counts.error_account == 1
    assert receiver.events == []


def test_receiver_down_is_retryable() -> None:
    port = free_port()
    with pytest.raises(RetryableForwardError, match="connection failed") as caught:
        forwarder(port).send(message())
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


def test_silence_is_retryable_within_the_timeout_and_the_resend_keeps_its_number(
    scripted: Callable[[Callable[[bytes], bytes | None]], ScriptedPeer],
) -> None:
    peer = scripted(lambda frame: None)
    fwd = forwarder(peer.port, timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(RetryableForwardError, match="no answer") as caught:
        fwd.send(message("a-1"))
    assert time.monotonic() - started < 1.5
    assert isinstance(caught.value.__cause__, TimeoutError)
    with pytest.raises(RetryableForwardError):
        fwd.send(message("a-1"))
    with pytest.raises(RetryableForwardError):
        fwd.send(message("a-2"))
    assert [frame_seq(f) for f in peer.frames] == ["0001", "0001", "0002"]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (b"\n\r", "garbled"),
        (b'\nFFFF0014"ACK"0001R0L0#1234[]\r', "garbled"),
        (ScriptedPeer.RESET, "connection failed|closed the connection"),
    ],
)
def test_garbled_answer_or_reset_is_retryable(
    scripted: Callable[[Callable[[bytes], bytes | None]], ScriptedPeer], answer: bytes, problem: str
) -> None:
    peer = scripted(lambda frame: answer)
    with pytest.raises(RetryableForwardError, match=problem):
        forwarder(peer.port).send(message())


def test_an_ack_for_another_frame_is_not_taken_for_ours(
    scripted: Callable[[Callable[[bytes], bytes | None]], ScriptedPeer],
) -> None:
    other = build_frame("ACK", 77, receiver="0", line="0", account=ACCOUNT, data="", timestamp=None)
    peer = scripted(lambda frame: other)
    with pytest.raises(RetryableForwardError, match="no answer"):
        forwarder(peer.port, timeout_s=0.3).send(message())


def test_sequence_numbers_wrap_on_the_wire(sia: ReceiverFactory) -> None:
    receiver = sia()
    allocator = SequenceAllocator(last_used=9998)
    fwd = forwarder(receiver.port, allocator=allocator)
    fwd.send(message("a-1"))
    assert allocator.last_used == 9999
    fwd.send(message("a-2"))
    assert allocator.last_used == 1
    # pysiaalarm calls back from one thread per connection, so arrival order is not send order: compare as a set.
    assert sorted(str(e.sequence) for e in receiver.wait_for(2, 2.0)) == ["0001", "9999"]


def test_concurrent_sends_each_get_their_own_ack(sia: ReceiverFactory) -> None:
    receiver = sia(key=KEY16)
    fwd = forwarder(receiver.port, key=KEY16)
    receipts: list[str] = []
    guard = threading.Lock()

    def send(index: int) -> None:
        delivery = fwd.send(message(f"a-{index}"))
        with guard:
            receipts.append(delivery.receipt or "")

    threads = [threading.Thread(target=send, args=(i,)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(receipts) == sorted(f"ACK seq {i:04d} rcvr R0 line L0" for i in range(1, 13))
    assert sorted(e.sequence or "" for e in receiver.wait_for(12, 2.0)) == [f"{i:04d}" for i in range(1, 13)]


def test_link_test_sends_null_and_measures_the_round_trip(sia: ReceiverFactory) -> None:
    receiver = sia(key=KEY16)
    fwd = forwarder(receiver.port, key=KEY16)
    rtt = fwd.link_test()
    assert 0 < rtt < 2.0
    events = receiver.wait_for(1, 2.0)
    assert [(e.message_type, e.code) for e in events] == [(MessageTypes.NULL, "RP")]
    assert receiver.alarms() == []
    with pytest.raises(RetryableForwardError):
        forwarder(free_port()).link_test()


def test_zone_of_an_unknown_device_is_zero_and_the_alarm_still_goes(sia: ReceiverFactory) -> None:
    receiver = sia()
    forwarder(receiver.port).send(message(device="not-in-registry"))
    assert [(e.code, e.ri) for e in receiver.wait_for(1, 2.0)] == [("PA", "0")]


# --- configuration ----------------------------------------------------------------------------------------------


SITE = "site:\n  id: s1\n  name: Test School\n  address: 1 Test Road\n"


def test_dc09_endpoint_defaults_and_normalisation() -> None:
    config = parse_config(
        SITE
        + "forwarding:\n  endpoints:\n    - {name: arc, kind: dc09, host: h.example.org, port: 12000, account: ab12}\n",
        "hub.yaml",
        base_dir=Path("/srv"),
        environ={},
    )
    arc = config.forwarding.endpoints[0]
    assert isinstance(arc, Dc09Endpoint)
    assert (arc.account, arc.receiver, arc.line, arc.format, arc.protocol, arc.timeout_s, arc.key) == (
        "AB12",
        "0",
        "0",
        "sia-dcs",
        "tcp",
        5.0,
        None,
    )
    assert any("endpoints[0].key is not set" in w and "unencrypted" in w for w in config.warnings())


def test_dc09_key_from_env_and_its_errors_never_echo_it() -> None:
    text = SITE + "forwarding:\n  endpoints:\n    - {name: arc, kind: dc09, host: h, port: 1, account: '1234'}\n"
    ok = parse_config(
        text, "hub.yaml", base_dir=Path("/srv"), environ={"CAMPUS_HUB__FORWARDING__ENDPOINTS__arc__KEY": KEY16}
    )
    arc = ok.forwarding.endpoints[0]
    assert isinstance(arc, Dc09Endpoint)
    assert arc.key is not None
    assert arc.key.get_secret_value() == KEY16
    assert not any("key is not set" in w for w in ok.warnings())
    with pytest.raises(ConfigError) as caught:
        parse_config(
            text,
            "hub.yaml",
            base_dir=Path("/srv"),
            environ={"CAMPUS_HUB__FORWARDING__ENDPOINTS__arc__KEY": "zq7secretkey15c"},
        )
    text_out = str(caught.value)
    assert "forwarding.endpoints[0].key" in text_out
    assert "16, 24 or 32" in text_out
    assert "zq7secretkey15c" not in text_out


@pytest.mark.parametrize(
    ("field", "value", "key_path"),
    [
        ("account", "12", "forwarding.endpoints[0].account"),
        ("account", "12G4", "forwarding.endpoints[0].account"),
        ("receiver", "1234567", "forwarding.endpoints[0].receiver"),
        ("format", "sia-dc09x", "forwarding.endpoints[0].format"),
        ("protocol", "tls", "forwarding.endpoints[0].protocol"),
        ("port", "0", "forwarding.endpoints[0].port"),
    ],
)
def test_dc09_endpoint_errors_name_the_key_without_the_union_tag(field: str, value: str, key_path: str) -> None:
    fields = {"name": "arc", "kind": "dc09", "host": "h", "port": "1", "account": "1234", field: value}
    flow = ", ".join(f"{k}: '{v}'" for k, v in fields.items())
    with pytest.raises(ConfigError) as caught:
        parse_config(
            SITE + f"forwarding:\n  endpoints:\n    - {{{flow}}}\n", "hub.yaml", base_dir=Path("/srv"), environ={}
        )
    assert [issue.key for issue in caught.value.issues] == [key_path]
    assert caught.value.issues[0].line == 7


def test_adm_cid_with_more_than_999_devices_is_warned_about() -> None:
    devices = [
        {"id": f"b{i}", "kind": "panic_button", "name": "b", "location": {"building": "A", "floor": "1", "room": "1"}}
        for i in range(1000)
    ]
    config = HubConfig.model_validate(
        {
            "site": {"id": "s", "name": "n", "address": "a"},
            "forwarding": {
                "endpoints": [
                    {"name": "arc", "kind": "dc09", "host": "h", "port": 1, "account": "1234", "format": "adm-cid"}
                ]
            },
            "devices": devices,
        }
    )
    assert any("zones stop at 999" in w for w in config.warnings())


# --- end to end -------------------------------------------------------------------------------------------------


def test_press_reaches_a_dc09_receiver_through_the_hub_within_2_seconds(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, sia: ReceiverFactory
) -> None:
    receiver = sia(key=KEY16)
    raw = base_config(tmp_path, broker.port, None)
    raw["forwarding"]["endpoints"] = [
        {"name": "arc", "kind": "dc09", "host": "127.0.0.1", "port": receiver.port, "account": ACCOUNT, "key": KEY16}
    ]
    hub = start_hub(raw)
    zone = [d["id"] for d in raw["devices"]].index("btn-1") + 1
    sent = time.monotonic()
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    events = receiver.wait_for(1, 2.0)
    assert events, "no DC-09 frame reached the receiver within 2 s"
    assert time.monotonic() - sent < 2.0
    assert [(e.account, e.code, e.ri, e.encrypted) for e in events] == [(ACCOUNT, "PA", str(zone), True)]

    def delivered() -> bool:
        alarms = hub.store.list_alarms()
        return len(alarms) == 1 and alarms[0]["deliveries"][0]["state"] == "delivered"

    assert wait_until(delivered, 2.0)
    alarm = hub.store.get_alarm(hub.store.list_alarms()[0]["id"])
    delivery = alarm["deliveries"][0]
    assert (delivery["endpoint"], delivery["receipt"], delivery["http_status"]) == (
        "arc",
        "ACK seq 0001 rcvr R0 line L0",
        0,
    )
    # The sequence number is written ahead of the frame: a restarted hub continues after it, never reusing it.
    # (Link tests take numbers too, so compare with what was persisted when the first hub stopped.)
    hub.stop()
    last = int(hub.store.meta_get("dc09_seq:arc") or 0)
    assert last >= 1
    again = start_hub(raw)
    publisher.publish(topic("panic_button", "btn-2", "event"), {"pressed": True, "seq": 1})

    def second_receipt() -> str | None:
        for alarm in again.store.list_alarms():
            if alarm["device"]["id"] == "btn-2" and alarm["deliveries"][0]["state"] == "delivered":
                return str(alarm["deliveries"][0]["receipt"])
        return None

    assert wait_until(lambda: second_receipt() is not None, 2.0)
    assert int(str(second_receipt()).split()[2]) > last


def test_closing_an_alarm_sends_its_restore_over_dc09(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, sia: ReceiverFactory
) -> None:
    receiver = sia(key=KEY16)
    raw = base_config(tmp_path, broker.port, None)
    raw["forwarding"]["endpoints"] = [
        {"name": "arc", "kind": "dc09", "host": "127.0.0.1", "port": receiver.port, "account": ACCOUNT, "key": KEY16}
    ]
    hub = start_hub(raw)
    zone = str([d["id"] for d in raw["devices"]].index("smoke-1") + 1)
    publisher.publish(topic("smoke", "smoke-1", "event"), {"smoke": True})
    assert receiver.wait_for(1, 2.0)
    (alarm,) = hub.store.list_alarms()
    assert wait_until(lambda: hub.store.get_alarm(alarm["id"])["deliveries"][0]["state"] == "delivered", 2.0)
    guard = Actor("guard", "guard")
    hub.store.acknowledge(alarm["id"], guard)
    hub.store.close(alarm["id"], guard, "burnt toast in the staff room", Disposition.FALSE_ALARM)
    # The outbox polls each second, and link tests (NULL frames) arrive too: wait for the two events themselves.
    assert wait_until(lambda: len(receiver.alarms()) >= 2, 3.0)
    events = receiver.alarms()
    assert [(e.code, e.ri) for e in events] == [("FA", zone), ("FH", zone)]
    assert len({e.sequence for e in events}) == 2, "the restore must not reuse the alarm's sequence number"
