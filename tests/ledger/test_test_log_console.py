"""The test and drill log (测试与演练记录) on the ledger page, in Chromium against a real hub: maintenance tests two
buttons (one pressed) and ends the test early, then runs a site drill with its plan (方案) and summary (总结); the
bureau and a guard read both on the ledger page, with who started each, when in the school's time, its scope and
each device's result (seen / never seen)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from hub.app import Hub
from hub.core.clock import from_iso, to_iso
from hub.devtools.broker import Mosquitto
from hub.web.i18n import MESSAGES
from tests.conftest import HubFactory, Publisher, topic, wait_until
from tests.ledger.people import PEOPLE, ledger_config, person

PLAN = "演练方案：火警广播后全员沿东侧楼梯撤离至操场，班主任清点人数。"
SUMMARY = "演练总结：全员 6 分钟内撤离完毕，btn-1 与 smoke-1 未触发，下次补测。"


def _base(hub: Hub) -> str:
    return f"http://127.0.0.1:{hub.api_port}"


def _login(browser: Browser, contexts: list[BrowserContext], hub: Hub, name: str, landing: str) -> Page:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN", timezone_id="UTC")
    contexts.append(context)
    page = context.new_page()
    page.goto(f"{_base(hub)}/login")
    page.fill("#token", PEOPLE[name][1])
    page.click("[data-testid=login-submit]")
    page.wait_for_url(f"{_base(hub)}{landing}", timeout=5000)
    page.goto(f"{_base(hub)}/ledger")
    expect(page.locator("body")).to_have_attribute("data-feed", "open", timeout=5000)
    return page


def _site_time(hub: Hub, iso: str) -> str:
    return from_iso(iso).astimezone(hub.config.site.tz()).strftime("%Y-%m-%d %H:%M")


def _results(entry: Locator) -> dict[str, str | None]:
    rows = entry.locator("[data-testid=test-log-result]")
    return {
        str(rows.nth(i).get_attribute("data-device-id")): rows.nth(i).get_attribute("data-result")
        for i in range(rows.count())
    }


def _log(hub: Hub) -> list[dict[str, Any]]:
    with person(hub, "sun-li") as bureau:
        entries: list[dict[str, Any]] = bureau.get("/api/v1/test-log").json()["entries"]
        return entries


def test_the_bureau_and_a_guard_read_the_test_and_drill_log(
    tmp_path: Path,
    broker: Mosquitto,
    publisher: Publisher,
    start_hub: HubFactory,
    browser: Browser,
    contexts: list[BrowserContext],
) -> None:
    keys = [k for k in MESSAGES if k.startswith("test_log_")]
    assert len(keys) >= 15
    assert [k for k in keys if set(MESSAGES[k]) != {"zh", "en"}] == []

    hub = start_hub(ledger_config(tmp_path, broker.port), api=True)
    now = hub.clock.now()
    with person(hub, "zhang-wei") as maintenance:
        test = maintenance.post(
            "/api/v1/test-mode",
            json={"devices": ["btn-1", "btn-2"], "until": to_iso(now + timedelta(hours=1)), "note": "按钮月度测试"},
        )
        assert test.status_code == 201, test.text
        publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
        assert wait_until(lambda: len(hub.store.list_alarms()) == 1, 5)
        maintenance.delete(f"/api/v1/test-mode/{test.json()['id']}").raise_for_status()

        drill = maintenance.post(
            "/api/v1/drills", json={"plan": PLAN, "site": True, "until": to_iso(now + timedelta(minutes=30))}
        )
        assert drill.status_code == 201, drill.text
        publisher.publish(topic("panic_button", "btn-2", "event"), {"pressed": True, "seq": 1})
        assert wait_until(lambda: len(hub.store.list_alarms()) == 2, 5)
        summary = maintenance.post(f"/api/v1/drills/{drill.json()['id']}/summary", json={"summary": SUMMARY})
        summary.raise_for_status()
    entries = {e["type"]: e for e in _log(hub)}
    assert set(entries) == {"test", "drill"}

    # The browser's own zone is UTC; the page shows the school's (Asia/Shanghai, 8 hours on).
    bureau = _login(browser, contexts, hub, "sun-li", "/reports")
    shown = bureau.locator("[data-testid=test-log-entry]")
    expect(shown).to_have_count(2, timeout=5000)
    expect(shown.first).to_have_attribute("data-type", "drill")  # newest first

    on_drill = bureau.locator("[data-testid=test-log-entry][data-type=drill]")
    expect(on_drill).to_contain_text("演练")
    expect(on_drill).to_contain_text("范围：全校")
    started = entries["drill"]
    expect(on_drill.locator("[data-testid=test-log-started]")).to_have_text(
        f"zhang-wei 开始，{_site_time(hub, started['starts_at'])} 至 {_site_time(hub, started['ends_at'])}"
    )
    expect(on_drill.locator("[data-testid=drill-plan]")).to_contain_text(PLAN)
    expect(on_drill.locator("[data-testid=drill-summary]")).to_contain_text(SUMMARY)
    expect(on_drill.locator("[data-testid=drill-summary]")).to_contain_text("zhang-wei")
    assert _results(on_drill) == {"btn-1": "not_seen", "btn-2": "seen", "smoke-1": "not_seen"}
    expect(on_drill.locator("[data-device-id=btn-2]")).to_contain_text("已收到信号")
    expect(on_drill.locator("[data-device-id=smoke-1]")).to_contain_text("未收到信号")

    on_test = bureau.locator("[data-testid=test-log-entry][data-type=test]")
    expect(on_test).to_contain_text("范围：btn-1, btn-2")
    expect(on_test).to_contain_text("按钮月度测试")
    ended = entries["test"]
    expect(on_test).to_contain_text(f"zhang-wei 于 {_site_time(hub, ended['ended_at'])} 提前结束")
    expect(on_test.locator("[data-testid=drill-plan]")).to_have_count(0)
    assert _results(on_test) == {"btn-1": "seen", "btn-2": "not_seen"}
    pressed = next(r for r in ended["results"] if r["device_id"] == "btn-1")["alarms"][0]
    expect(on_test.locator("[data-device-id=btn-1]")).to_contain_text(_site_time(hub, pressed["raised_at"]))

    # A period before both shows none.
    day_before = (now - timedelta(days=3)).astimezone(hub.config.site.tz()).date().isoformat()
    form = bureau.locator("[data-testid=test-log-form]")
    form.locator("input[name=from]").fill(day_before)
    form.locator("input[name=to]").fill(day_before)
    form.locator("[data-testid=test-log-show]").click()
    expect(shown).to_have_count(0, timeout=5000)
    expect(bureau.locator("#no-test-log")).to_be_visible()

    guard = _login(browser, contexts, hub, "zhao-gang", "/")
    expect(guard.locator("[data-testid=test-log-entry]")).to_have_count(2, timeout=5000)
    assert _results(guard.locator("[data-testid=test-log-entry][data-type=drill]")) == {
        "btn-1": "not_seen",
        "btn-2": "seen",
        "smoke-1": "not_seen",
    }
