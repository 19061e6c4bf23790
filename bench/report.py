"""Uptime report speed: a 90-day report over 10,000 devices with realistic outage histories.

What it measures: the whole of `GET /api/v1/reports/uptime?group=device` minus HTTP, i.e. `read_report` on a
read-only connection (as `campus-hub report uptime` opens it): the fingerprint, each device's state at `from`,
the one ordered query over the period's transitions with the linear pass, the faults, the current states, the
rows and summary, and the JSON body. Also the same with group=site and format=csv, and the ETag alone (what a
poll that finds nothing new costs).

Data: generated straight into a SQLite file through the hub's own schema (`Store`, `HealthStore`,
`report_store.SCHEMA`), rows in time order as the hub appends them, 104 days of history (14 before the window):
5% of devices never fail; 70% have a few outages (minutes to hours, some with a low-battery spell); 18% flap
(3-10 bursts of 8-15 drop-outs of 1-5 minutes, 1-15 minutes apart: dozens to 150 outages each); 7% have long
outages (1-6 days, so SLA breaches; some still down). Every outage has its fault (a recurrence within the
10-minute flap window continues the fault, as the hub does) with log rows; a site-wide 4-hour maintenance window
and 200 device windows exercise the planned-window path, and three hub gaps (`hub.health.liveness`: a 3-hour power cut,
a 25-minute upgrade, a 7-minute crash) the not-monitored path.

Rollups: after generating, the per-day rollups (`hub.store.rollups`, and the fault figures' in
`hub.store.fault_rollups`) are filled as a hub opening the file would backfill them (`UptimeRollups.catch_up`,
timed; its steps count fault days and uptime days alike); the reports then combine rolled whole days with exact
part-days at the edges. The full computation (the reference, no rollups) is measured too and must give the same body.

Baseline, in the same run: the cost of just reading the period's transitions with one SELECT (`fetchall()` of
device_id, to_state, at in time order). Headline: the median over `--runs` of each, and report/baseline.

Target: the 90-day device report in under 200 ms (issue 16).

Run: `.venv/bin/python bench/report.py [--runs 7] [--devices 10000] [--seed 1] [--keep]`.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub.config import HubConfig
from hub.core.clock import ManualClock, SystemClock, to_iso
from hub.health.liveness import SCHEMA as LIVENESS_SCHEMA
from hub.reports import Format, Group, resolve_period
from hub.store import Store, rollups
from hub.store.health import HealthStore
from hub.store.reports import (
    SCHEMA,
    config_digest,
    fingerprint,
    open_readonly,
    read_report,
    registry,
)

TARGET_S = 0.2
DAY = 86400.0
END = datetime(2026, 6, 1, tzinfo=UTC)
WINDOW_DAYS = 90
HISTORY_DAYS = WINDOW_DAYS + 14
FLAP_WINDOW_S = 600.0
KINDS = [("camera", 0.25), ("panic_button", 0.06), ("smoke", 0.39), ("temperature", 0.30)]


@dataclass
class History:
    """One device's generated transitions and faults."""

    transitions: list[tuple[str, str, float]] = field(default_factory=list)  # (from, to, at)
    faults: list[dict[str, Any]] = field(default_factory=list)
    state: str = "unknown"

    def go(self, to_state: str, at: float) -> None:
        self.transitions.append((self.state, to_state, at))
        self.state = to_state


def _outages(rng: random.Random, start: float, end: float, profile: str) -> list[tuple[float, float, str]]:
    """(begins, lasts_s, kind) of non-overlapping outages: offline or faulty (low battery)."""
    spans: list[tuple[float, float, str]] = []
    if profile == "normal":
        spans = [(rng.uniform(start, end), rng.lognormvariate(7.5, 1.3), "offline") for _ in range(rng.randint(1, 8))]
        if rng.random() < 0.3:
            spans.append((rng.uniform(start, end), rng.uniform(2 * 3600, 3 * DAY), "faulty"))
    elif profile == "flapping":
        # Flapping is rapid toggling: bursts of 1-5 minute drop-outs 1-15 minutes apart, so most recurrences fall
        # inside the hub's flap window and continue one fault, as the hub does it.
        for _ in range(rng.randint(3, 10)):
            at = rng.uniform(start, end)
            for _ in range(rng.randint(8, 15)):
                lasts = rng.uniform(60, 300)
                spans.append((at, lasts, "offline"))
                at += lasts + rng.uniform(61, 900)
    elif profile == "long":
        spans = [(rng.uniform(start, end), rng.uniform(DAY, 6 * DAY), "offline") for _ in range(rng.randint(1, 3))]
    spans.sort()
    out: list[tuple[float, float, str]] = []
    free_from = start
    for begins, lasts, kind in spans:
        if begins <= free_from or begins >= end:
            continue
        out.append((begins, lasts, kind))
        free_from = begins + lasts + 60  # a minute online at least between two outages
    return out


