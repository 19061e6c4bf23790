"""Authentication and role checks for the API, as FastAPI dependencies: a Bearer token, or a console session cookie
(which must also bring its CSRF token on every state-changing request)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from hub.config import ApiToken, Role
from hub.people import PERSON_PREFIX
from hub.people.store import PeopleStore, Person
from hub.store import Actor
from hub.web.errors import ApiError
from hub.web.sessions import CSRF_FIELD, CSRF_HEADER, SAFE_METHODS, SESSION_COOKIE, Session, SessionStore, csrf_matches


class TokenBook:
    """The configured tokens; lookups compare in constant time."""

    def __init__(self, tokens: Sequence[ApiToken]) -> None:
        self._tokens = [(t.token.get_secret_value().encode("utf-8"), t) for t in tokens]

    def lookup(self, presented: str) -> ApiToken | None:
        raw = presented.encode("utf-8")
        found: ApiToken | None = None
        for secret, token in self._tokens:
            # Compare against every token so timing says nothing about which one matched.
            if hmac.compare_digest(secret, raw):
                found = token
        return found

    def by_name(self, name: str) -> ApiToken | None:
        return next((t for _, t in self._tokens if t.name == name), None)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def require(*roles: Role) -> Callable[[Request], Awaitable[Actor]]:
    """A dependency that returns the acting person, or answers 401 (no or bad token or session) / 403 (wrong role,
    or a session's state-changing request without its CSRF token: `csrf_failed`)."""
    allowed = frozenset(roles) | {Role.ADMIN}

    async def dependency(request: Request) -> Actor:
        book: TokenBook = request.app.state.tokens
        presented = bearer_token(request)
        token = await session_token(request) if presented is None else book.lookup(presented)
        if token is None:
            raise ApiError(401, "unauthenticated", "unknown token")
        if token.role not in allowed:
            raise ApiError(403, "forbidden", f"role {token.role} may not do this")
        return Actor(token.name, token.role.value)

    return dependency


async def session_token(request: Request) -> ApiToken | Person:
    """The token or person behind the request's session cookie, CSRF-checked for unsafe methods; 401/403 otherwise."""
    sessions: SessionStore | None = getattr(request.app.state, "sessions", None)
    cookie = request.cookies.get(SESSION_COOKIE)
    if sessions is None or not cookie:
        raise ApiError(401, "unauthenticated", "send Authorization: Bearer <token>")
    session: Session | None = await run_in_threadpool(sessions.lookup, cookie)
    book: TokenBook = request.app.state.tokens
    token: ApiToken | Person | None = book.by_name(session.token_name) if session else None
    people: PeopleStore | None = getattr(request.app.state, "people", None)
    if session is not None and session.token_name.startswith(PERSON_PREFIX) and people is not None:
        # A person's session lives while the account is enabled (token names cannot hold the prefix's colon).
        token = await run_in_threadpool(people.active, session.token_name.removeprefix(PERSON_PREFIX))
    # A token removed from the config, or given another role, ends the sessions opened with it; so does a personal
    # account disabled or given another role.
    if session is None or token is None or token.role.value != session.role:
        raise ApiError(401, "unauthenticated", "the session has expired or was logged out; log in again")
    if request.method not in SAFE_METHODS and not csrf_matches(session, await _csrf_presented(request)):
        raise ApiError(403, "csrf_failed", f"a state-changing request needs the {CSRF_HEADER} header")
    request.state.session = session
    return token


async def _csrf_presented(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    if request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None
