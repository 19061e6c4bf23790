"""The `status` channel every device kind shares: retained `online`/`offline`, also the device's MQTT last will."""

from __future__ import annotations

import json
from datetime import datetime

from device_adapters.base import Channel, DeadLetterReason, DeviceEvent, DeviceKind, PayloadError, decode_text

_STATES = {"online": True, "offline": False}


def parse_status(device_id: str, kind: DeviceKind, payload: bytes, received_at: datetime) -> DeviceEvent:
    """`online` / `offline` as plain text (the canonical form) or `{"state": "online"}`."""
    text = decode_text(payload).strip()
    word = text.lower()
    if word.startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PayloadError(DeadLetterReason.BAD_JSON, exc.msg) from exc
        except RecursionError as exc:
            raise PayloadError(DeadLetterReason.BAD_JSON, "nested too deeply") from exc
        except ValueError as exc:  # an integer literal past Python's int conversion limit
            raise PayloadError(DeadLetterReason.BAD_JSON, str(exc)[:120]) from exc
        state = obj.get("state") if isinstance(obj, dict) else None
        word = state.lower() if isinstance(state, str) else ""
    if word not in _STATES:
        raise PayloadError(DeadLetterReason.INVALID_PAYLOAD, f"status must be 'online' or 'offline', got {text[:40]!r}")
    return DeviceEvent(
        device_id=device_id,
        kind=kind,
        channel=Channel.STATUS,
        occurred_at=received_at,
        data={"state": word},
        online=_STATES[word],
    )
