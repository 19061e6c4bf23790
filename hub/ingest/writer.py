"""MQTT ingest: messages from the device session are acknowledged to the broker only after they are committed.

The session's network thread (hub.mqtt.session) only enqueues; one writer worker commits batches through the
pipeline and then sends the PUBACKs, in arrival order. The queue is bounded: when it is full the network thread
waits, the broker stops sending (its in-flight window fills), and nothing is dropped. Unacknowledged messages stay
in the broker's session and come back after a crash or reconnect.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from hub.config import HubConfig
from hub.core.clock import Clock
from hub.core.worker import OnError, Worker
from hub.ingest.pipeline import BatchOutcome, Inbound, Pipeline
from hub.metrics import HubMetrics
from hub.mqtt.session import MqttSession
from hub.mqtt.session import tls_context as tls_context
from hub.mqtt.topics import Topics, vendor_topics

log = logging.getLogger(__name__)

CommittedCallback = Callable[[BatchOutcome], None]


class MqttIngest:
    """Subscribes to the site's device topics and feeds the pipeline: a session and its writer worker."""

    def __init__(
        self,
        config: HubConfig,
        pipeline: Pipeline,
        clock: Clock,
        metrics: HubMetrics,
        on_committed: CommittedCallback,
        *,
        queue_size: int = 20_000,
        batch_max: int = 1_000,
    ) -> None:
        self._pipeline = pipeline
        self._clock = clock
        self._metrics = metrics
        self._on_committed = on_committed
        self._queue: queue.Queue[Inbound] = queue.Queue(maxsize=queue_size)
        self._batch_max = batch_max
        topics = Topics(config.mqtt.topic_prefix, config.site.id)
        # The canonical wildcard plus each vendor device's exact topics: never `#`, so a vendor topic that names
        # no registered device is not even delivered.
        vendor = sorted(t for device in config.devices for t in vendor_topics(device))
        self.session = MqttSession(
            config.mqtt,
            config.mqtt.client_id or f"campus-hub-{config.site.id}",
            topics.hub_status,
            [(topics.device_filter, 1)] + [(t, 1) for t in vendor],
            self._on_message,
            on_connection=lambda up: metrics.mqtt_connected.set(1 if up else 0),
        )
        self._accepting = threading.Event()
        # A writer that died may have taken a batch it never committed: it stays dead (and /healthz says so) until
        # the supervisor restarts it, and the restart reconnects, so the broker sends that batch again.
        self.worker = Worker(
            "ingest-writer",
            self._write_once,
            on_error=OnError.DIE,
            on_thread_exit=pipeline.close_thread_store,
            on_restart=self.session.reconnect,
        )

    @property
    def connected(self) -> bool:
        return self.session.connected

    def wait_connected(self, timeout: float) -> bool:
        return self.session.wait_connected(timeout)

    def add_connect_listener(self, callback: Callable[[], None]) -> None:
        """Call `callback` (on paho's thread; it must not block) each time the session is up and subscribed."""
        self.session.add_connect_listener(callback)

    def publish(self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False) -> bool:
        """Publish from the hub (status, summaries); False when it could not be queued."""
        return self.session.publish(topic, payload, qos=qos, retain=retain)

    # --- life cycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._accepting.set()
        self.worker.start()
        self.session.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking messages, commit and acknowledge what was taken, then leave (saying so on the status topic)."""
        self._accepting.clear()
        deadline = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.session.closing()
        self.worker.stop(max(0.1, deadline - time.monotonic()))
        self.session.stop()

    # --- the session's network thread --------------------------------------------------------------------------

    def _on_message(self, msg: mqtt.MQTTMessage, generation: int) -> None:
        if not self._accepting.is_set():
            return  # not acknowledged: the broker keeps it in the session and sends it again next time
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
        while True:
            try:
                self._queue.put(item, timeout=0.5)
                break
            except queue.Full:
                # Backpressure: holding the network thread stops reads from the broker; nothing is dropped.
                if not self._accepting.is_set():
                    return
                log.warning("ingest queue full (%d); holding the broker back", self._queue.maxsize)
        self._metrics.ingest_queue.set(self._queue.qsize())

    # --- the writer worker -------------------------------------------------------------------------------------

    def _write_once(self) -> float:
        """Take one batch (waiting briefly for its first message), commit it, then acknowledge it."""
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return 0.0
        batch = [first]
        while len(batch) < self._batch_max:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        outcome = self._commit(batch)
        if outcome is None:
            return 0.0  # stopping with an uncommitted batch: not acknowledged, so the broker resends it
        self.session.ack(batch)
        self._metrics.ingest_lag.observe(self._clock.monotonic() - first.received_mono)  # the batch's oldest
        self._metrics.ingest_queue.set(self._queue.qsize())
        try:
            self._on_committed(outcome)
        except Exception:
            log.exception("ingest: after-commit callback failed")
        return 0.0

    def _commit(self, batch: list[Inbound]) -> BatchOutcome | None:
        delay = 0.05
        while True:
            started = time.perf_counter()
            try:
                outcome = self._pipeline.process(batch)
            except Exception:
                log.exception("ingest: committing %d messages failed; retrying (they stay unacknowledged)", len(batch))
                if self.worker.wait_stop(delay):
                    return None
                delay = min(delay * 2, 5.0)
                continue
            self._metrics.commit_seconds.observe(time.perf_counter() - started)
            return outcome
