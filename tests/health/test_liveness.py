"""The hub's own gaps: the pure decision, a real store, and hubs on a real broker restarted across a ManualClock gap
(recorded as not monitored; devices not taken offline for it); the uptime report's arithmetic with gaps
(hypothesis) and the bureau's JSON and CSV through the API."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.app import Hub
from hub.config import HubConfig
from hub.core.clock import ManualClock, to_iso
from hub.devtools.broker import Mosquitto
from hub.health.liveness import ALIVE_KEY, Liveness, gap_to_record
from hub.health.model import DeviceState, heard_after_absence
from hub.reports import COLUMNS, Tally, intervals, planned_spans, state_index, tally, tally_rows, uptime
from hub.store import Store
from hub.store.health import HealthStore
from hub.store.reports import fingerprint
from tests.conftest import TOKENS, HubFactory, Publisher, base_config, topic, wait_until

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)  # in the real past, like the report tests
MIN = 60.0
BASE = datetime(2025, 1, 6, tzinfo=UTC)
STATES = list(DeviceState)


def _at(seconds: int) -> datetime:
    return BASE + timedelta(seconds=seconds)


# --- the pure decisions ---------------------------------------------------------------------------------------


def test_a_gap_is_recorded_only_after_two_missed_proofs_of_life() -> None:
    assert gap_to_record(None, T0, 60) is None  # a new store: there was no hub to be away
    assert gap_to_record(T0, T0 + timedelta(seconds=119), 60) is None
    assert gap_to_record(T0, T0 + timedelta(seconds=120), 60) is None  # one missed beat and a slow tick
    assert gap_to_record(T0, T0 + timedelta(seconds=121), 60) == (T0, T0 + timedelta(seconds=121))
    assert gap_to_record(T0, T0 + timedelta(hours=5), 600) == (T0, T0 + timedelta(hours=5))
    assert gap_to_record(T0, T0 - timedelta(hours=1), 60) is None  # the clock went back: no negative gap


def test_silence_counts_only_while_the_hub_listened() -> None:
    gap = (T0, T0 + timedelta(hours=1))
    before = T0 - timedelta(minutes=2)
    # Heard 2 minutes before the hub went away: 2 minutes of silence so far at the gap's end.
    assert heard_after_absence(before, *gap) == gap[1] - timedelta(minutes=2)
    # Heard inside the gap (a crash leaves alive_at up to a minute stale): the clock starts at the gap's end.
    assert heard_after_absence(T0 + timedelta(minutes=1), *gap) == gap[1]
    assert heard_after_absence(gap[1] + timedelta(seconds=5), *gap) == gap[1] + timedelta(seconds=5)


# --- the record on a real store ---------------------------------------------------------------------------------


def test_a_crash_then_a_late_start_records_the_gap_and_a_beat_moves_the_proof(tmp_path: Path) -> None:
    clock = ManualClock(T0)
    store = Store(tmp_path / "hub.db", clock)
    store.open()
    HealthStore(store, 24, 600).open()  # the tables a report's fingerprint reads
    liveness = Liveness(store, clock)
    liveness.open()
    assert liveness.check() is None  # the first start ever
    assert store.meta_get(ALIVE_KEY) == to_iso(T0)
    clock.advance(45)
    liveness.beat()
    assert store.meta_get(ALIVE_KEY) == to_iso(T0 + timedelta(seconds=45))
    marks = fingerprint(store.connection())
    # The process dies without a clean stop; the next one starts 10 minutes after the last beat.
    clock.advance(600)
    again = Liveness(store, clock)
    again.open()
    gap = again.check()
    assert gap == (T0 + timedelta(seconds=45), T0 + timedelta(seconds=645))
    assert again.gaps() == [gap]
    assert store.meta_get(ALIVE_KEY) == to_iso(T0 + timedelta(seconds=645))
    assert fingerprint(store.connection()) != marks  # a new gap is a new report: a new ETag
    assert again.check() is None  # checked twice at once: still one gap
    assert len(again.gaps()) == 1
    store.close_thread_connection()


# --- hubs restarted on a real broker ----------------------------------------------------------------------------


def _config(tmp_path: Path, port: int) -> dict[str, Any]:
    raw = base_config(tmp_path, port, None)
    for device in raw["devices"]:
        device["heartbeat_s"] = 1800  # offline after 90 silent minutes: longer than the test's steps
    return raw


def _started(raw: dict[str, Any], clock: ManualClock) -> Hub:
    hub = Hub(HubConfig.model_validate(raw), clock=clock)
    try:
        hub.start()
        assert hub.ingest.wait_connected(10), "hub did not connect and subscribe to the broker"
    except BaseException:
        hub.stop()
        raise
    return hub


def _heard(hub: Hub, publisher: Publisher, device: str, payload: Any, channel: str = "telemetry") -> None:
    """Publish as the panic button and wait until the hub has committed it: a last will makes it offline, any
    other message is a heartbeat stamped with the clock's now."""
    now = hub.clock.now()
    publisher.publish(topic("panic_button", device, channel), payload)

    def committed() -> bool:
        health = hub.tracker.get(device)
        if health is None:
            return False
        if payload == "offline":
            return health.state is DeviceState.OFFLINE
        return health.last_seen_at == now

    assert wait_until(committed, 5), f"{device}: message not committed"


