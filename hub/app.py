"""The composition root: builds the hub in named steps (store, health, forwarding, ingest, video, integrations,
watchers, supervision, API, ledger), starts them in dependency order and stops them in reverse.

A panic press crosses: hub.mqtt.session -> hub.ingest.writer -> hub.ingest.pipeline (device_adapters, alerts.rules,
hub.store in one transaction with its outbox rows) -> alerts.outbox -> alerts.forwarders -> the 110 receiver.
This module only wires them; `_committed` is the hand-off from a commit to the outbox workers. It is longer than
the project's other modules because it is one subject, the order in which the hub is built, started and stopped,
and that order reads best in one place (each `init_*` step is a screen; the callbacks below only route events).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from typing import Any, Protocol

import httpx

from alerts.dc09 import Dc09Forwarder, SequenceAllocator
from alerts.duties import DutyPolicy, DutyType
from alerts.failover import Failover, FailoverPolicy
from alerts.forwarders import Forwarder, HttpForwarder
from alerts.model import DeliveryState
from alerts.outbox import AttemptResult, OutboxWorker, RetryPolicy
from alerts.paths import PathMonitor
from alerts.reminders import DutyReminder
from alerts.supervision import Schedule, Supervised, Supervisor, path_subject
from alerts.testmode import TestMode
from alerts.troubles import TroubleOutbox
from alerts.zones import ZoneBoard
from device_adapters.base import DeviceKind
from hub.config import Dc09Endpoint, Endpoint, HttpEndpoint, HubConfig
from hub.core import collector
from hub.core.clock import Clock, SystemClock
from hub.core.feed import Feed
from hub.core.priority import AlarmPriority
from hub.core.redact import install_log_redaction
from hub.core.supervisor import Policy, WorkerSupervisor, exit_process
from hub.core.worker import Workers
from hub.health.faults import FaultKind
from hub.health.liveness import Liveness
from hub.health.maintenance import MaintenanceScheduler
from hub.health.model import HealthTracker
from hub.health.recordings import RecordingsWatcher
from hub.health.store_guard import StoreGuard
from hub.health.updater import HealthUpdater
from hub.health.watch import HealthWatcher, announce_health, escalation_payload
from hub.ingest.flood import FloodPolicy, MessageCounter, topic_owner
from hub.ingest.flood_watch import FloodWatch
from hub.ingest.pipeline import BatchOutcome, Pipeline, device_snapshot
from hub.ingest.writer import MqttIngest
from hub.integrations.ha_discovery import HomeAssistant, alarm_device, alarmed_devices
from hub.integrations.influx import InfluxCollector, InfluxSink
from hub.integrations.influx_points import HubTelemetry
from hub.integrations.webhook import EscalationWebhook
from hub.ledger.monthly import site_monthly_report
from hub.ledger.monthly_outbox import DeliveryState as MonthlyState
from hub.ledger.monthly_outbox import MonthlyOutbox
from hub.ledger.monthly_post import MonthlySchedule, MonthlySender
from hub.ledger.watch import LedgerWatcher
from hub.metrics import HubMetrics
from hub.mqtt.broker_stats import BrokerStats
from hub.mqtt.topics import Lane, Topics, vendor_routes
from hub.reports import UptimePublisher
from hub.store import Store
from hub.store.guard_room import GuardRoomStore
from hub.store.health import HealthStore
from hub.store.reports import ReportStore
from hub.store.retention import Purger, snapshot_dir
from hub.store.rollups import UptimeRollups
from hub.store.space import StoreSpace
from hub.web.app import create_api
from hub.web.console import Console
from hub.web.context import ApiContext
from hub.web.links import LinkSigner, link_key
from hub.web.routes.cameras import camera_router
from hub.web.server import ApiServer
from video.evidence import EvidenceWorker
from video.scheduler import CameraChecker
from video.store import SnapshotFiles, VideoStore

log = logging.getLogger(__name__)

TransportFactory = Callable[[str], httpx.BaseTransport | None]


class Service(Protocol):
    """What the hub starts and stops: every worker-owning part has these two."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class Hub:
    """A running campus hub. `start()` brings up everything but the HTTP server; `serve()` runs that too."""

    def __init__(
        self,
        config: HubConfig,
        *,
        clock: Clock | None = None,
        transport_for: TransportFactory | None = None,
        exit_action: Callable[[int], None] = exit_process,
    ) -> None:
        install_log_redaction()  # no credentials in any log line, whoever writes it
        self.config = config
        self.clock = clock or SystemClock()
        self._exit_action = exit_action  # how the worker supervisor ends the process (tests record it instead)
        self.metrics = HubMetrics()
        self.feed = Feed(self.clock)
        # Telemetry steps aside while an alarm is between its lane and its first delivery attempt.
        self.priority = AlarmPriority()
        self.init_store()
        self.init_health()
        self.init_forwarding(transport_for)
        self.init_ingest()
        self.init_video()
        self.init_integrations()
        self.init_watchers()
        self.init_supervision()
        self.init_api()
        self.init_ledger()

    # --- building, in dependency order ---------------------------------------------------------------------------

    def init_store(self) -> None:
        """The SQLite file and the tables of every subject (created or migrated on open)."""
        config = self.config
        self.store = Store(config.storage.path, self.clock)
        self.store.open()
        # The reserve beside the database, given up for alarms when the disk fills (see hub.store.space).
        self.store_space = StoreSpace(self.store, config.storage.reserve_mb)
        self.health_store = HealthStore(
            self.store,
            config.sla.recovery_hours,
            config.sla.flap_window_s,
            on_fault_events=self._trouble_outbox(config),
        )
        self.health_store.open()
        self.reports = ReportStore(self.store, config)
        self.reports.open()
        # Per-day uptime rollups, so a 90-day report does not walk every transition (rolled and kept in the background).
        self.rollups = UptimeRollups(self.store, config, self.clock)
        self.rollups.open()
        # The guard room's daily record of the four items the hub cannot measure (reports read it).
        GuardRoomStore(self.store).open()
        # The hub's proof of life; on start, the gap since the last one is recorded (reports: not monitored).
        self.liveness = Liveness(self.store, self.clock)
        self.liveness.open()
        # Camera pictures: evidence rows and snapshot files.
        self.video_store = VideoStore(self.store)
        self.video_store.open()
        self.snapshots = SnapshotFiles(snapshot_dir(config))
        # Evidence links the receiving centre can open without a token: only with a public address to point to.
        public = config.api.public_base()
        self.link_signer = (
            LinkSigner(
                link_key(self.store, config.api.link_key.get_secret_value().encode() if config.api.link_key else None),
                public,
                config.api.link_ttl_s,
            )
            if public is not None
            else None
        )
        # Arming zones: manual arm / disarm and each door's and detector's last state, shared by ingest and the API.
        self.zones = ZoneBoard(config, self.store, self.clock)
        self.zones.open()
        # Devices on test (test mode, drills): kept in the store, asked in memory by ingest on every alarm.
        self.test_mode = TestMode(
            self.store, self.clock, config.devices, max_hours=config.test_mode.max_hours, notify=self.feed.publish
        )
        self.test_mode.open()

    def init_health(self) -> None:
        """Every device's state, loaded from the store; the health updater the pipeline and watchers share."""
        config = self.config
        # A camera's failing-check streak is not a column of its health record; it is counted again from the
        # stored health results, so a restart does not reset it.
        fail_after = config.video.fail_after_checks
        self.camera_ids = [d.id for d in config.devices if d.kind is DeviceKind.CAMERA]
        streaks = {c: self.video_store.failing_streak(c, max(fail_after, 100)) for c in self.camera_ids}
        self.tracker = HealthTracker(
            {d.id: d.heartbeat_s for d in config.devices},
            [replace(h, camera_failures=streaks.get(h.device_id, 0)) for h in self.health_store.load()],
            self.clock.now(),
            low_battery_pct=config.health.low_battery_pct,
            battery_clear_pct=config.health.battery_clear_pct,
            camera_fail_after=fail_after,
        )
        self.health_updater = HealthUpdater(self.tracker, self.health_store, self.store)

    def init_forwarding(self, transport_for: TransportFactory | None) -> None:
        """One outbox worker and forwarder per receiving endpoint, path health, failover and path supervision."""
        forwarding = self.config.forwarding
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
                troubles=forwarding.send_troubles and endpoint.troubles,
                trouble_slots=max(1, forwarding.concurrency // 2),
                on_store_error=self.metrics.outbox_store_errors.labels(endpoint.name).inc,
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
        supervised: list[tuple[Supervised, Schedule]] = []
        for worker, endpoint in zip(self.workers, forwarding.endpoints, strict=True):
            if isinstance(endpoint, Dc09Endpoint) and isinstance(worker.forwarder, Dc09Forwarder):
                supervised.append((worker.forwarder, Schedule(endpoint.link_test_s, endpoint.test_report_s)))
            elif isinstance(endpoint, HttpEndpoint) and isinstance(worker.forwarder, HttpForwarder):
                # HTTP paths are proven between alarms only when the endpoint asks for link tests (联得通).
                if endpoint.link_test_s > 0:
                    supervised.append((worker.forwarder, Schedule(endpoint.link_test_s)))
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

    def init_ingest(self) -> None:
        """The pipeline (parse, store, raise alarms, health), the MQTT session that feeds it, the flood watch and the
        broker's own dropped-message counter."""
        rates = MessageCounter()  # committed messages per device; the flood watch judges them
        self.pipeline = Pipeline(
            self.config,
            self.store,
            self.metrics,
            clock=self.clock,
            health=self.health_updater,
            rates=rates,
            space=self.store_space,
            zones=self.zones,
            on_test=self.test_mode.on_test,
        )
        self.ingest = MqttIngest(
            self.config, self.pipeline, self.clock, self.metrics, self._committed, priority=self.priority
        )
        self.flood = self._flood_watch(self.config, rates)
        self.broker_stats = BrokerStats(self.feed.publish, registry=self.metrics.registry)
        self.ingest.sessions[Lane.TELEMETRY].subscribe_extra(self.broker_stats.filters, self.broker_stats.on_message)

    def init_video(self) -> None:
        """Scheduled camera checks, and evidence snapshots grabbed when an alarm opens."""
        config = self.config
        sources = {d.id: d.source for d in config.devices if d.source is not None}
        self.cameras = CameraChecker(
            list(sources.items()),
            self.snapshots,
            self._publish_camera_health,
            self.clock,
            interval_s=config.video.check_interval_s,
            concurrency=config.video.concurrency,
            ready=lambda: self.ingest.connected,
        )
        self.evidence = EvidenceWorker(
            sources,
            self.snapshots,
            self.video_store,
            self.clock,
            self.feed.publish,
            budget_s=config.video.evidence_budget_s,
            on_thread_exit=self.store.close_thread_connection,
        )

    def init_integrations(self) -> None:
        """Views for other systems, off by default; alarms never depend on them."""
        config = self.config
        self.influx: InfluxSink | None = None
        self.telemetry: HubTelemetry | None = None
        if config.influx.enabled:
            self.influx = InfluxSink(config.influx, self.store, config.retention.days)
            self.telemetry = HubTelemetry(self.influx.offer, config.device_index(), config.site.id, self.store)
            self.feed.listen(self.telemetry.notice)
            self.metrics.registry.register(InfluxCollector(self.influx))
        self.homeassistant: HomeAssistant | None = None
        if config.homeassistant.enabled:
            self.homeassistant = HomeAssistant(
                config,
                lambda topic, payload: self._publish_connected(topic, payload, retain=True),
                states=self.tracker.all,
                alarmed=lambda: alarmed_devices(self.store),
                alarm_device=lambda alarm_id: alarm_device(self.store, alarm_id),
                on_thread_exit=self.store.close_thread_connection,
            )
            self.feed.listen(self.homeassistant.notice)
            self.ingest.add_connect_listener(self.homeassistant.connected)
        webhook = config.sla.escalation_webhook
        self.escalation_webhook = (
            EscalationWebhook(
                str(webhook.url), webhook.secret.get_secret_value() if webhook.secret else None, webhook.timeout_s
            )
            if webhook is not None
            else None
        )

    def _recordings_still_short(self, subject: str, kind: FaultKind) -> str | None:
        if kind is not FaultKind.RETENTION_SHORTFALL:
            return None
        verdict = self.recordings.status(subject) or {}
        return "the camera's recordings are still short" if verdict.get("compliant") is False else None

    def init_watchers(self) -> None:
        """The timers: silent devices and SLA clocks, maintenance windows, recordings, retention, the daily
        summary, overdue incident reports."""
        config = self.config
        self.watcher = HealthWatcher(
            self.tracker,
            self.health_store,
            self.store,
            self.clock,
            warn_at=config.sla.warn_at,
            interval_s=config.health.check_interval_s,
            escalate=self._escalate,
            notify=self.feed.publish,
            updater=self.health_updater,  # it repairs the health bookkeeping the pipeline could not save
            # A recovery marked over the recordings' word is re-checked against their latest verdict.
            still_failing_other=self._recordings_still_short,
        )
        # A full or failing disk: room for alarms, the store_degraded fault (a trouble to the centres), recovery.
        self.store_guard = StoreGuard(
            self.store,
            self.store_space,
            self.clock,
            interval_s=config.storage.space_check_s,
            open_subjects=lambda: self.health_store.open_subjects(FaultKind.STORE_DEGRADED),
            apply_faults=self.health_store.apply_changes,
            notify=self.feed.publish,
            absent=self.tracker.hub_absent,
        )
        # Planned windows put devices into the maintenance state while they run (and out when they end).
        self.maintenance = MaintenanceScheduler(
            self.tracker,
            self.health_store,
            self.store,
            self.clock,
            interval_s=config.health.check_interval_s,
            announce=lambda transitions, faults: announce_health(self.feed.publish, transitions, faults),
        )
        self.recordings = RecordingsWatcher(
            self.store,
            self.clock,
            self.camera_ids,
            policy_days=config.retention.days,
            horizon_days=config.recordings.forecast_horizon_days,
            root=config.recordings.root,
            interval_s=config.recordings.check_interval_s,
            zone=config.site.tz(),
            open_subjects=lambda: self.health_store.open_subjects(FaultKind.RETENTION_SHORTFALL),
            apply_faults=self.health_store.apply_changes,
            notify=self.feed.publish,
            registry=self.metrics.registry,
        )
        self.recordings.open()
        self.purger = Purger.from_config(self.store, self.clock, config)
        # The retained daily summary for district brokers; published only while connected.
        self.uptime = UptimePublisher(
            self.reports.daily_summary,
            lambda topic, payload, retain=True: self._publish_connected(topic, payload, retain=retain),
            f"{config.mqtt.topic_prefix}/{config.site.id}/hub/uptime",
            self.clock,
            config.site.tz(),
            on_thread_exit=self.store.close_thread_connection,
        )
        self.duties = DutyPolicy(
            minutes={
                DutyType.PHONE: config.incidents.phone_report_minutes,
                DutyType.WRITTEN: config.incidents.written_report_minutes,
            },
            kinds=frozenset(k.value for k in config.incidents.kinds),
        )
        # Overdue follow-up reports are announced on the console feed (and counted in /metrics).
        self.duty_reminder = DutyReminder(self.store, self.duties, self.clock, self.feed)

    def init_supervision(self) -> None:
        """Every background worker in one registry (/healthz): the alarm path's workers are critical, and the
        worker supervisor restarts them when they die (or ends the process, for systemd to restart it)."""
        self.worker_registry = Workers()
        limits = self.config.supervision
        self.worker_supervisor = WorkerSupervisor(
            self.worker_registry,
            Policy(limits.max_restarts, limits.window_s, limits.restart_backoff_s, limits.stuck_exit_s),
            on_restart=lambda name: self.metrics.worker_restarts.labels(name).inc(),
            exit_action=self._exit_action,
        )
        failover = [self.failover.worker] if self.failover is not None else []
        for alarm_path in [self.ingest.worker, *(w.worker for w in self.workers), *failover]:
            self.worker_registry.add(alarm_path, critical=True)
        self.worker_registry.add(self.worker_supervisor.worker, critical=True)
        timers = (
            self.watcher,
            self.maintenance,
            self.recordings,
            self.purger,
            self.uptime,
            self.rollups,
            self.duty_reminder,
        )
        for timer in (self.supervisor, self.liveness, self.store_guard, *timers):
            self.worker_registry.add(timer.worker)
        for optional in (self.influx, self.homeassistant, self.escalation_webhook):
            if optional is not None:
                self.worker_registry.add(optional.worker)
        self.worker_registry.add(self.flood.worker)
        if self.cameras.camera_ids:  # without camera sources neither thread runs
            self.worker_registry.add(self.cameras.worker)
            self.worker_registry.add(self.evidence.worker)
        # Start order: the views for others (so they see everything), forwarding (undelivered alarms from before a
        # restart go first), then ingest, then the timers, then the worker supervisor. Stop order is the reverse:
        # the supervisor first (it must not restart what is being stopped), timers, ingest (its last commit and
        # acks), forwarding, views; the liveness mark last (see `stop`).
        views: list[Service | None] = [self.influx, self.homeassistant]
        self._services: list[Service] = [
            self.store_guard,  # first: the reserve is in place before anything else writes
            *(s for s in views if s is not None),
            *self.workers,
            *([self.failover] if self.failover is not None else []),
            self.evidence,
            self.ingest,
            self.flood,
            self.watcher,
            self.duty_reminder,
            self.cameras,
            self.uptime,
            self.rollups,
            self.supervisor,
            *([self.escalation_webhook] if self.escalation_webhook is not None else []),
            self.maintenance,
            self.recordings,
            self.purger,
            self.worker_supervisor,
        ]

    def init_api(self) -> None:
        """The HTTP API and console, with the hub's parts the routes read."""
        context = ApiContext(
            self.config,
            self.store,
            self.metrics,
            self,
            self.clock,
            self.duties,
            self.paths,
            self.tracker,
            self.health_store,
            self.feed,
            wake_outbox=self._wake_workers,
            camera_retention=self.recordings.status,
            evidence_of=self.video_store.evidence_of,
            workers=self.worker_registry,
            link_signer=self.link_signer,
            zones=self.zones,
            test_mode=self.test_mode,
            yield_to_alarms=self.priority.yield_to_alarms,
        )
        self.api = create_api(context)
        self.console: Console = self.api.state.console
        self.api.include_router(camera_router(self.cameras, self.snapshots, self.video_store))
        self.api_context = context
        self._server = ApiServer(
            self.api,
            self.config.api.host,
            self.config.api.port,
            on_exit=self.console.close_streams,
            on_start=self.console.reopen,
        )
        self.api_port: int | None = None

    def init_ledger(self) -> None:
        """The safety ledger's timers, on the ledger the API built: overdue hazards escalate like faults, incident
        duties are announced like alarms', and the monthly report goes to the bureau."""
        # Timers go before the worker supervisor, which starts last and stops first.
        self.ledger_watch = LedgerWatcher(
            self.api.state.ledger,
            self.config.site,
            self.duties,
            self.clock,
            self.feed,
            self._escalate,
            on_exit=self.store.close_thread_connection,
        )
        self.worker_registry.add(self.ledger_watch.worker)
        self._services.insert(self._services.index(self.worker_supervisor), self.ledger_watch)
        self.init_monthly_post()
        # Overdue reports of alarms and of incidents, counted together.
        self.metrics.watch_duties(self._overdue_duties, [t.value for t in DutyType])

    def init_monthly_post(self) -> None:
        """The monthly safety report to the bureau's endpoint, when configured: the schedule that queues each month
        once and the sender that POSTs it until a 2xx; their state is in /metrics either way."""
        posts: MonthlyOutbox = self.api.state.monthly_posts
        self.metrics.watch_monthly_reports(posts.counts, [s.value for s in MonthlyState])
        self.monthly_sender: MonthlySender | None = None
        self.monthly_schedule: MonthlySchedule | None = None
        settings = self.config.reports.monthly_delivery
        if settings is None:
            return
        site, inspections = self.config.site, self.api.state.inspections

        def build(month: date, now: datetime) -> dict[str, Any]:
            return site_monthly_report(
                self.store.connection(), site, self.duties, month, now, self.reports, inspections
            )

        sender = self.monthly_sender = MonthlySender(
            posts, settings, site, self.clock, on_exit=self.store.close_thread_connection
        )
        self.monthly_schedule = MonthlySchedule(
            posts,
            build,
            settings,
            site,
            self.clock,
            on_queued=lambda month: sender.wake(),
            on_exit=self.store.close_thread_connection,
        )
        # Timers, like the ledger's: before the worker supervisor, which starts last and stops first; the sender
        # before the schedule, so a month queued at start is sent at once.
        for service in (sender, self.monthly_schedule):
            self.worker_registry.add(service.worker)
            self._services.insert(self._services.index(self.worker_supervisor), service)

    def _overdue_duties(self) -> dict[str, int]:
        counts = self.api_context.overdue_duties()
        for duty, overdue in self.ledger_watch.overdue_duties().items():
            counts[duty] = counts.get(duty, 0) + overdue
        return counts

    @property
    def mqtt_connected(self) -> bool:
        return self.ingest.connected

    def _flood_watch(self, config: HubConfig, rates: MessageCounter) -> FloodWatch:
        flooding = config.flooding
        watch = FloodWatch(
            rates,
            FloodPolicy(flooding.multiple, flooding.floor_per_min, flooding.window_s),
            {d.id: d.heartbeat_s for d in config.devices},
            self.clock,
            connected=lambda: self.ingest.connected,
            open_subjects=lambda: self.health_store.open_subjects(FaultKind.FLOODING),
            apply_faults=self.health_store.apply_changes,
            in_maintenance=lambda: {h.device_id for h in self.tracker.all() if h.maintenance},
            device_of=topic_owner(Topics(config.mqtt.topic_prefix, config.site.id), vendor_routes(config.devices)),
            notify=self.feed.publish,
            registry=self.metrics.registry,
            on_exit=self.store.close_thread_connection,
        )
        self.ingest.add_connect_listener(watch.connected)
        return watch

    @staticmethod
    def _trouble_outbox(config: HubConfig) -> TroubleOutbox | None:
        """The hook that puts device troubles into the outbox with their faults; None when none are sent."""
        endpoints = [e.name for e in config.forwarding.endpoints if e.troubles]
        if not config.forwarding.send_troubles or not endpoints:
            return None
        return TroubleOutbox(
            endpoints,
            {d.id: device_snapshot(d) for d in config.devices},
            {path_subject(e.name): e.name for e in config.forwarding.endpoints},
        )

    def _forwarder(self, endpoint: Endpoint, transport_for: TransportFactory | None) -> Forwarder:
        if endpoint.kind == "dc09":
            # The zone a receiving centre sees: the device's `zone`, else its 1-based place in the registry.
            zones = self.config.zones()
            # Sequence numbers survive restarts (written ahead of each frame), so one never names two events.
            key = f"dc09_seq:{endpoint.name}"
            allocator = SequenceAllocator(
                int(self.store.meta_get(key) or 0), persist=lambda seq: self.store.meta_set(key, str(seq))
            )
            return Dc09Forwarder(endpoint, zones.__getitem__, allocator=allocator)
        return HttpForwarder(
            endpoint,
            self.config.site,
            transport_for(endpoint.name) if transport_for else None,
            evidence_of=self._evidence_for_forwarding,
        )

    def _committed(self, outcome: BatchOutcome) -> None:
        if outcome.opened or outcome.made_real:
            self._wake_workers()
            for alarm_id in outcome.opened:
                self.evidence.submit(alarm_id)  # never blocks: snapshots are grabbed on the evidence thread
            for alarm_id, kind in zip(outcome.opened, outcome.opened_kinds, strict=True):
                test = alarm_id in outcome.tested
                self.feed.publish("alarm_opened", {"alarm_id": alarm_id, "kind": kind.value, "test": test})
            for alarm_id in outcome.made_real:
                self.feed.publish("alarm_real", {"alarm_id": alarm_id, "by": None})
        for notice in outcome.unreadable:
            # A button or detector sent something unreadable: maybe a press. The guard must look, now.
            self.feed.publish("alarm_device_unreadable", notice)
        announce_health(self.feed.publish, outcome.transitions, outcome.faults)
        if self.telemetry is not None:
            self.telemetry.committed(outcome.committed)
        if self.homeassistant is not None:
            self.homeassistant.committed(outcome.committed)

    def _escalate(self, event: dict[str, Any]) -> None:
        self.feed.publish("escalation", event)
        topic = f"{self.config.mqtt.topic_prefix}/{self.config.site.id}/hub/escalation"
        if not self.ingest.publish(topic, escalation_payload(event), qos=1):
            log.error("escalation could not be published on %s (it is recorded on the fault)", topic)
        if self.escalation_webhook is not None:
            self.escalation_webhook.send(event)  # queued: the watcher never waits on the network

    def _publish_camera_health(self, camera_id: str, payload: dict[str, Any]) -> bool:
        """A hub camera check goes out like a recorder's, and comes back in through ingest like one."""
        topic = f"{self.config.mqtt.topic_prefix}/{self.config.site.id}/camera/{camera_id}/health"
        return self._publish_connected(topic, json.dumps(payload))

    def _publish_connected(self, topic: str, payload: str, *, retain: bool = False) -> bool:
        """Publish only while connected (QoS 1): paho would queue it otherwise, and send it stale on reconnect."""
        return self.ingest.connected and self.ingest.publish(topic, payload, qos=1, retain=retain)

    def _evidence_for_forwarding(self, alarm_id: str) -> list[dict[str, Any]]:
        """The alarm's evidence as the receiving centre gets it: signed absolute links, or no link at all (a
        relative path needing a hub token opens nothing there)."""
        try:
            evidence = self.video_store.evidence_of(alarm_id)
        except sqlite3.Error:
            log.exception("alarm %s: evidence could not be read; it goes out without", alarm_id)
            return []
        signer, now = self.link_signer, self.clock.now()
        return [
            {**item, "url": signer.sign(item["url"], now)}
            if signer is not None
            else {k: v for k, v in item.items() if k != "url"}
            for item in evidence
        ]

    def _wake_workers(self) -> None:
        for worker in self.workers:
            worker.wake()

    def _attempted(self, result: AttemptResult) -> None:
        self.priority.release(result.alarm_id)  # its first attempt is over: telemetry may go on
        if self.telemetry is not None:
            self.telemetry.attempted(result, self.clock.now())
        if result.event == "alarm":
            # The guard's page shows each path's sent/receipt/failed state; tell it when that changes.
            self.feed.publish(
                "alarm_delivery",
                {"alarm_id": result.alarm_id, "endpoint": result.endpoint, "outcome": result.outcome.value},
            )
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
        """Start forwarding (undelivered alarms from before a restart go first), ingest, then the rest."""
        for warning in self.config.warnings():
            log.warning("config: %s", warning)
        # Before the health watcher runs: silence while the hub itself was away is not the devices' silence.
        gap = self.liveness.start()
        if gap is not None:
            self.tracker.hub_absent(*gap)
        for service in self._services:
            service.start()
        collector.settle()  # what was built so far lives as long as the hub: keep it out of full collections

    def stop(self) -> None:
        self.stop_api()
        for service in reversed(self._services):
            service.stop()
        self.liveness.stop()  # last: the proof of life says when the hub stopped watching
        self.store.close_thread_connection()
        collector.release()

    # --- HTTP server ---------------------------------------------------------------------------------------

    def serve(self) -> None:
        """Run the API in this thread until SIGINT/SIGTERM, then stop everything."""
        try:
            self._server.run()
        finally:
            self.stop()

    def start_api_thread(self) -> int:
        """Run the API in a background thread (tests, demo); returns the bound port."""
        self.api_port = self._server.start_thread()
        return self.api_port

    def stop_api(self) -> None:
        self._server.stop()
