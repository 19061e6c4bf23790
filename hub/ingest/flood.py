"""Per-device message rates and the flooding verdict: cheap counting on the ingest path, pure decisions on top.

The ingest path adds each committed batch's device ids to a `MessageCounter` (one lock per batch, one dict
increment per message), and the topics of its dead letters: a device looping on garbage floods as much as one
looping on readings, and who sent them is worked out once per topic when the counts are taken. Every
`window_s / BUCKETS` seconds the flood watch takes the counts as one `Bucket` into a `RateWindow` of the last
`BUCKETS` buckets, and `judge` turns the window into fault changes: a device opens a `flooding` fault when its rate
over a full window is above its allowed rate, max(floor, multiple x 60 / heartbeat_s) messages a minute, and
recovers only when every bucket of a full window was at or under it, so a rate that hovers near the limit does not
open and recover by turns.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass

from hub.health.faults import FaultChange, FaultKind
from hub.mqtt.topics import Topics, VendorRoute

# Buckets per window: a rate moves in steps of a sixth of the window, and a tick is cheap even with 10,000 devices.
BUCKETS = 6


@dataclass(frozen=True, slots=True)
class FloodPolicy:
    """How many messages a minute a device may send: `multiple` times its heartbeat's rate, never below the floor."""

    multiple: float
    floor_per_min: float
    window_s: float

    @property
    def bucket_s(self) -> float:
        return self.window_s / BUCKETS

    def allowed_per_min(self, heartbeat_s: float) -> float:
        return max(self.floor_per_min, self.multiple * 60.0 / heartbeat_s)


class MessageCounter:
    """Messages per device since the last `take()`: written by the ingest writer(s), emptied by the flood watch."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._topics: Counter[str] = Counter()

    def count(self, device_ids: Iterable[str]) -> None:
        with self._lock:
            self._counts.update(device_ids)  # Counter's C loop: about 50 ns a message

    def count_topics(self, topics: Iterable[str]) -> None:
        """Messages that were not stored as events (dead letters), by topic."""
        with self._lock:
            self._topics.update(topics)

    def take(self, device_of: Callable[[str], str | None] = lambda topic: None) -> dict[str, int]:
        """The counts since the last take, dead letters added to the device `device_of` their topic names."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
            topics, self._topics = self._topics, Counter()
        for topic, n in topics.items():
            device_id = device_of(topic)
            if device_id is not None:
                counts[device_id] += n
        return dict(counts)


def topic_owner(topics: Topics, vendor: Mapping[str, VendorRoute]) -> Callable[[str], str | None]:
    """The device id a topic names (a vendor device's exact topic, or the device level of a canonical one),
    whether or not the message on it made sense; None for a topic that names no device."""

    def owner(topic: str) -> str | None:
        route = vendor.get(topic)
        if route is not None:
            return route.device_id
        head = topics.base + "/"
        parts = topic[len(head) :].split("/") if topic.startswith(head) else []
        return parts[1] if len(parts) == 3 and parts[1] else None

    return owner


@dataclass(frozen=True, slots=True)
class Bucket:
    """Messages per device over `seconds` of monotonic time."""

    counts: Mapping[str, int]
    seconds: float


@dataclass(frozen=True, slots=True)
class DeviceRate:
    """One device's rates over the window, messages a minute: on average, and in its busiest bucket."""

    device_id: str
    per_min: float
    peak_per_min: float


class RateWindow:
    """The last `BUCKETS` buckets; rates are judged only once it is full."""

    def __init__(self, size: int = BUCKETS) -> None:
        self._buckets: deque[Bucket] = deque(maxlen=size)

    def add(self, bucket: Bucket) -> None:
        self._buckets.append(bucket)

    def clear(self) -> None:
        self._buckets.clear()

    @property
    def full(self) -> bool:
        return len(self._buckets) == self._buckets.maxlen

    def rates(self) -> dict[str, DeviceRate]:
        """Each device heard in the window; one missing from the result sent nothing."""
        seconds = sum(b.seconds for b in self._buckets)
        if seconds <= 0:
            return {}
        totals: Counter[str] = Counter()
        peaks: dict[str, float] = {}
        for bucket in self._buckets:
            totals.update(bucket.counts)
            if bucket.seconds <= 0:
                continue
            for device_id, count in bucket.counts.items():
                rate = count * 60.0 / bucket.seconds
                if rate > peaks.get(device_id, 0.0):
                    peaks[device_id] = rate
        return {d: DeviceRate(d, n * 60.0 / seconds, peaks.get(d, 0.0)) for d, n in totals.items()}


def judge(
    rates: Mapping[str, DeviceRate],
    allowed: Mapping[str, float],
    flooding: Set[str],
    *,
    full: bool,
    exempt: Set[str] = frozenset(),
    window_s: float,
) -> list[FaultChange]:
    """Flooding faults to open and to recover. `allowed` holds every registered device; `flooding` those with an
    open fault; `exempt` devices in planned maintenance (nothing new opens for them, as for other faults)."""
    if not full:
        return []
    changes: list[FaultChange] = []
    for device_id, rate in sorted(rates.items()):
        limit = allowed.get(device_id)
        if limit is None or device_id in flooding or device_id in exempt or rate.per_min <= limit:
            continue
        summary = f"sending {rate.per_min:.0f} msg/min over {window_s:g} s; allowed {limit:.0f} msg/min"
        changes.append(FaultChange(device_id, FaultKind.FLOODING, True, summary))
    for device_id in sorted(flooding):
        limit = allowed.get(device_id)
        rate = rates.get(device_id, DeviceRate(device_id, 0.0, 0.0))
        if limit is not None and rate.peak_per_min > limit:
            continue
        summary = (
            f"back under {limit:.0f} msg/min for {window_s:g} s (now {rate.per_min:.0f} msg/min)"
            if limit is not None
            else "no longer in the registry"
        )
        changes.append(FaultChange(device_id, FaultKind.FLOODING, False, summary))
    return changes


def top_rates(rates: Mapping[str, DeviceRate], flooding: Set[str], n: int) -> list[DeviceRate]:
    """The rates worth a metric series: every flooding device and the `n` busiest, so the series stay few."""
    busiest = sorted(rates.values(), key=lambda r: (-r.per_min, r.device_id))[:n]
    extra = [rates.get(d, DeviceRate(d, 0.0, 0.0)) for d in sorted(flooding) if d not in {r.device_id for r in busiest}]
    return busiest + extra
