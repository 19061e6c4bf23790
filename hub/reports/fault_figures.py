"""Fault figures for a report: per subject, the faults opened in a period, their times to recover and the SLA
breaches whose deadline fell in it (`fault_stats`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple


class FaultRecord(NamedTuple):
    """What a report needs of one fault; times in seconds since the epoch. A tuple, so database rows of the same
    shape are used as they come (a 90-day report may read a hundred thousand faults)."""

    subject: str
    opened: float
    due: float
    recovered: float | None
    breach_recorded: bool | int


@dataclass(slots=True)
class FaultStats:
    count: int = 0
    ttr_total_s: float = 0.0
    ttr_max_s: float = 0.0
    breaches: int = 0

    def add(self, other: FaultStats) -> None:
        self.count += other.count
        self.ttr_total_s += other.ttr_total_s
        self.ttr_max_s = max(self.ttr_max_s, other.ttr_max_s)
        self.breaches += other.breaches


def fault_stats(faults: Iterable[FaultRecord | tuple[Any, ...]], start: float, end: float) -> dict[str, FaultStats]:
    """Per subject: faults opened in [start, end), their times to recover (as of `end`), and breaches in it."""
    out: dict[str, FaultStats] = {}
    for subject, opened, due, recovered, breach_recorded in faults:
        count_fault(out, subject, opened, due, recovered, breach_recorded, start, end)
    return out


def count_fault(
    out: dict[str, FaultStats],
    subject: str,
    opened: float,
    due: float,
    recovered: float | None,
    breach_recorded: bool | int,
    start: float,
    end: float,
    opened_part: bool = True,
    due_part: bool = True,
) -> None:
    """Add one fault's share of [start, end) to its subject's figures: its opening and time to recover if it opened
    in the period (and `opened_part`), its breach if its deadline fell in it (and `due_part`). The per-day rollups
    (hub.store.fault_rollups) judge the faults at a period's edges with the same rules, one part at a time."""
    stats = out.get(subject)
    if stats is None:
        stats = out[subject] = FaultStats()
    if opened_part and start <= opened < end:
        ttr = (recovered if recovered is not None and recovered < end else end) - opened
        if ttr < 0.0:
            ttr = 0.0
        stats.count += 1
        stats.ttr_total_s += ttr
        if ttr > stats.ttr_max_s:
            stats.ttr_max_s = ttr
    # The breach belongs to the period its deadline fell in, so adjacent reports never count it twice or never.
    if due_part and start <= due < end and (breach_recorded or recovered is None or recovered > due):
        stats.breaches += 1
