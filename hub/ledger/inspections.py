"""Inspection plans and patrols (巡查): what is checked, where, how often, and which checks of a period were done or
missed. Pure decisions over site-local calendar days; the store keeps the plans and each signed item check.

A plan's period is a site-local day (`daily`, key 2026-03-05), an ISO week starting Monday (`weekly`, key
2026-W10) or a month (`monthly`, key 2026-03). Each item is checked once per period; an item not checked by the
end of its period is missed (谁检查，谁签字: a check that found nothing is recorded like one that found a problem).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from enum import StrEnum
from typing import Any


class Frequency(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class CheckResult(StrEnum):
    OK = "ok"
    PROBLEM = "problem"


class FollowUp(StrEnum):
    """What a problem found opens in the same step."""

    NONE = "none"
    FAULT = "fault"
    HAZARD = "hazard"


def period_key(frequency: Frequency, day: date) -> str:
    """The period a site-local day falls in."""
    if frequency is Frequency.DAILY:
        return day.isoformat()
    if frequency is Frequency.WEEKLY:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day:%Y-%m}"


def period_days(frequency: Frequency, key: str) -> tuple[date, date]:
    """First and last site-local day of a period; ValueError for a key that is not one of `frequency`."""
    if frequency is Frequency.DAILY:
        day = date.fromisoformat(key)
        return day, day
    if frequency is Frequency.WEEKLY:
        year, _, week = key.partition("-W")
        monday = date.fromisocalendar(int(year), int(week), 1)
        return monday, monday + timedelta(days=6)
    first = date.fromisoformat(f"{key}-01")
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def periods_starting(frequency: Frequency, first: date, last: date) -> list[str]:
    """The periods whose first day lies in first..last (a week counts in the month its Monday is in)."""
    keys: list[str] = []
    day = first
    while day <= last:
        key = period_key(frequency, day)
        if period_days(frequency, key)[0] == day:
            keys.append(key)
        day += timedelta(days=1)
    return keys


def period_status(
    items: Iterable[Mapping[str, Any]], checks: Mapping[str, Mapping[str, Any]], ended: bool
) -> dict[str, Any]:
    """One period of a plan: each item ok / problem (with its check), missed (period over, unchecked) or due."""
    rows = []
    for item in items:
        check = checks.get(item["id"])
        state = check["result"] if check else ("missed" if ended else "due")
        rows.append({**item, "state": state, "check": dict(check) if check else None})
    count = {s: sum(1 for r in rows if r["state"] == s) for s in ("ok", "problem", "missed", "due")}
    return {
        "planned": len(rows),
        "done": count["ok"] + count["problem"],
        "missed": count["missed"],
        "due": count["due"],
        "problems": count["problem"],
        "items": rows,
    }
