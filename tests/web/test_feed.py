"""The live feed: publishing from threads reaches a subscribed loop; a page that reconnects resumes or resyncs."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

from hub.core.clock import ManualClock
from hub.core.feed import RESYNC, Feed

START = datetime(2026, 11, 1, tzinfo=UTC)


def test_events_published_from_another_thread_reach_the_subscriber_in_order() -> None:
    feed = Feed(ManualClock(START))

    async def run() -> list[str]:
        sub = feed.subscribe()
        thread = threading.Thread(target=lambda: [feed.publish("alarm_opened", {"n": i}) for i in range(5)])
        thread.start()
        got: list[str] = []
        while len(got) < 5:
            batch = await sub.next(5.0)
            assert batch is not None, "no event within 5 s"
            got += [f"{e.kind}:{e.data['n']}" for e in batch]
        thread.join(5.0)
        feed.unsubscribe(sub)
        return got

    assert asyncio.run(run()) == [f"alarm_opened:{i}" for i in range(5)]
    assert feed.subscribers == 0


def test_a_reconnecting_page_gets_what_it_missed_or_a_resync() -> None:
    feed = Feed(ManualClock(START), backlog=3)
    first = [feed.publish("x", {"n": i}).seq for i in range(5)]  # seqs 1..5, backlog keeps 3..5

    async def resume(last: int) -> list[str]:
        sub = feed.subscribe(last)
        batch = await sub.next(1.0)
        feed.unsubscribe(sub)
        return [e.kind if e.kind == RESYNC else str(e.seq) for e in batch or []]

    assert asyncio.run(resume(first[3])) == ["5"]
    assert asyncio.run(resume(first[1])) == ["3", "4", "5"]
    assert asyncio.run(resume(first[0]))[0] == RESYNC


def test_a_slow_page_is_told_to_resync_instead_of_blocking_publishers() -> None:
    feed = Feed(ManualClock(START), per_subscriber=10)

    async def run() -> list[str]:
        sub = feed.subscribe()
        for i in range(25):
            feed.publish("x", {"n": i})
        await asyncio.sleep(0)  # let the loop run the queued pushes
        batch = await sub.next(1.0)
        return [e.kind for e in batch or []]

    kinds = asyncio.run(run())
    assert kinds[0] == RESYNC
    assert len(kinds) <= 11
