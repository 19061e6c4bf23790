"""The `arming_zones:` section: the zones (重点部位) intrusion detectors and door contacts belong to, each with its
school-day schedule in the site's local time, its holidays, and whether it is a 24-hour zone (never disarmed)."""

from __future__ import annotations

from datetime import date, time
from typing import Literal

from pydantic import Field, field_validator, model_validator

from hub.config.base import IdStr, StrictModel, require_unique

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# "HH:MM" as a quoted string: YAML 1.1 reads an unquoted 07:30 as the base-60 integer 450.
_CLOCK = r"^([01]\d|2[0-3]):[0-5]\d$"


def clock_time(text: str) -> time:
    """`"07:30"` -> 07:30."""
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


class Period(StrictModel):
    """A span of local clock time in a day; `end` at or before `start` runs past midnight (22:00-06:00)."""

    start: str = Field(pattern=_CLOCK, description='Start, "HH:MM" in the site\'s time zone (quote it in YAML).')
    end: str = Field(pattern=_CLOCK, description='End (exclusive), "HH:MM" in the site\'s time zone (quote it).')

    @field_validator("start", "end", mode="before")
    @classmethod
    def _quoted(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            raise ValueError('write the time as a quoted "HH:MM" (YAML reads an unquoted 07:30 as a number)')
        return value

    def contains(self, at: time) -> bool:
        """True when the clock time `at` falls in the period."""
        start, end = clock_time(self.start), clock_time(self.end)
        if start < end:
            return start <= at < end
        return at >= start or at < end


def _school_days() -> list[Weekday]:
    return ["mon", "tue", "wed", "thu", "fri"]


def _school_hours() -> list[Period]:
    return [Period(start="07:00", end="18:00")]


class ZoneConfig(StrictModel):
    """One arming zone: armed outside school hours, disarmed during them (布防 / 撤防), unless always armed."""

    id: IdStr = Field(description="Zone id; devices name it in `arming_zone`, the API in /api/v1/zones/{id}.")
    name: str = Field(min_length=1, description="Name a guard recognises (财务室, 档案室, 化学品库, 机房).")
    always_armed: bool = Field(
        default=False, description="A 24-hour zone: armed whatever the schedule, and a disarm is refused."
    )
    school_days: list[Weekday] = Field(
        default_factory=_school_days,
        description="Weekdays with school hours (mon ... sun); on other days the zone stays armed.",
    )
    school_hours: list[Period] = Field(
        default_factory=_school_hours,
        description="When the zone is disarmed on a school day, site-local time (start before end).",
    )
    holidays: list[date] = Field(
        default_factory=list, description="Dates with no school (the zone stays armed all day), YYYY-MM-DD."
    )
    school_dates: list[date] = Field(
        default_factory=list,
        description="Extra school days on a weekend (调休 make-up days): school hours apply, YYYY-MM-DD.",
    )

    @field_validator("school_hours")
    @classmethod
    def _within_a_day(cls, periods: list[Period]) -> list[Period]:
        for period in periods:
            if clock_time(period.end) <= clock_time(period.start):
                raise ValueError(f"school hours {period.start}-{period.end} must start before they end")
        return periods

    @model_validator(mode="after")
    def _dates_disjoint(self) -> ZoneConfig:
        both = sorted(set(self.holidays) & set(self.school_dates))
        if both:
            raise ValueError(f"{both[0].isoformat()} is both a holiday and a school date")
        return self


def check_zones(zones: list[ZoneConfig]) -> list[ZoneConfig]:
    """Zone ids are unique."""
    require_unique([z.id for z in zones], "zone id")
    return zones
