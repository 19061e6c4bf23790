"""Telemetry throughput: points/s into a real VictoriaMetrics through `InfluxSink`, against a bare influxdb-client.

What it measures: the time from the first `offer()` of N points (temperature readings from 500 devices, offered
100 at a time as committed ingest batches would) until the sink's writer reports all N written, i.e. line
protocol rendering, the in-memory queue, batching and the synchronous writes. Baseline, in the same run and
against the same server: the same points, pre-rendered, written with influxdb-client's synchronous WriteApi in
the same batch size, nothing else. Headline: medians over `--runs` of each, and sink/baseline.

Run: `.venv/bin/python bench/influx.py [--points 50000] [--batch 5000] [--runs 3]` (needs /usr/bin/victoria-metrics).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision

from hub.config import InfluxConfig
from hub.core.clock import SystemClock
from hub.integrations.influx import InfluxSink
from hub.integrations.influx_points import Point
from hub.store import Store

VM = "/usr/bin/victoria-metrics"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_points(count: int, run: int) -> list[Point]:
    start = datetime.now(UTC) - timedelta(hours=1) + timedelta(seconds=run)
    return [
        Point(
            "temperature",
            {"site": "bench-school", "device": f"temp-{i % 500}", "kind": "temperature", "building": "A"},
            {"celsius": 20.0 + (i % 100) / 10},
            start + timedelta(microseconds=i * 10),
        )
        for i in range(count)
    ]


def bare(url: str, lines: list[str], batch: int) -> float:
    with InfluxDBClient(url=url, token="", org="campus") as client:
        write_api = client.write_api(write_options=SYNCHRONOUS)
        started = time.perf_counter()
        for i in range(0, len(lines), batch):
            write_api.write("campus-hub", "campus", record=lines[i : i + batch], write_precision=WritePrecision.NS)
        return time.perf_counter() - started


def through_sink(url: str, points: list[Point], batch: int, workdir: Path, run: int) -> float:
    store = Store(workdir / f"sink-{run}.db", SystemClock())
    store.open()
    config = InfluxConfig.model_validate({"enabled": True, "url": url, "batch_size": batch, "flush_interval_s": 0.05})
    sink = InfluxSink(config, store, 90, queue_size=len(points) + 1)
    sink.start()
    started = time.perf_counter()
    for i in range(0, len(points), 100):
        sink.offer(points[i : i + 100])
    while sink.counts().written < len(points):
        counts = sink.counts()
        if counts.failures or counts.spilled:
            raise SystemExit(f"the sink did not write cleanly: {counts}")
        time.sleep(0.001)  # polling a counter in a benchmark; the figure is seconds, this is a millisecond
    elapsed = time.perf_counter() - started
    sink.stop()
    store.close_thread_connection()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which(VM) is None:
        print(f"{VM} is missing (apt-get install victoria-metrics)", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="campus-hub-bench-influx-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    vm = subprocess.Popen(
        [VM, f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={workdir / 'vm'}", "-loggerLevel=ERROR"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("victoria-metrics did not start")
            time.sleep(0.05)
        bare_s: list[float] = []
        sink_s: list[float] = []
        for run in range(args.runs):
            points = make_points(args.points, 2 * run)
            bare_s.append(bare(url, [p.to_line() for p in points], args.batch))
            sink_s.append(through_sink(url, make_points(args.points, 2 * run + 1), args.batch, workdir, run))
            print(
                f"run {run + 1}: sink {args.points / sink_s[-1]:,.0f} points/s, "
                f"bare client {args.points / bare_s[-1]:,.0f} points/s"
            )
        sink_rate = args.points / statistics.median(sink_s)
        bare_rate = args.points / statistics.median(bare_s)
        print(
            f"median over {args.runs} runs, {args.points:,} points, batch {args.batch}: "
            f"sink {sink_rate:,.0f} points/s, bare influxdb-client {bare_rate:,.0f} points/s, "
            f"ratio {sink_rate / bare_rate:.2f}"
        )
    finally:
        vm.terminate()
        vm.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
