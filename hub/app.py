"""The one place that builds the hub: store, metrics, pipeline, forwarders, outbox workers, MQTT ingest and API."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import uvicorn

from alerts.dc09 import Dc09Forwarder, SequenceAllocator
from alerts.duties import DutyPolicy, DutyType
from alerts.failover import Failover, FailoverPolicy
from alerts.forwarders import Forwarder, HttpForwarder
from alerts.model import DeliveryState
from alerts.outbox import AttemptResult, OutboxWorker, RetryPolicy
from alerts.paths import PathMonitor
from alerts.supervision import Schedule, Supervised, Supervisor
from hub.api import ApiContext, create_api
from hub.clock import Clock, SystemClock
from hub.config import Dc09Endpoint, Endpoint, HubConfig
from hub.faults import FaultKind
from hub.feed import Feed
from hub.health import HealthTracker
from hub.health_store import HealthStore
from hub.ingest import MqttIngest
from hub.metrics import HubMetrics
from hub.pipeline import BatchOutcome, Pipeline
from hub.report_store import ReportStore
from hub.reports import UptimePublisher
from hub.store import Store
from hub.watch import HealthWatcher, announce_health, escalation_payload

log = logging.getLogger(__name__)

TransportFactory = Callable[[str], httpx.BaseTransport | None]


class _Server(uvicorn.Server):
    """uvicorn, minus re-raising SIGTERM/SIGINT after its shutdown: the hub still has to commit, acknowledge and
    say goodbye on MQTT, which a re-raised SIGTERM would cut short."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


