"""The `campus-hub` command: run, check-config, demo, simulate, receiver, report, mqtt-acl."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sqlite3
import sys
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from hub.config import HubConfig
from hub.config.loader import ConfigError, load_config

log = logging.getLogger("campus_hub")

EXIT_CONFIG = 2


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _load(path: Path) -> HubConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue.render(exc.filename), file=sys.stderr)
        print(f"{exc.filename}: {len(exc.issues)} error(s)", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def cmd_check_config(args: argparse.Namespace) -> int:
    config = _load(Path(args.config))
    for warning in config.warnings():
        print(f"{args.config}: warning: {warning}", file=sys.stderr)
    print(
        f"{args.config}: OK: site {config.site.id}, {len(config.devices)} devices, "
        f"{len(config.forwarding.endpoints)} endpoints, {len(config.api.tokens)} API tokens"
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from hub.app import Hub

    config = _load(Path(args.config))
    hub = Hub(config)
    hub.start()
    hub.serve()
    return 0


def cmd_receiver(args: argparse.Namespace) -> int:
    from hub.devtools.receiver import Receiver

    secret = os.environ.get("CAMPUS_HUB_RECEIVER_SECRET") or args.secret
    receiver = Receiver(secret, args.host, args.port)
    print(f"110 receiver on {receiver.url} ({'checking signatures' if secret else 'NOT checking signatures'})")
    try:
        receiver.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def cmd_camera_check(args: argparse.Namespace) -> int:
    """Diagnose one picture: one JSON object on stdout, exit 0 even when it cannot be read (that is no_signal)."""
    import json

    from video.diagnosis import decode, diagnose

    def read(path: str | None, what: str) -> Any:
        if path is None:
            return None
        try:
            image = decode(Path(path).read_bytes())
        except OSError as exc:
            print(f"campus-hub camera-check: {what} {path}: {exc}", file=sys.stderr)
            return None
        if image is None:
            print(f"campus-hub camera-check: {what} {path}: not a decodable image", file=sys.stderr)
        return image

    result = diagnose(read(args.image, "image"), read(args.prev, "previous"), read(args.reference, "reference"))
    print(json.dumps(result.as_json()))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from hub.devtools.simulate import School, press

    config = _load(Path(args.config))
    if args.press:
        press(config, args.press)
        print(f"pressed {args.press}")
        return 0
    school = School(config, press_every_s=args.press_every).start()
    print(f"simulating {len(school.devices)} devices; Ctrl-C to stop")
    _wait_for_signal()
    school.stop()
    return 0


def _aware_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. 2026-09-01T00:00:00+08:00")
    return value


def cmd_report_uptime(args: argparse.Namespace) -> int:
    """The uptime report offline, from the hub's SQLite file opened read-only: the same bytes the API sends."""
    from hub.core.clock import SystemClock
    from hub.reports import PeriodError, resolve_period
    from hub.store.reports import open_readonly, read_report

    config = _load(Path(args.config))
    try:
        period = resolve_period(args.from_, args.to, SystemClock().now())
    except PeriodError as exc:
        print(f"campus-hub report uptime: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        conn = open_readonly(config.storage.path)
        try:
            _, body, _ = read_report(conn, config, period, args.group, args.format)
        finally:
            conn.close()
    except (OSError, sqlite3.Error) as exc:
        print(f"campus-hub report uptime: {config.storage.path}: {exc}", file=sys.stderr)
        return 1
    if args.output:
        Path(args.output).write_bytes(body)
    else:
        sys.stdout.buffer.write(body)
        sys.stdout.buffer.flush()
    return 0


def cmd_mqtt_acl(args: argparse.Namespace) -> int:
    """Mosquitto password-file commands and ACL for the registry; never prints a password."""
    from hub.mqtt.acl import AclError, acl_for, render_json, render_text

    config = _load(Path(args.config))
    try:
        plan = acl_for(config, password_file=args.password_file, acl_file=args.acl_file)
    except AclError as exc:
        print(f"campus-hub mqtt-acl: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    sys.stdout.write(render_json(plan, config) if args.format == "json" else render_text(plan, config))
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """Delete (or with --dry-run only count) what is past its retention; safe while the hub runs (WAL, batches)."""
    from hub.core.clock import SystemClock
    from hub.store import Store
    from hub.store.retention import Purger, describe

    config = _load(Path(args.config))
    if not config.storage.path.is_file():
        print(f"campus-hub purge: no database at {config.storage.path}", file=sys.stderr)
        return 1
    store = Store(config.storage.path, SystemClock())
    try:
        result = Purger.from_config(store, SystemClock(), config).run_once(dry_run=args.dry_run)
    except sqlite3.Error as exc:
        print(f"campus-hub purge: {config.storage.path}: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close_thread_connection()
    print(describe(result))
    return 0


def _wait_for_signal() -> None:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()


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
        ],
    }
    return config, tokens


def cmd_demo(args: argparse.Namespace) -> int:
    from hub.app import Hub
    from hub.devtools.broker import Mosquitto
    from hub.devtools.receiver import Receiver
    from hub.devtools.sim_cameras import CameraServer
    from hub.devtools.simulate import School

    workdir = Path(tempfile.mkdtemp(prefix="campus-hub-demo-"))
    broker = Mosquitto(workdir / "broker").start()
    cameras = CameraServer(["cam-gate", "cam-hall"]).start()
    receiver_secret = None
    config_path = workdir / "hub.yaml"
    raw, tokens = demo_config(workdir, broker.port, "http://127.0.0.1:0/alarms", args.port, cameras.url)
    receiver_secret = raw["forwarding"]["endpoints"][0]["secret"]
    receiver = Receiver(receiver_secret).start()
    raw["forwarding"]["endpoints"][0]["url"] = receiver.url
    config_path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    config = _load(config_path)
    hub = Hub(config)
    school: School | None = None
    try:
        hub.start()
        school = School(config, press_every_s=args.press_every).start()
        prefix = f"{config.mqtt.topic_prefix}/{config.site.id}"
        print(
            "\n".join(
                [
                    "",
                    "campus-hub demo is running (Ctrl-C to stop)",
                    f"  console          http://127.0.0.1:{args.port}/login   (a token below; 中文/EN)",
                    f"  API              http://127.0.0.1:{args.port}/api/v1/   (API docs: /api/docs)",
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
                    f"  curl -s -H 'Authorization: Bearer {tokens['guard']}' http://127.0.0.1:{args.port}/api/v1/alarms",
                    f"  curl -s -X POST -H 'Authorization: Bearer {tokens['guard']}' "
                    f"http://127.0.0.1:{args.port}/api/v1/alarms/ALARM_ID/ack",
                    f"  curl -s -X POST -H 'Authorization: Bearer {tokens['guard']}'"
                    " -H 'Content-Type: application/json'"
                    f' -d \'{{"note": "drill", "disposition": "drill"}}\' '
                    f"http://127.0.0.1:{args.port}/api/v1/alarms/ALARM_ID/close",
                    "Cover a camera's lens (its picture goes black; a camera_check fault opens after 3 checks):",
                    f"  curl -s -X POST http://127.0.0.1:{cameras.port}/cam-gate/cover   (and .../uncover)",
                    f"The simulator also presses a random button every {args.press_every:.0f} s."
                    if args.press_every
                    else "",
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


def build_parser() -> argparse.ArgumentParser:
    from hub.mqtt.acl import DEFAULT_ACL_FILE, DEFAULT_PASSWORD_FILE

    parser = argparse.ArgumentParser(prog="campus-hub", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the hub")
    p.add_argument("--config", "-c", required=True, help="YAML configuration file")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check-config", help="validate a configuration file; exit 2 with every error and its line")
    p.add_argument("config", help="YAML configuration file")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("demo", help="private broker, simulated school, local 110 receiver and the hub")
    p.add_argument("--port", type=int, default=8080, help="API/console port (default 8080)")
    p.add_argument("--press-every", type=float, default=60.0, help="simulated press interval, seconds (0: never)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("simulate", help="simulate the devices of a configuration, or press one button")
    p.add_argument("--config", "-c", required=True, help="YAML configuration file")
    p.add_argument("--press", metavar="DEVICE", help="press this panic button once and exit")
    p.add_argument("--press-every", type=float, default=0.0, help="press a random button every N seconds")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("receiver", help="a local 110-style receiving endpoint that logs alarms and answers receipts")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9110)
    p.add_argument("--secret", help="shared secret to check X-Hub-Signature-256 (or CAMPUS_HUB_RECEIVER_SECRET)")
    p.set_defaults(func=cmd_receiver)

    p = sub.add_parser("camera-check", help="diagnose one camera picture; prints {labels, metrics} as JSON")
    p.add_argument("image", help="JPEG or PNG snapshot")
    p.add_argument("--prev", help="the camera's previous snapshot (for frozen)")
    p.add_argument("--reference", help="the camera's reference snapshot, taken while it was known good")
    p.set_defaults(func=cmd_camera_check)

    p = sub.add_parser("report", help="reports from the hub's database, offline")
    reports = p.add_subparsers(dest="report", required=True)
    p = reports.add_parser(
        "uptime",
        help="uptime per device, kind or site (as GET /api/v1/reports/uptime); reads the database read-only",
    )
    p.add_argument("--config", "-c", required=True, help="YAML configuration file (names the database)")
    p.add_argument(
        "--from", dest="from_", type=_aware_time, help="start, ISO 8601 with offset (default: 30 days before --to)"
    )
    p.add_argument("--to", type=_aware_time, help="end, ISO 8601 with offset (default: now)")
    p.add_argument("--group", choices=["device", "kind", "site"], default="device", help="one row per (default device)")
    p.add_argument("--format", choices=["csv", "json"], default="csv", help="csv (UTF-8 with BOM, for Excel) or json")
    p.add_argument("--output", "-o", help="write to this file instead of standard output")
    p.set_defaults(func=cmd_report_uptime)

    p = sub.add_parser(
        "mqtt-acl", help="Mosquitto ACL (and mosquitto_passwd commands) giving each device its own topics only"
    )
    p.add_argument("--config", "-c", required=True, help="YAML configuration file (the registry)")
    p.add_argument("--format", choices=["text", "json"], default="text", help="text: a ready ACL file (default)")
    p.add_argument("--password-file", default=DEFAULT_PASSWORD_FILE, help="path named in the commands")
    p.add_argument("--acl-file", default=DEFAULT_ACL_FILE, help="path named in the broker settings")
    p.set_defaults(func=cmd_mqtt_acl)

    p = sub.add_parser(
        "purge", help="delete what is past retention.days / records_days (never active alarms or open faults)"
    )
    p.add_argument("--config", "-c", required=True, help="YAML configuration file (names the database)")
    p.add_argument("--dry-run", action="store_true", help="only say what would be deleted")
    p.set_defaults(func=cmd_purge)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "check-config":
        _logging(args.verbose)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
