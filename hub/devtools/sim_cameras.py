"""Simulated cameras for the demo: an ONVIF-style HTTP snapshot server on loopback that draws each camera's scene
(with sensor noise and a burned-in clock, as real cameras have), and lets a person cover a lens to see the picture
checks open a fault: `POST /<camera_id>/cover` and `POST /<camera_id>/uncover`."""

from __future__ import annotations

import threading
import zlib
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

WIDTH, HEIGHT = 1280, 720


def draw_scene(seed: int) -> np.ndarray:
    """A street of school buildings and trees, the same for the same seed (BGR, 1280x720)."""
    rng = np.random.default_rng(seed)
    y = np.mgrid[0:HEIGHT, 0:WIDTH][0].astype(np.float32) / HEIGHT
    img = np.stack([200 - y * 80, 170 - y * 60, 120 - y * 40], axis=-1)
    ground = y > 0.55
    img[ground] = np.array([70, 110, 90], np.float32) + rng.normal(0, 12, (int(ground.sum()), 3))
    img = img.clip(0, 255).astype(np.uint8)
    base = int(HEIGHT * 0.6)
    for _ in range(14):
        x0, width, height = int(rng.integers(0, WIDTH - 200)), int(rng.integers(80, 260)), int(rng.integers(120, 380))
        colour = tuple(int(c) for c in rng.integers(60, 220, 3))
        cv2.rectangle(img, (x0, base - height), (x0 + width, base), colour, -1)
        for wy in range(base - height + 15, base - 20, 35):
            for wx in range(x0 + 10, x0 + width - 20, 30):
                cv2.rectangle(img, (wx, wy), (wx + 14, wy + 18), (40, 40, 60), -1)
    for _ in range(10):
        centre = (int(rng.integers(0, WIDTH)), int(rng.integers(int(HEIGHT * 0.55), HEIGHT)))
        cv2.circle(img, centre, int(rng.integers(20, 60)), (40, int(rng.integers(90, 140)), 40), -1)
    return cv2.GaussianBlur(img, (3, 3), 0)


def snapshot(scene: np.ndarray, rng: np.random.Generator, *, covered: bool, now: datetime) -> bytes:
    """One JPEG as a camera would send it: fresh sensor noise, the clock in the corner; black when covered."""
    frame = np.zeros_like(scene) if covered else (scene + rng.normal(0, 3, scene.shape)).clip(0, 255)
    frame = frame.astype(np.uint8)
    stamp = now.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    cv2.putText(frame, stamp, (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return bytes(jpeg.tobytes())


class CameraServer:
    """Serves `GET /<camera_id>.jpg` for the given cameras on 127.0.0.1; stop() to end."""

    def __init__(self, camera_ids: list[str]) -> None:
        # Seeds from the id, so a camera keeps its scene across demo runs (and its reference stays valid).
        self._scenes = {cid: draw_scene(zlib.crc32(cid.encode("utf-8"))) for cid in camera_ids}
        self._covered: set[str] = set()
        self._lock = threading.Lock()
        self._rng = np.random.default_rng()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="sim-cameras", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, camera_id: str) -> str:
        return f"http://127.0.0.1:{self.port}/{camera_id}.jpg"

    def start(self) -> CameraServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def cover(self, camera_id: str, covered: bool) -> bool:
        if camera_id not in self._scenes:
            return False
        with self._lock:
            (self._covered.add if covered else self._covered.discard)(camera_id)
        return True

    def jpeg(self, camera_id: str) -> bytes | None:
        scene = self._scenes.get(camera_id)
        if scene is None:
            return None
        with self._lock:
            covered = camera_id in self._covered
        return snapshot(scene, self._rng, covered=covered, now=datetime.now(UTC))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        cameras = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                body = cameras.jpeg(self.path.strip("/").removesuffix(".jpg"))
                if body is None:
                    self.send_error(HTTPStatus.NOT_FOUND)
                    return
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                camera_id, _, action = self.path.strip("/").partition("/")
                if action not in ("cover", "uncover") or not cameras.cover(camera_id, action == "cover"):
                    self.send_error(HTTPStatus.NOT_FOUND)
                    return
                self.send_response(HTTPStatus.NO_CONTENT)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's signature
                return  # a snapshot every few seconds would drown the demo's own output

        return Handler
