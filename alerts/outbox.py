"""The outbox worker: takes pending alarms (and device troubles) of one endpoint from the store, sends them, and marks
them done only on ACK.

Store-and-forward as ThingsBoard gateway's EventStorage does it: the durable outbox row is the truth, with its retry
state (`attempts`, `next_attempt_at`), so a restart keeps the back-off; the worker keeps only what is in flight. A
retryable failure is retried with capped exponential backoff and jitter for as long as the alarm is not closed; a
permanent one is shown on the alarm. The worker sleeps until the earliest back-off ends (or it is woken), and a
delivery makes everything waiting on the endpoint due at once. Troubles go on slots of their own, picked after
alarms, so a burst of them never holds an alarm back. A store that cannot be read is counted and, after
`FAILING_AFTER` reads in a row, shows as the worker `failing` (503 on /healthz) until a read succeeds.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

from alerts.forwarders import AlarmMessage, Delivery, Forwarder, ForwardError, PermanentForwardError
from alerts.model import DeliveryState
from alerts.troubles import TroubleMessage
from hub.core.clock import Clock, from_iso, to_iso
from hub.core.worker import Worker
from hub.store import OutboxItem, Store

log = logging.getLogger(__name__)

# The longest the worker sleeps without being woken: rows written by another process, and a missed wake-up, wait no
# longer than this.
POLL_S = 1.0
# The shortest sleep, so a back-off ending a few microseconds from now is not a busy loop.
MIN_WAIT_S = 0.01
# Store reads failing in a row before the worker reports itself failing: about this many seconds of an outbox that
# cannot see its alarms (the worker base tries again every `ERROR_RETRY_S`).
FAILING_AFTER = 3


class OutboxReadError(Exception):
    """The outbox could not be read from the store. Retryable: the next tick reads again."""


def retry_delay(attempt: int, base_s: float, max_s: float, rand: Callable[[], float] = random.random) -> float:
    """Delay before attempt `attempt + 1`: doubling from `base_s`, capped at `max_s`, the upper half jittered.

    Half the delay is fixed so a flapping receiver is not hammered; the jittered half spreads a burst of
    alarms that failed together.
    """
    ceiling = min(max_s, base_s * 2.0 ** min(max(attempt - 1, 0), 60))
    return ceiling / 2 + rand() * ceiling / 2


def next_wake_s(next_retry_at: datetime | None, now: datetime) -> float:
    """How long the worker sleeps unless woken: until the earliest back-off ends, never longer than `POLL_S`."""
    if next_retry_at is None:
        return POLL_S
    return min(max((next_retry_at - now).total_seconds(), MIN_WAIT_S), POLL_S)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_s: float
    max_s: float


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one attempt came to, for path health, failover and metrics."""

    endpoint: str
    alarm_id: str
    outcome: DeliveryState
    rtt_s: float
    since_raised_s: float
    error: str | None
    event: str = "alarm"


AttemptObserver = Callable[[AttemptResult], None]


@runtime_checkable
class TroubleSender(Protocol):
    """A forwarder that also carries device troubles (HTTP and DC-09 both do)."""

    def send_trouble(self, message: TroubleMessage) -> Delivery: ...


def trouble_message(item: OutboxItem, sent_at: str) -> TroubleMessage:
    """The message one attempt at a trouble row sends."""
    trouble = item.trouble
    if trouble is None:
        raise ValueError(f"outbox row {item.id} carries no trouble")
    return TroubleMessage(
        fault_id=int(item.fault_id or 0),
        occurrence=trouble.occurrence,
        kind=trouble.kind,
        subject=trouble.subject,
        device=trouble.device,
        summary=trouble.summary,
        opened_at=trouble.opened_at,
        occurred_at=trouble.occurred_at,
        sent_at=sent_at,
        attempt=item.attempts + 1,
        event=item.event,
        recovered_at=trouble.recovered_at,
    )


