"""Console login sessions: server-side rows in the hub's SQLite, a CSRF secret per session, and login backoff.

The cookie carries only a random session id; the table keeps its SHA-256, so a copy of the database does not
log anyone in. Rows outlive a hub restart (the guard stays logged in) and logout deletes the row (it really
revokes). Expiry slides: every use within the lifetime pushes it forward, written at most once a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
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


def backoff_s(failures: int, *, free: int = 3, base_s: float = 1.0, cap_s: float = 300.0) -> float:
    """How long an address must wait before its next login attempt after `failures` failures in a row."""
    if failures < free:
        return 0.0
    return min(cap_s, base_s * 2.0 ** (failures - free))


class LoginThrottle:
    """Per-address backoff on failed logins (monotonic time, so clock changes cannot lift it)."""

    def __init__(self, clock: Clock, *, max_addresses: int = 10_000) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}  # address -> (failures in a row, time of the last)
        self._max = max_addresses

    def wait_s(self, address: str) -> float:
        """Seconds the address must still wait; 0 when it may try."""
        with self._lock:
            failures, last = self._failures.get(address, (0, 0.0))
        return max(0.0, last + backoff_s(failures) - self._clock.monotonic())

    def failed(self, address: str) -> None:
        with self._lock:
            if len(self._failures) >= self._max and address not in self._failures:
                # Bounded memory under a spray of addresses: forget the quietest half.
                for old, _ in sorted(self._failures.items(), key=lambda i: i[1][1])[: self._max // 2]:
                    del self._failures[old]
            failures, _ = self._failures.get(address, (0, 0.0))
            self._failures[address] = (failures + 1, self._clock.monotonic())

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)
