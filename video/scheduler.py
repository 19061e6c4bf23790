"""Camera checks on a schedule: grab a frame, diagnose it against the previous and the reference frame, publish.

Each camera with a source is checked every `interval_s` (staggered so they do not all fire at once) by a
bounded pool of worker threads, never on the ingest or API threads. The result goes out on MQTT as
`{prefix}/{site}/camera/{id}/health`, so the hub ingests its own checks exactly like a recorder's. The last
frame of each camera stays in memory (for frozen-picture detection); the last snapshot and the reference
frame (taken from the first healthy check, re-taken on request) are JPEG files. Each light regime (day, dusk, IR
night) gets its own reference in memory as well, from healthy checks in it (video/references.py): a check is
judged against its regime's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from hub.config import CameraSource
from hub.core.clock import Clock, to_iso
from hub.core.worker import Worker
from video.diagnosis import Diagnosis, Label, decode, diagnose, prepare
from video.probe import Grab, grab
from video.references import References
from video.store import SnapshotFiles, snapshot_url

log = logging.getLogger(__name__)

# A frame fit to become the reference: a sound picture, even if it no longer matches the old reference.
_REFERENCE_OK = frozenset({Label.HEALTHY, Label.SCENE_CHANGE})

Publish = Callable[[str, dict[str, Any]], bool]
Grabber = Callable[[CameraSource], Grab]


def health_payload(camera_id: str, diagnosis: Diagnosis, at: datetime, has_snapshot: bool) -> dict[str, Any]:
    """The MQTT health payload of one hub check (the contract recorders follow too)."""
    return {
        "ts": to_iso(at),
        "labels": [label.value for label in diagnosis.labels],
        "metrics": {k: round(float(v), 4) for k, v in diagnosis.metrics.items() if np.isfinite(v)},
        "source": "hub",
        "snapshot": snapshot_url(camera_id) if has_snapshot else None,
    }


def fit_for_reference(diagnosis: Diagnosis) -> bool:
    return bool(diagnosis.labels) and set(diagnosis.labels) <= _REFERENCE_OK


@dataclass(slots=True)
class _Camera:
    id: str
    source: CameraSource
    lock: threading.Lock
    next_due: float = 0.0
    previous: np.ndarray | None = None
    reference: np.ndarray | None = None
    reference_at: datetime | None = None
    retake: bool = False
    regimes: References = field(default_factory=References)
    last_jpeg: bytes | None = None
    last_good: bool = False
    checked_at: datetime | None = None
    error: str | None = None


class CameraChecker:
    """Checks every camera with a source on a schedule; `run_once` checks now (tests, maintenance)."""

    def __init__(
        self,
        cameras: Sequence[tuple[str, CameraSource]],
        files: SnapshotFiles,
        publish: Publish,
        clock: Clock,
        *,
        interval_s: float,
        concurrency: int,
        grabber: Grabber = grab,
        ready: Callable[[], bool] = lambda: True,
    ) -> None:
        self._files = files
        self._ready = ready
        self._publish = publish
        self._clock = clock
        self._interval = interval_s
        self._grab = grabber
        self._concurrency = concurrency
        self._cameras = {cid: _Camera(cid, source, threading.Lock()) for cid, source in cameras}
        self._inflight: set[str] = set()
        self._lock = threading.Lock()
        self._state = threading.Lock()  # the frames and results below; held briefly, never across a grab or a write
        # Taking a reference (a check, or a person asking) writes its files and then the frame: one at a time, so
        # the reference on disk and the one in memory stay the same picture.
        self._reference_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        # The schedule's own thread; the grabs run on the pool, each bounded by its source's hard timeout.
        self.worker = Worker("camera-scheduler", self._schedule_once)
        self._running = False
        for camera in self._cameras.values():
            self._load_reference(camera)

    @property
    def camera_ids(self) -> list[str]:
        return list(self._cameras)

    def source(self, camera_id: str) -> CameraSource | None:
        camera = self._cameras.get(camera_id)
        return None if camera is None else camera.source

    def _load_reference(self, camera: _Camera) -> None:
        data = self._files.read(self._files.reference(camera.id))
        frame = decode(data) if data else None
        if frame is not None:
            camera.reference = prepare(frame)
            camera.reference_at = self._files.reference_taken_at(camera.id)
            camera.regimes.reset(camera.reference)

    # --- schedule ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        if not self._cameras or self._running:
            return
        now = self._clock.monotonic()
        # Staggered over one interval, the first right away: a restart re-checks soon without a burst.
        for index, camera in enumerate(self._cameras.values()):
            camera.next_due = now + index * self._interval / len(self._cameras)
        self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="camera-check")
        self._running = True
        self.worker.start()

    def stop(self) -> None:
        if self._running:
            self.worker.stop(5.0)
            self._running = False
        if self._pool is not None:
            # Grabs are bounded by their own hard timeouts; do not wait for one that is abandoned.
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _schedule_once(self) -> float:
        """Submit the cameras that are due; returns how long until the next one is (at most a second)."""
        if not self._ready():
            return 0.2  # results would have nowhere to go (MQTT down): keep the schedule and wait
        now = self._clock.monotonic()
        for camera in self._cameras.values():
            if camera.next_due <= now:
                camera.next_due = now + self._interval
                self._submit(camera.id)  # skipped while its previous check still runs
        upcoming = min((c.next_due for c in self._cameras.values()), default=now + 1.0)
        return min(max(upcoming - now, 0.05), 1.0)

    def _submit(self, camera_id: str) -> Future[Diagnosis | None] | None:
        with self._lock:
            if camera_id in self._inflight or self._pool is None:
                return None
            self._inflight.add(camera_id)
            pool = self._pool
        try:
            return pool.submit(self._checked, camera_id)
        except RuntimeError:  # shut down meanwhile
            with self._lock:
                self._inflight.discard(camera_id)
            return None

    def _checked(self, camera_id: str) -> Diagnosis | None:
        try:
            return self.check(camera_id)
        except Exception:
            # One camera's bug must not stop the others' checks; it is tried again next interval.
            log.exception("camera %s: check failed", camera_id)
            return None
        finally:
            with self._lock:
                self._inflight.discard(camera_id)

    def run_once(self, camera_ids: Iterable[str] | None = None) -> dict[str, Diagnosis]:
        """Check the given cameras (default: all) now, in parallel up to the concurrency, and wait for them."""
        wanted = [c for c in (camera_ids or self._cameras) if c in self._cameras]
        with ThreadPoolExecutor(max(min(self._concurrency, len(wanted)), 1)) as pool:
            results = dict(zip(wanted, pool.map(self.check, wanted), strict=True))
        return results

    # --- one check ---------------------------------------------------------------------------------------------

    def check(self, camera_id: str) -> Diagnosis:
        """Grab, diagnose, keep the frames, publish. Checks of one camera never overlap (frame order matters);
        the state the API reads has its own short lock, so a slow grab never holds up a request."""
        camera = self._cameras[camera_id]
        with camera.lock:
            result = self._grab(camera.source)
            frame = prepare(result.frame) if result.frame is not None else None
            with self._state:
                previous, reference = camera.previous, camera.reference
                light = camera.regimes.light(frame) if frame is not None else None
                if light is not None and camera.regimes.frames:
                    reference = camera.regimes.pick(light)
            diagnosis = diagnose(frame, previous, reference)
            at = self._clock.now()
            if result.error:
                log.info("camera %s: no picture: %s", camera_id, result.error)
            if result.jpeg is not None:
                self._files.write(self._files.latest(camera_id), result.jpeg)
            with self._state:
                camera.checked_at, camera.error = at, result.error
                camera.last_jpeg, camera.last_good = result.jpeg, fit_for_reference(diagnosis)
                take = camera.last_good and (camera.reference is None or camera.retake)
                if frame is not None:
                    camera.previous = frame
                if light is not None and frame is not None and not take:
                    camera.regimes.observe(light, frame, diagnosis.ok)
            if take and frame is not None and result.jpeg is not None:
                self._set_reference(camera, frame, result.jpeg, at)
        payload = health_payload(camera_id, diagnosis, at, result.jpeg is not None)
        if not self._publish(camera_id, payload):
            log.warning("camera %s: health result could not be published (MQTT down?)", camera_id)
        return diagnosis

    def _set_reference(self, camera: _Camera, frame: np.ndarray, jpeg: bytes, at: datetime) -> None:
        with self._reference_lock:
            self._files.save_reference(camera.id, jpeg, at)
            with self._state:
                camera.reference, camera.reference_at, camera.retake = frame, at, False
                camera.regimes.reset(frame)
        log.info("camera %s: reference frame taken at %s", camera.id, to_iso(at))

    def retake_reference(self, camera_id: str) -> datetime | None:
        """Make the last frame the reference if it was sound; otherwise the next sound one. Returns when taken."""
        camera = self._cameras[camera_id]
        with self._state:
            sound = camera.last_good and camera.previous is not None
            frame, jpeg, taken_at = camera.previous, camera.last_jpeg, camera.reference_at
            if not sound:
                camera.retake = True
                camera.next_due = self._clock.monotonic()  # check soon rather than a whole interval later
        if not sound:
            self.worker.wake()
            return None
        if frame is None or jpeg is None:  # a sound frame always comes with its JPEG; nothing to keep otherwise
            return taken_at
        at = self._clock.now()
        self._set_reference(camera, frame, jpeg, at)
        return at

    def view(self, camera_id: str) -> dict[str, Any]:
        """What the hub's own checks know of a camera now (for the API)."""
        camera = self._cameras.get(camera_id)
        if camera is None:
            return {"reference_taken_at": None, "reference_pending": False, "references": [], "last_error": None}
        with self._state:
            return {
                "reference_taken_at": to_iso(camera.reference_at) if camera.reference_at else None,
                "reference_pending": camera.retake,
                # The light regimes with a reference of their own ("day", "dusk", "ir"), for the console.
                "references": camera.regimes.regimes(),
                "last_error": camera.error,
            }
