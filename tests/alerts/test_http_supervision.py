"""HTTP path supervision (联得通): optional link tests keep an HTTP path's state current between alarms, so a path that
breaks with no alarm in sight is shown down within its link-test interval and opens the path-down fault."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerts.paths import PathStatus
from hub.app import Hub
from hub.config import HubConfig
from hub.devtools.broker import Mosquitto, free_port
from hub.devtools.receiver import Receiver
from hub.health.faults import FaultKind
from tests.conftest import TOKENS, HubFactory, base_config, wait_until

LINK_TEST_S = 1.0
# How late a change may show: one link-test interval, the supervisor's 1 s tick, and room for a loaded machine.
SHOWN_WITHIN_S = LINK_TEST_S + 1.0 + 2.0


def _status(hub: Hub) -> dict[str, Any]:
    with httpx.Client(headers={"Authorization": f"Bearer {TOKENS['guard']}"}, timeout=5) as client:
        paths = client.get(f"http://127.0.0.1:{hub.api_port}/api/v1/forwarding").json()["paths"]
    (path,) = paths
    return dict(path)


def _config(tmp_path: Path, port: int, url: str, **endpoint: Any) -> dict[str, Any]:
    raw = base_config(tmp_path, port, url)
    raw["forwarding"]["endpoints"][0].update(link_test_s=LINK_TEST_S, timeout_s=1, **endpoint)
    raw["forwarding"].update(path_down_after_failures=1, path_fault_after_s=0)
    return raw


def test_an_http_path_that_breaks_between_alarms_is_shown_down_within_its_interval_and_opens_a_fault(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, start_hub: HubFactory
) -> None:
    hub = start_hub(_config(tmp_path, broker.port, receiver.url), api=True)
    # Up before any alarm: the signed link_test POST was accepted (a bad signature would have been refused).
    assert receiver.state.wait_for_link_tests(1, timeout=5)
    assert wait_until(lambda: _status(hub)["status"] == "up", 5)
    assert receiver.state.received == []  # a link test is not an alarm

    # The centre breaks with no alarm in sight (it answers 503 to everything).
    receiver.state.fail_with = 503
    broke = time.monotonic()
    assert wait_until(lambda: _status(hub)["status"] == "down", SHOWN_WITHIN_S), _status(hub)
    assert time.monotonic() - broke <= SHOWN_WITHIN_S
    assert "link test" in str(_status(hub)["last_error"])
    assert wait_until(
        lambda: "path:police-110" in hub.health_store.open_subjects(FaultKind.FORWARDING_PATH_DOWN), SHOWN_WITHIN_S
    )

    receiver.state.fail_with = None
    assert wait_until(lambda: _status(hub)["status"] == "up", SHOWN_WITHIN_S)
    assert wait_until(
        lambda: "path:police-110" not in hub.health_store.open_subjects(FaultKind.FORWARDING_PATH_DOWN),
        SHOWN_WITHIN_S,
    )


def test_a_refused_connection_is_a_failed_link_test(tmp_path: Path, broker: Mosquitto, start_hub: HubFactory) -> None:
    dead = f"http://127.0.0.1:{free_port()}/alarms"  # nothing listens there
    hub = start_hub(_config(tmp_path, broker.port, dead), api=True)
    assert wait_until(lambda: _status(hub)["status"] == "down", SHOWN_WITHIN_S), _status(hub)
    assert "connection failed" in str(_status(hub)["last_error"])


def test_a_health_url_is_checked_instead_and_any_answer_but_2xx_is_a_failure(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, start_hub: HubFactory
) -> None:
    health = receiver.url.replace("/alarms", "/health")
    hub = start_hub(_config(tmp_path, broker.port, receiver.url, health_url=health), api=True)
    assert receiver.state.wait_for_link_tests(1, timeout=5)
    assert receiver.state.posts == 0  # a GET, not a POST
    assert wait_until(lambda: _status(hub)["status"] == "up", 5)
    receiver.state.fail_with = 503
    assert wait_until(lambda: _status(hub)["status"] == PathStatus.DOWN.value, SHOWN_WITHIN_S)
    assert "HTTP 503" in str(_status(hub)["last_error"])


def test_link_tests_are_off_unless_asked_for_and_never_faster_than_a_second(tmp_path: Path) -> None:
    raw = base_config(tmp_path, 1883, "http://127.0.0.1:9/alarms")
    assert HubConfig.model_validate(raw).forwarding.endpoints[0].link_test_s == 0
    raw["forwarding"]["endpoints"][0]["link_test_s"] = 0.5
    with pytest.raises(ValueError, match="0 \\(off\\) or at least 1 second"):
        HubConfig.model_validate(raw)
