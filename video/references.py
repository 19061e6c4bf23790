"""Which reference a camera's check is judged against: one per light regime (day, dusk, IR night), each taken from
the first healthy check in that regime and refreshed slowly from later healthy ones.

The diagnosis compares edges, not brightness or colour, so a daytime reference already serves at dusk and in IR
mode; a reference of the same regime serves better (the same noise, the same lamps lit, the same IR reflections) and
keeps a slow drift (seasons, a parked car that stays) from ever adding up to a fault. A re-aimed camera drops them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

Image = NDArray[Any]

# A colour picture is a dusk (or lit night) one when its colours have faded below DUSK_RATIO of the camera's daytime
# reference's, or its mean grey is below DUSK_RATIO of the reference's (below DUSK_MEAN, 0-255, before there is one):
# auto exposure keeps the brightness up for a while, the colours go first. An IR picture has no colour: its channels
# differ by less than IR_CHROMA on average (JPEG leaves a little).
DUSK_RATIO = 0.75
DUSK_MEAN = 60.0
IR_CHROMA = 2.0
# A regime's reference is replaced by every REFRESH_EVERY-th healthy check in that regime (about an hour at the
# default 5-minute interval): slow enough that a fault building up over a few checks is judged against the old one.
REFRESH_EVERY = 12


class Regime(StrEnum):
    DAY = "day"
    DUSK = "dusk"
    IR = "ir"


def light_and_colour(frame: Image) -> tuple[float, float]:
    """Mean grey and mean colourfulness (channel differences from green) of a BGR picture."""
    tiny = cv2.resize(frame, (80, 45), interpolation=cv2.INTER_AREA).astype(np.int16)
    blue, green, red = tiny[..., 0], tiny[..., 1], tiny[..., 2]
    return float(tiny.mean()), float(np.abs(blue - green).mean() + np.abs(red - green).mean()) / 2.0


def regime(frame: Image, day: tuple[float, float] | None = None) -> Regime:
    """The light regime of a BGR picture, given the brightness and colourfulness of the camera's daytime picture
    (`light_and_colour`) if known."""
    mean, colour = light_and_colour(frame)
    if colour < IR_CHROMA:
        return Regime.IR
    if day is None:
        return Regime.DUSK if mean < DUSK_MEAN else Regime.DAY
    faded = colour < DUSK_RATIO * day[1] or mean < DUSK_RATIO * day[0]
    return Regime.DUSK if faded else Regime.DAY


@dataclass
class References:
    """A camera's references by regime; the caller serialises access (the scheduler's state lock)."""

    frames: dict[Regime, Image] = field(default_factory=dict)
    healthy: dict[Regime, int] = field(default_factory=dict)
    day: tuple[float, float] | None = None  # the daytime reference's `light_and_colour`, measured once

    def light(self, frame: Image) -> Regime:
        """The frame's regime, judged against the daytime reference's brightness when there is one."""
        day = self.frames.get(Regime.DAY)
        if day is not None and self.day is None:
            self.day = light_and_colour(day)
        return regime(frame, self.day)

    def pick(self, light: Regime) -> Image | None:
        """The reference for a frame in `light`: its own regime's, else the day's, else any."""
        for wanted in (light, Regime.DAY, *Regime):
            found = self.frames.get(wanted)
            if found is not None:
                return found
        return None

    def observe(self, light: Regime, frame: Image, healthy: bool) -> bool:
        """Count a check; a healthy one becomes its regime's reference when there is none yet or the refresh is
        due. Returns whether it did."""
        if not healthy:
            return False
        count = self.healthy.get(light, 0) + 1
        self.healthy[light] = count
        if light not in self.frames or count % REFRESH_EVERY == 0:
            self.frames[light] = frame
            if light is Regime.DAY:
                self.day = None
            return True
        return False

    def reset(self, frame: Image | None) -> None:
        """A new reference taken on purpose (re-aimed camera): every regime's old one is void."""
        self.frames.clear()
        self.healthy.clear()
        self.day = None
        if frame is not None:
            # A reference taken on purpose is the daytime one unless it is an IR picture.
            self.frames[Regime.IR if regime(frame) is Regime.IR else Regime.DAY] = frame

    def regimes(self) -> list[str]:
        return sorted(str(light) for light in self.frames)
