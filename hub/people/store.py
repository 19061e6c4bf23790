"""The `people` table: personal accounts of the console. Every change an administrator or the person makes is
audited naming who made it, in the same transaction; a reset or disabled account's console sessions end with it.

The table is the `people` set, version `PEOPLE_VERSION` in `meta` as `schema:people`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.config import Role
from hub.core.clock import to_iso
from hub.people import PERSON_PREFIX
from hub.people.passwords import hash_password, needs_rehash, verify
from hub.store import Actor, InvalidStateError, NotFoundError, Store
from hub.store.db import has_table

PEOPLE_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS people (
    name TEXT PRIMARY KEY,
    full_name TEXT NOT NULL,
    role TEXT NOT NULL,
    phone TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    password_changed_at TEXT NOT NULL
);
"""

_SHOWN = "name, full_name, role, phone, disabled, created_at, created_by, password_changed_at"


@dataclass(frozen=True, slots=True)
class Person:
    """Who is acting, as the API's role checks see them."""

    name: str
    role: Role


class PeopleStore:
    """Personal accounts on the hub's store."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def open(self) -> None:
        self._store.ensure_schema(SCHEMA)
        self._store.meta_set("schema:people", str(PEOPLE_VERSION))

    def create(
        self, actor: Actor, now: datetime, *, name: str, full_name: str, role: Role, phone: str, password: str
    ) -> None:
        hashed = hash_password(password)  # slow on purpose: before the write lock is taken
        at = to_iso(now)
        with self._store.write() as conn:
            if conn.execute("SELECT 1 FROM people WHERE name = ?", (name,)).fetchone() is not None:
                raise InvalidStateError("person", f"there is already an account {name!r}")
            conn.execute(
                "INSERT INTO people (name, full_name, role, phone, password_hash, created_at, created_by,"
                " password_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (name, full_name, role.value, phone, hashed, at, actor.name, at),
            )
            detail = {"full_name": full_name, "role": role.value}
            self._store.audit(conn, at, actor, "person.create", name, detail)

    def set_password(self, actor: Actor, now: datetime, name: str, password: str, *, action: str) -> None:
        """A new password (`person.reset` by an administrator, `person.password` by the person); the account's
        console sessions end, so a reset locks out whoever knew the old one."""
        hashed = hash_password(password)
        at = to_iso(now)
        with self._store.write() as conn:
            self._require(conn, name)
            conn.execute(
                "UPDATE people SET password_hash = ?, password_changed_at = ? WHERE name = ?", (hashed, at, name)
            )
            self._end_sessions(conn, name)
            self._store.audit(conn, at, actor, action, name, {})

    def set_disabled(self, actor: Actor, now: datetime, name: str, disabled: bool) -> None:
        at = to_iso(now)
        with self._store.write() as conn:
            self._require(conn, name)
            conn.execute("UPDATE people SET disabled = ? WHERE name = ?", (int(disabled), name))
            if disabled:
                self._end_sessions(conn, name)
            self._store.audit(conn, at, actor, "person.disable" if disabled else "person.enable", name, {})

    def authenticate(self, name: str, password: str) -> Person | None:
        """The person when the name and password match an enabled account; None otherwise (same time either way)."""
        row = (
            self._store.connection()
            .execute("SELECT role, password_hash, disabled FROM people WHERE name = ?", (name,))
            .fetchone()
        )
        if not verify(row[1] if row else None, password) or row is None or row[2]:
            return None
        if needs_rehash(row[1]):
            with self._store.write() as conn:
                conn.execute("UPDATE people SET password_hash = ? WHERE name = ?", (hash_password(password), name))
        return Person(name, Role(row[0]))

    def active(self, name: str) -> Person | None:
        """The enabled account of that name (a session's check on every request), or None."""
        row = (
            self._store.connection()
            .execute("SELECT role FROM people WHERE name = ? AND disabled = 0", (name,))
            .fetchone()
        )
        return None if row is None else Person(name, Role(row[0]))

    def get(self, name: str) -> dict[str, Any]:
        conn = self._store.connection()
        row = conn.execute(f"SELECT {_SHOWN} FROM people WHERE name = ?", (name,)).fetchone()  # noqa: S608
        if row is None:
            raise NotFoundError("person", f"no account {name!r}")
        return self._view(row)

    def list(self) -> list[dict[str, Any]]:
        rows = self._store.connection().execute(f"SELECT {_SHOWN} FROM people ORDER BY name").fetchall()  # noqa: S608
        return [self._view(r) for r in rows]

    @staticmethod
    def _view(row: tuple[Any, ...]) -> dict[str, Any]:
        names = _SHOWN.split(", ")
        person = dict(zip(names, row, strict=True))
        return {**person, "disabled": bool(person["disabled"])}

    @staticmethod
    def _require(conn: sqlite3.Connection, name: str) -> None:
        if conn.execute("SELECT 1 FROM people WHERE name = ?", (name,)).fetchone() is None:
            raise NotFoundError("person", f"no account {name!r}")

    @staticmethod
    def _end_sessions(conn: sqlite3.Connection, name: str) -> None:
        if has_table(conn, "sessions"):
            conn.execute("DELETE FROM sessions WHERE token_name = ?", (PERSON_PREFIX + name,))
