"""Failover in `first` mode: an alarm goes to the first endpoint; the next one is brought in when the paths before
it have failed often enough, or the alarm has waited long enough, and the rest are stood down on the first ACK.

`legs_to_activate` is the pure decision; `Failover` is the thin worker that applies it to the store.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from alerts.model import DeliveryState
from hub.core.clock import Clock
from hub.core.worker import Worker
from hub.store import Leg, Store

log = logging.getLogger(__name__)

# How long failover's ticks may keep failing (a store it cannot read) before it reports itself failing: a backup
# path it cannot bring in is an alarm that may never reach a centre.
FAILING_AFTER_S = 3.0


@dataclass(frozen=True, slots=True)
class FailoverPolicy:
    after_failures: int
    after_s: float


def legs_to_activate(legs: Sequence[Leg], raised_at: datetime, now: datetime, policy: FailoverPolicy) -> list[int]:
    """Outbox ids of standby legs to bring in now.

    Leg k (0-based position) comes in when every live leg before it has failed `after_failures` times or for
    good, or once the alarm has waited `k * after_s` seconds undelivered. Nothing comes in once any leg
    delivered.
    """
    ordered = sorted(legs, key=lambda leg: leg.position)
    if any(leg.state == DeliveryState.DELIVERED for leg in ordered):
        return []
    waited = (now - raised_at).total_seconds()
    activate: list[int] = []
    live_exhausted = True
    for leg in ordered:
        if leg.state != DeliveryState.STANDBY:
            exhausted = leg.state == DeliveryState.FAILED or leg.attempts >= policy.after_failures
            live_exhausted = live_exhausted and exhausted
            continue
        if live_exhausted or waited >= leg.position * policy.after_s:
            activate.append(leg.outbox_id)
            # A leg just brought in has not had its chance yet: the next waits for it (or for the time rule).
            live_exhausted = False
            continue
        break
    return activate


class Failover:
    """Re-evaluates alarms that still have standby legs, when an attempt fails and on a short timer."""

    def __init__(self, store: Store, clock: Clock, policy: FailoverPolicy, wake_endpoints: Callable[[], None]) -> None:
        self._store = store
        self._clock = clock
        self._policy = policy
        self._wake_endpoints = wake_endpoints
        # The time rule needs a tick; a quarter of a second keeps failover well inside the 2 s budget. A nudge
        # (an attempt failed) evaluates at once; a failed evaluation is logged and tried again at the next tick.
        tick = min(0.25, policy.after_s / 4)
        self.worker = Worker(
            "failover",
            self._tick,
            interval=tick,
            on_thread_exit=store.close_thread_connection,
            failing_after=max(3, math.ceil(FAILING_AFTER_S / tick)),
        )

    def start(self) -> None:
        self.worker.start()

    def nudge(self) -> None:
        self.worker.wake()

    def stop(self) -> None:
        self.worker.stop(5)

    def run_once(self) -> int:
        """Bring in what is due; returns how many legs were activated."""
        now = self._clock.now()
        due: list[int] = []
        for raised_at, legs in self._store.standby_alarms():
            due += legs_to_activate(legs, raised_at, now, self._policy)
        if due:
            self._store.activate_legs(due)
            log.warning("failover: bringing in %d standby path(s)", len(due))
            self._wake_endpoints()
        return len(due)

    def _tick(self) -> None:
        self.run_once()
