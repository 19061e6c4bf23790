"""Alarm priority: telemetry threads wait while an alarm is on its way, and never longer than a hold's deadline."""

from __future__ import annotations

import threading

from hub.core.priority import AlarmPriority


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_no_hold_lets_telemetry_go_at_once() -> None:
    priority = AlarmPriority()
    assert priority.remaining_s() == 0.0
    priority.yield_to_alarms()  # returns: nothing to wait for


def test_a_hold_keeps_telemetry_waiting_until_it_is_let_go() -> None:
    priority = AlarmPriority(max_hold_s=30.0)
    priority.hold("alarm-1")
    started, went_on = threading.Event(), threading.Event()

    def telemetry() -> None:
        started.set()
        priority.yield_to_alarms()
        went_on.set()

    thread = threading.Thread(target=telemetry, daemon=True)
    thread.start()
    assert started.wait(5)
    assert not went_on.wait(0.2), "telemetry went on while the alarm was still on its way"
    priority.release("alarm-1")
    assert went_on.wait(5), "telemetry stayed waiting after the hold was let go"
    thread.join(5)


def test_every_hold_must_be_let_go_before_telemetry_goes_on() -> None:
    clock = FakeMonotonic()
    priority = AlarmPriority(max_hold_s=1.0, monotonic=clock)
    priority.hold("message")
    priority.hold("alarm-1")
    priority.release("message")
    assert priority.remaining_s() == 1.0
    priority.release("alarm-1", "never-held")
    assert priority.remaining_s() == 0.0


def test_a_forgotten_hold_ends_at_its_deadline() -> None:
    clock = FakeMonotonic()
    priority = AlarmPriority(max_hold_s=0.25, monotonic=clock)
    priority.hold("forgotten")
    clock.now += 0.1
    assert abs(priority.remaining_s() - 0.15) < 1e-9
    clock.now += 0.2
    assert priority.remaining_s() == 0.0
    priority.yield_to_alarms()  # returns at once: the hold has expired


def test_a_hold_taken_again_gets_a_new_deadline() -> None:
    clock = FakeMonotonic()
    priority = AlarmPriority(max_hold_s=0.25, monotonic=clock)
    priority.hold("a")
    clock.now += 0.2
    priority.hold("b")
    clock.now += 0.1  # a has expired, b has not
    assert abs(priority.remaining_s() - 0.15) < 1e-9


def test_listeners_hear_when_the_last_hold_is_let_go() -> None:
    priority = AlarmPriority()
    heard: list[str] = []
    priority.add_listener(lambda: heard.append("open"))
    priority.hold("a")
    priority.hold("b")
    priority.release("a")
    assert heard == []
    priority.release("b")
    assert heard == ["open"]


def test_holds_that_keep_coming_cannot_starve_telemetry() -> None:
    # A smoke detector stuck in a loop on the alarm lane: a fresh hold every few milliseconds, never a gap.
    clock = FakeMonotonic()
    priority = AlarmPriority(max_hold_s=0.25, monotonic=clock)
    waited = went = 0.0
    for step in range(1000):  # 5 s in 5 ms steps
        priority.hold(f"message-{step}")
        if step >= 2:
            priority.release(f"message-{step - 2}")
        if priority.remaining_s() > 0.0:
            waited += 0.005
        else:
            went += 0.005
        clock.now += 0.005
    assert went >= 2.4, f"telemetry went on only {went:.2f} s of 5 s"
    assert waited >= 2.4, "alarm-lane messages no longer held telemetry back at all"


def test_telemetry_never_waits_longer_than_one_hold_in_a_row() -> None:
    clock = FakeMonotonic()
    priority = AlarmPriority(max_hold_s=0.25, monotonic=clock)
    priority.hold("a")
    assert priority.remaining_s() == 0.25  # telemetry starts waiting now
    clock.now += 0.2
    priority.hold("b")  # a fresh hold would last till 0.45 ...
    assert abs(priority.remaining_s() - 0.05) < 1e-9  # ... but telemetry's wait ends at 0.25
    clock.now += 0.05
    assert priority.remaining_s() == 0.0  # telemetry's turn
    priority.hold("c")
    clock.now += 0.1
    assert priority.remaining_s() == 0.0  # still its turn: holds are ignored till 0.5
    clock.now += 0.15
    priority.hold("d")
    assert priority.remaining_s() == 0.25  # the turn is over: a hold counts again


def test_a_wait_that_ended_does_not_count_towards_the_next() -> None:
    clock = FakeMonotonic()
    priority = AlarmPriority(max_hold_s=0.25, monotonic=clock)
    priority.hold("press-1")
    assert priority.remaining_s() == 0.25
    clock.now += 0.01
    priority.release("press-1")
    clock.now += 10.0
    priority.hold("press-2")
    assert priority.remaining_s() == 0.25, "the second press did not hold telemetry back"
