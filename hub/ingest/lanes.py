"""The ingest writer's two bounded queues, one per MQTT lane, taken with strict priority.

Whenever the alarm lane holds messages, the next batch is all of them (up to a bound), alone; only an empty alarm
lane lets a telemetry batch go. Each lane is queued per device and a batch takes one message of each device in
turn, so a message from a quiet device waits behind one batch, not behind the backlog of a device that floods: a
smoke detector gone mad on the alarm lane cannot hold another button's press back, nor a chatty sensor a quiet
one's reading. Each device's own messages keep their order. Each lane is bounded on its own: when the telemetry
lane is full its session waits (and the broker holds telemetry back), while the alarm lane still takes presses.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence

from hub.ingest.pipeline import Inbound
from hub.mqtt.topics import Lane

DeviceKey = Callable[[str], str]


class _PerDevice:
    """One lane's waiting messages by device; taking goes round the devices in turn (not thread-safe alone)."""

    def __init__(self, device_key: DeviceKey) -> None:
        self._device_key = device_key
        # Device key -> its waiting messages; the dict's order is the round-robin order.
        self._waiting: OrderedDict[str, deque[Inbound]] = OrderedDict()
        self.length = 0

    def __bool__(self) -> bool:
        return self.length > 0

    def append(self, item: Inbound) -> None:
        key = self._device_key(item.topic)
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = self._waiting[key] = deque()
        waiting.append(item)
        self.length += 1

    def take(self, limit: int) -> list[Inbound]:
        batch: list[Inbound] = []
        waiting = self._waiting
        while waiting and len(batch) < limit:
            key, items = next(iter(waiting.items()))
            batch.append(items.popleft())
            if items:
                waiting.move_to_end(key)
            else:
                del waiting[key]
        self.length -= len(batch)
        return batch

    def give_back(self, batch: Sequence[Inbound]) -> None:
        """Put a taken batch back at the front of its devices' queues, in its order."""
        for item in reversed(batch):
            key = self._device_key(item.topic)
            waiting = self._waiting.get(key)
            if waiting is None:
                waiting = self._waiting[key] = deque()
            waiting.appendleft(item)
            self._waiting.move_to_end(key, last=False)
        self.length += len(batch)


class LaneQueues:
    """Two bounded queues with strict priority for the alarm lane; `close()` stops taking new messages."""

    def __init__(
        self,
        alarm_size: int,
        telemetry_size: int,
        device_key: DeviceKey,
        telemetry_wait_s: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self._cond = threading.Condition()
        # How long telemetry must still step aside for an alarm on its way (hub.core.priority); `poke()` when it
        # may go on sooner.
        self._telemetry_wait_s = telemetry_wait_s
        self._sizes = {Lane.ALARM: alarm_size, Lane.TELEMETRY: telemetry_size}
        self._lanes = {Lane.ALARM: _PerDevice(device_key), Lane.TELEMETRY: _PerDevice(device_key)}
        self._alarm = self._lanes[Lane.ALARM]
        self._telemetry = self._lanes[Lane.TELEMETRY]
        self._busy = False  # a taken batch is being committed
        self._closed = False

    def depth(self, lane: Lane) -> int:
        return self._lanes[lane].length

    def depths(self) -> dict[str, int]:
        return {lane.value: self.depth(lane) for lane in Lane}

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, lane: Lane, item: Inbound, timeout: float) -> bool:
        """Queue a message; False when the lane stayed full for `timeout` or the queues are closed."""
        with self._cond:
            limit = self._sizes[lane]
            if not self._cond.wait_for(lambda: self._closed or self.depth(lane) < limit, timeout):
                return False
            if self._closed:
                return False
            self._lanes[lane].append(item)
            self._cond.notify_all()
            return True

    def take(self, alarm_max: int, telemetry_max: int, timeout: float) -> tuple[Lane, list[Inbound]] | None:
        """The next batch: up to `alarm_max` alarm messages if any, else up to `telemetry_max` telemetry messages,
        each by device in turn; None when nothing came within `timeout`. The caller calls `done()` once the batch
        is settled."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._alarm:
                    lane, batch = Lane.ALARM, self._alarm.take(alarm_max)
                    break
                left = deadline - time.monotonic()
                if self._telemetry:
                    held = self._telemetry_wait_s()
                    if held <= 0.0:
                        lane, batch = Lane.TELEMETRY, self._telemetry.take(telemetry_max)
                        break
                    left = min(left, held) if left > 0 else 0.0
                if left <= 0.0:
                    return None
                self._cond.wait(left)
            self._busy = True
            self._cond.notify_all()  # room for a producer waiting on a full lane
            return lane, batch

    def poke(self) -> None:
        """Look again: telemetry may go on (an alarm's hold was let go)."""
        with self._cond:
            self._cond.notify_all()

    def give_back(self, batch: Sequence[Inbound]) -> None:
        """Return an uncommitted telemetry batch to the front of its devices' queues (order kept), so that alarm
        messages that arrived meanwhile go first; the lane may briefly hold more than its size."""
        with self._cond:
            self._telemetry.give_back(batch)
            self._cond.notify_all()

    def alarm_waiting(self) -> bool:
        return bool(self._alarm)

    def done(self) -> None:
        """The batch last taken is committed and acknowledged (or abandoned, unacknowledged)."""
        with self._cond:
            self._busy = False
            self._cond.notify_all()

    def close(self) -> None:
        """Take no new messages (they stay unacknowledged on the broker); producers waiting for room give up."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def open(self) -> None:
        """Take messages again (a restarted ingest)."""
        with self._cond:
            self._closed = False

    def wait_drained(self, timeout: float) -> bool:
        """Wait until both lanes are empty and no batch is being committed; False at the deadline."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._alarm and not self._telemetry and not self._busy, timeout)
