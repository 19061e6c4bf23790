"""How far back a camera's recordings reach, against the 90-day rule, and when that would stop being true.

Pure decisions, no I/O: `retained_days`, `forecast_shortfall_on`, `judge` (one camera's verdict from its health
report or its folder's oldest day) and `retention_fault_changes`. `hub.health.recordings` reads the inputs, runs
these on a timer and stores the verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Literal

from hub.core.clock import to_iso
from hub.health.faults import FaultChange, FaultKind

Source = Literal["payload", "folder"]

MEGABITS_PER_GB = 8000.0  # decimal units, as recorders and disks report them: 1 GB = 8,000 megabits
# A camera health report older than this says nothing about today's recordings (the recorder may have wrapped).
STALE_AFTER = timedelta(days=2)
# A young camera's oldest recording may move this far (a recorder trimming a partial first file) and stay young.
YOUNG_SLACK = timedelta(days=1)


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
    zone: tzinfo,
) -> date | None:
    """The first date (in `zone`, the site's) the recordings would reach back less than `policy_days`; None: never.

    Assumed: the recorder writes continuously at `write_rate_mbps` (megabits per second) and, when the disk is
    full, overwrites its oldest recordings (a ring buffer). Until then nothing is deleted, so the window only
    grows; from the moment free space runs out, now + free / rate, the window is what the whole disk holds at
    the current rate, (used + free) / rate. The change is taken as immediate at that moment: when older
    recordings were written at a lower rate the real window shrinks to that size a little later, so the forecast
    errs early, never late. Short already: today. No usable rate (missing, zero, negative, not finite): None,
    as nothing can be forecast.
    """
    if retained_days(oldest, now) < policy_days:
        return now.astimezone(zone).date()
    if not _finite(used_gb, free_gb, write_rate_mbps) or write_rate_mbps is None or write_rate_mbps <= 0:
        return None
    used, free = max(0.0, float(used_gb or 0.0)), max(0.0, float(free_gb or 0.0))
    full_window_days = (used + free) * MEGABITS_PER_GB / write_rate_mbps / 86400.0
    if full_window_days >= policy_days:
        return None
    full_at = now + timedelta(seconds=free * MEGABITS_PER_GB / write_rate_mbps)
    return full_at.astimezone(zone).date()


def young_and_on_course(
    oldest: datetime,
    used_gb: float | None,
    free_gb: float | None,
    write_rate_mbps: float | None,
    policy_days: float,
    now: datetime,
) -> bool:
    """Whether a camera short of `policy_days` is short only because it (or its disk) is new, and will get there.

    Young: the disk still has free space, so the recorder has overwritten nothing and its recordings reach back
    to when it started. On course: the whole disk at the current rate holds at least `policy_days`, so the
    window grows to the policy and stays there. Without usable rates nothing can be forecast: not young.
    A recorder set to delete by age while its disk has room also looks young here; `judge` tells it apart by its
    oldest recording moving forward.
    """
    if retained_days(oldest, now) >= policy_days:
        return False
    if not _finite(used_gb, free_gb, write_rate_mbps) or write_rate_mbps is None or write_rate_mbps <= 0:
        return False
    used, free = max(0.0, float(used_gb or 0.0)), max(0.0, float(free_gb or 0.0))
    if free <= 0:
        return False
    return (used + free) * MEGABITS_PER_GB / write_rate_mbps / 86400.0 >= policy_days


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
    reaches_on: date | None = None  # a young camera on course: the site-local date it reaches the policy
    young_since: datetime | None = None  # its oldest recording when first judged young

    def as_json(self) -> dict[str, Any]:
        return {
            "camera_id": self.camera_id,
            "retained_days": None if self.retained_days is None else round(self.retained_days, 2),
            "compliant": self.compliant,
            "shortfall_on": self.shortfall_on.isoformat() if self.shortfall_on else None,
            "forecast_warning": self.warning,
            "young": self.reaches_on is not None,
            "reaches_policy_on": self.reaches_on.isoformat() if self.reaches_on else None,
            "young_since": to_iso(self.young_since) if self.young_since else None,
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
    zone: tzinfo,
    payload: Mapping[str, Any] | None = None,
    reported_at: datetime | None = None,
    folder_oldest: date | None = None,
    use_folder: bool = False,
    young_since: datetime | None = None,
) -> RecordingStatus:
    """The verdict for one camera from its latest health payload and/or its folder's oldest day.

    With `use_folder` the folder says how far back recordings reach (its day counts from 00:00 in `zone`, the
    site's: recorders name day folders by local date); a camera with no recordings there reaches back 0 days (a
    recorder that stopped, a share that is not mounted). The payload, when there is a current one, still gives the
    rates for the forecast. A camera younger than the policy that is on course to reach it (`young_and_on_course`)
    has no verdict yet (`compliant` None, `reaches_on` set), not a shortfall: it cannot be made older in 24 hours.
    `young_since` is its oldest recording when it was first judged young (the previous verdict's): once the oldest
    moves on from it by more than a day, recordings are being deleted and the camera is not young after all.
    """
    today = now.astimezone(zone).date()
    current = payload if payload is not None and (reported_at is None or now - reported_at <= STALE_AFTER) else None
    source: Source = "folder" if use_folder else "payload"
    oldest: datetime | None
    if use_folder:
        if folder_oldest is None:
            note = "no recordings in the recordings folder"
            return RecordingStatus(camera_id, 0.0, False, today, source, now, note=note)
        oldest = datetime.combine(folder_oldest, time(), zone).astimezone(UTC)
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
    used, free, rate = (_number(rates, k) for k in ("storage_used_gb", "storage_free_gb", "write_rate_mbps"))
    deleting = young_since is not None and oldest > young_since + YOUNG_SLACK
    if not deleting and young_and_on_course(oldest, used, free, rate, policy_days, now):
        reaches = (oldest + timedelta(days=policy_days)).astimezone(zone).date()
        note = (
            f"recordings reach back {days:.1f} days (new camera or disk); on course to reach {policy_days:g} days"
            f" on {reaches.isoformat()}"
        )
        since = young_since or oldest
        return RecordingStatus(
            camera_id, days, None, None, source, now, oldest, note=note, reaches_on=reaches, young_since=since
        )
    shortfall = forecast_shortfall_on(oldest, used, free, rate, policy_days, now, zone)
    compliant = days >= policy_days
    horizon = (now + timedelta(days=horizon_days)).astimezone(zone).date()
    warning = compliant and shortfall is not None and shortfall <= horizon
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
