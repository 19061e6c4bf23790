"""Monthly safety report speed: one site-local month's report over a year of a busy school's records.

What it measures: `hub.ledger.monthly.monthly_report` as `GET /api/v1/reports/monthly?format=json` runs it, minus
HTTP: the month's alarms and incidents with their report duties, faults and hazards opened / closed / overdue, the
inspection checks of every plan's periods in the month, drills, and the site's uptime for the month (the uptime
report's own read, group=site), then the JSON body.

Data: generated straight into a SQLite file through the hub's own schemas (`Store`, `HealthStore`, the report and
liveness tables, `LedgerStore`, `InspectionStore`), a year (June 2025 to May 2026) of: 3,000 alarms (most with
their phone and written reports, some late or missing), 600 incidents, 20,000 equipment faults, 1,500 hazards
with their signed steps, 30 inspection plans (10 daily patrols of 20 points, 10 weekly checks of 50 items, 10
monthly checks of 100 items; about 9 in 10 checks done), and `--devices` devices' state transitions (a few
outages a month each).

Baseline, in the same run: reading the month's rows of every table the report uses with plain SELECTs
(`fetchall()`), without any counting: the floor any report of the month pays. Headline: the median over
`--runs` of each, and report/baseline.

Target: the monthly report (March 2026) in under 1 s.

Run: `.venv/bin/python bench/monthly.py [--runs 7] [--devices 1000] [--seed 1] [--keep]`.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from alerts.duties import DutyPolicy, DutyType
from hub.config import HubConfig
from hub.core.clock import SystemClock, to_iso
from hub.health.liveness import SCHEMA as LIVENESS_SCHEMA
from hub.ledger.inspection_store import InspectionStore
from hub.ledger.inspections import Frequency, period_days, periods_starting
from hub.ledger.monthly import month_bounds, monthly_report
from hub.ledger.store import LedgerStore
from hub.reports import resolve_period
from hub.store import Actor, Store
from hub.store.health import HealthStore
from hub.store.reports import SCHEMA as REPORTS_SCHEMA
from hub.store.reports import config_digest, read_report, registry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import median_time  # noqa: E402 - the repository root goes on the path first

TARGET_S = 1.0
START = datetime(2025, 6, 1, tzinfo=UTC)
END = datetime(2026, 6, 1, tzinfo=UTC)
MONTH = date(2026, 3, 1)
POLICY = DutyPolicy({DutyType.PHONE: 30, DutyType.WRITTEN: 60}, frozenset({"panic", "fire", "heat", "incident"}))


def _at(rng: random.Random) -> datetime:
    return START + timedelta(seconds=rng.uniform(0, (END - START).total_seconds()))


def _reports(rng: random.Random, raised: datetime) -> list[tuple[str, str]]:
    out = []
    if rng.random() < 0.85:
        out.append(("phone", to_iso(raised + timedelta(minutes=rng.uniform(3, 45)))))
    if rng.random() < 0.75:
        out.append(("written", to_iso(raised + timedelta(minutes=rng.uniform(25, 100)))))
    return out


def generate(path: Path, devices: int, seed: int) -> tuple[HubConfig, dict[str, int]]:
    rng = random.Random(seed)
    config = HubConfig.model_validate(
        {
            "site": {"id": "bench-school", "name": "Bench School", "address": "1 Bench Road"},
            "storage": {"path": str(path)},
            "devices": [
                {
                    "id": f"dev-{i:05d}",
                    "kind": "smoke",
                    "name": f"smoke {i}",
                    "location": {"building": "A", "floor": "1", "room": str(i)},
                }
                for i in range(devices)
            ],
        }
    )
    store = Store(path, SystemClock())
    store.open()
    HealthStore(store, 24, 600).open()
    store.ensure_schema(REPORTS_SCHEMA)
    store.ensure_schema(LIVENESS_SCHEMA)
    LedgerStore(store, config.site).open()
    inspections = InspectionStore(store, config.site)
    inspections.open()
    counts: dict[str, int] = {}
    with store.write() as conn:
        alarms: list[tuple[str, str, str, str, str, str, str, str | None]] = []
        reports: list[tuple[str, str, str, str]] = []
        for _ in range(3000):
            raised = _at(rng)
            alarm_id = str(uuid.uuid4())
            # Only the last hours' alarms are still open (one active alarm per device, as the hub keeps it).
            recent = raised > END - timedelta(hours=6)
            disposition = None if recent else rng.choice(["real", "drill", "false_alarm", "fault", "false_alarm"])
            kind = rng.choice(["panic", "fire", "heat", "panic"])
            iso = to_iso(raised)
            device = f"dev-{len(alarms) % devices:05d}"
            alarms.append((alarm_id, device, kind, "closed" if disposition else "open", iso, iso, iso, disposition))
            reports += [(alarm_id, t, at, iso) for t, at in _reports(rng, raised)]
        alarms.sort(key=lambda a: a[4])  # in time order, as the hub appends them
        conn.executemany(
            "INSERT INTO alarms (id, device_id, kind, priority, state, reason, detail, device, occurred_at, raised_at,"
            " last_trigger_at, disposition) VALUES (?, ?, ?, 1, ?, 'bench', '{}', '{}', ?, ?, ?, ?)",
            alarms,
        )
        conn.executemany(
            "INSERT INTO alarm_reports (alarm_id, type, at, by, note, recorded_at, recorded_by)"
            " VALUES (?, ?, ?, 'bench', '', ?, 'bench')",
            reports,
        )
        counts["alarms"] = len(alarms)
        incident_reports = []
        for n in range(1, 601):
            occurred = _at(rng)
            conn.execute(
                "INSERT INTO incidents (id, kind, place, occurred_at, summary, people, police_called, state,"
                " recorded_at, recorded_by) VALUES (?, ?, 'x', ?, 'x', '', ?, 'closed', ?, 'bench')",
                (
                    n,
                    rng.choice(["injury", "fight", "missing_pupil", "trespasser", "other"]),
                    to_iso(occurred),
                    int(rng.random() < 0.3),
                    to_iso(occurred),
                ),
            )
            incident_reports += [(n, t, at, to_iso(occurred)) for t, at in _reports(rng, occurred)]
        conn.executemany(
            "INSERT INTO incident_reports (incident_id, type, at, by, note, recorded_at, recorded_by)"
            " VALUES (?, ?, ?, 'bench', '', ?, 'bench')",
            incident_reports,
        )
        counts["incidents"] = 600
        faults: list[tuple[str, str, str, str, str, str | None]] = []
        for _ in range(20_000):
            opened = _at(rng)
            recovered = opened + timedelta(hours=rng.expovariate(1 / 8))
            closed = recovered + timedelta(hours=rng.uniform(1, 48))
            done = closed < END
            faults.append(
                (
                    f"dev-{rng.randrange(devices):05d}",
                    "closed" if done else "recovered",
                    to_iso(opened),
                    to_iso(opened + timedelta(hours=24)),
                    to_iso(recovered),
                    to_iso(closed) if done else None,
                )
            )
        faults.sort(key=lambda f: f[2])
        conn.executemany(
            "INSERT INTO faults (subject, kind, state, source, summary, opened_at, due_at, recovered_at, closed_at)"
            " VALUES (?, 'offline', ?, 'auto', 'x', ?, ?, ?, ?)",
            faults,
        )
        counts["faults"] = len(faults)
        for n in range(1, 1501):
            registered = _at(rng)
            due = registered.date() + timedelta(days=rng.randint(3, 30))
            fixed = registered + timedelta(days=rng.uniform(0.1, 40))
            closed = fixed + timedelta(days=rng.uniform(0.5, 5))
            state = "closed" if closed < END else "fixed" if fixed < END else "monitoring"
            conn.execute(
                "INSERT INTO hazards (id, state, source, found_by, place, category, summary, severity, due,"
                " registered_at, registered_by, fixed_at, fixed_by, closed_at, closed_by) VALUES"
                " (?, ?, 'person', 'bench', 'x', 'x', 'x', ?, ?, ?, 'bench', ?, 'bench', ?, 'bench')",
                (
                    n,
                    state,
                    rng.choice(["general", "serious", "major"]),
                    due.isoformat(),
                    to_iso(registered),
                    to_iso(fixed) if fixed < END else None,
                    to_iso(closed) if closed < END else None,
                ),
            )
            conn.executemany(
                "INSERT INTO hazard_log (hazard_id, at, actor, role, step, note, detail)"
                " VALUES (?, ?, 'bench', 'maintenance', ?, '', '{}')",
                [(n, to_iso(registered), s) for s in ("register", "assess", "report", "monitor", "fix")],
            )
        counts["hazards"] = 1500
    checks = 0
    for frequency, plans, items in (
        (Frequency.DAILY, 10, 20),
        (Frequency.WEEKLY, 10, 50),
        (Frequency.MONTHLY, 10, 100),
    ):
        for p in range(plans):
            spec = [{"id": f"i{i}", "what": "x", "where": "x"} for i in range(items)]
            plan_id = inspections.create_plan(
                _actor(), START, name=f"{frequency}-{p}", category="x", frequency=frequency, items=spec
            )
            rows: list[tuple[int, str, str, str]] = []
            for key in periods_starting(frequency, START.date(), (END - timedelta(days=1)).date()):
                first, _ = period_days(frequency, key)
                at = to_iso(datetime.combine(first, datetime.min.time(), UTC) + timedelta(hours=2))
                rows += [(plan_id, f"i{i}", key, at) for i in range(items) if rng.random() < 0.9]
            with store.write() as conn:
                conn.executemany(
                    "INSERT INTO inspection_checks (plan_id, item_id, period, at, by, role, result, note)"
                    " VALUES (?, ?, ?, ?, 'bench', 'guard', 'ok', '')",
                    rows,
                )
            checks += len(rows)
    counts["checks"] = checks
    transitions: list[tuple[str, str, str, datetime]] = []
    for d in range(devices):
        device = f"dev-{d:05d}"
        transitions.append((device, "unknown", "online", START))
        down = START
        while True:
            down += timedelta(days=rng.expovariate(3 / 30))
            back = down + timedelta(minutes=rng.expovariate(1 / 90))
            if back >= END:
                break
            transitions += [(device, "online", "offline", down), (device, "offline", "online", back)]
            down = back
    transitions.sort(key=lambda t: t[3])
    with store.write() as conn:
        conn.executemany(
            "INSERT INTO state_transitions (device_id, from_state, to_state, at, reason) VALUES (?, ?, ?, ?, 'bench')",
            [(d, f, t, to_iso(at)) for d, f, t, at in transitions],
        )
    counts["transitions"] = len(transitions)
    store.close_thread_connection()
    return config, counts


def _actor() -> Actor:
    return Actor("bench", "maintenance")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the generated database and print its path")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="campus-hub-bench-monthly-"))
    try:
        path = workdir / "hub.db"
        started = time.perf_counter()
        config, counts = generate(path, args.devices, args.seed)
        print(
            f"generated a year: {', '.join(f'{v:,} {k}' for k, v in counts.items())} in"
            f" {time.perf_counter() - started:.1f} s; {path.stat().st_size / 1e6:.0f} MB"
        )
        store = Store(path, SystemClock())
        site = config.site
        inspections = InspectionStore(store, site)
        devices, digest = registry(config), config_digest(config)
        conn = store.connection()

        def uptime(start: datetime, as_of: datetime) -> float | None:
            period = resolve_period(start, as_of, END)
            _, body, _ = read_report(conn, config, period, "site", "json", devices, digest)
            value = json.loads(body)["summary"]["uptime_pct"]
            return None if value is None else float(value)

        def report() -> bytes:
            built = monthly_report(conn, site, POLICY, MONTH, END, uptime, inspections.month_figures)
            return json.dumps(built, ensure_ascii=False).encode("utf-8")

        start_at, end_at = month_bounds(site, MONTH)
        start, end = to_iso(start_at), to_iso(end_at)

        def baseline() -> object:
            between = (start, end)
            return [
                conn.execute(sql, between).fetchall()
                for sql in (
                    "SELECT a.id, a.kind, a.raised_at, a.disposition, r.type, r.at FROM alarms a"
                    " LEFT JOIN alarm_reports r ON r.alarm_id = a.id WHERE a.raised_at >= ? AND a.raised_at < ?",
                    "SELECT i.id, i.kind, i.occurred_at, r.type, r.at FROM incidents i"
                    " LEFT JOIN incident_reports r ON r.incident_id = i.id"
                    " WHERE i.occurred_at >= ? AND i.occurred_at < ?",
                    "SELECT opened_at, due_at, recovered_at, closed_at FROM faults"
                    " WHERE opened_at >= ? AND opened_at < ?",
                    "SELECT registered_at, fixed_at, closed_at, due FROM hazards WHERE registered_at >= ?"
                    " AND registered_at < ?",
                    "SELECT plan_id, item_id, period FROM inspection_checks WHERE at >= ? AND at < ?",
                    "SELECT device_id, to_state, at FROM state_transitions WHERE at >= ? AND at < ? ORDER BY at, id",
                )
            ]

        figures = json.loads(report())  # warms the page cache for both sides alike
        base, base_runs = median_time(baseline, args.runs)
        full, full_runs = median_time(report, args.runs)
        print(
            f"{figures['month']}: alarms {figures['alarms']['total']}, incidents {figures['incidents']['total']},"
            f" faults opened {figures['faults']['opened']}, hazards opened {figures['hazards']['opened']},"
            f" inspections {figures['inspections']}, uptime {figures['uptime_pct']}%"
        )
        print(f"report runs (s): {' '.join(f'{t:.3f}' for t in full_runs)}")
        print(f"baseline runs (s): {' '.join(f'{t:.3f}' for t in base_runs)}")
        print(f"monthly report, json: median {full:.3f} s (target < {TARGET_S:.1f} s)")
        print(f"baseline (plain SELECTs of the month's rows): median {base:.3f} s")
        print(f"ratio report/baseline: {full / base:.2f}")
        ok = full < TARGET_S
        print("PASS" if ok else "FAIL", f"(median {full:.3f} s vs target {TARGET_S:.1f} s)")
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
