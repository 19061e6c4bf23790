"""Alarm vocabulary shared by rules, store, forwarders and API: kinds, states, priorities and dispositions."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class AlarmKind(StrEnum):
    """What an alarm is about."""

    PANIC = "panic"
    FIRE = "fire"
    HEAT = "heat"
    ELECTRICAL_FIRE = "electrical_fire"  # residual current or cable temperature at its alarm level (GB 14287)
    GAS = "gas"  # combustible gas at the high level (GB 15322)
    CO = "co"  # carbon monoxide at the high level
    INTRUSION = "intrusion"  # a detector tripped, or a door opened, in an armed zone


class AlarmState(StrEnum):
    """Latching life cycle (GB 50394): only a person moves an alarm on, and never back."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


class Priority(IntEnum):
    """Lower is more urgent; the guard's list and the outbox both order by it."""

    LIFE_SAFETY = 1
    HIGH = 2


PRIORITY: dict[AlarmKind, Priority] = {
    AlarmKind.PANIC: Priority.LIFE_SAFETY,
    AlarmKind.FIRE: Priority.LIFE_SAFETY,
    # A heat reading without smoke is often a sunlit sensor or a kitchen: urgent, but after a press or smoke.
    AlarmKind.HEAT: Priority.HIGH,
    # Gas and CO endanger the people in the room now; an electrical fire alarm warns before a fire, like heat.
    AlarmKind.GAS: Priority.LIFE_SAFETY,
    AlarmKind.CO: Priority.LIFE_SAFETY,
    AlarmKind.ELECTRICAL_FIRE: Priority.HIGH,
    # An intruder in an empty building at night: urgent, but after a threat to people.
    AlarmKind.INTRUSION: Priority.HIGH,
}


class Disposition(StrEnum):
    """How a guard closed an alarm."""

    REAL = "real"
    DRILL = "drill"
    FALSE_ALARM = "false_alarm"
    FAULT = "fault"


class DeliveryState(StrEnum):
    """State of one alarm on one forwarding path."""

    PENDING = "pending"
    STANDBY = "standby"  # a failover path, brought in only if the paths before it fail
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"
