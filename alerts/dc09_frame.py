"""The SIA DC-09 frame format: CRC and length, timestamps, AES encryption, building a frame, reading a receiver's
ACK/NAK/DUH/RSP answer, and the sequence numbers frames carry. No sockets: `alerts.dc09` sends what this builds.

The frame is `LF crc 0LLL "id" seq R<rcvr> L<line> #<acct> [data] _HH:MM:SS,MM-DD-YYYY CR` (ANSI/SIA DC-09); CRC and
length cover the part from the first quote to before CR. Encrypted frames (`"*SIA-DCS"`, `"*ADM-CID"`, `"*NULL"`)
carry `pad|data]timestamp` AES-CBC encrypted with a zero IV, as hex after the `[`. Interoperability is checked
against pysiaalarm 3.2.2, the receiver Home Assistant uses.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, cast

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# The allocator logs as alerts.dc09, its name before the frame format had a module of its own, so log settings
# made for it still apply.
log = logging.getLogger("alerts.dc09")

SEQ_MAX = 9999  # numbers run 0001-9999, then wrap to 0001
MAX_BODY = 0xFFF  # the length field is "0" and three hex digits
TIMESTAMP_FORMAT = "%H:%M:%S,%m-%d-%Y"
_PAD_EXCLUDED = frozenset(b"|[]")
_ZERO_IV = bytes(16)


# --- CRC, frames, answers ------------------------------------------------------------------------------------


def crc16_arc(data: bytes) -> int:
    """CRC-16/ARC (polynomial 0x8005 reflected as 0xA001, initial value 0), the checksum DC-09 frames carry."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def format_timestamp(at: datetime) -> str:
    """`_HH:MM:SS,MM-DD-YYYY` in UTC, the form DC-09 receivers check against their own clock."""
    if at.tzinfo is None:
        raise ValueError("a DC-09 timestamp needs a timezone-aware time")
    return "_" + at.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def random_pad(size: int) -> bytes:
    """Pseudo-random pad bytes without '|', '[' or ']' (DC-09 5.4.4.2), which would end the pad early."""
    out = bytearray()
    while len(out) < size:
        out.extend(b for b in os.urandom(size) if b not in _PAD_EXCLUDED)
    return bytes(out[:size])


def _aes(key: bytes, data: bytes, *, decrypt: bool) -> bytes:
    # DC-09 fixes the IV at zero; the random pad at the start of the first block does the work of an IV.
    cipher = Cipher(algorithms.AES(key), modes.CBC(_ZERO_IV))
    context = cipher.decryptor() if decrypt else cipher.encryptor()
    return context.update(data) + context.finalize()


def build_frame(
    message_id: str,
    sequence: int,
    *,
    receiver: str,
    line: str,
    account: str,
    data: str,
    timestamp: datetime | None,
    key: bytes | None = None,
    pad: Callable[[int], bytes] = random_pad,
) -> bytes:
    """One DC-09 frame, LF to CR.

    `data` is what goes between the brackets, e.g. `#1234|Nri5/PA005`, or "" for a NULL frame. With `key` the frame
    is encrypted: `pad|data]timestamp` padded to a multiple of 16 bytes (16 pad bytes when it already is one).
    """
    if not 0 <= sequence <= SEQ_MAX:
        raise ValueError(f"sequence {sequence} is outside 0000-9999")
    stamp = "" if timestamp is None else format_timestamp(timestamp)
    head = f"{sequence:04d}R{receiver}L{line}#{account}["
    if key is None:
        body = f'"{message_id}"{head}{data}]{stamp}'.encode("ascii")
    else:
        if timestamp is None:
            raise ValueError("an encrypted frame must carry a timestamp")
        plain = f"|{data}]{stamp}".encode("ascii")
        filler = pad(16 - len(plain) % 16)
        if len(plain + filler) % 16 or _PAD_EXCLUDED.intersection(filler):
            raise ValueError("pad must fill the last block and must not hold '|', '[' or ']'")
        body = (
            f'"*{message_id}"{head}'.encode("ascii") + _aes(key, filler + plain, decrypt=False).hex().upper().encode()
        )
    if len(body) > MAX_BODY:
        raise ValueError(f"frame body of {len(body)} bytes does not fit the 0LLL length field")
    return b"\n%04X%04X%s\r" % (crc16_arc(body), len(body), body)


class ResponseError(ValueError):
    """An answer that is not a well-formed DC-09 response."""


