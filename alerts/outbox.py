"""The outbox worker: takes pending alarms of one endpoint from the store, sends them, and marks them done only on ACK.

Store-and-forward as ThingsBoard gateway's EventStorage does it: the durable outbox row is the truth, the worker
keeps only what is in flight and when each waiting row may be tried again. A retryable failure is retried with
capped exponential backoff and jitter for as long as the alarm is not closed; a permanent one is shown on the alarm.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.forwarders import AlarmMessage, Forwarder, ForwardError, PermanentForwardError
from alerts.model import DeliveryState
from hub.clock import Clock, from_iso, to_iso
from hub.store import OutboxItem, Store

log = logging.getLogger(__name__)


def retry_delay(attempt: int, base_s: float, max_s: float, rand: Callable[[], float] = random.random) -> float:
    """Delay before attempt `attempt + 1`: doubling from `base_s`, capped at `max_s`, the upper half jittered.

    Half the delay is fixed so a flapping receiver is not hammered; the jittered half spreads a burst of
    alarms that failed together.
    """
    ceiling = min(max_s, base_s * 2.0 ** min(max(attempt - 1, 0), 60))
    return ceiling / 2 + rand() * ceiling / 2


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
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._inflight: set[int] = set()
        self._not_before: dict[int, float] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix=f"send-{self.endpoint}")
        self._thread = threading.Thread(target=self._run, name=f"outbox-{self.endpoint}", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """New work may be due (a fresh alarm was committed)."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._forwarder.close()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                # Clear before looking, not after waking: a wake-up set while dispatching must not be lost.
                self._wake.clear()
                wait_s = self._dispatch()
                self._wake.wait(wait_s)
        finally:
            self._store.close_thread_connection()

    def _dispatch(self) -> float:
        """Submit what is due; return how long to sleep if nothing wakes the worker sooner."""
        now = self._clock.monotonic()
        with self._lock:
            free = self._concurrency - len(self._inflight)
            waiting = {i: t for i, t in self._not_before.items() if t > now}
            exclude = [*self._inflight, *waiting]
        next_due = min(waiting.values(), default=now + 1.0) - now
        if free <= 0:
            return max(min(next_due, 1.0), 0.01)
        try:
            items = self._store.due_outbox(self.endpoint, exclude, free)
        except Exception:
            log.exception("outbox %s: reading the store failed; trying again", self.endpoint)
            return 1.0
        for item in items:
            with self._lock:
                self._inflight.add(item.id)
                self._not_before.pop(item.id, None)
            if self._pool is None:
                raise RuntimeError("OutboxWorker.start() was not called")
            self._pool.submit(self._deliver, item)
        # A poll every second also picks up rows whose alarm was written by another process or before a restart.
        return max(min(next_due, 1.0), 0.01)

    def _deliver(self, item: OutboxItem) -> None:
        started = self._clock.now()
        started_mono = self._clock.monotonic()
        message = AlarmMessage(
            alarm_id=item.alarm_id,
            kind=str(item.alarm["kind"]),
            priority=item.priority,
            device=item.alarm["device"],
            occurred_at=str(item.alarm["occurred_at"]),
            raised_at=str(item.alarm["raised_at"]),
            sent_at=to_iso(started),
            attempt=item.attempts + 1,
            trigger_count=int(item.alarm["trigger_count"]),
            event=item.event,
            closed_at=item.alarm["closed_at"],
            disposition=item.alarm["disposition"],
        )
        outcome = DeliveryState.PENDING
        status: int | None = None
        error: str | None = None
        receipt: str | None = None
        next_at: datetime | None = None
        delay = 0.0
        try:
            delivery = self._forwarder.send(message)
            outcome, status, receipt = DeliveryState.DELIVERED, delivery.http_status, delivery.receipt
        except PermanentForwardError as exc:
            outcome, status, error = DeliveryState.FAILED, exc.http_status, str(exc)
        except ForwardError as exc:
            status, error = exc.http_status, str(exc)
        except Exception as exc:
            # A bug in a forwarder must not lose the alarm: log it and retry like a transport failure.
            log.exception("outbox %s: forwarder crashed on alarm %s", self.endpoint, item.alarm_id)
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
        while not self._stop.is_set():
            try:
                self._store.record_attempt(
                    item,
                    started_at=started,
                    outcome=outcome,
                    http_status=status,
                    error=error,
                    receipt=receipt,
                    next_attempt_at=next_at,
                    latency_ms=rtt_ms if outcome is DeliveryState.DELIVERED else None,
                    stand_down_others=self._stand_down_others,
                )
                break
            except Exception:
                # The row stays pending in the store; it will be sent again, never forgotten.
                log.exception("outbox %s: could not record attempt on alarm %s", self.endpoint, item.alarm_id)
                self._stop.wait(0.5)
        with self._lock:
            self._inflight.discard(item.id)
            if outcome is DeliveryState.PENDING:
                self._not_before[item.id] = self._clock.monotonic() + delay
            elif outcome is DeliveryState.DELIVERED and self._not_before:
                # The path works again: whatever waits on backoff goes now instead of up to retry_max_s later.
                self._not_before.clear()
        if outcome is DeliveryState.DELIVERED:
            log.info("alarm %s delivered to %s (receipt %s)", item.alarm_id, self.endpoint, receipt)
        elif outcome is DeliveryState.FAILED:
            log.error("alarm %s refused by %s: %s", item.alarm_id, self.endpoint, error)
        else:
            log.warning(
                "alarm %s not delivered to %s (attempt %d): %s; retry in %.1f s",
                item.alarm_id,
                self.endpoint,
                item.attempts + 1,
                error,
                delay,
            )
        if self._observer is not None:
            raised = from_iso(str(item.alarm["raised_at"]))
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
        self._wake.set()
