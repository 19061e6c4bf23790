"""Comparing a frame with another picture of the same camera (its reference, its previous check): whether it is
the same scene under other light, the camera moved, something covers part of it, or interference bands run over it.

Light changes (dusk, clouds, the IR switch at night) change brightness, contrast and colour but not where the edges
are nor which way they run: the comparison is on gradient orientations (doubled angles, so an edge whose contrast
flips under infrared still agrees), weighted by gradient strength and normalised, hence gain-invariant. Measured on
the coarse 160x90 grey picture (`Structure`, kept with a reference's cached features), per cell of the GRID and over
the whole picture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

Image = NDArray[Any]
COARSE = (160, 90)  # width, height of the picture the structure is measured on
CELLS = (8, 6)  # the diagnosis's GRID: 20x15 px cells at the coarse size
STRIPS = 8  # column strips of the row profile


@dataclass(frozen=True)
class Structure:
    """A frame's coarse structure: what it is compared on."""

    coarse: Image  # 90x160 float32 grey (for phase correlation)
    orient: tuple[Image, Image]  # doubled-angle gradient vectors (real, imaginary), weighted by gradient strength
    energy: Image  # per cell: sum of squared gradient strength
    fine: Image  # per cell: mean fine detail (residual of a sigma-1 blur) of the 320 px grey over its brightness
    rows: Image  # (rows, STRIPS) log row profile of the 320 px grey, per column strip


def structure(grey: Image, *, full: bool = True, detail: bool = True) -> Structure:
    """The structure of a 320 px wide grey uint8 picture; `full=False` only takes the row profile (all a frame
    checked alone uses) and leaves the rest empty; `detail=False` leaves `fine` empty (`fine_detail` gives it)."""
    g = grey.astype(np.float32)
    log = _log1p(grey)
    width = log.shape[1] // STRIPS
    # Each strip's row means by cv2.reduce over the rows cut into strip-wide pieces: a third of NumPy's mean's time.
    pieces = np.ascontiguousarray(log[:, : STRIPS * width]).reshape(-1, width)
    rows = cv2.reduce(pieces, 1, cv2.REDUCE_AVG).reshape(log.shape[0], STRIPS)
    if not full:
        return Structure(_NONE, (_NONE, _NONE), _NONE, _NONE, rows.astype(np.float32))
    coarse = cv2.resize(g, COARSE, interpolation=cv2.INTER_AREA)
    smooth = cv2.GaussianBlur(coarse, (7, 7), 1.0)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    strength = cv2.magnitude(gx, gy) + 1e-3
    real, imag = (gx * gx - gy * gy) / strength, 2.0 * gx * gy / strength
    energy = _cell_sums(strength * strength)
    fine = fine_detail(grey) if detail else _NONE
    return Structure(coarse, (real, imag), energy, fine, rows.astype(np.float32))


def fine_detail(grey: Image) -> Image:
    """Per cell of a 320 px wide grey uint8 picture: its fine detail relative to its brightness (gain-invariant): an
    object right in front of the lens is far out of focus, the scene behind it is not (a passer-by, a new car are
    sharp)."""
    g = grey.astype(np.float32)
    fine_residual = np.abs(g - cv2.GaussianBlur(g, (7, 7), 1.0))  # (cut at 3 sigma, as in video/measures.py)
    fine: Image = _cell_means(fine_residual, grey.shape) / (_cell_means(g, grey.shape) + 8.0)
    return fine


_NONE = np.zeros(0, np.float32)
# log1p of every grey level: a table lookup is exact and several times cheaper than the logarithm of each pixel.
_LOG1P = np.log1p(np.arange(256, dtype=np.float32)).reshape(1, 256)


def _log1p(grey: Image) -> Image:
    """np.log1p of a grey uint8 picture, float32."""
    if grey.dtype != np.uint8:
        values: Image = np.log1p(grey.astype(np.float32))
        return values
    looked_up: Image = cv2.LUT(grey, _LOG1P)
    return looked_up


def _cell_sums(values: Image) -> Image:
    cols, rows = CELLS
    height, width = values.shape[0] // rows, values.shape[1] // cols
    # Block means by area resizing (one pass; a NumPy reduction over the blocks costs several times more).
    means = cv2.resize(values[: rows * height, : cols * width], CELLS, interpolation=cv2.INTER_AREA)
    sums: Image = means.ravel().astype(np.float64) * float(height * width)
    return sums


def _cell_means(values: Image, shape: tuple[int, ...]) -> Image:
    cols, rows = CELLS
    height, width = shape[0] // rows, shape[1] // cols
    return _cell_sums(values) / float(height * width)


@dataclass(frozen=True)
class Agreement:
    """How a frame's structure agrees with another picture's."""

    overall: float  # -1..1, 1: the same edges running the same ways
    cells: Image  # per cell, the same measure
    textured: Image  # cells where the other picture has structure to compare (bool)
    shift: tuple[float, float]  # the frame's displacement (coarse pixels) against the other picture
    response: float  # phase correlation peak: how clearly one shift explains the picture