AnswerKind = Literal["ACK", "NAK", "DUH", "RSP"]


@dataclass(frozen=True, slots=True)
class Response:
    """A receiver's answer. A bare answer (`"NAK"` with no frame around it) has no sequence, fields or time."""

    kind: AnswerKind
    sequence: int | None
    receiver: str | None
    line: str | None
    account: str | None
    timestamp: datetime | None
    encrypted: bool
    framed: bool


_BARE = re.compile(r'^"(?P<kind>ACK|NAK|DUH|RSP)"$')
_FRAME = re.compile(r"^\n?(?P<crc>[0-9A-Fa-f]{4})(?P<length>[0-9A-Fa-f]{4})(?P<body>.*)\r$", re.DOTALL)
_BODY = re.compile(
    r'^"(?P<enc>\*)?(?P<kind>ACK|NAK|DUH|RSP)"(?P<seq>\d{4})(?P<fields>[^\[]*)\[(?P<rest>.*)$', re.DOTALL
)
# pysiaalarm writes NAK's fields as L0R0A0, the standard R0L0A0: accept any order, each at most once.
_FIELD = re.compile(r"R[0-9A-Fa-f]{1,6}|L[0-9A-Fa-f]{1,6}|#[0-9A-Fa-f]{3,16}|A[0-9A-Fa-f]{1,16}")
_STAMP = r"(?:_(?P<ts>\d\d:\d\d:\d\d,\d\d-\d\d-\d{4}))"
_PLAIN_REST = re.compile(r"^(?P<data>[^\[\]]*)\](?:\[[^\[\]]*\])*" + _STAMP + r"?$")
# Decrypted: pad, then '|' (pysiaalarm pads with '0's and leaves it out), data, ']', extra data, timestamp.
_SECRET_REST = re.compile(r"^[^|\[\]]*\|?(?P<data>[^\[\]]*)\](?:\[[^\[\]]*\])*" + _STAMP + r"$", re.DOTALL)


def _kind(text: str) -> AnswerKind:
    return cast(AnswerKind, text)  # the regexes admit only the four


def parse_timestamp(text: str) -> datetime:
    """`HH:MM:SS,MM-DD-YYYY` (no underscore) as UTC."""
    return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)


def parse_response(frame: bytes, key: bytes | None = None) -> Response:
    """A receiver's answer (ACK, NAK, DUH or RSP), framed or bare, plain or encrypted; ResponseError if garbled.

    CRC and length are checked. An encrypted answer must decrypt, with `key`, to `pad|data]timestamp`: that is the
    only sign that a `*ACK` comes from a receiver holding the key.
    """
    try:
        text = frame.decode("ascii")
    except UnicodeDecodeError as exc:
        raise ResponseError("answer holds non-ASCII bytes") from exc
    bare = _BARE.match(text.strip("\r\n"))
    if bare:
        return Response(_kind(bare["kind"]), None, None, None, None, None, encrypted=False, framed=False)
    if text.strip("\r\n") == "":
        raise ResponseError("empty answer (pysiaalarm's reply to a frame whose CRC it could not verify)")
    outer = _FRAME.match(text)
    if not outer:
        raise ResponseError(f"not a DC-09 frame: {text[:60]!r}")
    body = outer["body"]
    if int(outer["crc"], 16) != crc16_arc(body.encode("ascii")):
        raise ResponseError(f"CRC mismatch: frame says {outer['crc']}, body gives {crc16_arc(body.encode()):04X}")
    if int(outer["length"], 16) != len(body):
        raise ResponseError(f"length mismatch: frame says {outer['length']}, body is {len(body):04X}")
    inner = _BODY.match(body)
    if not inner:
        raise ResponseError(f"not an ACK, NAK, DUH or RSP: {body[:60]!r}")
    fields: dict[str, str] = {}
    for token in _FIELD.findall(inner["fields"]):
        if token[0] in fields:
            raise ResponseError(f"field {token[0]} given twice")
        fields[token[0]] = token
    if "".join(_FIELD.findall(inner["fields"])) != inner["fields"]:
        raise ResponseError(f"unreadable header fields: {inner['fields']!r}")
    encrypted = inner["enc"] is not None
    rest = inner["rest"]
    if encrypted:
        if key is None:
            raise ResponseError("encrypted answer, but no key to read it")
        try:
            sealed = bytes.fromhex(rest)
        except ValueError as exc:
            raise ResponseError("encrypted answer is not hex") from exc
        if not sealed or len(sealed) % 16:
            raise ResponseError("encrypted answer is not whole AES blocks")
        rest = _aes(key, sealed, decrypt=True).decode("latin-1")
        content = _SECRET_REST.match(rest)
        if not content:
            raise ResponseError("encrypted answer does not decrypt to pad|data]timestamp (wrong key?)")
    else:
        content = _PLAIN_REST.match(rest)
        if not content:
            raise ResponseError(f"unreadable data and timestamp: {rest[:60]!r}")
    try:
        stamp = None if content["ts"] is None else parse_timestamp(content["ts"])
    except ValueError as exc:
        raise ResponseError(f"invalid timestamp {content['ts']!r}") from exc
    account = fields.get("#")
    return Response(
        _kind(inner["kind"]),
        int(inner["seq"]),
        fields.get("R"),
        fields.get("L"),
        None if account is None else account[1:],
        stamp,
        encrypted=encrypted,
        framed=True,
    )


