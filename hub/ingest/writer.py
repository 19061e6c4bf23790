"""MQTT ingest: two lanes of device messages, each acknowledged to the broker only after it is committed.

Life-safety kinds (panic buttons, smoke detectors: events, status and last wills, vendor formats included) arrive on
the alarm lane, a persistent session of their own (`{client_id}-alarms`); everything else on the telemetry lane,
which keeps the hub's historical client id. The sessions' network threads only enqueue, each into its own bounded
queue (hub.ingest.lanes); one writer worker (the pipeline keeps its state on one thread) commits batches through
the pipeline and sends each batch's PUBACKs on the session it came from. Whenever alarm messages wait they are
committed next, alone; telemetry batches are sized to commit within `telemetry_commit_target_s`, so a press waits
for at most one short telemetry commit. A full queue holds its own session's network thread, so the broker holds
that lane back (and, at its limits, drops that lane's messages: telemetry, never a press). Unacknowledged messages
stay in the broker's session and come back after a crash or reconnect.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from hub.config import HubConfig
from hub.core.clock import Clock
from hub.core.priority import AlarmPriority
from hub.core.worker import OnError, Worker
from hub.ingest.lanes import LaneQueues
from hub.ingest.pipeline import BatchOutcome, Inbound, Pipeline
from hub.metrics import HubMetrics
from hub.mqtt.session import MqttSession
from hub.mqtt.session import tls_context as tls_context
from hub.mqtt.topics import Lane, Topics, lane_filters, vendor_routes

log = logging.getLogger(__name__)

CommittedCallback = Callable[[BatchOutcome], None]

# Telemetry batches grow (doubling while full) and shrink to commit within the target; never below the floor,
# where the fixed cost of a commit (its fsync) would dominate.
TELEMETRY_BATCH_FLOOR = 16
TELEMETRY_BATCH_START = 64
# A press crosses four threads (its session's network thread, the writer, an outbox worker, its HTTP client), and
# each of them, and each SQLite call, must take the GIL back from busy telemetry threads, which by default hand it
# over only every 5 ms. Measured under a telemetry flood (bench/alarm_flood.py's setting, A/B alternated, loaded
# 2-core machine): press -> 110 p50 240 ms -> 68 ms, p90 610-770 ms -> 140-160 ms with 1 ms.
GIL_SWITCH_INTERVAL_S = 0.001


class MqttIngest:
    """Subscribes to the site's device topics on two lanes and feeds the pipeline: two sessions, one writer.

    `connected` (and `wait_connected`) means both sessions are up and subscribed: the hub hears everything.
    `publish` uses the telemetry session (the hub's own status and summaries).
    """

    def __init__(
        self,
        config: HubConfig,
        pipeline: Pipeline,
        clock: Clock,
        metrics: HubMetrics,
        on_committed: CommittedCallback,
        *,
        queue_size: int = 20_000,
        alarm_queue_size: int = 5_000,
        batch_max: int = 1_000,
        alarm_batch_max: int = 200,
        telemetry_commit_target_s: float = 0.01,
        priority: AlarmPriority | None = None,
    ) -> None:
        self._priority = priority or AlarmPriority()
        self._pipeline = pipeline
        self._clock = clock
        self._metrics = metrics
        self._on_committed = on_committed
        self._batch_max = batch_max
        self._alarm_batch_max = alarm_batch_max
        self._target_s = telemetry_commit_target_s
        self._telemetry_limit = min(TELEMETRY_BATCH_START, batch_max)
        topics = Topics(config.mqtt.topic_prefix, config.site.id)
        vendor_device = {topic: route.device_id for topic, route in vendor_routes(config.devices).items()}

        def device_key(topic: str) -> str:
            # A canonical topic without its channel names the device; vendor topics are looked up.
            return vendor_device.get(topic) or topic.rpartition("/")[0]

        self._lanes = LaneQueues(alarm_queue_size, queue_size, device_key, self._priority.remaining_s)
        self._priority.add_listener(self._lanes.poke)
        metrics.watch_lanes(self._lanes.depths)
        filters = lane_filters(topics, config.devices)
        client_id = config.mqtt.client_id or f"campus-hub-{config.site.id}"
        self.sessions: dict[Lane, MqttSession] = {
            Lane.ALARM: MqttSession(
                config.mqtt,
                f"{client_id}-alarms",
                topics.hub_status,
                [(f, 1) for f in filters[Lane.ALARM]],
                lambda msg, generation: self._on_message(Lane.ALARM, msg, generation),
                on_connection=self._on_connection,
            ),
            # The historical client id: a session from before the lanes still holds the single wildcard, which
            # would deliver presses here too, so it is dropped on every connect.
            Lane.TELEMETRY: MqttSession(
                config.mqtt,
                client_id,
                topics.hub_status,
                [(f, 1) for f in filters[Lane.TELEMETRY]],
                lambda msg, generation: self._on_message(Lane.TELEMETRY, msg, generation),
                on_connection=self._on_connection,
                stale_filters=[topics.device_filter],
            ),
        }
        # A writer that died holds every later message unacknowledged: it stays dead (and /healthz says so)
        # rather than acknowledging past a batch it could not finish.
        self.worker = Worker(
            "ingest-writer",
            self._write_once,
            on_error=OnError.DIE,
            on_thread_exit=pipeline.close_thread_store,
            on_restart=self._reconnect,
        )

    @property
    def connected(self) -> bool:
        return all(session.connected for session in self.sessions.values())

    def wait_connected(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(s.wait_connected(max(0.0, deadline - time.monotonic())) for s in self.sessions.values())

    def add_connect_listener(self, callback: Callable[[], None]) -> None:
        """Call `callback` (on paho's thread; it must not block) each time the hub is connected again: when a
        session comes up and subscribed while the other one is up too (so `connected` holds and publishing works)."""

        def both_up() -> None:
            # Each session sets its flag before its listeners run, so the later of two connects sees both.
            if self.connected:
                callback()

        for session in self.sessions.values():
            session.add_connect_listener(both_up)

    def publish(self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False) -> bool:
        """Publish from the hub (status, summaries) on the telemetry session; False when it could not be queued."""
        return self.sessions[Lane.TELEMETRY].publish(topic, payload, qos=qos, retain=retain)

    @property
    def accepting(self) -> bool:
        """False once `stop` has begun: new messages are left unacknowledged on the broker."""
        return not self._lanes.closed

    def depth(self, lane: Lane) -> int:
        """Messages of `lane` received and not yet committed."""
        return self._lanes.depth(lane)

    # --- life cycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        if sys.getswitchinterval() > GIL_SWITCH_INTERVAL_S:
            sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)  # process-wide: the hub process is the one that ingests
        self._lanes.open()
        self.worker.start()
        for session in self.sessions.values():
            session.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking messages on both lanes, let the writer finish the commit in progress and commit and acknowledge
        what was queued, then leave (saying so on the status topic)."""
        deadline = time.monotonic() + timeout
        self._lanes.close()
        if not self._lanes.wait_drained(timeout):
            log.warning("ingest: stopping with messages uncommitted; the broker keeps them unacknowledged")
        for session in self.sessions.values():
            session.closing()
        self.worker.stop(max(0.1, deadline - time.monotonic()))
        for session in self.sessions.values():
            session.stop()

    def _reconnect(self) -> None:
        """After the writer was restarted: new connections on both sessions, so the broker sends again everything
        not acknowledged (the batch the dead writer had taken among it)."""
        for session in self.sessions.values():
            session.reconnect()

    def _on_connection(self, up: bool) -> None:
        self._metrics.mqtt_connected.set(1 if self.connected else 0)

    # --- the sessions' network threads ------------------------------------------------------------------------

    def _on_message(self, lane: Lane, msg: mqtt.MQTTMessage, generation: int) -> None:
        if self._lanes.closed:
            return  # not acknowledged: the broker keeps it in the session and sends it again next time
        if lane is Lane.TELEMETRY:
            self._priority.yield_to_alarms()
        item = Inbound(
            topic=msg.topic,
            payload=bytes(msg.payload),
            qos=msg.qos,
            mid=msg.mid,
            received_at=self._clock.now(),
            received_mono=self._clock.monotonic(),
            generation=generation,
            retained=bool(msg.retain),
            dup=bool(msg.dup),
        )
        if lane is Lane.ALARM:
            self._priority.hold(item)
        while not self._lanes.put(lane, item, timeout=0.5):
            # Backpressure: holding this session's network thread stops its reads from the broker; nothing is
            # dropped here, and the other lane goes on.
            if self._lanes.closed:
                return
            log.warning("ingest %s queue full (%d); holding the broker back", lane, self._lanes.depth(lane))

    # --- the writer worker -------------------------------------------------------------------------------------

    def _write_once(self) -> float:
        """Take one batch (alarms first, waiting briefly for anything), commit it, then acknowledge it."""
        taken = self._lanes.take(self._alarm_batch_max, self._telemetry_limit, timeout=0.2)
        if taken is None:
            return 0.0
        lane, batch = taken
        try:
            started = time.perf_counter()
            outcome = self._commit(lane, batch)
            if outcome is None:
                return 0.0  # stopping, or given back: not acknowledged, so the broker (or the queue) has it still
            elapsed = time.perf_counter() - started
            for alarm_id in [*outcome.opened, *outcome.made_real]:
                if alarm_id not in outcome.tested:
                    self._priority.hold(alarm_id)  # until its first delivery attempt ends (alerts.outbox)
            self.sessions[lane].ack(batch)
        finally:
            self._lanes.done()
            if lane is Lane.ALARM:
                self._priority.release(*batch)
        self._metrics.ingest_lag.labels(lane.value).observe(self._clock.monotonic() - batch[0].received_mono)
        self._metrics.ingest_queue.set(self._lanes.depth(Lane.ALARM) + self._lanes.depth(Lane.TELEMETRY))
        if lane is Lane.TELEMETRY:
            self._size_telemetry(len(batch), elapsed)
        try:
            self._on_committed(outcome)
        except Exception:
            log.exception("ingest: after-commit callback failed")
        return 0.0

    def _size_telemetry(self, size: int, elapsed: float) -> None:
        """Aim the next telemetry batch at the commit-time target: a press never waits behind a long one."""
        limit = self._telemetry_limit
        if elapsed > self._target_s:
            limit = int(limit * self._target_s / elapsed)
        elif size >= limit and elapsed < self._target_s / 2:
            limit *= 2
        self._telemetry_limit = max(TELEMETRY_BATCH_FLOOR, min(self._batch_max, limit))

    def _commit(self, lane: Lane, batch: list[Inbound]) -> BatchOutcome | None:
        delay = 0.05
        while True:
            started = time.perf_counter()
            try:
                outcome = self._pipeline.process(batch, relaxed=lane is Lane.TELEMETRY)
            except Exception:
                log.exception("ingest: committing %d %s messages failed; retrying (unacknowledged)", len(batch), lane)
                if lane is Lane.TELEMETRY and self._lanes.alarm_waiting():
                    self._lanes.give_back(batch)  # alarms first, even while telemetry cannot be stored
                    return None
                if self.worker.wait_stop(delay):
                    return None
                # A press is tried again within half a second (the store may have freed room for it); telemetry
                # backs off further.
                delay = min(delay * 2, 0.5 if lane is Lane.ALARM else 5.0)
                continue
            self._metrics.commit_seconds.observe(time.perf_counter() - started)
            return outcome
