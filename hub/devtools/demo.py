"""`campus-hub demo`: a whole demo school on this machine: a work folder, a private Mosquitto, a local 110 receiver,
simulated cameras and devices, and the hub itself, with the console logins printed for whoever runs it.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from hub.app import Hub
from hub.config import HubConfig
from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver
from hub.devtools.sim_cameras import CameraServer
from hub.devtools.simulate import School

# One of each kind the rules added (电气火灾监控, 可燃气体, 一氧化碳, 入侵报警, 门磁), in the finance office's zone
# (armed out of school hours) and a 24-hour chemistry store, so a trip shows both arming outcomes.
ARMING_ZONES: list[dict[str, Any]] = [
    {"id": "finance", "name": "财务室 Finance office", "school_hours": [{"start": "07:30", "end": "17:30"}]},
    {"id": "chem-store", "name": "化学品库 Chemistry store", "always_armed": True},
]


def _new_device(id_: str, kind: str, name: str, building: str, room: str, **extra: Any) -> dict[str, Any]:
    location = {"building": building, "floor": "1", "room": room}
    return {"id": id_, "kind": kind, "name": name, "location": location, "heartbeat_s": 30, **extra}


NEW_KIND_DEVICES: list[dict[str, Any]] = [
    _new_device("ef-canteen", "electrical_fire", "食堂配电箱电气火灾监控 Canteen board", "Canteen", "Switch room",
                residual_alarm_ma=300, residual_prealarm_ma=200),
    _new_device("gas-kitchen", "gas", "食堂燃气探测器 Kitchen gas detector", "Canteen", "Kitchen"),
    _new_device("co-dorm", "co", "宿舍锅炉房一氧化碳 Dormitory CO detector", "Dormitory", "Boiler room"),
    _new_device("pir-finance", "intrusion", "财务室红外 Finance office PIR", "Admin Building", "Finance office",
                arming_zone="finance"),
    _new_device("door-finance", "door", "财务室门磁 Finance office door", "Admin Building", "Finance office",
                arming_zone="finance"),
    _new_device("door-chem", "door", "化学品库门磁 Chemistry store door", "Science Building", "Chemistry store",
                arming_zone="chem-store"),
    _new_device("gate-north", "door", "北门 North gate", "Gates", "North gate",
                must_be_shut=[{"start": "22:00", "end": "06:00"}]),
]  # fmt: skip


def demo_config(
    workdir: Path, mqtt_port: int, receiver_url: str, api_port: int, camera_url: Callable[[str], str] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """A small school's configuration with fresh random secrets; returns (config, tokens by role)."""
    tokens = {role: secrets.token_urlsafe(18) for role in ("guard", "maintenance", "bureau", "admin")}

    def device(id_: str, kind: str, name: str, building: str, floor: str, room: str, **extra: Any) -> dict[str, Any]:
        return {
            "id": id_,
            "kind": kind,
            "name": name,
            "location": {"building": building, "floor": floor, "room": room},
            **extra,
        }

    def camera(id_: str) -> dict[str, Any]:
        if camera_url is None:
            return {}
        return {"source": {"kind": "http_snapshot", "url": camera_url(id_), "timeout_s": 3}}

    config = {
        "site": {
            "id": "demo-school",
            "name": "示范中学 Demo Middle School",
            "address": "1 School Road, Demo District",
        },
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port},
        "storage": {"path": str(workdir / "hub.db")},
        "forwarding": {
            "endpoints": [
                {
                    "name": "local-110",
                    "kind": "http",
                    "url": receiver_url,
                    "secret": tokens["admin"] + "-110",
                    "timeout_s": 3,
                    # The local receiver tells tests and link tests apart: show both (presses on test, 联得通).
                    "test_signal": True,
                    "link_test_s": 30,
                }
            ],
            "retry_base_s": 0.5,
            "retry_max_s": 10,
        },
        # Checked every 20 s so that covering a demo camera opens its fault within a minute (3 checks in a row).
        "video": {"check_interval_s": 20},
        "api": {
            "host": "127.0.0.1",
            "port": api_port,
            "tokens": [{"name": f"demo-{role}", "role": role, "token": token} for role, token in tokens.items()],
        },
        "devices": [
            device(
                "cam-gate", "camera", "南门摄像机 South gate camera", "Gatehouse", "1", "Gate", **camera("cam-gate")
            ),
            device(
                "cam-hall", "camera", "教学楼大厅 Hall camera", "Teaching Building A", "1", "Hall", **camera("cam-hall")
            ),
            device(
                "btn-gate",
                "panic_button",
                "门卫室一键报警 Gatehouse button",
                "Gatehouse",
                "1",
                "Guard room",
                heartbeat_s=30,
                cameras=["cam-gate"],
            ),
            device(
                "btn-office",
                "panic_button",
                "校长室一键报警 Office button",
                "Admin Building",
                "2",
                "201",
                heartbeat_s=30,
                cameras=["cam-hall"],
            ),
            device(
                "smoke-lab",
                "smoke",
                "化学实验室烟感 Chemistry lab smoke",
                "Science Building",
                "3",
                "Lab 302",
                heartbeat_s=30,
            ),
            device(
                "smoke-library",
                "smoke",
                "图书馆烟感 Library smoke",
                "Library",
                "2",
                "Reading room",
                heartbeat_s=30,
            ),
            device(
                "temp-kitchen",
                "temperature",
                "食堂厨房温感 Canteen kitchen heat",
                "Canteen",
                "1",
                "Kitchen",
                heartbeat_s=30,
                heat_threshold_c=65,
            ),
            device(
                "temp-server",
                "temperature",
                "机房温感 Server room heat",
                "Admin Building",
                "1",
                "Server room",
                heartbeat_s=30,
            ),
            *NEW_KIND_DEVICES,
        ],
        "arming_zones": ARMING_ZONES,
    }
    return config, tokens


