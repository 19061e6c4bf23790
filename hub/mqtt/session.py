"""One persistent MQTT session of the hub: the paho client, its connection, subscriptions, status topic and acks.

The session connects (TLS verified, clean_start off so the broker keeps what the hub has not acknowledged), reconnects
with paho's backoff, subscribes on each connect and says `online` on the status topic (`offline` is its last will
and its goodbye). Messages are handed to `on_message` with the connection's generation; nothing is acknowledged
until the owner calls `ack`, and an ack from an earlier connection is dropped. It knows nothing of what the
messages mean, so ingest runs two side by side (the alarm lane and the telemetry lane) with their own client ids.
`stale_filters` are unsubscribed on every connect, before subscribing: a persistent session keeps the subscriptions
of an older hub version, which would otherwise go on delivering.
"""

from __future__ import annotations

import logging
import ssl
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hub.config import MqttConfig, TlsConfig

log = logging.getLogger(__name__)

# Called on paho's network thread with a message and the generation of the connection it came on.
MessageHandler = Callable[[mqtt.MQTTMessage, int], None]


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


class Ackable(Protocol):
    """A received message as the owner keeps it until it is committed."""

    @property
    def mid(self) -> int: ...

    @property
    def qos(self) -> int: ...

    @property
    def generation(self) -> int: ...


