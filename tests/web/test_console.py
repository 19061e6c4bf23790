"""The console in a real browser: Debian's chromium driven by Playwright (never a downloaded browser), against a
real hub, a real Mosquitto and a real 110 receiver, at the guard room's 1366x768. Each test leaves a screenshot in
tests/artifacts/<test>.png (ignored by git)."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from hub.app import Hub
from hub.core.clock import ManualClock
from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver
from tests.conftest import TOKENS, HubFactory, Publisher, base_config, topic, wait_until
from tests.video.cameras import SnapshotServer

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # What a desktop browser does by default (headless would let any page play sound): audio needs a click.
    "--autoplay-policy=document-user-activation-required",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


# Module scope, not session: Playwright's sync API keeps an event loop running on the main thread while it is
# open, which would break asyncio.run() in every later test module.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (scripts/system-deps.sh chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    opened = context.new_page()
    yield opened
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    opened.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def base(hub: Hub) -> str:
    return f"http://127.0.0.1:{hub.api_port}"


def log_in(page: Page, hub: Hub, role: str, landing: str) -> None:
    page.goto(f"{base(hub)}/login")
    page.fill("#token", TOKENS[role])
    page.click("[data-testid=login-submit]")
    page.wait_for_url(f"{base(hub)}{landing}", timeout=5000)
    # The live feed is open before the test makes anything happen.
    expect(page.locator("body")).to_have_attribute("data-feed", "open", timeout=5000)


def admin(hub: Hub) -> httpx.Client:
    return httpx.Client(base_url=base(hub), headers={"Authorization": f"Bearer {TOKENS['admin']}"}, timeout=5)


def test_guard_sees_a_press_within_2_seconds_then_acknowledges_and_closes_it(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, receiver: Receiver, page: Page
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, receiver.url), api=True)
    log_in(page, hub, "guard", "/")
    # The guard's console comes back up by itself (a restarted PC, a reload): no click has been made on it yet.
    page.goto(f"{base(hub)}/")
    expect(page.locator("body")).to_have_attribute("data-feed", "open", timeout=5000)
    expect(page.locator("#no-alarms")).to_be_visible()
    # Browsers play sound only after a gesture: the page says so until the guard clicks.
    expect(page.locator("body")).to_have_attribute("data-sound", "blocked")
    page.click("[data-testid=sound-enable]")
    expect(page.locator("body")).to_have_attribute("data-sound", "off", timeout=2000)

    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    card = page.locator("[data-testid=alarm]")
    expect(card).to_be_visible(timeout=2000)  # no reload: it came over the feed
    expect(card.locator(".kind")).to_have_text("一键报警")
    expect(card.locator(".where")).to_have_text("A · 1 · btn-1")
    expect(page.locator("body")).to_have_attribute("data-sound", "on")  # ringing until acknowledged
    # The delivery to the 110 receiver shows with its receipt once it is acknowledged there.
    delivery = card.locator(".delivery[data-endpoint=police-110]")
    expect(delivery).to_have_attribute("data-state", "delivered", timeout=5000)
    expect(delivery).to_contain_text("回执")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "test_guard_sees_a_press_within_2_seconds-alarm.png"))
    expect(card.locator("[data-duty=phone] [data-testid=duty-countdown]")).to_have_text(
        re.compile(r"^00:(29|30):\d\d$")
    )
    font_px = float(card.locator(".kind").evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
    assert font_px >= 28, "readable from two metres"

    # A phone report, recorded from the page.
    card.locator("[data-duty=phone] button.report").click()
    expect(card.locator("[data-duty=phone] .met")).to_be_visible(timeout=3000)

    card.locator("button.ack").click()
    expect(card).to_have_attribute("data-state", "acknowledged", timeout=3000)
    expect(page.locator("body")).to_have_attribute("data-sound", "off", timeout=2000)
    # The timeline: raised, delivered to 110, the phone report, acknowledged (it stays open across updates).
    card.locator("details.timeline summary").click()
    expect(card.locator(".timeline li")).to_have_count(4)
    expect(card.locator(".timeline")).to_contain_text("police-110")
    card.locator("select[name=disposition]").select_option("drill")
    card.locator("input[name=note]").fill("drill announced at assembly")
    card.locator("button.close").click()
    expect(card).to_have_count(0, timeout=3000)
    expect(page.locator("#no-alarms")).to_be_visible()

    with admin(hub) as api:
        (alarm,) = api.get("/api/v1/alarms", params={"state": "closed"}).json()["alarms"]
        assert (alarm["disposition"], alarm["close_note"], alarm["acknowledged_by"]) == (
            "drill",
            "drill announced at assembly",
            "guard",
        )
        actions = {(row["action"], row["actor"]) for row in api.get("/api/v1/audit").json()["audit"]}
    assert {("alarm.acknowledge", "guard"), ("alarm.close", "guard")} <= actions, actions


def test_maintenance_sees_a_silent_sensor_go_offline_with_its_fault_countdown(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, page: Page
) -> None:
    raw = base_config(tmp_path, broker.port, None)
    for device in raw["devices"]:
        if device["id"] == "temp-1":
            device["heartbeat_s"] = 5
    raw["health"] = {"check_interval_s": 60}  # the test drives the watcher with its clock
    clock = ManualClock(datetime.now(UTC))
    hub = start_hub(raw, api=True, clock=clock)
    publisher.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": 21.0, "battery_pct": 87})
    assert wait_until(lambda: hub.tracker.get("temp-1").state.value == "online", 5)  # type: ignore[union-attr]

    log_in(page, hub, "maintenance", "/maintenance")
    row = page.locator("[data-testid=device][data-device-id=temp-1]")
    expect(row).to_have_attribute("data-state", "online")
    expect(row).to_contain_text("87%")
    page.evaluate("window.__notReloaded = true")

    clock.advance(16)  # three missed 5-second heartbeats
    hub.watcher.run_once()
    expect(row).to_have_attribute("data-state", "offline", timeout=3000)
    expect(row.locator("[data-testid=device-state]")).to_have_text("离线")
    fault = page.locator("[data-testid=fault]", has_text="temp-1")
    expect(fault).to_be_visible(timeout=3000)
    expect(fault.locator("[data-testid=fault-countdown]")).to_have_text(re.compile(r"^2[34]:\d\d:\d\d$"))
    expect(fault).to_have_attribute("data-sla", "green")
    assert page.evaluate("window.__notReloaded") is True, "updated live, not by reloading the page"

    # The filters narrow the device table.
    page.select_option("#f-state", "offline")
    expect(page.locator("[data-testid=device]")).to_have_count(1)

    # A closed-loop step from the page.
    fault.locator("input[name=to]").fill("Wang Wei")
    fault.locator("button[data-step=assign]").click()
    expect(fault).to_contain_text("已派单", timeout=3000)

    # Half the 24 hours gone: the SLA warning arrives live, and the countdown turns amber, then red.
    clock.advance(11 * 3600)
    page.reload()  # (a 12-hour session slides with use; one idle for 13 hours would have ended)
    expect(page.locator("body")).to_have_attribute("data-feed", "open", timeout=5000)
    clock.advance(2 * 3600)
    hub.watcher.run_once()
    expect(page.locator("#notices")).to_contain_text("时限预警", timeout=3000)
    page.reload()  # the page's clock follows the hub's at load; this test's hub clock jumps
    expect(fault).to_have_attribute("data-sla", "amber", timeout=3000)
    clock.advance(7 * 3600)
    page.reload()
    expect(fault).to_have_attribute("data-sla", "red", timeout=3000)
    expect(fault.locator("[data-testid=fault-countdown]")).to_have_text(re.compile(r"^0[34]:\d\d:\d\d$"))


def test_bureau_cannot_reach_guard_actions(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, page: Page
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, None), api=True)
    publisher.publish(topic("panic_button", "btn-2", "event"), {"pressed": True, "seq": 1})
    with admin(hub) as api:
        assert wait_until(lambda: len(api.get("/api/v1/alarms").json()["alarms"]) == 1, 5)
        alarm_id = api.get("/api/v1/alarms").json()["alarms"][0]["id"]

    log_in(page, hub, "bureau", "/reports")
    expect(page.locator("[data-testid=chart] svg")).to_be_visible(timeout=5000)
    expect(page.locator("[data-testid=csv-link]")).to_have_attribute("href", re.compile(r"format=csv"))
    assert page.locator("nav a").all_inner_texts() == ["报表", "台账"]

    page.goto(f"{base(hub)}/")
    expect(page.locator("[data-testid=forbidden]")).to_be_visible()
    assert page.locator("button.ack").count() == 0
    # Even a hand-made request from the bureau's own page, with its CSRF token, is refused by role.
    answer: dict[str, Any] = page.evaluate(
        """async (id) => {
            const boot = JSON.parse(document.getElementById("boot").textContent);
            const headers = {"X-CSRF-Token": boot.csrf};
            const r = await fetch("/api/v1/alarms/" + id + "/ack", {method: "POST", headers});
            return {status: r.status, body: await r.json()};
        }""",
        alarm_id,
    )
    assert (answer["status"], answer["body"]["error"]["code"]) == (403, "forbidden")
    with admin(hub) as api:
        assert api.get(f"/api/v1/alarms/{alarm_id}").json()["state"] == "open"


def test_the_banner_shows_while_the_hub_is_away_and_the_page_catches_up_on_its_own(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, page: Page
) -> None:
    raw = base_config(tmp_path, broker.port, None)
    with socket.socket() as probe:  # a fixed port, so the restarted API answers where the page looks
        probe.bind(("127.0.0.1", 0))
        raw["api"]["port"] = probe.getsockname()[1]
    hub = start_hub(raw, api=True)
    log_in(page, hub, "guard", "/")
    page.evaluate("window.__notReloaded = true")
    expect(page.locator("[data-testid=connection-lost]")).to_be_hidden()
    hub.stop_api()
    expect(page.locator("[data-testid=connection-lost]")).to_be_visible(timeout=5000)
    expect(page.locator("body")).to_have_attribute("data-feed", "lost")

    # An alarm raised while the page could not hear about it...
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    assert wait_until(lambda: hub.store.count("alarms") == 1, 5)
    hub.start_api_thread()
    # ...is there once the feed is back: the browser reconnects by itself and the page reloads its data.
    expect(page.locator("[data-testid=connection-lost]")).to_be_hidden(timeout=10000)
    expect(page.locator("[data-testid=alarm]")).to_have_count(1, timeout=5000)
    assert page.evaluate("window.__notReloaded") is True


def test_english_switch_reports_chart_and_a_maintenance_window(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, page: Page
) -> None:
    clock = ManualClock(datetime.now(UTC))
    hub = start_hub(base_config(tmp_path, broker.port, None), api=True, clock=clock)
    publisher.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": 21.0})
    assert wait_until(lambda: hub.tracker.get("temp-1").state.value == "online", 5)  # type: ignore[union-attr]
    clock.advance(120)  # two minutes online today: a bar to draw
    log_in(page, hub, "admin", "/")
    page.click("[data-testid=lang-switch]")
    expect(page.locator("nav a")).to_have_text(["Alarms", "Maintenance", "Reports", "Ledger", "Inspections"])
    page.click("nav a >> text=Reports")
    today = page.locator("[data-testid=chart] svg rect.bar[data-day]").last
    expect(today).to_be_attached(timeout=5000)
    expect(today.locator("title")).to_contain_text("100.00%")
    expect(page.locator("[data-testid=chart]")).to_contain_text("Open faults")

    page.click("nav a >> text=Maintenance")
    expect(page.locator("body")).to_have_attribute("data-feed", "open", timeout=5000)
    form = page.locator("#window-form")
    form.locator("select[name=subject]").select_option("cam-1")
    # datetime-local read in the site's zone (Beijing), whatever the browser's; two days ahead is in the future.
    local = page.evaluate(
        """() => { const d = new Date(Date.now() + 2 * 86400000);
                   const p = (n) => String(n).padStart(2, "0");
                   return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()); }"""
    )
    form.locator("input[name=starts_at]").fill(f"{local}T09:00")
    form.locator("input[name=ends_at]").fill(f"{local}T11:00")
    form.locator("input[name=reason]").fill("replace camera lens")
    form.locator("button[type=submit]").click()
    expect(page.locator("#windows tr", has_text="replace camera lens")).to_have_count(1, timeout=3000)
    with admin(hub) as api:
        (window,) = api.get("/api/v1/maintenance-windows").json()["maintenance_windows"]
        assert (window["subject"], window["created_by"]) == ("cam-1", "admin")
        # 09:00 Beijing time is 01:00 UTC.
        assert datetime.fromisoformat(window["starts_at"]) == datetime.fromisoformat(f"{local}T09:00:00+08:00")
        assert datetime.fromisoformat(window["ends_at"]) == datetime.fromisoformat(f"{local}T11:00:00+08:00")
        actions = [row["action"] for row in api.get("/api/v1/audit").json()["audit"]]
    assert "maintenance_window.create" in actions


def test_alarms_are_ordered_by_priority_then_newest_and_ring_until_all_are_acknowledged(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, page: Page
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, None), api=True)
    # Waits below are for ordering on the page, not latency (bench/alarm_latency.py measures that): bounded
    # generously, as a loaded CI machine may take more than 2 s to show a card.
    log_in(page, hub, "guard", "/")  # the login click counts as the gesture that allows sound on this site
    expect(page.locator("body")).to_have_attribute("data-sound", "off")
    publisher.publish(topic("temperature", "temp-1", "telemetry"), {"celsius": 70.0})  # heat: priority 2
    expect(page.locator("[data-testid=alarm]")).to_have_count(1, timeout=5000)
    publisher.publish(topic("panic_button", "btn-2", "event"), {"pressed": True, "seq": 1})
    expect(page.locator("[data-testid=alarm]")).to_have_count(2, timeout=5000)
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    expect(page.locator("[data-testid=alarm] .where")).to_have_text(
        ["A · 1 · btn-1", "A · 1 · btn-2", "A · 1 · temp-1"], timeout=5000
    )
    expect(page.locator("[data-testid=alarm-count]")).to_contain_text("3")
    page.locator("[data-testid=alarm]").first.locator("button.ack").click()
    expect(page.locator("[data-testid=alarm]").first).to_have_attribute("data-state", "acknowledged")
    expect(page.locator("body")).to_have_attribute("data-sound", "on")  # two still unacknowledged
    for card in page.locator("[data-testid=alarm][data-state=open]").all():
        card.locator("button.ack").click()
    expect(page.locator("body")).to_have_attribute("data-sound", "off", timeout=3000)


def test_maintenance_sees_a_cameras_references_and_retakes_them(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory, page: Page
) -> None:
    with SnapshotServer("hub", "cam-Pa55-word") as camera:
        raw = base_config(tmp_path, broker.port, None)
        raw["devices"][0]["source"] = {"kind": "http_snapshot", "url": camera.url("hub:cam-Pa55-word"), "timeout_s": 2}
        raw["video"] = {"check_interval_s": 3600}
        hub = start_hub(raw, api=True)
        # The first check on start is healthy: the daytime reference is taken from it.
        assert wait_until(lambda: hub.cameras.view("cam-1")["reference_taken_at"] is not None, 10)
        first = hub.cameras.view("cam-1")["reference_taken_at"]
        log_in(page, hub, "maintenance", "/maintenance")
        line = page.locator("[data-camera-id=cam-1] [data-testid=camera-references]")
        expect(line).to_contain_text("白天", timeout=5000)
        line.locator("[data-testid=retake-reference]").click()
        assert wait_until(lambda: hub.cameras.view("cam-1")["reference_taken_at"] != first, 10)
        with admin(hub) as client:
            actions = [a["action"] for a in client.get("/api/v1/audit").json()["audit"]]
        assert any("reference" in action for action in actions)  # retaking is audited, with the person


def test_guard_is_told_at_once_of_an_unreadable_message_from_a_panic_button(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, page: Page
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, None), api=True)
    log_in(page, hub, "guard", "/")
    expect(page.locator("[data-testid=unreadable]")).to_be_hidden()
    # Not JSON: it may have been a press, so the guard must go and look (and no alarm can be raised from it).
    publisher.publish(topic("panic_button", "btn-1", "event"), b"\xffpressed")
    line = page.locator("[data-testid=unreadable-line]")
    expect(line).to_have_count(1, timeout=5000)
    expect(line).to_contain_text("btn-1")
    expect(line).to_contain_text("无法识别")
    expect(line).to_contain_text("bad_encoding")
    assert hub.store.count("alarms") == 0
    line.locator("button.dismiss").click()
    expect(page.locator("[data-testid=unreadable]")).to_be_hidden()


def test_the_guard_records_the_four_items_in_site_time_and_the_bureau_sees_them(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory, browser: Browser
) -> None:
    # 01:00 on 2 December in Beijing, still noon on 1 December in New York, where this browser thinks it is.
    clock = ManualClock(datetime(2026, 12, 1, 17, 0, tzinfo=UTC))
    hub = start_hub(base_config(tmp_path, broker.port, None), api=True, clock=clock)
    context = browser.new_context(
        viewport={"width": 1366, "height": 768}, locale="zh-CN", timezone_id="America/New_York"
    )
    page = context.new_page()
    try:
        log_in(page, hub, "guard", "/")
        form = page.locator("[data-testid=four-items-form]")
        expect(page.locator("[data-testid=four-items-status]")).to_have_text("今日尚未登记", timeout=5000)
        form.locator("input[name=guards_on_duty]").fill("2")
        form.locator("input[name=gate_closed]").check()
        form.locator("input[name=posts_staffed]").check()
        form.locator("button[type=submit]").click()
        expect(page.locator("[data-testid=four-items-status]")).to_contain_text("已由 guard", timeout=5000)
        with admin(hub) as client:
            days = client.get("/api/v1/four-items", params={"from": "2026-12-01", "to": "2026-12-02"}).json()["days"]
        assert [(d["day"], d["recorded"]) for d in days] == [("2026-12-01", False), ("2026-12-02", True)]
        context.clear_cookies()
        log_in(page, hub, "bureau", "/reports")
        table = page.locator("[data-testid=four-items]")
        expect(table.locator("tr[data-item=alarm_video]")).to_contain_text("一键式紧急报警和视频监控系统", timeout=5000)
        expect(table.locator("tr[data-item=guard_posts]")).to_contain_text("护学岗设置")
        # The default period ends today in Beijing (2 December), which was recorded; the 1st was not.
        expect(table.locator("tr[data-item=full_time_guards]")).to_contain_text("2026-12-01")
        expect(table.locator("tr[data-item=full_time_guards]")).not_to_contain_text("2026-12-02")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "four_items_reports.png"), full_page=True)
    finally:
        context.close()


def test_recovering_a_fault_the_device_still_reports_needs_a_note_and_a_deliberate_override(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, page: Page
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, None), api=True)
    publisher.publish(topic("smoke", "smoke-1", "status"), "offline")  # its last will: an automatic fault
    assert wait_until(lambda: len(hub.health_store.list_faults(subject="smoke-1")) == 1, 5)
    log_in(page, hub, "maintenance", "/maintenance")
    fault = page.locator("[data-testid=fault]", has_text="smoke-1")
    expect(fault).to_be_visible(timeout=3000)
    fault.locator("button[data-step=recover]").click()  # no note: refused, and told why
    expect(fault.locator(".form-msg")).to_contain_text("请先填写说明", timeout=3000)
    assert hub.health_store.list_faults(subject="smoke-1")[0]["state"] == "registered"
    dialogs: list[str] = []

    def accept(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    fault.locator("input[name=note]").fill("detector replaced, radio pairing tomorrow")
    # Playwright answers the dialog only while this thread is inside one of its calls: wait for the override.
    with page.expect_response(lambda r: "override" in (r.request.post_data or "")) as forced:
        fault.locator("button[data-step=recover]").click()
    assert forced.value.status == 200
    fault_id = hub.health_store.list_faults(subject="smoke-1")[0]["id"]

    def steps() -> list[str]:
        return [e["action"] for e in hub.health_store.get_fault(fault_id)["log"]]

    # Recovered over the device's word, then the watcher (every second) finds it still offline and reopens it.
    assert wait_until(lambda: steps()[-2:] == ["recover_override", "reopened"], 10), steps()
    assert "仍要标记为已恢复" in dialogs[0]
    with admin(hub) as api:
        audit = api.get("/api/v1/audit").json()["audit"]
    assert [(a["actor"], a["detail"]["note"]) for a in audit if a["action"] == "fault.recover_override"] == [
        ("maintenance", "detector replaced, radio pairing tomorrow")
    ]
