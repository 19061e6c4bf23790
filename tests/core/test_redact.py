"""Credentials come out of every form of camera and recorder URL, and out of error text that quotes one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.config import HttpSnapshotSource, StreamSource
from hub.core.redact import SECRET_NAMES, redact_text, redact_url
from video.probe import describe

SECRET = "Zq7_s3cr3t-VALUE"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"rtsp://admin:{SECRET}@10.0.0.5:554/Streaming/Channels/101",
            "rtsp://admin:***@10.0.0.5:554/Streaming/Channels/101",
        ),
        (
            f"http://10.0.0.5/cgi-bin/snapshot.cgi?usr=admin&pwd={SECRET}&ch=1",
            "http://10.0.0.5/cgi-bin/snapshot.cgi?usr=admin&pwd=***&ch=1",
        ),
        (
            f"rtsp://10.0.0.5/user=admin&password={SECRET}&channel=1&stream=0.sdp",
            "rtsp://10.0.0.5/user=admin&password=***&channel=1&stream=0.sdp",
        ),
        (
            f"rtsp://10.0.0.5/user=admin_password={SECRET}_channel=1_stream=0.sdp",
            "rtsp://10.0.0.5/user=admin_password=***_channel=1_stream=0.sdp",
        ),
        (f"http://h/x?Token={SECRET}#top", "http://h/x?Token=***#top"),
        ("http://10.0.0.5/onvif/snapshot?channel=1", "http://10.0.0.5/onvif/snapshot?channel=1"),
    ],
)
def test_every_url_form_loses_its_secret(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_error_text_quoting_a_url_loses_the_secret_and_keeps_the_rest() -> None:
    text = f"ConnectError: failed for 'http://u:{SECRET}@h/x?key={SECRET}' and password={SECRET}, retrying"
    cleaned = redact_text(text)
    assert SECRET not in cleaned
    # A value runs to a separator or a space: the comma goes with it (better one character too many).
    assert cleaned == "ConnectError: failed for 'http://u:***@h/x?key=***' and password=*** retrying"


@given(name=st.sampled_from(SECRET_NAMES), value=st.text(alphabet="abcXYZ019-._~!$*", min_size=4, max_size=30))
def test_any_secret_parameter_is_masked(name: str, value: str) -> None:
    for url in (f"http://h/p?{name}={value}", f"http://h/p?a=1&{name.upper()}={value}", f"rtsp://h/{name}={value}"):
        assert f"{name.lower()}={value}".lower() not in redact_url(url).lower()


def test_the_api_shows_camera_sources_without_credentials() -> None:
    http = HttpSnapshotSource.model_validate(
        {"kind": "http_snapshot", "url": f"http://admin:{SECRET}@10.0.0.5/snap.cgi?usr=admin&pwd={SECRET}"}
    )
    stream = StreamSource.model_validate({"kind": "stream", "url": f"rtsp://10.0.0.5/user=admin_password={SECRET}_c=1"})
    for source in (http, stream):
        assert SECRET not in str(describe(source))
