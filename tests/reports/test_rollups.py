"""Per-day uptime rollups (`hub.store.rollups`): reports from rollups equal the full computation, to the bit.

Real SQLite files; random histories of transitions, maintenance windows and hub gaps in a site whose day starts
16:00 UTC (Asia/Shanghai); random periods, cut mid-day and across the site's midnight; late writes that change
past days, checked both before the worker rolls again (the triggers must have dropped what they made stale) and
after.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.config import HubConfig
from hub.core.clock import ManualClock, to_iso
from hub.reports import resolve_period, state_index
from hub.store import Store, rollups
from hub.store.health import HealthStore
from hub.store.reports import open_readonly, read_report

ZONE = "Asia/Shanghai"
MIDNIGHT = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)  # 00:00 on 2 March in Beijing
BASE = MIDNIGHT - timedelta(hours=5)  # the history starts mid-day
DAY_MS = 86_400_000
SPAN_MS = 6 * DAY_MS
NOW = BASE + timedelta(days=8)
DEVICES = ("cam-1", "smoke-1", "panic-1")
STATES = ("online", "offline", "faulty", "maintenance", "unknown")


def _config(path: Path) -> HubConfig:
    return HubConfig.model_validate(
        {
            "site": {"id": "s", "name": "School", "address": "1 Road", "timezone": ZONE},
            "storage": {"path": str(path)},
            "devices": [
                {"id": d, "kind": kind, "name": d, "location": {"building": "A", "floor": "1", "room": "1"}}
                for d, kind in zip(DEVICES, ("camera", "smoke", "panic_button"), strict=True)
            ],
        }
    )


def _at(offset_ms: int, micro: int = 0) -> str:
    return to_iso(BASE + timedelta(milliseconds=offset_ms, microseconds=micro))


@contextmanager
def _hub_file() -> Iterator[tuple[Store, HubConfig, Path]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hub.db"
        config = _config(path)
        store = Store(path, ManualClock(NOW))
        store.open()
        HealthStore(store, 24, 600).open()
        rollups.ensure_schema(store)
        try:
            yield store, config, path
        finally:
            store.close_thread_connection()


Transition = tuple[int, str, int, int]  # device index, to state, offset ms, extra microseconds
Window = tuple[int, int, int, bool]  # subject index (-1: site-wide), start ms, length ms, cancelled
Gap = tuple[int, int]  # start ms, length ms

# Times on whole hours too, so transitions, windows and gaps fall on the site's midnight and on each other.
offset_st = st.one_of(st.integers(0, SPAN_MS), st.integers(0, SPAN_MS // 3_600_000).map(lambda h: h * 3_600_000))
transition_st = st.tuples(st.integers(0, 2), st.sampled_from(STATES), offset_st, st.integers(0, 999))
window_st = st.tuples(st.integers(-1, 2), offset_st, st.integers(1, 2 * DAY_MS), st.booleans())
gap_st = st.tuples(offset_st, st.integers(1, DAY_MS))
period_st = st.tuples(st.integers(-DAY_MS, SPAN_MS + DAY_MS), st.integers(1, SPAN_MS + DAY_MS)).map(
    lambda p: (p[0], p[0] + p[1])
)
# Periods on the site's midnight (16:00 UTC) or on whole hours as well as anywhere.
aligned_st = st.tuples(st.integers(-1, 7), st.integers(1, 7)).map(
    lambda p: (5 * 3_600_000 + (p[0] - 1) * DAY_MS + DAY_MS, 5 * 3_600_000 + (p[0] + p[1]) * DAY_MS)
)


def _write(store: Store, transitions: Sequence[Transition], windows: Sequence[Window], gaps: Sequence[Gap]) -> None:
    with store.write() as conn:
        conn.executemany(
            "INSERT INTO state_transitions (device_id, from_state, to_state, at, reason) VALUES (?, '', ?, ?, 't')",
            [(DEVICES[d], state, _at(at, micro)) for d, state, at, micro in transitions],
        )
        conn.executemany(
            "INSERT INTO maintenance_windows (subject, starts_at, ends_at, reason, created_by, created_at,"
            " cancelled_at) VALUES (?, ?, ?, 't', 't', ?, ?)",
            [
                ("*" if s < 0 else DEVICES[s], _at(a), _at(a + n), _at(0), _at(a) if cancelled else None)
                for s, a, n, cancelled in windows
            ],
        )
        conn.executemany(
            "INSERT INTO hub_gaps (started_at, ended_at) VALUES (?, ?)", [(_at(a), _at(a + n)) for a, n in gaps]
        )


def _check(store: Store, config: HubConfig, periods: Sequence[tuple[int, int]]) -> int:
    """Rollup-based == full for every period; returns how many of them the rollups served."""
    conn = store.connection()
    ids = list(DEVICES)
    wanted = rollups.basis(ZONE, ids)
    served = 0
    for a, b in periods:
        start, end = _at(a), _at(b)
        full = rollups.tallies(conn, ids, start, end, None)
        assert rollups.tallies(conn, ids, start, end, wanted) == full, (start, end)
        # The head's states from the rollups (`_rolled_states`) are the states the full pass starts in.
        rolled = {d: state_index(s) for d, s in rollups._rolled_states(conn, ids, start, wanted).items()}
        assert rolled == {d: state_index(s) for d, s in rollups.initial_states(conn, ids, start).items()}, start
        served += rollups.rolled_sums(conn, ids, start, end, wanted) is not None
    return served


history_st = st.lists(transition_st, max_size=40)
# Writes that change the past once days are rolled: new rows, and the changes the hub makes to windows (ended
# early, cancelled); deletes of transitions and gaps as well (no hub code deletes them, but a trigger must hold).
late_st = st.lists(
    st.one_of(
        transition_st.map(lambda t: ("transition", t)),
        window_st.map(lambda w: ("window", w)),
        gap_st.map(lambda g: ("gap", g)),
        st.tuples(st.integers(0, 10), offset_st).map(lambda e: ("end window", e)),
        st.integers(0, 10).map(lambda k: ("cancel window", k)),
        st.integers(0, 50).map(lambda k: ("delete transition", k)),
        st.integers(0, 10).map(lambda k: ("delete gap", k)),
    ),
    min_size=1,
    max_size=3,
)


def _change(store: Store, op: str, arg: Any) -> None:
    if op == "transition":
        _write(store, [arg], [], [])
    elif op == "window":
        _write(store, [], [arg], [])
    elif op == "gap":
        _write(store, [], [], [arg])
    else:
        table, sql = {
            "end window": ("maintenance_windows", "UPDATE maintenance_windows SET ends_at = ? WHERE id = ?"),
            "cancel window": ("maintenance_windows", "UPDATE maintenance_windows SET cancelled_at = ? WHERE id = ?"),
            "delete transition": ("state_transitions", "DELETE FROM state_transitions WHERE ? IS NOT NULL AND id = ?"),
            "delete gap": ("hub_gaps", "DELETE FROM hub_gaps WHERE ? IS NOT NULL AND id = ?"),
        }[op]
        k, at = arg if op == "end window" else (arg, 0)
        with store.write() as conn:
            count = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608
            if count:
                conn.execute(sql, (_at(at), k % count + 1))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history_st,
    st.lists(window_st, max_size=4),
    st.lists(gap_st, max_size=3),
    st.lists(st.one_of(period_st, aligned_st), min_size=1, max_size=6),
    late_st,
)
def test_rollups_equal_the_full_computation(
    transitions: list[Transition],
    windows: list[Window],
    gaps: list[Gap],
    periods: list[tuple[int, int]],
    late: list[tuple[str, Any]],
) -> None:
    with _hub_file() as (store, config, _):
        _write(store, sorted(transitions, key=lambda t: t[2:]), windows, gaps)
        worker = rollups.UptimeRollups(store, config, ManualClock(NOW))
        worker.catch_up()
        # The whole history is always asked for too: served by the rollups when they start early enough in it (on
        # the site's day of the first transition) to hold two whole days of it.
        periods = [*periods, (0, SPAN_MS)]
        assert _check(store, config, periods) >= any(t[2] < 3 * DAY_MS for t in transitions)
        # Changes to the past, after the days were rolled: the triggers must leave no stale day behind.
        for op, arg in late:
            _change(store, op, arg)
            _check(store, config, periods)
        worker.catch_up()
        _check(store, config, periods)


def assert_same_reports(path: Path, config: HubConfig) -> None:
    """A 5-day period cut mid-day: every grouping's JSON and CSV from the rollups is byte-for-byte (and ETag) the full
    computation's, on the read-only connection the CLI uses."""
    conn = open_readonly(path)
    try:
        period = resolve_period(BASE + timedelta(hours=1), BASE + timedelta(days=5, hours=3), NOW)
        for group in ("device", "kind", "site"):
            for fmt in ("json", "csv"):
                etag, body, _ = read_report(conn, config, period, group, fmt)
                assert (etag, body) == read_report(conn, config, period, group, fmt, use_rollups=False)[:2]
    finally:
        conn.close()


