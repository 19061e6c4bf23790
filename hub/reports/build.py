"""Building the uptime report: rows per device, kind or site, the summary (with the rules' four items, each
under its own name, and retention compliance), the maintenance windows and hub gaps shown, and the definitions
sent with it.

`build_report` takes `ReportInputs` already read and tallied (`hub.store.reports` reads them); what counts is
defined in the package docstring (`hub.reports`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from device_adapters.base import DeviceKind
from hub.core.clock import to_iso
from hub.health.model import DeviceState
from hub.reports.counting import STATES, Tally, Uptime, unmonitored_spans
from hub.reports.fault_figures import FaultStats
from hub.reports.four_items import GuardRoomDay, four_items
from hub.reports.model import DeviceInfo, Group, MaintenanceWindow, Period

# Hoisted out of the per-device loops (an enum attribute look-up costs more than a constant).
_STATE_UNKNOWN, _STATE_ONLINE, _STATE_OFFLINE = (
    DeviceState.UNKNOWN.value,
    DeviceState.ONLINE.value,
    DeviceState.OFFLINE.value,
)

DEFINITIONS = {
    "period": "[from, to), counted up to as_of: the earlier of to and now rounded down to the minute",
    "uptime_pct": "online time / counted time; faulty devices are not working",
    "networked_pct": "(online + faulty) time / counted time",
    "counted": "the period minus excluded and not monitored time",
    "excluded": "unknown (not yet monitored) time; with exclude_maintenance also maintenance-state time and "
    "offline/faulty time inside planned maintenance windows (online time inside a window stays counted)",
    "unmonitored_min": "minutes the hub itself was not running (hub_gaps), left out of counted time whatever "
    "exclude_maintenance says (device-minutes in group rows; minutes of the period in the summary)",
    "hub_gaps": "when the hub was not running, from its last proof of life to its next start; faults, recovery "
    "times and SLA breaches run on through them",
    "downtime_min": "counted minutes not online (device-minutes for groups)",
    "faults": "faults opened in the period; non-device subjects (forwarding paths) count in the site row only",
    "mttr_min": "mean of recovered_at - opened_at over those faults; one still open at the end counts to it",
    "sla_breaches": "faults whose recovery deadline fell in the period unrecovered; maintenance windows never "
    "hide a breach",
    "current_state": "state now (device rows); the *_now columns count devices per state now",
    "retention_days": "cameras: days their recordings reach back at the last check (null when not known)",
    "retention_ok": "cameras: whether that is at least retention.days (null when not known)",
}
RETENTION_NOTE = (
    "retention compliance: cameras whose recordings reach back at least retention.days, of the cameras with a "
    "current verdict (null when none has one yet); per camera in retention_days / retention_ok"
)
INSTALLED_NOTE = (
    "installed = in the registry (the hub cannot know of devices never registered); networked = not offline "
    "or unknown now; working = online now"
)

COLUMNS = (
    "group",
    "key",
    "name",
    "kind",
    "building",
    "devices",
    "uptime_pct",
    "networked_pct",
    "downtime_min",
    "counted_min",
    "excluded_min",
    "unmonitored_min",
    "planned_downtime_min",
    "faults",
    "mttr_min",
    "longest_recovery_min",
    "sla_breaches",
    "current_state",
    *(f"{state.value}_now" for state in STATES),
    "retention_days",
    "retention_ok",
)


@dataclass(frozen=True)
class ReportInputs:
    """Everything a report is built from, already read and tallied."""

    site_id: str
    site_name: str
    devices: Sequence[DeviceInfo]
    period: Period
    exclude_maintenance: bool
    tallies: Mapping[str, Tally]
    faults: Mapping[str, FaultStats]  # by subject, including subjects that are not devices
    current: Mapping[str, str]  # device id -> state now
    windows: Sequence[MaintenanceWindow] = field(default_factory=tuple)
    # camera id -> its latest recordings verdict (hub.recordings): retained_days, compliant, ...
    retention: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    retention_days: int = 90
    hub_gaps: Sequence[tuple[datetime, datetime]] = ()  # when the hub was not running, overlapping the period
    timezone: str = "UTC"  # site.timezone: the zone the period's dates and days are in
    school_days: Sequence[date] = ()  # the period's school days in the site's zone
    guard_room: Mapping[date, GuardRoomDay] = field(default_factory=dict)  # what the guard room recorded
    min_guards: int = 1


def _gap_json(gap: tuple[datetime, datetime], period: Period) -> dict[str, Any]:
    inside = unmonitored_spans([gap], period.start, period.as_of)
    return {
        "started_at": to_iso(gap[0]),
        "ended_at": to_iso(gap[1]),
        "unmonitored_min": round(sum(b - a for a, b in inside) / 60.0, 2),
    }


def _row(
    group: str,
    key: str,
    name: str,
    kind: str | None,
    building: str | None,
    devices: int,
    figures: Uptime,
    faults: FaultStats,
    states: Mapping[str, int],
    current_state: str | None,
) -> dict[str, Any]:
    count = faults.count
    counted = figures.counted_s
    return {
        "group": group,
        "key": key,
        "name": name,
        "kind": kind,
        "building": building,
        "devices": devices,
        "uptime_pct": round(min(100.0, 100.0 * figures.working_s / counted), 3) if counted > 0 else None,
        "networked_pct": round(min(100.0, 100.0 * figures.networked_s / counted), 3) if counted > 0 else None,
        "downtime_min": round(figures.downtime_s / 60.0, 2),
        "counted_min": round(counted / 60.0, 2),
        "excluded_min": round(figures.excluded_s / 60.0, 2),
        "unmonitored_min": round(figures.unmonitored_s / 60.0, 2),
        "planned_downtime_min": round(figures.planned_downtime_s / 60.0, 2),
        "faults": count,
        "mttr_min": round(faults.ttr_total_s / count / 60.0, 2) if count else None,
        "longest_recovery_min": round(faults.ttr_max_s / 60.0, 2) if count else None,
        "sla_breaches": faults.breaches,
        "current_state": current_state,
        "unknown_now": states.get("unknown", 0),
        "online_now": states.get("online", 0),
        "offline_now": states.get("offline", 0),
        "faulty_now": states.get("faulty", 0),
        "maintenance_now": states.get("maintenance", 0),
        "retention_days": None,
        "retention_ok": None,
    }


class _Minutes(dict[float, float]):
    """`round(seconds / 60.0, 2)` by seconds, remembered: device rows repeat a few figures thousands of times (the
    hub's gaps, whole periods), and round() is the costliest step of a row. Not for zeros: 0.0 and -0.0 are one
    key; callers divide a zero by 60.0 instead, which is what round() gives for it, sign and all."""

    __slots__ = ()

    def __missing__(self, seconds: float) -> float:
        value = self[seconds] = round(seconds / 60.0, 2)
        return value


def _device_rows(
    devices: Sequence[DeviceInfo],
    tallies: Sequence[Tally],
    states: Sequence[str],
    faults: Mapping[str, FaultStats],
    retention: Mapping[str, Mapping[str, Any]],
    exclude: bool,
) -> list[dict[str, Any]]:
    """One row per device, exactly as `_row` makes it (a test holds them equal), in a single loop: this is 10,000
    rows a report, and a call per row and the per-row dicts of state counts cost as much as the figures."""
    none = FaultStats()
    # The *_now counts of a device row: 1 for its state, 0 for the others (all 0 for a state not in STATES).
    now_counts: dict[str, tuple[int, ...]] = {}
    rows: list[dict[str, Any]] = []
    append = rows.append
    rnd = round
    minutes = _Minutes()
    for device, figures, state in zip(devices, tallies, states, strict=True):
        # `Tally.uptime` inlined (its tuple per device shows); the property test holds the rows equal to `_row`'s.
        unknown, working, offline, faulty, maintenance, planned_offline, planned_faulty, unmonitored = figures
        planned_off = offline if offline < planned_offline else planned_offline  # min(), to the sign of a zero
        planned_bad = faulty if faulty < planned_faulty else planned_faulty
        planned = maintenance + planned_off + planned_bad
        if exclude:
            counted = working + (offline - planned_off) + (faulty - planned_bad)
            networked = working + (faulty - planned_bad)
            excluded = unknown + planned
        else:
            counted = working + offline + faulty + maintenance
            networked = working + faulty
            excluded = unknown
        downtime = counted - working
        stats = faults.get(device.id) or none
        count = stats.count
        now = now_counts.get(state)
        if now is None:
            now = now_counts[state] = tuple(int(s.value == state) for s in STATES)
        uptime_pct = networked_pct = None
        if counted > 0:
            uptime_pct = rnd(min(100.0, 100.0 * working / counted), 3)
            # Most devices are never faulty: the same figures, the same share, without a second round() (not for
            # zeros, equal whatever their signs, while their shares keep them).
            if networked == working and working:
                networked_pct = uptime_pct
            else:
                networked_pct = rnd(min(100.0, 100.0 * networked / counted), 3)
        row = {
            "group": "device",
            "key": device.id,
            "name": device.name,
            "kind": device.kind,
            "building": device.building,
            "devices": 1,
            "uptime_pct": uptime_pct,
            "networked_pct": networked_pct,
            "downtime_min": minutes[downtime] if downtime else downtime / 60.0,
            "counted_min": minutes[counted] if counted else counted / 60.0,
            "excluded_min": minutes[excluded] if excluded else excluded / 60.0,
            "unmonitored_min": minutes[unmonitored] if unmonitored else unmonitored / 60.0,
            "planned_downtime_min": minutes[planned] if planned else planned / 60.0,
            "faults": count,
            "mttr_min": rnd(stats.ttr_total_s / count / 60.0, 2) if count else None,
            "longest_recovery_min": rnd(stats.ttr_max_s / 60.0, 2) if count else None,
            "sla_breaches": stats.breaches,
            "current_state": state,
            "unknown_now": now[0],
            "online_now": now[1],
            "offline_now": now[2],
            "faulty_now": now[3],
            "maintenance_now": now[4],
            "retention_days": None,
            "retention_ok": None,
        }
        if retention:
            verdict = retention.get(device.id)
            if verdict is not None:
                days = verdict.get("retained_days")
                row["retention_days"] = None if days is None else rnd(float(days), 2)
                row["retention_ok"] = verdict.get("compliant")
        append(row)
    return rows


def retention_compliance(
    devices: Sequence[DeviceInfo], retention: Mapping[str, Mapping[str, Any]], policy_days: int
) -> dict[str, Any] | None:
    """Cameras compliant / cameras with a current verdict, and the young ones apart; None while no camera has
    either."""
    camera = DeviceKind.CAMERA.value  # once, not per device: an enum's .value is a descriptor call
    judged = [retention[d.id] for d in devices if d.kind == camera and d.id in retention]
    known = [v["compliant"] for v in judged if v.get("compliant") is not None]
    # New cameras (or disks) on course to reach the policy have no verdict yet: counted apart, not as short.
    young = sum(bool(v.get("young")) for v in judged)
    if not known and not young:
        return None
    compliant = sum(v is True for v in known)
    cameras = sum(d.kind == camera for d in devices)
    return {
        "policy_days": policy_days,
        "cameras": cameras,
        "young": young,
        "known": len(known),
        "compliant": compliant,
        "share": round(compliant / len(known), 4) if known else None,
    }


def alarm_video(devices: Sequence[DeviceInfo], current: Mapping[str, str]) -> dict[str, Any]:
    """Shares of one-button alarms and cameras installed, networked and working now: the one of the rules' four
    items the hub measures (一键式紧急报警和视频监控系统联网); hub.reports.four_items has all four."""
    out: dict[str, Any] = {}
    totals = Counter[str]()
    unknown, online, not_networked = _STATE_UNKNOWN, _STATE_ONLINE, (_STATE_OFFLINE, _STATE_UNKNOWN)
    for kind in (DeviceKind.PANIC_BUTTON, DeviceKind.CAMERA):
        value = kind.value
        states = [current.get(d.id, unknown) for d in devices if d.kind == value]
        counts = Counter(
            installed=len(states),
            networked=sum(s not in not_networked for s in states),
            working=sum(s == online for s in states),
        )
        totals.update(counts)
        out[kind.value] = _shares(counts)
    out["combined"] = _shares(totals)
    out["note"] = INSTALLED_NOTE
    return out


def _shares(counts: Counter[str]) -> dict[str, Any]:
    installed = counts["installed"]
    return {
        "installed": installed,
        "networked": counts["networked"],
        "working": counts["working"],
        "installed_share": 1.0 if installed else 0.0,
        "networked_share": round(counts["networked"] / installed, 4) if installed else None,
        "working_share": round(counts["working"] / installed, 4) if installed else None,
    }


class _Group:
    """Running sums of one group of devices."""

    __slots__ = ("devices", "faults", "states", "sums")

    def __init__(self) -> None:
        self.devices = 0
        self.sums = [0.0] * 8
        self.faults = FaultStats()
        self.states: Counter[str] = Counter()

    def add(self, figures: Tally, faults: FaultStats | None, state: str) -> None:
        sums = self.sums
        sums[0] += figures.unknown_s
        sums[1] += figures.online_s
        sums[2] += figures.offline_s
        sums[3] += figures.faulty_s
        sums[4] += figures.maintenance_s
        sums[5] += figures.planned_offline_s
        sums[6] += figures.planned_faulty_s
        sums[7] += figures.unmonitored_s
        if faults is not None:
            self.faults.add(faults)
        self.states[state] += 1
        self.devices += 1

    def uptime(self, exclude_maintenance: bool) -> Uptime:
        return Tally(*self.sums).uptime(exclude_maintenance)


def build_report(inputs: ReportInputs, group: Group) -> dict[str, Any]:
    """The report as a JSON-ready dict: period, rows of the chosen grouping, summary, windows, definitions."""
    exclude = inputs.exclude_maintenance
    zero = Tally()
    tallies = [inputs.tallies.get(d.id, zero) for d in inputs.devices]
    states = [inputs.current.get(d.id, _STATE_UNKNOWN) for d in inputs.devices]
    device_rows: list[dict[str, Any]] = []
    kinds: dict[str, _Group] = {}
    if group == "device":
        device_rows = _device_rows(inputs.devices, tallies, states, inputs.faults, inputs.retention, exclude)
    elif group == "kind":
        for device, figures, state in zip(inputs.devices, tallies, states, strict=True):
            faults = inputs.faults.get(device.id)
            kind = kinds.get(device.kind)
            if kind is None:
                kind = kinds[device.kind] = _Group()
            kind.add(figures, faults, state)
    site_tally = Tally._make(map(sum, zip(*tallies, strict=True))) if tallies else zero
    site_states = Counter(states)
    site_faults = FaultStats()
    for stats in inputs.faults.values():
        site_faults.add(stats)  # every subject, devices or not: a forwarding path down is a failure too
    site_row = _row(
        "site",
        inputs.site_id,
        inputs.site_name,
        None,
        None,
        len(tallies),
        site_tally.uptime(exclude),
        site_faults,
        site_states,
        None,
    )
    if group == "device":
        rows = device_rows
    elif group == "kind":
        rows = [
            _row("kind", k.value, k.value, k.value, None, g.devices, g.uptime(exclude), g.faults, g.states, None)
            for k in DeviceKind
            for g in [kinds.get(k.value)]
            if g is not None
        ]
    else:
        rows = [site_row]
    gaps = unmonitored_spans(inputs.hub_gaps, inputs.period.start, inputs.period.as_of)
    return {
        "report": "uptime",
        "site": {"id": inputs.site_id, "name": inputs.site_name},
        "period": inputs.period.as_json(),
        "timezone": inputs.timezone,
        "group": group,
        "exclude_maintenance": exclude,
        "rows": rows,
        "summary": {
            "devices": len(tallies),
            "uptime_pct": site_row["uptime_pct"],
            "networked_pct": site_row["networked_pct"],
            "downtime_min": site_row["downtime_min"],
            "unmonitored_min": round(sum(b - a for a, b in gaps) / 60.0, 2),
            "faults": site_faults.count,
            "mttr_min": site_row["mttr_min"],
            "longest_recovery_min": site_row["longest_recovery_min"],
            "sla_breaches": site_faults.breaches,
            "current_states": {s.value: site_states.get(s.value, 0) for s in STATES},
            "four_items": four_items(
                alarm_video(inputs.devices, inputs.current), inputs.school_days, inputs.guard_room, inputs.min_guards
            ),
            "retention_compliance": retention_compliance(inputs.devices, inputs.retention, inputs.retention_days),
            "retention_note": RETENTION_NOTE,
        },
        "maintenance_windows": [w.as_json() for w in inputs.windows],
        "hub_gaps": [_gap_json(g, inputs.period) for g in inputs.hub_gaps],
        "definitions": DEFINITIONS,
    }
