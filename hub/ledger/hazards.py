"""The closed loop of a hazard (隐患), as the rules name its steps: 排查 (found) → 登记 (registered) → 评估 (assessed)
→ 报告 (reported) → 监控 (monitoring) → 治理 (fixed) → 验收 (accepted) → 销账 (closed). Pure decisions; the ledger
store does the writes."""

from __future__ import annotations

from enum import StrEnum


class HazardState(StrEnum):
    """Where a hazard stands; registering it (the POST that creates it) is the first state."""

    REGISTERED = "registered"
    ASSESSED = "assessed"
    REPORTED = "reported"
    MONITORING = "monitoring"
    FIXED = "fixed"
    ACCEPTED = "accepted"
    CLOSED = "closed"


class HazardStep(StrEnum):
    """The steps a person takes on a registered hazard, each signed by that person."""

    ASSESS = "assess"
    REPORT = "report"
    MONITOR = "monitor"
    FIX = "fix"
    ACCEPT = "accept"
    CLOSE = "close"


class Severity(StrEnum):
    """The assessment's grade: 一般 / 较大 / 重大."""

    GENERAL = "general"
    SERIOUS = "serious"
    MAJOR = "major"


class HazardSource(StrEnum):
    """How the hazard was found (排查): by a person, on an inspection round, or from an equipment fault."""

    PERSON = "person"
    INSPECTION = "inspection"
    FAULT = "fault"


# Hazards not yet fixed: their target date can be missed.
OPEN_STATES = frozenset({HazardState.REGISTERED, HazardState.ASSESSED, HazardState.REPORTED, HazardState.MONITORING})

_FROM: dict[HazardStep, frozenset[HazardState]] = {
    HazardStep.ASSESS: frozenset({HazardState.REGISTERED}),
    HazardStep.REPORT: frozenset({HazardState.ASSESSED}),
    # Repeated while monitoring: the interim measures change as the work goes on, each change signed.
    HazardStep.MONITOR: frozenset({HazardState.REPORTED, HazardState.MONITORING}),
    HazardStep.FIX: frozenset({HazardState.MONITORING}),
    HazardStep.ACCEPT: frozenset({HazardState.FIXED}),
    HazardStep.CLOSE: frozenset({HazardState.ACCEPTED}),
}
_TO = {
    HazardStep.ASSESS: HazardState.ASSESSED,
    HazardStep.REPORT: HazardState.REPORTED,
    HazardStep.MONITOR: HazardState.MONITORING,
    HazardStep.FIX: HazardState.FIXED,
    HazardStep.ACCEPT: HazardState.ACCEPTED,
    HazardStep.CLOSE: HazardState.CLOSED,
}
# A 一般 (general) hazard fixed at once may go from its assessment (or its report) straight to 治理: the rules ask
# for a report up and monitoring with interim measures for hazards that cannot be removed at once, and a loose
# cover or a blocked exit cleared on the spot has no interim to monitor. Forcing two empty signatures would only
# teach people to sign steps that did not happen. 较大 and 重大 hazards always walk every step: those are the ones
# the bureau must hear about and that need measures while the work is planned. Acceptance (验收) is never skipped.
_GENERAL_FIX_FROM = frozenset({HazardState.ASSESSED, HazardState.REPORTED})


def next_state(current: HazardState, step: HazardStep, severity: Severity | None) -> HazardState | None:
    """The state `step` leads to from `current`, or None when the closed loop does not allow it."""
    if current in _FROM[step]:
        return _TO[step]
    if step is HazardStep.FIX and severity is Severity.GENERAL and current in _GENERAL_FIX_FROM:
        return HazardState.FIXED
    return None


def allowed_steps(current: HazardState, severity: Severity | None) -> list[HazardStep]:
    """The steps that may be taken now (what the console offers)."""
    return [s for s in HazardStep if next_state(current, s, severity) is not None]