def _history(rng: random.Random, start: float, end: float) -> History:
    history = History()
    first = start + rng.uniform(0, 3600)
    history.go("online", first)
    roll = rng.random()
    profile = "perfect" if roll < 0.05 else "normal" if roll < 0.75 else "flapping" if roll < 0.93 else "long"
    for begins, lasts, kind in _outages(rng, first + 60, end, profile):
        back = begins + lasts
        history.go(kind, begins)
        if back < end:
            history.go("online", back)
        recovered = back if back < end else None
        fault_kind = "offline" if kind == "offline" else "low_battery"
        last = history.faults[-1] if history.faults else None
        if (
            last is not None
            and last["kind"] == fault_kind
            and last["recovered"] is not None
            and begins - last["recovered"] <= FLAP_WINDOW_S
        ):
            last["recovered"] = recovered  # a recurrence inside the flap window continues the fault
            last["recurrences"] += 1
            continue
        history.faults.append({"kind": fault_kind, "opened": begins, "recovered": recovered, "recurrences": 0})
    return history


def _iso(seconds: float) -> str:
    return to_iso(datetime.fromtimestamp(seconds, UTC))


def generate(path: Path, devices: int, seed: int) -> tuple[HubConfig, dict[str, int]]:
    """A registry of `devices` and their histories written into a fresh hub database at `path`."""
    rng = random.Random(seed)
    kinds = rng.choices([k for k, _ in KINDS], weights=[w for _, w in KINDS], k=devices)
    raw = {
        "site": {"id": "bench-school", "name": "Bench School", "address": "1 Bench Road"},
        "storage": {"path": str(path)},
        "devices": [
            {
                "id": f"dev-{i:05d}",
                "kind": kind,
                "name": f"{kind} {i}",
                "location": {"building": f"B{i % 20}", "floor": "1", "room": str(i)},
            }
            for i, kind in enumerate(kinds)
        ],
    }
    config = HubConfig.model_validate(raw)
    store = Store(path, SystemClock())
    store.open()
    HealthStore(store, 24, FLAP_WINDOW_S).open()
    store.ensure_schema(SCHEMA)
    store.ensure_schema(LIVENESS_SCHEMA)
    rollups.ensure_schema(store)
    end = END.timestamp()
    start = end - HISTORY_DAYS * DAY
    counts = {"transitions": 0, "faults": 0, "breached": 0}
    histories = {device.id: _history(rng, start, end) for device in config.devices}
    # The hub appends transitions and opens faults as they happen, so rows go in time order, as here.
    transitions = sorted(
        ((device_id, f, t, at) for device_id, h in histories.items() for f, t, at in h.transitions),
        key=lambda row: row[3],
    )
    faults = sorted(
        ((device_id, fault) for device_id, h in histories.items() for fault in h.faults), key=lambda r: r[1]["opened"]
    )
    counts["transitions"], counts["faults"] = len(transitions), len(faults)
    with store.write() as conn:
        conn.executemany(
            "INSERT INTO state_transitions (device_id, from_state, to_state, at, reason) VALUES (?, ?, ?, ?, ?)",
            [(device_id, f, t, _iso(at), "bench") for device_id, f, t, at in transitions],
        )
        for device_id, fault in faults:
            due = fault["opened"] + DAY
            recovered = fault["recovered"]
            breached = recovered is None or recovered > due
            if recovered is None:
                state = "registered"
            else:
                state = "closed" if end - recovered > 3 * DAY else "recovered"
            cursor = conn.execute(
                "INSERT INTO faults (subject, kind, state, source, summary, opened_at, due_at, recovered_at,"
                " breached_at, recurrences) VALUES (?, ?, ?, 'auto', 'bench', ?, ?, ?, ?, ?)",
                (
                    device_id,
                    fault["kind"],
                    state,
                    _iso(fault["opened"]),
                    _iso(due),
                    _iso(recovered) if recovered is not None else None,
                    _iso(due) if breached else None,
                    fault["recurrences"],
                ),
            )
            conn.executemany(
                "INSERT INTO fault_log (fault_id, at, actor, action, note) VALUES (?, ?, 'campus-hub', ?, '')",
                [(cursor.lastrowid, _iso(fault["opened"]), "registered")]
                + ([(cursor.lastrowid, _iso(recovered), "recovered")] if recovered is not None else []),
            )
            counts["breached"] += breached
        conn.executemany(
            "INSERT INTO device_state (device_id, state, since, online, troubles) VALUES (?, ?, ?, ?, '[]')",
            [
                (device_id, h.state, _iso(h.transitions[-1][2]), int(h.state != "offline"))
                for device_id, h in histories.items()
            ],
        )
        windows = [("*", end - 40 * DAY, 4 * 3600.0)] + [
            (f"dev-{rng.randrange(devices):05d}", rng.uniform(end - 85 * DAY, end), rng.uniform(2, 8) * 3600)
            for _ in range(200)
        ]
        conn.executemany(
            "INSERT INTO maintenance_windows (subject, starts_at, ends_at, reason, created_by, created_at)"
            " VALUES (?, ?, ?, 'bench', 'bench', ?)",
            [(s, _iso(a), _iso(a + d), _iso(a - DAY)) for s, a, d in windows],
        )
        gaps = [(end - 60 * DAY, 3 * 3600.0), (end - 20.3 * DAY, 25 * 60.0), (end - 5.7 * DAY, 7 * 60.0)]
        conn.executemany(
            "INSERT INTO hub_gaps (started_at, ended_at) VALUES (?, ?)", [(_iso(a), _iso(a + d)) for a, d in gaps]
        )
    store.close_thread_connection()
    return config, counts