def run_demo(port: int, press_every: float, load: Callable[[Path], HubConfig]) -> int:
    """Start everything, print where it is, serve until stopped, then stop it all; `load` reads the written config
    (the command line's loader, so a broken demo config fails as any other would)."""
    workdir = Path(tempfile.mkdtemp(prefix="campus-hub-demo-"))
    broker = Mosquitto(workdir / "broker").start()
    cameras = CameraServer(["cam-gate", "cam-hall"]).start()
    receiver_secret = None
    config_path = workdir / "hub.yaml"
    raw, tokens = demo_config(workdir, broker.port, "http://127.0.0.1:0/alarms", port, cameras.url)
    receiver_secret = raw["forwarding"]["endpoints"][0]["secret"]
    receiver = Receiver(receiver_secret).start()
    raw["forwarding"]["endpoints"][0]["url"] = receiver.url
    config_path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    config = load(config_path)
    hub = Hub(config)
    school: School | None = None
    try:
        hub.start()
        school = School(config, press_every_s=press_every).start()
        prefix = f"{config.mqtt.topic_prefix}/{config.site.id}"
        print(
            "\n".join(
                [
                    "",
                    "campus-hub demo is running (Ctrl-C to stop)",
                    f"  console          http://127.0.0.1:{port}/login   (a token below; 中文/EN)",
                    f"  API              http://127.0.0.1:{port}/api/v1/   (API docs: /api/docs)",
                    f"  MQTT broker      127.0.0.1:{broker.port}  (private Mosquitto)",
                    f"  110 receiver     {receiver.url}",
                    f"  config and data  {workdir}",
                    "  tokens           " + "  ".join(f"{role}={tok}" for role, tok in tokens.items()),
                    "",
                    "Press a one-button alarm:",
                    f"  .venv/bin/campus-hub simulate --config {config_path} --press btn-gate",
                    "  or: mosquitto_pub -h 127.0.0.1 -p {port} -q 1 -t {topic} -m '{{\"pressed\": true}}'".format(
                        port=broker.port, topic=f"{prefix}/panic_button/btn-gate/event"
                    ),
                    "See the alarm, then acknowledge and close it:",
                    f"  curl -s -H 'Authorization: Bearer {tokens['guard']}' http://127.0.0.1:{port}/api/v1/alarms",
                    f"  curl -s -X POST -H 'Authorization: Bearer {tokens['guard']}' "
                    f"http://127.0.0.1:{port}/api/v1/alarms/ALARM_ID/ack",
                    f"  curl -s -X POST -H 'Authorization: Bearer {tokens['guard']}'"
                    " -H 'Content-Type: application/json'"
                    f' -d \'{{"note": "drill", "disposition": "drill"}}\' '
                    f"http://127.0.0.1:{port}/api/v1/alarms/ALARM_ID/close",
                    "Trip an electrical fire unit, a gas or CO detector, an intrusion detector or a door",
                    "(--level alarm, prealarm or restore; a pre-alarm is a maintenance trouble, never 110):",
                    f"  .venv/bin/campus-hub simulate --config {config_path} --trip ef-canteen --level prealarm",
                    f"  .venv/bin/campus-hub simulate --config {config_path} --trip gas-kitchen",
                    f"  .venv/bin/campus-hub simulate --config {config_path} --trip door-chem   (a 24-hour zone)",
                    f"  .venv/bin/campus-hub simulate --config {config_path} --trip pir-finance"
                    "   (an alarm only out of school hours)",
                    "Arm or disarm a zone (布防 / 撤防):",
                    f"  curl -s -X POST -H 'Authorization: Bearer {tokens['guard']}' "
                    f"http://127.0.0.1:{port}/api/v1/zones/finance/arm",
                    "Cover a camera's lens (its picture goes black; a camera_check fault opens after 3 checks):",
                    f"  curl -s -X POST http://127.0.0.1:{cameras.port}/cam-gate/cover   (and .../uncover)",
                    f"The simulator also presses a random button every {press_every:.0f} s." if press_every else "",
                    "",
                ]
            ),
            flush=True,
        )
        hub.serve()
    finally:
        if school is not None:
            school.stop()
        receiver.stop()
        cameras.stop()
        broker.stop()
    return 0
