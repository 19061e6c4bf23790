"""The world around a benchmarked hub: the buttons that press and the 110 centre that answers, in their own process.

In the field the panic buttons and the receiving centre are other machines: they share neither the hub's
interpreter lock nor its threads, so a benchmark that ran them inside the hub's process would charge the hub for
their waits (and them for the hub's). `Field` runs a press client (paho, QoS 1) and the real HTTP 110 receiver
(`hub.devtools.receiver.Receiver`, signed POSTs on 127.0.0.1) in a spawned process and talks to it over queues.
Both ends are timed on `time.monotonic()`, CLOCK_MONOTONIC, one clock for every process of the host, so press ->
receipt is still measured on a single clock.

`account` matches presses to receipts (by the device id in the POST body) and checks what every alarm benchmark
promises: each press delivered exactly once, no alarm for a device nobody pressed, no repeated POST.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.context import SpawnContext, SpawnProcess
from multiprocessing.queues import Queue as MpQueue
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hub.devtools.receiver import Receiver

SITE = "test-school"
PREFIX = "campus"
HOST = "127.0.0.1"
SECRET = "bench-110-shared-secret"
# How long a command to the field process may take beyond its own deadline before the benchmark gives up on it.
REPLY_GRACE_S = 30.0


def button_topic(button: int) -> str:
    return f"{PREFIX}/{SITE}/panic_button/btn-{button:03d}/event"


@dataclass(frozen=True, slots=True)
class Press:
    device: str
    mono: float
    wall: datetime


@dataclass(frozen=True, slots=True)
class Receipt:
    """One POST the 110 receiver accepted, with what the benchmarks read from it."""

    device: str
    alarm_id: str
    raised_at: datetime
    sent_at: datetime
    at: datetime
    at_mono: float
    duplicate: bool


class Connected:
    """paho's on_connect callback as an event."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(
        self, client: mqtt.Client, userdata: object, flags: mqtt.ConnectFlags, rc: ReasonCode, p: Properties | None
    ) -> None:
        if not rc.is_failure:
            self.event.set()


def connect_presser(port: int) -> mqtt.Client:
    """The benchmark's press client, connected with its network loop running; RuntimeError when it cannot connect."""
    connected = Connected()
    presser = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-presser", protocol=MQTTProtocolVersion.MQTTv311)
    presser.on_connect = connected
    presser.connect(HOST, port, keepalive=60)
    presser.loop_start()
    if not connected.event.wait(10):
        presser.loop_stop()
        raise RuntimeError("press client could not connect")
    return presser


def press_all(client: mqtt.Client, presses: int, rate: float) -> tuple[list[Press], float]:
    """Publish the presses on schedule; returns them and the worst lateness against the schedule, in ms."""
    done: list[Press] = []
    worst = 0.0
    start = time.monotonic() + 0.05
    for i in range(presses):
        due = start + i / rate
        while (wait := due - time.monotonic()) > 0:
            time.sleep(wait)
        device = f"btn-{i:03d}"
        payload = json.dumps({"pressed": True, "seq": i + 1})
        now = time.monotonic()
        wall = datetime.now(UTC)
        info = client.publish(button_topic(i), payload, qos=1)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"press {i} on {device} failed: {mqtt.error_string(info.rc)}")
        done.append(Press(device, now, wall))
        worst = max(worst, (now - due) * 1000)
    return done, worst


def _receipts(receiver: Receiver, count: int, timeout: float) -> list[Receipt]:
    return [
        Receipt(
            device=str(r.body["device"]["id"]),
            alarm_id=str(r.body["alarm_id"]),
            raised_at=datetime.fromisoformat(str(r.body["raised_at"])),
            sent_at=datetime.fromisoformat(str(r.body["sent_at"])),
            at=r.at,
            at_mono=r.at_mono,
            duplicate=r.duplicate,
        )
        for r in receiver.state.wait_for(count, timeout)
    ]


