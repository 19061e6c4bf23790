"""Picture diagnosis scored per camera protocol on real pictures (tests/vqd_cameras.py): the frame alone, and the
steady state (the frame with its camera's healthy reference and the previous check's frame); tuning cameras and
held-out cameras reported apart (`pytest -s` prints the tables)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from tests import vqd_cameras
from tests.vqd_set import LABELS
from video.diagnosis import decode, diagnose


@dataclass
class Result:
    """Scores of one protocol over one part of the set."""

    total: int
    exact: int
    healthy: int
    false_alarms: int
    table: dict[str, tuple[int, int, int]]  # label -> (true positives, false positives, false negatives)
    misses: list[str]

    @property
    def accuracy(self) -> float:
        return self.exact / max(1, self.total)

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / max(1, self.healthy)

    def recall(self, label: str) -> float:
        tp, _, fn = self.table[label]
        return tp / (tp + fn) if tp + fn else float("nan")

    def f1(self, label: str) -> float:
        tp, fp, fn = self.table[label]
        return 2 * tp / (2 * tp + fp + fn) if tp + fn else float("nan")

    @property
    def labels(self) -> list[str]:
        return [label for label in LABELS if sum(self.table[label][::2])]

    @property
    def macro_f1(self) -> float:
        return sum(self.f1(label) for label in self.labels) / len(self.labels)

    def render(self, title: str) -> str:
        lines = [
            f"{title}: {self.total} checks, accuracy {self.accuracy:.3f}, macro-F1 {self.macro_f1:.3f}, healthy false"
            f" alarms {self.false_alarms}/{self.healthy} ({self.false_alarm_rate:.1%})",
            "  recall: " + ", ".join(f"{label} {self.recall(label):.2f}" for label in self.labels),
        ]
        return "\n".join(lines)


def evaluate(checks: tuple[vqd_cameras.Check, ...], protocol: str) -> Result:
    counts: Counter[tuple[str, str]] = Counter()
    exact = healthy = false_alarms = 0
    misses = []
    cases = vqd_cameras.protocol(checks, protocol)
    for check, frame, previous, reference in cases:
        got = str(
            diagnose(
                decode(frame),
                decode(previous) if previous else None,
                decode(reference) if reference else None,
            ).labels[0]
        )
        exact += got == check.expected
        if check.expected == "healthy":
            healthy += 1
            false_alarms += got != "healthy"
        if got != check.expected:
            misses.append(f"{check.camera}/{check.kind}: {got}")
        counts[check.expected, "tp" if got == check.expected else "fn"] += 1
        if got != check.expected:
            counts[got, "fp"] += 1
    table = {label: (counts[label, "tp"], counts[label, "fp"], counts[label, "fn"]) for label in LABELS}
    return Result(len(cases), exact, healthy, false_alarms, table, misses)


@pytest.fixture(scope="session")
def tune_checks() -> tuple[vqd_cameras.Check, ...]:
    return vqd_cameras.tune_checks()


@pytest.fixture(scope="session")
def holdout_checks() -> tuple[vqd_cameras.Check, ...]:
    return vqd_cameras.holdout_checks()
