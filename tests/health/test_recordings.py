"""Camera recording retention: how far back recordings reach, the forecast of a shortfall, the folder scan, and
the watcher that opens and recovers `retention_shortfall` faults (real SQLite, real Mosquitto, real HTTP API)."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from hub.config.loader import ConfigError, parse_config
from hub.core.clock import ManualClock, to_iso
from hub.health.faults import FaultKind
from hub.health.recordings import (
    RecordingsWatcher,
    forecast_shortfall_on,
    judge,
    read_statuses,
    retained_days,
    scan_folder,
)
from hub.reports import DeviceInfo, resolve_period, retention_compliance
from hub.store import Store
from hub.store.health import HealthStore
from hub.store.reports import read_report
from tests.conftest import TOKENS, HubFactory, Publisher, base_config, topic, wait_until

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_retained_days() -> None:
    assert retained_days(NOW - 90 * DAY, NOW) == 90.0
    assert retained_days(NOW - timedelta(hours=36), NOW) == 1.5
    assert retained_days(NOW + DAY, NOW) == 0.0


def test_forecast_plenty_of_disk_never_falls_short() -> None:
    # 5,000 GB at 4 Mbit/s holds 115.7 days: once full the window stays above 90.
    assert forecast_shortfall_on(NOW - 100 * DAY, 1000, 4000, 4.0, 90, NOW, SHANGHAI) is None


def test_forecast_a_disk_too_small_for_the_rate_falls_short_when_it_fills() -> None:
    # 2,500 GB at 4 Mbit/s holds 57.9 days; the 500 GB still free fill in 1,000,000 s (11.57 days).
    expected = (NOW + timedelta(seconds=500 * 8000 / 4.0)).date()
    assert forecast_shortfall_on(NOW - 95 * DAY, 2000, 500, 4.0, 90, NOW, SHANGHAI) == expected == date(2026, 12, 11)
    # A full disk is overwriting already: short from today.
    assert forecast_shortfall_on(NOW - 95 * DAY, 2500, 0, 4.0, 90, NOW, SHANGHAI) == NOW.date()
    # A faster rate fills it sooner.
    assert forecast_shortfall_on(NOW - 95 * DAY, 2000, 500, 8.0, 90, NOW, SHANGHAI) == date(2026, 12, 5)


def test_forecast_short_now_is_today_and_no_rate_is_no_forecast() -> None:
    assert forecast_shortfall_on(NOW - 30 * DAY, 100, 4000, 4.0, 90, NOW, SHANGHAI) == NOW.date()
    for rate in (None, 0.0, -1.0, math.nan, math.inf):
        assert forecast_shortfall_on(NOW - 100 * DAY, 100, 10, rate, 90, NOW, SHANGHAI) is None
    assert forecast_shortfall_on(NOW - 100 * DAY, None, 10, 4.0, 90, NOW, SHANGHAI) is None


def test_scan_folder_finds_the_oldest_non_empty_day_and_ignores_junk(tmp_path: Path) -> None:
    cam = tmp_path / "cam-1"
    for name in ("2026-09-01", "2026-08-15", "2026-13-45", "2026-07-01", "notes", "2025-1-1"):
        (cam / name).mkdir(parents=True)
    (cam / "2026-09-01" / "0800.mp4").write_bytes(b"x")
    (cam / "2026-08-15" / "2300.mp4").write_bytes(b"x")
    (cam / "2026-13-45" / "x.mp4").write_bytes(b"x")  # not a date
    (cam / "notes" / "x.mp4").write_bytes(b"x")
    (cam / "2025-1-1" / "x.mp4").write_bytes(b"x")  # not YYYY-MM-DD
    (cam / "2020-01-01").write_bytes(b"a file, not a day folder")
    # 2026-07-01 is empty: the recorder removed its files, it reaches back no further than 2026-08-15.
    assert scan_folder(tmp_path, "cam-1") == date(2026, 8, 15)
    assert scan_folder(tmp_path, "cam-missing") is None
    assert scan_folder(tmp_path, "../cam-1") is None
    (tmp_path / "cam-2" / "2026-01-01").mkdir(parents=True)
    assert scan_folder(tmp_path, "cam-2") is None


def _health(oldest: datetime, used: float = 100, free: float = 4000, rate: float = 4.0) -> dict[str, Any]:
    return {
        "labels": ["healthy"],
        "oldest_recording": to_iso(oldest),
        "storage_used_gb": used,
        "storage_free_gb": free,
        "write_rate_mbps": rate,
    }


def test_judge_from_payload_and_folder() -> None:
    # A full disk overwriting at 30 days: short (a disk with room would be a young camera, below).
    short = judge("c", NOW, 90, 14, zone=SHANGHAI, payload=_health(NOW - 30 * DAY, 2500, 0), reported_at=NOW)
    assert (short.compliant, short.source, short.shortfall_on) == (False, "payload", NOW.date())
    assert short.retained_days == pytest.approx(30)
    warned = judge("c", NOW, 90, 14, zone=SHANGHAI, payload=_health(NOW - 95 * DAY, 2000, 500), reported_at=NOW)
    assert (warned.compliant, warned.warning, warned.shortfall_on) == (True, True, date(2026, 12, 11))
    later = judge("c", NOW, 90, 7, zone=SHANGHAI, payload=_health(NOW - 95 * DAY, 2000, 500), reported_at=NOW)
    assert (later.compliant, later.warning) == (True, False)  # outside a 7-day horizon
    stale = judge("c", NOW, 90, 14, zone=SHANGHAI, payload=_health(NOW - 30 * DAY), reported_at=NOW - 5 * DAY)
    assert (stale.compliant, stale.retained_days) == (None, None)
    assert "stale" in stale.note
    assert judge("c", NOW, 90, 14, zone=SHANGHAI).compliant is None
    folder = judge("c", NOW, 90, 14, zone=SHANGHAI, folder_oldest=date(2026, 8, 1), use_folder=True)
    assert (folder.compliant, folder.source) == (True, "folder")
    # The folder's day starts at 00:00 Beijing time (16:00 UTC the evening before): 8 hours more than UTC's.
    assert folder.retained_days == pytest.approx(120.5 + 8 / 24)
    empty = judge("c", NOW, 90, 14, zone=SHANGHAI, folder_oldest=None, use_folder=True)
    assert (empty.compliant, empty.retained_days, empty.note) == (False, 0.0, "no recordings in the recordings folder")


def test_a_young_camera_is_judged_by_its_forecast_not_as_a_shortfall() -> None:
    # 30 days of recordings, 4,000 GB still free, the whole 4,100 GB at 4 Mbit/s holds 94.9 days: it gets there.
    young = judge("c", NOW, 90, 14, zone=SHANGHAI, payload=_health(NOW - 30 * DAY), reported_at=NOW)
    assert (young.compliant, young.shortfall_on) == (None, None)
    # NOW - 30 days + 90 days = 2027-01-28 12:00 UTC = 20:00 Beijing time, the same date there.
    assert young.reaches_on == date(2027, 1, 28)
    assert young.as_json()["young"] is True
    assert "2027-01-28" in young.note
    # The same age on a disk too small for 90 days (1,000 GB at 4 Mbit/s: 23 days): it never gets there, short.
    small = judge("c", NOW, 90, 14, zone=SHANGHAI, payload=_health(NOW - 10 * DAY, 300, 700), reported_at=NOW)
    assert (small.compliant, small.reaches_on) == (False, None)
    # A full disk is overwriting: not young whatever its age.
    full = judge("c", NOW, 90, 14, zone=SHANGHAI, payload=_health(NOW - 30 * DAY, 4100, 0), reported_at=NOW)
    assert full.compliant is False
    # Three days later its oldest recording has moved on by three days (a recorder deleting by age with room left):
    # recordings are being deleted, so it is not young after all.
    later = NOW + 3 * DAY
    trimmed = judge(
        "c",
        later,
        90,
        14,
        zone=SHANGHAI,
        payload=_health(later - 30 * DAY),
        reported_at=later,
        young_since=NOW - 30 * DAY,
    )
    assert (trimmed.compliant, trimmed.reaches_on) == (False, None)
    kept = judge(
        "c",
        later,
        90,
        14,
        zone=SHANGHAI,
        payload=_health(NOW - 30 * DAY),
        reported_at=later,
        young_since=NOW - 30 * DAY,
    )
    assert (kept.compliant, kept.young_since) == (None, NOW - 30 * DAY)
    # The bureau's summary counts it apart: not compliant, not short.
    cams = [DeviceInfo("c", "camera", "c", "A"), DeviceInfo("d", "camera", "d", "A")]
    figure = retention_compliance(cams, {"c": young.as_json()}, 90)
    assert figure == {"policy_days": 90, "cameras": 2, "young": 1, "known": 0, "compliant": 0, "share": None}
    # No rates: nothing can be forecast, so the shortfall stands.
    bare = {"oldest_recording": to_iso(NOW - 30 * DAY)}
    assert judge("c", NOW, 90, 14, zone=SHANGHAI, payload=bare, reported_at=NOW).compliant is False


# --- the watcher on a real SQLite file ------------------------------------------------------------------------


def _store_health(store: Store, camera: str, data: dict[str, Any], at: datetime) -> None:
    with store.write() as conn:
        conn.execute(
            "INSERT INTO events (device_id, kind, channel, occurred_at, received_at, data)"
            " VALUES (?, 'camera', 'health', ?, ?, ?)",
            (camera, to_iso(at), to_iso(at), json.dumps(data)),
        )


def test_watcher_opens_and_recovers_faults_and_warns(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    store = Store(tmp_path / "hub.db", clock)
    store.open()
    faults = HealthStore(store, 24, 600)
    faults.open()
    notices: list[tuple[str, dict[str, Any]]] = []
    registry = CollectorRegistry()
    watcher = RecordingsWatcher(
        store,
        clock,
        ["cam-short", "cam-warn", "cam-silent", "cam-new"],
        policy_days=90,
        horizon_days=14,
        root=None,
        interval_s=3600,
        zone=SHANGHAI,
        open_subjects=lambda: faults.open_subjects(FaultKind.RETENTION_SHORTFALL),
        apply_faults=faults.apply_changes,
        notify=lambda kind, data: notices.append((kind, data)),
        registry=registry,
    )
    watcher.open()
    _store_health(store, "cam-short", _health(NOW - 30 * DAY, 2500, 0), NOW)
    _store_health(store, "cam-warn", _health(NOW - 95 * DAY, 2000, 500), NOW)
    _store_health(store, "cam-new", _health(NOW - 30 * DAY), NOW)  # young, on course: no fault
    watcher.run_once()
    young = read_statuses(store.connection())["cam-new"]
    assert (young["compliant"], young["young"], young["reaches_policy_on"]) == (None, True, "2027-01-28")
    assert faults.open_subjects(FaultKind.RETENTION_SHORTFALL) == {"cam-short"}
    assert [(k, d["camera_id"]) for k, d in notices] == [("retention_warning", "cam-warn")]
    status = watcher.status("cam-short")
    assert status is not None
    assert (status["compliant"], status["source"], status["retained_days"]) == (False, "payload", 30.0)
    silent = watcher.status("cam-silent")
    assert silent is not None
    assert (silent["compliant"], silent["retained_days"], silent["note"]) == (
        None,
        None,
        "no health report from the camera yet",
    )
    assert watcher.status("nope") is None
    metrics = generate_latest(registry).decode()
    assert 'campus_hub_recording_retained_days{camera="cam-short"} 30.0' in metrics
    assert "campus_hub_recording_forecast_warnings 1.0" in metrics
    # Stored for reports and the offline CLI: a fresh reader sees the same verdicts.
    assert read_statuses(store.connection())["cam-warn"]["forecast_warning"] is True

    # An hour on, the same picture: no second fault, no second warning.
    clock.advance(3600)
    watcher.run_once()
    assert len(faults.list_faults(subject="cam-short")) == 1
    assert len(notices) == 1

    # The recorder got a bigger disk and 60 more days passed: compliant, the fault recovers by itself.
    clock.advance(60 * 86400)
    _store_health(store, "cam-short", _health(NOW - 30 * DAY, 100, 8000), clock.now())
    _store_health(store, "cam-new", _health(NOW - 30 * DAY, 1500, 2600), clock.now())
    watcher.run_once()
    assert faults.open_subjects(FaultKind.RETENTION_SHORTFALL) == set()
    (fault,) = faults.list_faults(subject="cam-short")
    assert fault["state"] == "recovered"
    # cam-warn's last report is now 60 days old: unknown, not compliant and not short.
    assert (watcher.status("cam-warn") or {})["compliant"] is None


def test_watcher_reads_a_recordings_folder(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    store = Store(tmp_path / "hub.db", clock)
    store.open()
    faults = HealthStore(store, 24, 600)
    faults.open()
    root = tmp_path / "nvr"
    for camera, day in (("cam-a", "2026-08-01"), ("cam-b", "2026-11-01")):
        (root / camera / day).mkdir(parents=True)
        (root / camera / day / "0000.mp4").write_bytes(b"x")
    watcher = RecordingsWatcher(
        store,
        clock,
        ["cam-a", "cam-b"],
        policy_days=90,
        horizon_days=14,
        root=root,
        interval_s=3600,
        zone=SHANGHAI,
        open_subjects=lambda: faults.open_subjects(FaultKind.RETENTION_SHORTFALL),
        apply_faults=faults.apply_changes,
        registry=CollectorRegistry(),
    )
    watcher.open()
    statuses = {s.camera_id: s for s in watcher.run_once()}
    assert (statuses["cam-a"].compliant, statuses["cam-a"].source) == (True, "folder")
    assert statuses["cam-b"].compliant is False
    assert faults.open_subjects(FaultKind.RETENTION_SHORTFALL) == {"cam-b"}


# --- end to end: MQTT health report -> verdict -> fault, report summary and API -----------------------------------


def test_camera_health_over_mqtt_reaches_the_report(
    tmp_path: Path, broker: Any, publisher: Publisher, start_hub: HubFactory
) -> None:
    clock = ManualClock(datetime.now(UTC))
    raw = base_config(tmp_path, broker.port, None)
    hub = start_hub(raw, clock=clock, api=True)
    publisher.publish(topic("camera", "cam-1", "health"), _health(clock.now() - 40 * DAY, 2500, 0))
    assert wait_until(lambda: hub.recordings.run_once()[0].compliant is False, 10)
    assert hub.health_store.open_subjects(FaultKind.RETENTION_SHORTFALL) == {"cam-1"}
    period = resolve_period(clock.now() - DAY, clock.now(), clock.now())
    _, _, report = read_report(hub.store.connection(), hub.config, period, "device", "json")
    summary = report["summary"]["retention_compliance"]
    assert summary == {"policy_days": 90, "cameras": 1, "young": 0, "known": 1, "compliant": 0, "share": 0.0}
    (row,) = [r for r in report["rows"] if r["key"] == "cam-1"]
    assert (row["retention_days"], row["retention_ok"]) == (40.0, False)
    assert hub.api.state.context.camera_retention("cam-1")["compliant"] is False
    with httpx.Client(
        base_url=f"http://127.0.0.1:{hub.api_port}", headers={"Authorization": f"Bearer {TOKENS['bureau']}"}
    ) as client:
        csv_body = client.get("/api/v1/reports/uptime", params={"format": "csv"}).content.decode("utf-8-sig")
    header, *lines = csv_body.splitlines()
    assert header.endswith("retention_days,retention_ok")
    assert any(line.startswith("device,cam-1,") and line.endswith(",40.0,False") for line in lines)


def test_config_resolves_the_recordings_root_and_takes_the_webhook_secret_from_env(tmp_path: Path) -> None:
    text = (
        "site: {id: s1, name: School, address: Road}\n"
        "recordings: {root: nvr/recordings, forecast_horizon_days: 7}\n"
        "sla: {escalation_webhook: {url: 'http://127.0.0.1:9/hook'}}\n"
    )
    config = parse_config(
        text, "hub.yaml", base_dir=tmp_path, environ={"CAMPUS_HUB__SLA__ESCALATION_WEBHOOK__SECRET": "s3cret"}
    )
    assert config.recordings.root == tmp_path / "nvr" / "recordings"
    assert (config.recordings.check_interval_s, config.recordings.forecast_horizon_days) == (3600, 7)
    assert config.sla.escalation_webhook is not None
    assert config.sla.escalation_webhook.secret is not None
    assert config.sla.escalation_webhook.secret.get_secret_value() == "s3cret"
    assert (config.retention.purge_interval_s, config.retention.purge_batch) == (3600, 500)
    with pytest.raises(ConfigError, match="forecast_horizon_days"):
        parse_config(text.replace("7}", "-1}"), "hub.yaml", base_dir=tmp_path, environ={})
