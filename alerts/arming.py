"""Arming of intrusion zones (布防 / 撤防): whether a zone is armed at a site-local time, from its school-day schedule,
its holidays and a person's manual arm or disarm, and why a zone may not be armed now. Pure functions.

A zone is armed outside school hours and disarmed during them; holidays and days that are not school days stay
armed all day; an always-armed (24-hour) zone is never disarmed. A manual arm or disarm holds until the schedule
next changes of its own accord (the next morning's disarm, the evening's arm), so a guard who disarms for a late
meeting does not leave the finance office disarmed all night.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from hub.config.zones import WEEKDAYS, Period, ZoneConfig, clock_time

# How far ahead the end of a manual override is looked for: a zone whose schedule never changes keeps it for good.
_LOOKAHEAD_DAYS = 400


@dataclass(frozen=True, slots=True)
class Override:
    """A person's manual arm or disarm of one zone, and when the schedule takes over again (None: never)."""

    armed: bool
    at: datetime
    until: datetime | None
    by: str


def is_school_time(zone: ZoneConfig, at_local: datetime) -> bool:
    """True during the zone's school hours on a school day (the disarmed part of its schedule)."""
    day = at_local.date()
    if day in zone.holidays:
        return False
    if day not in zone.school_dates and WEEKDAYS[day.weekday()] not in zone.school_days:
        return False
    now = at_local.time()
    return any(period.contains(now) for period in zone.school_hours)


def scheduled_armed(zone: ZoneConfig, at_local: datetime) -> bool:
    """Whether the schedule alone arms the zone at `at_local` (an aware time in the site's zone)."""
    return zone.always_armed or not is_school_time(zone, at_local)


def next_change(zone: ZoneConfig, after_local: datetime) -> datetime | None:
    """The first time after `after_local` at which the schedule's arming differs from what it is at `after_local`."""
    if zone.always_armed:
        return None
    tz = after_local.tzinfo
    if tz is None:
        raise ValueError("after_local must be an aware time in the site's zone")
    now = scheduled_armed(zone, after_local)
    for offset in range(_LOOKAHEAD_DAYS):
        for candidate in _boundaries(zone, after_local.date() + timedelta(days=offset), tz):
            if candidate > after_local and scheduled_armed(zone, candidate) != now:
                return candidate
    return None


def _boundaries(zone: ZoneConfig, day: date, tz: tzinfo) -> list[datetime]:
    times = {clock_time(p.start) for p in zone.school_hours} | {clock_time(p.end) for p in zone.school_hours}
    return sorted(datetime.combine(day, t, tz) for t in times)


def is_armed(zone: ZoneConfig, at_local: datetime, override: Override | None) -> bool:
    """The zone's arming at `at_local`: a manual override while it holds, the schedule otherwise."""
    if zone.always_armed:
        return True
    if override is not None and override.at <= at_local and (override.until is None or at_local < override.until):
        return override.armed
    return scheduled_armed(zone, at_local)


def manual_override(zone: ZoneConfig, armed: bool, at_local: datetime, by: str) -> Override:
    """A person's arm or disarm at `at_local`, holding until the schedule next changes."""
    return Override(armed, at_local, next_change(zone, at_local), by)


@dataclass(frozen=True, slots=True)
class Contact:
    """The last reported state of one device in a zone."""

    device_id: str
    name: str
    kind: str  # "door" or "intrusion"
    active: bool  # a door open, a detector in alarm


def arm_refusals(contacts: Iterable[Contact]) -> list[str]:
    """Why the zone may not be armed now: every door open and every detector in alarm, named."""
    reasons = []
    for contact in contacts:
        if contact.active:
            what = "door" if contact.kind == "door" else "detector"
            state = "is open" if contact.kind == "door" else "is in alarm"
            reasons.append(f"{what} {contact.name} ({contact.device_id}) {state}")
    return reasons


def open_in_shut_hours(
    doors: Mapping[str, bool], shut_hours: Mapping[str, Sequence[Period]], at_local: datetime
) -> list[str]:
    """Doors reported open while their `must_be_shut` hours run (closed campus): their ids, sorted."""
    now = at_local.time()
    found = []
    for device_id, is_open in doors.items():
        periods = shut_hours.get(device_id, ())
        if is_open and any(p.contains(now) for p in periods):
            found.append(device_id)
    return sorted(found)
