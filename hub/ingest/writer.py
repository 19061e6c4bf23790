"""MQTT ingest: a persistent paho session whose messages are acknowledged to the broker only after they are committed.

The paho network thread only enqueues; one writer thread commits batches through the pipeline and then sends the
PUBACKs, in arrival order. The queue is bounded: when it is full the network thread waits, the broker stops
sending (its in-flight window fills), and nothing is dropped. Unacknowledged messages stay in the broker's
session and come back after a crash or reconnect.
"""

from __future__ import annotations

import logging
import queue
import ssl
import sys
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hub.config import HubConfig, TlsConfig
from hub.core.clock import Clock
from hub.ingest.pipeline import BatchOutcome, Inbound, Pipeline
from hub.metrics import HubMetrics
from hub.mqtt.topics import Topics, vendor_topics

log = logging.getLogger(__name__)

CommittedCallback = Callable[[BatchOutcome], None]


def tls_context(tls: TlsConfig) -> ssl.SSLContext:
    """Verify the broker's certificate and name (never optional), TLS 1.2 or later, our certificate if configured."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls.ca_file) if tls.ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.cert_file is not None:

        def no_passphrase() -> str:
            # Without a callback OpenSSL would prompt on the terminal, hanging a hub started by systemd.
            raise ValueError(f"{tls.key_file} is encrypted; give the hub an unencrypted key readable only by it")

        context.load_cert_chain(str(tls.cert_file), str(tls.key_file) if tls.key_file else None, no_passphrase)
    return context


class MqttIngest:
    """Subscribes to the site's device topics and feeds the pipeline."""

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
        self._config = config
        self._pipeline = pipeline
        self._clock = clock
        self._metrics = metrics
        self._on_committed = on_committed
        self._queue: queue.Queue[Inbound] = queue.Queue(maxsize=queue_size)
        self._batch_max = batch_max
        self._topics = Topics(config.mqtt.topic_prefix, config.site.id)
        # The canonical wildcard plus each vendor device's exact topics: never `#`, so a vendor topic that names
        # no registered device is not even delivered.
        vendor = sorted(t for device in config.devices for t in vendor_topics(device))
        self._filters = [(self._topics.device_filter, 1)] + [(t, 1) for t in vendor]
        self._stopping = threading.Event()
        self._accepting = threading.Event()
        self._connected = threading.Event()
        # Acks of a message received on an earlier connection must not be sent on a later one: the broker
        # may have reused that packet id for a message not yet committed.
        self._ack_lock = threading.Lock()
        self._generation = 0
        self._writer: threading.Thread | None = None
        self._connect_listeners: list[Callable[[], None]] = []
        self._client = self._make_client()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def add_connect_listener(self, callback: Callable[[], None]) -> None:
        """Call `callback` (on paho's thread; it must not block) each time the session is up and subscribed."""
        self._connect_listeners.append(callback)

    def _make_client(self) -> mqtt.Client:
        cfg = self._config.mqtt
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=cfg.client_id or f"campus-hub-{self._config.site.id}",
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password.get_secret_value() if cfg.password else None)
        if cfg.tls is not None:
            client.tls_set_context(tls_context(cfg.tls))
        client.will_set(self._topics.hub_status, "offline", qos=1, retain=True)
        client.reconnect_delay_set(max(1, round(cfg.reconnect_min_s)), max(1, round(cfg.reconnect_max_s)))
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    # --- life cycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        cfg = self._config.mqtt
        self._accepting.set()
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        self._writer.start()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho leaves it untyped
        props.SessionExpiryInterval = cfg.session_expiry_s
        props.ReceiveMaximum = cfg.receive_maximum
        self._client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s, clean_start=False, properties=props)
        self._client.loop_start()
        log.info(
            "MQTT: connecting to %s:%d as %s",
            cfg.host,
            cfg.port,
            cfg.client_id or f"campus-hub-{self._config.site.id}",
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking messages, commit and acknowledge what was taken, then leave (saying so on the status topic)."""
        self._accepting.clear()
        deadline = time.monotonic() + timeout
        while not self._queue.empty() and time.monotonic() < deadline:
            time.sleep(0.01)
        self._stopping.set()
        if self._writer is not None:
            self._writer.join(max(0.1, deadline - time.monotonic()))
        if self._connected.is_set():
            info = self._client.publish(self._topics.hub_status, "offline", qos=1, retain=True)
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                try:
                    info.wait_for_publish(timeout=2.0)
                except (ValueError, RuntimeError):
                    log.warning("MQTT: could not publish the offline status before leaving")
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()
        self._metrics.mqtt_connected.set(0)

    # --- paho callbacks (network thread) -----------------------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            # A refused connect is not a connection: stay disconnected and let paho retry with backoff.
            log.error("MQTT: broker refused the connection: %s", reason)
            return
        with self._ack_lock:
            self._generation += 1
        log.info("MQTT: connected (session present: %s)", flags.session_present)
        result, _ = client.subscribe(self._filters)
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            log.error("MQTT: subscribe failed to go out: %s", mqtt.error_string(result))
        client.publish(self._topics.hub_status, "online", qos=1, retain=True)

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        # paho calls this inside its `except OSError` around the connect and passes no reason: the exception being
        # handled is the reason (broker down, or TLS: unknown CA, name mismatch), which is otherwise never seen.
        error = sys.exc_info()[1]
        cfg = self._config.mqtt
        log.warning("MQTT: cannot connect to %s:%d: %s; retrying", cfg.host, cfg.port, error or "unknown error")

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if any(code.is_failure for code in reason_codes):
            refused = [f for (f, _), code in zip(self._filters, reason_codes, strict=False) if code.is_failure]
            log.error("MQTT: subscription to %s refused: %s", refused, reason_codes)
            return
        self._connected.set()
        self._metrics.mqtt_connected.set(1)
        for listener in self._connect_listeners:
            try:
                listener()
            except Exception:
                log.exception("MQTT: connect listener failed")

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()
        self._metrics.mqtt_connected.set(0)
        if not self._stopping.is_set():
            log.warning("MQTT: disconnected (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if not self._accepting.is_set():
            return  # not acknowledged: the broker keeps it in the session and sends it again next time
        item = Inbound(
            topic=msg.topic,
            payload=bytes(msg.payload),
            qos=msg.qos,
            mid=msg.mid,
            received_at=self._clock.now(),
            received_mono=self._clock.monotonic(),
            generation=self._generation,
            retained=bool(msg.retain),
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

    # --- writer thread -----------------------------------------------------------------------------------------

    def _write_loop(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    first = self._queue.get(timeout=0.2)
                except queue.Empty:
                    continue
                batch = [first]
                while len(batch) < self._batch_max:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                outcome = self._commit(batch)
                if outcome is None:
                    return  # stopping with an uncommitted batch: not acknowledged, so the broker resends it
                self._ack(batch)
                self._metrics.ingest_queue.set(self._queue.qsize())
                try:
                    self._on_committed(outcome)
                except Exception:
                    log.exception("ingest: after-commit callback failed")
        finally:
            self._store_close()

    def _commit(self, batch: list[Inbound]) -> BatchOutcome | None:
        delay = 0.05
        while True:
            started = time.perf_counter()
            try:
                outcome = self._pipeline.process(batch)
            except Exception:
                log.exception("ingest: committing %d messages failed; retrying (they stay unacknowledged)", len(batch))
                if self._stopping.wait(delay):
                    return None
                delay = min(delay * 2, 5.0)
                continue
            self._metrics.commit_seconds.observe(time.perf_counter() - started)
            return outcome

    def _ack(self, batch: list[Inbound]) -> None:
        with self._ack_lock:
            generation = self._generation
            for item in batch:
                if item.qos > 0 and item.generation == generation:
                    self._client.ack(item.mid, item.qos)

    def _store_close(self) -> None:
        self._pipeline.close_thread_store()

    # --- publishing ---------------------------------------------------------------------------------------------

    def publish(self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False) -> bool:
        """Publish from the hub (status, summaries); False when it could not be queued."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS
