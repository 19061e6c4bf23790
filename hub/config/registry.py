"""Checks across the whole device registry: unique ids, zones and vendor topics, and camera links that name a camera.

They take validated `DeviceConfig`s or raw YAML items alike, so the loader can report each problem at its own line.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from device_adapters.base import DeviceKind
from device_adapters.routing import vendor_topic_map

REGISTRY_ERROR = "device_registry"


def registry_problems(
    devices: Sequence[Any], zone_ids: Collection[str] | None = None
) -> list[tuple[tuple[str | int, ...], str]]:
    """Duplicate device ids, camera links that name no camera, shared vendor topics and arming zones not in
    `arming_zones:` (when `zone_ids` is known), each with its path.

    Takes validated `DeviceConfig`s or the raw YAML items alike, so `parse_config` can report these (each at its
    own line) even when other devices have errors that keep pydantic from running the registry check.
    """

    def get(item: Any, key: str) -> Any:
        return item.get(key) if isinstance(item, Mapping) else getattr(item, key, None)

    problems: list[tuple[tuple[str | int, ...], str]] = []
    first: dict[str, int] = {}
    kinds: dict[str, str] = {}
    for index, device in enumerate(devices):
        device_id, kind = get(device, "id"), get(device, "kind")
        if not isinstance(device_id, str):
            continue
        if device_id in first:
            problems.append(
                ((index, "id"), f"duplicate device id: {device_id!r} (first at devices[{first[device_id]}])")
            )
            continue
        first[device_id] = index
        kinds[device_id] = str(kind)
    for index, device in enumerate(devices):
        cameras = get(device, "cameras")
        if not isinstance(cameras, list):
            continue
        for position, camera in enumerate(cameras):
            if not isinstance(camera, str) or kinds.get(camera) == DeviceKind.CAMERA.value:
                continue
            what = "is not in devices" if camera not in kinds else f"is a {kinds[camera]}, not a camera"
            problems.append(((index, "cameras", position), f"{camera!r} {what}"))
    # Vendor topics are routed by exact match, so two devices may not share one (nor a name that is another's
    # `<base>/availability`).
    claimed: dict[str, int] = {}
    for index, device in enumerate(devices):
        source = get(device, "source_topic")
        if not isinstance(source, str):
            continue
        for vendor_topic, _ in vendor_topic_map(str(get(device, "format")), str(get(device, "kind")), source):
            if vendor_topic in claimed:
                problems.append(
                    ((index, "source_topic"), f"topic {vendor_topic!r} is already devices[{claimed[vendor_topic]}]'s")
                )
                break
            claimed[vendor_topic] = index
    problems += _zone_problems([get(device, "zone") for device in devices])
    if zone_ids is not None:
        for index, device in enumerate(devices):
            arming_zone = get(device, "arming_zone")
            if isinstance(arming_zone, str) and arming_zone not in zone_ids:
                problems.append(((index, "arming_zone"), f"{arming_zone!r} is not in arming_zones"))
    return problems


def _zone_problems(zones: Sequence[Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """Explicit zones that repeat one another or another device's default (its 1-based place in the list)."""
    implicit = {index + 1: index for index, zone in enumerate(zones) if zone is None}
    explicit: dict[int, int] = {}
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for index, zone in enumerate(zones):
        if not isinstance(zone, int) or isinstance(zone, bool):
            continue  # absent, or not a number (reported by pydantic)
        if zone in explicit:
            problems.append(((index, "zone"), f"duplicate zone {zone} (first at devices[{explicit[zone]}])"))
        elif zone in implicit:
            other = implicit[zone]
            problems.append(
                (
                    (index, "zone"),
                    f"zone {zone} is already devices[{other}]'s (its place in the list): choose another zone "
                    f"or give devices[{other}] a zone of its own",
                )
            )
        else:
            explicit[zone] = index
    return problems
