"""The ledger's console pages in Chromium against a real hub: a guard logged in with a personal account records an
incident and sees its report countdowns; the bureau reads it without names; maintenance registers and assesses a
hazard; a guard walks an inspection round on a phone-sized screen, a problem opening a fault."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect

from hub.app import Hub
from hub.devtools.broker import Mosquitto
from hub.ledger.hazards import HazardState, HazardStep, Severity
from hub.ledger.incidents import IncidentKind
from hub.ledger.inspections import FollowUp
from hub.web.i18n import MESSAGES
from tests.conftest import HubFactory, Publisher, topic, wait_until
from tests.ledger.conftest import PHONE
from tests.ledger.people import PEOPLE, ledger_config, person


def _base(hub: Hub) -> str:
    return f"http://127.0.0.1:{hub.api_port}"


def _open(browser: Browser, contexts: list[BrowserContext], viewport: ViewportSize | None = None) -> Page:
    context = browser.new_context(viewport=viewport or {"width": 1366, "height": 768}, locale="zh-CN")
    contexts.append(context)
    return context.new_page()


def _person_login(page: Page, hub: Hub, name: str, password: str, landing: str) -> None:
    page.goto(f"{_base(hub)}/login")
    page.fill("#person-name", name)
    page.fill("#person-password", password)
    page.click("[data-testid=person-login-submit]")
    page.wait_for_url(f"{_base(hub)}{landing}", timeout=5000)


def _token_login(page: Page, hub: Hub, name: str, landing: str) -> None:
    page.goto(f"{_base(hub)}/login")
    page.fill("#token", PEOPLE[name][1])
    page.click("[data-testid=login-submit]")
    page.wait_for_url(f"{_base(hub)}{landing}", timeout=5000)


def test_every_label_the_ledger_pages_build_has_both_languages() -> None:
    keys = [f"incident_kind_{k}" for k in IncidentKind]
    keys += [f"hazard_state_{s}" for s in HazardState] + [f"hazard_step_{s}" for s in HazardStep]
    keys += [f"severity_{s}" for s in Severity] + [f"inspect_follow_{f}" for f in FollowUp]
    keys += [f"inspect_state_{s}" for s in ("ok", "problem", "missed", "due")]
    keys += [f"incident_tl_{w}" for w in ("occurred", "recorded", "report_phone", "report_written", "closed")]
    assert [k for k in keys if set(MESSAGES.get(k, {})) != {"zh", "en"}] == []


def test_a_guard_records_an_incident_and_the_bureau_reads_it(
    tmp_path: Path,
    broker: Mosquitto,
    publisher: Publisher,
    start_hub: HubFactory,
    browser: Browser,
    contexts: list[BrowserContext],
) -> None:
    hub = start_hub(ledger_config(tmp_path, broker.port), api=True)
    publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
    assert wait_until(lambda: len(hub.store.list_alarms()) == 1, 5)
    with person(hub, "wang-fang") as admin:
        account = {"name": "liu-yang", "full_name": "刘洋", "role": "guard", "phone": "13800000002"}
        admin.post("/api/v1/people", json={**account, "password": "night-shift-2026"}).raise_for_status()

    guard = _open(browser, contexts)
    _person_login(guard, hub, "liu-yang", "night-shift-2026", "/")
    guard.click("nav a >> text=台账")
    guard.wait_for_url(f"{_base(hub)}/ledger")
    expect(guard.locator("body")).to_have_attribute("data-feed", "open", timeout=5000)
    expect(guard.locator("[data-testid=user]")).to_have_text("liu-yang")
    form = guard.locator("[data-testid=incident-form]")
    form.locator("select[name=kind]").select_option("fight")
    form.locator("input[name=place]").fill("操场东侧")
    form.locator("input[name=summary]").fill("两名学生打架，已分开并通知班主任")
    form.locator("input[name=people]").fill("五年级 王某 李某")
    form.locator("input[name=police_called]").check()
    guard.click("[data-testid=incident-submit]")

    card = guard.locator("[data-testid=incident]")
    expect(card).to_have_count(1, timeout=5000)
    expect(card.locator(".kind")).to_have_text("打架斗殴")
    expect(card.locator(".police")).to_have_text("已报警110")
    expect(card.locator("[data-duty=phone] [data-testid=duty-countdown]")).to_have_text(
        re.compile(r"^00:(29|30):\d\d$")
    )
    expect(card.locator("[data-duty=written] [data-testid=duty-countdown]")).to_have_text(
        re.compile(r"^00:(59|60):\d\d$")
    )
    card.locator("[data-duty=phone] button.report").click()
    expect(card.locator("[data-duty=phone] .met")).to_be_visible(timeout=5000)
    card.locator("details.timeline summary").click()
    expect(card.locator(".timeline li")).to_have_count(3)
    expect(card.locator(".timeline")).to_contain_text("liu-yang")

    bureau = _open(browser, contexts)
    _token_login(bureau, hub, "sun-li", "/reports")
    bureau.goto(f"{_base(hub)}/ledger")
    seen = bureau.locator("[data-testid=incident]")
    expect(seen).to_have_count(1, timeout=5000)
    expect(seen.locator(".summary")).to_have_text("两名学生打架，已分开并通知班主任")
    expect(seen.locator("[data-duty=phone] .met")).to_be_visible()
    expect(seen.locator("[data-duty=written] [data-testid=duty-countdown]")).to_be_visible()
    expect(seen).not_to_contain_text("王某")
    expect(seen).not_to_contain_text("liu-yang")
    expect(bureau.locator("[data-testid=incident-form]")).to_have_count(0)
    expect(bureau.locator("[data-testid=hazard-form]")).to_have_count(0)
    expect(seen.locator("button")).to_have_count(0)
    # And the alarms, read-only: what, where, when, the duties; no names.
    alarm = bureau.locator("[data-testid=bureau-alarm]")
    expect(alarm).to_have_count(1)
    expect(alarm).to_contain_text("一键报警")
    expect(alarm).to_contain_text("A · 1 · btn-1")
    expect(alarm.locator("[data-duty=phone] [data-testid=duty-countdown]")).to_have_text(
        re.compile(r"^00:(29|30):\d\d$")
    )

    with person(hub, "wang-fang") as admin:
        audit = admin.get("/api/v1/audit").json()["audit"]
    assert [(a["action"], a["actor"]) for a in reversed(audit) if a["action"].startswith("incident.")] == [
        ("incident.record", "liu-yang"),
        ("incident.report", "liu-yang"),
    ]


def test_maintenance_registers_and_assesses_a_hazard_on_the_page(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory, browser: Browser, contexts: list[BrowserContext]
) -> None:
    hub = start_hub(ledger_config(tmp_path, broker.port), api=True)
    page = _open(browser, contexts)
    _token_login(page, hub, "zhang-wei", "/maintenance")
    page.goto(f"{_base(hub)}/ledger")
    expect(page.locator("body")).to_have_attribute("data-feed", "open", timeout=5000)
    form = page.locator("[data-testid=hazard-form]")
    form.locator("input[name=place]").fill("B栋 楼梯间")
    form.locator("input[name=category]").fill("消防")
    form.locator("input[name=summary]").fill("应急照明灯不亮")
    page.click("[data-testid=hazard-submit]")
    row = page.locator("[data-testid=hazard]")
    expect(row).to_have_attribute("data-state", "registered", timeout=5000)
    expect(row.locator(".state")).to_have_text("已登记")

    step = row.locator("[data-testid=hazard-step]")
    expect(step.locator("select[name=step] option")).to_have_text(["评估"])
    step.locator("select[name=severity]").select_option("serious")
    step.locator("input[name=due]").fill("2099-01-31")
    step.locator("input[name=responsible]").fill("li-na")
    step.locator("input[name=note]").fill("需更换灯具")
    step.locator("button[type=submit]").click()
    expect(row).to_have_attribute("data-state", "assessed", timeout=5000)
    expect(row.locator(".sev-serious")).to_have_text("较大")
    expect(row.locator("[data-testid=hazard-step] select[name=step] option")).to_have_text(["报告"])
    row.locator("details.timeline summary").click()
    expect(row.locator(".timeline li")).to_have_count(2)
    expect(row.locator(".timeline li").nth(1)).to_contain_text("评估 · zhang-wei · 需更换灯具")
    with person(hub, "zhang-wei") as zhang:
        (hazard,) = zhang.get("/api/v1/hazards").json()["hazards"]
    assert (hazard["severity"], hazard["due"], hazard["responsible"], hazard["assessed_by"]) == (
        "serious",
        "2099-01-31",
        "li-na",
        "zhang-wei",
    )


def test_an_inspection_round_on_a_phone(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory, browser: Browser, contexts: list[BrowserContext]
) -> None:
    hub = start_hub(ledger_config(tmp_path, broker.port), api=True)
    items = [
        {"id": "gate", "what": "东门岗亭", "where": "东门"},
        {"id": "btn-1", "what": "一键报警按钮", "where": "A栋 1层", "device_id": "btn-1"},
        {"id": "cabinet", "what": "器材柜", "where": "门卫室"},
    ]
    with person(hub, "zhang-wei") as zhang:
        plan = {"name": "夜间巡查", "category": "巡查", "frequency": "daily", "items": items}
        zhang.post("/api/v1/inspections/plans", json=plan).raise_for_status()

    page = _open(browser, contexts, PHONE)
    _token_login(page, hub, "zhao-gang", "/")
    page.goto(f"{_base(hub)}/inspect")
    tally = page.locator("[data-testid=tally]")
    expect(tally).to_have_text("已检 0 / 应检 3，漏检 0，发现问题 0", timeout=5000)
    fits = "document.scrollingElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(fits), "the round fits a phone's width"

    page.locator("[data-item=gate] [data-testid=ok]").click()
    expect(page.locator("[data-item=gate]")).to_have_attribute("data-state", "ok", timeout=5000)
    button = page.locator("[data-item=btn-1]")
    button.locator("[data-testid=problem]").click()
    button.locator("textarea[name=note]").fill("按下无反应")
    button.locator("select[name=follow_up]").select_option("fault")
    button.locator("[data-testid=problem-submit]").click()
    expect(page.locator("[data-item=btn-1]")).to_have_attribute("data-state", "problem", timeout=5000)
    expect(page.locator("[data-item=btn-1]")).to_contain_text("zhao-gang")
    expect(tally).to_have_text("已检 2 / 应检 3，漏检 0，发现问题 1")
    assert page.evaluate(fits)

    with httpx.Client(base_url=_base(hub), headers={"Authorization": f"Bearer {PEOPLE['zhang-wei'][1]}"}) as api:
        faults = api.get("/api/v1/faults", params={"state": "open"}).json()["faults"]
    assert [(f["subject"], f["kind"]) for f in faults] == [("btn-1", "inspection")]
    assert "按下无反应" in faults[0]["summary"]
