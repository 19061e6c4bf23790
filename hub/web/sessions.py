"""Console login sessions: server-side rows in the hub's SQLite and a CSRF secret per session.

The cookie carries only a random session id; the table keeps its SHA-256, so a copy of the database does not
log anyone in. Rows outlive a hub restart (the guard stays logged in) and logout deletes the row (it really
revokes). Expiry slides: every use within the lifetime pushes it forward, written at most once a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import replace
from datetime import timedelta

from hub.core.clock import Clock
from hub.store import Store
from hub.store.sessions import SCHEMA as SCHEMA
from hub.store.sessions import Session as Session
from hub.store.sessions import delete_session, extend_session, find_session, insert_session

SESSION_COOKIE = "campus_hub_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A guard's shift; every request within it extends it.
SESSION_TTL = timedelta(hours=12)
# Sliding expiry is written at most this often, so reads do not each cost a synchronous commit.
TOUCH_EVERY = timedelta(seconds=60)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def csrf_matches(session: Session, presented: str | None) -> bool:
    """True when the page sent its session's CSRF token (compared in constant time)."""
    return presented is not None and hmac.compare_digest(session.csrf.encode(), presented.encode())


class SessionStore:
    """The `sessions` table on the hub's store."""

    def __init__(self, store: Store, clock: Clock, ttl: timedelta = SESSION_TTL) -> None:
        self._store = store
        self._clock = clock
        self._ttl = ttl

    def open(self) -> None:
        self._store.ensure_schema(SCHEMA)

    def create(self, token_name: str, role: str) -> tuple[str, Session]:
        """A new session; returns the cookie value (never stored) and the session."""
        session_id = secrets.token_urlsafe(32)
        now = self._clock.now()
        session = Session(token_name, role, secrets.token_urlsafe(32), now + self._ttl)
        insert_session(self._store, _hash(session_id), session, now)
        return session_id, session

    def lookup(self, session_id: str) -> Session | None:
        """The live session for a cookie value, its expiry pushed forward; None when unknown, expired or revoked."""
        key = _hash(session_id)
        session = find_session(self._store, key)
        if session is None:
            return None
        now = self._clock.now()
        if session.expires_at <= now:
            return None
        renewed = now + self._ttl
        if renewed - session.expires_at >= TOUCH_EVERY:
            extend_session(self._store, key, renewed)
            return replace(session, expires_at=renewed)
        return session

    def revoke(self, session_id: str) -> bool:
        return delete_session(self._store, _hash(session_id))
