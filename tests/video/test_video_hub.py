"""Camera checks and alarm evidence through a running hub: real Mosquitto, real SQLite, real HTTP cameras on
loopback, real OpenCV diagnosis. The checker is driven with `run_once()` instead of waiting out its interval."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from hub.app import Hub
from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver
from tests.conftest import TOKENS, HubFactory, Publisher, base_config, topic, wait_until
from tests.video.cameras import HungServer, SnapshotServer

PASSWORD = "cam-Pa55-word"


def client(hub: Hub, role: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{hub.api_port}", headers={"Authorization": f"Bearer {TOKENS[role]}"}, timeout=5
    )


def health_events(hub: Hub, camera_id: str = "cam-1") -> list[dict[str, Any]]:
    rows = (
        hub.store.connection()
        .execute("SELECT data FROM events WHERE device_id = ? AND channel = 'health' ORDER BY id", (camera_id,))
        .fetchall()
    )
    return [json.loads(r[0]) for r in rows]


def camera_faults(hub: Hub, camera_id: str = "cam-1") -> list[dict[str, Any]]:
    return [f for f in hub.health_store.list_faults(None, subject=camera_id) if f["kind"] == "camera_check"]


def evidence_rows(hub: Hub) -> int:
    return int(hub.store.connection().execute("SELECT COUNT(*) FROM alarm_evidence").fetchone()[0])


def with_camera(raw: dict[str, Any], url: str, **video: Any) -> dict[str, Any]:
    raw["devices"][0]["source"] = {"kind": "http_snapshot", "url": url, "timeout_s": 2}
    raw["video"] = {"check_interval_s": 3600, "fail_after_checks": 3, **video}
    return raw


def test_black_picture_opens_a_fault_only_after_three_checks_and_recovers(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with SnapshotServer("hub", PASSWORD) as camera:
        raw = with_camera(base_config(tmp_path, broker.port, None), camera.url(f"hub:{PASSWORD}"))
        hub = start_hub(raw, api=True)
        # The scheduler checks at once on start (the first of a staggered round): healthy, so the reference is taken.
        assert wait_until(lambda: len(health_events(hub)) == 1, 10)
        assert health_events(hub)[0]["labels"] == ["healthy"]
        assert health_events(hub)[0]["source"] == "hub"
        reference = tmp_path / "snapshots" / "cam-1" / "reference.jpg"
        assert reference.read_bytes() == camera.served[0]

        camera.picture = "black"  # a lens cap
        for check in (1, 2):
            assert hub.cameras.run_once()["cam-1"].labels[0].value == "black"
            assert wait_until(lambda: len(health_events(hub)) == 1 + check, 5)  # noqa: B023 - waited on at once
            assert camera_faults(hub) == [], f"a fault opened after {check} failing check(s)"
            assert hub.tracker.get("cam-1").camera_failures == check  # type: ignore[union-attr]
        hub.cameras.run_once()
        assert wait_until(lambda: len(camera_faults(hub)) == 1, 5)
        assert camera_faults(hub)[0]["state"] == "registered"

        with client(hub, "bureau") as bureau:
            listed = {c["id"]: c for c in bureau.get("/api/v1/cameras").raise_for_status().json()["cameras"]}
        cam = listed["cam-1"]
        assert cam["state"] == "faulty"
        assert cam["labels"] == ["black"]
        assert cam["consecutive_failures"] == 3
        assert [f["kind"] for f in cam["open_faults"]] == ["camera_check"]
        assert cam["source"] == {"kind": "http_snapshot", "url": camera.url()}
        assert cam["reference_taken_at"] is not None
        assert cam["snapshot_url"] == "/api/v1/cameras/cam-1/snapshot"
        assert "recordings" in cam
        with client(hub, "guard") as guard:
            latest = guard.get("/api/v1/cameras/cam-1/snapshot")
            assert latest.status_code == 200
            assert latest.headers["content-type"] == "image/jpeg"
            assert latest.content == camera.served[-1]
            assert guard.get("/api/v1/cameras/cam-1/reference").content == camera.served[0]

        camera.picture = "live"
        hub.cameras.run_once()
        assert wait_until(lambda: camera_faults(hub)[0]["state"] == "recovered", 5)
        assert hub.tracker.get("cam-1").camera_failures == 0  # type: ignore[union-attr]
        assert hub.tracker.get("cam-1").state.value == "online"  # type: ignore[union-attr]
    assert PASSWORD not in caplog.text


def test_failing_streak_survives_a_restart(tmp_path: Path, broker: Mosquitto, start_hub: HubFactory) -> None:
    with SnapshotServer("hub", PASSWORD) as camera:
        raw = with_camera(base_config(tmp_path, broker.port, None), camera.url(f"hub:{PASSWORD}"))
        camera.picture = "black"
        hub = start_hub(raw)
        assert wait_until(lambda: len(health_events(hub)) == 1, 10)
        hub.cameras.run_once()
        assert wait_until(lambda: len(health_events(hub)) == 2, 5)
        hub.stop()
        again = start_hub(raw)
        # Its first check on start (which may already have run) is the third failure in a row, not the first: the
        # fault opens, and the streak reads 3.
        assert wait_until(lambda: len(camera_faults(again)) == 1, 10)
        assert again.tracker.get("cam-1").camera_failures == 3  # type: ignore[union-attr]


def test_a_recorders_health_reports_count_like_the_hubs(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory, publisher: Publisher
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, None))  # cam-1 has no source: the hub does not check it
    recorder = {
        "labels": ["blur"],
        "metrics": {"sharpness": 3.2},
        "source": "recorder",
        "oldest_recording": "2026-09-01T00:00:00+08:00",
        "storage_used_gb": 812.5,
        "storage_free_gb": 187.5,
        "write_rate_mbps": 4.1,
    }
    for count in (1, 2):
        publisher.publish(topic("camera", "cam-1", "health"), recorder)
        assert wait_until(lambda: len(health_events(hub)) == count, 5)  # noqa: B023 - waited on at once
        assert camera_faults(hub) == []
    publisher.publish(topic("camera", "cam-1", "health"), recorder)
    assert wait_until(lambda: len(camera_faults(hub)) == 1, 5)
    # Kept as validated, for the retention work to read.
    stored = health_events(hub)[-1]
    assert stored["storage_free_gb"] == 187.5
    assert stored["oldest_recording"].startswith("2026-09-01T00:00:00")

    publisher.publish(topic("camera", "cam-1", "health"), {"labels": ["healthy"], "source": "recorder"})
    assert wait_until(lambda: camera_faults(hub)[0]["state"] == "recovered", 5)

    publisher.publish(topic("camera", "cam-1", "health"), {"labels": ["smudge"]})
    publisher.publish(topic("panic_button", "btn-1", "health"), {"labels": ["healthy"]})
    assert wait_until(lambda: len(hub.store.list_dead_letters(10)) == 2, 5)
    reasons = {d["topic"].split("/")[-3]: d["reason"] for d in hub.store.list_dead_letters(10)}
    assert reasons == {"camera": "invalid_payload", "panic_button": "unsupported_channel"}


def test_panic_alarm_gets_evidence_within_two_seconds_without_delaying_the_110_alarm(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory, publisher: Publisher, receiver: Receiver
) -> None:
    with SnapshotServer("hub", PASSWORD) as camera, HungServer() as hung:
        raw = with_camera(base_config(tmp_path, broker.port, receiver.url), camera.url(f"hub:{PASSWORD}"))
        # A second linked camera that hangs: its snapshot is left out; it must not hold back the first.
        raw["devices"].append(
            {
                "id": "cam-2",
                "kind": "camera",
                "name": "stuck camera",
                "location": {"building": "A", "floor": "1", "room": "cam-2"},
                "source": {"kind": "http_snapshot", "url": f"http://127.0.0.1:{hung.port}/snap.jpg", "timeout_s": 5},
            }
        )
        raw["devices"][1]["cameras"] = ["cam-1", "cam-2"]
        hub = start_hub(raw, api=True)
        assert wait_until(lambda: len(health_events(hub)) == 1, 10)  # the start-up check, out of the way
        served_before = len(camera.served)

        pressed = time.monotonic()
        publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
        first = receiver.state.wait_for(1, timeout=2.0)
        assert first, "the 110 receiver did not get the alarm"
        assert first[0].at_mono - pressed < 1.0, "the alarm waited for something"
        alarm_id = first[0].body["alarm_id"]

        with client(hub, "guard") as guard:
            assert wait_until(lambda: guard.get(f"/api/v1/alarms/{alarm_id}").json()["evidence"], 2.5)
            took = time.monotonic() - pressed
            evidence = guard.get(f"/api/v1/alarms/{alarm_id}").json()["evidence"]
            assert took < 2.5, f"evidence after {took:.2f} s"
            assert [e["camera_id"] for e in evidence] == ["cam-1"]
            assert evidence[0]["url"] == f"/api/v1/evidence/{alarm_id}/cam-1.jpg"
            picture = guard.get(evidence[0]["url"])
            assert picture.status_code == 200
            assert picture.headers["content-type"] == "image/jpeg"
            assert picture.content in camera.served[served_before:]
            assert guard.get(f"/api/v1/evidence/{alarm_id}/cam-2.jpg").json()["error"]["code"] == "evidence_not_found"
        with client(hub, "bureau") as bureau:
            refused = bureau.get(evidence[0]["url"])
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "forbidden"
            assert bureau.get("/api/v1/cameras/cam-1/snapshot").status_code == 403
        assert hung.accepted, "the stuck camera was never asked"
        notices = [e for e in hub.feed.recent() if e.kind == "alarm_evidence"]
        assert [n.data["alarm_id"] for n in notices] == [alarm_id]
        assert notices[0].data["evidence"] == evidence


def test_reference_retake_is_for_maintenance_and_audited(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory
) -> None:
    with SnapshotServer("hub", PASSWORD) as camera:
        raw = with_camera(base_config(tmp_path, broker.port, None), camera.url(f"hub:{PASSWORD}"))
        hub = start_hub(raw, api=True)
        assert wait_until(lambda: len(health_events(hub)) == 1, 10)
        first = hub.cameras.view("cam-1")["reference_taken_at"]
        with client(hub, "guard") as guard:
            assert guard.post("/api/v1/cameras/cam-1/reference").status_code == 403
        with client(hub, "maintenance") as maintenance:
            answer = maintenance.post("/api/v1/cameras/cam-1/reference").raise_for_status().json()
            assert answer["reference_taken_at"] > first
            assert maintenance.post("/api/v1/cameras/btn-1/reference").json()["error"]["code"] == "camera_not_found"
        audit = hub.store.list_audit(10)
        assert audit[0]["action"] == "camera_reference_retake"
        assert audit[0]["target"] == "cam-1"
        assert audit[0]["actor"] == "maintenance"


def test_a_retry_to_110_carries_the_evidence_stored_by_then(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory, publisher: Publisher, receiver: Receiver
) -> None:
    with SnapshotServer("hub", PASSWORD) as camera:
        raw = with_camera(base_config(tmp_path, broker.port, receiver.url), camera.url(f"hub:{PASSWORD}"))
        hub = start_hub(raw, api=True)
        receiver.state.fail_with = 503  # the first attempts fail, so a later one goes out after the snapshot
        publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
        assert receiver.state.wait_for_posts(1, timeout=2.0)
        assert wait_until(lambda: evidence_rows(hub) == 1, 2.5)
        receiver.state.fail_with = None
        delivered = receiver.state.wait_for(1, timeout=5.0)
    assert delivered, "the alarm was not delivered after the receiver recovered"
    body = delivered[0].body
    assert [e["camera_id"] for e in body["evidence"]] == ["cam-1"]
    # Without api.public_url no link goes out: a relative path that needs a hub token would open nothing there.
    assert "url" not in body["evidence"][0]


def test_the_receiving_centre_opens_a_signed_evidence_link_without_a_token_and_each_open_is_audited(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory, publisher: Publisher, receiver: Receiver
) -> None:
    with SnapshotServer("hub", PASSWORD) as camera:
        raw = with_camera(base_config(tmp_path, broker.port, receiver.url), camera.url(f"hub:{PASSWORD}"))
        raw["api"]["public_url"] = "https://hub.school.example/campus"
        hub = start_hub(raw, api=True)
        receiver.state.fail_with = 503  # a retry goes out once the snapshot is stored
        publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
        assert receiver.state.wait_for_posts(1, timeout=2.0)
        assert wait_until(lambda: evidence_rows(hub) == 1, 2.5)
        receiver.state.fail_with = None
        delivered = receiver.state.wait_for(1, timeout=5.0)
        assert delivered
        link = urlsplit(delivered[0].body["evidence"][0]["url"])
        assert (link.scheme, link.netloc) == ("https", "hub.school.example")
        assert link.path == f"/campus/api/v1/evidence/{delivered[0].body['alarm_id']}/cam-1.jpg"
        query = parse_qs(link.query)
        assert set(query) == {"exp", "sig"}
        # What the centre's request looks like once the school's proxy has taken /campus off.
        path = link.path.removeprefix("/campus")
        base = f"http://127.0.0.1:{hub.api_port}"
        opened = httpx.get(f"{base}{path}?{link.query}")
        assert opened.status_code == 200
        assert opened.headers["content-type"] == "image/jpeg"
        assert opened.headers["cache-control"] == "private, no-store"
        other = path.replace("cam-1", "cam-9")
        tampered = httpx.get(f"{base}{other}?{link.query}")
        assert (tampered.status_code, tampered.json()["error"]["code"]) == (403, "link_invalid")
        assert httpx.get(f"{base}{path}").status_code == 401  # the path alone is no way in
    opens = [a for a in hub.store.list_audit(20) if a["action"] == "evidence_link_open"]
    assert len(opens) == 1
    assert opens[0]["actor"] == "link@127.0.0.1"
    assert opens[0]["target"] == path
