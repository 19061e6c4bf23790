"""site.timezone: an IANA name, Beijing by default, and site-local day bounds."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from hub.config.site import SiteConfig


def site(**extra: str) -> SiteConfig:
    return SiteConfig.model_validate({"id": "s", "name": "School", "address": "Road 1", **extra})


def test_default_is_beijing_time_and_a_day_starts_at_16_utc() -> None:
    config = site()
    assert config.timezone == "Asia/Shanghai"
    start, end = config.day_bounds(date(2026, 12, 6))
    assert start.astimezone(UTC) == datetime(2026, 12, 5, 16, tzinfo=UTC)
    assert end.astimezone(UTC) == datetime(2026, 12, 6, 16, tzinfo=UTC)
    assert config.local_date(datetime(2026, 12, 5, 15, 59, tzinfo=UTC)) == date(2026, 12, 5)
    assert config.local_date(datetime(2026, 12, 5, 16, 0, tzinfo=UTC)) == date(2026, 12, 6)


def test_a_day_across_a_clock_change_is_23_hours() -> None:
    start, end = site(timezone="Europe/Berlin").day_bounds(date(2026, 3, 29))
    # Subtracting two times of one zone gives wall time (24 h): the real length is measured in UTC.
    assert (end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() == 23 * 3600


def test_an_unknown_zone_is_refused_with_its_name() -> None:
    with pytest.raises(ValidationError, match="Beijing/Time"):
        site(timezone="Beijing/Time")
