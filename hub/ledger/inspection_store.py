"""The rows of inspection plans and their item checks on the hub's SQLite file; each plan and each signed check is
written with its audit row naming the person. The tables are the `inspections` set (`schema:inspections`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from hub.config.site import SiteConfig
from hub.core.clock import from_iso, to_iso
from hub.ledger.inspections import CheckResult, Frequency, period_days, period_status, periods_starting
from hub.store import Actor, InvalidStateError, NotFoundError, Store

INSPECTIONS_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS inspection_plans (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    frequency TEXT NOT NULL,
    items TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS inspection_checks (
    id INTEGER PRIMARY KEY,
    plan_id INTEGER NOT NULL REFERENCES inspection_plans(id),
    item_id TEXT NOT NULL,
    period TEXT NOT NULL,
    at TEXT NOT NULL,
    by TEXT NOT NULL,
    role TEXT NOT NULL,
    result TEXT NOT NULL,
    note TEXT NOT NULL,
    fault_id INTEGER,
    hazard_id INTEGER,
    UNIQUE (plan_id, item_id, period)
);
"""


class InspectionStore:
    """Inspection plans and checks on the hub's store."""

    def __init__(self, store: Store, site: SiteConfig) -> None:
        self._store = store
        self._site = site

    def open(self) -> None:
        self._store.ensure_schema(SCHEMA)
        self._store.meta_set("schema:inspections", str(INSPECTIONS_VERSION))

    def create_plan(
        self,
        actor: Actor,
        now: datetime,
        *,
        name: str,
        category: str,
        frequency: Frequency,
        items: Sequence[dict[str, Any]],
    ) -> int:
        at = to_iso(now)
        with self._store.write() as conn:
            cursor = conn.execute(
                "INSERT INTO inspection_plans (name, category, frequency, items, created_at, created_by)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (name, category, frequency.value, json.dumps(list(items), ensure_ascii=False), at, actor.name),
            )
            plan_id = int(cursor.lastrowid or 0)
            detail = {"name": name, "frequency": frequency.value, "items": len(items)}
            self._store.audit(conn, at, actor, "inspection.plan", f"plan:{plan_id}", detail)
        return plan_id

    def plans(self, plan_id: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, name, category, frequency, items, created_at, created_by FROM inspection_plans"
        rows = self._store.connection().execute(
            sql + (" WHERE id = ?" if plan_id is not None else "") + " ORDER BY id",
            (plan_id,) if plan_id is not None else (),
        )
        names = ("id", "name", "category", "frequency", "items", "created_at", "created_by")
        plans = [dict(zip(names, row, strict=True)) for row in rows.fetchall()]
        for plan in plans:
            plan["items"] = json.loads(plan["items"])
        if plan_id is not None and not plans:
            raise NotFoundError("plan", f"no inspection plan {plan_id}")
        return plans

    def record_check(
        self,
        plan_id: int,
        item_id: str,
        period: str,
        actor: Actor,
        now: datetime,
        result: CheckResult,
        note: str,
        *,
        fault_id: int | None = None,
        hazard_id: int | None = None,
    ) -> int:
        at = to_iso(now)
        with self._store.write() as conn:
            try:
                cursor = conn.execute(
                    "INSERT INTO inspection_checks (plan_id, item_id, period, at, by, role, result, note, fault_id,"
                    " hazard_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (plan_id, item_id, period, at, actor.name, actor.role, result.value, note, fault_id, hazard_id),
                )
            except sqlite3.IntegrityError as exc:
                raise InvalidStateError("check", f"{item_id} was already checked for {period}") from exc
            detail: dict[str, Any] = {"item": item_id, "period": period, "result": result.value, "note": note}
            detail |= {"fault_id": fault_id, "hazard_id": hazard_id}
            self._store.audit(conn, at, actor, "inspection.check", f"plan:{plan_id}", detail)
        return int(cursor.lastrowid or 0)

    def already_checked(self, plan_id: int, item_id: str, period: str) -> bool:
        row = (
            self._store.connection()
            .execute(
                "SELECT 1 FROM inspection_checks WHERE plan_id = ? AND item_id = ? AND period = ?",
                (plan_id, item_id, period),
            )
            .fetchone()
        )
        return row is not None

    def checks(self, plan_id: int, periods: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """period -> item id -> its check."""
        out: dict[str, dict[str, dict[str, Any]]] = {p: {} for p in periods}
        if not periods:
            return out
        marks = ",".join("?" * len(periods))
        rows = self._store.connection().execute(
            "SELECT item_id, period, at, by, result, note, fault_id, hazard_id FROM inspection_checks"  # noqa: S608
            f" WHERE plan_id = ? AND period IN ({marks})",
            (plan_id, *periods),
        )
        names = ("item_id", "period", "at", "by", "result", "note", "fault_id", "hazard_id")
        for row in rows.fetchall():
            check = dict(zip(names, row, strict=True))
            out[check["period"]][check["item_id"]] = check
        return out

    def status(self, plan: dict[str, Any], period: str, now: datetime) -> dict[str, Any]:
        """One period of a plan as of `now`: done, missed, due and each item's check."""
        frequency = Frequency(plan["frequency"])
        first, last = period_days(frequency, period)
        ended = self._site.day_bounds(last)[1] <= now
        return {
            "period": period,
            "from": first.isoformat(),
            "to": last.isoformat(),
            "ended": ended,
            **period_status(plan["items"], self.checks(plan["id"], [period])[period], ended),
        }

    def month_figures(self, first: date, last: date, as_of: datetime) -> dict[str, int]:
        """Item checks planned, done and missed in periods beginning in first..last (and begun by `as_of`, after
        the plan was made): the monthly report's inspection figures."""
        totals = {"planned": 0, "done": 0, "missed": 0}
        for plan in self.plans():
            frequency = Frequency(plan["frequency"])
            made = self._site.local_date(from_iso(plan["created_at"]))
            keys = [
                key
                for key in periods_starting(frequency, first, last)
                if self._site.day_bounds(period_days(frequency, key)[0])[0] < as_of
                and period_days(frequency, key)[1] >= made
            ]
            checks = self.checks(plan["id"], keys)
            for key in keys:
                ended = self._site.day_bounds(period_days(frequency, key)[1])[1] <= as_of
                figures = period_status(plan["items"], checks[key], ended)
                for name in totals:
                    totals[name] += figures[name]
        return totals
