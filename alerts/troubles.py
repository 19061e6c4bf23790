"""Device troubles to the receiving centres: which automatic fault events become trouble messages, for which
endpoints, and what a trouble message says.

A fault the hub opens by itself (offline, tamper, low battery, a failed camera check, ...) puts one `trouble` outbox
row per endpoint into the outbox in the same transaction as the fault row; its recovery puts a `trouble_restore`
row behind each of them. The outbox then delivers them as it delivers alarms (store and forward, retried, receipt
kept), but after alarms and on slots of their own, so a trouble never delays an alarm.

What is sent, by fault kind:
- offline, tamper, low_battery, sensor_trouble, camera_check, retention_shortfall (its subject is the camera), and
  any kind added later: to every endpoint that takes troubles, on the device's zone (zone 0 when the subject is not
  a device; a DC-09 centre gets a generic trouble code, logged, for a kind with no code).
- forwarding_path_down: to every other endpoint that takes troubles (the path that is down cannot hear it, and the
  others learn the site's link to that centre is gone), on zone 0.
- inspection: never; it is opened by a person on a walk-round and is the school's business, not the centre's.
- prealarm: never; a reading at its pre-alarm level (electrical fire, gas, CO) is maintenance's to look at and the
  guard's to see, and must not reach 110 (the alarm level raises an alarm for that).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.config import SiteConfig
from hub.health.faults import FaultKind
from hub.store import enqueue_trouble, enqueue_trouble_restore
from hub.store.health import FaultEvent

log = logging.getLogger(__name__)

NOT_SENT = frozenset({FaultKind.INSPECTION, FaultKind.PREALARM})
TROUBLE = "trouble"
TROUBLE_RESTORE = "trouble_restore"


@dataclass(frozen=True, slots=True)
class TroubleMessage:
    """Everything a forwarder sends for one attempt at one trouble (or its restore)."""

    fault_id: int
    occurrence: int  # 0 for the fault's first trouble; a fault that recurs within the flap window counts up
    kind: str
    subject: str
    device: dict[str, Any] | None  # the registry entry as when the trouble began; None for the hub's own troubles
    summary: str
    opened_at: str  # when the fault ticket was opened
    occurred_at: str  # when this trouble began, or (restore) ended
    sent_at: str
    attempt: int
    event: str = TROUBLE
    recovered_at: str | None = None

    @property
    def trouble_id(self) -> str:
        return f"{self.fault_id}.{self.occurrence}"

    @property
    def idempotency_key(self) -> str:
        """Unique per trouble and event, like an alarm's: `trouble:<fault>.<occurrence>[:restore]`."""
        key = f"trouble:{self.trouble_id}"
        return key if self.event == TROUBLE else f"{key}:restore"


def trouble_body(message: TroubleMessage, site: SiteConfig) -> bytes:
    """The HTTP contract's JSON body of a trouble, as exact bytes (the signature covers these bytes)."""
    body: dict[str, Any] = {
        "event": message.event,
        "trouble_id": message.trouble_id,
        "fault_id": message.fault_id,
        "occurrence": message.occurrence,
        "kind": message.kind,
        "subject": message.subject,
        "summary": message.summary,
        "site": {"id": site.id, "name": site.name, "address": site.address},
        "device": message.device,
        "opened_at": message.opened_at,
        "occurred_at": message.occurred_at,
        "sent_at": message.sent_at,
        "attempt": message.attempt,
    }
    if message.event == TROUBLE_RESTORE:
        body["recovered_at"] = message.recovered_at
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def trouble_targets(
    kind: FaultKind, subject: str, endpoints: Sequence[str], path_subjects: Mapping[str, str]
) -> list[str]:
    """The endpoints a new trouble of `kind` on `subject` goes to, out of those that take troubles.

    `path_subjects` maps a forwarding path's fault subject to its endpoint name: a path that is down is not told.
    """
    if kind in NOT_SENT:
        return []
    if kind is FaultKind.FORWARDING_PATH_DOWN:
        down = path_subjects.get(subject)
        return [name for name in endpoints if name != down]
    return list(endpoints)


class TroubleOutbox:
    """The health store's hook: turns automatic fault events into outbox rows, inside the fault's own transaction."""

    def __init__(
        self,
        endpoints: Sequence[str],
        devices: Mapping[str, dict[str, Any]],
        path_subjects: Mapping[str, str],
    ) -> None:
        self._endpoints = list(endpoints)
        self._devices = devices
        self._path_subjects = path_subjects

    def __call__(self, conn: sqlite3.Connection, events: Sequence[FaultEvent], now: datetime) -> None:
        for event in events:
            if event.what == "recovered":
                # Goes to the endpoints that got (or are still getting) the trouble; the outbox sends it after it.
                enqueue_trouble_restore(conn, event.fault_id, now)
            elif event.what in ("opened", "recurred"):
                targets = trouble_targets(event.kind, event.subject, self._endpoints, self._path_subjects)
                if targets:
                    enqueue_trouble(conn, event.fault_id, targets, self._devices.get(event.subject), now)
            else:
                log.warning("troubles: fault %d: unknown event %r is not forwarded", event.fault_id, event.what)
