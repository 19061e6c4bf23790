"""Sentinel secrets planted in every configurable place never come out: not in any API answer to any role, not in
the log, not in anything the hub publishes on MQTT, not on the live feed, not in what the 110 receiver gets, not in
check-config's output. A real hub with a real broker, a real 110 receiver and cameras and centres that fail (their
errors are where URLs with credentials used to leak)."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from hub.devtools.broker import Mosquitto, free_port
from hub.devtools.receiver import Receiver
from tests.conftest import TOKENS, HubFactory, Publisher, base_config, topic, wait_until

SENTINELS = {
    "mqtt": "SENTINEL-mqtt-pw-0001",
    "query": "SENTINEL-query-0002",
    "http_secret": "SENTINEL-http-secret-0003",
    "dc09": "SENTINELDC09KEY4",  # an AES-128 key: 16 ASCII characters
    "cam_userinfo": "SENTINEL-cam-0005",
    "cam_vendor": "SENTINEL-cam-0006",
    "cam_query": "SENTINEL-cam-0007",
    "influx": "SENTINEL-influx-0008",
    "hook_query": "SENTINEL-hook-0009",
    "hook_secret": "SENTINEL-hook-secret-0010",
}
# What a leak would look like however it was encoded on the way (JSON escapes, URL quoting keep these intact).
PATTERN = re.compile("|".join(re.escape(s) for s in SENTINELS.values()))


def _config(tmp_path: Path, broker: Mosquitto, receiver: Receiver) -> dict[str, Any]:
    closed = free_port()  # nothing listens there: every camera, centre and server below fails, and says why
    raw = base_config(tmp_path, broker.port, f"{receiver.url}?token={SENTINELS['query']}")
    raw["mqtt"].update({"username": "hub", "password": SENTINELS["mqtt"]})
    raw["forwarding"]["endpoints"][0]["secret"] = SENTINELS["http_secret"]
    raw["forwarding"]["endpoints"].append(
        {
            "name": "arc",
            "kind": "dc09",
            "host": "127.0.0.1",
            "port": closed,
            "account": "1234",
            "key": SENTINELS["dc09"],
        }
    )
    cams = {
        "cam-1": {"kind": "http_snapshot", "url": f"http://admin:{SENTINELS['cam_userinfo']}@127.0.0.1:{closed}/s.jpg"},
        "cam-2": {
            "kind": "stream",
            "url": f"rtsp://127.0.0.1:{closed}/user=admin_password={SENTINELS['cam_vendor']}_channel=1",
            "timeout_s": 2,
        },
        "cam-3": {
            "kind": "http_snapshot",
            "url": f"http://127.0.0.1:{closed}/cgi-bin/snap.cgi?usr=admin&pwd={SENTINELS['cam_query']}",
        },
    }
    location = {"building": "A", "floor": "1", "room": "gate"}
    raw["devices"] = [d for d in raw["devices"] if d["kind"] != "camera"] + [
        {"id": cid, "kind": "camera", "name": cid, "location": location, "source": source}
        for cid, source in cams.items()
    ]
    for device in raw["devices"]:
        device["cameras"] = [c for c in device.get("cameras", []) if c in cams]
    raw["influx"] = {"enabled": True, "url": f"http://127.0.0.1:{closed}", "token": SENTINELS["influx"]}
    raw["sla"] = {
        "escalation_webhook": {
            "url": f"http://127.0.0.1:{closed}/hook?token={SENTINELS['hook_query']}",
            "secret": SENTINELS["hook_secret"],
        }
    }
    return raw


def _get_routes(app: Any) -> list[str]:
    paths = []
    for route in app.routes:
        methods = getattr(route, "methods", None) or set()
        path = getattr(route, "path", "")
        if "GET" in methods and path not in ("/api/v1/feed", "/logout"):
            paths.append(path)
    return sorted(set(paths))


def test_no_planted_secret_is_ever_shown(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory, publisher: Publisher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    lock = threading.Lock()
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="sentinel-watch")

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        with lock:
            seen.append(msg.topic + " " + msg.payload.decode("utf-8", "replace"))

    watcher.on_message = on_message
    watcher.connect("127.0.0.1", broker.port)
    watcher.subscribe("#")
    watcher.loop_start()
    receiver = Receiver(None).start()
    try:
        raw = _config(tmp_path, broker, receiver)
        hub = start_hub(raw, api=True)
        publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
        assert receiver.state.wait_for(1, 10), "the press did not reach the 110 receiver"
        hub.cameras.run_once()  # every camera fails, and its error is kept and logged
        # The DC-09 centre cannot be reached: its path records the error (where a URL used to leak).
        assert wait_until(lambda: any(p.last_error for p in hub.paths.snapshot()), 15)
        answers: list[str] = []
        ids = {"alarm_id": hub.store.list_alarms()[0]["id"], "device_id": "cam-1", "camera_id": "cam-1"}
        for role, token in TOKENS.items():
            with httpx.Client(
                base_url=f"http://127.0.0.1:{hub.api_port}", headers={"Authorization": f"Bearer {token}"}, timeout=10
            ) as client:
                for path in _get_routes(hub.api):
                    url = re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), "1")), path)
                    answer = client.get(url)
                    answers.append(f"{role} {url} {answer.status_code} {answer.text}")
        feed = [json.dumps(e.as_json(), ensure_ascii=False) for e in hub.feed.recent(1000)]
        config_file = tmp_path / "hub.yaml"
        config_file.write_text(yaml.safe_dump({**raw, "retention": {"days": 30}}), encoding="utf-8")
        check = subprocess.run(
            [sys.executable, "-m", "hub", "check-config", str(config_file)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        delivered = [json.dumps(r.body) + json.dumps(r.headers) for r in receiver.state.wait_for(1, 0)]
    finally:
        receiver.stop()
        watcher.loop_stop()
        watcher.disconnect()
    assert check.returncode == 2  # the config error is reported (with its line) ...
    places = {
        "API answers": "\n".join(answers),
        "log": caplog.text,
        "MQTT": "\n".join(seen),
        "feed": "\n".join(feed),
        "110 receiver": "\n".join(delivered),
        "check-config": check.stdout + check.stderr,  # ... and no secret of the file comes with it
    }
    assert "camera" in places["API answers"]  # the camera routes were read, with their failing sources
    leaks = {where: sorted(set(PATTERN.findall(text))) for where, text in places.items() if PATTERN.search(text)}
    assert leaks == {}
