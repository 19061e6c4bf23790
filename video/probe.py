"""Grab one frame from a camera source (HTTP snapshot, RTSP/MJPEG stream, file) within a hard time limit.

Every grab runs in its own daemon thread watched by the caller: a stream or server that hangs inside OpenCV or
a socket read costs that thread until its own socket timeouts fire, never the worker that asked. Credentials
are taken out of URLs before anything is requested or logged; errors carry redacted URLs only.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import cv2
import httpx
import numpy as np

from hub.config import CameraSource, FileSource, HttpSnapshotSource, StreamSource
from hub.core.redact import redact_text, redact_url
from video.diagnosis import decode

log = logging.getLogger(__name__)

JPEG_QUALITY = 85
_AGENT = "campus-hub/0.1"
_IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})


@dataclass(frozen=True, slots=True)
class Grab:
    """One attempt: the JPEG bytes and decoded frame, or why there is none."""

    jpeg: bytes | None
    frame: np.ndarray | None
    error: str | None
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return self.frame is not None


class ProbeError(Exception):
    """A grab that found no picture; the message is safe to log (no credentials)."""


def describe(source: CameraSource) -> dict[str, str]:
    """The source as the API shows it: its kind and a URL or path without credentials."""
    if isinstance(source, FileSource):
        return {"kind": source.kind, "path": str(source.path)}
    return {"kind": source.kind, "url": redact_url(strip_credentials(str(source.url))[0])}


def strip_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """(URL without user:password, the credentials it held)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    creds = (unquote(parts.username or ""), unquote(parts.password or ""))
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), creds


def grab(source: CameraSource, timeout_s: float | None = None) -> Grab:
    """One frame from `source` within `timeout_s` (default: the source's own), never raising for camera trouble."""
    limit = source.timeout_s if timeout_s is None else min(timeout_s, source.timeout_s)
    started = time.monotonic()
    result: list[tuple[bytes, np.ndarray]] = []
    failure: list[str] = []

    def run() -> None:
        try:
            # The grab's own timeouts fire a little before the watchdog, so the error says what timed out.
            result.append(_grab(source, limit * 0.9))
        except ProbeError as exc:
            failure.append(str(exc))
        except Exception as exc:  # noqa: BLE001 - a decoder or driver bug is a failed check, not a dead worker
            failure.append(f"{type(exc).__name__}: {redact_text(str(exc))[:200]}")

    worker = threading.Thread(target=run, name=f"grab-{source.kind}", daemon=True)
    worker.start()
    worker.join(limit)
    elapsed = time.monotonic() - started
    if worker.is_alive():
        return Grab(None, None, f"no frame within {limit:g} s (abandoned)", elapsed)
    if failure:
        return Grab(None, None, failure[0], elapsed)
    jpeg, frame = result[0]
    return Grab(jpeg, frame, None, elapsed)


def _grab(source: CameraSource, limit: float) -> tuple[bytes, np.ndarray]:
    if isinstance(source, HttpSnapshotSource):
        return _http(source, limit)
    if isinstance(source, StreamSource):
        return _stream(source, limit)
    return _file(source, limit)


def _decoded(data: bytes, what: str) -> tuple[bytes, np.ndarray]:
    frame = decode(data)
    if frame is None:
        raise ProbeError(f"{what}: {len(data)} bytes that are not a picture")
    # Snapshots are served and stored as JPEG; a PNG or BMP source is re-encoded (at the decoded size).
    return (data if data.startswith(b"\xff\xd8") else _jpeg(frame, what)), frame


def _jpeg(frame: np.ndarray, what: str) -> bytes:
    encoded, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not encoded:
        raise ProbeError(f"{what}: frame could not be encoded")
    return bytes(jpeg.tobytes())


def _http(source: HttpSnapshotSource, limit: float) -> tuple[bytes, np.ndarray]:
    url, creds = strip_credentials(str(source.url))
    shown = redact_url(url)
    if source.username:
        creds = (source.username, source.password.get_secret_value() if source.password else "")
    auth: httpx.Auth | None = None
    if creds is not None:
        auth = httpx.DigestAuth(*creds) if source.auth == "digest" else httpx.BasicAuth(*creds)
    deadline = time.monotonic() + limit
    timeout = httpx.Timeout(limit)
    # Loading the CA bundle costs ~60 ms of CPU under the GIL, each time; plain http has no use for it.
    tls = url.lower().startswith("https://")
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=False, verify=tls, headers={"User-Agent": _AGENT}) as client,
            client.stream("GET", url, auth=auth) as response,
        ):
            if response.status_code != 200:
                raise ProbeError(f"{shown}: HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > source.max_bytes:
                raise ProbeError(f"{shown}: {declared} bytes, the cap is {source.max_bytes}")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > source.max_bytes:
                    raise ProbeError(f"{shown}: more than {source.max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise ProbeError(f"{shown}: no complete picture within {limit:g} s")
    except httpx.TimeoutException as exc:
        raise ProbeError(f"{shown}: timed out ({type(exc).__name__})") from None
    except httpx.HTTPError as exc:
        raise ProbeError(f"{shown}: {type(exc).__name__}") from None
    return _decoded(bytes(body), shown)


def _with_credentials(url: str, username: str | None, password: str | None) -> str:
    if not username:
        return url
    parts = urlsplit(url)
    userinfo = quote(username, safe="") + (":" + quote(password, safe="") if password else "")
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{userinfo}@{host}", parts.path, parts.query, parts.fragment))


def _stream(source: StreamSource, limit: float) -> tuple[bytes, np.ndarray]:
    shown = redact_url(source.url)
    password = source.password.get_secret_value() if source.password else None
    url = _with_credentials(source.url, source.username, password)
    return _capture(url, shown, source.frames, limit)


def _capture(target: str, shown: str, frames: int, limit: float) -> tuple[bytes, np.ndarray]:
    ms = max(int(limit * 1000), 1)
    deadline = time.monotonic() + limit
    capture = cv2.VideoCapture(
        target, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
    )
    try:
        if not capture.isOpened():
            raise ProbeError(f"{shown}: stream did not open")
        last: np.ndarray | None = None
        for _ in range(frames):
            ok, frame = capture.read()
            if ok and frame is not None:
                last = frame
            if time.monotonic() > deadline:
                break
        if last is None:
            raise ProbeError(f"{shown}: stream opened but gave no frame")
    finally:
        capture.release()
    return _jpeg(last, shown), last


def _file(source: FileSource, limit: float) -> tuple[bytes, np.ndarray]:
    path = Path(source.path)
    if path.suffix.lower() in _IMAGE_SUFFIXES:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ProbeError(f"{path}: {exc.strerror}") from None
        return _decoded(data, str(path))
    if not path.exists():
        raise ProbeError(f"{path}: no such file")
    return _capture(str(path), str(path), 1, limit)