class Hub:
    """A running campus hub. `start()` brings up everything but the HTTP server; `serve()` runs that too."""

    def __init__(
        self,
        config: HubConfig,
        *,
        clock: Clock | None = None,
        transport_for: TransportFactory | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.metrics = HubMetrics()
        self.feed = Feed(self.clock)
        self.store = Store(config.storage.path, self.clock)
        self.store.open()
        self.health_store = HealthStore(self.store, config.sla.recovery_hours, config.sla.flap_window_s)
        self.health_store.open()
        self.reports = ReportStore(self.store, config)
        self.reports.open()
        self.tracker = HealthTracker(
            {d.id: d.heartbeat_s for d in config.devices},
            self.health_store.load(),
            self.clock.now(),
            low_battery_pct=config.health.low_battery_pct,
            battery_clear_pct=config.health.battery_clear_pct,
        )
        self.pipeline = Pipeline(
            config, self.store, self.metrics, clock=self.clock, health=(self.tracker, self.health_store)
        )
        forwarding = config.forwarding
        retry = RetryPolicy(forwarding.retry_base_s, forwarding.retry_max_s)
        self.paths = PathMonitor(
            {e.name: e.kind for e in forwarding.endpoints}, self.clock, forwarding.path_down_after_failures
        )
        self.workers = [
            OutboxWorker(
                self.store,
                self._forwarder(endpoint, transport_for),
                self.clock,
                concurrency=forwarding.concurrency,
                retry=retry,
                observer=self._attempted,
                stand_down_others=forwarding.mode == "first",
            )
            for endpoint in forwarding.endpoints
        ]
        self.failover = (
            Failover(
                self.store,
                self.clock,
                FailoverPolicy(forwarding.failover_after_failures, forwarding.failover_after_s),
                self._wake_workers,
            )
            if forwarding.mode == "first" and len(forwarding.endpoints) > 1
            else None
        )
        supervised: list[tuple[Supervised, Schedule]] = [
            (worker.forwarder, Schedule(endpoint.link_test_s, endpoint.test_report_s))
            for worker, endpoint in zip(self.workers, forwarding.endpoints, strict=True)
            if isinstance(endpoint, Dc09Endpoint) and isinstance(worker.forwarder, Dc09Forwarder)
        ]
        self.supervisor = Supervisor(
            supervised,
            self.paths,
            self.clock,
            fault_after_s=forwarding.path_fault_after_s,
            open_path_faults=lambda: self.health_store.open_subjects(FaultKind.FORWARDING_PATH_DOWN),
            apply_faults=self.health_store.apply_changes,
        )
        self.metrics.watch_outbox(self.store.outbox_depth, [e.name for e in forwarding.endpoints])
        self.metrics.watch_paths(self.paths.snapshot)
        self.ingest = MqttIngest(config, self.pipeline, self.clock, self.metrics, self._committed)
        self.watcher = HealthWatcher(
            self.tracker,
            self.health_store,
            self.store,
            self.clock,
            warn_at=config.sla.warn_at,
            interval_s=config.health.check_interval_s,
            escalate=self._escalate,
            notify=self.feed.publish,
        )
        # The retained daily summary for district brokers; published only while connected (paho would queue it).
        self.uptime = UptimePublisher(
            self.reports.daily_summary,
            lambda topic, payload, retain=True: (
                self.ingest.connected and self.ingest.publish(topic, payload, qos=1, retain=retain)
            ),
            f"{config.mqtt.topic_prefix}/{config.site.id}/hub/uptime",
            self.clock,
            on_thread_exit=self.store.close_thread_connection,
        )
        duties = DutyPolicy(
            minutes={
                DutyType.PHONE: config.incidents.phone_report_minutes,
                DutyType.WRITTEN: config.incidents.written_report_minutes,
            },
            kinds=frozenset(k.value for k in config.incidents.kinds),
        )
        context = ApiContext(
            config,
            self.store,
            self.metrics,
            self,
            self.clock,
            duties,
            self.paths,
            self.tracker,
            self.health_store,
            self.feed,
            wake_outbox=self._wake_workers,
        )
        self.metrics.watch_duties(context.overdue_duties, [t.value for t in DutyType])
        self.api = create_api(context)
        self._server: uvicorn.Server | None = None
        self._server_thread: threading.Thread | None = None
        self.api_port: int | None = None

    @property
    def mqtt_connected(self) -> bool:
        return self.ingest.connected

    def _forwarder(self, endpoint: Endpoint, transport_for: TransportFactory | None) -> Forwarder:
        if endpoint.kind == "dc09":
            # The zone a receiving centre sees is the device's 1-based place in the registry.
            zones = {device.id: number for number, device in enumerate(self.config.devices, start=1)}
            # Sequence numbers survive restarts (written ahead of each frame), so one never names two events.
            key = f"dc09_seq:{endpoint.name}"
            allocator = SequenceAllocator(
                int(self.store.meta_get(key) or 0), persist=lambda seq: self.store.meta_set(key, str(seq))
            )
            return Dc09Forwarder(endpoint, zones.__getitem__, allocator=allocator)
        return HttpForwarder(endpoint, self.config.site, transport_for(endpoint.name) if transport_for else None)

    def _committed(self, outcome: BatchOutcome) -> None:
        if outcome.opened:
            self._wake_workers()
            for alarm_id, kind in zip(outcome.opened, outcome.opened_kinds, strict=True):
                self.feed.publish("alarm_opened", {"alarm_id": alarm_id, "kind": kind.value})
        announce_health(self.feed.publish, outcome.transitions, outcome.faults)

    def _escalate(self, event: dict[str, Any]) -> None:
        self.feed.publish("escalation", event)
        topic = f"{self.config.mqtt.topic_prefix}/{self.config.site.id}/hub/escalation"
        if not self.ingest.publish(topic, escalation_payload(event), qos=1):
            log.error("escalation could not be published on %s (it is recorded on the fault)", topic)

    def _wake_workers(self) -> None:
        for worker in self.workers:
            worker.wake()

    def _attempted(self, result: AttemptResult) -> None:
        if result.outcome is DeliveryState.DELIVERED:
            self.paths.success(result.endpoint, result.rtt_s)
            if result.event == "alarm":
                self.metrics.forward_latency.labels(result.endpoint).observe(max(result.since_raised_s, 0.0))
            return
        self.paths.failure(result.endpoint, result.error or "failed")
        kind = "permanent" if result.outcome is DeliveryState.FAILED else "retryable"
        self.metrics.forward_failures.labels(result.endpoint, kind).inc()
        if self.failover is not None:
            self.failover.nudge()

    def start(self) -> None:
        """Start forwarding (undelivered alarms from before a restart go first) and ingest."""
        for warning in self.config.warnings():
            log.warning("config: %s", warning)
        for worker in self.workers:
            worker.start()
        if self.failover is not None:
            self.failover.start()
        self.ingest.start()
        self.watcher.start()
        self.uptime.start()
        self.supervisor.start()

    def stop(self) -> None:
        self.stop_api()
        self.supervisor.stop()
        self.uptime.stop()
        self.watcher.stop()
        self.ingest.stop()
        if self.failover is not None:
            self.failover.stop()
        for worker in self.workers:
            worker.stop()
        self.store.close_thread_connection()

    # --- HTTP server ---------------------------------------------------------------------------------------

    def _uvicorn(self) -> uvicorn.Server:
        config = uvicorn.Config(self.api, log_level="warning", access_log=False, lifespan="off")
        return _Server(config)

    def serve(self) -> None:
        """Run the API in this thread until SIGINT/SIGTERM, then stop everything."""
        self._server = self._uvicorn()
        sock = bind_listener(self.config.api.host, self.config.api.port)
        log.info("API on http://%s:%d", *sock.getsockname()[:2])
        try:
            self._server.run(sockets=[sock])
        finally:
            self.stop()

    def start_api_thread(self) -> int:
        """Run the API in a background thread (tests, demo); returns the bound port."""
        self._server = self._uvicorn()
        sock = bind_listener(self.config.api.host, self.config.api.port)
        port: int = sock.getsockname()[1]
        self.api_port = port
        server = self._server
        self._server_thread = threading.Thread(target=lambda: server.run(sockets=[sock]), name="api", daemon=True)
        self._server_thread.start()
        return port

    def stop_api(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._server_thread is not None:
            self._server_thread.join(5.0)
            self._server_thread = None


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening socket, bound before uvicorn starts so the port is known and a clash fails loudly."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(128)
    sock.set_inheritable(False)
    return sock
