"""The live feed to console pages as Server-Sent Events (`GET /api/v1/feed`): each page's notices, filtered by its
role, with keep-alives, resume by `Last-Event-ID`, and a `resync` notice when the page must reload.

Streams never end by themselves, so `FeedStreams.close` ends them all when the hub's API stops (uvicorn waits for
open responses before it exits).
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from hub.config import Role
from hub.core.clock import Clock
from hub.core.feed import RESYNC, Feed, FeedEvent
from hub.web.context import FeedReader

KEEPALIVE_S = 15.0
STREAM_POLL_S = 1.0  # how often an open stream looks whether the hub is shutting down
RETRY_MS = 2000  # EventSource's reconnect delay
# The bureau reads uptime and faults; alarms and the guard's duties are not its business.
_ALARM_NOTICES = ("alarm_", "duty_")


def visible_to(role: Role, kind: str) -> bool:
    """Whether a feed notice of `kind` goes to a page of `role`."""
    return role is not Role.BUREAU or not kind.startswith(_ALARM_NOTICES)


def sse_frame(event: FeedEvent) -> str:
    """One Server-Sent Event: the feed seq as its id (a reconnecting page sends it back), the notice as JSON."""
    return f"id: {event.seq}\ndata: {json.dumps(event.as_json(), ensure_ascii=False, separators=(',', ':'))}\n\n"


class FeedStreams:
    """The open feed streams of one hub's API."""

    def __init__(self, feed: Feed, clock: Clock) -> None:
        self.feed = feed
        self.clock = clock
        self.closing = threading.Event()

    def close(self) -> None:
        """End every open stream."""
        self.closing.set()

    def reopen(self) -> None:
        self.closing.clear()

    async def stream(self, role: Role, last_seq: int | None) -> AsyncIterator[str]:
        feed = self.feed
        sub = feed.subscribe(last_seq)
        try:
            yield f"retry: {RETRY_MS}\n\n"
            latest = feed.recent(1)
            if last_seq is not None and (not latest or last_seq > latest[-1].seq):
                # The page saw numbers this feed never gave (the hub restarted): it must reload everything.
                yield sse_frame(FeedEvent(latest[-1].seq if latest else 0, RESYNC, {}, self.clock.now()))
            quiet = 0.0
            while not self.closing.is_set():
                batch = await sub.next(STREAM_POLL_S)
                if batch is None:
                    quiet += STREAM_POLL_S
                    if quiet >= KEEPALIVE_S:
                        quiet = 0.0
                        yield ": keep-alive\n\n"
                    continue
                quiet = 0.0
                frames = "".join(sse_frame(e) for e in batch if visible_to(role, e.kind))
                if frames:
                    yield frames
        finally:
            feed.unsubscribe(sub)


def feed_router(streams: FeedStreams) -> APIRouter:
    """The feed route, on the hub's open streams."""
    router = APIRouter()

    @router.get("/api/v1/feed", response_model=None)
    async def feed(request: Request, actor: FeedReader) -> StreamingResponse:
        """Live notices as Server-Sent Events; `Last-Event-ID` resumes, a `resync` notice means reload."""
        header = request.headers.get("last-event-id", "")
        last_seq = int(header) if header.isdigit() else None
        return StreamingResponse(
            streams.stream(Role(actor.role), last_seq),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router
