"""The event codes DC-09 frames carry: one default table for alarms and device troubles, and the mapping of an event
and its zone to the Contact ID and SIA text a frame holds between its brackets.

Codes follow the Contact ID table (event codes; qualifier 1 new event, 3 restore, so a restore keeps its event code)
and SIA DC-03 (each event has its own restore code). An endpoint may override any row (`codes:` on a DC-09
endpoint); a kind with no row is sent with a generic code and logged, never dropped. The periodic test report
(Contact ID 602 / SIA RP) has fixed codes of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import NamedTuple

from alerts.model import AlarmKind

log = logging.getLogger(__name__)


class Code(NamedTuple):
    """One row of the table: the Contact ID event code and the SIA codes of the event and of its restore."""

    cid: int
    sia: str
    sia_restore: str


class EventCodes(NamedTuple):
    """One event as each format writes it inside the brackets, after `#acct|`."""

    cid: str  # Contact ID for ADM-CID: "QEEE GG ZZZ", e.g. "1120 01 005"
    sia: str  # SIA DC-03 for SIA-DCS: "Nri<zone>/<code><zone>", e.g. "Nri5/PA005"


# Trouble keys that are not fault kinds: sensor trouble of a fire zone (smoke or heat detector) has its own codes.
FIRE_TROUBLE = "fire_trouble"

# The defaults, alarms and troubles in one table (keys: alarm kinds, fault kinds, FIRE_TROUBLE).
DEFAULT_CODES: dict[str, Code] = {
    # alarms
    AlarmKind.PANIC.value: Code(120, "PA", "PH"),
    AlarmKind.FIRE.value: Code(111, "FA", "FH"),  # the hub's fire alarms come from smoke detectors
    AlarmKind.HEAT.value: Code(158, "KA", "KH"),
    # An electrical fire unit at its alarm level: Contact ID 110 fire alarm (general), SIA FA / FH; the centre tells
    # it from a smoke alarm (111) by the code, and from the zone's device by the zone.
    AlarmKind.ELECTRICAL_FIRE.value: Code(110, "FA", "FH"),
    AlarmKind.GAS.value: Code(151, "GA", "GH"),  # Contact ID 151 gas detected; SIA GA gas alarm / GH restore
    AlarmKind.CO.value: Code(162, "GA", "GH"),  # Contact ID 162 carbon monoxide detected; SIA has no CO row of its own
    AlarmKind.INTRUSION.value: Code(130, "BA", "BH"),  # Contact ID 130 burglary; SIA BA burglary alarm / BH restore
    # device troubles (fault kinds); Contact ID restores are qualifier 3 of the same code (3137 = tamper restored)
    "tamper": Code(137, "TA", "TR"),
    "low_battery": Code(384, "YT", "YR"),  # 384 RF low battery: the buttons are wireless transmitters
    "offline": Code(350, "YC", "YK"),  # communication trouble with the device
    "sensor_trouble": Code(380, "UT", "UJ"),  # sensor trouble; SIA untyped zone trouble
    FIRE_TROUBLE: Code(373, "FT", "FJ"),  # fire trouble, for smoke and heat detectors
    "open_circuit": Code(371, "FT", "FJ"),  # an electrical fire unit's probe circuit open: 371 protection loop open
    "camera_check": Code(380, "UT", "UJ"),  # a camera's picture check failed: a sensor trouble on its zone
    "retention_shortfall": Code(300, "YX", "YZ"),  # system trouble / service required, zone 0
    "forwarding_path_down": Code(354, "YC", "YK"),  # failure to communicate with another centre, zone 0
    # The hub cannot store (disk full, I/O error): Contact ID 300 system trouble; SIA IA/IR equipment failure
    # condition / restoral, zone 0.
    "store_degraded": Code(300, "IA", "IR"),
}
ALARM_KINDS = frozenset(k.value for k in AlarmKind)
# Contact ID 140 "general alarm", SIA UA "untyped zone alarm": a kind the centre has no code for still arrives.
GENERIC_ALARM = Code(140, "UA", "UH")
# Contact ID 300 "system trouble", SIA UT "untyped zone trouble": likewise for a trouble kind with no row.
GENERIC_TROUBLE = Code(300, "UT", "UJ")
CID_GROUP = 1  # the campus is one partition
CID_MAX_ZONE = 999
FIRE_DEVICE_KINDS = frozenset({"smoke", "temperature", "electrical_fire"})


def trouble_key(fault_kind: str, device_kind: str | None) -> str:
    """The table row of a device trouble: sensor trouble on a fire zone is a fire trouble (373 / FT)."""
    if fault_kind == "sensor_trouble" and device_kind in FIRE_DEVICE_KINDS:
        return FIRE_TROUBLE
    return fault_kind


def map_event(
    kind: str, restore: bool, zone: int, table: Mapping[str, Code] = DEFAULT_CODES, *, trouble: bool = False
) -> EventCodes:
    """An event kind and zone as Contact ID and SIA text; an unknown kind becomes a generic one, never nothing.

    `zone` is the device's zone (0 for the hub itself). The SIA form puts it in `ri` as well as after the code:
    pysiaalarm (and so Home Assistant) reads the zone from `ri`, other receivers from the code's address.
    """
    code = table.get(kind)
    if code is None or (kind in ALARM_KINDS) == trouble:
        code = GENERIC_TROUBLE if trouble else GENERIC_ALARM
        what = "trouble" if trouble else "alarm"
        log.warning("DC-09: no event code for %s kind %r; sending CID %03d / SIA %s", what, kind, code.cid, code.sia)
    if not 0 <= zone <= CID_MAX_ZONE:
        raise ValueError(f"zone {zone} does not fit Contact ID's three digits")
    qualifier = 3 if restore else 1
    return EventCodes(
        cid=f"{qualifier}{code.cid:03d} {CID_GROUP:02d} {zone:03d}",
        sia=f"Nri{zone}/{code.sia_restore if restore else code.sia}{zone:03d}",
    )


# A press on a device on test: Contact ID 601 manual trigger test report, SIA RX manual test (no restore of its own).
MANUAL_TEST = Code(601, "RX", "RX")


def manual_test_event(zone: int) -> EventCodes:
    """A press on a device on test, as the centre's test code on the device's zone: Contact ID 601 (manual trigger
    test report), SIA RX (manual test). A centre logs it as a test, never as an alarm."""
    if not 0 <= zone <= CID_MAX_ZONE:
        raise ValueError(f"zone {zone} does not fit Contact ID's three digits")
    return EventCodes(cid=f"1{MANUAL_TEST.cid:03d} {CID_GROUP:02d} {zone:03d}", sia=f"Nri{zone}/RX{zone:03d}")


PERIODIC_TEST_CID = f"1602 {CID_GROUP:02d} 000"  # periodic test report: Contact ID 602 / SIA RP, zone 0 (the hub)
PERIODIC_TEST_SIA = "Nri0/RP000"
