"""Ingest throughput: the highest sustained telemetry rate the hub stores (committed before each PUBACK; the
write-ahead log fsynced within a second, `RELAXED_SYNC_S`).

What it measures: N temperature readings (default 50,000 `{"celsius": 20.x}`, always below the heat limits so
no alarm is raised) are published at QoS 1 as fast as one publisher process can (a window of outstanding
PUBACKs keeps it under paho's 65,535 message ids) to a private Mosquitto on 127.0.0.1. The hub runs in this
process (MQTT v5, persistent session, acknowledged only after the SQLite commit). The rate is N divided by the
time from the publisher's start signal until `hub.store.count("events")` reaches N (polled every 20 ms; the
moment the writer thread's commit callback saw the N-th row is printed too).

Baseline, measured in the same run against a fresh broker: a bare paho subscriber (MQTT v5, QoS 1
subscription, automatic acks) whose on_message only runs `json.loads` and counts, fed the same publish
stream. Baseline and hub phases alternate; each phase gets its own broker and temp dir.

Headline: the median over `--runs` runs of hub msg/s, baseline msg/s and hub/baseline, plus the RSS of this
process (which holds the hub) after the first hub phase; later phases also carry earlier Hub instances, which
FastAPI's route-function cache keeps reachable. Each run line also shows the mean commit batch (1,000 = the
writer thread is saturated) and both publisher rates (a hub rate near them would mean the publisher limited it).

Target: hub >= 5,000 msg/s stored.

With `--tls` each run adds a third phase: the same hub subscribed over TLS (TLS 1.3, a throwaway CA, broker and
client certificates, `require_certificate true`) on a second listener of the same kind of broker, the publisher
still on plain TCP as a device on the school LAN would be; printed as hub over TLS and TLS/plain.

Run: `.venv/bin/python bench/ingest.py [--runs 5] [--messages 50000] [--tls]`. Bounded: every wait has a deadline and no
new run starts once `--budget-s` is spent.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import queue
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing.context import SpawnContext, SpawnProcess
from multiprocessing.queues import Queue as MpQueue
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hub.app import Hub
from hub.config import HubConfig
from hub.devtools.broker import BrokerTls, LoopbackPki, Mosquitto, loopback_pki
from hub.ingest.pipeline import BatchOutcome

TARGET_MSG_S = 5_000.0
SITE = "test-school"
PREFIX = "campus"
SENSORS = 100
DEVICE_FILTER = f"{PREFIX}/{SITE}/+/+/+"
HOST = "127.0.0.1"


# --- publisher process ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublishJob:
    """What one publisher process sends: messages `first` .. `first + count - 1` of the stream."""

    port: int
    first: int
    count: int
    window: int
    timeout_s: float
    name: str


@dataclass(frozen=True, slots=True)
class PublishResult:
    name: str
    sent: int
    acked: int
    started: float
    finished: float
    queue_full_waits: int
    error: str | None


def telemetry_topic(index: int) -> str:
    return f"{PREFIX}/{SITE}/temperature/temp-{index % SENSORS:03d}/telemetry"


def telemetry_payload(index: int) -> bytes:
    # 20.0 .. 20.9 °C: far below the 57 °C limit, and at most 0.9 °C apart, so no rate-of-rise alarm either.
    return json.dumps({"celsius": round(20.0 + (index % 10) / 10, 1)}).encode()


def publish_main(job: PublishJob, ready: MpEvent, go: MpEvent, results: MpQueue[PublishResult]) -> None:
    """Entry point of a publisher process: connect, say ready, wait for go, publish QoS 1 within a window."""
    topics = [telemetry_topic(job.first + i) for i in range(job.count)]
    payloads = [telemetry_payload(job.first + i) for i in range(job.count)]
    acked = 0
    connected = threading.Event()

    def on_connect(
        client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags, rc: ReasonCode, props: Properties | None
    ) -> None:
        if not rc.is_failure:
            connected.set()

    def on_publish(client: mqtt.Client, userdata: object, mid: int, rc: ReasonCode, props: Properties | None) -> None:
        nonlocal acked
        acked += 1  # only the network thread writes it

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=job.name, protocol=MQTTProtocolVersion.MQTTv311)
    # Unlimited in paho, bounded by our own window: with a limit, paho rescans every outstanding message on each
    # PUBACK (Client._update_inflight), which caps a 5,000-message window near 2,000 msg/s.
    client.max_inflight_messages_set(0)
    client.on_connect = on_connect
    client.on_publish = on_publish
    sent = 0
    waits = 0
    error: str | None = None
    started = finished = time.monotonic()
    client.connect(HOST, job.port, keepalive=60)
    client.loop_start()
    try:
        if not connected.wait(10):
            raise RuntimeError("publisher could not connect")
        ready.set()
        if not go.wait(60):
            raise RuntimeError("no go signal within 60 s")
        started = time.monotonic()
        deadline = started + job.timeout_s
        while sent < job.count:
            if sent - acked >= job.window:
                waits += 1
                time.sleep(0.0005)
                if time.monotonic() > deadline:
                    raise RuntimeError(f"timed out with {sent - acked} unacknowledged")
                continue
            info = client.publish(topics[sent], payloads[sent], qos=1)
            if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
                waits += 1
                time.sleep(0.001)  # too many outstanding for paho: hold back, then send the same one again
                continue
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise RuntimeError(f"publish {sent} failed: {mqtt.error_string(info.rc)}")
            sent += 1
        while acked < sent:
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {sent - acked} PUBACKs")
            time.sleep(0.001)
        finished = time.monotonic()
    except (RuntimeError, OSError, ValueError) as exc:  # reported to the parent, which fails the phase
        error = f"{type(exc).__name__}: {exc}"
        finished = time.monotonic()
    finally:
        client.disconnect()
        client.loop_stop()
    results.put(PublishResult(job.name, sent, acked, started, finished, waits, error))


class Publishers:
    """The publisher processes of one phase (spawned, so they share no threads or GIL with the hub)."""

    def __init__(self, ctx: SpawnContext, port: int, total: int, processes: int, window: int, timeout_s: float) -> None:
        self._ready = [ctx.Event() for _ in range(processes)]
        self._go = ctx.Event()
        self._results: MpQueue[PublishResult] = ctx.Queue()
        share, extra = divmod(total, processes)
        first = 0
        self._procs: list[SpawnProcess] = []
        for i in range(processes):
            count = share + (1 if i < extra else 0)
            job = PublishJob(port, first, count, window, timeout_s, f"bench-pub-{i}")
            first += count
            proc = ctx.Process(target=publish_main, args=(job, self._ready[i], self._go, self._results), daemon=True)
            self._procs.append(proc)
        self._timeout_s = timeout_s

    def start_and_wait_ready(self, timeout: float = 30.0) -> None:
        for proc in self._procs:
            proc.start()
        deadline = time.monotonic() + timeout
        while not all(ready.is_set() for ready in self._ready):
            if any(proc.exitcode is not None for proc in self._procs):
                self.finish()
                raise RuntimeError("a publisher process exited before it was ready")
            if time.monotonic() > deadline:
                self.finish()
                raise RuntimeError("a publisher process did not connect in time")
            time.sleep(0.02)

    def go(self) -> float:
        started = time.monotonic()
        self._go.set()
        return started

    def finish(self) -> list[PublishResult]:
        out: list[PublishResult] = []
        deadline = time.monotonic() + (self._timeout_s + 15 if self._go.is_set() else 5)
        for _ in self._procs:
            try:
                out.append(self._results.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                break
        for proc in self._procs:
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        if len(out) != len(self._procs):
            raise RuntimeError("a publisher process did not report")
        for result in out:
            if result.error is not None:
                raise RuntimeError(f"{result.name}: {result.error}")
        return out


# --- baseline subscriber -------------------------------------------------------------------------------------------


class BareSubscriber:
    """A plain paho subscriber: QoS 1, automatic acks, on_message does json.loads and counts."""

    def __init__(self, port: int, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.done = threading.Event()
        self.done_at = 0.0
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="bench-baseline", protocol=MQTTProtocolVersion.MQTTv5
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect(HOST, port, keepalive=60)
        self.client.loop_start()

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags, rc: ReasonCode, p: Properties | None
    ) -> None:
        client.subscribe(DEVICE_FILTER, qos=1)

    def _on_subscribe(
        self, client: mqtt.Client, userdata: object, mid: int, codes: list[ReasonCode], p: Properties | None
    ) -> None:
        if not any(code.is_failure for code in codes):
            self.subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        json.loads(msg.payload)
        self.count += 1
        if self.count >= self.expected and not self.done.is_set():
            self.done_at = time.monotonic()
            self.done.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- the hub under test -------------------------------------------------------------------------------------------


class BenchHub(Hub):
    """The real hub, plus a note of when the writer thread's commit callback saw the N-th stored event."""

    expected = 0
    stored = 0
    batches = 0
    reached_at = 0.0

    def _committed(self, outcome: BatchOutcome) -> None:
        super()._committed(outcome)
        self.stored += outcome.events
        self.batches += 1
        if self.reached_at == 0.0 and self.stored >= self.expected:
            self.reached_at = time.monotonic()


