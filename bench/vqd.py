"""Picture diagnosis speed: decode + diagnose of 1280x720 JPEG snapshots on one core.

What it measures: for each snapshot of the labelled set (tests/video/vqd_set.py: real photographs, 1280x720, JPEG
quality 85, clean and degraded), `decode(bytes)` (reduced-size DCT decoding) and then `diagnose(frame, previous,
reference)` as a camera probe calls it: the previous decoded snapshot and the camera's decoded reference are passed
each time (the reference is the same array for every check of a camera). Also the same without previous and
reference (a camera with no reference yet).

Baseline, in the same run: `cv2.imdecode` of the same bytes at full size, i.e. what merely looking at the picture
costs. Headline: frames per second (median over `--runs` passes over all snapshots), p50/p99 per frame, the CPU time
(thread time) per frame of each pass, and the ratio against the baseline (of the pass medians, of the per-frame
medians and of the CPU times, which a shared machine disturbs less than the wall clock). The
process is pinned to one core (os.sched_setaffinity) and OpenCV to one thread.

Target (issue 15): at least 250 frames per second per core, decode included, in both protocols; the ratio to the
bare decode is printed for both.

Run: `.venv/bin/python bench/vqd.py [--runs 5] [--core 0]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.video.vqd_set import TUNE, samples  # noqa: E402 - the repository root goes on the path first
from video.diagnosis import decode, diagnose  # noqa: E402

TARGET_FPS = 250.0


def _pass(frames: list[bytes], step: Callable[[bytes], object], cpu: list[float]) -> list[float]:
    """Wall-clock seconds per frame; the pass's CPU time (this thread's) per frame is appended to `cpu`."""
    times = []
    began = time.thread_time()
    for data in frames:
        started = time.perf_counter()
        step(data)
        times.append(time.perf_counter() - started)
    cpu.append((time.thread_time() - began) / len(frames))
    return times


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--core", type=int, default=0, help="CPU to pin to")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.core})
        pinned = f"pinned to CPU {args.core}"
    else:
        pinned = "not pinned (no sched_setaffinity here)"
    cv2.setNumThreads(1)

    started = time.perf_counter()
    snapshots = list(samples(TUNE))
    frames = [s.frame for s in snapshots]
    reference = decode(snapshots[0].reference or snapshots[0].frame)
    print(
        f"{len(frames)} snapshots of 1280x720 JPEG (mean {statistics.mean(len(f) for f in frames) / 1000:.0f} kB),"
        f" built in {time.perf_counter() - started:.1f} s; {pinned}, OpenCV threads 1"
    )

    state: dict[str, object] = {}

    def with_context(data: bytes) -> None:
        frame = decode(data)
        previous = state.get("previous")
        diagnose(frame, previous if isinstance(previous, np.ndarray) else None, reference)
        state["previous"] = frame

    def alone(data: bytes) -> None:
        diagnose(decode(data))

    def baseline(data: bytes) -> None:
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    steps = {"decode+diagnose (prev, reference)": with_context, "decode+diagnose (alone)": alone, "baseline": baseline}
    for step in steps.values():  # warm caches, allocators and the reference's features alike
        _pass(frames[:20], step, [])
    per_run: dict[str, list[float]] = {name: [] for name in steps}
    cpu: dict[str, list[float]] = {name: [] for name in steps}
    per_frame: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.runs):
        for name, step in steps.items():  # interleaved, so load from elsewhere hits all three alike
            times = _pass(frames, step, cpu[name])
            per_run[name].append(len(frames) / sum(times))
            per_frame[name] += times

    for name in steps:
        runs = " ".join(f"{fps:.0f}" for fps in per_run[name])
        print(
            f"{name:<36} median {statistics.median(per_run[name]):7.1f} frames/s (runs: {runs});"
            f" per frame p50 {_percentile(per_frame[name], 50) * 1000:.2f} ms,"
            f" p99 {_percentile(per_frame[name], 99) * 1000:.2f} ms;"
            f" CPU time median {statistics.median(cpu[name]) * 1000:.2f} ms a frame"
            f" ({1 / statistics.median(cpu[name]):.0f} /s; runs: {' '.join(f'{t * 1000:.2f}' for t in cpu[name])})"
        )
    base = statistics.median(per_run["baseline"])
    ok = True
    base_p50 = _percentile(per_frame["baseline"], 50)
    for name in ("decode+diagnose (prev, reference)", "decode+diagnose (alone)"):
        fps = statistics.median(per_run[name])
        # The per-frame medians too: on a shared machine they move less than whole passes, which catch others' bursts.
        p50 = _percentile(per_frame[name], 50) / base_p50
        in_cpu = statistics.median(cpu[name]) / statistics.median(cpu["baseline"])
        print(
            f"ratio: {name} takes {base / fps:.2f}x the time of the baseline full-size decode"
            f" (per-frame p50: {p50:.2f}x; CPU time: {in_cpu:.2f}x)"
        )
        ok &= fps >= TARGET_FPS
    headline = min(statistics.median(per_run[n]) for n in steps if n != "baseline")
    print("PASS" if ok else "FAIL", f"(slower protocol {headline:.1f} frames/s vs target {TARGET_FPS:.0f} per core)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
