"""The labelled picture-diagnosis set: real photographs from scikit-image's data with realistic camera faults.

Every sample is (frame, previous, reference, expected labels) as JPEG bytes (1280x720, quality 85, so compression
artifacts are real), built deterministically from a seeded numpy RNG. About half the samples carry a burned-in
date-time overlay that changes from frame to frame, as a camera's OSD does; the overlay is drawn after the optics
(it stays sharp on a blurred picture). Healthy samples are the same scene with fresh sensor noise, a small exposure
change, a few pixels of jitter and a moving clock. Photographs are split: TUNE ones were used while choosing the
thresholds, HOLDOUT ones never were.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import skimage
from numpy.typing import NDArray

Image = NDArray[Any]
WIDTH, HEIGHT = 1280, 720
DATA = Path(skimage.__file__).parent / "data"
TUNE = ("astronaut", "coffee", "chelsea", "camera", "brick", "grass", "motorcycle_left", "coins", "page")
HOLDOUT = ("rocket", "motorcycle_right", "gravel", "moon", "retina", "hubble_deep_field", "ihc")
FILES = {
    "astronaut": "astronaut.png",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "camera": "camera.png",
    "brick": "brick.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "motorcycle_left": "motorcycle_left.png",
    "motorcycle_right": "motorcycle_right.png",
    "coins": "coins.png",
    "page": "page.png",
    "rocket": "rocket.jpg",
    "moon": "moon.png",
    "retina": "retina.jpg",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "ihc": "ihc.png",
}
LABELS = (
    "healthy",
    "no_signal",
    "black",
    "dark",
    "bright",
    "blur",
    "occlusion",
    "frozen",
    "color_cast",
    "noise",
    "stripes",
    "scene_change",
)


@dataclass(frozen=True)
class Sample:
    """One labelled check: JPEG bytes of the frame, the previous frame and the reference (either may be absent)."""

    name: str
    photo: str
    frame: bytes
    previous: bytes | None
    reference: bytes | None
    expected: frozenset[str]


@cache
def photo(name: str) -> Image:
    """The photograph as 1280x720 BGR float32 (centre crop to 16:9, then resized)."""
    image = cv2.imread(str(DATA / FILES[name]), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(DATA / FILES[name])
    height, width = image.shape[:2]
    if width / height > WIDTH / HEIGHT:
        crop = round(height * WIDTH / HEIGHT)
        image = image[:, (width - crop) // 2 : (width - crop) // 2 + crop]
    else:
        crop = round(width * HEIGHT / WIDTH)
        image = image[(height - crop) // 2 : (height - crop) // 2 + crop]
    resized = cv2.resize(image, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA if width > WIDTH else cv2.INTER_CUBIC)
    return resized.astype(np.float32)


def encode(image: Image, quality: int = 85) -> bytes:
    ok, data = cv2.imencode(".jpg", np.clip(image, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return data.tobytes()


class NoiseBank:
    """Unit Gaussian noise fields drawn once from the seeded RNG and handed out in turn.

    Drawing 2.7 million normals per frame is most of the cost of building the set; consecutive calls always get
    different fields, so a frame and its previous or reference frame never share their sensor noise.
    """

    def __init__(self, rng: np.random.Generator, fields: int = 6) -> None:
        self.fields = [rng.standard_normal((HEIGHT, WIDTH, 3), dtype=np.float32) for _ in range(fields)]
        self.turn = 0

    def __call__(self, image: Image, sigma: float) -> Image:
        self.turn = (self.turn + 1) % len(self.fields)
        noisy: Image = image + sigma * self.fields[self.turn]
        return noisy


_BANK: list[NoiseBank] = []


def sensor_noise(image: Image, rng: np.random.Generator, sigma: float) -> Image:
    if not _BANK:
        _BANK.append(NoiseBank(np.random.default_rng(2026)))
    return _BANK[0](image, sigma)


def overlay(image: Image, when: datetime, where: str = "top") -> Image:
    """Burn in a camera clock: white text with a dark outline, as OSD does."""
    out = np.clip(image, 0, 255).astype(np.uint8)
    text = when.strftime("%Y-%m-%d %H:%M:%S")
    origin = (24, 48) if where == "top" else (WIDTH - 420, HEIGHT - 24)
    cv2.putText(out, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 1.1, (0, 0, 0), 5, cv2.LINE_AA)
    cv2.putText(out, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 1.1, (255, 255, 255), 2, cv2.LINE_AA)
    return out.astype(np.float32)


def exposure(image: Image, gain: float, offset: float = 0.0) -> Image:
    return image * gain + offset


def jitter(image: Image, dx: int, dy: int) -> Image:
    matrix = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    moved: Image = cv2.warpAffine(image, matrix, (WIDTH, HEIGHT), borderMode=cv2.BORDER_REFLECT)
    return moved


# Degradations: each takes (clean image, rng) and returns the degraded image.


def _u8(image: Image) -> Image:
    # OpenCV filters run several times faster on 8-bit pictures; the result goes through JPEG anyway.
    return np.clip(image, 0, 255).astype(np.uint8)


@cache
def _grid() -> tuple[Image, Image]:
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    return yy, xx


def gaussian_blur(image: Image, rng: np.random.Generator) -> Image:
    return cv2.GaussianBlur(_u8(image), (0, 0), float(rng.uniform(4.0, 8.0))).astype(np.float32)


def defocus(image: Image, rng: np.random.Generator) -> Image:
    radius = int(rng.integers(7, 14))
    kernel = np.zeros((2 * radius + 1, 2 * radius + 1), np.float32)
    cv2.circle(kernel, (radius, radius), radius, 1.0, -1)
    return cv2.filter2D(_u8(image), -1, kernel / kernel.sum()).astype(np.float32)


def motion_blur(image: Image, rng: np.random.Generator) -> Image:
    length = int(rng.integers(25, 45))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    angle = float(rng.uniform(0, 180))
    rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), angle, 1.0)
    streak = cv2.warpAffine(kernel, rot, (length, length))
    return cv2.filter2D(_u8(image), -1, streak / streak.sum()).astype(np.float32)


def _blob_mask(rng: np.random.Generator, share: float) -> Image:
    """A soft-edged irregular blob covering about `share` of the frame, entering from one side (a hand, a cloth)."""
    mask = np.zeros((HEIGHT, WIDTH), np.float32)
    side = int(rng.integers(0, 4))
    cx, cy = [(0, HEIGHT // 2), (WIDTH, HEIGHT // 2), (WIDTH // 2, 0), (WIDTH // 2, HEIGHT)][side]
    radius = math.sqrt(share * WIDTH * HEIGHT * 2 / math.pi)
    points = []
    for k in range(24):
        angle = 2 * math.pi * k / 24
        r = radius * float(rng.uniform(0.85, 1.15))
        points.append((int(cx + r * math.cos(angle) * 1.3), int(cy + r * math.sin(angle))))
    cv2.fillPoly(mask, [np.array(points, np.int32)], 1.0)
    return cv2.GaussianBlur(mask, (0, 0), 6.0)


def _occluder(rng: np.random.Generator) -> Image:
    """An out-of-focus surface close to the lens: one colour, a shading gradient, sensor noise."""
    colour = rng.choice(np.array([[80, 110, 170], [60, 70, 90], [200, 200, 205], [40, 40, 45], [120, 130, 140]]))
    yy, xx = _grid()
    shade = 0.75 + 0.35 * (xx / WIDTH) * float(rng.uniform(-1, 1)) + 0.2 * (yy / HEIGHT)
    surface = colour[None, None, :].astype(np.float32) * shade[..., None]
    return sensor_noise(surface, rng, 2.0)


def partial_occlusion(image: Image, rng: np.random.Generator) -> Image:
    mask = _blob_mask(rng, float(rng.uniform(0.45, 0.7)))[..., None]
    covered: Image = image * (1 - mask) + _occluder(rng) * mask
    return covered


def full_occlusion(image: Image, rng: np.random.Generator) -> Image:
    return _occluder(rng)


def spray(image: Image, rng: np.random.Generator) -> Image:
    """Paint sprayed on the dome: a milky, featureless layer over most of the picture."""
    mask = _blob_mask(rng, float(rng.uniform(0.6, 0.85)))[..., None] * 0.92
    small = cv2.resize(image, (WIDTH // 8, HEIGHT // 8), interpolation=cv2.INTER_AREA)
    paint = cv2.resize(cv2.GaussianBlur(small, (0, 0), 3.0), (WIDTH, HEIGHT)) * 0.3 + float(rng.uniform(120, 200)) * 0.7
    return sensor_noise(image * (1 - mask) + paint * mask, rng, 1.5)


def black(image: Image, rng: np.random.Generator) -> Image:
    return sensor_noise(np.full_like(image, float(rng.uniform(0, 6))), rng, 1.5)


def dark(image: Image, rng: np.random.Generator) -> Image:
    """Underexposed: the picture's mean brought down to 14-35 (of 255), with the sensor noise of a high gain."""
    gain = min(0.5, float(rng.uniform(14, 35)) / max(float(image.mean()), 1.0))
    return sensor_noise(exposure(image, gain), rng, float(rng.uniform(1.0, 3.0)))


