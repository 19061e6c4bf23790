"""Alarm evidence: when an alarm opens, snapshots of the device's linked cameras, grabbed in parallel on a budget.

`collect` is the whole job for one alarm (grab every camera at once, keep what arrived within the budget as a
file and a row); `EvidenceWorker` runs it off the ingest thread from a bounded queue. The alarm itself never
waits for evidence: it is forwarded at once, and evidence joins it when it is stored.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hub.config import CameraSource
from hub.core.clock import Clock, to_iso
from hub.core.worker import Worker
from video.probe import Grab, grab
from video.store import SnapshotFiles, VideoStore, evidence_url

log = logging.getLogger(__name__)

Grabber = Callable[[CameraSource, float], Grab]
Notify = Callable[[str, Mapping[str, Any]], Any]


@dataclass(frozen=True, slots=True)
class Evidence:
    camera_id: str
    captured_at: str
    url: str

    def as_json(self) -> dict[str, str]:
        return {"camera_id": self.camera_id, "captured_at": self.captured_at, "url": self.url}


def grab_all(sources: Mapping[str, CameraSource], budget_s: float, grabber: Grabber = grab) -> dict[str, Grab]:
    """Grab every source at once; whatever has not answered when the budget is spent is left out."""
    results: dict[str, Grab] = {}
    lock = threading.Lock()

    def one(camera_id: str, source: CameraSource) -> None:
        result = grabber(source, budget_s)
        with lock:
            results[camera_id] = result

    deadline = time.monotonic() + budget_s
    threads = [
        threading.Thread(target=one, args=(cid, src), name=f"evidence-{cid}", daemon=True)
        for cid, src in sources.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0))
    with lock:
        return dict(results)


def collect(
    alarm_id: str,
    sources: Mapping[str, CameraSource],
    files: SnapshotFiles,
    store: VideoStore,
    clock: Clock,
    budget_s: float,
    grabber: Grabber = grab,
) -> list[Evidence]:
    """Snapshots of `sources` for one alarm, stored as files and rows; returns what was stored."""
    stored: list[Evidence] = []
    for camera_id, result in sorted(grab_all(sources, budget_s, grabber).items()):
        if result.jpeg is None:
            log.warning("alarm %s: no evidence from camera %s: %s", alarm_id, camera_id, result.error)
            continue
        captured_at = clock.now()
        path = files.evidence(alarm_id, camera_id)
        files.write(path, result.jpeg)
        store.add_evidence(alarm_id, camera_id, captured_at, str(path.relative_to(files.root)))
        stored.append(Evidence(camera_id, to_iso(captured_at), evidence_url(alarm_id, camera_id)))
    missing = sorted(set(sources) - {e.camera_id for e in stored})
    if missing:
        log.warning("alarm %s: no evidence within %.1f s from %s", alarm_id, budget_s, ", ".join(missing))
    return stored


class EvidenceWorker:
    """Collects evidence for newly opened alarms in one background thread, from a bounded queue."""

    def __init__(
        self,
        sources: Mapping[str, CameraSource],
        files: SnapshotFiles,
        store: VideoStore,
        clock: Clock,
        notify: Notify,
        *,
        budget_s: float,
        queue_size: int = 256,
        grabber: Grabber = grab,
        on_thread_exit: Callable[[], None] = lambda: None,
    ) -> None:
        self._sources = dict(sources)
        self._files = files
        self._store = store
        self._clock = clock
        self._notify = notify
        self._budget = budget_s
        self._grabber = grabber
        # Bounded: evidence is a help, not the alarm. When it is full the alarm still stands and goes out.
        self._queue: queue.Queue[str] = queue.Queue(queue_size)
        # A grab is bounded by its budget: longer than that and more is stuck.
        self.worker = Worker(
            "evidence", self._take_one, on_thread_exit=on_thread_exit, stuck_after_s=max(60.0, budget_s * 5)
        )
        self._running = False

    def start(self) -> None:
        if self._sources and not self._running:
            self._running = True
            self.worker.start()

    def stop(self) -> None:
        if self._running:
            self.worker.stop(self._budget + 5.0)
            self._running = False

    def submit(self, alarm_id: str) -> bool:
        """Queue an alarm without blocking (called on the ingest thread); False when none was queued."""
        if not self._running:
            return False
        try:
            self._queue.put_nowait(alarm_id)
        except queue.Full:
            log.error("alarm %s: evidence queue full; no snapshots for it (the alarm itself is unaffected)", alarm_id)
            return False
        return True

    def _take_one(self) -> float:
        """One queued alarm's evidence (the worker logs and counts a failure and goes on with the next)."""
        try:
            alarm_id = self._queue.get(timeout=0.2)
        except queue.Empty:
            return 0.0
        self._one(alarm_id)
        return 0.0

    def _one(self, alarm_id: str) -> None:
        sources = {c: self._sources[c] for c in self._store.alarm_cameras(alarm_id) if c in self._sources}
        if not sources:
            return
        stored = collect(alarm_id, sources, self._files, self._store, self._clock, self._budget, self._grabber)
        if stored:
            self._notify("alarm_evidence", {"alarm_id": alarm_id, "evidence": [e.as_json() for e in stored]})