def test_whole_days_come_from_the_rollups_and_the_report_is_the_same(tmp_path: Path) -> None:
    """A fixed history: a 5-day period cut mid-day is served by the rollups, and the whole report body (JSON and
    CSV, every grouping) is byte-for-byte the full computation's, on the read-only connection the CLI uses."""
    with _hub_file() as (store, config, path):
        transitions = [(i % 3, STATES[i % 4], i * 3_517_123, i % 1000) for i in range(120)]
        _write(store, transitions, [(-1, DAY_MS, 3_600_000, False), (0, 2 * DAY_MS, 9 * 3_600_000, False)], [])
        _write(store, [], [], [(3 * DAY_MS + 1_000, 7_200_000)])
        assert (
            rollups.UptimeRollups(store, config, ManualClock(NOW)).catch_up() == 8
        )  # 1-8 March in Beijing; the 9th is today
        assert _check(store, config, [(3_600_000, 5 * DAY_MS + 123), (5 * 3_600_000, 5 * 3_600_000 + 5 * DAY_MS)]) == 2
        assert_same_reports(path, config)


def test_an_older_file_is_answered_meanwhile_and_backfilled(tmp_path: Path) -> None:
    """A file from before rollups: opening it adds the tables (version in meta); reports fall back to the full
    computation until the worker has rolled the days up, then use them; a new registry rebuilds them."""
    path = tmp_path / "hub.db"
    config = _config(path)
    store = Store(path, ManualClock(NOW))
    store.open()
    from hub.store.health import SCHEMA as HEALTH_SCHEMA
    from hub.store.reports import SCHEMA as REPORTS_SCHEMA
    from hub.store.reports import ReportStore

    store.ensure_schema(HEALTH_SCHEMA)
    store.ensure_schema(REPORTS_SCHEMA)
    with store.write() as conn:
        conn.executemany(
            "INSERT INTO state_transitions (device_id, from_state, to_state, at, reason) VALUES (?, '', ?, ?, 't')",
            [(DEVICES[i % 3], STATES[i % 3], _at(i * 7_000_000)) for i in range(60)],
        )
    ReportStore(store, config).open()
    assert store.meta_get("schema:rollups") == str(rollups.ROLLUPS_VERSION)
    ids, period = list(DEVICES), (_at(0), _at(5 * DAY_MS))
    conn = store.connection()
    assert rollups.rolled_sums(conn, ids, *period, rollups.basis(ZONE, ids)) is None
    before = rollups.tallies(conn, ids, *period, rollups.basis(ZONE, ids))
    worker = rollups.UptimeRollups(store, config, ManualClock(NOW))
    worker.roll()  # one day: not yet a run
    worker.catch_up()
    assert rollups.rolled_sums(conn, ids, *period, rollups.basis(ZONE, ids)) is not None
    assert rollups.tallies(conn, ids, *period, rollups.basis(ZONE, ids)) == before
    # One device fewer: the rollups no longer serve (other basis) until rebuilt for the new registry.
    smaller = HubConfig.model_validate(
        {**config.model_dump(mode="json"), "devices": config.model_dump(mode="json")["devices"][:2]}
    )
    assert rollups.rolled_sums(conn, ids[:2], *period, rollups.basis(ZONE, ids[:2])) is None
    rollups.UptimeRollups(store, smaller, ManualClock(NOW)).catch_up()
    assert rollups.rolled_sums(conn, ids[:2], *period, rollups.basis(ZONE, ids[:2])) is not None
    store.close_thread_connection()


