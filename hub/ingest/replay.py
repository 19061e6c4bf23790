"""Whether an alarm-raising message is a press the hub already handled that the broker sent again: a pure decision.

The broker repeats messages in three ways: the retained copy of a topic on every subscribe (each hub or broker
restart), a QoS 1 message it sent before and sends again with the DUP flag, and the queue of a persistence file
older than what the hub already acknowledged (a broker that crashed between saves, a restored backup). Each
alarm-raising message the hub handles is remembered by a fingerprint of its device, topic and exact bytes. A
known fingerprint is a replay only when something says the message is not new: the broker's retain or DUP flag,
or a payload that names itself (the device's own `seq` together with a device time from a set clock). An identical
message without such a mark is a new press (a button that rebooted and counts from 1 again): when in doubt the
alarm goes out, since a false call is better than a missed one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from device_adapters.base import DeviceEvent

# A device time before this comes from a clock that was never set (a button without a backup battery starts at
# 1970 or 2000 after each reboot), so it cannot tell two presses with the same `seq` apart.
CLOCK_SET_SINCE = datetime(2020, 1, 1, tzinfo=UTC)


class ReplayMark(StrEnum):
    """What showed a known message to be a replay (also the metric label)."""

    RETAINED = "retained"  # the broker's stored copy, sent because the hub subscribed
    DUP = "dup"  # the broker says it sent this very message before
    IDENTITY = "identity"  # the payload names itself (seq and device time) and the hub handled it already


@dataclass(frozen=True, slots=True)
class Delivery:
    """How the broker delivered one message, and whether its payload names itself."""

    retained: bool
    dup: bool
    self_identified: bool


@dataclass(frozen=True, slots=True)
class HandledPress:
    """An alarm-raising message the hub handled: which alarm it raised or counted on, and when."""

    alarm_id: str
    handled_at: datetime


def fingerprint(device_id: str, topic: str, payload: bytes) -> bytes:
    """SHA-256 over the device, the topic and the exact payload bytes (each length-prefixed, so no two differ only
    in where one part ends)."""
    digest = hashlib.sha256()
    for part in (device_id.encode(), topic.encode(), payload):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


def self_identified(event: DeviceEvent) -> bool:
    """True when the payload carries the device's own `seq` and a device time from a clock that was set."""
    return event.seq is not None and "ts" in event.data and event.occurred_at >= CLOCK_SET_SINCE


def replay_mark(delivery: Delivery, handled: HandledPress | None) -> ReplayMark | None:
    """Why this message is a replay of `handled`, or None when it is (or may be) a new press."""
    if handled is None:
        return None  # never handled: a retained press from while the hub was away still goes out
    if delivery.retained:
        return ReplayMark.RETAINED
    if delivery.dup:
        return ReplayMark.DUP
    if delivery.self_identified:
        return ReplayMark.IDENTITY
    return None
