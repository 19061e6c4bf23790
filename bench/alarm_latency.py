"""Alarm latency: panic button press published -> alarm POST received by a 110 endpoint, with and without load.

What it measures: `--presses` panic button presses (default 100, each on a different one of 200 registered
buttons, so every press must open its own alarm) at a steady `--press-rate` (default 10/s, so a 10 s window)
are published at QoS 1 to a real HTTP 110 receiver (`hub.devtools.receiver.Receiver`, signed POSTs on 127.0.0.1).
The press client and the receiver run in a process of their own (`bench.field`: in the field they are other
machines), the hub in this one; CLOCK_MONOTONIC times both ends: latency is the receiver's arrival time minus the
moment right before `publish()`. Presses are matched to receipts by `body["device"]["id"]`.

Loaded phase: a separate publisher process sends `--telemetry-rate` (default 2,000/s) temperature readings at
QoS 1 (20.0-20.9 °C, so no heat alarm), starting `--warmup-s` before the first press and running until the
last alarm arrived. The telemetry rate the hub actually stored during the press window is reported.
Baseline, in the same run: the same presses with no telemetry (unloaded phase). Phases alternate; each gets a
fresh broker, hub database and receiver.

Each run also prints its slowest press split (wall clock, same host) into mqtt (publish -> the hub's on_message,
`raised_at`), commit (-> the writer thread's commit callback: queue wait, parse, SQLite commit, PUBACK), outbox
(-> the forwarder starts, `sent_at`) and http (-> the receiver has the body).

Checks: every press produced exactly one alarm delivered (one unique alarm id per pressed device, none for
any other) and the hub holds exactly `--presses` alarms; otherwise a loud FAIL line.

Headline: the median over `--runs` runs of the loaded p50/p99/max, the unloaded p99 and loaded/unloaded p99.

Target: p99 <= 50 ms under load.

Run: `.venv/bin/python bench/alarm_latency.py [--runs 3]`. Bounded: every wait has a deadline and no new run
starts once `--budget-s` is spent.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing as mp
import os
import queue
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.context import SpawnContext, SpawnProcess
from multiprocessing.queues import Queue as MpQueue
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.field import HOST, PREFIX, SECRET, SITE, Connected, Field, account
from hub.app import Hub
from hub.config import HubConfig
from hub.devtools.broker import Mosquitto
from hub.ingest.pipeline import BatchOutcome

TARGET_P99_MS = 50.0
BUTTONS = 200
SENSORS = 100


def telemetry_topic(index: int) -> str:
    return f"{PREFIX}/{SITE}/temperature/temp-{index % SENSORS:03d}/telemetry"


def telemetry_payload(index: int) -> bytes:
    # 20.0 .. 20.9 °C: far below the 57 °C limit, and at most 0.9 °C apart, so no rate-of-rise alarm either.
    return json.dumps({"celsius": round(20.0 + (index % 10) / 10, 1)}).encode()


# --- telemetry load process ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadJob:
    port: int
    rate: float
    qos: int
    max_s: float
    window: int = 20_000


@dataclass(frozen=True, slots=True)
class LoadResult:
    sent: int
    acked: int
    seconds: float
    behind: int
    error: str | None


def telemetry_main(job: LoadJob, ready: MpEvent, go: MpEvent, stop: MpEvent, results: MpQueue[LoadResult]) -> None:
    """Entry point of the load process: publish `rate` readings per second, paced, until told to stop."""
    acked = 0

    def on_publish(client: mqtt.Client, userdata: object, mid: int, rc: ReasonCode, props: Properties | None) -> None:
        nonlocal acked
        acked += 1  # only the network thread writes it

    connected = Connected()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-telemetry", protocol=MQTTProtocolVersion.MQTTv311
    )
    # Unlimited in paho (a limit makes it rescan all outstanding messages on every PUBACK); our window bounds it.
    client.max_inflight_messages_set(0)
    client.on_connect = connected
    client.on_publish = on_publish
    payloads = [telemetry_payload(i) for i in range(10)]
    topics = [telemetry_topic(i) for i in range(SENSORS)]
    sent = behind = 0
    error: str | None = None
    started = time.monotonic()
    client.connect(HOST, job.port, keepalive=60)
    client.loop_start()
    try:
        if not connected.event.wait(10):
            raise RuntimeError("telemetry publisher could not connect")
        ready.set()
        if not go.wait(60):
            raise RuntimeError("no go signal within 60 s")
        started = time.monotonic()
        while not stop.is_set():
            elapsed = time.monotonic() - started
            if elapsed > job.max_s:
                break
            due = int(elapsed * job.rate)
            while sent < due:
                if job.qos and sent - acked >= job.window:
                    behind += 1  # the broker does not keep up: hold back rather than overrun paho's 16-bit ids
                    break
                info = client.publish(topics[sent % SENSORS], payloads[sent % 10], qos=job.qos)
                if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
                    behind += 1
                    break
                if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    raise RuntimeError(f"publish {sent} failed: {mqtt.error_string(info.rc)}")
                sent += 1
            time.sleep(0.002)
        seconds = time.monotonic() - started
        deadline = time.monotonic() + 10
        while job.qos and acked < sent and time.monotonic() < deadline:
            time.sleep(0.005)
    except (RuntimeError, OSError, ValueError) as exc:  # reported to the parent, which fails the phase
        error = f"{type(exc).__name__}: {exc}"
        seconds = time.monotonic() - started
    finally:
        client.disconnect()
        client.loop_stop()
    results.put(LoadResult(sent, acked if job.qos else sent, seconds, behind, error))


class Load:
    """The telemetry publisher process of a loaded phase."""

    def __init__(self, ctx: SpawnContext, job: LoadJob) -> None:
        self._ready, self._go, self._stop = ctx.Event(), ctx.Event(), ctx.Event()
        self._results: MpQueue[LoadResult] = ctx.Queue()
        self._proc: SpawnProcess = ctx.Process(
            target=telemetry_main, args=(job, self._ready, self._go, self._stop, self._results), daemon=True
        )

    def start(self) -> None:
        self._proc.start()
        if not self._ready.wait(30):
            self.finish()
            raise RuntimeError("telemetry process did not connect in time")
        self._go.set()

    def finish(self) -> LoadResult:
        self._stop.set()
        try:
            result = self._results.get(timeout=20)
        except queue.Empty:
            result = LoadResult(0, 0, 0.0, 0, "telemetry process did not report")
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)
        return result


# --- hub, receiver, presses ----------------------------------------------------------------------------------------


def hub_config(workdir: Path, port: int, receiver_url: str) -> dict[str, Any]:
    def device(id_: str, kind: str) -> dict[str, Any]:
        location = {"building": "A", "floor": "1", "room": id_}
        return {"id": id_, "kind": kind, "name": f"{kind} {id_}", "location": location}

    return {
        "site": {"id": SITE, "name": "Bench School", "address": "1 Bench Road"},
        "mqtt": {"host": HOST, "port": port, "topic_prefix": PREFIX, "reconnect_max_s": 2},
        "storage": {"path": str(workdir / "hub.db")},
        "forwarding": {
            "endpoints": [{"name": "police-110", "kind": "http", "url": receiver_url, "secret": SECRET, "timeout_s": 2}]
        },
        "api": {"host": HOST, "port": 0, "tokens": []},
        "devices": [device(f"btn-{i:03d}", "panic_button") for i in range(BUTTONS)]
        + [device(f"temp-{i:03d}", "temperature") for i in range(SENSORS)],
    }


class BenchHub(Hub):
    """The real hub, plus the wall time at which the writer thread's commit callback saw each new alarm."""

    def __init__(self, config: HubConfig) -> None:
        self.committed_at: dict[str, datetime] = {}
        super().__init__(config)

    def _committed(self, outcome: BatchOutcome) -> None:
        now = datetime.now(UTC)
        for alarm_id in outcome.opened:
            self.committed_at[alarm_id] = now
        super()._committed(outcome)


