"""Incidents with no device behind them (an injury, a fight, a missing pupil, a trespasser): their kinds, and their
30-minute phone and 1-hour written report duties judged by the same rules as an alarm's (`alerts.duties`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from alerts.duties import DutyPolicy, DutyStatus, DutyType, duty_status

# The kind under which `alerts.duties` judges every incident: each one carries the duties, whatever happened.
DUTY_KIND = "incident"


class IncidentKind(StrEnum):
    """What happened."""

    INJURY = "injury"
    FIGHT = "fight"
    MISSING_PUPIL = "missing_pupil"
    TRESPASSER = "trespasser"
    OTHER = "other"


class IncidentState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


def incident_duties(
    occurred_at: datetime, reports: Iterable[tuple[DutyType, datetime]], policy: DutyPolicy, now: datetime
) -> list[DutyStatus]:
    """An incident's duties at `now`, counted from when it happened (the rules' clock starts with the incident, not
    with its entry in the ledger). Nothing waives them: with no device behind it, an incident is never a false
    alarm, a drill or a fault."""
    incident_policy = DutyPolicy(minutes=policy.minutes, kinds=frozenset({DUTY_KIND}))
    return duty_status(DUTY_KIND, occurred_at, None, reports, incident_policy, now)
