"""Per-day fault rollups (`hub.store.fault_rollups`): a report's fault figures from them equal the full computation
(`fault_stats` over every fault the period reads) exactly.

Real SQLite files; random faults of devices and of a forwarding path (pre-alarms too, which never count), some
still open, some with a recorded breach, at times on whole hours, anywhere, and a hair (under a millisecond)
before an hour, in a site whose day starts 16:00 UTC; random periods; late changes (faults opened in the past,
recovered, reopened, marked breached, retyped, moved, purged), checked before the roll step runs again (the
triggers must have dropped what they made stale) and after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.core.clock import ManualClock
from hub.reports import FaultStats, fault_stats
from hub.store import Store, fault_rollups, rollups
from hub.store.reports import _FAULTS_SQL
from tests.reports.test_rollups import (
    DAY_MS,
    DEVICES,
    NOW,
    SPAN_MS,
    ZONE,
    _at,
    _hub_file,
    aligned_st,
    assert_same_reports,
    period_st,
)

SUBJECTS = (*DEVICES, "path:centre-1")
HOUR_MS = 3_600_000

# Opened at, due after, recovered after (None: still open), breach recorded, subject, kind, microseconds.
Fault = tuple[int, int, int | None, bool, int, str, int]

at_st = st.one_of(
    st.integers(0, SPAN_MS),
    st.integers(0, SPAN_MS // HOUR_MS).map(lambda h: h * HOUR_MS),
    # With 500+ microseconds these read (to the millisecond) as the hour, or as the site's midnight, itself.
    st.integers(1, SPAN_MS // HOUR_MS).map(lambda h: h * HOUR_MS - 1),
    st.integers(0, 6).map(lambda d: 5 * HOUR_MS + d * DAY_MS - 1),
)
fault_st = st.tuples(
    at_st,
    st.one_of(st.just(DAY_MS), st.integers(0, 2 * DAY_MS)),
    st.one_of(st.none(), st.integers(0, 3 * DAY_MS), st.just(DAY_MS), st.integers(-HOUR_MS, 0)),  # skewed too
    st.booleans(),
    st.integers(0, len(SUBJECTS) - 1),
    st.sampled_from(("offline", "offline", "low_battery", "prealarm")),
    st.one_of(st.just(0), st.integers(0, 999), st.integers(500, 999)),
)


def _insert(store: Store, faults: list[Fault]) -> None:
    rows = []
    for opened, due_after, recovered_after, breached, subject, kind, micro in faults:
        recovered = None if recovered_after is None else _at(opened + recovered_after, micro)
        rows.append(
            (
                SUBJECTS[subject],
                kind,
                _at(opened, micro),
                _at(opened + due_after, micro),
                recovered,
                _at(opened + due_after) if breached else None,
            )
        )
    with store.write() as conn:
        conn.executemany(
            "INSERT INTO faults (subject, kind, state, source, summary, opened_at, due_at, recovered_at, breached_at)"
            " VALUES (?, ?, 'closed', 'auto', 't', ?, ?, ?, ?)",  # closed: the figures never read the state
            rows,
        )


def _nonzero(figures: dict[str, FaultStats]) -> dict[str, FaultStats]:
    # A subject the reference read but counted nothing for shows the same as one it never read.
    return {s: v for s, v in figures.items() if v != FaultStats()}


def _check(store: Store, periods: list[tuple[int, int]]) -> int:
    """Rolled == full for every period; returns how many the rollups served."""
    conn = store.connection()
    served = 0
    for a, b in periods:
        start_text, end_text = _at(a), _at(b)
        start, end = conn.execute(
            "SELECT (julianday(?1) - 2440587.5) * 86400.0, (julianday(?2) - 2440587.5) * 86400.0",
            (start_text, end_text),
        ).fetchone()
        full = fault_stats(conn.execute(_FAULTS_SQL, (start_text, end_text)), start, end)
        rolled = fault_rollups.figures(conn, start_text, end_text, start, end, fault_rollups.basis(ZONE))
        if rolled is not None:
            served += 1
            assert _nonzero(rolled) == _nonzero(full), (start_text, end_text)
    return served


late_st = st.lists(
    st.one_of(
        fault_st.map(lambda f: ("open", f)),
        st.tuples(st.integers(0, 30), st.one_of(st.none(), at_st)).map(lambda c: ("recover", c)),
        st.integers(0, 30).map(lambda k: ("breach", k)),
        st.integers(0, 30).map(lambda k: ("retype", k)),
        st.tuples(st.integers(0, 30), at_st).map(lambda c: ("move", c)),
        st.integers(0, 30).map(lambda k: ("purge", k)),
    ),
    min_size=1,
    max_size=4,
)


def _change(store: Store, op: str, arg: Any) -> None:
    if op == "open":
        _insert(store, [arg])
        return
    k, at = arg if isinstance(arg, tuple) else (arg, None)
    with store.write() as conn:
        count = conn.execute("SELECT COUNT(*) FROM faults").fetchone()[0]
        if not count:
            return
        fault_id = k % count + 1
        if op == "recover":
            conn.execute("UPDATE faults SET recovered_at = ? WHERE id = ?", (None if at is None else _at(at), fault_id))
        elif op == "breach":
            conn.execute("UPDATE faults SET breached_at = due_at WHERE id = ?", (fault_id,))
        elif op == "retype":
            conn.execute(
                "UPDATE faults SET kind = CASE kind WHEN 'prealarm' THEN 'offline' ELSE 'prealarm' END WHERE id = ?",
                (fault_id,),
            )
        elif op == "move":
            conn.execute("UPDATE faults SET opened_at = ? WHERE id = ?", (_at(at), fault_id))
        else:
            conn.execute("DELETE FROM faults WHERE id = ?", (fault_id,))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(fault_st, max_size=30),
    st.lists(st.one_of(period_st, aligned_st), min_size=1, max_size=6),
    late_st,
)
def test_fault_rollups_equal_the_full_computation(
    faults: list[Fault], periods: list[tuple[int, int]], late: list[tuple[str, Any]]
) -> None:
    with _hub_file() as (store, config, _):
        _insert(store, sorted(faults, key=lambda f: f[0]))  # in the order the hub opens them
        worker = rollups.UptimeRollups(store, config, ManualClock(NOW))
        worker.catch_up()
        periods = [*periods, (0, SPAN_MS)]
        # The whole history holds whole rolled days whenever a fault opened early enough.
        assert _check(store, periods) >= any(f[0] < 3 * DAY_MS for f in faults)
        for op, arg in late:
            _change(store, op, arg)
            _check(store, periods)
        worker.catch_up()
        _check(store, periods)


def test_the_report_is_the_same_from_fault_rollups(tmp_path: Path) -> None:
    """A fixed history with faults open across days: the report body from the rollups (every grouping, JSON and
    CSV) is byte-for-byte the full computation's, and the rolled days did serve."""
    with _hub_file() as (store, config, path):
        _insert(
            store,
            [
                (
                    i * 4_321_987,
                    DAY_MS,
                    None if i % 7 == 0 else (i * 917_113) % (2 * DAY_MS),
                    i % 5 == 0,
                    i % 4,
                    kind,
                    i,
                )
                for i, kind in enumerate(["offline", "low_battery", "offline", "prealarm"] * 30)
            ],
        )
        assert rollups.UptimeRollups(store, config, ManualClock(NOW)).catch_up() == 8  # 1-8 March in Beijing
        assert _check(store, [(HOUR_MS, 5 * DAY_MS + 123)]) == 1
        assert_same_reports(path, config)


