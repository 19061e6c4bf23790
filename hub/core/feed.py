"""The live feed: what just changed (alarms, faults, escalations, duty reminders), pushed to every open console page.

It is a notice board, not a store of record: every fact on it is already committed in SQLite. A page that falls
behind or reconnects after the short backlog has moved on gets a `resync` event and reloads its state from the API,
so publishing never blocks and never grows without bound, and nothing that matters can be lost here.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub.core.clock import Clock, to_iso

log = logging.getLogger(__name__)

RESYNC = "resync"


@dataclass(frozen=True)
class FeedEvent:
    """One notice. `seq` grows by one per event and becomes the SSE id, so a reconnecting page can resume."""

    seq: int
    kind: str
    data: Mapping[str, Any]
    at: datetime

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "at": to_iso(self.at), "data": dict(self.data)}


@dataclass(eq=False)  # identity, so a page's queue can sit in a set
class Subscription:
    """One page's queue. Filled from any thread through the page's event loop; emptied by `next()` on that loop."""

    loop: asyncio.AbstractEventLoop
    limit: int
    _items: deque[FeedEvent] = field(default_factory=deque)
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _lost: bool = False

    def _push(self, event: FeedEvent) -> None:
        if len(self._items) >= self.limit:
            # The page is too slow to keep up: drop its queue and tell it to reload rather than block publishers.
            self._items.clear()
            self._lost = True
        self._items.append(event)
        self._ready.set()

    def _resync(self) -> None:
        self._items.clear()
        self._lost = True
        self._ready.set()

    async def next(self, timeout_s: float) -> list[FeedEvent] | None:
        """The events since the last call (a `resync` first if some were dropped), or None after `timeout_s`."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout_s)
        except TimeoutError:
            return None
        self._ready.clear()
        items = list(self._items)
        self._items.clear()
        if self._lost:
            self._lost = False
            seq = items[-1].seq if items else 0
            return [FeedEvent(seq, RESYNC, {}, items[-1].at if items else datetime.now(UTC)), *items]
        return items


class Feed:
    """Publish from any thread; subscribe from an asyncio loop (the SSE route)."""

    def __init__(self, clock: Clock, *, backlog: int = 500, per_subscriber: int = 1000) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._backlog: deque[FeedEvent] = deque(maxlen=backlog)
        self._subscribers: set[Subscription] = set()
        self._per_subscriber = per_subscriber
        self._listeners: list[Callable[[FeedEvent], None]] = []

    def publish(self, kind: str, data: Mapping[str, Any]) -> FeedEvent:
        with self._lock:
            event = FeedEvent(next(self._seq), kind, dict(data), self._clock.now())
            self._backlog.append(event)
            subscribers = list(self._subscribers)
            listeners = list(self._listeners)
        for sub in subscribers:
            try:
                sub.loop.call_soon_threadsafe(sub._push, event)
            except RuntimeError:
                # That page's loop has closed; its route will unsubscribe on the way out.
                self.unsubscribe(sub)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("feed listener failed on %s", event.kind)
        return event

    def listen(self, callback: Callable[[FeedEvent], None]) -> None:
        """Call `callback` synchronously, on the publishing thread, with every event (Home Assistant, telemetry).
        It must return quickly and never wait on the network: a slow listener would hold up the publisher."""
        with self._lock:
            self._listeners.append(callback)

    def subscribe(self, last_seq: int | None = None) -> Subscription:
        """A queue for the calling loop, primed with what the page missed since `last_seq` (or a resync)."""
        sub = Subscription(asyncio.get_running_loop(), self._per_subscriber)
        with self._lock:
            self._subscribers.add(sub)
            if last_seq is not None:
                missed = [e for e in self._backlog if e.seq > last_seq]
                oldest = self._backlog[0].seq if self._backlog else None
                if oldest is not None and last_seq < oldest - 1:
                    sub._resync()
                for event in missed:
                    sub._push(event)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def recent(self, limit: int = 100) -> list[FeedEvent]:
        with self._lock:
            return list(self._backlog)[-limit:]
