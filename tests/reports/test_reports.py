"""Uptime reports: property tests of the interval arithmetic, report rows and the four-100% figure, then a hub on a
real broker with an injected clock (API with ETag and roles, maintenance windows, the offline CLI, the retained
MQTT summary)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from hub.app import Hub
from hub.core.clock import ManualClock, to_iso
from hub.devtools.broker import Mosquitto
from hub.health.model import DeviceState
from hub.reports import (
    COLUMNS,
    DeviceInfo,
    FaultRecord,
    FaultStats,
    Period,
    PeriodError,
    ReportInputs,
    Tally,
    UptimePublisher,
    build_report,
    etag_matches,
    fault_stats,
    intervals,
    planned_spans,
    render_csv,
    render_json,
    resolve_period,
    state_index,
    tally,
    tally_rows,
    uptime,
)
from hub.reports.build import _row
from hub.reports.model import Group
from tests.conftest import PREFIX, SITE, TOKENS, HubFactory, Publisher, base_config, topic, wait_until

BASE = datetime(2025, 1, 6, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
STATES = list(DeviceState)
HOUR = 3600.0


def _at(seconds: int) -> datetime:
    return BASE + timedelta(seconds=seconds)


transitions_st = st.lists(st.tuples(st.integers(0, 20_000), st.sampled_from(STATES)), max_size=25)
window_st = st.tuples(st.integers(0, 20_000), st.integers(0, 20_000)).map(sorted)
planned_st = st.lists(st.tuples(st.integers(-1000, 21_000), st.integers(0, 8000)), max_size=4)


def _spans(raw: list[tuple[int, int]]) -> list[tuple[datetime, datetime]]:
    return [(_at(start), _at(start + length)) for start, length in raw]


def _state_at(transitions: list[tuple[int, DeviceState]], initial: DeviceState, t: int) -> DeviceState:
    """Brute force: the last transition at or before t (given order breaks ties), else the initial state."""
    state = initial
    for at, to_state in sorted(transitions, key=lambda x: x[0]):
        if at <= t:
            state = to_state
    return state


# --- interval arithmetic ----------------------------------------------------------------------------------------


@given(transitions_st, st.sampled_from(STATES), window_st)
def test_intervals_clip_to_the_window_and_follow_the_transitions(
    raw: list[tuple[int, DeviceState]], initial: DeviceState, window: list[int]
) -> None:
    start, end = window
    spans = intervals([(_at(a), s) for a, s in raw], initial, _at(start), _at(end))
    if start == end:
        assert spans == []
        return
    assert spans[0][0] == _at(start)
    assert spans[-1][1] == _at(end)
    for (_, prev_end, prev_state), (next_start, _, next_state) in zip(spans, spans[1:], strict=False):
        assert prev_end == next_start  # no gap, no overlap
        assert prev_state is not next_state  # neighbours in the same state are merged
    for span_start, span_end, state in spans:
        assert span_start < span_end
        # The state holds at the start of the interval and just before its end.
        seconds = int((span_start - BASE).total_seconds()), int((span_end - BASE).total_seconds()) - 1
        assert _state_at(raw, initial, seconds[0]) is state
        assert _state_at(raw, initial, seconds[1]) is state


@given(transitions_st, st.sampled_from(STATES), window_st, planned_st, st.booleans())
def test_uptime_is_a_share_and_downtime_plus_uptime_is_the_counted_period(
    raw: list[tuple[int, DeviceState]],
    initial: DeviceState,
    window: list[int],
    planned: list[tuple[int, int]],
    ex: bool,
) -> None:
    start, end = window
    figures = uptime(
        intervals([(_at(a), s) for a, s in raw], initial, _at(start), _at(end)), _spans(planned), exclude_maintenance=ex
    )
    assert figures.working_s + figures.downtime_s == pytest.approx(figures.counted_s, abs=1e-6)
    assert figures.counted_s + figures.excluded_s == pytest.approx(end - start, abs=1e-6)
    assert figures.downtime_s >= 0
    assert figures.working_s <= figures.networked_s + 1e-9
    if figures.pct is None:
        assert figures.counted_s == 0
    else:
        assert 0.0 <= figures.pct <= 100.0
        assert figures.networked_pct is not None
        assert figures.pct <= figures.networked_pct <= 100.0


@given(transitions_st, st.sampled_from(STATES), window_st, planned_st, planned_st)
def test_adding_a_maintenance_window_never_lowers_uptime_when_excluded(
    raw: list[tuple[int, DeviceState]],
    initial: DeviceState,
    window: list[int],
    planned: list[tuple[int, int]],
    extra: list[tuple[int, int]],
) -> None:
    spans = intervals([(_at(a), s) for a, s in raw], initial, _at(*window[:1]), _at(window[1]))
    before = uptime(spans, _spans(planned))
    after = uptime(spans, _spans(planned + extra))
    assert after.working_s == before.working_s
    assert after.counted_s <= before.counted_s + 1e-9
    if before.pct is not None and after.pct is not None:
        assert after.pct >= before.pct - 1e-9
    # Without the switch a window changes no figure at all.
    assert (
        uptime(spans, _spans(planned + extra), exclude_maintenance=False).pct
        == uptime(spans, exclude_maintenance=False).pct
    )


@given(transitions_st, st.sampled_from(STATES), st.integers(0, 20_000), st.integers(0, 20_000), st.integers(0, 20_000))
def test_two_adjacent_windows_give_the_weighted_uptime(
    raw: list[tuple[int, DeviceState]], initial: DeviceState, a: int, b: int, c: int
) -> None:
    start, middle, end = sorted((a, b, c))
    history = [(_at(t), s) for t, s in raw]
    first = tally(intervals(history, initial, _at(start), _at(middle)))
    second = tally(intervals(history, initial, _at(middle), _at(end)))
    whole = tally(intervals(history, initial, _at(start), _at(end)))
    joined = first + second
    for name in Tally._fields:
        assert getattr(joined, name) == pytest.approx(getattr(whole, name), abs=1e-6)
    one, two, both = first.uptime(True), second.uptime(True), whole.uptime(True)
    if both.pct is not None:
        weighted = 100 * (one.working_s + two.working_s) / (one.counted_s + two.counted_s)
        assert both.pct == pytest.approx(weighted)


@settings(max_examples=150)
@given(
    st.lists(transitions_st, min_size=1, max_size=4),
    st.sampled_from(STATES),
    window_st,
    st.lists(st.tuples(st.sampled_from(["*", "d0", "d1", "d9"]), st.integers(-1000, 21_000), st.integers(0, 8000))),
)
def test_the_linear_pass_agrees_with_the_interval_arithmetic(
    histories: list[list[tuple[int, DeviceState]]],
    before: DeviceState,
    window: list[int],
    windows: list[tuple[str, int, int]],
) -> None:
    """`tally_rows` (the report's hot loop over time-ordered rows) = `tally(intervals(...))` per device."""
    start, end = window
    devices = [f"d{i}" for i in range(len(histories))]
    # d0's state before any transition is given (as if its earlier history were purged); the others are unknown.
    first = {d: before if d == "d0" else DeviceState.UNKNOWN for d in devices}
    rows: list[tuple[int, int, str, DeviceState]] = []  # (at, id, device, state): the store's order
    for device, history in zip(devices, histories, strict=True):
        rows += [(at, len(rows) + i, device, s) for i, (at, s) in enumerate(history)]
    rows.sort(key=lambda r: (r[0], r[1]))
    initial: dict[str, str | None] = {}
    for device in devices:
        earlier = [r[3] for r in rows if r[2] == device and r[0] < start]
        state = earlier[-1] if earlier else first[device]
        initial[device] = None if state is DeviceState.UNKNOWN else state.value
    planned = planned_spans(
        [(s, _at(a).timestamp(), _at(a + n).timestamp()) for s, a, n in windows] + [("ghost", 0.0, 1.0)], devices
    )
    fast = tally_rows(
        [("ghost-device", state_index("online"), _at(start).timestamp())]
        + [(d, state_index(s.value), _at(at).timestamp()) for at, _, d, s in rows if start <= at < end],
        initial,
        _at(start).timestamp(),
        _at(end).timestamp(),
        planned,
    )
    assert set(fast) == set(devices)
    for device in devices:
        mine = [(_at(a), _at(a + n)) for s, a, n in windows if s in ("*", device)]
        spans = intervals([(_at(at), s) for at, _, d, s in rows if d == device], first[device], _at(start), _at(end))
        slow = tally(spans, mine)
        for name in Tally._fields:
            assert getattr(fast[device], name) == pytest.approx(getattr(slow, name), abs=1e-6), (device, name)


def test_a_device_never_heard_from_has_no_figure_and_faulty_is_networked_but_not_working() -> None:
    assert uptime(intervals([], DeviceState.UNKNOWN, _at(0), _at(3600))).pct is None
    history = [(_at(0), DeviceState.ONLINE), (_at(1800), DeviceState.FAULTY), (_at(2700), DeviceState.ONLINE)]
    figures = uptime(intervals(history, DeviceState.UNKNOWN, _at(0), _at(3600)))
    assert figures.pct == pytest.approx(75.0)
    assert figures.networked_pct == pytest.approx(100.0)
    assert figures.downtime_s == pytest.approx(900.0)
    # Online time inside a planned window stays counted; offline time inside it is excused.
    outage = [(_at(0), DeviceState.ONLINE), (_at(1800), DeviceState.OFFLINE)]
    planned = [(_at(1200), _at(2400))]
    excused = uptime(intervals(outage, DeviceState.UNKNOWN, _at(0), _at(3600)), planned)
    assert (excused.counted_s, excused.working_s, excused.planned_downtime_s) == (3000.0, 1800.0, 600.0)
    counted = uptime(intervals(outage, DeviceState.UNKNOWN, _at(0), _at(3600)), planned, exclude_maintenance=False)
    assert (counted.counted_s, counted.pct) == (3600.0, 50.0)


# --- periods, faults, rows --------------------------------------------------------------------------------------


def test_periods_default_to_30_days_rounded_to_the_minute_and_refuse_what_cannot_be_reported() -> None:
    now = datetime(2025, 3, 3, 8, 15, 42, 123, tzinfo=UTC)
    period = resolve_period(None, None, now)
    assert period.end == period.as_of == datetime(2025, 3, 3, 8, 15, tzinfo=UTC)
    assert period.start == period.end - timedelta(days=30)
    future = resolve_period(_at(0), now + timedelta(days=2), now)
    assert future.as_of == datetime(2025, 3, 3, 8, 15, tzinfo=UTC)
    shanghai = datetime.fromisoformat("2025-03-01T08:00:00+08:00")
    assert resolve_period(shanghai, None, now).start == datetime(2025, 3, 1, tzinfo=UTC)
    for start, end, message in [
        (now - timedelta(days=1), now - timedelta(days=2), "before"),
        (now - timedelta(days=400), now, "366"),
        (now + timedelta(hours=1), now + timedelta(days=1), "not started"),
        (datetime(2025, 3, 1), None, "offset"),  # noqa: DTZ001 - a naive time is what is being refused
    ]:
        with pytest.raises(PeriodError, match=message):
            resolve_period(start, end, now)


def test_fault_figures_mttr_longest_still_open_and_breaches_by_deadline() -> None:
    h = HOUR
    faults = [
        FaultRecord("a", 10 * h, 34 * h, 11 * h, False),  # 1 h
        FaultRecord("a", 20 * h, 44 * h, 23 * h, False),  # 3 h
        FaultRecord("a", 90 * h, 114 * h, None, False),  # still open at the end (100 h): counts 10 h; due later
        FaultRecord("b", -30 * h, -6 * h, 5 * h, True),  # opened before the period; due before it: nothing here
        FaultRecord("c", -10 * h, 14 * h, 20 * h, True),  # opened before, deadline inside, late: a breach
        FaultRecord("d", 40 * h, 64 * h, 70 * h, False),  # late recovery whose breach the watcher missed: a breach
        FaultRecord("e", 50 * h, 74 * h, 60 * h, True),  # recorded breach stays a breach, whatever the columns say
        FaultRecord("f", 80 * h, 92 * h, 150 * h, False),  # recovered after the end: counts to the end (20 h), late
    ]
    stats = fault_stats(faults, 0.0, 100 * h)
    a = stats["a"]
    assert (a.count, a.ttr_max_s / h, a.breaches) == (3, 10, 0)
    assert a.ttr_total_s / a.count / h == pytest.approx(14 / 3)
    assert (stats["b"].count, stats["b"].breaches) == (0, 0)
    assert (stats["c"].count, stats["c"].breaches) == (0, 1)
    assert (stats["d"].count, stats["d"].ttr_max_s / h, stats["d"].breaches) == (1, 30, 1)
    assert stats["e"].breaches == 1
    assert (stats["f"].ttr_max_s / h, stats["f"].breaches) == (20, 1)
    # The next period sees none of these breaches again, and the 'a' fault due at 114 h there.
    later = fault_stats(faults, 100 * h, 200 * h)
    assert sum(s.breaches for s in later.values()) == 1
    assert later["a"].breaches == 1


def _inputs(**overrides: Any) -> ReportInputs:
    h = HOUR
    devices = [
        DeviceInfo("btn-1", "panic_button", "Gate button", "A"),
        DeviceInfo("btn-2", "panic_button", "=cmd|' /C calc'!A0", "A"),
        DeviceInfo("cam-1", "camera", "门口摄像机 Gate camera", "B"),
        DeviceInfo("smoke-1", "smoke", "Lab smoke", "C"),
    ]
    period = Period(_at(0), _at(int(10 * h)), _at(int(10 * h)))
    values: dict[str, Any] = {
        "site_id": "s",
        "site_name": "School",
        "devices": devices,
        "period": period,
        "exclude_maintenance": True,
        "tallies": {
            "btn-1": Tally(online_s=10 * h),
            "btn-2": Tally(online_s=9 * h, offline_s=1 * h),
            "cam-1": Tally(unknown_s=2 * h, online_s=6 * h, faulty_s=2 * h),
            # smoke-1: offline 4 h, 3 of them in a planned window
            "smoke-1": Tally(online_s=6 * h, offline_s=4 * h, planned_offline_s=3 * h),
        },
        "faults": {
            "btn-2": FaultStats(1, 1 * h, 1 * h, 0),
            "smoke-1": FaultStats(2, 6 * h, 4 * h, 1),
            "path-110": FaultStats(1, 2 * h, 2 * h, 1),  # a forwarding path: the site row only
        },
        "current": {"btn-1": "online", "btn-2": "offline", "cam-1": "faulty", "smoke-1": "online"},
    }
    values.update(overrides)
    return ReportInputs(**values)


def test_report_rows_per_device_kind_and_site() -> None:
    report = build_report(_inputs(), "device")
    rows = {r["key"]: r for r in report["rows"]}
    assert list(rows) == ["btn-1", "btn-2", "cam-1", "smoke-1"]
    assert (rows["btn-2"]["uptime_pct"], rows["btn-2"]["downtime_min"], rows["btn-2"]["mttr_min"]) == (90.0, 60, 60)
    cam = rows["cam-1"]
    assert (cam["uptime_pct"], cam["networked_pct"], cam["excluded_min"], cam["counted_min"]) == (75.0, 100.0, 120, 480)
    smoke = rows["smoke-1"]
    # 3 h of the 4 h outage were planned: 6 h working of 7 h counted.
    assert (smoke["uptime_pct"], smoke["planned_downtime_min"], smoke["downtime_min"]) == (85.714, 180, 60)
    assert (smoke["faults"], smoke["mttr_min"], smoke["longest_recovery_min"], smoke["sla_breaches"]) == (
        2,
        180,
        240,
        1,
    )
    assert (rows["btn-1"]["faults"], rows["btn-1"]["mttr_min"], rows["btn-1"]["current_state"]) == (0, None, "online")
    assert rows["cam-1"]["faulty_now"] == 1

    kinds = {r["key"]: r for r in build_report(_inputs(), "kind")["rows"]}
    assert list(kinds) == ["panic_button", "smoke", "camera"]  # registry kinds in DeviceKind order
    buttons = kinds["panic_button"]
    assert (buttons["devices"], buttons["uptime_pct"], buttons["downtime_min"], buttons["offline_now"]) == (
        2,
        95.0,
        60,
        1,
    )

    (site,) = build_report(_inputs(), "site")["rows"]
    # Working 10+9+6+6 = 31 h of counted 10+10+8+7 = 35 h.
    assert (site["devices"], site["uptime_pct"], site["downtime_min"]) == (4, 88.571, 240)
    assert (site["faults"], site["sla_breaches"], site["longest_recovery_min"]) == (4, 2, 240)
    assert site["mttr_min"] == 135  # (1 + 6 + 2) h over 4 faults

    unexcused = {r["key"]: r for r in build_report(_inputs(exclude_maintenance=False), "device")["rows"]}
    assert unexcused["smoke-1"]["uptime_pct"] == 60.0
    assert unexcused["smoke-1"]["sla_breaches"] == 1  # breaches never depend on the switch


# Values shared between devices too: the rows remember what they rounded (not zeros, whose sign must stay).
tally_st = st.builds(
    Tally, *[st.floats(0, 1e7) | st.just(-0.0) | st.sampled_from([0.0, 30.0, 90.3, 1e6]) for _ in Tally._fields]
)
fault_stats_st = st.builds(FaultStats, st.integers(0, 50), st.floats(0, 1e8), st.floats(0, 1e7), st.integers(0, 5))


@given(
    st.lists(st.tuples(tally_st, st.none() | fault_stats_st, st.sampled_from(["online", "offline", "x", "faulty"]))),
    st.booleans(),
    st.dictionaries(
        st.integers(0, 20).map(lambda i: f"d{i}"),
        st.fixed_dictionaries({"retained_days": st.floats(0, 99) | st.none(), "compliant": st.booleans()}),
    ),
)
@settings(max_examples=60, deadline=None)
def test_device_rows_equal_the_one_row_form(
    devices: list[tuple[Tally, FaultStats | None, str]], exclude: bool, retention: dict[str, Any]
) -> None:
    """The device rows' single loop makes exactly the rows `_row` makes (and the retention cells as before)."""
    infos = [DeviceInfo(f"d{i}", "camera", f"n{i}", "B") for i in range(len(devices))]
    inputs = _inputs(
        devices=infos,
        tallies={d.id: t for d, (t, _, _) in zip(infos, devices, strict=True)},
        faults={d.id: f for d, (_, f, _) in zip(infos, devices, strict=True) if f is not None},
        current={d.id: s for d, (_, _, s) in zip(infos, devices, strict=True)},
        exclude_maintenance=exclude,
        retention=retention,
    )
    expected = []
    for d, (t, f, s) in zip(infos, devices, strict=True):
        row = _row("device", d.id, d.name, d.kind, d.building, 1, t.uptime(exclude), f or FaultStats(), {s: 1}, s)
        verdict = retention.get(d.id)
        if verdict is not None:
            days = verdict.get("retained_days")
            row["retention_days"] = None if days is None else round(float(days), 2)
            row["retention_ok"] = verdict.get("compliant")
        expected.append(row)
    assert json.dumps(build_report(inputs, "device")["rows"]) == json.dumps(expected)


def test_device_rows_keep_the_sign_of_a_zero_after_the_same_zero_unsigned() -> None:
    """Rows remember rounded minutes by value and share an uptime share as the networked one, and 0.0 and -0.0
    are equal: a -0.0 after a 0.0 stays -0.0, and a -0.0 online time's share is -0.0 while the networked is 0.0."""
    infos = [DeviceInfo(f"d{i}", "camera", f"n{i}", "B") for i in range(6)]
    signed = Tally(-0.0, -0.0, -0.0, -0.0, -0.0, -0.0, -0.0, -0.0)
    down = Tally(0.0, -0.0, 300.0)
    tallies = dict(zip((d.id for d in infos), [Tally(), signed, Tally(), signed, down, down], strict=True))
    for exclude in (False, True):
        rows = build_report(_inputs(devices=infos, tallies=tallies, exclude_maintenance=exclude), "device")["rows"]
        expected = [
            _row(
                "device",
                d.id,
                d.name,
                d.kind,
                d.building,
                1,
                tallies[d.id].uptime(exclude),
                FaultStats(),
                {"unknown": 1},
                "unknown",
            )
            for d in infos
        ]
        assert json.dumps(rows) == json.dumps(expected)
        assert json.dumps(rows[1]["unmonitored_min"]) == "-0.0"
        assert json.dumps([rows[4]["uptime_pct"], rows[4]["networked_pct"]]) == "[-0.0, 0.0]"


def _json_module(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@pytest.mark.parametrize("group", ["device", "kind", "site"])
def test_report_json_is_the_json_modules_bytes(group: Group) -> None:
    report = build_report(_inputs(), group)
    assert render_json(report) == _json_module(report)


report_value_st = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.tuples(st.floats(-1e12, 1e12), st.integers(0, 4)).map(lambda f: round(*f))
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(report_value_st)
@settings(max_examples=300, deadline=None)
def test_json_bytes_equal_the_json_modules_for_what_reports_hold(value: Any) -> None:
    """Figures rounded to at most 4 places, any text (device names are free text), nesting: the same bytes."""
    assert render_json({"v": value}) == _json_module({"v": value})


def test_the_alarm_and_video_item_of_the_four() -> None:
    summary = build_report(_inputs(), "site")["summary"]
    figure = summary["four_items"]["alarm_video"]
    assert figure["panic_button"] == {
        "installed": 2,
        "networked": 1,
        "working": 1,
        "installed_share": 1.0,
        "networked_share": 0.5,
        "working_share": 0.5,
    }
    # A faulty camera is networked but not working.
    assert (figure["camera"]["networked_share"], figure["camera"]["working_share"]) == (1.0, 0.0)
    assert (figure["combined"]["installed"], figure["combined"]["networked"], figure["combined"]["working"]) == (
        3,
        2,
        1,
    )
    assert summary["retention_compliance"] is None
    assert "retention" in summary["retention_note"]
    assert summary["current_states"] == {"unknown": 0, "online": 2, "offline": 1, "faulty": 1, "maintenance": 0}
    # Maintenance now is networked (not offline or unknown) but not working; a device never heard of is neither.
    other = build_report(_inputs(current={"btn-1": "maintenance"}), "site")["summary"]["four_items"]["alarm_video"]
    assert (other["panic_button"]["networked"], other["panic_button"]["working"]) == (1, 0)
    none = build_report(_inputs(devices=[DeviceInfo("s", "smoke", "s", "A")]), "site")["summary"]["four_items"][
        "alarm_video"
    ]
    assert none["camera"] == {
        "installed": 0,
        "networked": 0,
        "working": 0,
        "installed_share": 0.0,
        "networked_share": None,
        "working_share": None,
    }


def test_csv_has_a_bom_a_header_one_row_per_group_and_no_formulas() -> None:
    body = render_csv(build_report(_inputs(), "device"))
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0] == list(COLUMNS)
    assert [r[1] for r in rows[1:]] == ["btn-1", "btn-2", "cam-1", "smoke-1"]
    assert rows[2][2].startswith("'=")  # Excel shows it as text instead of running it
    assert rows[3][2] == "门口摄像机 Gate camera"
    assert rows[1][COLUMNS.index("mttr_min")] == ""  # null is an empty cell
    assert b"\r\n" in body


def test_etag_comparison_is_weak_and_handles_lists_and_star() -> None:
    assert etag_matches('"abc"', '"abc"')
    assert etag_matches('W/"abc"', '"abc"')
    assert etag_matches('"x", "abc"', '"abc"')
    assert etag_matches("*", '"abc"')
    assert not etag_matches('"abd"', '"abc"')
    assert not etag_matches(None, '"abc"')


def test_the_summary_goes_out_at_start_then_once_per_beijing_day_and_retries_a_failed_publish() -> None:
    sent: list[tuple[str, dict[str, Any], bool]] = []
    up = [False]

    def publish(topic: str, payload: str, retain: bool = True) -> bool:
        if up[0]:
            sent.append((topic, json.loads(payload), retain))
        return up[0]

    clock = ManualClock(datetime(2025, 3, 3, 15, 0, tzinfo=UTC))  # 23:00 Beijing time
    publisher = UptimePublisher(lambda now: {"at": to_iso(now)}, publish, "t/hub/uptime", clock, SHANGHAI)
    assert publisher.run_once(clock.now()) is False  # no broker yet
    assert not publisher.done(clock.now())
    up[0] = True
    assert publisher.run_once(clock.now()) is True
    assert publisher.run_once(clock.now() + timedelta(minutes=59)) is False  # same Beijing day
    assert publisher.run_once(clock.now() - timedelta(days=1)) is False  # a stale tick never goes back a day
    assert publisher.run_once(clock.now() + timedelta(hours=1)) is True  # 00:00 Beijing time, 16:00 UTC
    assert [(t, p["at"][:13], r) for t, p, r in sent] == [
        ("t/hub/uptime", "2025-03-03T15", True),
        ("t/hub/uptime", "2025-03-03T16", True),
    ]


# --- a hub on a real broker, with a clock the test moves ----------------------------------------------------------

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)  # in the real past, so the CLI (real clock) counts the same period
DEVICES = ["cam-1", "btn-1", "btn-2", "smoke-1", "temp-1"]
KINDS = {
    "cam-1": "camera",
    "btn-1": "panic_button",
    "btn-2": "panic_button",
    "smoke-1": "smoke",
    "temp-1": "temperature",
}


