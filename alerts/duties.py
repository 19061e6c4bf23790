"""Incident follow-up duties: after a serious incident a school phones its report within 30 minutes and writes
it within 1 hour (local rules differ, so the minutes are configured). Pure functions over an alarm's times."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from alerts.model import Disposition


class DutyType(StrEnum):
    """The reports the education rules ask for."""

    PHONE = "phone"
    WRITTEN = "written"


# Closing an alarm as one of these says there was no incident to report.
WAIVING = frozenset({Disposition.DRILL, Disposition.FALSE_ALARM, Disposition.FAULT})


@dataclass(frozen=True, slots=True)
class DutyPolicy:
    """Minutes allowed for each report, and the alarm kinds that carry the duties."""

    minutes: Mapping[DutyType, float]
    kinds: frozenset[str]


@dataclass(frozen=True, slots=True)
class DutyStatus:
    """One duty of one alarm, as the guard and the bureau see it."""

    type: DutyType
    due_at: datetime
    met_at: datetime | None
    late: bool
    overdue: bool
    waived: bool

    def as_json(self) -> dict[str, object]:
        return {
            "type": self.type.value,
            "due_at": self.due_at.isoformat(timespec="microseconds"),
            "met_at": self.met_at.isoformat(timespec="microseconds") if self.met_at else None,
            "late": self.late,
            "overdue": self.overdue,
            "waived": self.waived,
        }


def duty_status(
    kind: str,
    raised_at: datetime,
    disposition: Disposition | None,
    reports: Iterable[tuple[DutyType, datetime]],
    policy: DutyPolicy,
    now: datetime,
) -> list[DutyStatus]:
    """The duties of one alarm at `now`: empty for kinds without duties; met by the earliest report of each type."""
    if kind not in policy.kinds:
        return []
    earliest: dict[DutyType, datetime] = {}
    for duty_type, at in reports:
        if duty_type not in earliest or at < earliest[duty_type]:
            earliest[duty_type] = at
    waived = disposition in WAIVING
    out = []
    for duty_type in DutyType:
        due = raised_at + timedelta(minutes=policy.minutes[duty_type])
        met = earliest.get(duty_type)
        out.append(
            DutyStatus(
                type=duty_type,
                due_at=due,
                met_at=met,
                late=met is not None and met > due,
                overdue=met is None and not waived and now > due,
                waived=waived and met is None,
            )
        )
    return out
