"""Days are the site's days (site.timezone, Beijing time here): the bureau's daily figures, report periods given as
dates, and the pure helpers that cut them, checked against a hand computation across 00:00 Beijing (16:00 UTC)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml

from hub.app import Hub
from hub.core.clock import ManualClock, to_iso
from hub.devtools.broker import Mosquitto
from hub.health.model import DeviceState
from hub.reports import PeriodError, period_bound, previous_site_day, site_days
from tests.conftest import TOKENS, HubFactory, Publisher, base_config, topic, wait_until

SHANGHAI = ZoneInfo("Asia/Shanghai")
KINDS = {
    "cam-1": "camera",
    "btn-1": "panic_button",
    "btn-2": "panic_button",
    "smoke-1": "smoke",
    "temp-1": "temperature",
}
START = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)  # 22:00 on 1 December, Beijing time
HOUR = timedelta(hours=1)


def test_a_date_is_the_site_day_and_to_includes_its_day() -> None:
    assert period_bound("2026-12-02", SHANGHAI, end=False) == datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
    assert period_bound("2026-12-02", SHANGHAI, end=True) == datetime(2026, 12, 2, 16, 0, tzinfo=UTC)
    assert period_bound("2026-12-02T09:00:00+08:00", SHANGHAI, end=False) == datetime(2026, 12, 2, 1, tzinfo=UTC)
    for bad in ("2026-13-01", "yesterday", "2026-12-02T09:00:00"):
        with pytest.raises(PeriodError):
            period_bound(bad, SHANGHAI, end=False)


def test_site_days_cut_at_16_utc_and_the_previous_day() -> None:
    days = site_days(datetime(2026, 12, 1, 15, tzinfo=UTC), datetime(2026, 12, 2, 17, tzinfo=UTC), SHANGHAI)
    assert days == [
        (date(2026, 12, 1), datetime(2026, 12, 1, 15, tzinfo=UTC), datetime(2026, 12, 1, 16, tzinfo=UTC)),
        (date(2026, 12, 2), datetime(2026, 12, 1, 16, tzinfo=UTC), datetime(2026, 12, 2, 16, tzinfo=UTC)),
        (date(2026, 12, 3), datetime(2026, 12, 2, 16, tzinfo=UTC), datetime(2026, 12, 2, 17, tzinfo=UTC)),
    ]
    # 15:59 UTC on 2 December is still 2 December in Beijing (23:59): yesterday is the 1st.
    assert previous_site_day(datetime(2026, 12, 2, 15, 59, tzinfo=UTC), SHANGHAI) == (
        date(2026, 12, 1),
        datetime(2026, 11, 30, 16, tzinfo=UTC),
        datetime(2026, 12, 1, 16, tzinfo=UTC),
    )
    assert previous_site_day(datetime(2026, 12, 2, 16, 0, tzinfo=UTC), SHANGHAI)[0] == date(2026, 12, 2)


def _go(hub: Hub, publisher: Publisher, device: str, online: bool) -> None:
    publisher.publish(topic(KINDS[device], device, "status"), "online" if online else "offline")
    want = DeviceState.ONLINE if online else DeviceState.OFFLINE
    assert wait_until(lambda: (hub.tracker.get(device) or _Nothing).state is want, 5), f"{device} not {want}"


class _Nothing:
    state = None


@pytest.fixture
def night(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory
) -> tuple[Hub, ManualClock, dict[str, Any]]:
    """Five devices heard from 14:00 UTC on 1 December (22:00 Beijing); smoke-1 down 15:00-17:00 UTC, that is
    23:00 on the 1st to 01:00 on the 2nd, Beijing time: one outage across the day boundary."""
    clock = ManualClock(START)
    raw = base_config(tmp_path, broker.port, None)
    raw["site"]["timezone"] = "Asia/Shanghai"
    for device in raw["devices"]:
        device["heartbeat_s"] = 86400  # only the test's status messages change states
    hub = start_hub(raw, api=True, clock=clock)
    for device in KINDS:
        _go(hub, publisher, device, True)
    clock.advance(3600)
    _go(hub, publisher, "smoke-1", False)
    clock.advance(2 * 3600)
    _go(hub, publisher, "smoke-1", True)
    clock.advance((datetime(2026, 12, 2, 20, 0, tzinfo=UTC) - clock.now()).total_seconds())  # 04:00, 3 Dec Beijing
    return hub, clock, raw


def _get(hub: Hub, path: str, **params: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {TOKENS['bureau']}"}
    answer = httpx.get(f"http://127.0.0.1:{hub.api_port}{path}", params=params, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_the_bureaus_daily_figures_for_beijing_days_equal_a_hand_computation(
    night: tuple[Hub, ManualClock, dict[str, Any]], tmp_path: Path
) -> None:
    hub, _, raw = night
    daily = _get(hub, "/api/v1/reports/daily", **{"from": "2026-12-01", "to": "2026-12-02"})
    days = {d["day"]: d for d in daily["days"]}
    assert list(days) == ["2026-12-01", "2026-12-02"]
    first, second = days["2026-12-01"], days["2026-12-02"]
    # 1 December, Beijing: 30 Nov 16:00 UTC to 1 Dec 16:00 UTC. Nothing heard before 14:00 UTC (not counted), so
    # 5 devices x 2 h = 10 h counted; smoke-1 down 15:00-16:00 UTC: 1 h. 9 / 10 = 90 %.
    assert (first["from"], first["to"]) == (to_iso(datetime(2026, 11, 30, 16, tzinfo=UTC)), to_iso(START + 2 * HOUR))
    assert first["uptime_pct"] == 90.0
    # 2 December, Beijing: 1 Dec 16:00 UTC to 2 Dec 16:00 UTC, 5 x 24 h = 120 h; smoke-1 down 16:00-17:00 UTC.
    assert (second["from"], second["to"]) == (to_iso(START + 2 * HOUR), to_iso(datetime(2026, 12, 2, 16, tzinfo=UTC)))
    assert second["uptime_pct"] == round(119 / 120 * 100, 3)
    # The one offline fault was open on both days (opened 23:00 on the 1st, recovered 01:00 on the 2nd).
    assert (first["open_faults"], second["open_faults"]) == (1, 1)
    # Cut at UTC midnight instead, 1 December would have been 10 h x 5 with 2 h down: 96 %, not what we show.
    assert first["uptime_pct"] != round(48 / 50 * 100, 3)

    # The uptime report for the same Beijing day, given as a date, is the same period and the same figure.
    report = _get(hub, "/api/v1/reports/uptime", **{"from": "2026-12-02", "to": "2026-12-02", "group": "site"})
    assert report["period"]["from"] == second["from"]
    assert report["period"]["to"] == second["to"]
    assert report["summary"]["uptime_pct"] == second["uptime_pct"]
    assert report["timezone"] == "Asia/Shanghai"  # the zone its dates and days are in
    # A report across the boundary (22:00 on the 1st to 02:00 on the 2nd, Beijing): 4 h x 5 = 20 h, 2 h down.
    across = _get(
        hub,
        "/api/v1/reports/uptime",
        **{"from": "2026-12-01T22:00:00+08:00", "to": "2026-12-02T02:00:00+08:00", "group": "site"},
    )
    assert across["summary"]["uptime_pct"] == 90.0
    assert across["summary"]["faults"] == 1

    # The offline CLI reads dates as the same Beijing days.
    config_path = tmp_path / "hub.yaml"
    config_path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    command = [sys.executable, "-m", "hub", "report", "uptime", "--config", str(config_path)]
    dates = ["--from", "2026-12-02", "--to", "2026-12-02", "--group", "site", "--format", "json"]
    result = subprocess.run([*command, *dates], capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr.decode()
    offline = json.loads(result.stdout)
    assert (offline["period"]["from"], offline["summary"]["uptime_pct"]) == (second["from"], second["uptime_pct"])
    bad = subprocess.run([*command, "--from", "2026-02-30"], capture_output=True, timeout=60, check=False)
    assert bad.returncode == 2
    assert b"not a date" in bad.stderr
