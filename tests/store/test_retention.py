"""The hub's own retention: `should_purge` never lets anything younger than max(policy, 90) days go, and the purger
deletes exactly what is past policy from a real SQLite file, never an active alarm or an open fault."""

from __future__ import annotations

import math
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from hub.cli import main
from hub.core.clock import ManualClock, to_iso
from hub.store import Store
from hub.store.health import HealthStore
from hub.store.retention import Purger, cutoff, should_purge
from video.store import VideoStore

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)

# hypothesis takes naive bounds and attaches the zone itself
aware = st.datetimes(
    min_value=datetime(1990, 1, 1),  # noqa: DTZ001
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
policies = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.sampled_from([0, 30, 89, 90, 90.0001, 365, 1e300, -math.inf, math.nan]),
)


@given(record=aware, now=aware, policy=policies, floor=policies)
def test_should_purge_never_passes_anything_younger_than_policy_or_90_days(
    record: datetime, now: datetime, policy: float, floor: float
) -> None:
    if should_purge(record, policy, now, floor):
        age = now - record
        assert age > timedelta(days=90)
        assert math.isfinite(policy)
        assert age > timedelta(days=max(policy, 90))


def test_should_purge_edges() -> None:
    old = NOW - 91 * DAY
    assert should_purge(old, 90, NOW)
    assert not should_purge(NOW - 90 * DAY, 90, NOW)  # exactly at the policy: kept
    assert not should_purge(old, 30, NOW - 2 * DAY)  # a 30-day policy is 90 days
    assert not should_purge(NOW - 89 * DAY, 30, NOW, floor_days=-5)  # a lower floor does not lower 90
    assert not should_purge(old, math.nan, NOW)
    assert not should_purge(old, math.inf, NOW)
    assert not should_purge(old.replace(tzinfo=None), 90, NOW)  # naive: doubtful, kept
    assert not should_purge(NOW + DAY, 90, NOW)  # a record after now: the clock was set back
    assert not should_purge(old, 365, NOW)
    assert should_purge(NOW - 366 * DAY, 365, NOW)


def test_cutoff_is_never_later_than_90_days_ago() -> None:
    assert cutoff(NOW, 30) == NOW - 90 * DAY
    assert cutoff(NOW, 365) == NOW - 365 * DAY
    with pytest.raises(ValueError, match="usable"):
        cutoff(NOW, math.nan)
    with pytest.raises(ValueError, match="aware"):
        cutoff(NOW.replace(tzinfo=None), 90)


# --- a real SQLite file with records of many ages ------------------------------------------------------------


AGES = [0, 1, 10, 45, 89, 90.5, 91, 120, 200, 364, 366, 400, 800]


def _alarm(
    conn: sqlite3.Connection, alarm_id: str, device: str, state: str, raised: datetime, closed: datetime | None
) -> None:
    conn.execute(
        "INSERT INTO alarms (id, device_id, kind, priority, state, reason, detail, device, occurred_at, raised_at,"
        " last_trigger_at, closed_at, closed_by, close_note) VALUES (?, ?, 'panic', 1, ?, 'press', '{}', '{}', ?, ?,"
        " ?, ?, ?, ?)",
        (
            alarm_id,
            device,
            state,
            to_iso(raised),
            to_iso(raised),
            to_iso(raised),
            to_iso(closed) if closed else None,
            "guard" if closed else None,
            "done" if closed else None,
        ),
    )
    conn.execute(
        "INSERT INTO alarm_triggers (alarm_id, at, seq, reason) VALUES (?, ?, 1, 'press')", (alarm_id, to_iso(raised))
    )
    cursor = conn.execute(
        "INSERT INTO outbox (alarm_id, endpoint, state, priority, created_at) VALUES (?, 'police-110', ?, 1, ?)",
        (alarm_id, "delivered" if closed else "pending", to_iso(raised)),
    )
    conn.execute(
        "INSERT INTO delivery_attempts (outbox_id, attempt, started_at, finished_at, outcome)"
        " VALUES (?, 1, ?, ?, 'ok')",
        (cursor.lastrowid, to_iso(raised), to_iso(raised)),
    )


