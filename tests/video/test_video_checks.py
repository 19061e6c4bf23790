"""The pure parts of camera checks: the failing-check count that opens a camera_check fault, what may become a
reference frame, and the health payload the hub publishes (which its own adapter must accept)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter

from device_adapters import Channel, DeviceKind, PayloadError, parse_message
from hub.config import CameraSource
from hub.core.clock import SystemClock
from hub.health.model import Trouble, camera_check
from tests.conftest import wait_until
from tests.video.cameras import HungServer
from video.diagnosis import Diagnosis, Label
from video.scheduler import CameraChecker, fit_for_reference, health_payload
from video.store import SnapshotFiles

SOURCE: TypeAdapter[CameraSource] = TypeAdapter(CameraSource)

NOW = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
NONE: frozenset[Trouble] = frozenset()


def test_a_fault_needs_n_failures_in_a_row_and_one_healthy_result_clears_it() -> None:
    failures, troubles = 0, NONE
    for expected in (1, 2):
        failures, troubles = camera_check(failures, troubles, ["blur"], 3)
        assert (failures, troubles) == (expected, NONE)
    failures, troubles = camera_check(failures, troubles, ["black", "dark"], 3)
    assert (failures, troubles) == (3, frozenset({Trouble.CAMERA_CHECK}))
    failures, troubles = camera_check(failures, troubles, ["frozen"], 3)
    assert (failures, troubles) == (4, frozenset({Trouble.CAMERA_CHECK}))
    assert camera_check(failures, troubles | {Trouble.TAMPER}, ["healthy"], 3) == (0, frozenset({Trouble.TAMPER}))
    # A healthy result in between starts the count again.
    assert camera_check(camera_check(2, NONE, ["healthy"], 3)[0], NONE, ["blur"], 3) == (1, NONE)
    assert camera_check(0, NONE, ["no_signal"], 1) == (1, frozenset({Trouble.CAMERA_CHECK}))


@pytest.mark.parametrize(
    ("labels", "fit"),
    [
        ((Label.HEALTHY,), True),
        ((Label.SCENE_CHANGE,), True),  # re-aimed on purpose: the new view may become the reference
        ((Label.BLUR,), False),
        ((Label.SCENE_CHANGE, Label.DARK), False),
        ((Label.NO_SIGNAL,), False),
    ],
)
def test_only_a_sound_frame_may_become_the_reference(labels: tuple[Label, ...], fit: bool) -> None:
    assert fit_for_reference(Diagnosis(labels, {})) is fit


def test_the_hubs_payload_is_accepted_by_its_own_adapter() -> None:
    payload = health_payload(
        "cam-1", Diagnosis((Label.BLUR, Label.DARK), {"mean": 31.5, "bad": float("nan")}), NOW, True
    )
    assert payload["snapshot"] == "/api/v1/cameras/cam-1/snapshot"
    assert payload["metrics"] == {"mean": 31.5}  # a non-finite figure would be refused as a whole
    event = parse_message("cam-1", DeviceKind.CAMERA, Channel.HEALTH, json.dumps(payload).encode(), NOW, 65536)
    assert event.data["labels"] == ["blur", "dark"]
    assert event.data["source"] == "hub"
    assert event.occurred_at == NOW


@pytest.mark.parametrize(
    "payload",
    [
        {"labels": []},
        {"labels": ["healthy", "blur"]},
        {"labels": ["blur", "blur"]},
        {"labels": ["smudge"]},
        {"labels": ["blur"], "source": "nvr"},
        {"labels": ["blur"], "storage_free_gb": -1},
        {"metrics": {}},
    ],
)
def test_health_payloads_that_say_nothing_clear_are_invalid(payload: dict[str, object]) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_message("cam-1", DeviceKind.CAMERA, Channel.HEALTH, json.dumps(payload).encode(), NOW, 65536)
    assert caught.value.reason.value == "invalid_payload"


def test_checks_run_bounded_by_the_concurrency_and_never_block_the_api(tmp_path: Path) -> None:
    with HungServer() as hung:
        source = SOURCE.validate_python(
            {"kind": "http_snapshot", "url": f"http://127.0.0.1:{hung.port}/snap.jpg", "timeout_s": 1.0}
        )
        published: list[tuple[str, dict[str, Any]]] = []

        def publish(camera_id: str, payload: dict[str, Any]) -> bool:
            published.append((camera_id, payload))
            return True

        checker = CameraChecker(
            [(f"cam-{i}", source) for i in range(4)],
            SnapshotFiles(tmp_path / "snapshots"),
            publish,
            SystemClock(),
            interval_s=3600,
            concurrency=2,
        )
        started = time.monotonic()
        running = threading.Thread(target=checker.run_once)
        running.start()
        assert wait_until(lambda: len(hung.accepted) >= 2, 2)
        asked = time.monotonic()
        assert checker.view("cam-0")["last_error"] is None  # answered while the grabs hang
        assert time.monotonic() - asked < 0.1
        assert len(hung.accepted) == 2, "more grabs ran at once than the concurrency allows"
        running.join(10)
        elapsed = time.monotonic() - started
    # Four hung cameras, two at a time, one second each: two rounds.
    assert 1.8 <= elapsed < 3.5, f"{elapsed:.2f} s"
    assert sorted(c for c, _ in published) == ["cam-0", "cam-1", "cam-2", "cam-3"]
    assert {tuple(p["labels"]) for _, p in published} == {("no_signal",)}
    assert all(p["snapshot"] is None for _, p in published)
    assert checker.view("cam-0")["last_error"] is not None