def bright(image: Image, rng: np.random.Generator) -> Image:
    return exposure(image, float(rng.uniform(2.2, 3.5)), float(rng.uniform(20, 60)))


def colour_cast(image: Image, rng: np.random.Generator) -> Image:
    casts = np.array([[1.45, 1.0, 0.7], [0.7, 1.0, 1.4], [0.8, 1.3, 0.8], [1.3, 0.8, 1.25], [0.65, 0.95, 1.35]])
    gains = casts[int(rng.integers(0, len(casts)))].astype(np.float32)
    cast: Image = image * gains[None, None, :]
    return cast


def gaussian_noise(image: Image, rng: np.random.Generator) -> Image:
    return sensor_noise(image, rng, float(rng.uniform(25, 45)))


def salt_pepper(image: Image, rng: np.random.Generator) -> Image:
    out = image.copy()
    hit = rng.random((HEIGHT, WIDTH))
    density = float(rng.uniform(0.08, 0.15))
    out[hit < density / 2] = 0
    out[hit > 1 - density / 2] = 255
    return out


def stripes(image: Image, rng: np.random.Generator) -> Image:
    """Interference bars: a sinusoid across the picture, horizontal, vertical or diagonal."""
    yy, xx = _grid()
    angle = float(rng.choice([0.0, 90.0, float(rng.uniform(20, 70))]))
    period = float(rng.uniform(14, 60))
    phase = (xx * math.cos(math.radians(angle)) + yy * math.sin(math.radians(angle))) * 2 * math.pi / period
    amplitude = float(rng.uniform(18, 35))
    return image + (amplitude * np.sin(phase))[..., None]


