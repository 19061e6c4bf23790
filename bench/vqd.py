"""Picture diagnosis speed: decode + diagnose of 1280x720 JPEG snapshots on one core.

What it measures: for each snapshot of the labelled set (tests/video/vqd_set.py: real photographs, 1280x720, JPEG
quality 85, clean and degraded), `decode(bytes)` and then `diagnose(frame, previous, reference)` as a camera probe
calls it: the previous snapshot (already decoded by its own check) and the camera's decoded reference (each
photograph is a camera with its own healthy reference, the same array for every check of it). Also the same
without previous and reference (a camera with no reference yet).

The decode is a reduced one: `decode` reads the JPEG at half size by DCT scaling (cv2.IMREAD_REDUCED_COLOR_2,
1280x720 comes out 640x360), a real decode of the real bytes but cheaper than a full-size one; the baseline below
is the full-size decode all the same. Faults are decided before the later measures are taken (a healthy frame takes
all of them): the median of the healthy snapshots alone is printed too.

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
from video.measures import Image  # noqa: E402

TARGET_FPS = 250.0


def _pass(count: int, step: Callable[[int], object], cpu: list[float]) -> list[float]:
    """Wall-clock seconds per frame of snapshots 0..count-1; the pass's CPU time (this thread's) per frame is appended
    to `cpu`."""
    times = []
    began = time.thread_time()
    for index in range(count):
        started = time.perf_counter()
        step(index)
        times.append(time.perf_counter() - started)
    cpu.append((time.thread_time() - began) / count)
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
    # Each camera (photograph) its own healthy reference, decoded once and the same array for all its checks, as the
    # scheduler keeps it: the first reference its samples carry.
    references: dict[str, Image] = {}
    for s in snapshots:
        picture = decode(s.reference) if s.reference is not None and s.photo not in references else None
        if picture is not None:
            references[s.photo] = picture
    # The previous check's frame, already decoded by that check: the snapshot before (the same camera's, but at a
    # camera's first snapshot).
    decoded = [decode(data) for data in frames]
    healthy = [i for i, s in enumerate(snapshots) if s.expected == {"healthy"}]
    print(
        f"{len(frames)} snapshots of 1280x720 JPEG (mean {statistics.mean(len(f) for f in frames) / 1000:.0f} kB),"
        f" built in {time.perf_counter() - started:.1f} s; {pinned}, OpenCV threads 1"
    )
    print(
        "decode+diagnose: `decode` reads each JPEG at half size by DCT scaling (IMREAD_REDUCED_COLOR_2, 640x360), a"
        " real decode of the bytes but cheaper than a full one; baseline: full-size cv2.imdecode (1280x720)"
    )

    def with_context(index: int) -> None:
        previous = decoded[index - 1] if index else None
        diagnose(decode(frames[index]), previous, references.get(snapshots[index].photo))

    def alone(index: int) -> None:
        diagnose(decode(frames[index]))

    def baseline(index: int) -> None:
        cv2.imdecode(np.frombuffer(frames[index], np.uint8), cv2.IMREAD_COLOR)

    steps = {"decode+diagnose (prev, reference)": with_context, "decode+diagnose (alone)": alone, "baseline": baseline}
    for step in steps.values():  # warm caches, allocators and the reference's features alike
        _pass(20, step, [])
    per_run: dict[str, list[float]] = {name: [] for name in steps}
    cpu: dict[str, list[float]] = {name: [] for name in steps}
    per_frame: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.runs):
        for name, step in steps.items():  # interleaved, so load from elsewhere hits all three alike
            times = _pass(len(frames), step, cpu[name])
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
        # A healthy frame goes through every check (a fault is decided earlier, and the rest is not measured).
        well = statistics.median(per_frame[name][k * len(frames) + i] for k in range(args.runs) for i in healthy)
        print(
            f"       its {len(healthy)} healthy snapshots (every check taken): per frame p50 {well * 1000:.2f} ms"
            f" ({1 / well:.0f} /s), {well / base_p50:.2f}x the baseline's per-frame p50"
        )
        ok &= fps >= TARGET_FPS
    headline = min(statistics.median(per_run[n]) for n in steps if n != "baseline")
    print("PASS" if ok else "FAIL", f"(slower protocol {headline:.1f} frames/s vs target {TARGET_FPS:.0f} per core)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