def _fault(conn: sqlite3.Connection, subject: str, state: str, opened: datetime, closed: datetime | None) -> None:
    cursor = conn.execute(
        "INSERT INTO faults (subject, kind, state, source, summary, opened_at, due_at, closed_at)"
        " VALUES (?, 'offline', ?, 'auto', 'x', ?, ?, ?)",
        (subject, state, to_iso(opened), to_iso(opened + DAY), to_iso(closed) if closed else None),
    )
    conn.execute(
        "INSERT INTO fault_log (fault_id, at, actor, action, note) VALUES (?, ?, 'campus-hub', 'registered', '')",
        (cursor.lastrowid, to_iso(opened)),
    )


def _seed(store: Store) -> None:
    with store.write() as conn:
        for i, age in enumerate(AGES):
            at = NOW - timedelta(days=age)
            for n in range(3):  # several rows per age, so batches cut through equal times
                conn.execute(
                    "INSERT INTO events (device_id, kind, channel, occurred_at, received_at, data)"
                    " VALUES (?, 'temperature', 'telemetry', ?, ?, '{}')",
                    (f"t{n}", to_iso(at), to_iso(at)),
                )
            conn.execute(
                "INSERT INTO dead_letters (topic, reason, detail, payload, payload_size, received_at)"
                " VALUES ('x', 'bad_json', '', x'00', 1, ?)",
                (to_iso(at),),
            )
            conn.execute(
                "INSERT INTO audit (at, actor, role, action, target, detail) VALUES (?, 'a', 'admin', 'x', 'y', '{}')",
                (to_iso(at),),
            )
            _alarm(conn, f"closed-{i}", f"btn-{i}", "closed", at - DAY, at)
            _fault(conn, f"dev-{i}", "closed", at - DAY, at)
        # However old, an alarm still open or acknowledged and a fault still open or only recovered stay.
        _alarm(conn, "ancient-open", "btn-open", "open", NOW - 900 * DAY, None)
        _alarm(conn, "ancient-ack", "btn-ack", "acknowledged", NOW - 900 * DAY, None)
        _fault(conn, "cam-open", "registered", NOW - 900 * DAY, None)
        _fault(conn, "cam-repair", "in_repair", NOW - 900 * DAY, None)
        _fault(conn, "cam-recovered", "recovered", NOW - 900 * DAY, None)


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[Store, ManualClock]:
    clock = ManualClock(NOW)
    store = Store(tmp_path / "hub.db", clock)
    store.open()
    HealthStore(store, 24, 600).open()
    _seed(store)
    return store, clock


