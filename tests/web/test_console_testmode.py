"""Test mode in the console, in Debian's chromium: maintenance starts a test of one button from its page, the guard
sees that button's press marked 测试 (not sent to 110) and turns it into a real alarm with one click, which reaches
the 110 receiver at once; maintenance ends the test from its page."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Receiver
from tests.conftest import HubFactory, Publisher, base_config, topic
from tests.web.test_console import ARTIFACTS, browser, log_in, page

__all__ = ["browser", "page"]  # the fixtures, shared with the console's other browser tests


def test_maintenance_starts_a_test_the_guard_sees_it_marked_and_makes_it_real(
    tmp_path: Path,
    broker: Mosquitto,
    publisher: Publisher,
    start_hub: HubFactory,
    receiver: Receiver,
    browser: Browser,
    page: Page,
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, receiver.url), api=True)
    # Maintenance, in a browser context of its own, puts btn-1 on test from its page.
    maint_context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    maint = maint_context.new_page()
    try:
        log_in(maint, hub, "maintenance", "/maintenance")
        panel = maint.locator("[data-testid=test-mode]")
        expect(panel).to_contain_text("当前无测试", timeout=5000)
        panel.locator("input[name=test-devices]").fill("btn-1")
        panel.locator("input[name=test-minutes]").fill("30")
        panel.locator("input[name=test-note]").fill("每月按钮测试")
        panel.locator("[data-testid=test-start]").click()
        expect(panel.locator(".test-mode")).to_contain_text("btn-1", timeout=5000)
        assert hub.test_mode.on_test("btn-1", hub.clock.now())

        log_in(page, hub, "guard", "/")
        # The guard sees what is on test, without the controls.
        guard_panel = page.locator("[data-testid=test-mode]")
        expect(guard_panel.locator(".test-mode")).to_contain_text("btn-1", timeout=5000)
        expect(guard_panel.locator("[data-testid=test-start]")).to_have_count(0)
        expect(guard_panel.locator("[data-testid=test-end]")).to_have_count(0)

        publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
        card = page.locator("[data-testid=alarm]")
        expect(card).to_be_visible(timeout=3000)
        expect(card).to_have_attribute("data-test", "true")
        expect(card.locator("[data-testid=test-badge]")).to_have_text("测试")
        expect(card).to_contain_text("未报送110")
        assert receiver.state.posts == 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "test_console_testmode-test-press.png"))

        # One click: it is real, and it goes to 110 at once.
        card.locator("[data-testid=make-real]").click()
        (got,) = receiver.state.wait_for(1, timeout=5)
        assert got.body["device"]["id"] == "btn-1"
        expect(card).to_have_attribute("data-test", "false", timeout=5000)
        expect(card.locator("[data-testid=test-badge]")).to_have_count(0)
        expect(card.locator(".delivery[data-endpoint=police-110]")).to_have_attribute("data-state", "delivered")

        # Maintenance ends the test from its page; the guard's panel follows over the feed.
        panel.locator("[data-testid=test-end]").click()
        expect(panel).to_contain_text("当前无测试", timeout=5000)
        expect(guard_panel).to_contain_text("当前无测试", timeout=5000)
        assert not hub.test_mode.on_test("btn-1", hub.clock.now())
    finally:
        maint_context.close()