def field_main(secret: str, commands: MpQueue[tuple[Any, ...]], replies: MpQueue[tuple[Any, ...]]) -> None:
    """The field process: answer commands until `stop` (or the queue's end); any failure is sent back, not lost."""
    # The receiver logs each alarm it gets (a demo's 110 console); a benchmark prints figures, not hundreds of those.
    logging.basicConfig(level=logging.ERROR)
    receiver = Receiver(secret).start()
    presser: mqtt.Client | None = None
    try:
        replies.put(("ok", receiver.url))
        while True:
            command, *args = commands.get()
            try:
                if command == "stop":
                    return
                if command == "connect":
                    presser = connect_presser(int(args[0]))
                    replies.put(("ok", None))
                elif command == "press":
                    if presser is None:
                        raise RuntimeError("press before connect")
                    replies.put(("ok", press_all(presser, int(args[0]), float(args[1]))))
                elif command == "wait":
                    replies.put(("ok", _receipts(receiver, int(args[0]), float(args[1]))))
                else:
                    raise ValueError(f"unknown command {command!r}")
            except (RuntimeError, ValueError, OSError) as exc:  # sent back: the benchmark fails loudly with it
                replies.put(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        if presser is not None:
            presser.disconnect()
            presser.loop_stop()
        receiver.stop()


class Field:
    """The press client and the 110 receiver of one benchmark phase, in their own process (a context manager)."""

    def __init__(self, ctx: SpawnContext, secret: str = SECRET) -> None:
        self._commands: MpQueue[tuple[Any, ...]] = ctx.Queue()
        self._replies: MpQueue[tuple[Any, ...]] = ctx.Queue()
        self._proc: SpawnProcess = ctx.Process(
            target=field_main, args=(secret, self._commands, self._replies), daemon=True
        )
        self.url = ""

    def __enter__(self) -> Field:
        self._proc.start()
        self.url = str(self._ask(None, 0.0))
        return self

    def __exit__(self, *exc: object) -> None:
        self._commands.put(("stop",))
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)

    def connect(self, broker_port: int) -> None:
        self._ask(("connect", broker_port), 10.0)

    def press(self, presses: int, rate: float) -> tuple[list[Press], float]:
        """Press `presses` buttons at `rate` per second; the presses and the worst lateness against the schedule."""
        done, lateness = self._ask(("press", presses, rate), presses / rate)
        return list(done), float(lateness)

    def wait_for(self, count: int, timeout: float) -> list[Receipt]:
        """What the receiver accepted once `count` POSTs arrived or `timeout` passed."""
        return list(self._ask(("wait", count, timeout), timeout))

    def _ask(self, command: tuple[Any, ...] | None, takes_s: float) -> Any:
        if command is not None:
            self._commands.put(command)
        try:
            status, value = self._replies.get(timeout=takes_s + REPLY_GRACE_S)
        except queue.Empty:
            raise RuntimeError(f"the field process did not answer {command!r} in time") from None
        if status != "ok":
            raise RuntimeError(f"the field process failed on {command!r}: {value}")
        return value


@dataclass(slots=True)
class Accounting:
    """Presses matched to receipts: the latency of each press's first receipt, and what went wrong."""

    latencies_ms: list[float] = field(default_factory=list)
    delivered: int = 0  # presses whose device got exactly one alarm
    first: dict[str, Receipt] = field(default_factory=dict)  # device -> its first receipt
    problems: list[str] = field(default_factory=list)


def account(presses: list[Press], receipts: list[Receipt]) -> Accounting:
    """Match each press to its device's first receipt and check: one alarm per press, none for anyone else, no
    repeated POST."""
    sent = {p.device: p for p in presses}
    by_device: dict[str, set[str]] = defaultdict(set)
    out = Accounting()
    duplicates = 0
    for r in receipts:
        by_device[r.device].add(r.alarm_id)
        if r.duplicate:
            duplicates += 1
            continue
        press = sent.get(r.device)
        if press is None or r.device in out.first:
            continue
        out.first[r.device] = r
        out.latencies_ms.append((r.at_mono - press.mono) * 1000)
    out.delivered = sum(1 for d in sent if len(by_device.get(d, ())) == 1)
    missing = sorted(set(sent) - set(by_device))
    multiple = sorted(d for d, ids in by_device.items() if len(ids) > 1)
    strangers = sorted(set(by_device) - set(sent))
    if out.delivered != len(presses) or strangers:
        out.problems.append(
            f"{len(presses)} presses: {out.delivered} delivered exactly once; missing {missing[:5]}"
            f"{'...' if len(missing) > 5 else ''}, more than one alarm {multiple[:5]},"
            f" unpressed devices {strangers[:5]}"
        )
    if duplicates:
        out.problems.append(f"{duplicates} repeated POSTs of an already delivered alarm")
    return out
