"""The optional escalation webhook: each SLA escalation POSTed as JSON to one URL, retried on a background thread.

The watcher that escalates never waits on the network: `send` only queues. The body is the same object as the MQTT
escalation payload; with a secret it carries `X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body>`, as the 110
contract does, and `Idempotency-Key` lets the receiver drop a repeat. The escalation is recorded on the fault in
any case; the webhook is one more way to tell a person.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import queue
from typing import Any

import httpx

from hub.core.redact import redact_text
from hub.core.worker import Worker
from hub.health.watch import escalation_payload

log = logging.getLogger(__name__)

# Escalations are a handful a day; this many waiting means the endpoint has been down for long, and the fault
# record, the feed and MQTT still carry each one.
QUEUE_LIMIT = 1000
ATTEMPTS = 6
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 60.0


def signature(body: bytes, secret: str) -> str:
    """`sha256=<hex>` of the exact body bytes, the header value a receiver checks."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def retry_delay(attempt: int, base_s: float = BACKOFF_BASE_S, max_s: float = BACKOFF_MAX_S) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): doubling, capped."""
    return min(max_s, base_s * 2.0 ** max(0, attempt - 1))


def retryable(status: int) -> bool:
    return status >= 500 or status in (408, 425, 429)


def idempotency_key(event: dict[str, Any]) -> str:
    return f"escalation:{event.get('type', '')}:{event.get('fault_id', '')}:{event.get('at', '')}"


class EscalationWebhook:
    """Posts escalations in the order they came, each retried up to `attempts` times with capped backoff."""

    def __init__(
        self,
        url: str,
        secret: str | None,
        timeout_s: float,
        *,
        attempts: int = ATTEMPTS,
        backoff_base_s: float = BACKOFF_BASE_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self._secret = secret
        self._attempts = max(1, attempts)
        self._base = backoff_base_s
        self._client = httpx.Client(timeout=timeout_s, transport=transport, follow_redirects=False)
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(QUEUE_LIMIT)
        # A tick waits briefly for one escalation and posts it with its retries: up to `attempts` timeouts and the
        # capped back-off between them.
        self.worker = Worker(
            "escalation-webhook",
            self._post_next,
            stuck_after_s=60.0 + self._attempts * (timeout_s + BACKOFF_MAX_S),
        )
        self.delivered = 0
        self.failed = 0

    def send(self, event: dict[str, Any]) -> bool:
        """Queue one escalation; never blocks. False when the queue is full (logged; the fault keeps the record)."""
        try:
            self._queue.put_nowait(dict(event))
        except queue.Full:
            log.error("escalation webhook queue full; fault %s escalation not posted", event.get("fault_id"))
            return False
        return True

    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.worker.stop(timeout)
        self._client.close()

    def _post_next(self) -> float:
        try:
            event = self._queue.get(timeout=0.5)
        except queue.Empty:
            return 0.0
        try:
            delivered = self.deliver(event)
        except Exception:
            # Whatever went wrong with this one, the worker must live on for the next escalation.
            log.exception("escalation webhook failed on fault %s", event.get("fault_id"))
            delivered = False
        if delivered:
            self.delivered += 1
        else:
            self.failed += 1
        return 0.0

    def deliver(self, event: dict[str, Any]) -> bool:
        """POST one escalation, retrying timeouts, refused connections, 5xx, 408, 425 and 429; True on a 2xx."""
        body = escalation_payload(event).encode("utf-8")
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key(event)}
        if self._secret:
            headers["X-Hub-Signature-256"] = signature(body, self._secret)
        for attempt in range(1, self._attempts + 1):
            try:
                response = self._client.post(self.url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                error = redact_text(f"{type(exc).__name__}: {exc}")
                again = True
            else:
                if 200 <= response.status_code < 300:
                    return True
                error = f"HTTP {response.status_code}"
                again = retryable(response.status_code)
            if not again or attempt == self._attempts:
                log.error("escalation webhook gave up on fault %s: %s", event.get("fault_id"), error)
                return False
            log.warning("escalation webhook attempt %d failed (%s); retrying", attempt, error)
            if self.worker.wait_stop(retry_delay(attempt, self._base)):
                return False
        return False