def _count(store: Store, table: str) -> int:
    return int(store.connection().execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608


def _times(store: Store, sql: str) -> list[str]:
    return [r[0] for r in store.connection().execute(sql).fetchall()]


def _snapshot(store: Store) -> dict[str, list[str]]:
    return {
        "events": _times(store, "SELECT received_at FROM events ORDER BY id"),
        "dead_letters": _times(store, "SELECT received_at FROM dead_letters ORDER BY id"),
        "audit": _times(store, "SELECT at FROM audit ORDER BY id"),
        "alarms": _times(store, "SELECT id FROM alarms ORDER BY number"),
        "faults": _times(store, "SELECT subject FROM faults ORDER BY id"),
        "children": [str(_count(store, t)) for t in ("alarm_triggers", "outbox", "delivery_attempts", "fault_log")],
    }


def test_dry_run_counts_and_deletes_nothing(seeded: tuple[Store, ManualClock]) -> None:
    store, clock = seeded
    before = _snapshot(store)
    result = Purger(store, clock, days=90, records_days=365, batch=7).run_once(dry_run=True)
    assert _snapshot(store) == before
    older_than_90 = [a for a in AGES if a > 90]
    older_than_365 = [a for a in AGES if a > 365]
    tables = result.as_json()["tables"]
    assert tables["events"]["count"] == 3 * len(older_than_90)
    assert tables["dead_letters"]["count"] == len(older_than_90)
    assert tables["audit"]["count"] == len(older_than_365)
    assert tables["alarms"]["count"] == len(older_than_365)
    assert tables["faults"]["count"] == len(older_than_365)
    assert tables["events"]["oldest"] == to_iso(NOW - timedelta(days=max(AGES)))
    assert tables["events"]["newest"] == to_iso(NOW - timedelta(days=min(older_than_90)))


def test_purge_deletes_exactly_what_is_past_policy_in_batches(seeded: tuple[Store, ManualClock]) -> None:
    store, clock = seeded
    purger = Purger(store, clock, days=90, records_days=365, batch=7, pause_s=0)
    result = purger.run_once()
    edge_90, edge_365 = to_iso(NOW - 90 * DAY), to_iso(NOW - 365 * DAY)
    after = _snapshot(store)
    expected = [to_iso(NOW - timedelta(days=a)) for a in AGES if a <= 90 for _ in range(3)]
    assert sorted(after["events"]) == sorted(expected)
    assert all(t >= edge_90 for t in after["events"] + after["dead_letters"])
    assert len(after["dead_letters"]) == sum(a <= 90 for a in AGES)
    assert all(t >= edge_365 for t in after["audit"])
    assert len(after["audit"]) == sum(a <= 365 for a in AGES)
    kept_closed = {f"closed-{i}" for i, a in enumerate(AGES) if a <= 365}
    assert set(after["alarms"]) == kept_closed | {"ancient-open", "ancient-ack"}
    assert {"cam-open", "cam-repair", "cam-recovered"} <= set(after["faults"])
    assert len(after["faults"]) == sum(a <= 365 for a in AGES) + 3
    # Children went with their parents and only with them.
    conn = store.connection()
    assert conn.execute("SELECT COUNT(*) FROM outbox WHERE alarm_id NOT IN (SELECT id FROM alarms)").fetchone() == (0,)
    assert conn.execute("SELECT COUNT(*) FROM fault_log WHERE fault_id NOT IN (SELECT id FROM faults)").fetchone() == (
        0,
    )
    assert _count(store, "outbox") == len(after["alarms"])
    assert result.tables["events"].count == 3 * sum(a > 90 for a in AGES)
    # A second pass finds nothing more.
    assert all(c.count == 0 for c in purger.run_once().tables.values())


def test_a_short_policy_still_keeps_90_days(seeded: tuple[Store, ManualClock]) -> None:
    store, clock = seeded
    Purger(store, clock, days=1, records_days=-40, batch=500, pause_s=0).run_once()
    edge = to_iso(NOW - 90 * DAY)
    after = _snapshot(store)
    assert all(t >= edge for t in after["events"] + after["dead_letters"] + after["audit"])
    assert len(after["events"]) == 3 * sum(a <= 90 for a in AGES)
    assert {"ancient-open", "ancient-ack"} <= set(after["alarms"])


class JumpingClock:
    """A wall clock that jumps while monotonic time stands still: a misconfigured NTP or RTC (a boundary)."""

    def __init__(self, start: datetime) -> None:
        self.wall = start
        self.mono = 1000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono


def test_a_wall_clock_jumping_forward_deletes_nothing_young(seeded: tuple[Store, ManualClock]) -> None:
    store, _ = seeded
    clock = JumpingClock(NOW)
    purger = Purger(store, clock, days=90, records_days=365, batch=50, pause_s=0)
    clock.wall = NOW + 3000 * DAY  # years ahead, but no time really passed
    purger.run_once()
    after = _snapshot(store)
    assert len(after["events"]) == 3 * sum(a <= 90 for a in AGES)
    # And a clock set back deletes less, never more.
    clock.wall = NOW - 500 * DAY
    assert all(c.count == 0 for c in purger.run_once().tables.values())


def test_time_passing_on_an_injected_clock_ages_records_out(seeded: tuple[Store, ManualClock]) -> None:
    store, clock = seeded
    purger = Purger(store, clock, days=90, records_days=365, batch=100, pause_s=0)
    purger.run_once()
    young = len(_snapshot(store)["events"])
    clock.advance(timedelta(days=30).total_seconds())
    purger.run_once()
    # 89, 90.5 (and nothing younger than 60 days at the old now) are past 90 days now.
    remaining = _snapshot(store)["events"]
    assert len(remaining) == young - 3 * sum(60 < a <= 90 for a in AGES)
    assert all(t >= to_iso(clock.now() - 90 * DAY) for t in remaining)


def test_snapshot_files_are_purged_by_age(tmp_path: Path) -> None:
    clock = ManualClock(datetime.now(UTC))
    store = Store(tmp_path / "hub.db", clock)
    store.open()
    snaps = tmp_path / "snapshots"
    # A camera's reference picture is its yardstick, not a recording: it stays however old it is.
    ages = {"new.jpg": 1, "edge.jpg": 89, "old.jpg": 95, "cam-1/2026-01-01/older.jpg": 300, "cam-1/reference.jpg": 400}
    for name, age in ages.items():
        path = snaps / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff\xd8")
        stamp = (clock.now() - timedelta(days=age)).timestamp()
        os.utime(path, (stamp, stamp))
    purger = Purger(store, clock, days=90, records_days=365, batch=10, snapshots=snaps, pause_s=0)
    assert purger.run_once(dry_run=True).tables["snapshots"].count == 2
    assert (snaps / "old.jpg").exists()
    assert purger.run_once().tables["snapshots"].count == 2
    assert sorted(p.name for p in snaps.rglob("*.jpg")) == ["edge.jpg", "new.jpg", "reference.jpg"]


def test_evidence_rows_go_with_their_pictures_and_young_ones_stay(tmp_path: Path) -> None:
    clock = ManualClock(datetime.now(UTC))
    store = Store(tmp_path / "hub.db", clock)
    store.open()
    video = VideoStore(store)
    video.open()
    for alarm_id, age in (("a-old", 120), ("a-edge", 89), ("a-new", 0)):
        video.add_evidence(alarm_id, "cam-1", clock.now() - timedelta(days=age), f"evidence/{alarm_id}/cam-1.jpg")
    purger = Purger(store, clock, days=90, records_days=365, batch=10, pause_s=0)
    assert purger.run_once().tables["alarm_evidence"].count == 1
    assert video.evidence_of("a-old") == []
    assert [e["camera_id"] for e in video.evidence_of("a-edge")] == ["cam-1"]
    assert [e["camera_id"] for e in video.evidence_of("a-new")] == ["cam-1"]


def test_cli_dry_run_prints_and_deletes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clock = ManualClock(datetime.now(UTC))
    store = Store(tmp_path / "hub.db", clock)
    store.open()
    with store.write() as conn:
        for age in (1, 100, 200):
            at = to_iso(clock.now() - timedelta(days=age))
            conn.execute(
                "INSERT INTO events (device_id, kind, channel, occurred_at, received_at, data)"
                " VALUES ('t', 'temperature', 'telemetry', ?, ?, '{}')",
                (at, at),
            )
    store.close_thread_connection()
    config = tmp_path / "hub.yaml"
    config.write_text(
        yaml.safe_dump({"site": {"id": "s1", "name": "School", "address": "Road"}, "storage": {"path": "hub.db"}}),
        encoding="utf-8",
    )
    assert main(["purge", "--config", str(config), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run" in out
    assert "events: would delete 2" in out
    assert _count(store, "events") == 3
    assert main(["purge", "--config", str(config)]) == 0
    assert "events: deleted 2" in capsys.readouterr().out
    assert _count(store, "events") == 1
    store.close_thread_connection()
