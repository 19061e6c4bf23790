"""Picture diagnosis, measured: the labelled set of real photographs (tests/video/vqd_set.py) and focused unit checks.

The set is split by photograph: TUNE photographs were looked at while choosing the thresholds, HOLDOUT ones never
were; both are reported (per-label precision and recall, exact-match accuracy), with `pytest -s` to see the tables.
The hard scenes (facades, railings, sky, walls, night; tests/video/vqd_set.py `draw_hard`) are scored the same way, and
their healthy checks alone and against a reference give the false-alarm rates.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.video import vqd_set
from tests.video.vqd_set import CROP_HOLDOUT, CROP_TUNE, HARD_HOLDOUT, HARD_TUNE, HOLDOUT, LABELS, TUNE, Sample
from video.diagnosis import Diagnosis, Label, decode, diagnose, prepare

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Scores:
    samples: int
    exact: int
    healthy: int
    false_alarms: int
    table: dict[str, tuple[int, int, int]]  # label -> (true positives, false positives, false negatives)
    misses: list[str]

    @property
    def accuracy(self) -> float:
        return self.exact / self.samples

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / max(1, self.healthy)

    def render(self, title: str) -> str:
        lines = [
            f"{title}: {self.samples} samples, exact accuracy {self.accuracy:.3f}, healthy false alarms "
            f"{self.false_alarms}/{self.healthy} ({self.false_alarm_rate:.1%})",
            f"  {'label':<13} {'precision':>9} {'recall':>7} {'support':>8}",
        ]
        for label in LABELS:
            tp, fp, fn = self.table[label]
            precision = tp / (tp + fp) if tp + fp else float("nan")
            recall = tp / (tp + fn) if tp + fn else float("nan")
            lines.append(f"  {label:<13} {precision:>9.2f} {recall:>7.2f} {tp + fn:>8}")
        lines += [f"  wrong: {miss}" for miss in self.misses]
        return "\n".join(lines)


def _check(sample: Sample) -> Diagnosis:
    return diagnose(
        decode(sample.frame),
        decode(sample.previous) if sample.previous else None,
        decode(sample.reference) if sample.reference else None,
    )


def score(samples: list[Sample]) -> Scores:
    counts: Counter[tuple[str, str]] = Counter()
    exact = healthy = false_alarms = 0
    misses = []
    for sample in samples:
        got = {str(label) for label in _check(sample).labels}
        exact += got == sample.expected
        if sample.expected == {"healthy"}:
            healthy += 1
            false_alarms += got != {"healthy"}
        if got != sample.expected:
            misses.append(f"{sample.name}{' +ref' if sample.reference else ''}: {sorted(got)}")
        for label in LABELS:
            counts[label, "tp"] += label in got and label in sample.expected
            counts[label, "fp"] += label in got and label not in sample.expected
            counts[label, "fn"] += label not in got and label in sample.expected
    table = {label: (counts[label, "tp"], counts[label, "fp"], counts[label, "fn"]) for label in LABELS}
    return Scores(len(samples), exact, healthy, false_alarms, table, misses)


@pytest.fixture(scope="module")
def tune_set() -> list[Sample]:
    return list(vqd_set.samples(TUNE))


@pytest.fixture(scope="module")
def holdout_set() -> list[Sample]:
    return list(vqd_set.samples(HOLDOUT))


def test_labelled_set_accuracy_and_false_alarms(tune_set: list[Sample], holdout_set: list[Sample]) -> None:
    tune, holdout, both = score(tune_set), score(holdout_set), score(tune_set + holdout_set)
    print()
    print(tune.render("tune photographs"))
    print(holdout.render("held-out photographs (never used while tuning)"))
    print(both.render("all").split("\n  wrong")[0])
    assert tune.accuracy >= 0.9
    # A regression bound for the held-out photographs: measured 0.910 (0.880 before blur without a reference was
    # judged by edge widths; 0.887 before the no-reference checks were made more conservative).
    assert holdout.accuracy >= 0.90
    assert both.false_alarm_rate <= 0.05
    # Every label is exercised and found at least once.
    assert all(both.table[label][0] > 0 for label in LABELS)


# Regression bounds, measured: healthy hard scenes alone falsely alarm 1/46 (tune) and 3/42 (held-out), against a
# reference 0; the hard scenes with every fault score 0.874 (tune) and 0.851 (held-out), their healthy kinds falsely
# alarm 0/54 and 1/54. (Before the noise check asked for white noise and blur for wide edges without a reference:
# 5/46, 4/42; 0.851, 0.830; 1/54, 3/54: a yard of grass or gravel filling the frame read as noise, zoomed brick as
# blur.)
TUNE_ALONE_MAX = 0.03
HOLDOUT_ALONE_MAX = 0.075
HARD_TUNE_ACCURACY_MIN = 0.87
HARD_HOLDOUT_ACCURACY_MIN = 0.845


@pytest.fixture(scope="module")
def hard_healthy() -> dict[str, list[Sample]]:
    return {
        "tune": list(vqd_set.hard_healthy(HARD_TUNE, CROP_TUNE)),
        "held-out": list(vqd_set.hard_healthy(HARD_HOLDOUT, CROP_HOLDOUT)),
    }


def test_hard_healthy_scenes_rarely_alarm_without_a_reference(hard_healthy: dict[str, list[Sample]]) -> None:
    # Facades with rows of windows, railings, brick, tiles, corridors, large sky, blank walls, grass and gravel, lit
    # night scenes, and zoomed crops of the photographs: each checked alone and against a reference.
    print()
    rates = {}
    for split, samples in hard_healthy.items():
        alone = score([s for s in samples if s.reference is None])
        against = score([s for s in samples if s.reference is not None])
        print(
            f"hard healthy, {split}: false alarms alone {alone.false_alarms}/{alone.healthy}"
            f" ({alone.false_alarm_rate:.1%}), with a reference {against.false_alarms}/{against.healthy}"
        )
        print("\n".join(f"  wrong: {miss}" for miss in alone.misses + against.misses))
        rates[split] = (alone.false_alarm_rate, against.false_alarm_rate)
    assert rates["tune"][0] <= TUNE_ALONE_MAX
    assert rates["held-out"][0] <= HOLDOUT_ALONE_MAX
    assert rates["tune"][1] == rates["held-out"][1] == 0.0


def test_hard_scenes_with_every_fault(hard_healthy: dict[str, list[Sample]]) -> None:
    # The same hard scenes with every degradation (tests/video/vqd_set.py `samples`): recall on scenes that look like
    # faults, and the healthy kinds of those scenes (with and without reference) among them.
    tune, holdout = score(list(vqd_set.samples(HARD_TUNE))), score(list(vqd_set.samples(HARD_HOLDOUT)))
    print()
    print(tune.render("hard scenes, tune seeds"))
    print(holdout.render("hard scenes, held-out seeds").split("\n  wrong")[0])
    assert tune.accuracy >= HARD_TUNE_ACCURACY_MIN
    assert holdout.accuracy >= HARD_HOLDOUT_ACCURACY_MIN
    assert tune.false_alarm_rate <= 0.02
    assert holdout.false_alarm_rate <= 0.04


def _clean(name: str = "astronaut") -> np.ndarray:
    return vqd_set.photo(name)


def _jpeg(image: np.ndarray) -> np.ndarray:
    decoded = decode(vqd_set.encode(image))
    assert decoded is not None
    return decoded


def _noisy(image: np.ndarray, seed: int, sigma: float = 2.0) -> np.ndarray:
    return image + np.random.default_rng(seed).normal(0, sigma, image.shape).astype(np.float32)


AT = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)


def _scene(kind: str, seed: int = 5) -> np.ndarray:
    return _noisy(vqd_set.photo(f"{kind}-{seed}"), seed)


def test_interference_is_stripes_without_a_reference_but_windows_and_brick_are_not() -> None:
    for kind in ("facade", "brick", "fence", "tiles"):
        result = diagnose(_jpeg(vqd_set.overlay(_scene(kind), AT)))
        assert result.labels == (Label.HEALTHY,), (kind, result.metrics)
    # Bars over a sky, a wall, a corridor: a sinusoid over the whole picture, plain areas included. (Over a facade
    # filling the frame its own windows' pattern hides them without a reference.)
    for kind in ("sky", "wall", "corridor"):
        barred = vqd_set.stripes(_scene(kind), np.random.default_rng(1))
        result = diagnose(_jpeg(vqd_set.overlay(barred, AT)))
        assert result.labels == (Label.STRIPES,), (kind, result.metrics)
        assert result.metrics["stripes_spread"] >= 0.9


def test_a_night_scene_brightened_by_the_ir_switch_is_not_stripes_against_its_dark_reference() -> None:
    # Brighter than its reference (dusk's or the IR lamp's gain on a night scene), the facade's rows of windows stand
    # out of the spectrum where the reference hardly had them; real bars over the same picture are still stripes.
    from tests.video.vqd_cameras import dusk, ir_night

    for seed in (1, 3):  # tuning seeds
        night = _scene("night", seed)
        reference = _jpeg(vqd_set.overlay(_noisy(night, seed + 10), AT))
        for light in (dusk, ir_night):
            lit = light(night, np.random.default_rng(seed), ())
            result = diagnose(_jpeg(lit), None, reference)
            assert result.labels == (Label.HEALTHY,), (seed, light.__name__, result.metrics)
            barred = vqd_set.stripes(lit, np.random.default_rng(seed))
            result = diagnose(_jpeg(barred), None, reference)
            assert result.labels == (Label.STRIPES,), (seed, light.__name__, result.metrics)


def test_grass_filling_the_frame_is_not_noise_but_grey_noise_over_a_wall_is() -> None:
    # A yard of grass and gravel has no flat half to measure sensor noise in; its texture, a pixel or two across, does
    # not halve when the picture does, white noise does. Grey noise (the same in every channel) leaves the colour
    # differences clean, so only the luminance measure can find it.
    for seed in (5, 6, 7, 8):
        result = diagnose(_jpeg(vqd_set.overlay(_scene("ground", seed), AT)))
        assert result.labels == (Label.HEALTHY,), (seed, result.metrics)
        assert result.metrics["noise_scaling"] > 1.2
        assert result.metrics["white_noise"] < 1.0
    for kind, sigma in (("wall", 10.0), ("facade", 10.0), ("gravel", 12.0)):
        # (Gravel's own texture adds to the noise at both widths: only the white part of the mixture counts.)
        scene = _scene(kind) if kind in vqd_set.HARD else _noisy(vqd_set.photo(kind), 4)
        grey = np.random.default_rng(3).normal(0, sigma, scene.shape[:2]).astype(np.float32)[..., None]
        result = diagnose(_jpeg(vqd_set.overlay(scene + grey, AT)))
        assert result.labels == (Label.NOISE,), (kind, result.metrics)
        assert result.metrics["chroma_noise"] < 1.0
        assert result.metrics["white_noise"] >= 4.5


def test_zoomed_brick_is_not_blur_without_a_reference_but_defocus_is() -> None:
    # A digital zoom onto a brick wall is soft all over (little fine detail: the fine-over-mid-band sharpness is as
    # low as a defocused picture's), but its mortar lines are still steep edges; defocus widens every edge.
    for seed in range(4):
        zoomed = vqd_set.crop("brick", np.random.default_rng(seed))
        result = diagnose(_jpeg(vqd_set.overlay(_noisy(zoomed, seed), AT)))
        assert result.labels == (Label.HEALTHY,), (seed, result.metrics)
        assert result.metrics["sharpness"] < 0.25
    for name in ("coffee", "camera", "chelsea"):
        for degrade in (vqd_set.defocus, vqd_set.gaussian_blur):
            blurred = degrade(vqd_set.photo(name), np.random.default_rng(2))
            result = diagnose(_jpeg(vqd_set.overlay(_noisy(blurred, 3), AT)))
            assert result.labels == (Label.BLUR,), (name, degrade.__name__, result.metrics)
            assert result.metrics["edge_slope"] < 0.18


def test_motion_blur_without_a_reference_is_wide_edges_one_way_only() -> None:
    # Motion blur leaves the edges along its direction steep and widens those across it: the overall edge width
    # can look in focus (the steep ones are the strongest), the orientation across the steepest gives it away.
    for name in ("coffee", "camera", "coins"):
        streaked = vqd_set.motion_blur(vqd_set.photo(name), np.random.default_rng(2))
        result = diagnose(_jpeg(vqd_set.overlay(_noisy(streaked, 3), AT)))
        assert result.labels == (Label.BLUR,), (name, result.metrics)
        assert result.metrics["edge_slope_steepest"] >= 2 * result.metrics["edge_slope_across"]
    # A wall, a facade, a corridor in focus: steep edges both ways.
    for kind in ("wall", "facade", "corridor"):
        result = diagnose(_jpeg(vqd_set.overlay(_scene(kind), AT)))
        assert result.labels == (Label.HEALTHY,), (kind, result.metrics)
        assert result.metrics["edge_slope_across"] > 0.4


def _left_hand(image: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """An out-of-focus surface entering from the left edge over about half the picture."""
    outline = np.zeros(image.shape[:2], np.float32)
    cv2.ellipse(outline, (0, 360), (700, 520), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(outline, (0, 0), 6.0)[..., None]
    return _noisy(image * (1 - mask) + np.array(colour, np.float32) * mask, 7)


def test_sky_walls_and_floors_are_not_occlusion_without_a_reference_but_a_hand_is() -> None:
    for kind in ("sky", "wall", "corridor", "night"):
        result = diagnose(_jpeg(vqd_set.overlay(_scene(kind), AT, "bottom")))
        assert result.labels == (Label.HEALTHY,), (kind, result.metrics)
    for kind, colour in (("sky", (80, 110, 170)), ("facade", (200, 200, 205)), ("corridor", (60, 70, 90))):
        covered = _left_hand(_scene(kind), colour)
        result = diagnose(_jpeg(vqd_set.overlay(covered, AT)))
        assert result.labels == (Label.OCCLUSION,), (kind, result.metrics)


def test_static_scene_with_sensor_noise_is_not_frozen() -> None:
    clean = _clean("coins")
    previous = _jpeg(vqd_set.overlay(_noisy(clean, 1), AT))
    frame = _jpeg(vqd_set.overlay(_noisy(clean, 2), AT + timedelta(seconds=10)))
    result = diagnose(frame, previous)
    assert result.labels == (Label.HEALTHY,), result.metrics
    assert result.metrics["frozen_cells"] < 0.2


def test_only_the_clock_moving_is_frozen() -> None:
    base = _noisy(_clean("chelsea"), 3)
    previous = _jpeg(vqd_set.overlay(base, AT))
    frame = _jpeg(vqd_set.overlay(base, AT + timedelta(seconds=10)))
    assert not np.array_equal(frame, previous)  # the clock did change the pixels
    assert diagnose(frame, previous).labels == (Label.FROZEN,)


@pytest.mark.parametrize("where", ["top", "bottom"])
def test_clock_overlay_does_not_hide_blur(where: str) -> None:
    clean = _clean("motorcycle_left")
    reference = _jpeg(vqd_set.overlay(_noisy(clean, 4), AT, where))
    blurred = cv2.GaussianBlur(clean, (0, 0), 6.0)
    frame = _jpeg(vqd_set.overlay(_noisy(blurred, 5), AT + timedelta(days=1), where))
    assert Label.BLUR in diagnose(frame, reference=reference).labels
    sharp = _jpeg(vqd_set.overlay(_noisy(clean, 6), AT + timedelta(days=1), where))
    assert diagnose(sharp, reference=reference).labels == (Label.HEALTHY,)


def test_blur_is_judged_against_the_cameras_own_reference() -> None:
    # A naturally soft scene passes against its own reference; the same softness after defocus fails.
    clean = cv2.GaussianBlur(_clean("coffee"), (0, 0), 1.5)
    reference = _jpeg(_noisy(clean, 7))
    assert diagnose(_jpeg(_noisy(clean, 8)), reference=reference).labels == (Label.HEALTHY,)
    assert diagnose(_jpeg(cv2.GaussianBlur(clean, (0, 0), 6.0)), reference=reference).labels == (Label.BLUR,)


def test_prepared_frames_diagnose_like_decoded_ones(tune_set: list[Sample]) -> None:
    # The scheduler keeps prepare()d frames (previous, reference) and diagnoses prepared frames: same labels, and
    # a full-size frame is brought to the same working size.
    for sample in tune_set[::7]:
        frame = decode(sample.frame)
        assert frame is not None
        reference = decode(sample.reference) if sample.reference else None
        prepared = diagnose(prepare(frame), None, prepare(reference) if reference is not None else None)
        assert prepared.labels == diagnose(frame, None, reference).labels, sample.name
    full = cv2.imdecode(np.frombuffer(tune_set[0].frame, np.uint8), cv2.IMREAD_COLOR)
    assert full is not None
    assert full.shape[1] == 1280
    assert prepare(full).shape == (360, 640, 3)


def test_undecodable_bytes_are_no_signal() -> None:
    assert decode(b"") is None
    assert decode(b"\xff\xd8\xff\xe0 definitely not a jpeg") is None
    result = diagnose(None)
    assert result.labels == (Label.NO_SIGNAL,)
    assert not result.ok
    assert result.as_json() == {"labels": ["no_signal"], "metrics": {}}


def test_healthy_is_alone_and_ok() -> None:
    frame = _jpeg(_noisy(_clean("rocket"), 9))
    result = diagnose(frame)
    assert result.labels == (Label.HEALTHY,)
    assert result.ok
    payload = result.as_json()
    assert payload["labels"] == ["healthy"]
    assert all(isinstance(v, float) for v in payload["metrics"].values())


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and module, arguments from the test
        [sys.executable, "-m", "hub", "camera-check", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )


def test_camera_check_cli_prints_one_json_object(tmp_path: Path) -> None:
    clean = _clean("astronaut")
    (tmp_path / "ref.jpg").write_bytes(vqd_set.encode(_noisy(clean, 10)))
    (tmp_path / "prev.jpg").write_bytes(vqd_set.encode(_noisy(clean, 11)))
    (tmp_path / "dark.jpg").write_bytes(vqd_set.encode(_noisy(clean * 0.15, 12)))
    done = _run_cli(
        str(tmp_path / "dark.jpg"), "--prev", str(tmp_path / "prev.jpg"), "--reference", str(tmp_path / "ref.jpg")
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)  # exactly one JSON document, nothing else on stdout
    assert set(payload) == {"labels", "metrics"}
    assert payload["labels"] == ["dark"]
    assert payload["metrics"]["reference_mean"] > 100


def test_camera_check_cli_unreadable_image_is_no_signal(tmp_path: Path) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    for path in (tmp_path / "broken.jpg", tmp_path / "missing.jpg"):
        done = _run_cli(str(path))
        assert done.returncode == 0
        assert json.loads(done.stdout)["labels"] == ["no_signal"]
        assert str(path) in done.stderr