def test_a_clean_quick_restart_records_no_gap(tmp_path: Path, broker: Mosquitto, start_hub: HubFactory) -> None:
    clock = ManualClock(T0)
    raw = _config(tmp_path, broker.port)
    first = _started(raw, clock)
    clock.advance(30 * MIN)  # a long run: the proof of life is written at the clean stop too
    first.stop()
    clock.advance(100)  # an upgrade that took 100 s
    second = start_hub(raw, clock=clock)
    assert second.liveness.gaps() == []
    assert second.store.meta_get(ALIVE_KEY) == to_iso(clock.now())


def _bureau(hub: Hub) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{hub.api_port}", headers={"Authorization": f"Bearer {TOKENS['bureau']}"}, timeout=10
    )


def test_a_restart_after_a_gap_records_it_and_the_report_counts_only_monitored_time(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> None:
    """T0: both buttons heard; +30 min btn-2 goes offline (its last will); +60 the hub stops; +90 a new hub starts
    (30 minutes not monitored); +100 btn-2 is back; the report is of [T0, T0+120 min)."""
    clock = ManualClock(T0)
    raw = _config(tmp_path, broker.port)
    first = _started(raw, clock)
    try:
        _heard(first, publisher, "btn-1", {"battery_pct": 90})
        _heard(first, publisher, "btn-2", {"battery_pct": 90})
        clock.advance(30 * MIN)
        _heard(first, publisher, "btn-2", "offline", channel="status")
        clock.advance(30 * MIN)
    finally:
        first.stop()
    clock.advance(30 * MIN)
    hub = start_hub(raw, api=True, clock=clock)
    gap = (T0 + timedelta(minutes=60), T0 + timedelta(minutes=90))
    assert hub.liveness.gaps() == [gap]
    # btn-1 was last heard at T0: 90 minutes ago, three heartbeats; but 30 of them the hub was away. The watcher
    # has run (its first tick, or this one) and btn-1 is still online; it goes offline 30 listening minutes on.
    hub.watcher.run_once()
    assert hub.tracker.get("btn-1").state is DeviceState.ONLINE  # type: ignore[union-attr]
    later = hub.tracker.plan_time(clock.now() + timedelta(minutes=30))
    assert [t.device_id for t in later.transitions] == ["btn-1"]
    clock.advance(10 * MIN)
    _heard(hub, publisher, "btn-1", {"battery_pct": 90})
    _heard(hub, publisher, "btn-2", {"battery_pct": 90})
    assert hub.tracker.get("btn-2").state is DeviceState.ONLINE  # type: ignore[union-attr]
    clock.advance(20 * MIN)

    period = {"from": to_iso(T0), "to": to_iso(T0 + timedelta(minutes=120))}
    with _bureau(hub) as bureau:
        response = bureau.get("/api/v1/reports/uptime", params={**period, "group": "device"})
        assert response.status_code == 200, response.text
        report = response.json()
        rows = {r["key"]: r for r in report["rows"]}
        # btn-1: online all along, 30 minutes of it not monitored.
        assert (rows["btn-1"]["uptime_pct"], rows["btn-1"]["counted_min"]) == (100.0, 90)
        assert (rows["btn-1"]["unmonitored_min"], rows["btn-1"]["excluded_min"]) == (30, 0)
        # btn-2: online 0-30 and 100-120, offline 30-60 and 90-100: 50 of 90 monitored minutes (not 50 of 120).
        btn2 = rows["btn-2"]
        assert (btn2["uptime_pct"], btn2["counted_min"], btn2["downtime_min"]) == (55.556, 90, 40)
        assert btn2["unmonitored_min"] == 30
        # Its fault runs through the gap: opened at +30, recovered at +100, 70 minutes to recover.
        assert (btn2["faults"], btn2["mttr_min"]) == (1, 70)
        # Never heard: unknown, except the gap, which is not monitored either way.
        assert (rows["smoke-1"]["excluded_min"], rows["smoke-1"]["unmonitored_min"]) == (90, 30)
        assert report["summary"]["unmonitored_min"] == 30  # minutes of the period, not device-minutes
        assert report["hub_gaps"] == [{"started_at": to_iso(gap[0]), "ended_at": to_iso(gap[1]), "unmonitored_min": 30}]
        assert "unmonitored_min" in report["definitions"]
        site = bureau.get("/api/v1/reports/uptime", params={**period, "group": "site"}).json()
        assert site["rows"][0]["unmonitored_min"] == 5 * 30  # device-minutes in group rows

        text = bureau.get("/api/v1/reports/uptime", params={**period, "format": "csv"}).content.decode("utf-8-sig")
        table = list(csv.reader(io.StringIO(text)))
        assert table[0] == list(COLUMNS)
        by_key = {r[COLUMNS.index("key")]: r for r in table[1:]}
        assert by_key["btn-2"][COLUMNS.index("unmonitored_min")] == "30.0"
        assert by_key["btn-2"][COLUMNS.index("uptime_pct")] == "55.556"


# --- the interval arithmetic with gaps ----------------------------------------------------------------------------

transitions_st = st.lists(st.tuples(st.integers(0, 20_000), st.sampled_from(STATES)), max_size=25)
window_st = st.tuples(st.integers(0, 20_000), st.integers(0, 20_000)).map(sorted)
spans_st = st.lists(st.tuples(st.integers(-1000, 21_000), st.integers(0, 8000)), max_size=4)


def _spans(raw: list[tuple[int, int]]) -> list[tuple[datetime, datetime]]:
    return [(_at(start), _at(start + length)) for start, length in raw]


@given(transitions_st, st.sampled_from(STATES), window_st, spans_st, spans_st, st.booleans())
def test_counted_excluded_and_unmonitored_make_the_period(
    raw: list[tuple[int, DeviceState]],
    initial: DeviceState,
    window: list[int],
    planned: list[tuple[int, int]],
    gaps: list[tuple[int, int]],
    ex: bool,
) -> None:
    start, end = window
    spans = intervals([(_at(a), s) for a, s in raw], initial, _at(start), _at(end))
    figures = uptime(spans, _spans(planned), exclude_maintenance=ex, unmonitored=_spans(gaps))
    assert figures.counted_s + figures.excluded_s + figures.unmonitored_s == pytest.approx(end - start, abs=1e-6)
    assert figures.period_s == pytest.approx(end - start, abs=1e-6)
    assert figures.working_s + figures.downtime_s == pytest.approx(figures.counted_s, abs=1e-6)
    # Not monitored is exactly the gaps' part of the window, whatever the device did.
    covered = {t for a, n in gaps for t in range(max(a, start), min(a + n, end))}
    assert figures.unmonitored_s == pytest.approx(len(covered), abs=1e-6)
    if figures.pct is None:
        assert figures.counted_s == pytest.approx(0, abs=1e-6)
    else:
        assert 0.0 <= figures.pct <= 100.0
    # A gap only takes time away: never a state's time added.
    plain = tally(spans, _spans(planned))
    with_gaps = tally(spans, _spans(planned), _spans(gaps))
    for name in Tally._fields[:5]:
        assert getattr(with_gaps, name) <= getattr(plain, name) + 1e-6


@settings(max_examples=150)
@given(
    st.lists(transitions_st, min_size=1, max_size=4),
    window_st,
    st.lists(st.tuples(st.sampled_from(["*", "d0", "d1"]), st.integers(-1000, 21_000), st.integers(0, 8000))),
    spans_st,
)
def test_the_linear_pass_with_gaps_agrees_with_the_interval_arithmetic(
    histories: list[list[tuple[int, DeviceState]]],
    window: list[int],
    windows: list[tuple[str, int, int]],
    gaps: list[tuple[int, int]],
) -> None:
    start, end = window
    devices = [f"d{i}" for i in range(len(histories))]
    rows: list[tuple[int, int, str, DeviceState]] = []
    for device, history in zip(devices, histories, strict=True):
        rows += [(at, len(rows) + i, device, s) for i, (at, s) in enumerate(history)]
    rows.sort(key=lambda r: (r[0], r[1]))
    initial: dict[str, str | None] = {}
    for device in devices:
        earlier = [r[3] for r in rows if r[2] == device and r[0] < start]
        initial[device] = earlier[-1].value if earlier and earlier[-1] is not DeviceState.UNKNOWN else None
    lo, hi = _at(start).timestamp(), _at(end).timestamp()
    # Clipped to the period, as report_store reads them.
    planned = planned_spans(
        ((s, max(_at(a).timestamp(), lo), min(_at(a + n).timestamp(), hi)) for s, a, n in windows), devices
    )
    fast = tally_rows(
        [(d, state_index(s.value), _at(at).timestamp()) for at, _, d, s in rows if start <= at < end],
        initial,
        lo,
        hi,
        planned,
        [(a.timestamp(), b.timestamp()) for a, b in _spans(gaps)],
    )
    for device in devices:
        mine = [(_at(a), _at(a + n)) for s, a, n in windows if s in ("*", device)]
        spans = intervals(
            [(_at(at), s) for at, _, d, s in rows if d == device], DeviceState.UNKNOWN, _at(start), _at(end)
        )
        slow = tally(spans, mine, _spans(gaps))
        for name in Tally._fields:
            assert getattr(fast[device], name) == pytest.approx(getattr(slow, name), abs=1e-6), (device, name)
