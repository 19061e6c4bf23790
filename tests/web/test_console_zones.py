"""The guard's screen for the rules' newer equipment, in a real browser against a real hub and Mosquitto: the zones'
arming with a disarm and a refused arm that names the open door, a pre-alarm warning with its reading, and a gate
open in its shut hours (closed campus)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from hub.devtools.broker import Mosquitto
from tests.conftest import HubFactory, Publisher, base_config, topic, wait_until
from tests.web.test_console import browser, log_in, page

__all__ = ["browser", "page"]  # the browser fixtures, shared with the console's other tests


def zoned(tmp_path: Path, port: int) -> dict[str, Any]:
    raw = base_config(tmp_path, port, None)
    location = {"building": "行政楼", "floor": "2", "room": "财务室"}
    # No school days: armed all day whatever the time the test runs at, until the guard disarms it.
    raw["arming_zones"] = [{"id": "finance", "name": "财务室", "school_days": []}]
    raw["devices"] += [
        {"id": "door-1", "kind": "door", "name": "财务室门", "location": location, "arming_zone": "finance"},
        # Shut all day (00:00 to 00:00 runs round the clock), so the test does not depend on the hour.
        {"id": "gate-1", "kind": "door", "name": "北门", "location": {"building": "校门", "floor": "0", "room": "北门"},
         "must_be_shut": [{"start": "00:00", "end": "00:00"}]},
        {"id": "ef-1", "kind": "electrical_fire", "name": "食堂配电箱", "location": location,
         "residual_prealarm_ma": 200},
    ]  # fmt: skip
    return raw


def test_guard_disarms_is_refused_arming_with_a_door_open_and_sees_prealarms_and_open_gates(
    tmp_path: Path, broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, page: Page
) -> None:
    hub = start_hub(zoned(tmp_path, broker.port), api=True)
    log_in(page, hub, "guard", "/")
    zone = page.locator("[data-zone=finance]")
    expect(zone.locator(".zone-state")).to_have_text("布防", timeout=5000)
    zone.locator("button.disarm").click()
    expect(zone.locator(".zone-state")).to_have_text("撤防", timeout=3000)

    publisher.publish(topic("door", "door-1", "event"), {"open": True})
    publisher.publish(topic("door", "gate-1", "event"), {"open": True})
    assert wait_until(lambda: hub.store.count("events") >= 2, 5.0)
    assert hub.store.list_alarms(None, 10) == []  # a disarmed zone: logged, not alarmed
    zone.locator("button.arm").click()
    refusal = zone.locator("[data-testid=zone-refusals]")
    expect(refusal).to_have_text("无法布防：门 财务室门（door-1）未关", timeout=3000)
    expect(zone.locator(".zone-state")).to_have_text("撤防")

    publisher.publish(topic("electrical_fire", "ef-1", "telemetry"), {"residual_ma": 250, "temperatures_c": [40]})
    prealarm = page.locator("[data-testid=prealarm-line]")
    expect(prealarm).to_contain_text("食堂配电箱", timeout=5000)  # the fault's feed event reloads the warnings
    expect(prealarm).to_contain_text("250 mA，预警值 200 mA")
    expect(page.locator("[data-testid=door-open-line]")).to_contain_text("北门")
