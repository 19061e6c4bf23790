"""The demo's school has one device of each new kind, and `campus-hub simulate --trip` takes each to its alarm, its
pre-alarm or back to quiet, on a real Mosquitto and hub."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_adapters import DeviceKind
from hub.config import HubConfig
from hub.devtools.broker import Mosquitto
from hub.devtools.demo import demo_config
from hub.devtools.simulate import trip, trip_payload
from hub.health.faults import ACTIVE, FaultKind
from tests.conftest import HubFactory, wait_until


def test_the_demo_has_one_of_every_kind(tmp_path: Path) -> None:
    raw, _ = demo_config(tmp_path, 1883, "http://127.0.0.1:9/alarms", 0)
    config = HubConfig.model_validate(raw)
    assert {d.kind for d in config.devices} == set(DeviceKind)


@pytest.mark.parametrize(
    ("device", "level", "body"),
    [
        ("ef-canteen", "alarm", {"residual_ma": 360.0, "temperatures_c": [35.0, 33.5]}),
        ("ef-canteen", "prealarm", {"residual_ma": 250.0, "temperatures_c": [35.0, 33.5]}),
        ("gas-kitchen", "restore", {"lel_pct": 2.5}),
        ("co-dorm", "alarm", {"ppm": 180.0}),
        ("pir-finance", "alarm", {"alarm": True}),
        ("door-chem", "restore", {"open": False}),
    ],
)
def test_trip_payloads(tmp_path: Path, device: str, level: str, body: dict[str, object]) -> None:
    raw, _ = demo_config(tmp_path, 1883, "http://127.0.0.1:9/alarms", 0)
    config = HubConfig.model_validate(raw)
    entry = config.device(device)
    assert entry is not None
    assert trip_payload(entry, level)[1] == body


def test_trip_from_the_command_line_path_raises_alarms_and_prealarms(
    tmp_path: Path, broker: Mosquitto, start_hub: HubFactory
) -> None:
    raw, _ = demo_config(tmp_path, broker.port, "http://127.0.0.1:9/alarms", 0)
    raw["api"]["port"] = 0
    hub = start_hub(raw)
    config = hub.config
    trip(config, "ef-canteen", "prealarm")
    trip(config, "gas-kitchen", "alarm")
    trip(config, "door-chem", "alarm")  # a 24-hour zone: an intrusion whatever the time

    def alarmed() -> set[tuple[str, str]]:
        return {(a["device"]["id"], a["kind"]) for a in hub.store.list_alarms(None, 20)}

    assert wait_until(lambda: alarmed() == {("gas-kitchen", "gas"), ("door-chem", "intrusion")}, 5.0)
    assert wait_until(
        lambda: any(
            f["kind"] == FaultKind.PREALARM for f in hub.health_store.list_faults(sorted(ACTIVE), "ef-canteen")
        ),
        5.0,
    )
    with pytest.raises(ValueError, match="not one of"):
        trip(config, "btn-gate", "alarm")
