"""Press-to-ACK latency over SIA DC-09 (against pysiaalarm) and over the HTTP contract, in one run.

What it measures: `--presses` panic-button presses (default 100, each on its own button so each opens its own
alarm) at `--rate` per second are published at QoS 1 from this process to a private Mosquitto. The hub runs in
this process with one endpoint: first an HTTP receiver (`hub.devtools.receiver.Receiver`, signed POSTs), then a
pysiaalarm DC-09 receiver (AES-128, SIA-DCS). Latency is the moment the hub holds the receiver's ACK (2xx or
DC-09 ACK with the same sequence) minus the moment right before `publish()`, both on this process's
monotonic clock. The HTTP phase is the baseline; the ratio is DC-09 p99 / HTTP p99. Each phase repeats
`--runs` times with a fresh broker and database; medians are the headline.

Run: `.venv/bin/python bench/dc09_latency.py [--runs 3] [--presses 100] [--rate 20]`. Bounded: every wait has
a deadline.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from pysiaalarm.account import SIAAccount
from pysiaalarm.event import SIAEvent
from pysiaalarm.sync.client import SIAClient
from pysiaalarm.utils.enums import CommunicationsProtocol

from alerts.model import DeliveryState
from alerts.outbox import AttemptResult
from hub.app import Hub
from hub.config import HubConfig
from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver

SECRET = "bench-110-secret"
KEY = "0123456789abcdef"
ACCOUNT = "1234"


class TimedHub(Hub):
    """The hub, noting when each alarm's ACK came back."""

    def __init__(self, config: HubConfig) -> None:
        super().__init__(config)
        self.acked: dict[str, float] = {}
        self.all_acked = threading.Condition()

    def _attempted(self, result: AttemptResult) -> None:
        if result.outcome is DeliveryState.DELIVERED:
            with self.all_acked:
                self.acked.setdefault(result.alarm_id, time.monotonic())
                self.all_acked.notify_all()
        super()._attempted(result)


def config(workdir: Path, port: int, endpoint: dict[str, Any], presses: int) -> HubConfig:
    devices = [
        {
            "id": f"b{n:03d}",
            "kind": "panic_button",
            "name": f"b{n}",
            "location": {"building": "A", "floor": "1", "room": str(n)},
        }
        for n in range(presses)
    ]
    return HubConfig.model_validate(
        {
            "site": {"id": "bench", "name": "Bench School", "address": "Loopback 1"},
            "mqtt": {"host": "127.0.0.1", "port": port},
            "storage": {"path": str(workdir / "hub.db")},
            "forwarding": {"endpoints": [endpoint]},
            "devices": devices,
        }
    )


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))]


def run_phase(kind: str, presses: int, rate: float) -> list[float]:
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-dc09-{kind}-"))
    broker = Mosquitto(workdir / "broker").start()
    stop_receiver: Callable[[], None]
    if kind == "http":
        http = Receiver(SECRET).start()
        endpoint: dict[str, Any] = {"name": "http", "kind": "http", "url": http.url, "secret": SECRET}
        stop_receiver = http.stop
    else:
        events: list[SIAEvent] = []
        sia = SIAClient("127.0.0.1", 0, [SIAAccount(ACCOUNT, KEY)], events.append, CommunicationsProtocol.TCP)
        address = sia.sia_server.server_address
        assert isinstance(address, tuple)
        sia.start()
        endpoint = {
            "name": "dc09",
            "kind": "dc09",
            "host": "127.0.0.1",
            "port": int(address[1]),
            "account": ACCOUNT,
            "key": KEY,
        }
        stop_receiver = sia.stop
    hub = TimedHub(config(workdir, broker.port, endpoint, presses))
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-presser")
    try:
        hub.start()
        if not hub.ingest.wait_connected(10):
            raise SystemExit("FAIL: the hub did not connect to the broker")
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        pressed: dict[str, float] = {}
        for n in range(presses):
            device = f"b{n:03d}"
            pressed[device] = time.monotonic()
            info = client.publish(f"campus/bench/panic_button/{device}/event", b'{"pressed": true}', qos=1)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise SystemExit(f"FAIL: publish refused: {mqtt.error_string(info.rc)}")
            time.sleep(1 / rate)  # the press schedule, not synchronisation
        with hub.all_acked:
            hub.all_acked.wait_for(lambda: len(hub.acked) >= presses, timeout=30)
        by_device = {a["id"]: a["device"]["id"] for a in hub.store.list_alarms(limit=presses + 10)}
        if len(hub.acked) != presses or len(by_device) != presses:
            print(f"FAIL {kind}: {len(hub.acked)} ACKs for {presses} presses ({len(by_device)} alarms)")
        return [(at - pressed[by_device[alarm]]) * 1000 for alarm, at in hub.acked.items()]
    finally:
        client.disconnect()
        client.loop_stop()
        hub.stop()
        stop_receiver()
        broker.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--presses", type=int, default=100)
    parser.add_argument("--rate", type=float, default=20.0, help="presses per second")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    results: dict[str, list[tuple[float, float, float]]] = {"http": [], "dc09": []}
    for run in range(1, args.runs + 1):
        for kind in ("http", "dc09"):
            latencies = run_phase(kind, args.presses, args.rate)
            figures = (percentile(latencies, 50), percentile(latencies, 99), max(latencies))
            results[kind].append(figures)
            print(f"run {run} {kind:>4}: p50 {figures[0]:6.2f} ms  p99 {figures[1]:6.2f} ms  max {figures[2]:6.2f} ms")
    med = {k: tuple(statistics.median(f[i] for f in v) for i in range(3)) for k, v in results.items()}
    for kind in ("http", "dc09"):
        p50, p99, top = med[kind]
        runs = f"{args.presses} presses x {args.runs} runs"
        print(f"MEDIAN {kind:>4}: p50 {p50:.2f} ms  p99 {p99:.2f} ms  max {top:.2f} ms  ({runs})")
    print(f"ratio dc09/http p99: {med['dc09'][1] / med['http'][1]:.2f}")
    worst = max(med["dc09"][1], med["http"][1])
    print(("PASS" if worst <= 2000 else "FAIL") + f": press-to-ACK p99 {worst:.1f} ms against the 2 s target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
