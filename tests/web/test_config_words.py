"""Words that follow the config: every duration and period the console names (report duties, the recovery rule,
the retention period) comes from the hub's config, in Chinese and English (real uvicorn on loopback)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from hub.devtools.broker import Mosquitto
from hub.web.i18n import MESSAGES, catalogue, span_words
from tests.conftest import HubFactory, base_config

DISTRICT = {"phone_minutes": 60.0, "written_minutes": 120.0, "recovery_hours": 12.0, "retention_days": 180.0}


def test_spans_read_as_people_say_them() -> None:
    assert [span_words(m, "zh") for m in (30, 60, 90, 120, 150, 1440)] == [
        "30分钟",
        "1小时",
        "90分钟",
        "2小时",
        "2.5小时",
        "24小时",
    ]
    assert [span_words(m, "en") for m in (30, 60, 1440)] == ["30 min", "1 h", "24 h"]


def test_the_catalogue_fills_in_the_configured_figures() -> None:
    zh, en = catalogue("zh", DISTRICT), catalogue("en", DISTRICT)
    assert zh["duty_phone"] == "电话报告（1小时）"
    assert zh["duty_written"] == "书面报告（2小时）"
    assert zh["sla_left"] == "12小时修复时限剩余"
    assert zh["fault_kind_retention_shortfall"] == "录像不足180天"
    assert en["duty_written"] == "Written report (2 h)"
    assert en["sla_breached"] == "12 h rule breached"
    # Without a config: the rules' own figures; and no message keeps a figure of its own.
    assert catalogue("zh")["duty_phone"] == "电话报告（30分钟）"
    fixed = re.compile(r"\d+\s*(分钟|小时|天|min\b|h\b|days?\b)|24-hour|90 days")
    assert not [k for k, texts in MESSAGES.items() for text in texts.values() if fixed.search(text)]
    # Every placeholder of a configured figure is filled in.
    assert not [
        k for k, text in zh.items() if re.search(r"\{(phone_span|written_span|recovery_span|retention_days)\}", text)
    ]


def test_the_console_pages_carry_the_configured_words(tmp_path: Path, broker: Mosquitto, start_hub: HubFactory) -> None:
    raw = base_config(tmp_path, broker.port, None)
    raw["incidents"] = {"phone_report_minutes": 60, "written_report_minutes": 120}
    raw["sla"] = {"recovery_hours": 12, "warn_at": [0.25, 0.9]}
    raw["retention"] = {"days": 180}
    hub = start_hub(raw, api=True)
    page = httpx.get(f"http://127.0.0.1:{hub.api_port}/login", timeout=10).text
    boot = json.loads(re.search(r'<script[^>]*id="boot"[^>]*>(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
    messages = boot["messages"]
    assert (messages["duty_phone"], messages["duty_written"]) == ("电话报告（1小时）", "书面报告（2小时）")
    assert messages["sla_left"] == "12小时修复时限剩余"
    assert messages["fault_kind_retention_shortfall"] == "录像不足180天"
    assert boot["tz"] == "Asia/Shanghai"
    assert boot["warn_at"] == [0.25, 0.9]  # the countdown turns amber and red where the hub warns
