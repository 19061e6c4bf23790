"""/healthz and the workers: their states on request, and 503 with the reason when the alarm path's writer dies."""

from __future__ import annotations

from collections.abc import Iterable

import httpx
import pytest

from hub.devtools.broker import Mosquitto
from hub.mqtt.topics import Lane
from tests.conftest import HubFactory, Publisher, topic, wait_until


def test_healthz_lists_the_workers_and_a_dead_ingest_writer_is_unhealthy(
    broker: Mosquitto, publisher: Publisher, start_hub: HubFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = start_hub(api=True)
    with httpx.Client(base_url=f"http://127.0.0.1:{hub.api_port}", timeout=5) as anon:
        ok = anon.get("/healthz", params={"workers": "true"})
        assert ok.status_code == 200
        workers = ok.json()["workers"]
        assert workers["ingest-writer"]["state"] == "running"
        assert workers["liveness"]["state"] == "running"
        assert workers["uptime-rollups"]["state"] == "running"
        assert "reason" not in ok.json()

        def broken_ack(items: Iterable[object]) -> None:
            raise RuntimeError("ack refused")

        monkeypatch.setattr(hub.ingest.sessions[Lane.ALARM], "ack", broken_ack)  # a press: the alarm lane
        publisher.publish(topic("panic_button", "btn-1", "event"), {"pressed": True, "seq": 1})
        assert wait_until(lambda: not hub.ingest.worker.status().alive, 10)
        down = anon.get("/healthz")
        assert down.status_code == 503
        body = down.json()
        assert body["status"] == "degraded"
        assert body["mqtt_connected"] is True
        assert body["reason"] == "ingest-writer dead (RuntimeError: ack refused)"
        assert body["workers"]["ingest-writer"] == "dead"  # every answer names each worker's state
