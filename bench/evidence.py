"""Alarm evidence and camera checks: does grabbing snapshots delay the alarm, how fast does evidence arrive, and what
does one camera check cost.

What it measures, all in this process on 127.0.0.1 (one monotonic clock for both ends): a real Mosquitto, the
hub, a real HTTP 110 receiver and an ONVIF-style snapshot server answering 1280x720 JPEGs (a photograph with fresh
sensor noise per request, pre-encoded so the server is not the bottleneck).

- Evidence phase: `--presses` presses (default 40) at `--press-rate` (default 5/s), each on its own button
  linked to `--cameras-per-button` (default 2) of 4 cameras. Press -> 110 receiver has the alarm, and press ->
  the hub's `alarm_evidence` feed notice (snapshots stored as files and rows).
- Baseline, same run: the same presses on a registry without camera links (no evidence work at all).
- Camera checks: `CameraChecker.run_once()` over the 4 cameras (grab + decode + diagnose + JPEG file + MQTT
  publish) with the default concurrency of 2, `--check-rounds` times; per-check time = round time / cameras.

Headline: press -> 110 p50/p99 with evidence vs baseline (ratio), press -> evidence p50/p99/max and how many
presses had evidence within the 2 s budget, median per-check time.

Run: `.venv/bin/python bench/evidence.py [--runs 3]`.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from skimage import data as photos

from hub.app import Hub
from hub.config import HubConfig
from hub.core.feed import FeedEvent
from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver

CAMERAS = 4


def pictures(count: int = 8) -> list[bytes]:
    photo: np.ndarray = photos.astronaut()  # type: ignore[no-untyped-call]
    base = cv2.resize(cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), (1280, 720)).astype(np.float32)
    rng = np.random.default_rng(3)
    out = []
    for _ in range(count):
        frame = np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)
        ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
        assert ok
        out.append(bytes(encoded.tobytes()))
    return out


class SnapshotServer:
    def __init__(self) -> None:
        bodies = pictures()
        counter = iter(range(10**9))

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                body = bodies[next(counter) % len(bodies)]
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def config(folder: Path, broker: int, receiver: str, snapshots: int, presses: int, linked: int) -> HubConfig:
    def device(id_: str, kind: str, **extra: Any) -> dict[str, Any]:
        location = {"building": "A", "floor": "1", "room": id_}
        return {"id": id_, "kind": kind, "name": id_, "location": location, "heartbeat_s": 3600, **extra}

    cameras = [
        device(
            f"cam-{i}",
            "camera",
            source={"kind": "http_snapshot", "url": f"http://127.0.0.1:{snapshots}/cam{i}.jpg", "timeout_s": 2},
        )
        for i in range(CAMERAS)
    ]
    buttons = [
        device(f"btn-{i}", "panic_button", cameras=[f"cam-{(i + k) % CAMERAS}" for k in range(linked)])
        for i in range(presses)
    ]
    return HubConfig.model_validate(
        {
            "site": {"id": "bench", "name": "Bench School", "address": "1 Bench Road"},
            "mqtt": {"host": "127.0.0.1", "port": broker, "topic_prefix": "campus"},
            "storage": {"path": str(folder / "hub.db")},
            "forwarding": {"endpoints": [{"name": "police", "kind": "http", "url": receiver, "secret": "s" * 16}]},
            "video": {"check_interval_s": 86400},
            "devices": cameras + buttons,
        }
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))] if ordered else float("nan")


def phase(presses: int, rate: float, linked: int, checks: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, Mosquitto(Path(tmp) / "broker") as broker:
        receiver = Receiver("s" * 16).start()
        snapshots = SnapshotServer()
        hub = Hub(config(Path(tmp), broker.port, receiver.url, snapshots.port, presses, linked))
        evidence_at: dict[str, float] = {}

        def noticed(event: FeedEvent) -> None:
            if event.kind == "alarm_evidence":
                evidence_at.setdefault(str(event.data["alarm_id"]), time.monotonic())

        hub.feed.listen(noticed)
        hub.start()
        try:
            assert hub.ingest.wait_connected(10)
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-presser")
            client.connect("127.0.0.1", broker.port)
            client.loop_start()
            pressed: dict[str, float] = {}
            for i in range(presses):
                pressed[f"btn-{i}"] = time.monotonic()
                client.publish(f"campus/bench/panic_button/btn-{i}/event", '{"pressed": true, "seq": 1}', qos=1)
                time.sleep(1.0 / rate)  # the press schedule itself, not a synchronisation
            got = receiver.state.wait_for(presses, timeout=30)
            client.loop_stop()
            client.disconnect()
            to_110 = [(r.at_mono - pressed[r.body["device"]["id"]]) * 1000 for r in got]
            alarm_device = {r.body["alarm_id"]: r.body["device"]["id"] for r in got}
            if linked:
                deadline = time.monotonic() + 10
                while len(evidence_at) < presses and time.monotonic() < deadline:
                    time.sleep(0.05)  # bounded poll: the notices arrive on the evidence thread
            to_evidence = [(at - pressed[alarm_device[a]]) * 1000 for a, at in evidence_at.items() if a in alarm_device]
            per_check: list[float] = []
            if checks:
                for _ in range(checks):
                    started = time.monotonic()
                    hub.cameras.run_once()
                    per_check.append((time.monotonic() - started) * 1000 / CAMERAS)
            return {"alarms": len(got), "to_110": to_110, "to_evidence": to_evidence, "per_check": per_check}
        finally:
            hub.stop()
            receiver.stop()
            snapshots.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--presses", type=int, default=40)
    parser.add_argument("--press-rate", type=float, default=5.0)
    parser.add_argument("--cameras-per-button", type=int, default=2)
    parser.add_argument("--check-rounds", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    rows = []
    for run in range(1, args.runs + 1):
        base = phase(args.presses, args.press_rate, 0, 0)
        with_ev = phase(args.presses, args.press_rate, args.cameras_per_button, args.check_rounds)
        ev = with_ev["to_evidence"]
        row = {
            "base_p50": pct(base["to_110"], 0.5),
            "base_p99": pct(base["to_110"], 0.99),
            "ev_p50": pct(with_ev["to_110"], 0.5),
            "ev_p99": pct(with_ev["to_110"], 0.99),
            "evidence_p50": pct(ev, 0.5),
            "evidence_p99": pct(ev, 0.99),
            "evidence_max": max(ev, default=float("nan")),
            "within_2s": sum(1 for v in ev if v <= 2000),
            "check_ms": statistics.median(with_ev["per_check"]) if with_ev["per_check"] else float("nan"),
        }
        ok = base["alarms"] == args.presses and with_ev["alarms"] == args.presses
        rows.append(row)
        print(
            f"run {run}: 110 with evidence p50 {row['ev_p50']:.1f} ms p99 {row['ev_p99']:.1f} ms | baseline p50 "
            f"{row['base_p50']:.1f} ms p99 {row['base_p99']:.1f} ms | evidence p50 {row['evidence_p50']:.0f} ms "
            f"p99 {row['evidence_p99']:.0f} ms max {row['evidence_max']:.0f} ms, {row['within_2s']}/{args.presses} "
            f"within 2 s | one camera check {row['check_ms']:.1f} ms" + ("" if ok else "  FAIL: alarms missing")
        )

    def median(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    print(
        f"median of {len(rows)} runs: press -> 110 p50 {median('ev_p50'):.1f} ms, p99 {median('ev_p99'):.1f} ms with "
        f"evidence; baseline p50 {median('base_p50'):.1f} ms, p99 {median('base_p99'):.1f} ms "
        f"(p99 ratio {median('ev_p99') / median('base_p99'):.2f}); press -> evidence p50 "
        f"{median('evidence_p50'):.0f} ms, p99 {median('evidence_p99'):.0f} ms; one camera check "
        f"{median('check_ms'):.1f} ms (1280x720 HTTP snapshot, concurrency 2)"
    )


if __name__ == "__main__":
    main()
