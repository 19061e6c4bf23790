"""Presses while the API is attacked with huge request bodies: the API must never starve ingest or forwarding.

What it measures: `--presses` panic presses (default 100 at 10/s, each on its own button) to a real HTTP 110
receiver, with and without an attack in the same run: `--attackers` threads (default 10) each opening connection
after connection to the hub's API and sending a POST without a token that declares a 100 MB JSON body and then
streams it (1 MiB chunks, as fast as the socket takes them), half of them chunked with no Content-Length at all.
The hub refuses each before reading its body; the figure that matters is press -> 110 under the attack. The
press client and the receiver run in a process of their own (`bench.field`), as in the field.

Headline: the median over `--runs` of the attacked p99, the baseline p99 and their ratio. Target (issue 13): the
attacked p99 within 2x the baseline p99.

Run: `.venv/bin/python bench/api_attack.py [--runs 3]`. Bounded: attackers stop with their phase, every socket has a
timeout, and every wait has a deadline.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.alarm_latency import hub_config, percentile, summary  # noqa: E402
from bench.field import HOST, Field, account  # noqa: E402
from hub.app import Hub  # noqa: E402
from hub.config import HubConfig  # noqa: E402
from hub.devtools.broker import Mosquitto  # noqa: E402

TARGET_RATIO = 2.0
CHUNK = b"[" + b"1," * (512 * 1024 - 1) + b"1"  # ~1 MiB of JSON-looking bytes


def attacker(port: int, chunked: bool, stop: threading.Event, refused: list[int]) -> None:
    """Send huge bodies without a token, connection after connection, until told to stop."""
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {100 * 1024 * 1024}"
    head = (
        f"POST /api/v1/alarms/x/close HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n{length}\r\n\r\n"
    ).encode()
    while not stop.is_set():
        try:
            with socket.create_connection((HOST, port), timeout=2) as sock:
                sock.sendall(head)
                for _ in range(100):
                    if stop.is_set():
                        break
                    sock.sendall(f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n" if chunked else CHUNK)
        except OSError:
            refused.append(1)  # the hub answered and closed without reading the body: the expected end


def attack_main(port: int, attackers: int, stop: MpEvent, refused: Synchronized[int]) -> None:
    """The attacking process: `attackers` threads, so the attack costs the hub's machine, not the hub's GIL."""
    stopped = threading.Event()
    counts: list[int] = []
    threads = [
        threading.Thread(target=attacker, args=(port, i % 2 == 1, stopped, counts), daemon=True)
        for i in range(attackers)
    ]
    for thread in threads:
        thread.start()
    stop.wait(120)
    stopped.set()
    for thread in threads:
        thread.join(5)
    refused.value = len(counts)


def run_phase(workdir: Path, args: argparse.Namespace, attacked: bool) -> tuple[list[float], int]:
    ctx = mp.get_context("spawn")
    with Mosquitto(workdir / "broker") as broker, Field(ctx) as field_:
        hub = Hub(HubConfig.model_validate(hub_config(workdir, broker.port, field_.url)))
        hub.start()
        port = hub.start_api_thread()
        stop = ctx.Event()
        refused = ctx.Value("i", 0)
        attack = ctx.Process(target=attack_main, args=(port, args.attackers, stop, refused), daemon=True)
        try:
            if not hub.ingest.wait_connected(10):
                raise RuntimeError("hub did not connect")
            field_.connect(broker.port)
            if attacked:
                attack.start()
                time.sleep(1.0)
            presses, _ = field_.press(args.presses, args.press_rate)
            received = field_.wait_for(args.presses, 30)
        finally:
            stop.set()
            if attacked:
                attack.join(15)
                if attack.is_alive():
                    attack.terminate()
            hub.stop()
    accounting = account(presses, received)
    if accounting.problems:
        raise RuntimeError("; ".join(accounting.problems))
    return accounting.latencies_ms, int(refused.value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--presses", type=int, default=100)
    parser.add_argument("--press-rate", type=float, default=10.0)
    parser.add_argument("--attackers", type=int, default=10)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    root = Path(tempfile.mkdtemp(prefix="campus-hub-bench-attack-"))
    pairs = []
    try:
        for run in range(1, args.runs + 1):
            base, _ = run_phase(root / f"run{run}-base", args, False)
            hit, refused = run_phase(root / f"run{run}-attack", args, True)
            pairs.append((base, hit))
            print(f"  run {run}: baseline ms {summary(base)} | attacked ms {summary(hit)} | {refused} attacks refused")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base_p99 = statistics.median(percentile(b, 99) for b, _ in pairs)
    hit_p99 = statistics.median(percentile(h, 99) for _, h in pairs)
    ratio = statistics.median(percentile(h, 99) / percentile(b, 99) for b, h in pairs)
    figures = f"attacked p99 {hit_p99:.1f} ms | baseline p99 {base_p99:.1f} ms | ratio {ratio:.2f}"
    print(f"MEDIAN of {len(pairs)} runs: {figures}")
    ok = ratio <= TARGET_RATIO
    print(f"TARGET attacked p99 <= {TARGET_RATIO:.0f}x baseline: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
