"""Passwords of personal accounts: Argon2id hashes (argon2-cffi's RFC 9106 low-memory profile), checks in time that
does not depend on whether the account exists, and the rule a new password must meet."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 10

_HASHER = PasswordHasher()
# Checked against when the account does not exist, so a wrong name takes as long as a wrong password.
_ABSENT = _HASHER.hash("no such account, never matches")


class WeakPassword(ValueError):
    """The new password does not meet the rule; the message says why."""


def check_new(password: str, name: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if name.lower() in password.lower():
        raise WeakPassword("a password must not contain the account's name")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify(stored: str | None, password: str) -> bool:
    """True when `password` matches `stored` (None: no such account, checked against a dummy hash all the same)."""
    try:
        return _HASHER.verify(stored or _ABSENT, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether a hash was made with weaker parameters than today's (rehashed at the next successful login)."""
    return _HASHER.check_needs_rehash(stored)
