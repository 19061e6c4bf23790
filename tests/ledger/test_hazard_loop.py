"""The hazard closed loop as a pure state machine: every step from every state, and the 一般 shortcut."""

from __future__ import annotations

import pytest

from hub.ledger.hazards import HazardState, HazardStep, Severity, allowed_steps, next_state

S, St = HazardState, HazardStep

# (from, step) -> to, for every allowed move of a 较大/重大 hazard; every other pair is refused.
FULL_LOOP = {
    (S.REGISTERED, St.ASSESS): S.ASSESSED,
    (S.ASSESSED, St.REPORT): S.REPORTED,
    (S.REPORTED, St.MONITOR): S.MONITORING,
    (S.MONITORING, St.MONITOR): S.MONITORING,
    (S.MONITORING, St.FIX): S.FIXED,
    (S.FIXED, St.ACCEPT): S.ACCEPTED,
    (S.ACCEPTED, St.CLOSE): S.CLOSED,
}


@pytest.mark.parametrize("severity", [Severity.SERIOUS, Severity.MAJOR, None])
def test_serious_and_major_hazards_walk_every_step(severity: Severity | None) -> None:
    for state in HazardState:
        for step in HazardStep:
            assert next_state(state, step, severity) == FULL_LOOP.get((state, step)), (state, step)


def test_a_general_hazard_may_be_fixed_at_once_but_never_skip_acceptance() -> None:
    general = {**FULL_LOOP, (S.ASSESSED, St.FIX): S.FIXED, (S.REPORTED, St.FIX): S.FIXED}
    for state in HazardState:
        for step in HazardStep:
            assert next_state(state, step, Severity.GENERAL) == general.get((state, step)), (state, step)
    assert allowed_steps(S.ASSESSED, Severity.GENERAL) == [St.REPORT, St.FIX]
    assert allowed_steps(S.FIXED, Severity.GENERAL) == [St.ACCEPT]
    assert allowed_steps(S.CLOSED, Severity.GENERAL) == []