def hub_config(workdir: Path, port: int, pki: LoopbackPki | None = None) -> dict[str, Any]:
    def device(id_: str, kind: str) -> dict[str, Any]:
        return {
            "id": id_,
            "kind": kind,
            "name": f"{kind} {id_}",
            "location": {"building": "A", "floor": "1", "room": id_},
        }

    mqtt_config: dict[str, Any] = {"host": HOST, "port": port, "topic_prefix": PREFIX, "reconnect_max_s": 2}
    if pki is not None:
        mqtt_config["tls"] = {
            "ca_file": str(pki.ca),
            "cert_file": str(pki.client_cert),
            "key_file": str(pki.client_key),
        }
    return {
        "site": {"id": SITE, "name": "Bench School", "address": "1 Bench Road"},
        "mqtt": mqtt_config,
        "storage": {"path": str(workdir / "hub.db")},
        "forwarding": {"endpoints": []},
        "api": {"host": HOST, "port": 0, "tokens": []},
        "devices": [device(f"temp-{i:03d}", "temperature") for i in range(SENSORS)],
    }


class LogTally(logging.Handler):
    """Counts the hub's log records by level and keeps the first few errors, instead of printing thousands."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.counts: dict[str, int] = {}
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.levelname] = self.counts.get(record.levelname, 0) + 1
        if record.levelno >= logging.ERROR and len(self.errors) < 5:
            self.errors.append(f"{record.name}: {record.getMessage()}"[:300])


def rss_mib() -> float:
    """VmRSS of this process in MiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key == "VmRSS":
                return int(value.split()[0]) / 1024
    return 0.0