class MqttSession:
    """A persistent paho session with manual acknowledgement; `on_connection(up)` follows the connected flag."""

    def __init__(
        self,
        config: MqttConfig,
        client_id: str,
        status_topic: str,
        filters: Sequence[tuple[str, int]],
        on_message: MessageHandler,
        *,
        on_connection: Callable[[bool], None] = lambda up: None,
        stale_filters: Sequence[str] = (),
    ) -> None:
        self._config = config
        self.client_id = client_id
        self._status_topic = status_topic
        self._filters = list(filters)
        self._stale_filters = [f for f in stale_filters if f not in {topic for topic, _ in self._filters}]
        self.received = 0  # messages handed to the owner (written by paho's thread only)
        self._on_message_cb = on_message
        self._on_connection = on_connection
        self._closing = threading.Event()
        self._connected = threading.Event()
        # Acks of a message received on an earlier connection must not be sent on a later one: the broker
        # may have reused that packet id for a message not yet committed.
        self._ack_lock = threading.Lock()
        self._generation = 0
        self._connect_listeners: list[Callable[[], None]] = []
        # Held while paho's network thread is being replaced (`reconnect`) or stopped, so the two never interleave.
        self._life_lock = threading.Lock()
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
        cfg = self._config
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
        )
        if cfg.username:
            client.username_pw_set(cfg.username, cfg.password.get_secret_value() if cfg.password else None)
        if cfg.tls is not None:
            client.tls_set_context(tls_context(cfg.tls))
        client.will_set(self._status_topic, "offline", qos=1, retain=True)
        client.reconnect_delay_set(max(1, round(cfg.reconnect_min_s)), max(1, round(cfg.reconnect_max_s)))
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        return client

    # --- life cycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        cfg = self._config
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho leaves it untyped
        props.SessionExpiryInterval = cfg.session_expiry_s
        props.ReceiveMaximum = cfg.receive_maximum
        self._client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive_s, clean_start=False, properties=props)
        self._client.loop_start()
        log.info("MQTT: connecting to %s:%d as %s", cfg.host, cfg.port, self.client_id)

    def closing(self) -> None:
        """The owner is shutting down: a disconnect from now on is expected, not a fault to report."""
        self._closing.set()

    def reconnect(self) -> None:
        """Drop the connection and open a new one on the same session, so that the broker sends again every message
        the hub has not acknowledged (an owner that lost some received messages gets them back this way).

        Returns at once: paho's thread may be held in `on_message` until the owner makes room (a full queue), so a
        helper thread waits for it to end and starts the next one.
        """
        threading.Thread(target=self._reconnect, name=f"mqtt-reconnect-{self.client_id}", daemon=True).start()

    def _reconnect(self) -> None:
        with self._life_lock:
            if self._closing.is_set():
                return
            log.warning("MQTT: reconnecting %s so the broker sends again what was not acknowledged", self.client_id)
            self._client.disconnect()
            self._client.loop_stop()
            self._connected.clear()
            self._on_connection(False)
            if not self._closing.is_set():
                self.start()

    def stop(self) -> None:
        """Say `offline` on the status topic (if connected), disconnect and stop paho's thread."""
        self._closing.set()
        with self._life_lock:
            self._stop()

    def _stop(self) -> None:
        if self._connected.is_set():
            info = self._client.publish(self._status_topic, "offline", qos=1, retain=True)
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                try:
                    info.wait_for_publish(timeout=2.0)
                except (ValueError, RuntimeError):
                    log.warning("MQTT: could not publish the offline status before leaving")
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()
        self._on_connection(False)

    # --- acknowledging and publishing -------------------------------------------------------------------------

    def ack(self, items: Iterable[Ackable]) -> None:
        """Send the PUBACKs of committed messages, in order; those of an earlier connection are dropped."""
        with self._ack_lock:
            generation = self._generation
            for item in items:
                if item.qos > 0 and item.generation == generation:
                    self._client.ack(item.mid, item.qos)

    def publish(self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False) -> bool:
        """Publish from the hub (status, summaries); False when it could not be queued."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        return info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS

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
        log.info("MQTT: %s connected (session present: %s)", self.client_id, flags.session_present)
        if self._stale_filters:
            # Sent before SUBSCRIBE on the same connection, so the broker has dropped them by the SUBACK.
            result, _ = client.unsubscribe(self._stale_filters)
            if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
                log.error("MQTT: unsubscribe failed to go out: %s", mqtt.error_string(result))
        result, _ = client.subscribe(self._filters)
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            log.error("MQTT: subscribe failed to go out: %s", mqtt.error_string(result))
        client.publish(self._status_topic, "online", qos=1, retain=True)

    def _on_connect_fail(self, client: mqtt.Client, userdata: object) -> None:
        # paho calls this inside its `except OSError` around the connect and passes no reason: the exception being
        # handled is the reason (broker down, or TLS: unknown CA, name mismatch), which is otherwise never seen.
        error = sys.exc_info()[1]
        cfg = self._config
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
        self._on_connection(True)
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
        self._on_connection(False)
        if not self._closing.is_set():
            log.warning("MQTT: disconnected (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        self.received += 1
        self._on_message_cb(msg, self._generation)

    # --- extra subscriptions -----------------------------------------------------------------------------------

    def subscribe_extra(self, filters: Sequence[tuple[str, int]], on_message: Callable[[str, bytes], None]) -> None:
        """Also subscribe to `filters` (at QoS 0, so nothing of theirs waits for an ack) on every connect, their
        messages to `on_message(topic, payload)` on paho's thread instead of the session's handler. Call once,
        before `start()`.

        They go in a SUBACK of their own, after the session's: a broker that refuses them costs a warning, never
        the device subscriptions or the connected state (Mosquitto grants `$SYS` whatever its ACL says and then
        delivers only what the ACL lets the user read).
        """
        if self._client.on_subscribe != self._on_subscribe:
            raise RuntimeError("subscribe_extra: one set of extra subscriptions per session")
        extra = [(topic, 0) for topic, _ in filters]
        mids: set[int] = set()

        def deliver(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
            on_message(msg.topic, bytes(msg.payload))

        def subscribe() -> None:
            result, mid = self._client.subscribe(extra)
            if result == MQTTErrorCode.MQTT_ERR_SUCCESS and mid is not None:
                mids.add(mid)
            else:
                log.warning("MQTT: subscribing to %s failed to go out: %s", [t for t, _ in extra], result)

        def on_subscribe(
            client: mqtt.Client,
            userdata: object,
            mid: int,
            reason_codes: list[ReasonCode],
            properties: Properties | None,
        ) -> None:
            # The session's own handler would take this SUBACK for a (re)connect and run the listeners again.
            if mid not in mids:
                self._on_subscribe(client, userdata, mid, reason_codes, properties)
                return
            mids.discard(mid)
            refused = [t for (t, _), code in zip(extra, reason_codes, strict=False) if code.is_failure]
            if refused:
                log.warning("MQTT: subscription to %s refused (%s); going on without it", refused, reason_codes)

        for topic, _ in extra:
            self._client.message_callback_add(topic, deliver)
        self._client.on_subscribe = on_subscribe
        self.add_connect_listener(subscribe)
