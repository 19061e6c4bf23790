"""The labelled picture-diagnosis set: real photographs from scikit-image's data with realistic camera faults.

Every sample is (frame, previous, reference, expected labels) as JPEG bytes (1280x720, quality 85, so compression
artifacts are real), built deterministically from a seeded numpy RNG. About half the samples carry a burned-in
date-time overlay that changes from frame to frame, as a camera's OSD does; the overlay is drawn after the optics
(it stays sharp on a blurred picture). Healthy samples are the same scene with fresh sensor noise, a small exposure
change, a few pixels of jitter and a moving clock. Photographs are split: TUNE ones were used while choosing the
thresholds, HOLDOUT ones never were.

Hard scenes (`draw_hard`, `hard_healthy`): what school cameras look at and what must not raise a false fault without a
reference (facades with rows of windows, railings, brick, tiles, corridors, large sky, blank walls, grass and gravel,
lit night scenes), drawn from a seed, plus zoomed crops of the photographs; odd seeds and TUNE photographs were used
while tuning, even seeds (HARD_HOLDOUT) and HOLDOUT photographs' crops were measured once at the end.
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
    """The photograph as 1280x720 BGR float32 (centre crop to 16:9, then resized); "kind-seed" draws a hard scene."""
    kind, _, seed = name.partition("-")
    if kind in HARD and seed:
        return draw_hard(kind, int(seed))
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


# Hard scenes, drawn from a seed like hub/sim_cameras.py; "kind-seed" names, odd seeds for tuning, even ones held out.


def _texture(rng: np.random.Generator, shape: tuple[int, int], scale: float, amount: float) -> Image:
    """Band-limited random texture (grass, gravel, plaster): zero mean, about `amount` grey levels."""
    small = rng.standard_normal((max(2, int(shape[0] / scale)), max(2, int(shape[1] / scale)))).astype(np.float32)
    field: Image = cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC) * amount
    return field


def _sky(rng: np.random.Generator, rows: int, night: bool = False) -> Image:
    y = np.linspace(0.0, 1.0, rows, dtype=np.float32)[:, None, None]
    top = np.array([20, 12, 8] if night else rng.uniform([200, 150, 110], [240, 190, 150]), np.float32)
    low = np.array([35, 25, 20] if night else rng.uniform([225, 215, 200], [250, 240, 230]), np.float32)
    return np.broadcast_to(top + (low - top) * y, (rows, WIDTH, 3)).copy()


def _facade(rng: np.random.Generator, img: Image, top: int, bottom: int, lit: float = 0.0) -> None:
    """A building front from `top` to `bottom`: wall, rows of windows at a fixed pitch, some lit."""
    wall = rng.uniform(90, 210, 3).astype(np.float32)
    img[top:bottom] = wall + _texture(rng, (bottom - top, WIDTH), 6.0, 3.0)[..., None]
    pitch_x, pitch_y = int(rng.integers(50, 130)), int(rng.integers(60, 120))
    win_w, win_h = int(pitch_x * rng.uniform(0.4, 0.7)), int(pitch_y * rng.uniform(0.4, 0.65))
    glass = rng.uniform(30, 80, 3)
    for wy in range(top + 20, bottom - win_h - 10, pitch_y):
        for wx in range(int(rng.integers(5, 30)), WIDTH - win_w, pitch_x):
            colour = (170, 220, 245) if rng.random() < lit else tuple(float(c) for c in glass)
            cv2.rectangle(img, (wx - 3, wy - 3), (wx + win_w + 3, wy + win_h + 3), (235, 235, 235), -1)
            cv2.rectangle(img, (wx, wy), (wx + win_w, wy + win_h), colour, -1)


def draw_hard(kind: str, seed: int) -> Image:
    """One hard healthy scene, 1280x720 BGR float32."""
    rng = np.random.default_rng(seed * 7919 + sum(map(ord, kind)))
    img = np.zeros((HEIGHT, WIDTH, 3), np.float32)
    horizon = int(HEIGHT * rng.uniform(0.15, 0.35))
    if kind == "facade":  # a building filling the frame under a strip of sky
        img[:horizon] = _sky(rng, horizon)
        _facade(rng, img, horizon, HEIGHT - 60)
        img[HEIGHT - 60 :] = 110 + _texture(rng, (60, WIDTH), 2.0, 8.0)[..., None]
    elif kind == "fence":  # railings across the whole width in front of a lawn and sky
        img[:horizon] = _sky(rng, horizon)
        img[horizon:] = (
            np.array([60, 130, 80], np.float32) + _texture(rng, (HEIGHT - horizon, WIDTH), 2.0, 14.0)[..., None]
        )
        pitch, bar = int(rng.integers(24, 70)), int(rng.integers(4, 10))
        shade = tuple(float(c) for c in rng.uniform(20, 70, 3))
        for x in range(int(rng.integers(0, pitch)), WIDTH, pitch):
            cv2.rectangle(img, (x, int(HEIGHT * 0.3)), (x + bar, HEIGHT), shade, -1)
        for y in (int(HEIGHT * 0.35), int(HEIGHT * 0.9)):
            cv2.rectangle(img, (0, y), (WIDTH, y + bar + 4), shade, -1)
    elif kind == "brick":  # a brick wall, head-on, filling the frame
        course, length = int(rng.integers(22, 45)), int(rng.integers(60, 110))
        img[:] = rng.uniform(150, 200)
        for row, y in enumerate(range(0, HEIGHT, course)):
            for x in range(-(row % 2) * length // 2, WIDTH, length):
                tone = rng.uniform([40, 60, 120], [80, 100, 180])
                cv2.rectangle(img, (x + 3, y + 3), (x + length - 3, y + course - 3), tuple(float(c) for c in tone), -1)
        img += _texture(rng, (HEIGHT, WIDTH), 1.5, 6.0)[..., None]
    elif kind in ("tiles", "corridor"):  # a floor of square tiles in perspective, walls and a ceiling for a corridor
        tile = int(rng.integers(40, 90))
        plane = np.full((1200, 1200, 3), rng.uniform(150, 220), np.float32)
        for i in range(0, 1200, tile):
            plane[i : i + 3], plane[:, i : i + 3] = 90.0, 90.0
        far_y = int(HEIGHT * rng.uniform(0.3, 0.45))
        src = np.array([[0, 0], [1200, 0], [1200, 1200], [0, 1200]], np.float32)
        half = WIDTH * (0.15 if kind == "corridor" else 0.5)
        dst = np.array(
            [[WIDTH / 2 - half, far_y], [WIDTH / 2 + half, far_y], [WIDTH * 1.6, HEIGHT], [-WIDTH * 0.6, HEIGHT]],
            np.float32,
        )
        wall = rng.uniform(120, 200, 3).astype(np.float32)
        img[:] = wall * np.linspace(0.8, 1.05, WIDTH, dtype=np.float32)[None, :, None]
        tiled = cv2.warpPerspective(plane, cv2.getPerspectiveTransform(src, dst), (WIDTH, HEIGHT))
        covered = cv2.warpPerspective(
            np.ones((1200, 1200), np.float32), cv2.getPerspectiveTransform(src, dst), (WIDTH, HEIGHT)
        )
        img = img * (1 - covered[..., None]) + tiled
        if kind == "corridor":
            for k in range(1, 6):  # doors down both walls and lights along the ceiling
                depth = 1.0 / (k + 1)
                door = WIDTH / 2 - half - (WIDTH / 2 - half) * depth
                top = int(far_y - 200 * depth)
                cv2.rectangle(
                    img, (int(door), top), (int(door + 60 * depth), far_y + int(120 * depth)), (60, 80, 110), -1
                )
                cv2.ellipse(
                    img,
                    (WIDTH // 2, int(far_y * (1 - depth))),
                    (int(90 * depth), int(12 * depth) + 2),
                    0,
                    0,
                    360,
                    (250, 250, 250),
                    -1,
                )
    elif kind == "sky":  # mostly sky above a low skyline of roofs and trees
        horizon = int(HEIGHT * rng.uniform(0.6, 0.78))
        img[:horizon] = _sky(rng, horizon)
        img[horizon:] = (
            np.array([70, 100, 90], np.float32) + _texture(rng, (HEIGHT - horizon, WIDTH), 2.0, 14.0)[..., None]
        )
        for _ in range(12):
            x, w, h = int(rng.integers(0, WIDTH)), int(rng.integers(40, 160)), int(rng.integers(20, 90))
            colour = tuple(float(c) for c in rng.integers(40, 150, 3))
            if rng.random() < 0.5:
                cv2.rectangle(img, (x, horizon - h), (x + w, horizon), colour, -1)
            else:
                cv2.circle(img, (x, horizon - h // 3), h // 2 + 10, (40, float(rng.integers(80, 130)), 40), -1)
    elif kind == "wall":  # a blank painted wall over most of the frame, a floor strip and a notice board
        floor = int(HEIGHT * rng.uniform(0.75, 0.9))
        wall = rng.uniform(140, 225, 3).astype(np.float32)
        light = np.linspace(1.05, 0.85, WIDTH, dtype=np.float32)[None, :, None]
        img[:floor] = wall * light + _texture(rng, (floor, WIDTH), 3.0, 1.0)[..., None]
        img[floor:] = 90 + _texture(rng, (HEIGHT - floor, WIDTH), 2.0, 10.0)[..., None]
        x, y = int(rng.integers(100, WIDTH - 400)), int(rng.integers(80, floor - 300))
        cv2.rectangle(img, (x, y), (x + 260, y + 180), (60, 90, 140), -1)
        for k in range(5):
            cv2.rectangle(img, (x + 20 + k * 48, y + 20), (x + 55 + k * 48, y + 70 + (k % 2) * 60), (240, 240, 235), -1)
    elif kind == "ground":  # grass and gravel filling the frame (a camera looking down at a yard)
        img[:] = rng.uniform([50, 90, 60], [120, 150, 140])
        img += _texture(rng, (HEIGHT, WIDTH), float(rng.uniform(1.5, 4.0)), 25.0)[..., None]
        img[:, :, 1] += _texture(rng, (HEIGHT, WIDTH), 1.2, 10.0)
    elif kind == "night":  # a lit building at night: dark sky, dim walls, some lit windows, lamps
        img[:horizon] = _sky(rng, horizon, night=True)
        _facade(rng, img, horizon, HEIGHT - 80, lit=0.3)
        lit = img[..., 2] == 245  # the lit windows keep their light, the rest of the building is in the dark
        img[horizon : HEIGHT - 80] *= 0.2
        img[lit] = (170, 220, 245)
        img[HEIGHT - 80 :] = 18 + _texture(rng, (80, WIDTH), 2.0, 4.0)[..., None]
        for x in rng.integers(50, WIDTH - 50, 3):
            glow = np.zeros((HEIGHT, WIDTH), np.float32)
            cv2.circle(glow, (int(x), HEIGHT - 200), 14, 255.0, -1)
            img += cv2.GaussianBlur(glow, (0, 0), 25.0)[..., None] * 0.9
    else:
        raise ValueError(kind)
    return cv2.GaussianBlur(np.clip(img, 0, 255), (0, 0), 0.8)


HARD = ("facade", "fence", "brick", "tiles", "corridor", "sky", "wall", "ground", "night")
HARD_TUNE = tuple(f"{kind}-{seed}" for kind in HARD for seed in (1, 3))
HARD_HOLDOUT = tuple(f"{kind}-{seed}" for kind in HARD for seed in (2, 4))
# Zoomed crops of the photographs (a camera zoomed onto a wall, a lawn, the sky): the same split as the photographs.
CROP_TUNE = ("brick", "grass", "camera", "coffee", "astronaut", "chelsea", "page")
CROP_HOLDOUT = ("gravel", "moon", "rocket", "motorcycle_right", "retina", "hubble_deep_field")


def crop(name: str, rng: np.random.Generator) -> Image:
    """A random 1.5-3x zoom into the photograph, brought back to 1280x720 (as a camera's digital zoom does)."""
    image = photo(name)
    zoom = float(rng.uniform(1.5, 3.0))
    w, h = int(WIDTH / zoom), int(HEIGHT / zoom)
    x, y = int(rng.integers(0, WIDTH - w + 1)), int(rng.integers(0, HEIGHT - h + 1))
    zoomed: Image = cv2.resize(image[y : y + h, x : x + w], (WIDTH, HEIGHT), interpolation=cv2.INTER_CUBIC)
    return zoomed


def hard_healthy(
    scenes: tuple[str, ...], crops: tuple[str, ...], seed: int = 11, per_crop: int = 4
) -> Iterator[Sample]:
    """Healthy checks of the hard scenes and of zoomed crops: each with and without a reference, clock or not."""
    rng = np.random.default_rng(seed)
    start = datetime(2026, 11, 29, 2, 0, 0, tzinfo=UTC)
    views = [(f"{n}", photo(n)) for n in scenes]
    views += [(f"{n}/crop{k}", crop(n, rng)) for n in crops for k in range(per_crop)]
    for count, (name, clean) in enumerate(views):
        for with_reference in (False, True):
            when = start + timedelta(seconds=41 * count + 7 * with_reference)
            clock = ("top", "bottom", None)[(count + with_reference) % 3]

            def osd(image: Image, at: datetime, clock: str | None = clock) -> Image:
                return overlay(image, at, clock) if clock else image

            live = jitter(clean, *rng.integers(-2, 3, 2).tolist())
            frame = osd(
                sensor_noise(exposure(live, float(rng.uniform(0.92, 1.08))), rng, float(rng.uniform(1.0, 3.0))), when
            )
            reference = osd(sensor_noise(clean, rng, 1.5), when - timedelta(days=2)) if with_reference else None
            yield Sample(
                name=f"{name}/healthy",
                photo=name.split("/")[0],
                frame=encode(frame),
                previous=None,
                reference=encode(reference) if reference is not None else None,
                expected=frozenset({"healthy"}),
            )
