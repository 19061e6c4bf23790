"""How the HTTP forwarder classifies answers, through an injected transport.

The fake here is httpx's MockTransport, at the transport boundary, used only to produce exact status codes and
transport errors on demand; delivery to a real HTTP server is covered in test_end_to_end.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest

from alerts.forwarders import (
    AlarmMessage,
    HttpForwarder,
    PermanentForwardError,
    RetryableForwardError,
    sign,
)
from hub.config import HttpEndpoint, SiteConfig

SITE = SiteConfig(id="s1", name="School", address="Road 1")
MESSAGE = AlarmMessage(
    alarm_id="a-1",
    kind="panic",
    priority=1,
    device={"id": "btn-1", "kind": "panic_button", "name": "Gate", "location": {}},
    occurred_at="2026-11-23T00:00:00.000000+00:00",
    raised_at="2026-11-23T00:00:00.001000+00:00",
    sent_at="2026-11-23T00:00:00.002000+00:00",
    attempt=1,
    trigger_count=1,
)


def _forwarder(handler: httpx.MockTransport, secret: str | None = "k3y") -> HttpForwarder:  # noqa: S107
    endpoint = HttpEndpoint.model_validate(
        {"name": "p", "kind": "http", "url": "http://127.0.0.1:9/alarms", "secret": secret}
    )
    return HttpForwarder(endpoint, SITE, transport=handler)


def test_2xx_is_delivery_with_receipt_and_signed_body() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"receipt": "R-42"})

    delivery = _forwarder(httpx.MockTransport(handle)).send(MESSAGE)
    assert (delivery.http_status, delivery.receipt) == (201, "R-42")
    request = seen[0]
    body = request.content
    assert request.headers["Idempotency-Key"] == "a-1"
    assert request.headers["X-Hub-Signature-256"] == "sha256=" + hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    assert sign(body, "k3y") == request.headers["X-Hub-Signature-256"]
    assert json.loads(body)["site"] == {"id": "s1", "name": "School", "address": "Road 1"}


def test_no_secret_means_no_signature_header() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text="ok")

    delivery = _forwarder(httpx.MockTransport(handle), secret=None).send(MESSAGE)
    assert delivery.receipt is None
    assert "X-Hub-Signature-256" not in seen[0].headers


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 425, 429])
def test_server_errors_and_throttling_are_retryable(status: int) -> None:
    forwarder = _forwarder(httpx.MockTransport(lambda r: httpx.Response(status)))
    with pytest.raises(RetryableForwardError) as caught:
        forwarder.send(MESSAGE)
    assert caught.value.http_status == status


@pytest.mark.parametrize("status", [301, 400, 401, 403, 404, 422])
def test_client_errors_and_redirects_are_permanent(status: int) -> None:
    forwarder = _forwarder(httpx.MockTransport(lambda r: httpx.Response(status, headers={"Location": "/x"})))
    with pytest.raises(PermanentForwardError):
        forwarder.send(MESSAGE)


@pytest.mark.parametrize(
    "error", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("bad")]
)
def test_transport_errors_are_retryable_and_chained(error: Exception) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise error

    with pytest.raises(RetryableForwardError) as caught:
        _forwarder(httpx.MockTransport(handle)).send(MESSAGE)
    assert caught.value.__cause__ is error