def agreement(frame: Structure, other: Structure, settle: float = 3.0) -> Agreement:
    """How the frame's structure agrees with the other picture's; a shift smaller than `settle` coarse pixels (wind,
    a mount settling) is taken out first, so that only what changed besides it counts."""
    (dx, dy), response = cv2.phaseCorrelate(other.coarse, frame.coarse, _hann(*COARSE))
    fr, fi = frame.orient
    if 0.5 <= math.hypot(dx, dy) < settle:
        back = np.array([[1.0, 0.0, -dx], [0.0, 1.0, -dy]], np.float32)
        fr, fi = (cv2.warpAffine(v, back, COARSE, borderMode=cv2.BORDER_REPLICATE) for v in (fr, fi))
    orr, ori = other.orient
    cross = _cell_sums(fr * orr + fi * ori)
    cells = cross / np.sqrt(frame.energy * other.energy + 1e-6)
    overall = float(cross.sum() / math.sqrt(float(frame.energy.sum() * other.energy.sum()) + 1e-6))
    # Cells with at least a fifth of the median cell's structure (sky and plain walls say nothing).
    floor = max(0.2 * median(other.energy), 50.0)
    textured = other.energy >= floor
    return Agreement(overall, cells, textured, (float(dx), float(dy)), float(response))


def median(values: Image) -> float:
    """np.median of a small array (the same two middle values, averaged the same way) without its overhead: np.median
    of 48 cells took 0.05 ms, most of it not sorting."""
    flat = values.ravel()
    low, high = (flat.size - 1) // 2, flat.size // 2
    ordered = np.partition(flat, (low, high))
    return float((ordered[low] + ordered[high]) / 2)


@lru_cache(maxsize=4)
def _row_window(height: int) -> Image:
    window: Image = np.hanning(height).astype(np.float32)[:, None]
    return window


@lru_cache(maxsize=2)
def _hann(width: int, height: int) -> Image:
    window: Image = cv2.createHanningWindow((width, height), cv2.CV_32F)
    return window


def band_strength(frame: Structure, other: Structure | None) -> tuple[float, float, float, int]:
    """Horizontal interference bands (the gain varying with the row, the same across the width): the strongest
    periodic component of the row profile (against the other picture's, when given) shared by the column strips.

    Returns its amplitude in log units (times how clearly it stands out of the band's spectrum), its uniformity
    across the strips (1: the same phase and size in every strip) and its harmonic level (the largest coherent
    component at twice or three times its frequency over its own): a scene's rows (brick courses, lines of text,
    floors) are edges with harmonics, bands are a sinusoid; and its frequency (cycles per picture height).
    """
    rows = frame.rows - other.rows if other is not None and other.rows.shape == frame.rows.shape else frame.rows
    height = rows.shape[0]
    # Detrended: the layout (sky above, ground below) varies slowly; bands repeat 3 to 15 times down the picture.
    trend = cv2.GaussianBlur(rows, (1, 0), sigmaX=0.1, sigmaY=height / 12.0)
    detail = (rows - trend) * _row_window(height)
    spectrum = np.fft.rfft(detail, axis=0)  # (frequencies, strips)
    low, high = 3, min(16, spectrum.shape[0] - 1)
    coherent_all = np.abs(spectrum.sum(axis=1))
    coherent = coherent_all[low:high]
    k = int(np.argmax(coherent))
    values = spectrum[low + k]
    uniformity = float(np.abs(values.sum()) / (values.size * max(float(np.abs(values).max()), 1e-9)))
    # Peak over the rest of the band: a sinusoid is one peak, a scene's rows spread over many frequencies.
    rest = np.delete(coherent, [max(0, k - 1), k, min(len(coherent) - 1, k + 1)])
    peak = float(coherent[k] / max(median(rest) if rest.size else 0.0, 1e-9))
    harmonics = [
        coherent_all[m * (low + k) + d] for m in (2, 3) for d in (-1, 0, 1) if m * (low + k) + d < len(coherent_all)
    ]
    harmonic = float(max(harmonics, default=0.0) / max(float(coherent[k]), 1e-9))
    # Amplitude of the component in log units (the Hann window halves it, the rfft sums `height` rows).
    amplitude = float(coherent[k]) / values.size * 4.0 / height
    return amplitude * min(peak / 4.0, 1.0), uniformity, harmonic, low + k


def band_spread(grey: Image, frequency: int) -> tuple[float, float]:
    """How evenly a row frequency (cycles per picture height) lies over the picture: in 8x2 cells, the share whose
    demodulated amplitude (log units) is at least half the median cell's and in phase with the whole (within 60
    degrees), and the median amplitude. Interference is laid over everything, sky and walls included; a scene's own
    rows (a facade's floors, a fence) are where the object is."""
    log = _log1p(grey)
    height, width = log.shape
    high = log - cv2.GaussianBlur(log, (1, 0), sigmaX=0.1, sigmaY=height / 12.0)
    phase = 2.0 * math.pi * frequency * np.arange(height, dtype=np.float32) / height
    cos, sin = np.cos(phase)[:, None], np.sin(phase)[:, None]
    rows, cols = 2, 8
    h, w = height // rows, width // cols

    def demodulate(wave: Image) -> Image:
        blocks = (high * wave)[: rows * h, : cols * w].reshape(rows, h, cols, w)
        means: Image = blocks.mean(axis=(1, 3)).ravel()
        return means

    local = 2.0 * (demodulate(cos) + 1j * demodulate(sin))
    amplitude = np.abs(local)
    median = float(np.median(amplitude))
    whole = complex(local.sum())
    aligned = np.cos(np.angle(local) - np.angle(whole)) >= 0.5
    share = float(np.count_nonzero((amplitude >= 0.5 * median) & aligned)) / amplitude.size
    return share, median
