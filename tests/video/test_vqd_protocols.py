"""Picture diagnosis scored per camera protocol on real pictures (tests/video/vqd_cameras.py): the frame alone, and the
steady state (the frame with its camera's healthy reference and the previous check's frame); tuning cameras and
held-out cameras reported apart (`pytest -s` prints the tables)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from tests.video import vqd_cameras
from tests.video.vqd_set import LABELS
from video.diagnosis import Label, Thresholds, decode, diagnose


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


def _report(tune: tuple[vqd_cameras.Check, ...], holdout: tuple[vqd_cameras.Check, ...]) -> dict[str, Result]:
    results = {}
    print()
    for part, checks in (("tune", tune), ("held-out", holdout)):
        for protocol in ("alone", "steady"):
            results[f"{part} {protocol}"] = result = evaluate(checks, protocol)
            print(result.render(f"{part} cameras, {protocol}"))
    return results


# Regression bounds, measured once the thresholds were chosen on the tune cameras and the held-out cameras were
# scored (README, picture diagnosis): steady state tune 0.968 (no false alarm), held-out 0.884 (12.1 % false alarms);
# alone tune 0.789 (2.4 %), held-out 0.771 (10.6 %). With the requantisation check for re-encoded repeats: steady
# tune 0.980 (no false alarm, frozen recall 0.96), held-out 0.897 (12.1 %, frozen 0.82); alone unchanged. Before
# issue 15's changes, on this same set: steady 0.800 / 0.737 (28.6 % / 42.4 % false alarms), alone 0.757 / 0.745.
STEADY_MIN = {"tune": 0.95, "held-out": 0.87}
ALONE_MIN = {"tune": 0.77, "held-out": 0.76}


def test_both_protocols_on_real_cameras(
    tune_checks: tuple[vqd_cameras.Check, ...], holdout_checks: tuple[vqd_cameras.Check, ...]
) -> None:
    results = _report(tune_checks, holdout_checks)
    for part in ("tune", "held-out"):
        steady, alone = results[f"{part} steady"], results[f"{part} alone"]
        assert steady.accuracy >= STEADY_MIN[part], part
        assert alone.accuracy >= ALONE_MIN[part], part
    tune = results["tune steady"]
    assert tune.false_alarm_rate <= 0.05
    assert all(tune.recall(label) >= 0.75 for label in tune.labels), tune.render("tune steady")
    assert results["held-out steady"].false_alarm_rate <= 0.13


def test_the_field_failure_modes_against_the_reference(tune_checks: tuple[vqd_cameras.Check, ...]) -> None:
    # Each failure mode reported from the field, on the tune cameras in the steady state: dusk and IR night are not
    # dark, a colour cast nor another scene; a passer-by is not a scene change; a near-lens textured cover is
    # occlusion; a knocked camera a scene change; rolling bands stripes.
    expected = {
        "dusk": "healthy",
        "ir_night": "healthy",
        "passer_by": "healthy",
        "chessboard": "healthy",
        "textured_cover": "occlusion",
        "knocked": "scene_change",
        "rolling_bands": "stripes",
    }
    right: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for check, frame, previous, reference in vqd_cameras.protocol(tune_checks, "steady"):
        if check.kind not in expected:
            continue
        assert check.expected == expected[check.kind]
        got = diagnose(decode(frame), decode(previous) if previous else None, decode(reference) if reference else None)
        total[check.kind] += 1
        right[check.kind] += str(got.labels[0]) == check.expected
    # All of them but the odd one (rolling bands over a plain, dim picture: 12 of 14).
    assert all(right[kind] >= total[kind] - 2 for kind in expected), (right, total)
    assert sum(right.values()) >= sum(total.values()) - 3, (right, total)


def test_a_knocked_camera_shows_against_the_previous_check_alone(tune_checks: tuple[vqd_cameras.Check, ...]) -> None:
    # Before a reference exists, the previous check is all there is: the knocked camera is one clear shift of the
    # whole picture; a passer-by, dusk and the IR switch shift nothing.
    pair = evaluate(tune_checks, "pair")
    print()
    print(pair.render("tune cameras, previous check only"))
    assert pair.recall("scene_change") >= 0.9
    passers = [c for c in vqd_cameras.protocol(tune_checks, "pair") if c[0].kind in ("passer_by", "dusk", "ir_night")]
    for check, frame, previous, _ in passers:
        got = diagnose(decode(frame), decode(previous) if previous else None)
        assert got.labels[0] is not Label.SCENE_CHANGE, (check.camera, check.kind, got.metrics)


def test_a_repeat_re_encoded_at_another_quality_is_frozen(tune_checks: tuple[vqd_cameras.Check, ...]) -> None:
    # A recorder repeating its last picture at another quality changes the median cell about as much as a live
    # static scene's sensor noise (0.6-0.93 here against 0.97-1.2): requantising the previous frame with the current
    # one's DC step tells them apart. The live static check of the same cameras stays healthy.
    cameras = ("camera", "motorcycle_left", "coins", "page")
    for check, frame, previous, reference in vqd_cameras.protocol(tune_checks, "steady"):
        if check.camera not in cameras or check.kind not in ("reencoded_frozen", "healthy_static"):
            continue
        assert previous is not None
        assert reference is not None
        got = diagnose(decode(frame), decode(previous), decode(reference))
        assert str(got.labels[0]) == check.expected, (check.camera, check.kind, got.metrics)
        assert got.metrics["change"] > Thresholds().reencoded_change_max  # not the cheap measure's finding