def no_signal(image: Image, rng: np.random.Generator) -> Image:
    kind = int(rng.integers(0, 4))
    if kind == 3:  # colour bars
        bars = [(192, 192, 192), (0, 192, 192), (192, 192, 0), (0, 192, 0), (192, 0, 192), (0, 0, 192), (192, 0, 0)]
        out = np.zeros((HEIGHT, WIDTH, 3), np.float32)
        step = WIDTH // 7
        for i, colour in enumerate(bars):
            out[: HEIGHT * 3 // 4, i * step : (i + 1) * step if i < 6 else WIDTH] = colour
        out[HEIGHT * 3 // 4 :, : WIDTH // 2] = (40, 20, 20)
        out[HEIGHT * 3 // 4 :, WIDTH // 2 :] = (230, 230, 230)
        return out
    colour = [(160, 60, 0), (0, 0, 0), (110, 110, 110)][kind]
    out = np.full((HEIGHT, WIDTH, 3), colour, np.uint8)
    cv2.putText(
        out, "NO SIGNAL", (WIDTH // 2 - 210, HEIGHT // 2 + 20), cv2.FONT_HERSHEY_SIMPLEX, 2.2, (255, 255, 255), 4
    )
    return out.astype(np.float32)


DEGRADATIONS: dict[str, tuple[str, Callable[[Image, np.random.Generator], Image]]] = {
    "gaussian_blur": ("blur", gaussian_blur),
    "defocus": ("blur", defocus),
    "motion_blur": ("blur", motion_blur),
    "partial_occlusion": ("occlusion", partial_occlusion),
    "full_occlusion": ("occlusion", full_occlusion),
    "spray": ("occlusion", spray),
    "black": ("black", black),
    "dark": ("dark", dark),
    "bright": ("bright", bright),
    "colour_cast": ("color_cast", colour_cast),
    "gaussian_noise": ("noise", gaussian_noise),
    "salt_pepper": ("noise", salt_pepper),
    "stripes": ("stripes", stripes),
    "no_signal": ("no_signal", no_signal),
}


def _scene_change(name: str, rng: np.random.Generator, others: tuple[str, ...]) -> Image:
    image = photo(name)
    kind = int(rng.integers(0, 3))
    if kind == 0:
        return photo(others[int(rng.integers(0, len(others)))])
    if kind == 1:  # panned: shifted by a quarter to a half of the frame
        dx = int(rng.uniform(0.25, 0.5) * WIDTH) * int(rng.choice([-1, 1]))
        return jitter(image, dx, int(rng.uniform(-0.2, 0.2) * HEIGHT))
    angle = float(rng.uniform(20, 45)) * float(rng.choice([-1, 1]))
    rot = cv2.getRotationMatrix2D((WIDTH / 2, HEIGHT / 2), angle, float(rng.uniform(1.2, 1.6)))
    return cv2.warpAffine(image, rot, (WIDTH, HEIGHT), borderMode=cv2.BORDER_REFLECT)


def samples(photos: tuple[str, ...], seed: int = 5) -> Iterator[Sample]:
    """The set over `photos`: per photograph every degradation once, plus healthy (three kinds), frozen and
    scene-change samples; reference, previous frame and clock overlay present or not in turn."""
    rng = np.random.default_rng(seed)
    start = datetime(2026, 11, 29, 8, 0, 0, tzinfo=UTC)
    others = tuple(n for n in FILES if n not in photos) or photos
    count = 0
    for index, name in enumerate(photos):
        clean = photo(name)
        for position, kind in enumerate(
            (*DEGRADATIONS, "healthy", "healthy_static", "healthy_moved", "frozen", "scene_change")
        ):
            count += 1
            when = start + timedelta(seconds=37 * count)
            clock = "top" if count % 3 == 0 else "bottom" if count % 3 == 1 else None
            # Each kind with a reference on every other photograph.
            with_reference = (position + index) % 2 == 0 or kind == "scene_change"
            with_previous = kind == "frozen" or (count + index) % 3 != 0

            def osd(image: Image, at: datetime, clock: str | None = clock) -> Image:
                return overlay(image, at, clock) if clock else image

            previous = None
            if kind.startswith("healthy"):
                # healthy: a few pixels of jitter and a small exposure change; moved: more of both (wind, auto
                # exposure at dusk); static: only fresh sensor noise.
                reach, (low, high) = {"healthy": (3, (0.88, 1.12)), "healthy_moved": (8, (0.78, 1.25))}.get(
                    kind, (0, (1, 1))
                )
                live = jitter(clean, *rng.integers(-reach, reach + 1, 2).tolist()) if reach else clean
                gain = float(rng.uniform(low, high))
                frame = osd(sensor_noise(exposure(live, gain), rng, float(rng.uniform(1.0, 3.0))), when)
                expected = "healthy"
            elif kind == "frozen":  # the very same pixels again, only the clock moved on
                base = sensor_noise(clean, rng, 1.5)
                previous, frame = osd(base, when - timedelta(seconds=10)), osd(base, when)
                expected = "frozen"
            elif kind == "scene_change":
                frame = osd(sensor_noise(_scene_change(name, rng, others), rng, 1.5), when)
                expected = "scene_change"
            else:
                expected, degrade = DEGRADATIONS[kind]
                frame = osd(degrade(clean, rng), when)
            if with_previous and previous is None:
                previous = osd(sensor_noise(clean, rng, 1.5), when - timedelta(seconds=10))
            reference = osd(sensor_noise(clean, rng, 1.5), when - timedelta(days=3)) if with_reference else None
            yield Sample(
                name=f"{name}/{kind}",
                photo=name,
                frame=encode(frame),
                previous=encode(previous) if previous is not None else None,
                reference=encode(reference) if reference is not None else None,
                expected=frozenset({expected}),
            )
