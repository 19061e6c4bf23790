"""The `site:` section: the campus this hub serves, and the time zone its people live in."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from hub.config.base import IdStr, StrictModel


class SiteConfig(StrictModel):
    """The campus this hub serves; sent with every alarm."""

    id: IdStr = Field(description="Site identifier, used in MQTT topics and reports.")
    name: str = Field(min_length=1, description="School name as the 110 centre should read it.")
    address: str = Field(min_length=1, description="Street address as the 110 centre should read it.")
    timezone: str = Field(
        default="Asia/Shanghai",
        description="IANA time zone of the campus. Days, daily figures, report periods given as dates and every "
        "time shown to people use it; stored times stay UTC.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone name (e.g. Asia/Shanghai)") from exc
        return value

    def tz(self) -> ZoneInfo:
        """The site's time zone."""
        return ZoneInfo(self.timezone)

    def local_date(self, at: datetime) -> date:
        """The site's calendar day an aware time falls on."""
        return at.astimezone(self.tz()).date()

    def day_bounds(self, day: date) -> tuple[datetime, datetime]:
        """Start (inclusive) and end (exclusive) of a site-local day, as aware datetimes in the site's zone.

        Built from midnight to midnight, so a day across a daylight-saving change is 23 or 25 hours long.
        """
        zone = self.tz()
        return datetime.combine(day, time(), zone), datetime.combine(day + timedelta(days=1), time(), zone)
