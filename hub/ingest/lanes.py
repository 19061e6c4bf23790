"""The ingest writer's two bounded queues, one per MQTT lane, taken with strict priority.

Whenever the alarm lane holds messages, the next batch is all of them (up to a bound), alone; only an empty alarm
lane lets a telemetry batch go. Telemetry is queued per device and a batch takes one message of each device in
turn, so a reading from a quiet sensor waits behind one batch, not behind the backlog of a device that floods; each
device's own messages keep their order. Each lane is bounded on its own: when the telemetry lane is full its session
waits (and the broker holds telemetry back), while the alarm lane still takes presses.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence

from hub.ingest.pipeline import Inbound
from hub.mqtt.topics import Lane

DeviceKey = Callable[[str], str]


class LaneQueues:
    """Two bounded queues with strict priority for the alarm lane; `close()` stops taking new messages."""

    def __init__(self, alarm_size: int, telemetry_size: int, device_key: DeviceKey) -> None:
        self._cond = threading.Condition()
        self._sizes = {Lane.ALARM: alarm_size, Lane.TELEMETRY: telemetry_size}
        self._device_key = device_key
        self._alarm: deque[Inbound] = deque()
        # Device key -> its waiting messages; the dict's order is the round-robin order.
        self._telemetry: OrderedDict[str, deque[Inbound]] = OrderedDict()
        self._telemetry_len = 0
        self._busy = False  # a taken batch is being committed
        self._closed = False

    def depth(self, lane: Lane) -> int:
        return len(self._alarm) if lane is Lane.ALARM else self._telemetry_len

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
            if lane is Lane.ALARM:
                self._alarm.append(item)
            else:
                key = self._device_key(item.topic)
                waiting = self._telemetry.get(key)
                if waiting is None:
                    waiting = self._telemetry[key] = deque()
                waiting.append(item)
                self._telemetry_len += 1
            self._cond.notify_all()
            return True

    def take(self, alarm_max: int, telemetry_max: int, timeout: float) -> tuple[Lane, list[Inbound]] | None:
        """The next batch: queued alarm messages if any, else up to `telemetry_max` telemetry messages by device in
        turn; None when nothing came within `timeout`. The caller calls `done()` once the batch is settled."""
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._alarm or self._telemetry_len), timeout):
                return None
            batch: list[Inbound] = []
            if self._alarm:
                while self._alarm and len(batch) < alarm_max:
                    batch.append(self._alarm.popleft())
                lane = Lane.ALARM
            else:
                waiting = self._telemetry
                while waiting and len(batch) < telemetry_max:
                    key, items = next(iter(waiting.items()))
                    batch.append(items.popleft())
                    if items:
                        waiting.move_to_end(key)
                    else:
                        del waiting[key]
                self._telemetry_len -= len(batch)
                lane = Lane.TELEMETRY
            self._busy = True
            self._cond.notify_all()  # room for a producer waiting on a full lane
            return lane, batch

    def give_back(self, batch: Sequence[Inbound]) -> None:
        """Return an uncommitted telemetry batch to the front of its devices' queues (order kept), so that alarm
        messages that arrived meanwhile go first; the lane may briefly hold more than its size."""
        with self._cond:
            for item in reversed(batch):
                key = self._device_key(item.topic)
                waiting = self._telemetry.get(key)
                if waiting is None:
                    waiting = self._telemetry[key] = deque()
                waiting.appendleft(item)
                self._telemetry.move_to_end(key, last=False)
            self._telemetry_len += len(batch)
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
            return self._cond.wait_for(lambda: not self._alarm and not self._telemetry_len and not self._busy, timeout)
