"""Real stand-ins for cameras in tests, all on 127.0.0.1: an ONVIF-style snapshot server, a server that hangs,
and ffmpeg serving MJPEG. Pictures are real photographs (scikit-image's data) with fresh sensor noise per frame,
because a live camera never sends the same bytes twice (identical frames are a frozen picture)."""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from skimage import data as photos

from tests.conftest import wait_until


def scene(name: str = "astronaut", size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """A photograph as a BGR frame of `size` (width, height)."""
    rgb: np.ndarray = getattr(photos, name)()
    frame: np.ndarray = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), size, interpolation=cv2.INTER_AREA)
    return frame


def jpeg(frame: np.ndarray, quality: int = 85) -> bytes:
    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return bytes(encoded.tobytes())


def live(frame: np.ndarray, rng: np.random.Generator, sigma: float = 3.0) -> np.ndarray:
    """The frame with fresh sensor noise, as the next picture of a live camera."""
    noisy = frame.astype(np.float32) + rng.normal(0.0, sigma, frame.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


class SnapshotServer:
    """An ONVIF-style snapshot URL with HTTP basic auth: a fresh JPEG of the current scene per request.

    `picture` is "live" (a photograph with sensor noise) or "black" (a lens cap); tests switch it.
    """

    def __init__(self, username: str, password: str) -> None:
        self.picture = "live"
        self.requests = 0
        self.served: list[bytes] = []
        self._expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self._frame = scene()
        self._rng = np.random.default_rng(7)
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.headers.get("Authorization") != outer._expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = outer.next_jpeg()
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def next_jpeg(self) -> bytes:
        with self._lock:
            self.requests += 1
            frame = np.zeros_like(self._frame) if self.picture == "black" else live(self._frame, self._rng)
            body = jpeg(frame)
            self.served.append(body)
            return body

    def url(self, credentials: str | None = None, path: str = "/onvif/snapshot.jpg") -> str:
        return f"http://{credentials + '@' if credentials else ''}127.0.0.1:{self.port}{path}"

    def __enter__(self) -> SnapshotServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class HungServer:
    """Accepts TCP connections and never answers: a camera whose web server or stream is stuck."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = int(self._sock.getsockname()[1])
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def __enter__(self) -> HungServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
        for conn in self.accepted:
            conn.close()


def _listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port, read from /proc without connecting (ffmpeg -listen 1
    serves exactly one client, so a probe connection would use it up)."""
    wanted = f"0100007F:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted and fields[3] == "0A":
            return True
    return False


class FfmpegMjpeg:
    """ffmpeg serving its test pattern as MJPEG over HTTP on 127.0.0.1 (one client, then it exits)."""

    def __init__(self) -> None:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = int(probe.getsockname()[1])
        probe.close()
        self.url = f"http://127.0.0.1:{self.port}/cam.mjpg"
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> FfmpegMjpeg:
        ffmpeg = shutil.which("ffmpeg")
        assert ffmpeg, "ffmpeg is not installed"
        # The command from toolbox.md.
        self._process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [
                ffmpeg,
                "-loglevel",
                "error",
                "-re",
                "-f",
                "lavfi",
                "-i",
                "testsrc=size=640x480:rate=10",
                "-c:v",
                "mjpeg",
                "-q:v",
                "5",
                "-f",
                "mpjpeg",
                "-content_type",
                "multipart/x-mixed-replace;boundary=ffmpeg",
                "-listen",
                "1",
                self.url,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        process = self._process
        assert wait_until(lambda: _listening(self.port) or process.poll() is not None, 10), "ffmpeg did not listen"
        assert process.poll() is None, "ffmpeg exited"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
