"""How far back a camera's recordings reach, against the 90-day rule, and when that would stop being true.

Pure decisions, no I/O: `retained_days`, `forecast_shortfall_on`, `judge` (one camera's verdict from its health
report or its folder's oldest day) and `retention_fault_changes`. `hub.health.recordings` reads the inputs, runs
these on a timer and stores the verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from hub.core.clock import to_iso
from hub.health.faults import FaultChange, FaultKind

Source = Literal["payload", "folder"]

MEGABITS_PER_GB = 8000.0  # decimal units, as recorders and disks report them: 1 GB = 8,000 megabits
# A camera health report older than this says nothing about today's recordings (the recorder may have wrapped).
STALE_AFTER = timedelta(days=2)


def retained_days(oldest: datetime, now: datetime) -> float:
    """Days between the oldest recording and now (0 when the oldest is in the future)."""
    return max(0.0, (now - oldest).total_seconds() / 86400.0)


def _finite(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def forecast_shortfall_on(
    oldest: datetime,
    used_gb: float | None,
    free_gb: float | None,
    write_rate_mbps: float | None,
    policy_days: float,
    now: datetime,
) -> date | None:
    """The first UTC date on which the recordings would reach back less than `policy_days`, or None if never.

    Assumed: the recorder writes continuously at `write_rate_mbps` (megabits per second) and, when the disk is
    full, overwrites its oldest recordings (a ring buffer). Until then nothing is deleted, so the window only
    grows; from the moment free space runs out, now + free / rate, the window is what the whole disk holds at
    the current rate, (used + free) / rate. The change is taken as immediate at that moment: when older
    recordings were written at a lower rate the real window shrinks to that size a little later, so the forecast
    errs early, never late. Short already: today. No usable rate (missing, zero, negative, not finite): None,
    as nothing can be forecast.
    """
    if retained_days(oldest, now) < policy_days:
        return now.date()
    if not _finite(used_gb, free_gb, write_rate_mbps) or write_rate_mbps is None or write_rate_mbps <= 0:
        return None
    used, free = max(0.0, float(used_gb or 0.0)), max(0.0, float(free_gb or 0.0))
    full_window_days = (used + free) * MEGABITS_PER_GB / write_rate_mbps / 86400.0
    if full_window_days >= policy_days:
        return None
    full_at = now + timedelta(seconds=free * MEGABITS_PER_GB / write_rate_mbps)
    return full_at.date()


@dataclass(frozen=True, slots=True)
class RecordingStatus:
    """One camera's verdict. `compliant` is None when nothing current is known (no report, a stale one)."""

    camera_id: str
    retained_days: float | None
    compliant: bool | None
    shortfall_on: date | None
    source: Source
    checked_at: datetime
    oldest_recording: datetime | None = None
    warning: bool = False  # compliant now, but the forecast falls short within the horizon
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "camera_id": self.camera_id,
            "retained_days": None if self.retained_days is None else round(self.retained_days, 2),
            "compliant": self.compliant,
            "shortfall_on": self.shortfall_on.isoformat() if self.shortfall_on else None,
            "forecast_warning": self.warning,
            "oldest_recording": to_iso(self.oldest_recording) if self.oldest_recording else None,
            "source": self.source,
            "checked_at": to_iso(self.checked_at),
            "note": self.note,
        }


def _number(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


def judge(
    camera_id: str,
    now: datetime,
    policy_days: float,
    horizon_days: float,
    *,
    payload: Mapping[str, Any] | None = None,
    reported_at: datetime | None = None,
    folder_oldest: date | None = None,
    use_folder: bool = False,
) -> RecordingStatus:
    """The verdict for one camera from its latest health payload and/or its folder's oldest day.

    With `use_folder` the folder says how far back recordings reach (its day counts from 00:00 UTC); a camera with
    no recordings there reaches back 0 days (a recorder that stopped, a share that is not mounted). The payload,
    when there is a current one, still gives the rates for the forecast.
    """
    current = payload if payload is not None and (reported_at is None or now - reported_at <= STALE_AFTER) else None
    source: Source = "folder" if use_folder else "payload"
    oldest: datetime | None
    if use_folder:
        if folder_oldest is None:
            note = "no recordings in the recordings folder"
            return RecordingStatus(camera_id, 0.0, False, now.date(), source, now, note=note)
        oldest = datetime.combine(folder_oldest, time(), UTC)
        missing = ""
    else:
        oldest = _time(current.get("oldest_recording")) if current is not None else None
        if payload is None:
            missing = "no health report from the camera yet"
        elif current is None:
            missing = "the camera's latest health report is stale"
        else:
            missing = "the health report has no oldest_recording"
    if oldest is None:
        return RecordingStatus(camera_id, None, None, None, source, now, note=missing)
    days = retained_days(oldest, now)
    rates = current or {}
    shortfall = forecast_shortfall_on(
        oldest,
        _number(rates, "storage_used_gb"),
        _number(rates, "storage_free_gb"),
        _number(rates, "write_rate_mbps"),
        policy_days,
        now,
    )
    compliant = days >= policy_days
    warning = compliant and shortfall is not None and shortfall <= (now + timedelta(days=horizon_days)).date()
    note = "" if compliant else f"recordings reach back {days:.1f} days; at least {policy_days:g} required"
    if warning and shortfall is not None:
        note = f"forecast: recordings fall short of {policy_days:g} days on {shortfall.isoformat()}"
    return RecordingStatus(camera_id, days, compliant, shortfall, source, now, oldest, warning, note)


def retention_fault_changes(
    statuses: Sequence[RecordingStatus], open_subjects: set[str], policy_days: float
) -> list[FaultChange]:
    """A fault opens for each camera short now and recovers when it complies again; unknown changes nothing."""
    changes: list[FaultChange] = []
    for s in statuses:
        if s.compliant is False and s.camera_id not in open_subjects:
            changes.append(FaultChange(s.camera_id, FaultKind.RETENTION_SHORTFALL, True, s.note))
        elif s.compliant is True and s.camera_id in open_subjects:
            summary = f"recordings reach back {s.retained_days or 0:.1f} days (at least {policy_days:g})"
            changes.append(FaultChange(s.camera_id, FaultKind.RETENTION_SHORTFALL, False, summary))
    return changes