def take_answer(buffer: bytes) -> tuple[bytes, bytes] | None:
    """The first whole answer in `buffer` and what follows it: a frame ends at CR; a bare `"NAK"` has no end mark."""
    end = buffer.find(b"\r")
    if end >= 0:
        return buffer[: end + 1], buffer[end + 1 :]
    if _BARE.match(buffer.strip(b"\r\n").decode("ascii", "replace")):
        return buffer, b""
    return None


# --- sequence numbers ---------------------------------------------------------------------------------------


class SequenceExhausted(RuntimeError):
    """Every sequence number is held by an unacknowledged frame."""


class SequenceAllocator:
    """Sequence numbers 0001-9999, wrapping, thread-safe; a number held by an unacknowledged frame is skipped.

    A number is held under a key (the alarm id) from its first frame until `release`: resends of the same alarm
    reuse it, which lets a de-duplicating receiver deliver a resent alarm once. Every new number is handed to
    `persist` before it is returned (write-ahead), so a restarted hub constructed with `last_used` = the persisted
    value never repeats a number it may already have sent. Holds are forgotten over a restart. A hold not resent for
    `stale_after_s` (an alarm closed or stood down while undelivered) is given up when the counter comes round to
    its number again; until then nothing needs it back.
    """

    def __init__(
        self,
        last_used: int = 0,
        persist: Callable[[int], None] | None = None,
        *,
        stale_after_s: float = 24 * 3600.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= last_used <= SEQ_MAX:
            raise ValueError(f"last_used {last_used} is outside 0-9999")
        self._last = last_used
        self._persist = persist
        self._stale_after_s = stale_after_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._by_key: dict[str, tuple[int, float]] = {}
        self._by_seq: dict[int, str] = {}

    @property
    def last_used(self) -> int:
        with self._lock:
            return self._last

    def held(self) -> dict[str, int]:
        """Key -> held number, a snapshot."""
        with self._lock:
            return {key: seq for key, (seq, _) in self._by_key.items()}

    def acquire(self, key: str) -> int:
        """The number `key` holds, or the next free one (persisted first); SequenceExhausted if none is free."""
        with self._lock:
            now = self._monotonic()
            held = self._by_key.get(key)
            if held is not None:
                self._by_key[key] = (held[0], now)  # a resend shows the hold is alive
                return held[0]
            candidate = self._last
            for _ in range(SEQ_MAX):
                candidate = candidate % SEQ_MAX + 1
                owner = self._by_seq.get(candidate)
                if owner is None:
                    break
                if now - self._by_key[owner][1] >= self._stale_after_s:
                    log.warning("DC-09: sequence %04d, unused by %s for a long time, is reused", candidate, owner)
                    break
            else:
                raise SequenceExhausted(f"all {SEQ_MAX} sequence numbers are held by unacknowledged frames")
            if self._persist is not None:
                self._persist(candidate)  # an exception leaves the allocator as it was
            if owner is not None:
                del self._by_key[owner]
            self._last = candidate
            self._by_key[key] = (candidate, now)
            self._by_seq[candidate] = key
            return candidate

    def release(self, key: str) -> None:
        """The frame under `key` was acknowledged, or refused for good: its number may be used again."""
        with self._lock:
            held = self._by_key.pop(key, None)
            if held is not None:
                self._by_seq.pop(held[0], None)