def test_a_day_is_rolled_only_once_closed() -> None:
    """The worker rolls days that ended `CLOSE_AFTER` ago in the site's zone, and not today."""
    with _hub_file() as (store, config, _):
        _write(store, [(0, "online", 0, 0)], [], [])
        clock = ManualClock(MIDNIGHT + rollups.CLOSE_AFTER - timedelta(seconds=1))
        worker = rollups.UptimeRollups(store, config, clock)
        assert worker.catch_up() == 0
        clock.advance(1)
        assert worker.catch_up() == 1
        day = store.connection().execute("SELECT day, start_at, end_at FROM uptime_rollup_days").fetchall()
        assert day == [("2026-03-01", to_iso(MIDNIGHT - timedelta(days=1)), to_iso(MIDNIGHT))]


def test_the_worker_rolls_in_its_thread_and_again_after_a_late_write() -> None:
    """`UptimeRollups` as the hub runs it: its own thread rolls the closed days, and rolls again those a late
    transition invalidated once woken."""
    with _hub_file() as (store, config, _):
        _write(store, [(0, "online", 0, 0), (1, "offline", DAY_MS, 0)], [], [])
        worker = rollups.UptimeRollups(store, config, ManualClock(NOW), interval_s=3600)
        conn = store.connection()

        def rolled() -> int:
            return int(conn.execute("SELECT COUNT(*) FROM uptime_rollup_days").fetchone()[0])

        def wait_for(count: int) -> None:
            deadline = time.monotonic() + 10
            while rolled() != count and time.monotonic() < deadline:
                time.sleep(0.01)
            assert rolled() == count

        worker.start()
        try:
            wait_for(8)
            _write(store, [(2, "faulty", 4 * DAY_MS, 0)], [], [])  # 5 March in Beijing: the 5th to the 8th go
            assert rolled() == 4
            worker.worker.wake()
            wait_for(8)
        finally:
            worker.stop()
        _check(store, config, [(0, SPAN_MS)])


def test_rows_missing_from_a_rolled_day_make_the_worker_start_over() -> None:
    """Only this module writes the rows; should one of the last day go missing anyway, reports fall back and the
    worker, when it next rolls a day, rolls every day again instead of stopping for good."""
    with _hub_file() as (store, config, _):
        _write(store, [(0, "online", 0, 0), (1, "offline", DAY_MS, 0), (2, "faulty", 2 * DAY_MS, 5)], [], [])
        clock = ManualClock(NOW)
        worker = rollups.UptimeRollups(store, config, clock)
        assert worker.catch_up() == 8
        with store.write() as conn:
            conn.execute("DELETE FROM uptime_rollup WHERE device_id = 'smoke-1' AND day = '2026-03-08'")
        whole = [(0, SPAN_MS + 2 * DAY_MS)]  # to 9 March 11:00 UTC: the 8th (Beijing) is its last whole day
        assert _check(store, config, whole) == 0  # not served without the row, and equal all the same
        clock.advance(86_400)
        assert worker.catch_up() == 1 + 9  # the reset, then every day again, the 9th too
        assert _check(store, config, whole) == 1
