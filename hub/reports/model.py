"""What a report is about: its period (`resolve_period`, `PeriodError`), the registry entries and planned
maintenance windows it shows, and the small types the other report modules share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Literal

from hub.core.clock import to_iso

Group = Literal["device", "kind", "site"]
Format = Literal["json", "csv"]
Span = tuple[float, float]  # [start, end) in seconds since the epoch

DEFAULT_DAYS = 30
MAX_DAYS = 366
SITE_WIDE = "*"  # a maintenance window's subject for the whole site


class PeriodError(ValueError):
    """The asked-for period cannot be reported on; the message says why."""


@dataclass(frozen=True, slots=True)
class Period:
    """A report's period: [start, end) as asked, counted up to `as_of` (<= end)."""

    start: datetime
    end: datetime
    as_of: datetime

    def as_json(self) -> dict[str, str]:
        return {"from": to_iso(self.start), "to": to_iso(self.end), "as_of": to_iso(self.as_of)}


def resolve_period(start: datetime | None, end: datetime | None, now: datetime) -> Period:
    """The period to report: defaults to the last 30 days up to now; raises PeriodError for one that cannot be."""
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise PeriodError(f"{name} needs a UTC offset, e.g. 2026-01-01T00:00:00+08:00")
    # Rounded down to the minute, so the answer (and its ETag) stays the same between polls within a minute.
    now_q = now.astimezone(UTC).replace(second=0, microsecond=0)
    end = end.astimezone(UTC) if end is not None else now_q
    start = start.astimezone(UTC) if start is not None else end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise PeriodError("from must be before to")
    if end - start > timedelta(days=MAX_DAYS):
        raise PeriodError(f"a report covers at most {MAX_DAYS} days")
    as_of = min(end, now_q)
    if start >= as_of:
        raise PeriodError("the period has not started yet")
    return Period(start, end, as_of)


def period_bound(text: str, zone: tzinfo, *, end: bool) -> datetime:
    """One end of a period as asked: an ISO 8601 time with offset, or a date (YYYY-MM-DD) meaning the site's day.

    A date as `from` is 00:00 of that day in the site's zone; as `to` the day is included, so the period ends at
    00:00 of the day after (from=2026-12-01&to=2026-12-31 is all of December, Beijing time).
    """
    text = text.strip()
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise PeriodError(f"not a date (YYYY-MM-DD): {text!r}") from None
        if end:
            day += timedelta(days=1)
        return datetime(day.year, day.month, day.day, tzinfo=zone)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"not an ISO 8601 time or a date: {text!r}") from None
    if value.tzinfo is None:
        raise PeriodError(f"{text!r} needs a UTC offset, e.g. 2026-01-01T00:00:00+08:00 (or give a date)")
    return value


def site_days(start: datetime, end: datetime, zone: tzinfo) -> list[tuple[date, datetime, datetime]]:
    """The site-local calendar days that [start, end) touches: (day, its part of the period), in UTC.

    Days run midnight to midnight in `zone` (Beijing's day starts 16:00 UTC the evening before); each is clipped
    to the period.
    """
    days: list[tuple[date, datetime, datetime]] = []
    day = start.astimezone(zone).date()
    while True:
        following = day + timedelta(days=1)
        day_start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        if day_start >= end:
            break
        day_end = datetime(following.year, following.month, following.day, tzinfo=zone).astimezone(UTC)
        days.append((day, max(day_start, start.astimezone(UTC)), min(day_end, end.astimezone(UTC))))
        day = following
    return days


def previous_site_day(now: datetime, zone: tzinfo) -> tuple[date, datetime, datetime]:
    """Yesterday in the site's zone: (its date, 00:00 yesterday, 00:00 today), both in UTC."""
    today = now.astimezone(zone).date()
    yesterday = today - timedelta(days=1)
    start = datetime(yesterday.year, yesterday.month, yesterday.day, tzinfo=zone).astimezone(UTC)
    return yesterday, start, datetime(today.year, today.month, today.day, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A registry entry as reports show it."""

    id: str
    kind: str
    name: str
    building: str


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A planned maintenance window; `subject` is a device id or '*' for the whole site."""

    id: int
    subject: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    created_by: str
    created_at: datetime
    cancelled_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "starts_at": to_iso(self.starts_at),
            "ends_at": to_iso(self.ends_at),
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": to_iso(self.created_at),
            "cancelled_at": to_iso(self.cancelled_at) if self.cancelled_at else None,
        }
