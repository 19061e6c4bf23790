"""The first thing every HTTP request meets: a body-size limit per route, enforced before a byte of the body is
read, and a credentials check that turns a request without valid credentials away before its body is read.

Why before parsing: a request body is parsed on the API's event loop, which shares the interpreter with ingest
and forwarding; an unbounded body (100 MB of JSON) holds the interpreter for seconds and delays presses. So a
declared `Content-Length` over the limit is refused at once (413 `body_too_large`), a chunked body is counted as
it streams and cut off at the limit, and a request to an authenticated route that brings neither a session
cookie nor a valid Bearer token gets its 401 without the hub reading its body at all. The full role and CSRF
checks stay in the routes' dependencies (hub.web.auth); this layer only makes refusing cheap. And while an alarm
is on its way (hub.core.priority), a request waits here before anything else is done for it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.web.sessions import SESSION_COOKIE

# Every JSON body the API takes is a short form (a note, a disposition, a window): 64 KiB is generous.
DEFAULT_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class BodyRule:
    """Requests whose path starts with `prefix` may carry at most `limit` bytes of body."""

    prefix: str
    limit: int


# Most specific first. The login form is a token and a form token.
RULES: tuple[BodyRule, ...] = (
    BodyRule("/login", 4 * 1024),
    BodyRule("/logout", 4 * 1024),
    BodyRule("/api/", DEFAULT_LIMIT),
)


# The API's own description needs no credentials (as before the guard).
OPEN_API = frozenset({"/api/docs", "/api/docs/oauth2-redirect", "/api/openapi.json"})
# Paths a signed link may open without credentials; the route refuses any link that does not verify.
SIGNED_LINK_PREFIX = "/api/v1/evidence/"


def body_limit(path: str, rules: Sequence[BodyRule] = RULES) -> int:
    return next((r.limit for r in rules if path.startswith(r.prefix)), DEFAULT_LIMIT)


class _TooLarge(Exception):
    """The streamed body passed its limit."""


class RequestGuard:
    """ASGI middleware: body limits and a cheap credentials check ahead of the application.

    `check_bearer(token, peer, forwarded_for)` answers 0 for a configured token, a positive number of seconds when
    the client must wait before its credentials are looked at again (429 with Retry-After), or -1 when the token is
    unknown (401); the throttle behind it counts and audits the failures.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        check_bearer: Callable[[str, str, str | None], float],
        rules: Sequence[BodyRule] = RULES,
        yield_to_alarms: Callable[[], None] = lambda: None,
    ) -> None:
        self._app = app
        self._check_bearer = check_bearer
        self._yield_to_alarms = yield_to_alarms
        self._rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        # Deliberately blocking, on the event loop: while a press is between its lane and its first delivery attempt
        # (at most a quarter second), the whole loop, and with it the cost of every other connection, waits, and
        # the press's threads have the interpreter. Awaiting instead would let the loop go on accepting and parsing.
        self._yield_to_alarms()
        path: str = scope.get("path", "")
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        limit = body_limit(path, self._rules)
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await _answer(send, 400, "bad_request", "Content-Length is not a number")
                return
            if int(declared) > limit:
                await _answer(send, 413, "body_too_large", f"at most {limit} bytes of body on {path}")
                return
        if path.startswith("/api/") and path not in OPEN_API and not _signed_link(scope, path):
            refusal = self._refusal(headers, _address(scope))
            if refusal is not None:
                await refusal(send)
                return
        state = _Stream(limit)
        try:
            await self._app(scope, state.receive(receive), state.send(send))
        except _TooLarge:
            pass  # raised from the body read; FastAPI may also have turned it into an answer, which was held back
        if state.exceeded and not state.answered:
            await _answer(send, 413, "body_too_large", f"at most {limit} bytes of body on {path}")

    def _refusal(self, headers: dict[str, str], peer: str) -> Callable[[Send], Awaitable[None]] | None:
        """None for a valid Bearer token or a session cookie (the route checks it in full); else the answer."""
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            verdict = self._check_bearer(value.strip(), peer, headers.get("x-forwarded-for"))
            if verdict == 0:
                return None
            if verdict > 0:
                retry = {"retry-after": str(int(verdict) + 1)}
                return lambda send: _answer(send, 429, "too_many_attempts", "wait before trying again", retry)
        elif f"{SESSION_COOKIE}=" in headers.get("cookie", ""):
            return None
        return lambda send: _answer(send, 401, "unauthenticated", "unknown token", {"www-authenticate": "Bearer"})


def _signed_link(scope: Scope, path: str) -> bool:
    """An evidence link the hub signed for a receiving centre: the route checks its signature (hub.web.links)."""
    return path.startswith(SIGNED_LINK_PREFIX) and b"sig=" in scope.get("query_string", b"")


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class _Stream:
    """Counts a request's body as it streams in, and keeps the application's answer from going out once the body
    passed its limit (FastAPI turns the failed read into a 400 of its own; the guard answers 413 instead)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._seen = 0
        self.exceeded = False
        self.answered = False

    def receive(self, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                self._seen += len(message.get("body", b""))
                if self._seen > self._limit:
                    self.exceeded = True
                    raise _TooLarge
            return message

        return wrapped

    def send(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if self.exceeded:
                return
            if message["type"] == "http.response.start":
                self.answered = True
            await send(message)

        return wrapped


async def _answer(send: Send, status: int, code: str, message: str, extra: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    # The body was not read: the connection cannot carry another request after it.
    headers.append((b"connection", b"close"))
    headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (extra or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
