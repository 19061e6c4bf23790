"""Signed, expiring links to an alarm's evidence for the receiving centre: opened without a hub token.

A link is `{api.public_url}/api/v1/evidence/{alarm}/{camera}.jpg?exp=<unix seconds>&sig=<hex>`, where `sig` is
HMAC-SHA256 over the path and the expiry under a key only the hub knows. The key is generated at the hub's first
start and kept in the store, so links already sent stay valid across restarts until they expire; `api.link_key`
replaces it (rotating the key voids every link out there). The path and expiry are signed together, so a link
opens one picture until one time and cannot be edited into another.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from hub.store.db import Database

LINK_KEY_META = "evidence_link_key"


def link_key(db: Database, configured: bytes | None) -> bytes:
    """The configured key, else the one kept in the store (made on first use)."""
    if configured is not None:
        return configured
    kept = db.meta_get(LINK_KEY_META)
    if kept is None:
        kept = secrets.token_hex(32)
        db.meta_set(LINK_KEY_META, kept)
    return bytes.fromhex(kept)


def _signature(key: bytes, path: str, expires: int) -> str:
    return hmac.new(key, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class LinkSigner:
    """Makes and checks signed links under one key and one public address."""

    key: bytes
    public_url: str  # without a trailing slash
    ttl_s: int

    def sign(self, path: str, now: datetime) -> str:
        """The absolute, signed link to a hub path (`/api/v1/...`), valid for `ttl_s` from `now`."""
        expires = int(now.timestamp()) + self.ttl_s
        query = urlencode({"exp": expires, "sig": _signature(self.key, path, expires)})
        return f"{self.public_url}{path}?{query}"

    def valid(self, path: str, expires: str | None, signature: str | None, now: datetime) -> bool:
        """Whether `exp`/`sig` open `path` at `now`: the signature matches and the link has not expired."""
        if not expires or not signature or not expires.isdigit() or len(expires) > 12:
            return False
        wanted = _signature(self.key, path, int(expires))
        return hmac.compare_digest(wanted, signature) and int(expires) > now.timestamp()
