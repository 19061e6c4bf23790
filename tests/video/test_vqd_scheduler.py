"""The scheduler on real sequences (tests/video/vqd_cameras.py pictures): dusk, IR night mode and people going past
never open a camera fault; a covered lens and a knocked camera do. Checks run through `CameraChecker.check` with a
grabber that hands out the sequence, and the fault count is the hub's own (`hub.health.camera_check`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from pydantic import TypeAdapter

from hub.config import CameraSource
from hub.core.clock import SystemClock
from hub.health.model import Trouble, camera_check
from tests.video import vqd_cameras, vqd_set
from video.diagnosis import decode
from video.probe import Grab
from video.references import References, Regime, regime
from video.scheduler import CameraChecker
from video.store import SnapshotFiles

# Real sequences built from the picture sets: the full tier.
pytestmark = pytest.mark.slow

SOURCE: TypeAdapter[CameraSource] = TypeAdapter(CameraSource)
START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
FAIL_AFTER = 3  # the hub's default video.fail_after_checks


def _jpeg(image: np.ndarray, at: datetime) -> bytes:
    return vqd_set.encode(vqd_set.overlay(image, at, "top"))


def _day(camera: str, rng: np.random.Generator, offset: int = 0) -> np.ndarray:
    return vqd_set.sensor_noise(vqd_cameras.view(camera, offset), rng, float(rng.uniform(1.0, 2.5)))


def _run(tmp_path: Path, frames: list[np.ndarray]) -> tuple[list[list[str]], bool, CameraChecker]:
    """Check the frames in order; the labels of each check and whether a camera fault was ever open."""
    pictures = iter(frames)
    source = SOURCE.validate_python({"kind": "file", "path": str(tmp_path / "unused.jpg")})

    def grabber(_: CameraSource) -> Grab:
        data = _jpeg(next(pictures), START)
        return Grab(data, decode(data), None, 0.0)

    published: list[dict[str, Any]] = []

    def publish(_: str, payload: dict[str, Any]) -> bool:
        published.append(payload)
        return True

    checker = CameraChecker(
        [("cam-1", source)],
        SnapshotFiles(tmp_path / "snapshots"),
        publish,
        SystemClock(),
        interval_s=300,
        concurrency=1,
        grabber=grabber,
    )
    failures, troubles, opened = 0, frozenset[Trouble](), False
    for _ in frames:
        checker.check("cam-1")
        failures, troubles = camera_check(failures, troubles, published[-1]["labels"], FAIL_AFTER)
        opened |= Trouble.CAMERA_CHECK in troubles
    return [p["labels"] for p in published], opened, checker


def _day_to_night(camera: str, seed: int) -> Iterator[np.ndarray]:
    """A day of checks: daylight, a passer-by, dusk falling, the IR switch, IR night, dawn back to daylight."""
    rng = np.random.default_rng(seed)
    for _ in range(3):
        yield _day(camera, rng)
    yield vqd_cameras.passer_by(vqd_cameras.view(camera), rng, ())
    for _ in range(4):
        yield vqd_cameras.dusk(vqd_cameras.view(camera), rng, ())
    for _ in range(4):
        yield vqd_cameras.ir_night(vqd_cameras.view(camera), rng, ())
    yield vqd_cameras.passer_by(vqd_cameras.view(camera), rng, ())  # (in colour: the IR cut filter is back)
    for _ in range(2):
        yield _day(camera, rng)


@pytest.mark.parametrize("camera", ["cincinnati-bridge", "camera", "coffee"])
def test_dusk_ir_night_and_passers_by_never_open_a_fault(tmp_path: Path, camera: str) -> None:
    labels, opened, checker = _run(tmp_path, list(_day_to_night(camera, 3)))
    assert not opened, labels
    # Each light regime got a reference of its own from its healthy checks.
    assert set(checker.view("cam-1")["references"]) == {"day", "dusk", "ir"}, labels


@pytest.mark.parametrize("camera", ["street-a", "street-b"])
def test_people_and_bikes_going_past_a_street_camera_never_open_a_fault(tmp_path: Path, camera: str) -> None:
    # Real consecutive frames of a street (bikes.mp4): people and bikes cross the picture from check to check, and
    # the handheld camera drifts by up to 1 % of the width within each of these stretches of 24 frames.
    rng = np.random.default_rng(4)
    labels, opened, _ = _run(tmp_path, [_day(camera, rng, offset) for offset in range(0, 24, 2)])
    assert not opened, labels


@pytest.mark.parametrize("fault", ["textured_cover", "knocked", "mild_defocus"])
def test_a_covered_knocked_or_defocused_camera_opens_a_fault(tmp_path: Path, fault: str) -> None:
    rng = np.random.default_rng(5)
    degrade = vqd_cameras.FIELD[fault][1]
    textures = ("chelsea", "astronaut")
    healthy = [_day("cincinnati-bridge", rng) for _ in range(2)]
    broken = [degrade(vqd_cameras.view("cincinnati-bridge"), np.random.default_rng(6), textures) for _ in range(3)]
    labels, opened, _ = _run(tmp_path, healthy + broken)
    assert labels[:2] == [["healthy"], ["healthy"]]
    assert opened, labels


def test_light_regimes() -> None:
    rng = np.random.default_rng(7)
    day = vqd_cameras.view("cincinnati-bridge")
    references = References()
    references.reset(np.clip(day, 0, 255).astype(np.uint8))
    assert references.regimes() == ["day"]
    # Dusk fades the colours of the camera's own daytime picture (this one is dim: mean 69 of 255, as bright as dusk).
    assert references.light(np.clip(_day("cincinnati-bridge", rng), 0, 255).astype(np.uint8)) is Regime.DAY
    dusk = vqd_cameras.dusk(day, rng, ())
    assert references.light(np.clip(dusk, 0, 255).astype(np.uint8)) is Regime.DUSK
    ir = vqd_cameras.ir_night(day, rng, ())
    assert regime(np.clip(ir, 0, 255).astype(np.uint8)) is Regime.IR
    # A JPEG round trip leaves a monochrome picture monochrome.
    decoded = decode(_jpeg(ir, START + timedelta(hours=12)))
    assert decoded is not None
    assert regime(cv2.cvtColor(cv2.cvtColor(decoded, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)) is Regime.IR
    assert regime(decoded) is Regime.IR
