"""Camera probes against real servers on loopback: an ONVIF-style snapshot URL with basic auth, ffmpeg's MJPEG
stream read by OpenCV, a server that accepts and never answers, and files. Credentials never reach the logs."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import pytest
from pydantic import TypeAdapter

from hub.config import CameraSource, DeviceConfig, FileSource, HttpSnapshotSource, StreamSource
from tests.video.cameras import FfmpegMjpeg, HungServer, SnapshotServer, jpeg, scene
from video.probe import describe, grab, strip_credentials

PASSWORD = "s3cret-Pa55word"
SOURCE = TypeAdapter(CameraSource)


def http_source(url: str, **extra: object) -> HttpSnapshotSource:
    source = SOURCE.validate_python({"kind": "http_snapshot", "url": url, **extra})
    assert isinstance(source, HttpSnapshotSource)
    return source


def test_snapshot_url_with_basic_auth_in_it_is_grabbed_and_the_password_is_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log every request at DEBUG/INFO
    with SnapshotServer("hub", PASSWORD) as camera:
        result = grab(http_source(camera.url(f"hub:{PASSWORD}")))
        assert result.ok, result.error
        assert result.jpeg == camera.served[-1]
        assert result.frame is not None
        assert result.frame.ndim == 3

        refused = grab(http_source(camera.url("hub:wrong-password")))
        assert not refused.ok
        assert refused.error is not None
        assert "HTTP 401" in refused.error
        assert "wrong-password" not in refused.error
    assert caplog.records, "nothing was logged, so the check below would prove nothing"
    assert PASSWORD not in caplog.text
    assert "wrong-password" not in caplog.text
    assert describe(http_source(camera.url(f"hub:{PASSWORD}"))) == {"kind": "http_snapshot", "url": camera.url()}


def test_credentials_from_the_config_keys_work_too() -> None:
    with SnapshotServer("hub", PASSWORD) as camera:
        result = grab(http_source(camera.url(), username="hub", password=PASSWORD))
        assert result.ok, result.error
        assert not grab(http_source(camera.url(), username="hub", password="nope")).ok


def test_strip_credentials_keeps_everything_else() -> None:
    url, creds = strip_credentials("rtsp://admin:p%40ss@10.0.0.5:554/Streaming/Channels/102?x=1")
    assert url == "rtsp://10.0.0.5:554/Streaming/Channels/102?x=1"
    assert creds == ("admin", "p@ss")
    assert strip_credentials("http://127.0.0.1/snap.jpg") == ("http://127.0.0.1/snap.jpg", None)


def test_an_answer_over_the_size_cap_is_refused() -> None:
    with SnapshotServer("hub", PASSWORD) as camera:
        result = grab(http_source(camera.url(f"hub:{PASSWORD}"), max_bytes=2048))
    assert not result.ok
    assert result.error is not None
    assert "the cap is 2048" in result.error


@pytest.mark.parametrize("kind", ["http_snapshot", "stream"])
def test_a_server_that_never_answers_is_given_up_on_within_the_timeout(kind: str) -> None:
    with HungServer() as hung:
        source = SOURCE.validate_python(
            {"kind": kind, "url": f"http://127.0.0.1:{hung.port}/cam.mjpg", "timeout_s": 1.5}
        )
        started = time.monotonic()
        result = grab(source)
        elapsed = time.monotonic() - started
        assert hung.accepted, "the probe never connected, so this proves nothing about a hung server"
    assert not result.ok
    assert result.error
    assert elapsed < 1.5 + 0.3, f"took {elapsed:.2f} s"


def test_mjpeg_stream_from_ffmpeg_is_read_with_opencv() -> None:
    with FfmpegMjpeg() as stream:
        source = SOURCE.validate_python({"kind": "stream", "url": stream.url, "frames": 3, "timeout_s": 10})
        assert isinstance(source, StreamSource)
        result = grab(source)
    assert result.ok, result.error
    assert result.frame is not None
    assert result.frame.shape == (480, 640, 3)
    assert result.jpeg is not None
    assert result.jpeg.startswith(b"\xff\xd8")


def test_a_stream_that_is_not_there_fails_quickly() -> None:
    with HungServer() as hung:
        port = hung.port
    source = SOURCE.validate_python({"kind": "stream", "url": f"http://127.0.0.1:{port}/cam.mjpg", "timeout_s": 5})
    started = time.monotonic()
    result = grab(source)
    assert not result.ok
    assert time.monotonic() - started < 5.0


def test_file_sources_image_and_missing(tmp_path: Path) -> None:
    picture = tmp_path / "cam.jpg"
    picture.write_bytes(jpeg(scene()))
    result = grab(FileSource(kind="file", path=picture))
    assert result.ok
    assert result.jpeg == picture.read_bytes()

    png = tmp_path / "cam.png"
    assert cv2.imwrite(str(png), scene())
    converted = grab(FileSource(kind="file", path=png))
    assert converted.ok
    assert converted.jpeg is not None
    assert converted.jpeg.startswith(b"\xff\xd8")

    missing = grab(FileSource(kind="file", path=tmp_path / "gone.jpg"))
    assert not missing.ok
    assert missing.error is not None
    assert "gone.jpg" in missing.error
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not a picture at all")
    assert not grab(FileSource(kind="file", path=garbage)).ok


def test_only_cameras_may_have_a_source() -> None:
    location = {"building": "A", "floor": "1", "room": "1"}
    source = {"kind": "file", "path": "/tmp/x.jpg"}  # noqa: S108 - never read
    assert DeviceConfig.model_validate(
        {"id": "cam-1", "kind": "camera", "name": "c", "location": location, "source": source}
    ).source
    with pytest.raises(ValueError, match="source applies to cameras only"):
        DeviceConfig.model_validate(
            {"id": "btn-1", "kind": "panic_button", "name": "b", "location": location, "source": source}
        )
    with pytest.raises(ValueError, match="password given without username"):
        SOURCE.validate_python({"kind": "http_snapshot", "url": "http://127.0.0.1/s.jpg", "password": "x"})