@dataclass(slots=True)
class PhaseResult:
    latencies_ms: list[float]
    segments_ms: dict[str, list[float]] = field(default_factory=dict)
    telemetry_stored_rate: float = 0.0
    telemetry_sent_rate: float = 0.0
    press_lateness_ms: float = 0.0
    problems: list[str] = field(default_factory=list)

    def worst(self) -> str:
        """The slowest press, split into its segments."""
        if not self.latencies_ms:
            return "-"
        i = max(range(len(self.latencies_ms)), key=self.latencies_ms.__getitem__)
        parts = " + ".join(f"{k} {v[i]:.1f}" for k, v in self.segments_ms.items())
        return f"{self.latencies_ms[i]:.1f} ms = {parts}"


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 100 samples is the 99th smallest)."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() * 1000


def run_phase(ctx: SpawnContext, workdir: Path, args: argparse.Namespace, loaded: bool) -> PhaseResult:
    load: Load | None = None
    load_result: LoadResult | None = None
    with Mosquitto(workdir / "broker") as broker, Field(ctx) as field_:
        hub = BenchHub(HubConfig.model_validate(hub_config(workdir, broker.port, field_.url)))
        hub.start()
        try:
            if not hub.ingest.wait_connected(10):
                raise RuntimeError("hub did not connect and subscribe")
            field_.connect(broker.port)
            if loaded:
                load = Load(ctx, LoadJob(broker.port, args.telemetry_rate, args.telemetry_qos, args.timeout_s))
                load.start()
                time.sleep(args.warmup_s)
            events_before, window_start = hub.store.count("events"), time.monotonic()
            presses, lateness = field_.press(args.presses, args.press_rate)
            field_.wait_for(args.presses, args.timeout_s)
            events_after, window_end = hub.store.count("events"), time.monotonic()
            if load is not None:
                load_result = load.finish()
                load = None
            # A late duplicate POST would show up here; give the outbox a moment to settle.
            time.sleep(0.2)
            received = field_.wait_for(args.presses, 0.0)
            alarms = hub.store.count("alarms")
        finally:
            if load is not None:
                load.finish()
            hub.stop()

    accounting = account(presses, received)
    segments: dict[str, list[float]] = {"mqtt": [], "commit": [], "outbox": [], "http": []}
    sent = {p.device: p for p in presses}
    for device, r in accounting.first.items():  # in the order of `latencies_ms`
        press = sent[device]
        committed = hub.committed_at.get(r.alarm_id, r.raised_at)
        segments["mqtt"].append(ms(press.wall, r.raised_at))
        segments["commit"].append(ms(r.raised_at, committed))
        segments["outbox"].append(ms(committed, r.sent_at))
        segments["http"].append(ms(r.sent_at, r.at))
    problems = list(accounting.problems)
    if alarms != len(presses):
        problems.append(f"the hub holds {alarms} alarms for {len(presses)} presses")
    result = PhaseResult(accounting.latencies_ms, segments, press_lateness_ms=lateness, problems=problems)
    if load_result is not None:
        if load_result.error:
            problems.append(f"telemetry publisher: {load_result.error}")
        window = window_end - window_start
        result.telemetry_stored_rate = (events_after - events_before - len(presses)) / window
        result.telemetry_sent_rate = load_result.sent / load_result.seconds if load_result.seconds else 0.0
        if load_result.behind:
            problems.append(f"telemetry publisher fell behind its schedule {load_result.behind} time(s)")
    return result


