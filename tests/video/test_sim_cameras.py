"""The demo's simulated cameras: their pictures pass the picture checks, and covering a lens really fails them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest

from hub.devtools.sim_cameras import CameraServer, draw_scene, snapshot
from video.diagnosis import Label, decode, diagnose


@pytest.fixture
def cameras() -> Iterator[CameraServer]:
    server = CameraServer(["cam-gate", "cam-hall"]).start()
    yield server
    server.stop()


@pytest.mark.parametrize("camera_id", ["cam-gate", "cam-hall"])
def test_a_demo_camera_looks_healthy_alone_and_against_its_reference(cameras: CameraServer, camera_id: str) -> None:
    with httpx.Client(timeout=5) as client:
        shots = [decode(client.get(cameras.url(camera_id)).content) for _ in range(3)]
    reference, previous, frame = shots
    assert diagnose(reference).labels == (Label.HEALTHY,)  # the first check, before any reference exists
    assert diagnose(frame, previous, reference).labels == (Label.HEALTHY,)


@pytest.mark.parametrize("seed", range(12))
def test_every_simulated_street_looks_healthy_alone(seed: int) -> None:
    # Rows of windows, a large sky and a smooth lawn, checked before any reference exists: a false label here would
    # be a permanent false fault, as a static scene fails every check.
    shot = snapshot(
        draw_scene(seed), np.random.default_rng(seed), covered=False, now=datetime(2026, 11, 29, 2, tzinfo=UTC)
    )
    result = diagnose(decode(shot))
    assert result.labels == (Label.HEALTHY,), result.metrics


def test_covering_a_lens_blacks_the_picture_until_uncovered(cameras: CameraServer) -> None:
    with httpx.Client(timeout=5) as client:
        reference = decode(client.get(cameras.url("cam-gate")).content)
        assert client.post(f"http://127.0.0.1:{cameras.port}/cam-gate/cover").status_code == 204
        covered = decode(client.get(cameras.url("cam-gate")).content)
        assert Label.BLACK in diagnose(covered, reference, reference).labels
        assert diagnose(decode(client.get(cameras.url("cam-hall")).content)).labels == (Label.HEALTHY,)
        assert client.post(f"http://127.0.0.1:{cameras.port}/cam-gate/uncover").status_code == 204
        assert diagnose(decode(client.get(cameras.url("cam-gate")).content), None, reference).ok
        assert client.post(f"http://127.0.0.1:{cameras.port}/no-such/cover").status_code == 404
        assert client.get(f"http://127.0.0.1:{cameras.port}/no-such.jpg").status_code == 404
