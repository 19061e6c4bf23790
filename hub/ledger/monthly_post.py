"""Getting the monthly safety report (安全月报表) to the district bureau: on the configured day (site time) the
previous month's report is built and queued once in the monthly outbox, and a sender POSTs it, signed, retrying with
back-off until the bureau answers 2xx.

Store-and-forward as the alarms' outbox does it (`alerts.outbox`'s back-off, `alerts.forwarders`' signature and
error tree), on a table and a worker of its own (`hub.ledger.monthly_outbox`), so the report never takes an alarm's
slot. The queued bytes are what every attempt sends: a retry days later carries the figures as they were queued.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from alerts.forwarders import Delivery, ForwardError, PermanentForwardError, post_signed
from alerts.outbox import MIN_WAIT_S, RetryPolicy, retry_delay
from hub.config import MonthlyDelivery, SiteConfig
from hub.core.clock import Clock, to_iso
from hub.core.periodic import Periodic, TimerDriven
from hub.core.worker import Worker
from hub.ledger.monthly_outbox import DueDelivery, MonthlyOutbox, Outcome

log = logging.getLogger(__name__)

EVENT = "monthly_report"
# How often the scheduler looks at the calendar: the hour it waits for is reached within this.
SCHEDULE_S = 60.0
# The longest the sender sleeps without being woken: an admin's retry waits no longer than this.
POLL_S = 5.0

ReportBuilder = Callable[[date, datetime], dict[str, Any]]


def month_due(site: SiteConfig, now: datetime, day_of_month: int, hour: int) -> date | None:
    """The first day of the previous month when its report is due at `now` (from `day_of_month` at `hour`, site
    time, to the month's end), else None."""
    local = now.astimezone(site.tz())
    if (local.day, local.hour) < (day_of_month, hour):
        return None
    return (local.date().replace(day=1) - timedelta(days=1)).replace(day=1)


def idempotency_key(site_id: str, month: str) -> str:
    return f"{EVENT}:{site_id}:{month}"


def report_body(site: SiteConfig, report: dict[str, Any], queued_at: datetime) -> bytes:
    """The POST's JSON, as exact bytes (the signature covers these bytes): the month's report as
    `GET /api/v1/reports/monthly?format=json` gives it, under `report`."""
    body = {
        "event": EVENT,
        "site": {"id": site.id, "name": site.name, "address": site.address},
        "month": report["month"],
        "queued_at": to_iso(queued_at),
        "report": report,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class MonthlySchedule(TimerDriven):
    """Every `SCHEDULE_S`: once the configured day and hour of a month has come, queue the previous month's report
    (once: the month is the row's unique key, and a month already queued is not built again)."""

    def __init__(
        self,
        outbox: MonthlyOutbox,
        build: ReportBuilder,
        settings: MonthlyDelivery,
        site: SiteConfig,
        clock: Clock,
        *,
        on_queued: Callable[[str], None],
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self._outbox = outbox
        self._build = build
        self._settings = settings
        self._site = site
        self._clock = clock
        self._on_queued = on_queued
        # The first look comes at once: a hub started after the hour queues the month without waiting a minute.
        self._timer = Periodic("monthly-schedule", self.run_once, lambda: SCHEDULE_S, wait_first=False, on_exit=on_exit)

    def run_once(self) -> str | None:
        """One look at the clock's now (tests call it directly); the month queued, if any."""
        now = self._clock.now()
        first = month_due(self._site, now, self._settings.day_of_month, self._settings.hour)
        if first is None:
            return None
        month = f"{first:%Y-%m}"
        if self._outbox.has(month):
            return None
        body = report_body(self._site, self._build(first, now), now)
        if not self._outbox.queue(month, str(self._settings.url), body, now):
            return None  # queued meanwhile by another process on the same file
        log.info("monthly report %s queued for %s", month, self._settings.url)
        self._on_queued(month)
        return month


class MonthlySender:
    """POSTs queued monthly reports one at a time, recording each attempt, until the bureau answers 2xx."""

    def __init__(
        self,
        outbox: MonthlyOutbox,
        settings: MonthlyDelivery,
        site: SiteConfig,
        clock: Clock,
        *,
        on_attempt: Callable[[Outcome], None] | None = None,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self._outbox = outbox
        self._site = site
        self._clock = clock
        self._retry = RetryPolicy(settings.retry_base_s, settings.retry_max_s)
        self._secret = settings.secret
        self._on_attempt = on_attempt
        self._client = httpx.Client(
            timeout=httpx.Timeout(settings.timeout_s),
            follow_redirects=False,  # a redirect would carry the school's report somewhere unconfigured
            headers={"User-Agent": "campus-hub/0.1"},
        )
        self.worker = Worker("monthly-post", self._tick, on_thread_exit=on_exit)

    def start(self) -> None:
        self.worker.start()

    def wake(self) -> None:
        self.worker.wake()

    def stop(self) -> None:
        self.worker.stop()
        self._client.close()

    def _tick(self) -> float:
        for item in self._outbox.due(self._clock.now(), self._retry.max_s):
            if self.worker.stopping:
                break
            self._attempt(item)
        now = self._clock.now()
        next_at = self._outbox.next_retry_at(now)
        if next_at is None:
            return POLL_S
        return min(max((next_at - now).total_seconds(), MIN_WAIT_S), POLL_S)

    def _attempt(self, item: DueDelivery) -> None:
        started = self._clock.now()
        outcome, status, error, receipt, next_at = Outcome.RETRY, None, None, None, None
        try:
            delivery = self._post(item)
            outcome, status, receipt = Outcome.DELIVERED, delivery.http_status, delivery.receipt
        except PermanentForwardError as exc:
            outcome, status, error = Outcome.FAILED, exc.http_status, str(exc)
        except ForwardError as exc:
            status, error = exc.http_status, str(exc)
        if outcome is Outcome.RETRY:
            delay = retry_delay(item.attempts + 1, self._retry.base_s, self._retry.max_s)
            next_at = self._clock.now() + timedelta(seconds=delay)
            log.warning("monthly report %s not delivered (attempt %d): %s", item.month, item.attempts + 1, error)
        elif outcome is Outcome.FAILED:
            log.error("monthly report %s refused by the bureau: %s", item.month, error)
        else:
            log.info("monthly report %s delivered (receipt %s)", item.month, receipt)
        # If this commit fails the row stays pending and is sent again: the bureau may see a month twice, under
        # the same Idempotency-Key, but never loses one.
        self._outbox.record_attempt(
            item,
            started_at=started,
            finished_at=self._clock.now(),
            outcome=outcome,
            http_status=status,
            error=error,
            receipt=receipt,
            next_attempt_at=next_at,
        )
        if self._on_attempt is not None:
            self._on_attempt(outcome)

    def _post(self, item: DueDelivery) -> Delivery:
        key = idempotency_key(self._site.id, item.month)
        return post_signed(self._client, item.url, item.body, key, self._secret)