def test_an_older_file_gets_fault_rollups(tmp_path: Path) -> None:
    """A file with rollups of version 1 (no fault tables): opening it adds them and the faults' indexes; the
    fault figures come from the full computation until the roll step has rolled the days, then from them."""
    with _hub_file() as (store, config, _):
        conn = store.connection()
        with store.write() as write:
            for name in ("fault_rollup_insert", "fault_rollup_delete", "fault_rollup_update"):
                write.execute(f"DROP TRIGGER {name}")
            for name in ("fault_rollup", "fault_rollup_live", "fault_rollup_days"):
                write.execute(f"DROP TABLE {name}")
            write.execute("DROP INDEX faults_opened")
            write.execute("DROP INDEX faults_due")
        store.meta_set("schema:rollups", "1")
        _insert(store, [(i * 5_000_000, DAY_MS, 3_600_000, False, i % 4, "offline", 0) for i in range(60)])
        rollups.ensure_schema(store)
        assert store.meta_get("schema:rollups") == str(rollups.ROLLUPS_VERSION) == "2"
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'faults'")}
        assert {"faults_opened", "faults_due", "fault_rollup_insert", "fault_rollup_update"} <= indexes
        assert _check(store, [(0, SPAN_MS)]) == 0
        rollups.UptimeRollups(store, config, ManualClock(NOW)).catch_up()
        assert _check(store, [(0, SPAN_MS)]) == 1


def test_faults_a_hair_before_midnight_count_where_the_full_computation_counts_them() -> None:
    """Times stored under a millisecond before the site's midnight read as midnight itself: the full computation
    counts such a fault in the period starting then (when its other time is inside) and not in the one ending
    then; rolled days must agree at both edges, at midnights inside a period and with skewed recoveries."""
    with _hub_file() as (store, config, _):
        midnights = [5 * HOUR_MS + d * DAY_MS for d in range(1, 6)]
        faults: list[Fault] = []
        for m in midnights:
            for due_after in (0, HOUR_MS, DAY_MS):
                for recovered_after in (None, -HOUR_MS, 0, HOUR_MS):
                    faults.append((m - 1, due_after, recovered_after, False, len(faults) % 4, "offline", 600))
        _insert(store, faults)
        assert rollups.UptimeRollups(store, config, ManualClock(NOW)).catch_up() == 7  # 2-8 March in Beijing
        periods = [(a, b) for a in midnights for b in midnights if a < b]
        assert _check(store, [*periods, *((a - HOUR_MS, b + HOUR_MS) for a, b in periods)]) == 2 * len(periods)


def test_a_recovery_after_the_last_rolled_day_changed_later_drops_the_day() -> None:
    """A fault opened on a rolled day and recovered after the last rolled day's end is rolled with that recovery
    (for reports ending after it); reopening it, or moving its recovery, must drop its day however late."""
    with _hub_file() as (store, config, _):
        opened = 5 * HOUR_MS + DAY_MS + HOUR_MS  # 3 March, 01:00 in Beijing
        recovered = SPAN_MS + 2 * DAY_MS - HOUR_MS  # an hour before now, after the last closed day
        _insert(store, [(opened, DAY_MS, recovered - opened, False, 0, "offline", 0)])
        worker = rollups.UptimeRollups(store, config, ManualClock(NOW))
        worker.catch_up()
        whole = [(0, SPAN_MS + 2 * DAY_MS)]  # up to now: after the recovery
        assert _check(store, whole) == 1
        for value in (None, _at(recovered - 2 * HOUR_MS), _at(recovered + HOUR_MS)):
            with store.write() as conn:
                conn.execute("UPDATE faults SET recovered_at = ?", (value,))
            _check(store, whole)
            worker.catch_up()
            assert _check(store, whole) == 1