# --- phases ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PhaseResult:
    rate: float
    seconds: float
    publish_rate: float
    callback_rate: float = 0.0
    mean_batch: float = 0.0
    rss_mib: float = 0.0
    problems: tuple[str, ...] = ()


def run_baseline(ctx: SpawnContext, workdir: Path, args: argparse.Namespace) -> PhaseResult:
    with Mosquitto(workdir / "broker") as broker:
        sub = BareSubscriber(broker.port, args.messages)
        try:
            if not sub.subscribed.wait(10):
                raise RuntimeError("baseline subscriber did not subscribe")
            pubs = Publishers(ctx, broker.port, args.messages, args.publishers, args.window, args.timeout_s)
            pubs.start_and_wait_ready()
            t0 = pubs.go()
            got = sub.done.wait(args.timeout_s)
            published = pubs.finish()
        finally:
            sub.close()
    if not got:
        raise RuntimeError(f"baseline received {sub.count} of {args.messages} within {args.timeout_s} s")
    seconds = sub.done_at - t0
    pub_s = max(r.finished for r in published) - t0
    return PhaseResult(args.messages / seconds, seconds, args.messages / pub_s)


def run_hub(ctx: SpawnContext, workdir: Path, args: argparse.Namespace, *, tls: bool = False) -> PhaseResult:
    problems: list[str] = []
    pki = loopback_pki(workdir / "pki") if tls else None
    broker_tls = None if pki is None else BrokerTls(pki.ca, pki.server_cert, pki.server_key)
    with Mosquitto(workdir / "broker", tls=broker_tls) as broker:
        hub_port = broker.port if broker.tls_port is None else broker.tls_port
        hub = BenchHub(HubConfig.model_validate(hub_config(workdir, hub_port, pki)))
        hub.expected = args.messages
        hub.start()
        try:
            if not hub.ingest.wait_connected(10):
                raise RuntimeError("hub did not connect and subscribe")
            pubs = Publishers(ctx, broker.port, args.messages, args.publishers, args.window, args.timeout_s)
            pubs.start_and_wait_ready()
            t0 = pubs.go()
            deadline = t0 + args.timeout_s
            interval = args.poll_ms / 1000
            stored = 0
            while time.monotonic() < deadline:
                stored = hub.store.count("events")
                if stored >= args.messages:
                    break
                time.sleep(interval)
            done_at = time.monotonic()
            published = pubs.finish()
            if stored < args.messages:
                raise RuntimeError(f"hub stored {stored} of {args.messages} within {args.timeout_s} s")
            rss = rss_mib()
            alarms, dead = hub.store.count("alarms"), hub.store.count("dead_letters")
            if stored != args.messages:
                problems.append(f"{stored} events stored for {args.messages} published")
            if alarms or dead:
                problems.append(f"{alarms} alarms and {dead} dead letters (expected none)")
        finally:
            hub.stop()
    seconds = done_at - t0
    pub_s = max(r.finished for r in published) - t0
    cb_rate = args.messages / (hub.reached_at - t0) if hub.reached_at > t0 else 0.0
    batch = hub.stored / hub.batches if hub.batches else 0.0
    return PhaseResult(args.messages / seconds, seconds, args.messages / pub_s, cb_rate, batch, rss, tuple(problems))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="baseline+hub pairs to run (default 5)")
    parser.add_argument("--messages", type=int, default=50_000, help="telemetry messages per phase (default 50000)")
    parser.add_argument("--publishers", type=int, default=1, help="publisher processes (default 1)")
    parser.add_argument("--window", type=int, default=5_000, help="unacknowledged publishes per publisher (<65535)")
    parser.add_argument("--poll-ms", type=float, default=20.0, help="store count poll interval (default 20 ms)")
    parser.add_argument("--timeout-s", type=float, default=60.0, help="deadline of one phase (default 60 s)")
    parser.add_argument("--budget-s", type=float, default=100.0, help="start no new run after this (default 100 s)")
    parser.add_argument("--tls", action="store_true", help="also run the hub over TLS each run and compare")
    args = parser.parse_args()
    if not 1 <= args.window < 65_535:
        parser.error("--window must be between 1 and 65534")
    if args.runs < 1 or args.messages < 1 or args.publishers < 1:
        parser.error("--runs, --messages and --publishers must be positive")

    tally = LogTally()
    logging.basicConfig(level=logging.INFO, handlers=[tally])
    ctx = mp.get_context("spawn")
    began = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="campus-hub-bench-ingest-"))
    base: list[PhaseResult] = []
    hubs: list[PhaseResult] = []
    tls_hubs: list[PhaseResult] = []
    failures: list[str] = []
    print(
        f"ingest: {args.messages:,} temperature readings at QoS 1 from {args.publishers} publisher process(es),"
        f" {args.runs} run(s); cpus={os.cpu_count()}, load average at start {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    try:
        for run in range(1, args.runs + 1):
            if run > 1 and time.monotonic() - began > args.budget_s:
                print(f"  budget of {args.budget_s:.0f} s spent: stopping after {run - 1} run(s)")
                break
            try:
                b = run_baseline(ctx, root / f"run{run}-baseline", args)
                h = run_hub(ctx, root / f"run{run}-hub", args)
                t = run_hub(ctx, root / f"run{run}-hub-tls", args, tls=True) if args.tls else None
            except RuntimeError as exc:
                failures.append(f"run {run}: {exc}")
                print(f"FAIL: run {run}: {exc}", flush=True)
                break
            finally:
                for phase in ("baseline", "hub", "hub-tls"):
                    shutil.rmtree(root / f"run{run}-{phase}", ignore_errors=True)
            base.append(b)
            hubs.append(h)
            failures += [f"run {run}: {p}" for p in h.problems]
            print(
                f"  run {run}: baseline {b.rate:7,.0f} msg/s ({b.seconds:5.2f} s) | hub {h.rate:7,.0f} msg/s"
                f" ({h.seconds:5.2f} s; commit callback {h.callback_rate:,.0f}/s; mean batch {h.mean_batch:,.0f})"
                f" | hub/baseline {h.rate / b.rate:.2f} | publisher {b.publish_rate:,.0f} / {h.publish_rate:,.0f} msg/s"
                f" | RSS {h.rss_mib:.0f} MiB",
                flush=True,
            )
            if t is not None:
                tls_hubs.append(t)
                failures += [f"run {run} (TLS): {p}" for p in t.problems]
                print(
                    f"  run {run}: hub over TLS {t.rate:7,.0f} msg/s ({t.seconds:5.2f} s)"
                    f" | TLS/plain {t.rate / h.rate:.2f}",
                    flush=True,
                )
    finally:
        shutil.rmtree(root, ignore_errors=True)

    errors = tally.counts.get("ERROR", 0) + tally.counts.get("CRITICAL", 0)
    if errors:
        failures.append(f"the hub logged {errors} error(s), first: {tally.errors}")
    if not hubs:
        print("FAIL: no run completed")
        return 1
    hub_rate = statistics.median(h.rate for h in hubs)
    base_rate = statistics.median(b.rate for b in base)
    ratio = statistics.median(h.rate / b.rate for h, b in zip(hubs, base, strict=True))
    print(
        f"MEDIAN of {len(hubs)} runs: hub {hub_rate:,.0f} msg/s stored | baseline (bare paho subscriber)"
        f" {base_rate:,.0f} msg/s | hub/baseline {ratio:.2f}"
    )
    # Every Hub built in this process stays reachable (FastAPI caches its route functions), so later runs carry
    # the earlier hubs' memory too: the first run's figure is the hub's own.
    print(
        f"  hub process RSS after the first hub run {hubs[0].rss_mib:.0f} MiB (after the last {hubs[-1].rss_mib:.0f})"
    )
    if tls_hubs:
        tls_rate = statistics.median(t.rate for t in tls_hubs)
        tls_ratio = statistics.median(t.rate / h.rate for t, h in zip(tls_hubs, hubs, strict=False))
        print(f"MEDIAN of {len(tls_hubs)} runs: hub over TLS {tls_rate:,.0f} msg/s | TLS/plain {tls_ratio:.2f}")
    verdict = "PASS" if hub_rate >= TARGET_MSG_S else "FAIL"
    print(f"TARGET hub >= {TARGET_MSG_S:,.0f} msg/s: {verdict} ({hub_rate:,.0f} msg/s)")
    for failure in failures:
        print(f"FAIL: {failure}")
    return 0 if verdict == "PASS" and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
