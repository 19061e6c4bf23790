"""One ingest batch in one transaction: route and parse each message, store events and dead letters, raise alarms.

Parsing happens before the transaction, so the write lock is held only for inserts. A payload that does not
parse becomes a dead-letter row; nothing here raises for bad input. The health bookkeeping is saved in a savepoint:
if it fails, the events and alarms still commit and the bookkeeping is repaired later. While the store cannot
write (disk full, I/O error), only alarm-relevant messages are stored, in small transactions of their own, after
the room the hub can free is freed; the rest are shed (acknowledged without storing, and counted).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alerts.levels import MEASURING_KINDS, crossings, levels_for
from alerts.model import AlarmKind
from alerts.rules import HeatRule, TemperatureHistory, Trigger, evaluate
from alerts.zones import ZONED_KINDS, ZoneBoard
from device_adapters import DeviceEvent, DeviceKind, PayloadError, parse_message, parse_vendor_message
from device_adapters.base import LIFE_SAFETY_KINDS, Channel, DeadLetterReason
from hub.config import DeviceConfig, HubConfig
from hub.core.clock import Clock, SystemClock, to_iso
from hub.health.model import Transition
from hub.health.updater import HealthUpdater, PendingPlan
from hub.ingest.flood import MessageCounter
from hub.ingest.replay import Delivery, ReplayMark, fingerprint, replay_mark, self_identified
from hub.metrics import HubMetrics
from hub.mqtt.topics import Topics, vendor_routes
from hub.store import DeadLetterRow, EventRow, Store, Transaction
from hub.store.db import StoreDegraded, savepoint, store_failure
from hub.store.health import FaultEvent
from hub.store.space import StoreSpace

log = logging.getLogger(__name__)

# Longest a relaxed (telemetry) commit stays in the page cache before the write-ahead log is fsynced.
RELAXED_SYNC_S = 1.0

# Devices whose every message is kept while the store is short of room: their next message may be an alarm.


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message as the MQTT thread handed it over."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    received_at: datetime
    received_mono: float
    generation: int = 0
    retained: bool = False  # sent because the hub subscribed (a stored state), not because something just happened
    dup: bool = False  # the broker sent this message before (QoS 1 redelivery)


@dataclass(slots=True)
class BatchOutcome:
    """What one committed batch did."""

    events: int = 0
    dead_letters: int = 0
    opened: list[str] = field(default_factory=list)
    retriggered: list[str] = field(default_factory=list)
    opened_kinds: list[AlarmKind] = field(default_factory=list)
    tested: list[str] = field(default_factory=list)  # alarms of `opened` raised on test: not sent to 110
    made_real: list[str] = field(default_factory=list)  # test alarms a press off test turned into real ones
    retriggered_kinds: list[AlarmKind] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    faults: list[FaultEvent] = field(default_factory=list)
    committed: list[DeviceEvent] = field(default_factory=list)  # the stored events, for telemetry and Home Assistant
    replays: list[tuple[AlarmKind, ReplayMark]] = field(default_factory=list)  # handled presses the broker sent again
    shed: int = 0  # messages of the batch not stored (the store is short of room); acknowledged all the same
    # Messages from a panic button or smoke detector that could not be read: the guard is told at once.
    unreadable: list[dict[str, Any]] = field(default_factory=list)

    def merge(self, other: BatchOutcome) -> None:
        self.events += other.events
        self.dead_letters += other.dead_letters
        self.opened += other.opened
        self.retriggered += other.retriggered
        self.opened_kinds += other.opened_kinds
        self.tested += other.tested
        self.made_real += other.made_real
        self.retriggered_kinds += other.retriggered_kinds
        self.transitions += other.transitions
        self.faults += other.faults
        self.committed += other.committed
        self.replays += other.replays
        self.shed += other.shed
        self.unreadable += other.unreadable


def device_snapshot(device: DeviceConfig) -> dict[str, Any]:
    """The device as an alarm records it: kept with the alarm so a later registry edit does not rewrite history."""
    return {
        "id": device.id,
        "kind": device.kind.value,
        "name": device.name,
        "location": device.location.model_dump(),
        "cameras": list(device.cameras),
    }


class Pipeline:
    """Routes, parses and commits ingest batches."""

    def __init__(
        self,
        config: HubConfig,
        store: Store,
        metrics: HubMetrics,
        *,
        clock: Clock | None = None,
        health: HealthUpdater | None = None,
        rates: MessageCounter | None = None,
        space: StoreSpace | None = None,
        zones: ZoneBoard | None = None,
        on_test: Callable[[str, datetime], bool] | None = None,
    ) -> None:
        self._config = config
        # Whether a device is on test at a time: an in-memory lookup (alerts.testmode), asked on every alarm.
        self._on_test = on_test or (lambda _device, _at: False)
        self._rates = rates  # committed messages per device, for the flood watch
        self._store = store
        self._space = space
        self._metrics = metrics
        self._clock = clock or SystemClock()
        self._health = health
        self._topics = Topics(config.mqtt.topic_prefix, config.site.id)
        self._vendor = vendor_routes(config.devices)  # exact Zigbee2MQTT / Tasmota topics -> device
        self._devices = config.device_index()
        # Each kind's endpoints, in failover order: decided once here, so opening an alarm looks nothing up.
        self._endpoints = {kind: config.forwarding.endpoints_for(kind) for kind in AlarmKind}
        self._test_endpoints = {kind: config.forwarding.test_endpoints_for(kind) for kind in AlarmKind}
        # In failover mode only the first endpoint is live at once; the others stand by.
        self._live = 1 if config.forwarding.mode == "first" else None
        rules = config.alarms
        self._heat = {
            d.id: HeatRule(
                threshold_c=d.heat_threshold_c if d.heat_threshold_c is not None else rules.heat_threshold_c,
                rate_c_per_min=d.heat_rate_c_per_min
                if d.heat_rate_c_per_min is not None
                else rules.heat_rate_c_per_min,
                window_s=rules.heat_rate_window_s,
                min_span_s=rules.heat_rate_min_span_s,
            )
            for d in config.devices
            if d.kind is DeviceKind.TEMPERATURE
        }
        self._history = TemperatureHistory(rules.heat_rate_window_s)
        self._unsynced_since: float | None = None  # monotonic time of the oldest relaxed commit not yet fsynced
        # Alarm and pre-alarm levels of electrical fire units, gas and CO detectors; arming of intrusion zones.
        self._levels = {d.id: levels_for(d) for d in config.devices if d.kind in MEASURING_KINDS}
        self._zones = zones

    def parse(self, message: Inbound) -> DeviceEvent:
        """Route and validate one message, or PayloadError with the dead-letter reason."""
        if self._vendor:  # a site without vendor devices pays nothing on the canonical path
            route = self._vendor.get(message.topic)
            if route is not None:
                return parse_vendor_message(
                    route.device_id,
                    route.kind,
                    route.topic,
                    message.payload,
                    message.received_at,
                    self._config.mqtt.max_payload_bytes,
                    route.press_actions,
                )
        kind, device_id, channel = self._topics.parse(message.topic)
        device = self._devices.get(device_id)
        if device is None:
            raise PayloadError(DeadLetterReason.UNKNOWN_DEVICE, f"device {device_id!r} is not in the registry")
        if kind != device.kind.value:
            raise PayloadError(
                DeadLetterReason.KIND_MISMATCH,
                f"device {device_id!r} is a {device.kind}, the topic says {kind!r}",
            )
        return parse_message(
            device_id,
            device.kind,
            channel,
            message.payload,
            message.received_at,
            self._config.mqtt.max_payload_bytes,
        )

    def process(self, batch: Sequence[Inbound], *, relaxed: bool = False) -> BatchOutcome:
        """Commit a batch, or while the store is short of room its alarm-relevant part (the rest is shed); raises
        only if the store itself fails (then nothing was committed, and nothing was counted as shed).

        `relaxed` (the telemetry lane): the commit skips its own fsync, the cost that dominates a small commit and
        that a press queued behind it would wait out. What it raised (an alarm, a fault, a guard's notice) is made
        durable before this returns, and so is everything else at least every `RELAXED_SYNC_S`: a power cut can
        cost readings of the last second, never an alarm.
        """
        degraded = self._store.degraded
        if degraded is None:
            try:
                return self._process(batch, relaxed)
            except sqlite3.Error as exc:
                degraded = store_failure(exc)
                if degraded is None:
                    raise
                log.error("ingest: the store cannot write (%s: %s); storing alarms only", degraded.value, exc)
        return self._process_degraded(batch, degraded)

    def _process_degraded(self, batch: Sequence[Inbound], reason: StoreDegraded) -> BatchOutcome:
        """Alarms first: store only what may raise an alarm, alone and after freeing room; shed the rest."""
        events, _ = self._parse_all(batch)
        kept = [m for m, e in events if self._alarm_relevant(m, e)]
        outcome = BatchOutcome()
        if kept:
            if self._space is not None:
                self._space.free_for_alarms()
            outcome = self._process(kept)
        outcome.shed = len(batch) - len(kept)
        if outcome.shed:
            self._metrics.messages_shed.labels(f"store_{reason.value}").inc(outcome.shed)
        return outcome

    def _alarm_relevant(self, message: Inbound, event: DeviceEvent) -> bool:
        return event.kind in LIFE_SAFETY_KINDS or self._trigger(event, message.received_mono) is not None

    def _process(self, batch: Sequence[Inbound], relaxed: bool = False) -> BatchOutcome:
        """Commit a batch; raises only if the store itself fails (then nothing was committed).

        A message that parses but still cannot be stored (a bug, a value SQLite refuses) must not hold the
        whole batch hostage, retried forever: the batch is then stored one message at a time and the
        message that fails is kept as a dead letter instead.
        """
        events, dead = self._parse_all(batch)
        try:
            return self._commit(events, dead, relaxed)
        except sqlite3.OperationalError:
            raise  # disk full, I/O error, locked: the store's problem, so the caller retries the same batch
        except Exception as exc:
            if len(batch) > 1:
                log.exception("ingest: a batch of %d failed to store; storing one message at a time", len(batch))
                total = BatchOutcome()
                for message in batch:
                    total.merge(self._process([message], relaxed))
                return total
            log.exception("ingest: message on %s cannot be stored; keeping it as a dead letter", batch[0].topic)
            detail = f"could not be stored: {type(exc).__name__}: {exc}"[:300]
            return self._commit([], [self._dead_letter(batch[0], DeadLetterReason.ADAPTER_ERROR.value, detail)])

    def _parse_all(self, batch: Sequence[Inbound]) -> tuple[list[tuple[Inbound, DeviceEvent]], list[DeadLetterRow]]:
        events: list[tuple[Inbound, DeviceEvent]] = []
        dead: list[DeadLetterRow] = []
        for message in batch:
            try:
                events.append((message, self._annotate(self.parse(message), message)))
            except PayloadError as exc:
                dead.append(self._dead_letter(message, exc.reason.value, exc.detail))
            except Exception as exc:
                # An adapter bug must cost one message, not the ingest loop; the message is kept for analysis.
                log.exception("adapter crashed on %s", message.topic)
                detail = f"{type(exc).__name__}: {exc}"[:300]
                dead.append(self._dead_letter(message, DeadLetterReason.ADAPTER_ERROR.value, detail))
        return events, dead

    def _commit(
        self, events: list[tuple[Inbound, DeviceEvent]], dead: list[DeadLetterRow], relaxed: bool = False
    ) -> BatchOutcome:
        outcome = BatchOutcome(events=len(events), dead_letters=len(dead))
        outcome.unreadable = [notice for row in dead if (notice := self._unreadable_notice(row)) is not None]
        readings: list[tuple[str, float, float]] = []
        # Health changes are saved in the batch's own transaction, so events and the states they caused commit
        # together; the updater holds the health lock from plan to apply.
        health = (
            self._health.planning(lambda tracker: tracker.plan_events((m.received_at, e) for m, e in events))
            if self._health
            else contextlib.nullcontext()
        )
        with health as pending:
            with self._store.transaction("NORMAL" if relaxed else "FULL") as tx:
                tx.insert_events(
                    [
                        EventRow(e.device_id, e.kind.value, e.channel.value, e.occurred_at, m.received_at, e.data)
                        for m, e in events
                    ]
                )
                if dead:
                    tx.insert_dead_letters(dead)
                for message, event in events:
                    trigger = self._trigger(event, message.received_mono)
                    if event.celsius is not None:
                        readings.append((event.device_id, message.received_mono, event.celsius))
                    if trigger is not None:
                        self._raise(tx, message, event, trigger, outcome)
                if pending is not None:
                    self._save_health(tx.connection, pending)
        if pending is not None and pending.discarded and self._health is not None:
            self._health.needs_repair((m.received_at, e) for m, e in events)
        elif pending is not None:
            applied = pending.result()
            outcome.transitions, outcome.faults = applied.transitions, applied.faults
        if relaxed:
            self._sync_if_needed(outcome)
        else:
            self._unsynced_since = None  # a FULL commit synced the whole log, the relaxed commits before it included
        # Only what was committed updates memory and counters.
        outcome.committed = [e for _, e in events]
        if self._rates is not None:
            self._rates.count(e.device_id for _, e in events)
            self._rates.count_topics(row.topic for row in dead)
        for device_id, at_s, celsius in readings:
            self._history.add(device_id, at_s, celsius)
        if self._zones is not None:
            self._zones.note(outcome.committed)
        for _, event in events:
            self._metrics.messages.labels(event.kind.value, event.channel.value).inc()
        for row in dead:
            self._metrics.dead_letters.labels(row.reason).inc()
        for alarm_id, kind in zip(outcome.opened, outcome.opened_kinds, strict=True):
            if alarm_id not in outcome.tested:  # a test press is not an alarm in any count
                self._metrics.alarms_raised.labels(kind.value).inc()
        for kind in outcome.retriggered_kinds:
            self._metrics.alarm_retriggers.labels(kind.value).inc()
        for kind, mark in outcome.replays:
            self._metrics.press_replays.labels(kind.value, mark.value).inc()
        return outcome

    def _sync_if_needed(self, outcome: BatchOutcome) -> None:
        """After a relaxed commit: fsync now if it raised anything a person must see, or if the oldest unsynced
        commit is `RELAXED_SYNC_S` old."""
        now = self._clock.monotonic()
        if self._unsynced_since is None:
            self._unsynced_since = now
        raised = outcome.opened or outcome.retriggered or outcome.unreadable or outcome.faults or outcome.transitions
        if raised or now - self._unsynced_since >= RELAXED_SYNC_S:
            self._store.sync_wal()
            self._unsynced_since = None

    def _save_health(self, conn: sqlite3.Connection, pending: PendingPlan) -> None:
        """The batch's health changes, in a savepoint: a failure here must never cost the batch its alarms."""
        try:
            with savepoint(conn, "health_bookkeeping"):
                pending.save(conn, self._clock.now())
        except Exception as exc:
            if not conn.in_transaction:
                raise  # SQLite ended the whole transaction (disk full, I/O error): the batch fails with the cause
            reason = store_failure(exc)
            if reason is not None:
                self._store.mark_degraded(reason)  # the disk, not the health table: telemetry must hold back
            pending.discard()
            self._metrics.health_bookkeeping_failures.inc()
            log.exception("ingest: health bookkeeping failed; the batch commits without it, to be repaired")

    def _trigger(self, event: DeviceEvent, at_s: float) -> Trigger | None:
        history = self._history.readings(event.device_id, at_s) if event.celsius is not None else ()
        levels = self._levels.get(event.device_id)
        armed = event.data.get("armed") is not False  # set by _annotate for zoned devices
        return evaluate(event, self._heat.get(event.device_id), history, at_s, levels=levels, armed=armed)

    def _annotate(self, event: DeviceEvent, message: Inbound) -> DeviceEvent:
        """What the hub judged of a message, stored with it and read by the rules and the health tracker:
        `armed` for an intrusion detector or door contact, `prealarm` for a measuring device's reading."""
        if event.channel is Channel.STATUS:
            return event
        if self._zones is not None and event.kind in ZONED_KINDS:
            # Judged at the hub's receive time: a detector's clock may be wrong, the hub's is kept right.
            armed = self._zones.armed(event.device_id, message.received_at)
            if not armed and (event.data.get("alarm") is True or event.data.get("open") is True):
                log.info("%s on %s in a disarmed zone: logged, not alarmed", event.kind.value, event.device_id)
            return dataclasses.replace(event, data={**event.data, "armed": armed})
        return self._mark_prealarm(event)

    def _mark_prealarm(self, event: DeviceEvent) -> DeviceEvent:
        """A measuring device's reading gets `prealarm` (true or false, with what crossed): the health tracker opens
        or recovers the pre-alarm trouble from it, and the stored event shows it. A message without a reading (a
        detector's bare alarm output) leaves the trouble as it was."""
        levels = self._levels.get(event.device_id)
        if levels is None:
            return event
        readings = [key for key in ("residual_ma", "temperatures_c", "lel_pct", "ppm") if key in event.data]
        if not readings:
            return event
        _, crossed = crossings(event.data, levels)
        marked = {**event.data, "prealarm": crossed is not None}
        if crossed is not None:
            marked["prealarm_reading"] = {**crossed.as_detail(), "text": crossed.describe("pre-alarm")}
        return dataclasses.replace(event, data=marked)

    def _raise(
        self, tx: Transaction, message: Inbound, event: DeviceEvent, trigger: Trigger, out: BatchOutcome
    ) -> None:
        seen = fingerprint(event.device_id, message.topic, message.payload)
        handled = tx.handled_press(seen)
        mark = replay_mark(Delivery(message.retained, message.dup, self_identified(event)), handled)
        if handled is not None and mark is not None:
            tx.record_replay(seen, handled, event.device_id, message.topic, trigger.kind, mark, message.received_at)
            out.replays.append((trigger.kind, mark))
            log.info("replay (%s) of a handled press on %s: no new alarm", mark.value, event.device_id)
            return
        on_test = self._on_test(event.device_id, message.received_at)
        active = tx.active_alarm(event.device_id)
        if active is not None:
            tx.remember_press(seen, event.device_id, message.topic, active.id, message.received_at)
            if not tx.retrigger(active.id, message.received_at, event.seq, trigger.reason):
                return  # the same press delivered again (QoS 1 redelivery): not a new trigger
            if active.test and not on_test:
                # The test is over (or ended early) but its alarm is still open: this new press is real.
                tx.promote_test_alarm(active.id, message.received_at, self._endpoints[active.kind], self._live)
                out.made_real.append(active.id)
                log.warning("ALARM %s: a press off test on %s makes test alarm real", active.id, event.device_id)
            out.retriggered.append(active.id)
            out.retriggered_kinds.append(active.kind)
            return
        alarm_id = tx.open_alarm(
            device_id=event.device_id,
            kind=trigger.kind,
            priority=int(trigger.priority),
            reason=trigger.reason,
            detail={k: v for k, v in trigger.detail.items() if v is not None},
            device=self._alarm_device(event.device_id, trigger),
            occurred_at=event.occurred_at,
            raised_at=message.received_at,
            seq=event.seq,
            endpoints=(self._test_endpoints if on_test else self._endpoints)[trigger.kind],
            live=self._live,
            test=on_test,
        )
        tx.remember_press(seen, event.device_id, message.topic, alarm_id, message.received_at)
        out.opened.append(alarm_id)
        out.opened_kinds.append(trigger.kind)
        if on_test:
            out.tested.append(alarm_id)
        log.warning(
            "%s %s %s on %s (%s): %s",
            "TEST (on test, not sent to 110)" if on_test else "ALARM",
            trigger.kind.value,
            alarm_id,
            event.device_id,
            self._devices[event.device_id].name,
            trigger.reason,
        )

    def _alarm_device(self, device_id: str, trigger: Trigger) -> dict[str, Any]:
        """The device snapshot, with the reading that crossed its level: the alarm body carries the snapshot, so the
        centre reads the residual current or gas level that raised the alarm."""
        snapshot = device_snapshot(self._devices[device_id])
        if "reading" in trigger.detail:
            snapshot["reading"] = {
                k: trigger.detail[k] for k in ("reading", "value", "level", "unit") if k in trigger.detail
            }
        return snapshot

    def close_thread_store(self) -> None:
        """Release the calling thread's store connection (the writer thread calls this on exit)."""
        self._store.close_thread_connection()

    def _unreadable_notice(self, row: DeadLetterRow) -> dict[str, Any] | None:
        """What the guard must see when a life-safety device sent something unreadable: a press may be behind it."""
        route = self._vendor.get(row.topic) if self._vendor else None
        device_id = route.device_id if route is not None else None
        if device_id is None:
            try:
                _, device_id, _ = self._topics.parse(row.topic)
            except PayloadError:
                return None
        device = self._devices.get(device_id)
        if device is None or device.kind not in LIFE_SAFETY_KINDS:
            return None
        return {
            "device": device_snapshot(device),
            "reason": row.reason,
            "detail": row.detail[:200],
            "received_at": to_iso(row.received_at),
        }

    def _dead_letter(self, message: Inbound, reason: str, detail: str) -> DeadLetterRow:
        log.info("dead letter on %s: %s: %s", message.topic[:200], reason, detail)
        cap = self._config.mqtt.max_payload_bytes
        return DeadLetterRow(
            topic=message.topic[:1024],
            reason=reason,
            detail=detail,
            payload=message.payload[:cap],
            payload_size=len(message.payload),
            received_at=message.received_at,
        )
