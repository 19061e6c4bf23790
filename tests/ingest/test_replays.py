"""No phantom alarms from replays: a press the broker sends again that the hub already handled (a retained copy on
every subscribe, a DUP redelivery, the queue of an old persistence file) opens nothing and is recorded as a replay,
while a press the hub never handled, or a fresh one that only looks the same (a rebooted device reusing its `seq`),
still reaches 110.

The decision is tested as a pure function, the pipeline on a real SQLite file (the DUP flag is set on `Inbound`
there, as the MQTT thread would), and the whole hub on a real Mosquitto with a real HTTP 110 receiver.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from alerts.model import Disposition
from device_adapters.base import Channel, DeviceEvent, DeviceKind
from hub.app import Hub
from hub.config import HubConfig
from hub.core.clock import ManualClock, SystemClock
from hub.devtools.broker import Mosquitto
from hub.devtools.receiver import Received, Receiver
from hub.ingest.pipeline import Inbound, Pipeline
from hub.ingest.replay import Delivery, HandledPress, ReplayMark, fingerprint, replay_mark, self_identified
from hub.metrics import HubMetrics
from hub.store import Actor, Store
from hub.store.retention import Purger
from tests.conftest import TOKENS, HubFactory, Publisher, base_config, topic, wait_until

GUARD = Actor("guard-on-duty", "guard")
NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
HANDLED = HandledPress("alarm-1", NOW)
PRESS = topic("panic_button", "btn-1", "event")
SMOKE = topic("smoke", "smoke-1", "event")


# --- the decision ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retained", "dup", "identified", "handled", "expected"),
    [
        # Never handled: whatever the broker says, the alarm goes out.
        (True, False, False, None, None),
        (False, True, False, None, None),
        (False, False, True, None, None),
        # Handled, and something says this copy is not new.
        (True, False, False, HANDLED, ReplayMark.RETAINED),
        (False, True, False, HANDLED, ReplayMark.DUP),
        (False, False, True, HANDLED, ReplayMark.IDENTITY),
        (True, True, True, HANDLED, ReplayMark.RETAINED),
        # Handled, but a fresh message with nothing naming it: maybe a new press, so it goes out.
        (False, False, False, HANDLED, None),
    ],
)
def test_replay_mark(
    retained: bool, dup: bool, identified: bool, handled: HandledPress | None, expected: ReplayMark | None
) -> None:
    assert replay_mark(Delivery(retained, dup, identified), handled) is expected


def _press(seq: int | None, ts: datetime | None) -> DeviceEvent:
    data: dict[str, Any] = {"pressed": True} | ({"seq": seq} if seq is not None else {})
    if ts is not None:
        data["ts"] = ts.isoformat()
    return DeviceEvent("btn-1", DeviceKind.PANIC_BUTTON, Channel.EVENT, ts or NOW, data, pressed=True, seq=seq)


def test_only_a_seq_with_a_set_device_clock_names_a_press() -> None:
    assert self_identified(_press(7, NOW))
    assert not self_identified(_press(7, None))  # no device time: a rebooted button may send these bytes again
    assert not self_identified(_press(None, NOW))
    assert not self_identified(_press(7, datetime(1970, 1, 1, 0, 0, 5, tzinfo=UTC)))  # a clock never set


def test_fingerprint_covers_device_topic_and_exact_bytes() -> None:
    base = fingerprint("btn-1", PRESS, b'{"pressed": true}')
    assert base == fingerprint("btn-1", PRESS, b'{"pressed": true}')
    assert len({
        base,
        fingerprint("btn-2", PRESS, b'{"pressed": true}'),
        fingerprint("btn-1", SMOKE, b'{"pressed": true}'),
        fingerprint("btn-1", PRESS, b'{"pressed":true}'),
        fingerprint("btn-1", PRESS + "x", b""),
        fingerprint("btn-1", PRESS, b"x"),
    }) == 6  # fmt: skip


# --- the pipeline on a real SQLite file ---------------------------------------------------------------------------


@pytest.fixture
def pipeline(tmp_path: Path) -> tuple[Pipeline, Store, HubMetrics]:
    config = HubConfig.model_validate(base_config(tmp_path, 1883, "http://127.0.0.1:9/alarms"))
    store = Store(tmp_path / "hub.db", SystemClock())
    store.open()
    metrics = HubMetrics()
    return Pipeline(config, store, metrics), store, metrics


def _inbound(topic_: str, payload: bytes, *, retained: bool = False, dup: bool = False) -> Inbound:
    return Inbound(topic_, payload, 1, 1, datetime.now(UTC), 0.0, retained=retained, dup=dup)


def _close(store: Store, alarm_id: str) -> None:
    store.acknowledge(alarm_id, GUARD)
    store.close(alarm_id, GUARD, "checked on site: nobody there", Disposition.FALSE_ALARM)


def test_a_dup_redelivery_of_a_handled_press_opens_nothing(pipeline: tuple[Pipeline, Store, HubMetrics]) -> None:
    pipe, store, metrics = pipeline
    payload = b'{"pressed": true, "seq": 3}'
    first = pipe.process([_inbound(PRESS, payload)]).opened
    assert len(first) == 1
    _close(store, first[0])
    outcome = pipe.process([_inbound(PRESS, payload, dup=True)])
    assert (outcome.opened, outcome.retriggered, outcome.events) == ([], [], 1)
    assert store.count("alarms") == 1
    replay = store.replays(alarm_id=first[0])
    assert [(r["mark"], r["kind"], r["device_id"]) for r in replay] == [("dup", "panic", "btn-1")]
    sample = metrics.registry.get_sample_value("campus_hub_press_replays_total", {"kind": "panic", "mark": "dup"})
    assert sample == 1.0


def test_a_replay_on_the_open_alarm_it_raised_is_not_another_trigger(
    pipeline: tuple[Pipeline, Store, HubMetrics],
) -> None:
    pipe, store, _ = pipeline
    payload = b'{"smoke": true, "obscuration_db_m": 0.2}'  # no seq: the open alarm alone would count it again
    alarm_id = pipe.process([_inbound(SMOKE, payload)]).opened[0]
    pipe.process([_inbound(SMOKE, payload, retained=True)])
    assert store.get_alarm(alarm_id)["trigger_count"] == 1
    assert [r["mark"] for r in store.replays(device_id="smoke-1")] == ["retained"]
    # The same bytes fresh from the detector (still in smoke) are a trigger like any other.
    assert pipe.process([_inbound(SMOKE, payload)]).retriggered == [alarm_id]


def test_a_fresh_identical_press_without_a_device_time_is_a_new_alarm(
    pipeline: tuple[Pipeline, Store, HubMetrics],
) -> None:
    pipe, store, _ = pipeline
    payload = b'{"pressed": true, "seq": 1}'
    first = pipe.process([_inbound(PRESS, payload)]).opened[0]
    _close(store, first)
    second = pipe.process([_inbound(PRESS, payload)]).opened
    assert len(second) == 1
    assert second[0] != first
    assert store.count("press_replays") == 0


def test_a_fresh_press_naming_itself_again_is_a_replay(pipeline: tuple[Pipeline, Store, HubMetrics]) -> None:
    pipe, store, _ = pipeline
    payload = b'{"pressed": true, "seq": 9, "ts": "2026-12-06T08:00:00+08:00"}'
    first = pipe.process([_inbound(PRESS, payload)]).opened[0]
    _close(store, first)
    assert pipe.process([_inbound(PRESS, payload)]).opened == []
    assert [r["mark"] for r in store.replays(alarm_id=first)] == ["identity"]
    # The same seq at another device time is another press.
    other = b'{"pressed": true, "seq": 9, "ts": "2026-12-06T09:30:00+08:00"}'
    assert len(pipe.process([_inbound(PRESS, other)]).opened) == 1


def test_the_purger_keeps_fingerprints_the_broker_may_still_send(tmp_path: Path) -> None:
    clock = ManualClock(NOW)
    store = Store(tmp_path / "hub.db", clock)
    store.open()
    with store.transaction() as tx:
        tx.remember_press(b"old-1", "btn-1", PRESS, "a1", NOW - timedelta(days=400))
        tx.remember_press(b"old-2", "btn-1", PRESS, "a2", NOW - timedelta(days=380))  # the topic's newest
        tx.remember_press(b"old-3", "btn-2", PRESS, "a3", NOW - timedelta(days=500))  # the only one of its topic
        tx.remember_press(b"young", "smoke-1", SMOKE, "a4", NOW - timedelta(days=100))
        tx.remember_press(b"young-2", "smoke-1", SMOKE, "a5", NOW - timedelta(days=10))
    # records_days 365, but the broker's session lasts 420 days here: nothing is past that but old-3, which stays
    # as the newest of its topic.
    purger = Purger(store, clock, days=90, records_days=365, batch=10, pause_s=0, session_expiry_s=420 * 86400)
    assert purger.run_once().tables["handled_presses"].count == 0
    purger = Purger(store, clock, days=90, records_days=365, batch=10, pause_s=0, session_expiry_s=3600)
    assert purger.run_once().tables["handled_presses"].count == 1  # old-1: older than a year, not its topic's newest
    left = {row[0] for row in store.connection().execute("SELECT fingerprint FROM handled_presses")}
    assert left == {b"old-2", b"old-3", b"young", b"young-2"}


# --- the whole hub on a real Mosquitto, alarms to a real 110 receiver ------------------------------------------


def _alarms_at_110(receiver: Receiver, count: int) -> list[Received]:
    """Wait for `count` alarm POSTs (closing an alarm also POSTs its restore, which is not an alarm)."""
    state = receiver.state

    def alarms() -> list[Received]:
        return [r for r in state.received if r.body.get("event", "alarm") == "alarm"]

    with state.arrived:
        state.arrived.wait_for(lambda: len(alarms()) >= count, 5.0)
        return alarms()


def _close_latest(hub: Hub, receiver: Receiver, count: int) -> str:
    got = _alarms_at_110(receiver, count)
    assert len(got) == count, f"{len(got)} alarms reached 110, expected {count}"
    alarm_id = str(got[-1].body["alarm_id"])
    _close(hub.store, alarm_id)
    return alarm_id


def _replayed(hub: Hub, count: int = 1) -> bool:
    return wait_until(lambda: hub.store.count("press_replays") >= count, 10.0)


@pytest.mark.parametrize(
    ("topic_", "payload", "kind"),
    [(PRESS, {"pressed": True, "seq": 17}, "panic"), (SMOKE, {"smoke": True, "obscuration_db_m": 0.21}, "fire")],
    ids=["panic", "smoke"],
)
def test_a_retained_alarm_is_not_raised_again_after_a_hub_restart(
    tmp_path: Path,
    broker: Mosquitto,
    receiver: Receiver,
    publisher: Publisher,
    start_hub: HubFactory,
    topic_: str,
    payload: dict[str, Any],
    kind: str,
) -> None:
    raw = base_config(tmp_path, broker.port, receiver.url)
    hub = start_hub(raw)
    publisher.publish(topic_, payload, retain=True)
    alarm_id = _close_latest(hub, receiver, 1)
    hub.stop()
    hub2 = start_hub(raw, api=True)  # subscribing again: the broker sends the retained copy
    assert _replayed(hub2), "the retained copy was not recorded as a replay"
    assert hub2.store.count("alarms") == 1
    assert [(r["alarm_id"], r["mark"], r["kind"]) for r in hub2.store.replays()] == [(alarm_id, "retained", kind)]
    sample = hub2.metrics.registry.get_sample_value(
        "campus_hub_press_replays_total", {"kind": kind, "mark": "retained"}
    )
    assert sample == 1.0
    assert receiver.state.unique_alarm_ids() == {alarm_id}
    # The alarm's record (its timeline in the console) shows the replay.
    auth = {"Authorization": f"Bearer {TOKENS['guard']}"}
    shown = httpx.get(f"http://127.0.0.1:{hub2.api_port}/api/v1/alarms/{alarm_id}", headers=auth, timeout=5).json()
    assert [(r["mark"], r["device_id"]) for r in shown["replays"]] == [("retained", topic_.split("/")[3])]


def test_a_retained_press_is_not_raised_again_after_a_broker_restart(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, start_hub: HubFactory
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, receiver.url))
    device = Publisher(broker.port)
    device.publish(PRESS, {"pressed": True, "seq": 4}, retain=True)
    device.close()
    alarm_id = _close_latest(hub, receiver, 1)
    broker.stop()
    assert wait_until(lambda: not hub.mqtt_connected, 10)
    broker.start()  # the retained press comes back from the persistence file on the hub's next subscribe
    assert hub.ingest.wait_connected(15)
    assert _replayed(hub)
    assert hub.store.count("alarms") == 1
    assert [r["mark"] for r in hub.store.replays(alarm_id=alarm_id)] == ["retained"]
    assert receiver.state.unique_alarm_ids() == {alarm_id}


def test_a_queued_press_from_an_old_persistence_file_is_a_replay(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, start_hub: HubFactory
) -> None:
    raw = base_config(tmp_path, broker.port, receiver.url)
    start_hub(raw).stop()  # the hub's persistent session now waits on the broker
    device = Publisher(broker.port)
    device.publish(PRESS, {"pressed": True, "seq": 12, "ts": "2026-12-06T16:00:00+08:00"})
    device.close()
    broker.stop()
    saved = tmp_path / "old-mosquitto.db"
    shutil.copy(broker.workdir / "mosquitto.db", saved)  # a save from before the hub took the press
    broker.start()
    hub = start_hub(raw)
    alarm_id = _close_latest(hub, receiver, 1)
    hub.stop()
    broker.stop()
    shutil.copy(saved, broker.workdir / "mosquitto.db")  # the broker comes back from the old file
    broker.start()
    hub2 = start_hub(raw)
    assert _replayed(hub2)
    assert [r["mark"] for r in hub2.store.replays(alarm_id=alarm_id)] == ["identity"]
    assert hub2.store.count("alarms") == 1
    assert receiver.state.unique_alarm_ids() == {alarm_id}


def test_a_retained_press_the_hub_never_handled_reaches_110(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver, start_hub: HubFactory
) -> None:
    raw = base_config(tmp_path, broker.port, receiver.url)
    hub = start_hub(raw)
    device = Publisher(broker.port)
    device.publish(PRESS, {"pressed": True, "seq": 1}, retain=True)
    device.close()
    _close_latest(hub, receiver, 1)
    hub.stop()
    broker.stop()
    (broker.workdir / "mosquitto.db").unlink()  # the broker lost the hub's session (and the old retained press)
    broker.start()
    device = Publisher(broker.port)
    device.publish(PRESS, {"pressed": True, "seq": 2}, retain=True)  # pressed while nobody was subscribed
    device.close()
    hub2 = start_hub(raw)
    got = _alarms_at_110(receiver, 2)
    assert len(got) == 2, "a retained press the hub never handled did not reach 110"
    assert hub2.store.count("press_replays") == 0


@pytest.mark.parametrize(
    ("topic_", "payload"), [(PRESS, {"pressed": True, "seq": 1}), (SMOKE, {"smoke": True})], ids=["panic", "smoke"]
)
def test_a_rebooted_device_reusing_its_seq_still_reaches_110(
    tmp_path: Path,
    broker: Mosquitto,
    receiver: Receiver,
    publisher: Publisher,
    start_hub: HubFactory,
    topic_: str,
    payload: dict[str, Any],
) -> None:
    hub = start_hub(base_config(tmp_path, broker.port, receiver.url))
    publisher.publish(topic_, payload)
    first = _close_latest(hub, receiver, 1)
    publisher.publish(topic_, payload)  # the same bytes, fresh: neither retained nor DUP
    second = _close_latest(hub, receiver, 2)
    assert second != first
    assert hub.store.count("press_replays") == 0


Z2M_SOS = "zigbee2mqtt/Block A/SOS 1"
TASMOTA_BTN = "tasmota_btn_gate"


@pytest.mark.parametrize(
    ("device_id", "vendor_topic", "payload"),
    [
        ("z2m-sos", Z2M_SOS, {"action": "single", "battery": 90}),
        ("tas-btn", f"stat/{TASMOTA_BTN}/POWER", "ON"),
    ],
    ids=["zigbee2mqtt", "tasmota"],
)
def test_a_retained_vendor_press_counts_once_and_its_replays_raise_nothing(
    tmp_path: Path,
    broker: Mosquitto,
    receiver: Receiver,
    publisher: Publisher,
    start_hub: HubFactory,
    device_id: str,
    vendor_topic: str,
    payload: dict[str, Any] | str,
) -> None:
    raw = base_config(tmp_path, broker.port, receiver.url)
    where = {"building": "A", "floor": "2", "room": device_id}
    raw["devices"] += [
        {"id": "z2m-sos", "kind": "panic_button", "name": "SOS", "location": where, "format": "zigbee2mqtt"}
        | {"source_topic": Z2M_SOS},
        {"id": "tas-btn", "kind": "panic_button", "name": "Gate", "location": where, "format": "tasmota"}
        | {"source_topic": TASMOTA_BTN},
    ]
    # Z2M's `retain` option or Tasmota's PowerRetain: the press waits on the broker for whoever subscribes next.
    publisher.publish(vendor_topic, payload, retain=True)
    hub = start_hub(raw)
    got = _alarms_at_110(receiver, 1)
    assert [r.body["device"]["id"] for r in got] == [device_id], "a retained press nobody handled must go out"
    alarm_id = _close_latest(hub, receiver, 1)
    hub.stop()
    hub2 = start_hub(raw)
    assert _replayed(hub2)
    assert [r["mark"] for r in hub2.store.replays(alarm_id=alarm_id)] == ["retained"]
    assert hub2.store.count("alarms") == 1
    publisher.publish(vendor_topic, payload)  # a live press of the same bytes is a press
    got = _alarms_at_110(receiver, 2)
    assert len(got) == 2
    assert got[1].body["alarm_id"] != alarm_id
