"""Alarm rules and retry backoff as pure functions: no broker, no clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.model import AlarmKind, Priority
from alerts.outbox import retry_delay
from alerts.rules import HeatRule, TemperatureHistory, evaluate, heat_trigger
from device_adapters.base import Channel, DeviceEvent, DeviceKind

RULE = HeatRule(threshold_c=57.0, rate_c_per_min=10.0, window_s=60.0, min_span_s=15.0)
T0 = datetime(2026, 11, 23, tzinfo=UTC)


def _event(kind: DeviceKind, channel: Channel = Channel.EVENT, **fields: object) -> DeviceEvent:
    return DeviceEvent(device_id="d", kind=kind, channel=channel, occurred_at=T0, **fields)  # type: ignore[arg-type]


def test_press_is_panic_priority_1_and_release_is_nothing() -> None:
    trigger = evaluate(_event(DeviceKind.PANIC_BUTTON, pressed=True, seq=3), None, [], 0.0)
    assert trigger is not None
    assert (trigger.kind, trigger.priority, trigger.detail["seq"]) == (AlarmKind.PANIC, Priority.LIFE_SAFETY, 3)
    assert evaluate(_event(DeviceKind.PANIC_BUTTON, pressed=False), None, [], 0.0) is None


def test_smoke_is_fire_priority_1() -> None:
    trigger = evaluate(_event(DeviceKind.SMOKE, Channel.TELEMETRY, smoke=True), None, [], 0.0)
    assert trigger is not None
    assert (trigger.kind, trigger.priority) == (AlarmKind.FIRE, Priority.LIFE_SAFETY)
    assert evaluate(_event(DeviceKind.SMOKE, Channel.TELEMETRY, smoke=False), None, [], 0.0) is None


def test_status_never_raises_an_alarm() -> None:
    assert evaluate(_event(DeviceKind.PANIC_BUTTON, Channel.STATUS, pressed=True, online=False), None, [], 0.0) is None


@pytest.mark.parametrize(("celsius", "alarm"), [(56.9, False), (57.0, True), (80.0, True), (-10.0, False)])
def test_static_heat_threshold(celsius: float, alarm: bool) -> None:
    assert (heat_trigger(celsius, 0.0, [], RULE) is not None) is alarm


def test_rate_of_rise_over_the_window() -> None:
    # 20 -> 31 degrees in 60 s is 11 degrees per minute: above the 10 degrees per minute limit.
    trigger = heat_trigger(31.0, 60.0, [(0.0, 20.0), (30.0, 25.0)], RULE)
    assert trigger is not None
    assert trigger.kind is AlarmKind.HEAT
    assert trigger.detail["rate_c_per_min"] == pytest.approx(11.0)
    # 20 -> 29 in 60 s is 9 per minute: no alarm.
    assert heat_trigger(29.0, 60.0, [(0.0, 20.0)], RULE) is None


def test_noise_between_close_readings_is_not_a_rise() -> None:
    # +1 degree in 2 s would be 30 degrees per minute, but 2 s is below the 15 s minimum span.
    assert heat_trigger(23.0, 2.0, [(0.0, 22.0)], RULE) is None


def test_readings_older_than_the_window_are_ignored() -> None:
    assert heat_trigger(40.0, 200.0, [(0.0, 20.0)], RULE) is None


def test_temperature_history_forgets_outside_the_window() -> None:
    history = TemperatureHistory(window_s=60.0)
    history.add("t", 0.0, 20.0)
    history.add("t", 50.0, 21.0)
    assert list(history.readings("t", 55.0)) == [(0.0, 20.0), (50.0, 21.0)]
    assert list(history.readings("t", 100.0)) == [(50.0, 21.0)]
    assert list(history.readings("other", 100.0)) == []


def test_rate_uses_the_oldest_reading_that_spans_enough_time() -> None:
    # Readings 1 s apart: the rate is judged against the oldest one at least 15 s back, not the neighbours.
    history = [(float(t), 20.0 + t * 0.1) for t in range(0, 60)]
    assert heat_trigger(26.0, 60.0, history, RULE) is None  # 6 degrees in 60 s: 6 per minute
    assert heat_trigger(31.0, 60.0, history, RULE) is not None  # 11 degrees in 60 s


@given(attempt=st.integers(1, 10_000), base=st.floats(0.01, 10), cap=st.floats(10, 600), r=st.floats(0, 1))
def test_retry_delay_is_bounded_and_never_zero(attempt: int, base: float, cap: float, r: float) -> None:
    delay = retry_delay(attempt, base, cap, lambda: r)
    ceiling = min(cap, base * 2 ** min(attempt - 1, 60))
    assert ceiling / 2 <= delay <= ceiling


def test_retry_delay_doubles_until_the_cap() -> None:
    delays = [retry_delay(n, 0.5, 30.0, lambda: 1.0) for n in range(1, 10)]
    assert delays[:4] == [0.5, 1.0, 2.0, 4.0]
    assert delays[-1] == 30.0
