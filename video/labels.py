"""The picture diagnosis's labels, apart from the diagnosis itself so that the camera adapter (and so every
ingest path and CLI command) can validate them without importing OpenCV and NumPy."""

from __future__ import annotations

from enum import StrEnum


class Label(StrEnum):
    """What is wrong with a picture (or `healthy`)."""

    HEALTHY = "healthy"
    NO_SIGNAL = "no_signal"
    BLACK = "black"
    DARK = "dark"
    BRIGHT = "bright"
    BLUR = "blur"
    OCCLUSION = "occlusion"
    FROZEN = "frozen"
    COLOR_CAST = "color_cast"
    NOISE = "noise"
    STRIPES = "stripes"
    SCENE_CHANGE = "scene_change"
