"""The "four 100%" items of the education rules, each under its own name, for the bureau's report.

The rules' four items are: full-time guards (专职保安员配备), closed campus management (封闭化管理), one-button
alarm and video installed and networked (一键式紧急报警和视频监控系统联网) and guard posts at the school gates
(护学岗设置). The hub measures only the third (`alarm_video`, from the registry and current states); the other
three are recorded by the guard room once per school day (`hub.store.guard_room`), and the report shows what was
recorded beside it, with the school days nobody recorded listed as not recorded, never counted as met or failed.
Pure functions; the store reads the inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

# Keys of the guard room's items, in the rules' order, and the field of a day's record each is judged from.
RECORDED_ITEMS = ("full_time_guards", "closed_campus", "guard_posts")


@dataclass(frozen=True, slots=True)
class GuardRoomDay:
    """One school day as the guard room recorded it."""

    day: date
    guards_on_duty: int
    gate_closed: bool
    posts_staffed: bool
    note: str
    recorded_by: str
    recorded_at: str

    def as_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "recorded": True,
            "guards_on_duty": self.guards_on_duty,
            "gate_closed": self.gate_closed,
            "posts_staffed": self.posts_staffed,
            "note": self.note,
            "recorded_by": self.recorded_by,
            "recorded_at": self.recorded_at,
        }


def school_days_in(days: Iterable[date], weekdays: Sequence[int]) -> list[date]:
    """The days that are school days (ISO weekdays, 1 = Monday)."""
    wanted = set(weekdays)
    return [d for d in days if d.isoweekday() in wanted]


def _met(record: GuardRoomDay, item: str, min_guards: int) -> bool:
    if item == "full_time_guards":
        return record.guards_on_duty >= min_guards
    if item == "closed_campus":
        return record.gate_closed
    return record.posts_staffed


def recorded_items(
    school_days: Sequence[date], records: Mapping[date, GuardRoomDay], min_guards: int
) -> dict[str, Any]:
    """The guard room's three items over the period's school days: per item the days met of those recorded, the
    days not recorded (listed), and every school day with what was recorded or `recorded: false`."""
    recorded = [records[d] for d in school_days if d in records]
    missing = [d.isoformat() for d in school_days if d not in records]
    out: dict[str, Any] = {}
    for item in RECORDED_ITEMS:
        met = sum(_met(r, item, min_guards) for r in recorded)
        out[item] = {
            "school_days": len(school_days),
            "recorded_days": len(recorded),
            "met_days": met,
            "share_of_recorded": round(met / len(recorded), 4) if recorded else None,
            "not_recorded_days": len(missing),
        }
    out["min_guards_on_duty"] = min_guards
    out["not_recorded"] = missing
    out["days"] = [
        records[d].as_json() if d in records else {"day": d.isoformat(), "recorded": False} for d in school_days
    ]
    return out


def four_items(
    alarm_video: dict[str, Any], school_days: Sequence[date], records: Mapping[date, GuardRoomDay], min_guards: int
) -> dict[str, Any]:
    """All four items: `alarm_video` as the hub measures it, and the three the guard room records."""
    return {"alarm_video": alarm_video, **recorded_items(school_days, records, min_guards)}
