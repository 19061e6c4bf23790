"""The ledger's timer on a real hub: a hazard's target day warns once when it begins (site time) and escalates once
when it has passed unfixed, on the feed and the escalation topic like a fault's SLA; a fixed hazard stays quiet; an
incident's overdue report is announced once."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hub.core.clock import ManualClock, to_iso
from hub.devtools.broker import Mosquitto
from tests.conftest import PREFIX, SITE, HubFactory
from tests.ledger.people import ledger_config, person

START = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 on 2 March in Asia/Shanghai


def test_overdue_hazards_escalate_and_incident_duties_are_announced(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory
) -> None:
    raw = ledger_config(tmp_path, broker.port)
    clock = ManualClock(START)
    hub = start_hub(raw, api=True, clock=clock)
    escalations: list[dict[str, object]] = []
    arrived = threading.Event()
    watcher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="escalation-watcher")

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        escalations.append(json.loads(message.payload))
        arrived.set()

    subscribed = threading.Event()
    watcher.on_message = on_message
    watcher.on_subscribe = lambda *args: subscribed.set()
    watcher.connect("127.0.0.1", broker.port)
    watcher.loop_start()
    try:
        watcher.subscribe(f"{PREFIX}/{SITE}/hub/escalation", qos=1)
        assert subscribed.wait(5)
        with person(hub, "zhang-wei") as zhang, person(hub, "wang-fang") as wang, person(hub, "zhao-gang") as guard:
            ids = []
            for place in ("北门", "食堂"):
                made = zhang.post("/api/v1/hazards", json={"place": place, "category": "消防", "summary": "x"})
                ids.append(made.json()["id"])
                wang.post(
                    f"/api/v1/hazards/{ids[-1]}/assess",
                    json={"note": "", "severity": "general", "due": "2026-03-03", "responsible": "li-na"},
                ).raise_for_status()
            zhang.post(f"/api/v1/hazards/{ids[1]}/fix", json={"note": "当场处理"}).raise_for_status()
            guard.post(
                "/api/v1/incidents",
                json={"kind": "trespasser", "place": "西墙", "summary": "x", "occurred_at": to_iso(START)},
            ).raise_for_status()

            assert hub.ledger_watch.run_once() == {"warned": [], "escalated": [], "duties": []}
            clock.advance(31 * 60)
            assert hub.ledger_watch.run_once()["duties"] == [(1, "phone")]
            metrics = zhang.get("/metrics").text
            assert 'campus_hub_incident_duties_overdue{type="phone"} 1.0' in metrics
            assert 'campus_hub_incident_duties_overdue{type="written"} 0.0' in metrics
            # Midnight of 3 March in Asia/Shanghai: the target day has begun.
            clock.advance((datetime(2026, 3, 2, 16, 0, tzinfo=UTC) - clock.now()).total_seconds())
            sent = hub.ledger_watch.run_once()
            assert sent == {"warned": [ids[0]], "escalated": [], "duties": [(1, "written")]}
            assert hub.ledger_watch.run_once() == {"warned": [], "escalated": [], "duties": []}
            clock.advance(timedelta(days=1).total_seconds() - 1)
            assert hub.ledger_watch.run_once()["escalated"] == []
            clock.advance(1)
            assert hub.ledger_watch.run_once()["escalated"] == [ids[0]]
            assert hub.ledger_watch.run_once()["escalated"] == []
            assert zhang.get(f"/api/v1/hazards/{ids[0]}").json()["overdue"] is True

        assert arrived.wait(5)
        assert escalations == [
            {
                "type": "hazard_overdue",
                "hazard_id": ids[0],
                "place": "北门",
                "category": "消防",
                "severity": "general",
                "responsible": "li-na",
                "due": "2026-03-03",
                "at": "2026-03-03T16:00:00.000000+00:00",
            }
        ]
        kinds = [(e.kind, e.data.get("hazard_id", e.data.get("incident_id"))) for e in hub.feed.recent(200)]
        assert ("hazard_due_today", ids[0]) in kinds
        assert ("escalation", ids[0]) in kinds
        assert [k for k in kinds if k[0] == "incident_duty_overdue"] == [("incident_duty_overdue", 1)] * 2
        assert not any(k == ("hazard_due_today", ids[1]) for k in kinds)
    finally:
        watcher.disconnect()
        watcher.loop_stop()
