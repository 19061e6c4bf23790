"""The broker's own count of messages it dropped (Mosquitto's `$SYS/broker/publish/messages/dropped`), watched.

Mosquitto drops a QoS 1 message when a client's queue is full (`max_queued_messages`, 1000 on a never-configured
Debian box): for the hub's session that is a device message lost before the hub ever saw it. The broker publishes
the counter every `sys_interval` seconds when it changed, retained. `BrokerStats` takes those messages from whichever
session subscribes it (`filters`, `on_message(topic, payload)`), exports the counter as
`campus_hub_broker_dropped_messages` and, when it rises, logs a warning and puts a `broker_dropped` notice on the
feed. A broker that publishes no such counter (not Mosquitto, `$SYS` off or refused) simply leaves the gauge unset.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Gauge

log = logging.getLogger(__name__)

DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"
BROKER_DROPPED = "broker_dropped"

Notify = Callable[[str, dict[str, Any]], object]


def dropped_rise(previous: int | None, current: int) -> int:
    """Messages dropped since the counter was last seen: all of them the first time, and after the counter went
    back (the broker restarted and counts again from zero)."""
    if previous is None or current < previous:
        return current
    return current - previous


def parse_counter(payload: bytes) -> int | None:
    """The broker's decimal counter, or None for anything else."""
    text = payload.decode("ascii", errors="replace").strip()
    return int(text) if text.isdigit() else None


class BrokerStats:
    """Handler of the broker's dropped-messages counter; call `on_message` on the session's network thread."""

    filters: tuple[tuple[str, int], ...] = ((DROPPED_TOPIC, 0),)

    def __init__(self, notify: Notify = lambda kind, data: None, *, registry: CollectorRegistry | None = None) -> None:
        self._notify = notify
        self._last: int | None = None
        self._dropped = Gauge(
            "campus_hub_broker_dropped_messages",
            "Messages the MQTT broker says it dropped since it started (Mosquitto $SYS; NaN until it says).",
            registry=registry,
        )
        self._dropped.set(math.nan)

    @property
    def dropped(self) -> int | None:
        """The broker's counter as last seen (None before the first)."""
        return self._last

    def on_message(self, topic: str, payload: bytes) -> None:
        if topic != DROPPED_TOPIC:
            return
        current = parse_counter(payload)
        if current is None:
            log.warning("broker: %s is not a counter: %r", topic, payload[:40])
            return
        rise = dropped_rise(self._last, current)
        self._last = current
        self._dropped.set(current)
        if rise > 0:
            log.warning(
                "broker: MQTT broker dropped %d more messages (%d since it started): a client's queue was full; "
                "check max_queued_messages and whether the hub keeps up",
                rise,
                current,
            )
            data: dict[str, Any] = {"new": rise, "dropped": current}
            self._notify(BROKER_DROPPED, data)
