"""The flood watch: the thin timer around `hub.ingest.flood` that opens and recovers `flooding` faults.

Every bucket (window_s / 6) it takes the message counts the ingest path made, judges the window, applies the fault
changes through the health store (24-hour rule like any equipment fault, on the maintenance board) and exports
`campus_hub_flooding_devices` and `campus_hub_device_message_rate{device}` (flooding devices and the busiest few
only, so a site of 10,000 devices does not make 10,000 series).

After each (re)connect the broker hands over in one burst what it kept while the hub was away, so the counts of
one window after connecting say nothing about the devices' rates and are not judged. While disconnected nothing
is judged either: a flooding device the hub cannot hear has not stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hub.core.clock import Clock
from hub.core.periodic import Periodic
from hub.health.faults import FaultChange
from hub.health.watch import Notify, announce_health
from hub.ingest.flood import Bucket, DeviceRate, FloodPolicy, MessageCounter, RateWindow, judge, top_rates
from hub.store.health import FaultEvent

log = logging.getLogger(__name__)

# Devices with a rate series besides the flooding ones.
TOP_DEVICES = 10


class _Rates(Collector):
    """`campus_hub_device_message_rate`, read at scrape time from the last judged window (no stale series)."""

    def __init__(self, read: Callable[[], Sequence[DeviceRate]]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "campus_hub_device_message_rate",
            "Messages a minute over the flood window: flooding devices and the busiest ten.",
            labels=["device"],
        )
        for rate in self._read():
            family.add_metric([rate.device_id], rate.per_min)
        yield family


class FloodWatch:
    """Judges the devices' message rates every bucket; `connected()` is the ingest session's connect listener."""

    def __init__(
        self,
        counter: MessageCounter,
        policy: FloodPolicy,
        heartbeats: Mapping[str, float],
        clock: Clock,
        *,
        connected: Callable[[], bool],
        open_subjects: Callable[[], set[str]],
        apply_faults: Callable[[list[FaultChange], datetime], Sequence[FaultEvent]],
        in_maintenance: Callable[[], set[str]] = set,
        device_of: Callable[[str], str | None] = lambda topic: None,
        notify: Notify = lambda kind, data: None,
        registry: CollectorRegistry | None = None,
        on_exit: Callable[[], None] | None = None,
    ) -> None:
        self._counter = counter
        self._policy = policy
        self._allowed = {d: policy.allowed_per_min(hb) for d, hb in heartbeats.items()}
        self._clock = clock
        self._connected = connected
        self._open_subjects = open_subjects
        self._apply_faults = apply_faults
        self._in_maintenance = in_maintenance
        self._device_of = device_of
        self._notify = notify
        self._window = RateWindow()
        self._bucket_start = clock.monotonic()
        self._hold_until = 0.0  # buckets that began before this are the broker's backlog: not judged
        self._shown: list[DeviceRate] = []
        self._flooding = Gauge("campus_hub_flooding_devices", "Devices with an open flooding fault.", registry=registry)
        if registry is not None:
            registry.register(_Rates(lambda: self._shown))
        self.worker = Periodic("flood-watch", self.run_once, lambda: policy.bucket_s, on_exit=on_exit)

    def start(self) -> None:
        self._bucket_start = self._clock.monotonic()
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop()

    def connected(self) -> None:
        """The session is (again) up: what arrives during the next window may be the broker's backlog."""
        self._hold_until = self._clock.monotonic() + self._policy.window_s

    def run_once(self) -> list[FaultChange]:
        """Close the current bucket and judge the window (tests call this directly with a ManualClock)."""
        now = self._clock.monotonic()
        start, self._bucket_start = self._bucket_start, now
        counts = self._counter.take(self._device_of)
        if not self._connected() or start < self._hold_until:
            self._window.clear()
            self._shown = []  # no rate is judged now, so none is shown
            return []
        self._window.add(Bucket(counts, now - start))
        rates = self._window.rates()
        flooding = self._open_subjects()
        changes = judge(
            rates,
            self._allowed,
            flooding,
            full=self._window.full,
            exempt=self._in_maintenance(),
            window_s=self._policy.window_s,
        )
        if changes:
            events = self._apply_faults(changes, self._clock.now())
            announce_health(self._notify, [], events)
            for change in changes:
                verb = "floods" if change.opening else "no longer floods"
                log.warning("device %s %s: %s", change.subject, verb, change.summary)
            flooding = (flooding | {c.subject for c in changes if c.opening}) - {
                c.subject for c in changes if not c.opening
            }
        self._flooding.set(len(flooding))
        self._shown = top_rates(rates, flooding, TOP_DEVICES) if self._window.full else []
        return changes