class LogTally(logging.Handler):
    """Counts the hub's log records by level and keeps the first few errors, instead of printing hundreds."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.counts: dict[str, int] = {}
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.levelname] = self.counts.get(record.levelname, 0) + 1
        if record.levelno >= logging.ERROR and len(self.errors) < 5:
            self.errors.append(f"{record.name}: {record.getMessage()}"[:300])


def summary(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50):6.1f} p99 {percentile(values, 99):6.1f} max {max(values, default=math.nan):6.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="unloaded+loaded pairs to run (default 3)")
    parser.add_argument("--presses", type=int, default=100, help=f"presses per phase, at most {BUTTONS} (default 100)")
    parser.add_argument("--press-rate", type=float, default=10.0, help="presses per second (default 10)")
    parser.add_argument("--telemetry-rate", type=float, default=2_000.0, help="load, msg/s (default 2000)")
    parser.add_argument("--telemetry-qos", type=int, choices=(0, 1), default=1, help="QoS of the load (default 1)")
    parser.add_argument("--warmup-s", type=float, default=2.0, help="load before the first press (default 2 s)")
    parser.add_argument("--timeout-s", type=float, default=45.0, help="deadline of one phase's waits (default 45 s)")
    parser.add_argument("--budget-s", type=float, default=90.0, help="start no new run after this (default 90 s)")
    args = parser.parse_args()
    if not 1 <= args.presses <= BUTTONS:
        parser.error(f"--presses must be between 1 and {BUTTONS}: each press needs its own button")
    if args.runs < 1 or args.press_rate <= 0 or args.telemetry_rate <= 0:
        parser.error("--runs, --press-rate and --telemetry-rate must be positive")

    tally = LogTally()
    logging.basicConfig(level=logging.INFO, handlers=[tally])
    ctx = mp.get_context("spawn")
    began = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="campus-hub-bench-alarm-"))
    idle: list[PhaseResult] = []
    busy: list[PhaseResult] = []
    failures: list[str] = []
    print(
        f"alarm latency: {args.presses} presses at {args.press_rate:g}/s on {args.presses} of {BUTTONS} buttons "
        f"(QoS 1), loaded with {args.telemetry_rate:,.0f} temperature msg/s at QoS {args.telemetry_qos} from a "
        f"separate process; {args.runs} run(s); cpus={os.cpu_count()}, load average at start {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    try:
        for run in range(1, args.runs + 1):
            if run > 1 and time.monotonic() - began > args.budget_s:
                print(f"  budget of {args.budget_s:.0f} s spent: stopping after {run - 1} run(s)")
                break
            phases: list[PhaseResult] = []
            for name, loaded in (("unloaded", False), ("loaded", True)):
                workdir = root / f"run{run}-{name}"
                try:
                    phase = run_phase(ctx, workdir, args, loaded)
                except RuntimeError as exc:
                    failures.append(f"run {run} {name}: {exc}")
                    print(f"FAIL: run {run} {name}: {exc}", flush=True)
                    break
                finally:
                    shutil.rmtree(workdir, ignore_errors=True)
                failures += [f"run {run} {name}: {p}" for p in phase.problems]
                phases.append(phase)
            if len(phases) != 2:
                break
            u, b = phases
            idle.append(u)
            busy.append(b)
            print(
                f"  run {run}: unloaded ms {summary(u.latencies_ms)} | loaded ms {summary(b.latencies_ms)}"
                f" | loaded/unloaded p99 {percentile(b.latencies_ms, 99) / percentile(u.latencies_ms, 99):.2f}"
                f" | telemetry stored {b.telemetry_stored_rate:,.0f}/s (sent {b.telemetry_sent_rate:,.0f}/s)",
                flush=True,
            )
            print(
                f"         slowest press unloaded {u.worst()}; loaded {b.worst()}; press schedule slip"
                f" <= {max(u.press_lateness_ms, b.press_lateness_ms):.1f} ms"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)

    if not busy:
        for failure in failures:
            print(f"FAIL: {failure}")
        print("FAIL: no run completed")
        return 1

    def med(phases: list[PhaseResult], pct: float | None) -> float:
        if pct is None:
            return statistics.median(max(p.latencies_ms, default=math.nan) for p in phases)
        return statistics.median(percentile(p.latencies_ms, pct) for p in phases)

    loaded_p99, idle_p99 = med(busy, 99), med(idle, 99)
    ratio = statistics.median(
        percentile(b.latencies_ms, 99) / percentile(u.latencies_ms, 99) for u, b in zip(idle, busy, strict=True)
    )
    pooled = [x for p in busy for x in p.latencies_ms]
    rate = statistics.median(p.telemetry_stored_rate for p in busy)
    print(
        f"MEDIAN of {len(busy)} runs: loaded p50 {med(busy, 50):.1f} ms, p99 {loaded_p99:.1f} ms,"
        f" max {med(busy, None):.1f} ms | unloaded p50 {med(idle, 50):.1f} ms, p99 {idle_p99:.1f} ms,"
        f" max {med(idle, None):.1f} ms | loaded/unloaded p99 {ratio:.2f} | telemetry stored {rate:,.0f} msg/s"
    )
    print(f"  (all {len(pooled)} loaded presses pooled: {summary(pooled)} ms)")
    verdict = "PASS" if loaded_p99 <= TARGET_P99_MS else "FAIL"
    print(f"TARGET p99 <= {TARGET_P99_MS:.0f} ms under load: {verdict} ({loaded_p99:.1f} ms)")
    errors = tally.counts.get("ERROR", 0) + tally.counts.get("CRITICAL", 0)
    if errors:
        failures.append(f"the hub logged {errors} error(s), first: {tally.errors}")
    for failure in failures:
        print(f"FAIL: {failure}")
    if not failures:
        total = sum(len(p.latencies_ms) for p in busy + idle)
        print(f"OK: every press produced exactly one alarm delivered ({total} presses)")
    return 0 if verdict == "PASS" and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
