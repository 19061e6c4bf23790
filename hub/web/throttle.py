"""One throttle for every credential check (a Bearer token on the API, a token typed into the console's login): it
slows guessing from one client address without locking out the right credential.

Per address: the first few failures cost nothing; after them each failure makes the address wait before its next
credential is even looked at (1 s, 2 s, 4 s … up to 5 minutes), so 10,000 guesses take days, not seconds. While an
address waits, a credential that has already proven itself from that address (kept as a keyed digest for the
session's lifetime, never the credential) is still let through: the guard room behind the same NAT or proxy as an
attacker keeps working. Failures fade after a quiet quarter of an hour; a success does not reset them (a proxy's
one address may carry both the right user and the attacker).

The client address is the TCP peer; `X-Forwarded-For` counts only when the peer is one of `api.trusted_proxies`
(none by default), and then its right-most address that is not itself a trusted proxy.
Failed checks are audited in aggregate: the first few of an address one by one, then one row per address per
minute with the count since the last (written with the next failure after the minute), never one per guess.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from hub.core.clock import Clock

FREE_FAILURES = 3
BASE_DELAY_S = 1.0
MAX_DELAY_S = 300.0
FORGET_AFTER_S = 15 * 60.0
REMEMBER_GOOD_S = 12 * 3600.0
AUDIT_EVERY_S = 60.0

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def backoff_s(
    failures: int, *, free: int = FREE_FAILURES, base_s: float = BASE_DELAY_S, cap_s: float = MAX_DELAY_S
) -> float:
    """How long an address must wait before its next attempt after `failures` failures in a row."""
    if failures < free:
        return 0.0
    return min(cap_s, base_s * 2.0 ** min(failures - free, 64))


def client_address(peer: str, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The address a request comes from: the peer, or behind trusted proxies the right-most untrusted hop."""

    def is_trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in trusted)

    if not forwarded_for or not is_trusted(peer):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop):
            return hop
    return hops[0] if hops else peer


@dataclass(slots=True)
class _Address:
    failures: int = 0
    last_failure: float = 0.0
    unaudited: int = 0
    last_audit: float = float("-inf")
    good: dict[str, float] = field(default_factory=dict)  # credential digest -> when it last succeeded


@dataclass(frozen=True, slots=True)
class AuditDue:
    """Failures of one address to write as one audit row."""

    address: str
    count: int
    kind: str


class CredentialThrottle:
    """Per-address backoff on failed credential checks, shared by the API's Bearer check and the console login."""

    def __init__(
        self,
        clock: Clock,
        *,
        audit: Callable[[AuditDue], None] | None = None,
        max_addresses: int = 10_000,
    ) -> None:
        self._clock = clock
        self._audit = audit
        self._lock = threading.Lock()
        self._addresses: dict[str, _Address] = {}
        self._max = max_addresses
        # Digests are keyed by a secret of this process: a memory dump does not give a dictionary to test against.
        self._key = secrets.token_bytes(32)

    def digest(self, credential: str) -> str:
        return hmac.new(self._key, credential.encode("utf-8"), hashlib.sha256).hexdigest()

    def wait_s(self, address: str, credential: str | None = None) -> float:
        """Seconds `address` must still wait before `credential` is looked at; 0 when it may be checked now."""
        now = self._clock.monotonic()
        with self._lock:
            entry = self._addresses.get(address)
            if entry is None:
                return 0.0
            if now - entry.last_failure > FORGET_AFTER_S:
                entry.failures = 0
            wait = entry.last_failure + backoff_s(entry.failures) - now
            if wait <= 0:
                return 0.0
            if credential is not None:
                seen = entry.good.get(self.digest(credential))
                if seen is not None and now - seen < REMEMBER_GOOD_S:
                    return 0.0
            return wait

    def failed(self, address: str, kind: str) -> None:
        """A credential from `address` was wrong; writes an aggregate audit row at most once a minute."""
        now = self._clock.monotonic()
        due: AuditDue | None = None
        with self._lock:
            entry = self._addresses.get(address)
            if entry is None:
                self._make_room()
                entry = self._addresses[address] = _Address()
            if now - entry.last_failure > FORGET_AFTER_S:
                entry.failures = 0
            entry.failures += 1
            entry.last_failure = now
            entry.unaudited += 1
            # Failures a person could make are each written; past them the backoff already limits how many are even
            # checked, and the rest are counted into one row a minute.
            if entry.failures <= FREE_FAILURES or now - entry.last_audit >= AUDIT_EVERY_S:
                due = AuditDue(address, entry.unaudited, kind)
                entry.unaudited = 0
                entry.last_audit = now
        if due is not None and self._audit is not None:
            self._audit(due)

    def succeeded(self, address: str, credential: str) -> None:
        """`credential` proved itself from `address`: it is let through that address's backoff from now on."""
        now = self._clock.monotonic()
        with self._lock:
            entry = self._addresses.get(address)
            if entry is None:
                self._make_room()
                entry = self._addresses[address] = _Address()
            entry.good[self.digest(credential)] = now

    def _make_room(self) -> None:
        # Bounded memory under a spray of addresses: forget the quietest half (callers hold the lock).
        if len(self._addresses) < self._max:
            return
        oldest = sorted(self._addresses.items(), key=lambda item: item[1].last_failure)[: self._max // 2]
        for address, _ in oldest:
            del self._addresses[address]
