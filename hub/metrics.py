"""Prometheus metrics of one hub instance, in its own registry (no process-wide singletons)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from alerts.paths import PathHealth, PathStatus


class _CallbackGauge(Collector):
    """A labelled gauge whose values are read at scrape time (from the store), so it can never go stale."""

    def __init__(self, name: str, documentation: str, label: str, read: Callable[[], dict[str, int]], keys: list[str]):
        self._name = name
        self._documentation = documentation
        self._label = label
        self._read = read
        self._keys = keys

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self._name, self._documentation, labels=[self._label])
        values = self._read()
        for key in sorted(set(self._keys) | set(values)):
            family.add_metric([key], values.get(key, 0))
        yield family


class _PathStates(Collector):
    def __init__(self, snapshot: Callable[[], Sequence[PathHealth]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "campus_hub_forward_path_state",
            "1 for the current state of each forwarding path.",
            labels=["endpoint", "state"],
        )
        for path in self._snapshot():
            for state in PathStatus:
                family.add_metric([path.endpoint, state.value], 1.0 if path.status is state else 0.0)
        yield family


class HubMetrics:
    """Every metric the hub exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.messages = Counter(
            "campus_hub_messages_ingested",
            "MQTT messages stored as device events.",
            ["kind", "channel"],
            registry=r,
        )
        self.dead_letters = Counter(
            "campus_hub_dead_letters",
            "MQTT messages refused and kept as dead letters.",
            ["reason"],
            registry=r,
        )
        self.alarms_raised = Counter("campus_hub_alarms_raised", "Alarms opened.", ["kind"], registry=r)
        self.alarm_retriggers = Counter(
            "campus_hub_alarm_retriggers",
            "Triggers counted on an alarm that was already active.",
            ["kind"],
            registry=r,
        )
        self.press_replays = Counter(
            "campus_hub_press_replays",
            "Handled presses the broker sent again (retained, DUP, old persistence) that raised nothing.",
            ["kind", "mark"],
            registry=r,
        )
        self.forward_latency = Histogram(
            "campus_hub_forward_latency_seconds",
            "From an alarm being raised to its endpoint's ACK.",
            ["endpoint"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
            registry=r,
        )
        self.forward_failures = Counter(
            "campus_hub_forward_failures", "Failed delivery attempts.", ["endpoint", "kind"], registry=r
        )
        self.outbox_store_errors = Counter(
            "campus_hub_outbox_store_errors",
            "Outbox reads of the store that failed (the worker reads again; after a few in a row it is failing).",
            ["endpoint"],
            registry=r,
        )
        self.messages_shed = Counter(
            "campus_hub_messages_shed",
            "MQTT messages acknowledged without being stored, to keep the store's room for alarms.",
            ["reason"],
            registry=r,
        )
        self.health_bookkeeping_failures = Counter(
            "campus_hub_health_bookkeeping_failures",
            "Ingest batches committed without their health bookkeeping, which was repaired later.",
            registry=r,
        )
        self.ingest_queue = Gauge("campus_hub_ingest_queue_depth", "Messages received, not yet committed.", registry=r)
        self.mqtt_connected = Gauge(
            "campus_hub_mqtt_connected", "1 while both MQTT sessions (alarm and telemetry lanes) are up.", registry=r
        )
        self.worker_restarts = Counter(
            "campus_hub_worker_restarts",
            "Critical workers restarted by the supervisor after they died.",
            ["worker"],
            registry=r,
        )
        self.commit_seconds = Histogram(
            "campus_hub_ingest_commit_seconds",
            "Time to commit one ingest batch.",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1),
            registry=r,
        )
        self.ingest_lag = Histogram(
            "campus_hub_ingest_lag_seconds",
            "From the oldest message of an ingest batch being received to the batch being committed, per lane.",
            ["lane"],
            buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
            registry=r,
        )

    def watch_outbox(self, depth: Callable[[], dict[str, int]], endpoints: list[str]) -> None:
        self.registry.register(
            _CallbackGauge(
                "campus_hub_outbox_depth",
                "Alarm deliveries waiting for their endpoint's ACK.",
                "endpoint",
                depth,
                endpoints,
            )
        )

    def watch_lanes(self, depths: Callable[[], dict[str, int]]) -> None:
        self.registry.register(
            _CallbackGauge(
                "campus_hub_ingest_lane_depth",
                "Messages received on each MQTT lane (alarm, telemetry), not yet committed.",
                "lane",
                depths,
                ["alarm", "telemetry"],
            )
        )

    def watch_paths(self, snapshot: Callable[[], Sequence[PathHealth]]) -> None:
        self.registry.register(_PathStates(snapshot))

    def watch_duties(self, overdue: Callable[[], dict[str, int]], types: list[str]) -> None:
        self.registry.register(
            _CallbackGauge(
                "campus_hub_incident_duties_overdue",
                "Incident reports (phone, written) past their deadline and not yet recorded.",
                "type",
                overdue,
                types,
            )
        )

    def watch_monthly_reports(self, counts: Callable[[], dict[str, int]], states: list[str]) -> None:
        self.registry.register(
            _CallbackGauge(
                "campus_hub_monthly_report_deliveries",
                "Monthly safety reports for the bureau by delivery state (pending: not yet acknowledged with 2xx).",
                "state",
                counts,
                states,
            )
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
