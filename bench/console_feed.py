"""Console feed latency: a notice published on the hub's feed -> the `data:` line read by each open page's SSE stream.

What it measures: `--pages` (default 20) Server-Sent Event streams on `GET /api/v1/feed` of a real hub (real
Mosquitto, real uvicorn on 127.0.0.1, guard Bearer token), each read by its own thread with httpx; then
`--notices` (default 200) notices published at `--rate` per second (default 50) with the publish moment in
the notice, so one monotonic clock times both ends. Latency = the moment a page's reader has parsed the line
minus the moment before `Feed.publish`. The readers share this process (and its GIL) with the hub, as browsers
on other machines would not: an upper bound.

Baseline, in the same run: the same number of subscribers on the same `Feed`, read straight from
`Subscription.next` in one asyncio loop (no HTTP, no JSON): what the stream adds is the ratio of the two.

Checks: every page received every notice, in order; otherwise a loud FAIL line.

Run: `.venv/bin/python bench/console_feed.py [--pages 20 --notices 200 --rate 50]`. Bounded: every wait has a
deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.app import Hub  # noqa: E402
from hub.config import HubConfig  # noqa: E402
from hub.devtools.broker import Mosquitto  # noqa: E402
from tests.conftest import TOKENS, base_config  # noqa: E402

KIND = "bench_notice"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{name:<22} n={len(ms):>6}  p50 {statistics.median(ms):7.2f} ms  p99 {percentile(ms, 0.99):7.2f} ms"
        f"  max {max(ms):7.2f} ms"
    )


def read_page(url: str, expected: int, ready: threading.Event, out: list[float], seqs: list[int]) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['guard']}"}
    with httpx.Client(timeout=30) as client, client.stream("GET", url, headers=headers) as stream:
        ready.set()
        for line in stream.iter_lines():
            if not line.startswith("data: "):
                continue
            arrived = time.monotonic()
            notice = json.loads(line[6:])
            if notice["kind"] != KIND:
                continue
            out.append(arrived - notice["data"]["t"])
            seqs.append(notice["data"]["n"])
            if len(seqs) == expected:
                return


def publish_all(hub: Hub, notices: int, rate: float) -> None:
    start = time.monotonic()
    for n in range(notices):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        hub.feed.publish(KIND, {"n": n, "t": time.monotonic()})


def sse_phase(hub: Hub, pages: int, notices: int, rate: float) -> tuple[list[float], bool]:
    url = f"http://127.0.0.1:{hub.api_port}/api/v1/feed"
    results: list[tuple[list[float], list[int]]] = [([], []) for _ in range(pages)]
    readies = [threading.Event() for _ in range(pages)]
    threads = [
        threading.Thread(target=read_page, args=(url, notices, readies[i], *results[i]), daemon=True)
        for i in range(pages)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while hub.feed.subscribers < pages and time.monotonic() < deadline:
        time.sleep(0.01)
    publish_all(hub, notices, rate)
    for thread in threads:
        thread.join(max(0.0, deadline + notices / rate + 20 - time.monotonic()))
    ok = all(seqs == list(range(notices)) for _, seqs in results)
    return [v for latencies, _ in results for v in latencies], ok


def baseline_phase(hub: Hub, pages: int, notices: int, rate: float) -> tuple[list[float], bool]:
    latencies: list[float] = []
    counts = [0] * pages
    subscribed = threading.Event()

    async def reader(index: int) -> None:
        sub = hub.feed.subscribe()
        try:
            while counts[index] < notices:
                batch = await sub.next(20.0)
                if batch is None:
                    return
                arrived = time.monotonic()
                for event in batch:
                    if event.kind == KIND:
                        latencies.append(arrived - event.data["t"])
                        counts[index] += 1
        finally:
            hub.feed.unsubscribe(sub)

    async def main() -> None:
        tasks = [asyncio.create_task(reader(i)) for i in range(pages)]
        await asyncio.sleep(0.05)
        subscribed.set()
        await asyncio.gather(*tasks)

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    subscribed.wait(10)
    publish_all(hub, notices, rate)
    thread.join(notices / rate + 30)
    return latencies, all(c == notices for c in counts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--notices", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp, Mosquitto(Path(tmp) / "broker") as broker:
        hub = Hub(HubConfig.model_validate(base_config(Path(tmp), broker.port, None)))
        hub.start()
        hub.start_api_thread()
        try:
            baseline, base_ok = baseline_phase(hub, args.pages, args.notices, args.rate)
            sse, sse_ok = sse_phase(hub, args.pages, args.notices, args.rate)
        finally:
            hub.stop()
    print(f"console feed: {args.pages} pages, {args.notices} notices at {args.rate:g}/s")
    print(summary("subscription (base)", baseline))
    print(summary("SSE over HTTP", sse))
    print(f"SSE/base p99 ratio      {percentile(sse, 0.99) / max(percentile(baseline, 0.99), 1e-9):.1f}x")
    if not (base_ok and sse_ok):
        print("FAIL: a page missed notices or got them out of order")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
