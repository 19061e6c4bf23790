"""The `campus-hub` command: run, check-config, demo, simulate, receiver, report, mqtt-acl, test-mode."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sqlite3
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.config import HubConfig
from hub.config.loader import ConfigError, load_config
from hub.core.redact import install_log_redaction

if TYPE_CHECKING:
    from hub.store import Store

log = logging.getLogger("campus_hub")

EXIT_CONFIG = 2


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    install_log_redaction()
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
    from hub.store.schema import StoreOpenError

    config = _load(Path(args.config))
    try:
        hub = Hub(config)
    except StoreOpenError as exc:
        print(f"campus-hub run: {exc}", file=sys.stderr)
        return EXIT_CONFIG
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
    import json

    from hub.devtools.simulate import School, press, trip

    config = _load(Path(args.config))
    if args.trip:
        sent = trip(config, args.trip, args.level)
        print(f"{args.trip}: sent {json.dumps(sent)}")
        return 0
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
    from hub.reports import PeriodError, period_bound, resolve_period
    from hub.store.reports import open_readonly, read_report

    config = _load(Path(args.config))
    zone = config.site.tz()
    try:
        period = resolve_period(
            period_bound(args.from_, zone, end=False) if args.from_ else None,
            period_bound(args.to, zone, end=True) if args.to else None,
            SystemClock().now(),
        )
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


def cmd_demo(args: argparse.Namespace) -> int:
    from hub.devtools.demo import run_demo

    return run_demo(args.port, args.press_every, _load)


def _open_store(config: HubConfig) -> Store:
    from hub.core.clock import SystemClock
    from hub.store import Store

    store = Store(config.storage.path, SystemClock())
    store.open()
    return store


def cmd_backup(args: argparse.Namespace) -> int:
    from hub.store.schema import StoreOpenError

    config = _load(Path(args.config))
    target = Path(args.to)
    try:
        store = _open_store(config)
        store.backup(target)
    except (StoreOpenError, sqlite3.Error, OSError) as exc:
        print(f"campus-hub backup: {exc}", file=sys.stderr)
        return 1
    print(f"{config.storage.path} -> {target}")
    return 0


def cmd_check_store(args: argparse.Namespace) -> int:
    from hub.store.schema import StoreOpenError

    config = _load(Path(args.config))
    try:
        problems = _open_store(config).integrity_check()
    except (StoreOpenError, sqlite3.Error) as exc:
        print(f"campus-hub check-store: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    for line in problems:
        print(line)
    return 0 if problems == ["ok"] else 1


def cmd_token(args: argparse.Namespace) -> int:
    import secrets

    # 32 random bytes, URL-safe: 43 characters, far past the 16 check-config demands.
    print(secrets.token_urlsafe(32))
    return 0


AUTH_VARIABLE = "CAMPUS_HUB_TOKEN"
URL_ENV = "CAMPUS_HUB_URL"


def cmd_test_mode(args: argparse.Namespace) -> int:
    """Test mode on the running hub, through its API: the hub's own lookup changes at once, and the token's holder
    is the person the audit log names. Prints the API's JSON answer."""
    import json

    import httpx

    token = os.environ.get(AUTH_VARIABLE)
    if not token:
        print(f"campus-hub test-mode: set {AUTH_VARIABLE} to a maintenance or admin API token", file=sys.stderr)
        return EXIT_CONFIG
    base = args.url.rstrip("/")
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        try:
            if args.action == "start":
                until = args.until or datetime.now(UTC) + timedelta(minutes=args.minutes)
                body: dict[str, Any] = {"until": until.isoformat(), "note": args.note}
                if args.site:
                    body["site"] = True
                elif args.building:
                    body["building"] = args.building
                else:
                    body["devices"] = [d for d in (args.devices or "").split(",") if d]
                response = client.post("/api/v1/test-mode", json=body)
            elif args.action == "end":
                response = client.delete(f"/api/v1/test-mode/{args.id}")
            elif args.action == "log":
                params = {k: v.isoformat() for k, v in (("from", args.from_), ("to", args.to)) if v is not None}
                response = client.get("/api/v1/test-log", params=params)
            else:
                response = client.get("/api/v1/test-mode")
        except httpx.HTTPError as exc:
            print(f"campus-hub test-mode: the hub at {base} did not answer: {exc}", file=sys.stderr)
            return 1
    if response.is_error:
        print(f"campus-hub test-mode: HTTP {response.status_code}: {response.text}", file=sys.stderr)
        return 1
    print(json.dumps(response.json(), ensure_ascii=False, indent=2))
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
    p.add_argument(
        "--trip",
        metavar="DEVICE",
        help="send one message that trips an electrical_fire, gas, co, intrusion or door device, and exit",
    )
    p.add_argument(
        "--level",
        choices=["alarm", "prealarm", "restore"],
        default="alarm",
        help="with --trip: past the alarm level (a door open, a detector tripped), the pre-alarm level, or quiet",
    )
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
        "--from",
        dest="from_",
        help="start, ISO 8601 with offset or a date (00:00 of that day in site.timezone); default: 30 days before --to",
    )
    p.add_argument("--to", help="end, ISO 8601 with offset or a date (that day included, site.timezone); default: now")
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

    p = sub.add_parser("backup", help="an online, consistent copy of the hub's database (safe while it runs)")
    p.add_argument("--config", "-c", required=True, help="YAML configuration file (names the database)")
    p.add_argument("to", help="the copy's path, e.g. /var/backups/campus-hub/hub-$(date +%%F).db")
    p.set_defaults(func=cmd_backup)

    p = sub.add_parser("check-store", help="full integrity check of the database (reads every page)")
    p.add_argument("--config", "-c", required=True, help="YAML configuration file (names the database)")
    p.set_defaults(func=cmd_check_store)

    p = sub.add_parser(
        "test-mode",
        help=f"put devices on test (测试) on the running hub, end it, list it, or read the test/drill log; "
        f"through the API with the token in {AUTH_VARIABLE}",
    )
    p.add_argument(
        "--url", default=os.environ.get(URL_ENV, "http://127.0.0.1:8080"), help=f"the hub's API (or {URL_ENV})"
    )
    modes = p.add_subparsers(dest="action", required=True)
    start = modes.add_parser("start", help="devices, a building or the site on test until an end")
    scope = start.add_mutually_exclusive_group(required=True)
    scope.add_argument("--devices", help="device ids, comma-separated")
    scope.add_argument("--building", help="every device of this building")
    scope.add_argument("--site", action="store_true", help="the whole site")
    end = start.add_mutually_exclusive_group()
    end.add_argument("--until", type=_aware_time, help="end, ISO 8601 with offset")
    end.add_argument("--minutes", type=float, default=60.0, help="end this many minutes from now (default 60)")
    start.add_argument("--note", default="", help="what is tested and why")
    stop = modes.add_parser("end", help="end a test mode (or drill) now")
    stop.add_argument("id", help="its id, as start or list printed it")
    modes.add_parser("list", help="test modes and drills running now")
    log_ = modes.add_parser("log", help="the test/drill log")
    log_.add_argument(
        "--from", dest="from_", type=_aware_time, help="start, ISO 8601 with offset (default 31 days ago)"
    )
    log_.add_argument("--to", type=_aware_time, help="end, ISO 8601 with offset (default now)")
    p.set_defaults(func=cmd_test_mode)

    p = sub.add_parser("token", help="print a new random API token (for api.tokens, from the environment)")
    p.set_defaults(func=cmd_token)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "check-config":
        _logging(args.verbose)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
