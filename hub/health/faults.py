"""Fault tickets under the 24-hour recovery rule: what opens, recovers and reopens a fault, and where its SLA stands.

Pure decisions (`sla_deadline`, `sla_fraction`, `warnings_due`, `faults_for_change`, `next_state`) with the
store doing the writes. A fault follows the education rules' closed loop: registered -> assigned -> in repair
-> recovered (automatic when the device is healthy again) -> verified -> closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from hub.health.model import DeviceHealth, Trouble


class FaultKind(StrEnum):
    OFFLINE = "offline"
    TAMPER = "tamper"
    LOW_BATTERY = "low_battery"
    SENSOR_TROUBLE = "sensor_trouble"
    CAMERA_CHECK = "camera_check"
    FORWARDING_PATH_DOWN = "forwarding_path_down"
    RETENTION_SHORTFALL = "retention_shortfall"
    FLOODING = "flooding"  # a device sends far more messages than its heartbeat implies
    INSPECTION = "inspection"
    OPEN_CIRCUIT = "open_circuit"  # an electrical fire unit's probe or transformer circuit is open (断线)
    PREALARM = "prealarm"  # a reading at its pre-alarm level: maintenance looks before it becomes an alarm
    STORE_DEGRADED = "store_degraded"  # the hub's own store cannot write (disk full, I/O error); subject `hub`


class FaultState(StrEnum):
    REGISTERED = "registered"
    ASSIGNED = "assigned"
    IN_REPAIR = "in_repair"
    RECOVERED = "recovered"
    VERIFIED = "verified"
    CLOSED = "closed"


ACTIVE = frozenset({FaultState.REGISTERED, FaultState.ASSIGNED, FaultState.IN_REPAIR})

TROUBLE_FAULT = {
    Trouble.TAMPER: FaultKind.TAMPER,
    Trouble.LOW_BATTERY: FaultKind.LOW_BATTERY,
    Trouble.SENSOR_TROUBLE: FaultKind.SENSOR_TROUBLE,
    Trouble.CAMERA_CHECK: FaultKind.CAMERA_CHECK,
    Trouble.OPEN_CIRCUIT: FaultKind.OPEN_CIRCUIT,
    Trouble.PREALARM: FaultKind.PREALARM,
}


class FaultAction(StrEnum):
    """Steps a person takes on a fault."""

    ASSIGN = "assign"
    START_REPAIR = "start_repair"
    RECOVER = "recover"  # by hand, for faults no device message can clear (an inspection finding)
    VERIFY = "verify"
    CLOSE = "close"


_ALLOWED: dict[FaultAction, frozenset[FaultState]] = {
    FaultAction.ASSIGN: ACTIVE,
    FaultAction.START_REPAIR: frozenset({FaultState.REGISTERED, FaultState.ASSIGNED}),
    FaultAction.RECOVER: ACTIVE,
    FaultAction.VERIFY: frozenset({FaultState.RECOVERED}),
    FaultAction.CLOSE: frozenset({FaultState.VERIFIED}),
}
_RESULT = {
    FaultAction.ASSIGN: FaultState.ASSIGNED,
    FaultAction.START_REPAIR: FaultState.IN_REPAIR,
    FaultAction.RECOVER: FaultState.RECOVERED,
    FaultAction.VERIFY: FaultState.VERIFIED,
    FaultAction.CLOSE: FaultState.CLOSED,
}


def next_state(current: FaultState, action: FaultAction) -> FaultState | None:
    """The state an action leads to, or None when the closed loop does not allow it from `current`."""
    return _RESULT[action] if current in _ALLOWED[action] else None


def sla_deadline(opened_at: datetime, recovery_hours: float) -> datetime:
    """When the fault must be recovered: `opened_at` plus the recovery rule (24 h by the education rules)."""
    return opened_at + timedelta(hours=recovery_hours)


def sla_fraction(opened_at: datetime, due_at: datetime, until: datetime) -> float:
    """Share of the allowed time used by `until` (1.0 at the deadline, more after it)."""
    allowed = (due_at - opened_at).total_seconds()
    return (until - opened_at).total_seconds() / allowed if allowed > 0 else 1.0


def warnings_due(fraction: float, already_warned: float, thresholds: Sequence[float]) -> list[float]:
    """Warning thresholds crossed since the last one recorded, lowest first (a late check sends each once)."""
    return [t for t in sorted(thresholds) if already_warned < t <= fraction]


@dataclass(frozen=True, slots=True)
class FaultChange:
    """A fault to open (or continue) or to recover for one subject, with why."""

    subject: str
    kind: FaultKind
    opening: bool
    summary: str
    # When the failure really began, if before it was noticed (a silent device: last heard + its heartbeat); the
    # fault's clock starts there. None: when noticed.
    started_at: datetime | None = None


# Fault kinds whose condition the device's own health shows, so a person cannot mark them recovered while it holds.
_DEVICE_KINDS = {FaultKind.OFFLINE, *TROUBLE_FAULT.values()}


def still_failing(kind: FaultKind, health: DeviceHealth | None) -> str | None:
    """Why a device fault of `kind` still holds by the device's own reports, or None when the device says healthy
    (or the kind is not one the device's health shows)."""
    if kind not in _DEVICE_KINDS or health is None:
        return None
    if kind is FaultKind.OFFLINE:
        return "the device is still offline" if health.online is False else None
    trouble = next(t for t, k in TROUBLE_FAULT.items() if k is kind)
    return f"the device still reports {trouble.value}" if trouble in health.troubles else None


def faults_for_change(before: DeviceHealth, after: DeviceHealth) -> list[FaultChange]:
    """Fault openings and recoveries that one device's health change implies."""
    changes: list[FaultChange] = []
    if after.maintenance:
        return changes  # planned work: nothing new opens; faults already open keep their clock
    if after.online is False and before.online is not False:
        reason = after.offline_reason or "offline"
        changes.append(FaultChange(after.device_id, FaultKind.OFFLINE, True, reason, after.silent_since))
    elif after.online is True and before.online is False:
        changes.append(FaultChange(after.device_id, FaultKind.OFFLINE, False, "back online"))
    for trouble, kind in TROUBLE_FAULT.items():
        if trouble in after.troubles and trouble not in before.troubles:
            changes.append(FaultChange(after.device_id, kind, True, f"device reports {trouble.value}"))
        elif trouble in before.troubles and trouble not in after.troubles:
            changes.append(FaultChange(after.device_id, kind, False, f"{trouble.value} cleared"))
    return changes