def backfill(path: Path, config: HubConfig) -> int:
    """Roll up every closed day, as the hub's worker does for a file that has none yet; the steps taken."""
    store = Store(path, SystemClock())
    store.open()
    try:
        return rollups.UptimeRollups(store, config, ManualClock(END)).catch_up()
    finally:
        store.close_thread_connection()


def median_time(fn: Callable[[], object], runs: int) -> tuple[float, list[float]]:
    """The median wall time of `runs` calls of `fn`, and each call's time (seconds)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the generated database and print its path")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="campus-hub-bench-report-"))
    try:
        path = workdir / "hub.db"
        started = time.perf_counter()
        config, counts = generate(path, args.devices, args.seed)
        print(
            f"generated {args.devices:,} devices, {counts['transitions']:,} transitions, {counts['faults']:,} faults"
            f" ({counts['breached']:,} breached) over {HISTORY_DAYS} days in {time.perf_counter() - started:.1f} s;"
            f" {path.stat().st_size / 1e6:.0f} MB"
        )
        started = time.perf_counter()
        steps = backfill(path, config)
        print(f"rollups: {steps} days rolled up in {time.perf_counter() - started:.1f} s")
        conn = open_readonly(path)
        devices, digest = registry(config), config_digest(config)
        period = resolve_period(END - timedelta(days=WINDOW_DAYS), END, END)
        start_text, end_text = to_iso(period.start), to_iso(period.as_of)
        in_window = conn.execute(
            "SELECT COUNT(*) FROM state_transitions WHERE at >= ? AND at < ?", (start_text, end_text)
        ).fetchone()[0]
        print(f"window {start_text} .. {end_text}: {in_window:,} transitions in it")

        def report(group: Group, fmt: Format, use_rollups: bool = True) -> Callable[[], object]:
            return lambda: read_report(conn, config, period, group, fmt, devices, digest, use_rollups=use_rollups)

        def baseline() -> object:
            return conn.execute(
                "SELECT device_id, to_state, at FROM state_transitions WHERE at >= ? AND at < ? ORDER BY at, id",
                (start_text, end_text),
            ).fetchall()

        report("device", "json")()  # warm the page cache for both sides alike
        base, base_runs = median_time(baseline, args.runs)
        full, full_runs = median_time(report("device", "json"), args.runs)
        reference, _ = median_time(report("device", "json", use_rollups=False), args.runs)
        site, _ = median_time(report("site", "json"), args.runs)
        csv_, _ = median_time(report("device", "csv"), args.runs)
        etag, _ = median_time(lambda: fingerprint(conn), args.runs)
        _, body, built = read_report(conn, config, period, "device", "json", devices, digest)
        _, reference_body, _ = read_report(conn, config, period, "device", "json", devices, digest, use_rollups=False)
        if body != reference_body:
            print("FAIL: the report from rollups differs from the full computation")
            return 1
        summary = built["summary"]
        print(
            f"site uptime {summary['uptime_pct']}%, faults {summary['faults']:,}, breaches {summary['sla_breaches']:,},"
            f" not monitored {summary['unmonitored_min']} min; device report body {len(body) / 1e6:.1f} MB"
        )
        print(f"report runs (s): {' '.join(f'{t:.3f}' for t in full_runs)}")
        print(f"baseline runs (s): {' '.join(f'{t:.3f}' for t in base_runs)}")
        print(f"90-day report, group=device, json: median {full:.3f} s (target < {TARGET_S:.3f} s)")
        print(f"90-day report, full computation (no rollups, the reference): median {reference:.3f} s")
        print(f"90-day report, group=site, json:   median {site:.3f} s")
        print(f"90-day report, group=device, csv:  median {csv_:.3f} s")
        print(f"ETag fingerprint alone:            median {etag * 1000:.2f} ms")
        print(f"baseline (one SELECT of the window's transitions): median {base:.3f} s")
        print(f"ratio report/baseline: {full / base:.2f}")
        conn.close()
        ok = full < TARGET_S
        print("PASS" if ok else "FAIL", f"(median {full:.3f} s vs target {TARGET_S:.3f} s)")
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