class Subscriber:
    """Collects messages of one topic; waits on a condition, never sleeps."""

    def __init__(self, port: int, topic_: str, client_id: str) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._cond = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topic_, qos=1)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> mqtt.MQTTMessage | None:
        with self._cond:
            found: list[mqtt.MQTTMessage] = []

            def ready() -> bool:
                found[:] = [m for m in self.messages if predicate(json.loads(m.payload))]
                return bool(found)

            self._cond.wait_for(ready, timeout)
            return found[-1] if found else None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _client(hub: Hub, role: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{hub.api_port}", headers={"Authorization": f"Bearer {TOKENS[role]}"}, timeout=10
    )


def _state(hub: Hub, device: str) -> DeviceState | None:
    health = hub.tracker.get(device)
    return health.state if health else None


def _go(hub: Hub, publisher: Publisher, device: str, online: bool) -> None:
    """The device's status (`offline` is its last will), then wait until the hub has committed the change."""
    publisher.publish(topic(KINDS[device], device, "status"), "online" if online else "offline")
    want = DeviceState.ONLINE if online else DeviceState.OFFLINE
    assert wait_until(lambda: _state(hub, device) is want, 5), f"{device} did not go {want}"


@pytest.fixture
def school(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> tuple[Hub, ManualClock, dict[str, Any]]:
    """A hub whose 30 hours after T0 went like this (exclude_maintenance on, the default):

    - cam-1, btn-1: online throughout.
    - smoke-1: offline T0+1h..T0+1h30 (an unplanned 30-minute outage).
    - temp-1: a planned window T0+2h..T0+4h; offline T0+2h..T0+3h inside it.
    - btn-2: a planned window T0+4h..T0+30h; offline from T0+4h on, so its fault breaches at T0+28h.
    """
    clock = ManualClock(T0)
    raw = base_config(tmp_path, broker.port, None)
    for device in raw["devices"]:
        device["heartbeat_s"] = 86400  # only last wills take devices offline: the test owns every transition
    raw["health"] = {"check_interval_s": 60}  # and drives the watcher itself
    hub = start_hub(raw, api=True, clock=clock)
    for device in DEVICES:
        _go(hub, publisher, device, True)
    with _client(hub, "maintenance") as maintenance:
        clock.advance(HOUR)
        _go(hub, publisher, "smoke-1", False)
        clock.advance(HOUR / 2)
        _go(hub, publisher, "smoke-1", True)
        clock.advance(HOUR / 2)
        for device, hours in (("temp-1", 2), ("btn-2", 26)):
            window = {
                "subject": device,
                "starts_at": to_iso(clock.now()),
                "ends_at": to_iso(clock.now() + timedelta(hours=hours)),
                "reason": "planned work",
            }
            assert maintenance.post("/api/v1/maintenance-windows", json=window).status_code == 201
            _go(hub, publisher, device, False)
            if device == "temp-1":
                clock.advance(HOUR)
                _go(hub, publisher, "temp-1", True)
                clock.advance(HOUR)
    clock.advance(26 * HOUR)
    hub.watcher.run_once()  # records btn-2's breach at its deadline
    return hub, clock, raw


def _report(client: httpx.Client, **params: str) -> dict[str, Any]:
    response = client.get("/api/v1/reports/uptime", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


PERIOD = {"from": to_iso(T0), "to": to_iso(T0 + timedelta(hours=30))}


def test_uptime_report_through_the_api_with_maintenance_windows_excluded(
    school: tuple[Hub, ManualClock, dict[str, Any]],
) -> None:
    hub, _, _ = school
    with _client(hub, "bureau") as bureau:
        report = _report(bureau, **PERIOD)
        rows = {r["key"]: r for r in report["rows"]}
        assert list(rows) == DEVICES
        assert report["period"]["as_of"] == to_iso(T0 + timedelta(hours=30))
        for device in ("cam-1", "btn-1"):
            assert (rows[device]["uptime_pct"], rows[device]["downtime_min"], rows[device]["faults"]) == (100.0, 0, 0)
        smoke = rows["smoke-1"]
        assert (smoke["uptime_pct"], smoke["downtime_min"], smoke["counted_min"]) == (98.333, 30, 1800)
        assert (smoke["faults"], smoke["mttr_min"], smoke["longest_recovery_min"], smoke["sla_breaches"]) == (
            1,
            30,
            30,
            0,
        )
        # The hour temp-1 was offline lay inside its planned window: excused, but its fault still shows.
        temp = rows["temp-1"]
        assert (temp["uptime_pct"], temp["downtime_min"], temp["planned_downtime_min"]) == (100.0, 0, 60)
        assert (temp["faults"], temp["mttr_min"]) == (1, 60)
        # btn-2's whole outage is planned, so its uptime is whole; the breach of its fault is not hidden.
        btn = rows["btn-2"]
        assert (btn["uptime_pct"], btn["counted_min"], btn["excluded_min"]) == (100.0, 240, 1560)
        assert (btn["faults"], btn["mttr_min"], btn["sla_breaches"], btn["current_state"]) == (1, 1560, 1, "offline")
        summary = report["summary"]
        assert (summary["uptime_pct"], summary["downtime_min"], summary["sla_breaches"]) == (99.593, 30, 1)
        assert summary["four_items"]["alarm_video"]["panic_button"]["networked_share"] == 0.5
        assert summary["four_items"]["alarm_video"]["camera"]["working_share"] == 1.0
        assert [(w["subject"], w["created_by"]) for w in report["maintenance_windows"]] == [
            ("temp-1", "maintenance"),
            ("btn-2", "maintenance"),
        ]
        (kind,) = [r for r in _report(bureau, group="kind", **PERIOD)["rows"] if r["key"] == "panic_button"]
        assert (kind["devices"], kind["uptime_pct"], kind["sla_breaches"], kind["offline_now"]) == (2, 100.0, 1, 1)
        (site,) = _report(bureau, group="site", **PERIOD)["rows"]
        assert (site["key"], site["uptime_pct"], site["faults"]) == (SITE, 99.593, 3)
        # The default period is the last 30 days up to now (rounded down to the minute).
        default = _report(bureau)
        assert default["period"]["to"] == to_iso(T0 + timedelta(hours=30))
        assert default["period"]["from"] == to_iso(T0 + timedelta(hours=30) - timedelta(days=30))
        assert default["summary"]["uptime_pct"] == 99.593  # nothing was counted before T0 (unknown)


def test_csv_report_and_bad_ranges(school: tuple[Hub, ManualClock, dict[str, Any]]) -> None:
    hub, _, _ = school
    with _client(hub, "maintenance") as client:
        response = client.get("/api/v1/reports/uptime", params={**PERIOD, "format": "csv"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert "attachment" in response.headers["content-disposition"]
        assert response.content.startswith(b"\xef\xbb\xbf")
        table = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert [r["key"] for r in table] == DEVICES
        assert {r["key"]: r["uptime_pct"] for r in table}["smoke-1"] == "98.333"
        assert {r["key"]: r["sla_breaches"] for r in table}["btn-2"] == "1"
        for params in (
            {"from": PERIOD["to"], "to": PERIOD["from"]},
            {"from": "2025-03-03T00:00:00", "to": PERIOD["to"]},  # no offset
            {"from": "yesterday"},
            {"from": to_iso(T0 - timedelta(days=400)), "to": PERIOD["to"]},
            {"from": to_iso(T0 + timedelta(days=3))},  # not started
            {"group": "building"},
            {"format": "xml"},
        ):
            bad = client.get("/api/v1/reports/uptime", params=params)
            assert bad.status_code == 422, params
            assert bad.json()["error"]["code"] == "invalid_request"


def test_report_roles_and_the_bureau_is_read_only(school: tuple[Hub, ManualClock, dict[str, Any]]) -> None:
    hub, clock, _ = school
    window = {
        "subject": "*",
        "starts_at": to_iso(clock.now() + timedelta(hours=1)),
        "ends_at": to_iso(clock.now() + timedelta(hours=2)),
        "reason": "site-wide power work",
    }
    with _client(hub, "guard") as guard, _client(hub, "bureau") as bureau, _client(hub, "admin") as admin:
        assert guard.get("/api/v1/reports/uptime").json()["error"]["code"] == "forbidden"
        assert guard.get("/api/v1/reports/uptime").status_code == 403
        assert admin.get("/api/v1/reports/uptime", params=PERIOD).status_code == 200
        assert bureau.post("/api/v1/maintenance-windows", json=window).status_code == 403
        assert guard.post("/api/v1/maintenance-windows", json=window).status_code == 403
        listed = guard.get("/api/v1/maintenance-windows").json()["maintenance_windows"]
        assert [w["subject"] for w in listed] == ["temp-1", "btn-2"]
        assert bureau.get("/api/v1/maintenance-windows").status_code == 200
        created = admin.post("/api/v1/maintenance-windows", json=window)
        assert created.status_code == 201
        assert created.json()["subject"] == "*"
        for change, message in (
            ({"ends_at": window["starts_at"]}, "after"),
            ({"subject": "no-such-device"}, "registered"),
            ({"starts_at": to_iso(clock.now() - timedelta(hours=1))}, "past"),
        ):
            refused = admin.post("/api/v1/maintenance-windows", json={**window, **change})
            assert refused.status_code == 422
            assert message in refused.json()["error"]["message"]
    audit = [a for a in hub.store.list_audit() if a["action"] == "maintenance_window.create"]
    assert [(a["actor"], a["detail"]["subject"]) for a in reversed(audit)] == [
        ("maintenance", "temp-1"),
        ("maintenance", "btn-2"),
        ("admin", "*"),
    ]


def test_etag_304_until_something_changes(
    school: tuple[Hub, ManualClock, dict[str, Any]], publisher: Publisher
) -> None:
    hub, clock, _ = school
    with _client(hub, "bureau") as bureau, _client(hub, "maintenance") as maintenance:
        first = bureau.get("/api/v1/reports/uptime", params=PERIOD)
        etag = first.headers["etag"]
        again = bureau.get("/api/v1/reports/uptime", params=PERIOD, headers={"If-None-Match": etag})
        assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
        # The same period as CSV is another representation.
        assert bureau.get("/api/v1/reports/uptime", params={**PERIOD, "format": "csv"}).headers["etag"] != etag
        # A period in the past does not move with the clock...
        clock.advance(120)
        assert bureau.get("/api/v1/reports/uptime", params=PERIOD, headers={"If-None-Match": etag}).status_code == 304
        # ...but one up to now does, minute by minute, whether `to` is absent or in the future.
        future = {"from": PERIOD["from"], "to": to_iso(T0 + timedelta(hours=40))}
        current = bureau.get("/api/v1/reports/uptime").headers["etag"]
        ahead = bureau.get("/api/v1/reports/uptime", params=future).headers["etag"]
        assert bureau.get("/api/v1/reports/uptime", headers={"If-None-Match": current}).status_code == 304
        clock.advance(30)  # still the same minute
        assert bureau.get("/api/v1/reports/uptime", params=future, headers={"If-None-Match": ahead}).status_code == 304
        clock.advance(30)
        moved = bureau.get("/api/v1/reports/uptime", headers={"If-None-Match": current})
        assert moved.status_code == 200
        assert moved.json()["period"]["as_of"] == to_iso(T0 + timedelta(hours=30, minutes=3))
        later = bureau.get("/api/v1/reports/uptime", params=future, headers={"If-None-Match": ahead})
        assert later.status_code == 200
        assert later.json()["period"]["as_of"] == to_iso(T0 + timedelta(hours=30, minutes=3))
        # A new transition changes the answer (current states) and so the ETag.
        _go(hub, publisher, "btn-2", True)
        changed = bureau.get("/api/v1/reports/uptime", params=PERIOD, headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag
        assert {r["key"]: r["current_state"] for r in changed.json()["rows"]}["btn-2"] == "online"
        # So does a new maintenance window.
        etag = changed.headers["etag"]
        window = {
            "subject": "cam-1",
            "starts_at": to_iso(clock.now()),
            "ends_at": to_iso(clock.now() + timedelta(hours=1)),
            "reason": "lens cleaning",
        }
        assert maintenance.post("/api/v1/maintenance-windows", json=window).status_code == 201
        after = bureau.get("/api/v1/reports/uptime", params=PERIOD, headers={"If-None-Match": etag})
        assert after.status_code == 200
        assert after.headers["etag"] != etag


def _cli(config_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "hub", "report", "uptime", "--config", str(config_path), *args],
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_the_cli_gives_the_api_figures_offline(school: tuple[Hub, ManualClock, dict[str, Any]], tmp_path: Path) -> None:
    hub, _, raw = school
    config_path = tmp_path / "hub.yaml"
    config_path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    period_args = ["--from", PERIOD["from"], "--to", PERIOD["to"]]
    with _client(hub, "bureau") as bureau:
        for group, fmt in (("device", "json"), ("kind", "csv"), ("site", "json")):
            api = bureau.get("/api/v1/reports/uptime", params={**PERIOD, "group": group, "format": fmt})
            result = _cli(config_path, *period_args, "--group", group, "--format", fmt)
            assert result.returncode == 0, result.stderr.decode()
            assert result.stdout == api.content, (group, fmt)  # the same bytes: figures, windows and all
    assert json.loads(_cli(config_path, *period_args, "--format", "json").stdout)["summary"]["uptime_pct"] == 99.593

    # The switch off: planned downtime counts again, the breach stays one either way.
    off = {**raw, "reports": {"exclude_maintenance": False}}
    off_path = tmp_path / "off.yaml"
    off_path.write_text(yaml.safe_dump(off, allow_unicode=True), encoding="utf-8")
    rows = {r["key"]: r for r in json.loads(_cli(off_path, *period_args, "--format", "json").stdout)["rows"]}
    assert (rows["temp-1"]["uptime_pct"], rows["temp-1"]["downtime_min"]) == (96.667, 60)
    assert (rows["btn-2"]["uptime_pct"], rows["btn-2"]["sla_breaches"]) == (13.333, 1)

    bad = _cli(config_path, "--from", "2025-03-03T00:00:00", "--to", PERIOD["to"])
    assert bad.returncode == 2
    assert b"offset" in bad.stderr
    backwards = _cli(config_path, "--from", PERIOD["to"], "--to", PERIOD["from"])
    assert (backwards.returncode, b"before" in backwards.stderr) == (2, True)


def test_the_daily_summary_is_retained_on_mqtt(
    school: tuple[Hub, ManualClock, dict[str, Any]], broker: Mosquitto
) -> None:
    hub, clock, _ = school
    topic_ = f"{PREFIX}/{SITE}/hub/uptime"
    day = to_iso(datetime(2025, 3, 2, 16, tzinfo=UTC))  # 00:00 on 3 March, Beijing time
    listener = Subscriber(broker.port, topic_, "uptime-listener")
    try:
        # The clock is on 4 March (Beijing) now: the summary of 3 March goes out once (at start, the 2nd went out).
        hub.uptime.run_once(clock.now())
        assert hub.uptime.done(clock.now())
        assert hub.uptime.run_once(clock.now()) is False
        message = listener.wait_for(lambda p: p["period"]["from"] == day, 10)
        assert message is not None, "no summary of 3 March arrived"
    finally:
        listener.close()
    # A district broker that subscribes later still gets it: it is retained.
    late = Subscriber(broker.port, topic_, "district-bridge")
    try:
        retained = late.wait_for(lambda p: True, 10)
        assert retained is not None
        assert retained.retain
        summary = json.loads(retained.payload)
    finally:
        late.close()
    assert summary["site"]["id"] == SITE
    assert summary["period"]["to"] == to_iso(datetime(2025, 3, 3, 16, tzinfo=UTC))
    assert summary["day"] == "2025-03-03"
    with _client(hub, "bureau") as bureau:
        same = _report(bureau, group="site", **{"from": "2025-03-03", "to": "2025-03-03"})["summary"]
    # On 3 March, Beijing time (until 16:00 UTC): 08:00-16:00 UTC monitored, 5 x 8 h; the planned outages (temp-1
    # 1 h, btn-2 4 h) excused: 35 h counted; smoke-1 down 30 min. (The UTC day gave 99.254.)
    assert summary["uptime_pct"] == same["uptime_pct"] == round(34.5 / 35 * 100, 3)
    assert (summary["devices"], summary["faults"], summary["sla_breaches"]) == (5, 3, 0)
    same_items = same["four_items"]
    assert summary["four_items"]["alarm_video"] == {k: v for k, v in same_items["alarm_video"].items() if k != "note"}
    assert summary["four_items"]["alarm_video"]["panic_button"]["working_share"] == 0.5
    # 3 March 2025 was a Monday, a school day nobody recorded: shown as not recorded, in the summary too.
    assert summary["four_items"]["not_recorded"] == same_items["not_recorded"] == ["2025-03-03"]
    assert "days" not in summary["four_items"]


def test_the_cycle_collector_is_paused_only_while_a_report_is_made() -> None:
    import gc

    from hub.store.reports import _collector_paused

    assert gc.isenabled()
    with _collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), _collector_paused():
        raise RuntimeError("a failed report")
    assert gc.isenabled()
    gc.disable()
    try:
        with _collector_paused():
            pass
        assert not gc.isenabled()  # whoever turned it off turns it on
    finally:
        gc.enable()