def alarm_message(item: OutboxItem, sent_at: str) -> AlarmMessage:
    """The message one attempt at an alarm row (alarm or restore) sends."""
    alarm = item.alarm
    if alarm is None:
        raise ValueError(f"outbox row {item.id} carries no alarm")
    return AlarmMessage(
        alarm_id=item.alarm_id,
        kind=alarm.kind,
        priority=item.priority,
        device=alarm.device,
        occurred_at=alarm.occurred_at,
        raised_at=alarm.raised_at,
        sent_at=sent_at,
        attempt=item.attempts + 1,
        trigger_count=alarm.trigger_count,
        event=item.event,
        closed_at=alarm.closed_at,
        disposition=alarm.disposition,
    )


class OutboxWorker:
    """Delivers one endpoint's outbox with up to `concurrency` alarms in flight."""

    def __init__(
        self,
        store: Store,
        forwarder: Forwarder,
        clock: Clock,
        *,
        concurrency: int,
        retry: RetryPolicy,
        observer: AttemptObserver | None = None,
        stand_down_others: bool = False,
        troubles: bool = False,
        trouble_slots: int = 1,
        on_store_error: Callable[[], None] | None = None,
    ) -> None:
        self.endpoint = forwarder.name
        self.forwarder = forwarder
        self._store = store
        self._forwarder = forwarder
        self._clock = clock
        self._concurrency = concurrency
        self._retry = retry
        self._observer = observer
        self._stand_down_others = stand_down_others
        # Troubles only when the endpoint takes them and the forwarder can carry them.
        self._troubles = troubles and isinstance(forwarder, TroubleSender)
        self._trouble_slots = trouble_slots if self._troubles else 0
        self._lock = threading.Lock()
        self._on_store_error = on_store_error
        self._inflight: set[int] = set()
        self._trouble_inflight: set[int] = set()
        self._pool: ThreadPoolExecutor | None = None
        self.worker = Worker(
            f"outbox-{self.endpoint}",
            self._dispatch,
            on_thread_exit=store.close_thread_connection,
            failing_after=FAILING_AFTER,
        )

    def start(self) -> None:
        # Trouble slots come on top of the alarm slots: a trouble in flight never takes an alarm's place.
        workers = self._concurrency + self._trouble_slots
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"send-{self.endpoint}")
        self.worker.start()

    def wake(self) -> None:
        """New work may be due (a fresh alarm was committed)."""
        self.worker.wake()

    def stop(self, timeout: float = 5.0) -> None:
        # The sends in flight finish (the pool is drained); their attempts are recorded unless stopping came first.
        self.worker.stop(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._forwarder.close()

    def _dispatch(self) -> float:
        """Submit what is due; return how long to sleep if nothing wakes the worker sooner.

        A failed read raises `OutboxReadError` (counted here): the worker base logs it, reads again after
        `ERROR_RETRY_S`, and reports the worker failing after `FAILING_AFTER` in a row.
        """
        with self._lock:
            free = self._concurrency - len(self._inflight)
            free_troubles = self._trouble_slots - len(self._trouble_inflight)
            exclude = list(self._inflight)
            exclude_troubles = list(self._trouble_inflight)
        longest = self._retry.max_s
        try:
            # Read before what is due: a row whose back-off ends between the reads is then counted by this one (and
            # the sleep is short) instead of by neither (and the sleep a whole poll).
            next_retry_at = self._store.next_retry_at(self.endpoint, max_backoff_s=longest)
            # Alarms first, always: they are read and submitted before troubles are even looked at.
            if free > 0:
                alarms = self._store.due_outbox(self.endpoint, exclude, free, max_backoff_s=longest)
                self._submit(alarms, self._inflight)
            if free_troubles > 0:
                due = self._store.due_troubles(self.endpoint, exclude_troubles, free_troubles, max_backoff_s=longest)
                self._submit(due, self._trouble_inflight)
        except sqlite3.Error as exc:
            if self._on_store_error is not None:
                self._on_store_error()
            raise OutboxReadError(f"outbox {self.endpoint}: reading the store failed: {exc}") from exc
        return next_wake_s(next_retry_at, self._clock.now())

    def _submit(self, items: list[OutboxItem], inflight: set[int]) -> None:
        for item in items:
            with self._lock:
                inflight.add(item.id)
            if self._pool is None:
                raise RuntimeError("OutboxWorker.start() was not called")
            self._pool.submit(self._deliver, item)

    def _deliver(self, item: OutboxItem) -> None:
        started = self._clock.now()
        started_mono = self._clock.monotonic()
        if item.fault_id is not None:
            self._attempt(item, started, started_mono, trouble_message(item, to_iso(started)))
            return
        self._attempt(item, started, started_mono, alarm_message(item, to_iso(started)))

    def _attempt(
        self, item: OutboxItem, started: datetime, started_mono: float, message: AlarmMessage | TroubleMessage
    ) -> None:
        outcome = DeliveryState.PENDING
        status: int | None = None
        error: str | None = None
        receipt: str | None = None
        next_at: datetime | None = None
        delay = 0.0
        try:
            if isinstance(message, TroubleMessage):
                if not isinstance(self._forwarder, TroubleSender):
                    raise PermanentForwardError(f"{self.endpoint} cannot carry troubles")
                delivery = self._forwarder.send_trouble(message)
            else:
                delivery = self._forwarder.send(message)
            outcome, status, receipt = DeliveryState.DELIVERED, delivery.http_status, delivery.receipt
        except PermanentForwardError as exc:
            outcome, status, error = DeliveryState.FAILED, exc.http_status, str(exc)
        except ForwardError as exc:
            status, error = exc.http_status, str(exc)
        except Exception as exc:
            # A bug in a forwarder must not lose the alarm: log it and retry like a transport failure.
            log.exception("outbox %s: forwarder crashed on %s", self.endpoint, item.alarm_id)
            error = f"internal error: {type(exc).__name__}"
        rtt_ms = (self._clock.monotonic() - started_mono) * 1000.0
        if outcome is DeliveryState.PENDING:
            delay = retry_delay(item.attempts + 1, self._retry.base_s, self._retry.max_s)
            next_at = self._clock.now() + timedelta(seconds=delay)
        self._save(item, started, outcome, status, error, receipt, next_at, rtt_ms, delay)

    def _save(
        self,
        item: OutboxItem,
        started: datetime,
        outcome: DeliveryState,
        status: int | None,
        error: str | None,
        receipt: str | None,
        next_at: datetime | None,
        rtt_ms: float,
        delay: float,
    ) -> None:
        restored = False
        while not self.worker.stopping:
            try:
                restored = self._store.record_attempt(
                    item,
                    started_at=started,
                    outcome=outcome,
                    http_status=status,
                    error=error,
                    receipt=receipt,
                    next_attempt_at=next_at,
                    latency_ms=rtt_ms if outcome is DeliveryState.DELIVERED else None,
                    stand_down_others=self._stand_down_others and item.fault_id is None,
                )
                break
            except Exception:
                # The row stays pending in the store; it will be sent again, never forgotten.
                log.exception("outbox %s: could not record attempt on alarm %s", self.endpoint, item.alarm_id)
                self.worker.wait_stop(0.5)
        # Only now, with the attempt (and its retry time, or the rows a delivery made due) committed, is the row free
        # to be read again.
        with self._lock:
            self._inflight.discard(item.id)
            self._trouble_inflight.discard(item.id)
        what = item.event  # alarm, restore, trouble or trouble_restore
        if outcome is DeliveryState.DELIVERED:
            log.info("%s %s delivered to %s (receipt %s)", what, item.alarm_id, self.endpoint, receipt)
            if restored:
                log.warning(
                    "alarm %s reached %s after it was closed: its restore follows", item.alarm_id, self.endpoint
                )
        elif outcome is DeliveryState.FAILED:
            log.error("%s %s refused by %s: %s", what, item.alarm_id, self.endpoint, error)
        else:
            log.warning(
                "%s %s not delivered to %s (attempt %d): %s; retry in %.1f s",
                what,
                item.alarm_id,
                self.endpoint,
                item.attempts + 1,
                error,
                delay,
            )
        if self._observer is not None:
            raised = from_iso(item.began_at)
            result = AttemptResult(
                self.endpoint,
                item.alarm_id,
                outcome,
                rtt_ms / 1000.0,
                (self._clock.now() - raised).total_seconds(),
                error,
                item.event,
            )
            try:
                self._observer(result)
            except Exception:
                log.exception("outbox %s: attempt observer failed", self.endpoint)
        self.worker.wake()
