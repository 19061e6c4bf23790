"""Forwarders carry one alarm to one receiving endpoint and say whether it arrived, must be retried, or never will.

Failures form a small tree, as httpx's do: `RetryableForwardError` (timeouts, refused connections, 5xx, 408, 429)
and `PermanentForwardError` (other 4xx). The transport is injected so tests can swap it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

from alerts.troubles import TroubleMessage, trouble_body
from hub.config import HttpEndpoint, SiteConfig
from hub.core.clock import to_iso
from hub.core.redact import redact_text

SIGNATURE_HEADER = "X-Hub-Signature-256"


class ForwardError(Exception):
    """An alarm did not reach an endpoint."""

    def __init__(self, message: str, http_status: int | None = None) -> None:
        # The message reaches the API, the log and the feed: no URL credentials in it, whatever raised it.
        super().__init__(redact_text(message))
        self.http_status = http_status


class RetryableForwardError(ForwardError):
    """It may arrive if sent again later."""


class PermanentForwardError(ForwardError):
    """The endpoint refused it; sending the same again will not help."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """The endpoint's acknowledgement."""

    http_status: int
    receipt: str | None


@dataclass(frozen=True, slots=True)
class AlarmMessage:
    """Everything a forwarder sends for one attempt."""

    alarm_id: str
    kind: str
    priority: int
    device: dict[str, Any]
    occurred_at: str
    raised_at: str
    sent_at: str
    attempt: int
    trigger_count: int
    event: str = "alarm"  # "alarm"; "restore" once a person closed it; "test" for a press on a device on test
    closed_at: str | None = None
    disposition: str | None = None
    evidence: tuple[dict[str, Any], ...] | None = None  # camera snapshots stored by the time of this attempt

    @property
    def idempotency_key(self) -> str:
        """Unique per alarm and event: the same alarm's restore is a different message from its alarm."""
        return self.alarm_id if self.event == "alarm" else f"{self.alarm_id}:{self.event}"


class Forwarder(Protocol):
    """One endpoint's sender."""

    name: str

    def send(self, message: AlarmMessage) -> Delivery:
        """Deliver or raise ForwardError."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def alarm_body(message: AlarmMessage, site: SiteConfig) -> bytes:
    """The HTTP contract's JSON body, as exact bytes (the signature covers these bytes)."""
    body = {
        "alarm_id": message.alarm_id,
        "kind": message.kind,
        "priority": message.priority,
        "site": {"id": site.id, "name": site.name, "address": site.address},
        "device": message.device,
        "occurred_at": message.occurred_at,
        "raised_at": message.raised_at,
        "sent_at": message.sent_at,
        "attempt": message.attempt,
        "trigger_count": message.trigger_count,
        "event": message.event,
    }
    if message.event == "test":
        # A receiver that reads only `kind` must still not take this for an alarm: the flag says it twice.
        body["test"] = True
    if message.event == "restore":
        body["closed_at"] = message.closed_at
        body["disposition"] = message.disposition
    if message.evidence:
        body["evidence"] = list(message.evidence)
    reading = message.device.get("reading")
    if reading is not None:
        # The reading that crossed its level (electrical fire, gas, CO), where a receiver looks first; the device
        # snapshot keeps it too.
        body["reading"] = reading
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(body: bytes, secret: str) -> str:
    """`sha256=<hex HMAC-SHA256 of body>`, the value of X-Hub-Signature-256."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class HttpForwarder:
    """POSTs signed alarm JSON to a 110-style HTTP endpoint over one long-lived connection pool."""

    def __init__(
        self,
        endpoint: HttpEndpoint,
        site: SiteConfig,
        transport: httpx.BaseTransport | None = None,
        evidence_of: Callable[[str], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.name = endpoint.name
        self._evidence_of = evidence_of
        self._url = str(endpoint.url)
        self._health_url = None if endpoint.health_url is None else str(endpoint.health_url)
        self._secret = endpoint.secret
        self._site = site
        self._client = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(endpoint.timeout_s),
            follow_redirects=False,
            headers={"User-Agent": "campus-hub/0.1"},
        )

    def send(self, message: AlarmMessage) -> Delivery:
        if self._evidence_of is not None and message.event == "alarm" and message.evidence is None:
            # Whatever evidence is stored by now; an alarm never waits for snapshots still being grabbed.
            message = replace(message, evidence=tuple(self._evidence_of(message.alarm_id)))
        return self._post(alarm_body(message, self._site), message.idempotency_key)

    def send_trouble(self, message: TroubleMessage) -> Delivery:
        """A device trouble or its restore, as the HTTP contract's trouble body, signed like an alarm."""
        return self._post(trouble_body(message, self._site), message.idempotency_key)

    def link_test(self) -> float:
        """Prove the path between alarms: a signed `event: link_test` POST (or a GET of `health_url`); the round
        trip in seconds, or RetryableForwardError (any answer but 2xx is a failed test)."""
        started = time.monotonic()
        try:
            if self._health_url is not None:
                self._get_health(self._health_url)
            else:
                sent_at = to_iso(datetime.now(UTC))
                body = json.dumps(
                    {
                        "event": "link_test",
                        "site": {"id": self._site.id, "name": self._site.name, "address": self._site.address},
                        "sent_at": sent_at,
                    },
                    ensure_ascii=False,
                    separators=(",", ":"),
                ).encode("utf-8")
                self._post(body, f"link_test:{sent_at}")
        except PermanentForwardError as exc:
            raise RetryableForwardError(f"link test refused: {exc}", exc.http_status) from exc
        return time.monotonic() - started

    def _get_health(self, url: str) -> None:
        with _transport_retryable():
            response = self._client.get(url)
        if not 200 <= response.status_code < 300:
            raise RetryableForwardError(f"HTTP {response.status_code}: {response.text[:200]}", response.status_code)

    def _post(self, body: bytes, idempotency_key: str) -> Delivery:
        return post_signed(self._client, self._url, body, idempotency_key, self._secret)

    def close(self) -> None:
        self._client.close()


@contextmanager
def _transport_retryable() -> Iterator[None]:
    """Timeouts and connection failures are worth another try: raised as RetryableForwardError, with the cause."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise RetryableForwardError(f"timed out: {type(exc).__name__}") from exc
    except httpx.TransportError as exc:
        raise RetryableForwardError(f"connection failed: {type(exc).__name__}: {exc}") from exc


def post_signed(
    client: httpx.Client, url: str, body: bytes, idempotency_key: str, secret: SecretStr | None
) -> Delivery:
    """One POST of exact bytes, signed when there is a secret: a Delivery on a 2xx, else RetryableForwardError
    (timeouts, connection failures, 5xx, 408/425/429) or PermanentForwardError (any other answer)."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
    if secret is not None:
        headers[SIGNATURE_HEADER] = sign(body, secret.get_secret_value())
    with _transport_retryable():
        response = client.post(url, content=body, headers=headers)
    status = response.status_code
    if 200 <= status < 300:
        return Delivery(status, _receipt(response))
    detail = f"HTTP {status}: {response.text[:200]}"
    if status >= 500 or status in (408, 425, 429):
        raise RetryableForwardError(detail, status)
    # 3xx is treated as permanent too: following a redirect would carry a delivery somewhere unconfigured.
    raise PermanentForwardError(detail, status)


def _receipt(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    receipt = body.get("receipt") if isinstance(body, dict) else None
    return None if receipt is None else str(receipt)[:200]
