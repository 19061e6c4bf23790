"""Bearer-token authentication and role checks for the API, as FastAPI dependencies."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence

from fastapi import Request

from hub.config import ApiToken, Role
from hub.errors import ApiError
from hub.store import Actor


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


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def require(*roles: Role) -> Callable[[Request], Actor]:
    """A dependency that returns the acting person, or answers 401 (no or bad token) / 403 (wrong role)."""
    allowed = frozenset(roles) | {Role.ADMIN}

    def dependency(request: Request) -> Actor:
        book: TokenBook = request.app.state.tokens
        presented = bearer_token(request)
        if presented is None:
            raise ApiError(401, "unauthenticated", "send Authorization: Bearer <token>")
        token = book.lookup(presented)
        if token is None:
            raise ApiError(401, "unauthenticated", "unknown token")
        if token.role not in allowed:
            raise ApiError(403, "forbidden", f"role {token.role} may not do this")
        return Actor(token.name, token.role.value)

    return dependency
