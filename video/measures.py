"""Measurements of one camera picture for the picture diagnosis (video/diagnosis.py decides from them).

Everything is measured on a small copy (`prepare`: 320 px wide) except sensor noise, which needs the half-size
picture `decode` gives (at 320 px the downscaling has averaged most of it away), and edge widths. What nearly every
check needs is measured at once, the rest when a check asks for it (`Features`' properties). Also a small cache of
the measurements of reference frames, keyed by their pixels.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from video.compare import Structure, fine_detail, structure
from video.thresholds import Thresholds

Image = NDArray[Any]

WORK_WIDTH = 320
FINE_WIDTH = 640  # sensor noise is measured at this width
GRID = (8, 6)  # cells across, down: each cell is 40x30 px at the working size


def _bgr8(image: Image) -> Image:
    """The picture as 3-channel BGR uint8 at its own size (grey and BGRA accepted, values clipped to 0-255)."""
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def _resized(image: Image, width: int) -> Image:
    height = image.shape[0]
    if image.shape[1] == width:
        return image
    # At least 16 rows: a sliver of a picture still gets a grid of cells (and is no_signal or black anyway).
    size = (width, max(16, round(height * width / image.shape[1])))
    shrink = image.shape[1] > width
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def prepare(image: Image) -> Image:
    """The frame as kept between checks: BGR uint8, FINE_WIDTH pixels wide (the input itself when it already is;
    a 1280x720 snapshot from `decode` already is). Everything but noise is then measured at WORK_WIDTH."""
    return _resized(_bgr8(image), FINE_WIDTH)


def small(image: Image) -> Image:
    """BGR uint8 at WORK_WIDTH, where the measurements are taken."""
    return _resized(prepare(image), WORK_WIDTH)


@dataclass
class Features:
    """Measurements of one prepared frame, shared by the checks and by the comparisons with other frames.

    The fields are what nearly every check needs, measured by `measure`; the properties are measured the first time
    a check asks (most faults are decided before the spectrum, noise, colour and sharpness are looked at) and kept.
    """

    th: Thresholds
    fine: Image  # BGR uint8 at FINE_WIDTH
    bgr: Image
    grey: Image  # uint8
    g: Image  # the same, float32
    mean: float
    black_share: float
    clipped_share: float
    flat_share: float
    cell_std: Image  # low-pass standard deviation per cell
    cell_mean: Image
    detail: float  # low-pass standard deviation outside the OSD bands
    plain: float  # share of cells that are uniform and as bright as the median cell (a screen, or one surface)
    bars: float  # share of columns that are constant down the upper 60% of the picture (colour bars)
    highlights: float  # 99th percentile of luminance

    @cached_property
    def fine_grey(self) -> Image:
        """Grey uint8 at FINE_WIDTH: the comparison with the previous frame, sensor noise, edge widths."""
        grey: Image = cv2.cvtColor(self.fine, cv2.COLOR_BGR2GRAY)
        return grey

    @cached_property
    def caption_share(self) -> float:
        """Share of the picture outside the OSD bands in caption: text brighter than the background it is written on
        (the median), a screen's."""
        height = self.grey.shape[0]
        core = self.grey[height // 8 : height - height // 8]
        level = max(self.th.caption_level, byte_quantile(core[::4, ::4], 0.5) + 60.0)
        return float(np.count_nonzero(core >= level)) / float(core.size)

    @cached_property
    def colours_cover(self) -> float:
        """Share of the pixels in the few most common colours (16 levels per channel): a screen's flat colours."""
        histogram = cv2.calcHist([self.bgr], [0, 1, 2], None, [16, 16, 16], [0, 256, 0, 256, 0, 256]).ravel()
        counts = -np.sort(-histogram)  # most common colours first
        return float(counts[: self.th.synthetic_colours_max].sum()) / float(self.grey.size)

    @cached_property
    def cell_fine_std(self) -> Image:
        """Standard deviation per cell at the working size, no low-pass (grass, gravel keep it)."""
        return cell_stats(self.g, GRID)[1]

    @cached_property
    def thumb(self) -> Image:
        """64x36 float32, zero mean, unit norm."""
        return _thumb(self.g)

    @cached_property
    def structure(self) -> Structure:
        """What comparisons with the reference and the previous frame look at (video/compare.py), but the fine
        detail (`fine_detail`)."""
        return structure(self.grey, detail=False)

    @cached_property
    def fine_detail(self) -> Image:
        """Per cell: fine detail over brightness (video/compare.py `fine_detail`), what a cover close to the lens
        lost; looked at only when enough cells disagree with the reference."""
        return fine_detail(self.grey)

    @cached_property
    def profile(self) -> Structure:
        """The row profile alone (all a frame checked alone compares: `band_strength`)."""
        if "structure" in self.__dict__:
            return self.structure
        return structure(self.grey, full=False)

    @cached_property
    def chroma(self) -> tuple[float, float, float, float]:
        """Mean a, mean b; 5th percentile of mid-tone chroma; highlights' chroma (Lab)."""
        return _chroma(self.bgr)

    @cached_property
    def _sharpness(self) -> tuple[float, float]:
        return _sharpness(self.bgr, self.th)

    @property
    def sharpness(self) -> float:
        return self._sharpness[0]

    @property
    def textured_share(self) -> float:
        return self._sharpness[1]

    @cached_property
    def _core(self) -> tuple[Image, Image]:
        # Sensor noise and edge widths at FINE_WIDTH, without the top and bottom eighths where OSD text (a
        # sharp-edged clock) sits: 640x270 pixels, BGR and grey.
        band = self.fine.shape[0] // 8
        return self.fine[band : self.fine.shape[0] - band], self.fine_grey[band : self.fine.shape[0] - band]

    @cached_property
    def _noise_region(self) -> tuple[Image, Image, tuple[Image, Image]]:
        # Sensor noise is the same all over the picture: its middle half across (320x270 of the core, BGR and grey,
        # and the grey's Sobel derivatives) measures it as well as the whole core, in half the time.
        fine, grey = self._core
        middle = slice(grey.shape[1] // 4, grey.shape[1] - grey.shape[1] // 4)
        grey = np.ascontiguousarray(grey[:, middle])
        return np.ascontiguousarray(fine[:, middle]), grey, _sobel(grey)

    @cached_property
    def noise(self) -> float:
        """Immerkaer noise sigma of the luminance's flattest half (`_flat_sigma`), at FINE_WIDTH."""
        _, grey, gradients = self._noise_region
        return _flat_sigma(grey, gradients)

    @cached_property
    def noise_scaling(self) -> float:
        """Noise sigma measured the same way at half FINE_WIDTH, over `noise`: white sensor noise (and impulses)
        halves (0.5), scene texture a pixel or two across (grass, gravel) does not, since halving moves it up the
        spectrum."""
        if self.noise <= 1e-3:
            return 1.0
        grey = self._noise_region[1]
        half = cv2.resize(grey, (grey.shape[1] // 2, grey.shape[0] // 2), interpolation=cv2.INTER_AREA)
        return _flat_sigma(half, _sobel(half)) / self.noise

    @cached_property
    def chroma_noise(self) -> float:
        """Immerkaer noise sigma of the colour differences (`_chroma_noise`), at FINE_WIDTH."""
        return _chroma_noise(self._noise_region[0])

    @cached_property
    def _edges(self) -> tuple[float, float, float]:
        grey = self._core[1]
        return _edge_slopes(grey, _sobel(grey))

    @property
    def edge_slope(self) -> float:
        """Steepness of the strongest edges at FINE_WIDTH, about one over their width in pixels."""
        return self._edges[0]

    @property
    def edge_slopes(self) -> tuple[float, float]:
        """... in the steepest of four orientations, and across it (0: too few edges)."""
        return self._edges[1], self._edges[2]

    @cached_property
    def _spectrum(self) -> tuple[Image, list[tuple[float, int, int]]]:
        return _spectrum_peaks(self.g, self.mean, self.th)

    @property
    def spectrum(self) -> Image:
        """Log magnitude minus its surrounding ring."""
        return self._spectrum[0]

    @property
    def peaks(self) -> list[tuple[float, int, int]]:
        """(height, row, column) of the isolated peaks that are not a harmonic series."""
        return self._spectrum[1]

    @cached_property
    def harmonics(self) -> list[float]:
        """Per peak: the highest residual at its half, third, double and triple (a pattern's)."""
        return [_harmonic_level(self.spectrum, y, x) for _, y, x in self.peaks]

    def settle(self) -> Features:
        """Measure everything a reference is compared on, then drop the pictures (a cached reference's entry stays
        small, ~120 KB); returns itself."""
        for name in ("structure", "fine_detail", "thumb", "chroma", "_sharpness", "noise", "chroma_noise", "_spectrum"):
            getattr(self, name)
        self.fine = self.bgr = self.grey = self.g = _EMPTY
        for name in ("fine_grey", "_core", "_noise_region"):
            self.__dict__.pop(name, None)
        return self


def cells(values: Image, grid: tuple[int, int]) -> Image:
    """The picture as (rows, cols, cell pixels): a grid of equal cells (the remainder at the right/bottom is left
    out), so per-cell statistics are one vectorised reduction over the last axis."""
    cols, rows = grid
    height, width = values.shape[0] // rows, values.shape[1] // cols
    blocks = values[: rows * height, : cols * width].reshape(rows, height, cols, width)
    cells: Image = blocks.transpose(0, 2, 1, 3).reshape(rows * cols, height * width)
    return cells


def measure(image: Image, th: Thresholds) -> Features:
    """The frame's features: what nearly every check needs now, the rest (`Features`' properties) when asked."""
    fine = prepare(image)
    bgr = _resized(fine, WORK_WIDTH)
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    g = grey.astype(np.float32)
    height, width = grey.shape
    total = float(grey.size)
    hist = cv2.calcHist([grey], [0], None, [256], [0, 256]).ravel()  # exact counts, half np.bincount's time
    mean = float(np.dot(hist, _LEVELS)) / total
    black_share = float(hist[: int(th.black_level)].sum()) / total
    band = height // 8  # the top and bottom bands where OSD text (the camera's clock) sits
    clipped_share = float(hist[250:].sum()) / total

    # Exactly flat: |Laplacian| <= 1 (in integers: exact, and cheaper than in floats).
    flat_share = float(cv2.countNonZero(cv2.inRange(cv2.Laplacian(grey, cv2.CV_16S, ksize=1), -1, 1))) / total

    low = cv2.GaussianBlur(g, (13, 13), 2.0)  # (cut at 3 sigma, as the sharpness's blur: a quarter cheaper)
    cell_mean, cell_std = cell_stats(low, GRID)
    detail = float(cv2.meanStdDev(low[band : height - band])[1][0, 0])
    uniform = cell_std < th.uniform_std
    plain = float((uniform & (np.abs(cell_mean - quantile(cell_mean, 0.5)) <= th.screen_mean_spread)).mean())
    upper = low[: height * 6 // 10]
    bars = float((_column_std(upper) < th.uniform_std).mean()) if upper.size else 0.0
    highlights = float(np.searchsorted(np.cumsum(hist), 0.99 * total))
    return Features(
        th=th,
        fine=fine,
        bgr=bgr,
        grey=grey,
        g=g,
        mean=mean,
        black_share=black_share,
        clipped_share=clipped_share,
        flat_share=flat_share,
        cell_std=cell_std,
        cell_mean=cell_mean,
        detail=detail,
        plain=plain,
        bars=bars,
        highlights=highlights,
    )


def _chroma(bgr: Image) -> tuple[float, float, float, float]:
    """Mean Lab a and b of a BGR uint8 picture; the 5th percentile of its mid-tones' chroma; its highlights'."""
    # 80x45 by halving twice: area averaging in one step to a quarter took four times as long (OpenCV's fast path is
    # for halving); each step rounds, a grey level at most.
    half = cv2.resize(bgr, (bgr.shape[1] // 2, bgr.shape[0] // 2), interpolation=cv2.INTER_AREA)
    tiny = cv2.resize(half, (80, 45), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    lab = cv2.cvtColor(tiny, cv2.COLOR_BGR2Lab)
    a, b = lab[..., 1], lab[..., 2]
    da, db = float(a.mean()), float(b.mean())
    # A scene under the right white balance nearly always has some near-neutral mid-tones (grey, white, shadow);
    # a cast moves every pixel, so even the most neutral ones carry chroma.
    midtones = (lab[..., 0] > 25) & (lab[..., 0] < 95)
    chroma = cv2.magnitude(a, b)
    chroma_values = chroma[midtones]
    least = quantile(chroma_values, 0.05) if chroma_values.size >= 50 else 0.0
    # ... and its highlights (the brightest tenth, short of clipping) are near white; a warm scene keeps them white.
    lightness = lab[..., 0]
    top = (lightness >= quantile(lightness, 0.9)) & (lightness < 97)
    highlight = quantile(chroma[top], 0.5) if np.count_nonzero(top) >= 10 else 0.0
    return da, db, least, highlight


def _sharpness(bgr: Image, th: Thresholds) -> tuple[float, float]:
    """Fine detail (residual of a sigma-1 blur) over mid-band contrast (residual of sigma-4), per cell, median over
    textured cells, leaving out the OSD bands at the top and bottom; and the share of textured cells. Measured on a
    grey-world balanced grey (each channel over its mean), so a colour cast, which changes how channels mix, does
    not change it."""
    band = bgr.shape[0] // 8
    channels = bgr[band : bgr.shape[0] - band]
    means = np.array(cv2.mean(channels)[:3])
    weights = (means.mean() / np.maximum(means, 1.0) / 3.0).astype(np.float32).reshape(1, 3)
    core = cv2.transform(channels.astype(np.float32), weights)
    # (Both kernels cut at 3 sigma, where OpenCV's default for floats is 4: the 0.3 % of weight left out changes
    # nothing measurable, and the sigma-4 blur took a third of the sharpness's time with 33 taps.)
    fine = np.abs(core - cv2.GaussianBlur(core, (7, 7), 1.0))
    mid = np.abs(core - cv2.GaussianBlur(core, (25, 25), 4.0))
    contrast = cell_means(mid, (8, 4))
    detailed = contrast >= th.texture_min
    ratios = cell_means(fine, (8, 4))[detailed] / contrast[detailed]
    return (quantile(ratios, 0.5) if ratios.size else 0.0), float(detailed.mean())


_LEVELS = np.arange(256, dtype=np.float64)
_NO_CELLS = np.zeros(0, np.float32)


def cell_means(values: Image, grid: tuple[int, int]) -> Image:
    """Per cell of a grid (as `cells`, row by row): the mean of a float32 picture, by area resizing."""
    cols, rows = grid
    height, width = values.shape[0] // rows, values.shape[1] // cols
    means: Image = cv2.resize(values[: rows * height, : cols * width], grid, interpolation=cv2.INTER_AREA).ravel()
    return means


def cell_sums(values: Image, grid: tuple[int, int]) -> Image:
    """Per cell of a grid (as `cells`, row by row): the sum of a uint8 picture, exactly (int64). Each row of a cell is
    a row of the picture reshaped to cell-wide rows, summed by cv2.reduce, then the cell's rows in NumPy: no float
    copy of the picture (and area resizing of uint8 would round)."""
    cols, rows = grid
    height, width = values.shape[0] // rows, values.shape[1] // cols
    segments = np.ascontiguousarray(values[: rows * height, : cols * width]).reshape(-1, width)
    sums = cv2.reduce(segments, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).reshape(rows, height, cols)
    result: Image = sums.sum(axis=1, dtype=np.int64).ravel()
    return result


def cell_stats(values: Image, grid: tuple[int, int]) -> tuple[Image, Image]:
    """Per cell of a grid (as `cells`, row by row): the mean and the standard deviation of a float32 picture. By area
    resizing of the values and their squares (block means, one pass each): several times cheaper than reducing the
    cells in NumPy."""
    cols, rows = grid
    height, width = values.shape[0] // rows, values.shape[1] // cols
    block = values[: rows * height, : cols * width]
    # About the overall mean, so that the squares stay small and float32 keeps the variance's digits.
    offset = np.float32(cv2.mean(block)[0])
    centred = block - offset
    mean = cv2.resize(centred, grid, interpolation=cv2.INTER_AREA)
    square = cv2.resize(centred * centred, grid, interpolation=cv2.INTER_AREA)
    std: Image = np.sqrt(np.maximum(square - mean * mean, 0.0)).ravel()
    means: Image = (mean + offset).ravel()
    return means, std


def _column_std(values: Image) -> Image:
    """The standard deviation of each column of a float32 picture."""
    mean = cv2.reduce(values, 0, cv2.REDUCE_AVG)
    square = cv2.reduce(values * values, 0, cv2.REDUCE_AVG)
    result: Image = np.sqrt(np.maximum(square - mean * mean, 0.0)).ravel()
    return result


def _thumb(g: Image) -> Image:
    """64x36, smoothed, zero mean and unit norm: what the scene correlation compares."""
    small = cv2.resize(g, (64, 36), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    small = small - small.mean()
    norm = float(np.linalg.norm(small))
    thumb: Image = small / norm if norm > 1e-3 else np.zeros_like(small)
    return thumb


def _sobel(g: Image) -> tuple[Image, Image]:
    """The 3x3 Sobel derivatives of a grey uint8 picture along x and y, int16 (exact, and the cheapest to take)."""
    return cv2.Sobel(g, cv2.CV_16S, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_16S, 0, 1, ksize=3)


_RANGE_KERNEL = np.ones((9, 9), np.uint8)


def _edge_slopes(g: Image, gradients: tuple[Image, Image]) -> tuple[float, float, float]:
    """How steep the strongest edges are: overall, in the steepest of four gradient orientations, and in the
    orientation across that one.

    Steepness is the gradient over the grey range in a 9x9 window around it, about one over the edge's width in
    pixels (0.5 for a step); the median over the strongest gradients (the top half percent overall, the top percent
    per orientation) with at least 20 grey levels of range. Blur widens every edge, however the scene looks; a soft
    scene in focus (a zoomed wall, a lawn, a plain corridor) keeps some steep edges wherever it has edges at all.
    Motion blur widens the edges across its direction and leaves those along it. 0 when there are too few edges.
    """
    spread = np.ascontiguousarray(cv2.morphologyEx(g, cv2.MORPH_GRADIENT, _RANGE_KERNEL)[::2, ::2])
    # Every other pixel in each direction (a few hundred of the strongest are left), and partial sorts: as good as
    # all of them and several times cheaper.
    gx, gy = (np.ascontiguousarray(d[::2, ::2], dtype=np.float32) for d in gradients)
    # A 3x3 Sobel weighs a one-pixel difference 8 times.
    magnitude = cv2.magnitude(gx, gy) / 8.0
    edges = spread > 20
    # The top 4 % (for the orientations below), then the top half percent among them: the second rank's value is
    # one of theirs (exact; ranking all of them again took as long as the first).
    flat = magnitude.ravel()
    above = _top(flat, 0.96)
    candidates = flat[flat >= above]
    rank = int(0.995 * (flat.size - 1)) - (flat.size - candidates.size)
    strongest = (magnitude >= float(np.partition(candidates, rank)[rank])) & edges
    if np.count_nonzero(strongest) < 20:
        return 0.0, 0.0, 0.0
    overall = quantile(magnitude[strongest] / spread[strongest], 0.5)
    # Gradients within 22.5 degrees of the x axis, of the y axis, and along the two diagonals: pairs across each other.
    ax, ay = np.abs(gx), np.abs(gy)
    along_x, along_y = ax > 2.414 * ay, ay > 2.414 * ax
    diagonal, rising = ~(along_x | along_y), (gx * gy) > 0
    # The top percent of each orientation is among the strongest few percent overall unless an orientation is rare:
    # those are picked out once (and each orientation's count checked, else all of its pixels are sorted).
    strong = np.flatnonzero((magnitude >= above) & edges)
    ranges = spread.ravel()
    slopes = []
    for orientation in (along_x, along_y, diagonal & rising, diagonal & ~rising):
        found = orientation & edges
        count = int(np.count_nonzero(found))
        if count < 100:
            return overall, 0.0, 0.0  # too few edges one way to compare the ways
        wanted = count - int(0.99 * (count - 1))  # the top percent: the `wanted` largest
        picked = strong[found.ravel()[strong]]
        values = magnitude.ravel()[picked]
        if values.size < wanted:
            picked = np.flatnonzero(found)
            values = magnitude.ravel()[picked]
        threshold = float(np.partition(values, values.size - wanted)[values.size - wanted])
        top = values >= threshold
        slopes.append(quantile(values[top] / ranges[picked[top]], 0.5))
    steepest = int(np.argmax(slopes))
    return overall, slopes[steepest], slopes[steepest ^ 1]


def _top(values: Image, share: float) -> float:
    """The value at `share` of the way up the sorted values (a partial sort), exactly.

    A histogram says which narrow range holds the wanted rank (the values scaled to 0-255 bytes, then counted:
    both cheap in cv2, where a float histogram is not); only the values in that range (and a bin either side) are
    partially sorted, after counting those below it. np.partition of all 43,200 gradients took half a millisecond
    (they take few distinct values, which its selection handles badly). The range is checked, not trusted: if the
    rank is not in it, everything is partitioned.
    """
    flat = values.ravel()
    rank = int(share * (flat.size - 1))
    # Narrowed again while many values are left: a black frame's gradients are nearly all 0, and partitioning tens
    # of thousands of equal values took milliseconds.
    while flat.size >= 4096 and flat.dtype == np.float32:
        low, high = float(flat.min()), float(flat.max())
        if high <= low:
            return low  # all equal
        scale = 255.0 / (high - low)
        levels = cv2.convertScaleAbs(flat.reshape(-1, 1), alpha=scale, beta=-low * scale)
        counts = cv2.calcHist([levels], [0], None, [256], [0, 256]).ravel()
        found = int(np.searchsorted(np.cumsum(counts), rank + 1))
        # Level k holds the values scaled to within half a level of k (rounded): a level of slack either side.
        lower, upper = np.float32(low + (found - 1.5) / scale), np.float32(low + (found + 1.5) / scale)
        below = int(np.count_nonzero(flat < lower))
        inside = flat[(flat >= lower) & (flat < upper)]
        if not below <= rank < below + inside.size or inside.size == flat.size:
            break
        flat, rank = inside, rank - below
    return float(np.partition(flat, rank)[rank])


def byte_quantile(values: Image, q: float) -> float:
    """`quantile` of uint8 values, from their histogram (counting is cheaper than a partial sort, and as exact)."""
    flat = values.ravel()
    position = q * (flat.size - 1)
    low = int(position)
    high = min(low + 1, flat.size - 1)
    running = np.cumsum(np.bincount(flat, minlength=256))
    below, above = (float(v) for v in np.searchsorted(running, (low + 1, high + 1)))
    return below + (above - below) * (position - low)


def quantile(values: Image, q: float) -> float:
    """`np.percentile(values, 100 * q)` (linear interpolation) by a partial sort, without np.percentile's overhead
    (tens of microseconds a call, on arrays of a few hundred values)."""
    flat = values.ravel()
    position = q * (flat.size - 1)
    low = int(position)
    high = min(low + 1, flat.size - 1)
    ordered = np.partition(flat, (low, high))
    below, above = float(ordered[low]), float(ordered[high])
    return below + (above - below) * (position - low)


def _chroma_noise(fine: Image) -> float:
    """Immerkaer (1996) noise sigma of the colour differences (blue and red less green) of a BGR uint8 picture, the
    larger: scene texture is weak there, sensor noise (independent per channel) is not. With `_flat_sigma` on the
    luminance's flattest half (where edges and texture count as little as possible) it is the sensor noise; a scene
    textured all over (a yard of grass or gravel filling the frame) has no flat half: there the luminance noise's
    scaling at half the width tells (`Features.noise_scaling`), since halving the picture halves white noise but not
    texture a pixel or two across."""
    # OpenCV primitives throughout (the sums of absolute values are cv2.norm L1).
    blue, green, red = cv2.split(fine)
    sums = [cv2.norm(_immerkaer(cv2.subtract(other, green, dtype=cv2.CV_16S)), cv2.NORM_L1) for other in (blue, red)]
    return float(_SIGMA * max(sums) / float(fine.shape[0] * fine.shape[1]))


def _flat_sigma(g: Image, gradients: tuple[Image, Image]) -> float:
    """Immerkaer's noise sigma of a grey uint8 picture over its flattest half (Sobel gradient below the median)."""
    response = _immerkaer(g)[1:-1, 1:-1]
    gradient = cv2.add(cv2.convertScaleAbs(gradients[0]), cv2.convertScaleAbs(gradients[1]))[1:-1, 1:-1]
    # The median gradient from every 4th pixel in each direction: as good a split and 16 times cheaper. (An integer
    # above the median is above its floor, which is what cv2.threshold compares uint8 with: exact, and a NumPy
    # comparison's time.)
    _, flattest = cv2.threshold(gradient, byte_quantile(gradient[::4, ::4], 0.5), 255, cv2.THRESH_BINARY_INV)
    count = cv2.countNonZero(flattest)
    return float(_SIGMA * cv2.norm(response, cv2.NORM_L1, flattest) / count) if count else 0.0


# Immerkaer's kernel [[1, -2, 1], [-2, 4, -2], [1, -2, 1]] is the outer product of [1, -2, 1] with itself: applied as
# two 3-tap passes it is exact and four times cheaper than the 3x3 filter.
_IMMERKAER_1D = np.array([1, -2, 1], dtype=np.float32)


def _immerkaer(values: Image) -> Image:
    # Integer in, integer out: int16 is exact (at most 16 x 510 from colour differences) and sums faster than float.
    response: Image = cv2.sepFilter2D(values, cv2.CV_16S, _IMMERKAER_1D, _IMMERKAER_1D)
    return response


_SIGMA = math.sqrt(math.pi / 2) / 6.0


def _spectrum_peaks(g: Image, mean: float, th: Thresholds) -> tuple[Image, list[tuple[float, int, int]]]:
    """Log spectrum over its local ring background, and its isolated peaks that are not part of a harmonic series.

    Interference bars are a sinusoid: one sharp peak (and its mirror). Periodic scenes (brick courses, lines of text)
    have peaks too, but at several multiples of one frequency, in one direction: those are left out.
    """
    height, width = g.shape
    window = _hann(height, width)
    windowed = (g - mean) * window
    if height % 2 or width % 2:  # (a picture of another shape than 16:9 can come out odd)
        planes = cv2.dft(windowed, flags=cv2.DFT_COMPLEX_OUTPUT)[:, : width // 2 + 1]
        magnitude = cv2.magnitude(np.ascontiguousarray(planes[..., 0]), np.ascontiguousarray(planes[..., 1]))
    else:
        magnitude = _half_magnitude(cv2.dft(windowed))
    shifted: Image = np.fft.fftshift(magnitude, axes=0)
    spectrum = cv2.log(cv2.add(shifted, 1e-3))  # (within 1e-6 of np.log, in a third of its time)
    outer = cv2.blur(spectrum, (15, 15), borderType=cv2.BORDER_REFLECT) * 225.0
    inner = cv2.blur(spectrum, (5, 5), borderType=cv2.BORDER_REFLECT) * 25.0
    residual = spectrum - (outer - inner) / 200.0
    fy, fx = _frequencies(height, residual.shape[1])
    # Leave out the lowest frequencies (scene layout) and the highest (JPEG blocks, pixel-level noise).
    # (Multiplied by a cached 0/1 mask: a boolean assignment took 0.05 ms. What is left out becomes 0 or -0, alike to
    # every comparison below.)
    np.multiply(residual, _band(height, residual.shape[1]), out=residual)
    maxima = (residual == cv2.dilate(residual, _PEAK_KERNEL)) & (residual >= th.stripes_candidate)
    # (np.nonzero of a 2-D mask took 0.07 ms; the flat indices, split, are the same in the same order.)
    ys, xs = np.divmod(np.flatnonzero(maxima), maxima.shape[1])
    values = residual[ys, xs]
    # The 12 highest, ties by row then column, highest first (one sort in NumPy, not a sort of Python tuples).
    order = np.lexsort((xs, ys, values))[::-1][:12]
    found = [(float(values[k]), int(ys[k]), int(xs[k])) for k in order]
    # Each peak's frequency vector and its length, once (as Python floats: the pairs below are up to 144).
    vectors = [(float(fy[y, x]), float(fx[y, x])) for _, y, x in found]
    lengths = [math.hypot(*v) for v in vectors]
    isolated = []
    for (value, y, x), v, r in zip(found, vectors, lengths, strict=True):
        series = False
        for (value2, _, _), w, r2 in zip(found, vectors, lengths, strict=True):
            same_line = abs(v[0] * w[1] - v[1] * w[0]) / (r * r2) < 0.05
            # A peak far above every other one in its direction is bars laid over a periodic scene.
            if same_line and abs(r2 - r) > 0.2 * r and value2 >= value - 1.0:
                series = True
                break
        if not series:
            isolated.append((value, y, x))
    return residual, isolated


def _half_magnitude(packed: Image) -> Image:
    """The magnitude of a real picture's 2-D spectrum, columns 0 to width / 2 (the rest mirrors them), from cv2.dft's
    packed (CCS) output: a third cheaper than asking for the complex output. Even height and width only (the working
    size, 320x180). In CCS the inner columns come in (real, imaginary) pairs; the first and last are themselves
    packed down the rows: the DC and middle rows real, then (real, imaginary) pairs, the lower half the mirror of the
    upper."""
    height, width = packed.shape
    magnitude = np.empty((height, width // 2 + 1), np.float32)
    magnitude[:, 1 : width // 2] = cv2.magnitude(
        np.ascontiguousarray(packed[:, 1 : width - 1 : 2]), np.ascontiguousarray(packed[:, 2 : width - 1 : 2])
    )
    for column, source in ((0, 0), (width // 2, width - 1)):
        values = packed[:, source]
        inner = np.hypot(values[1 : height - 1 : 2], values[2 : height - 1 : 2])
        magnitude[0, column], magnitude[height // 2, column] = abs(values[0]), abs(values[height - 1])
        magnitude[1 : height // 2, column] = inner
        magnitude[height // 2 + 1 :, column] = inner[::-1]
    return magnitude


def _harmonic_level(residual: Image, y: int, x: int) -> float:
    """The highest spectrum residual near half, a third, twice and three times the peak's frequency.

    Interference is a sinusoid: nothing at its multiples or fractions. Windows, railings, brick and tiles are bars and
    edges, whose profile puts energy at the multiples of the pattern's frequency (the peak found may be either).
    """
    height, columns = residual.shape
    fy, fx = _frequencies(height, columns)
    v = (float(fy[y, x]), float(fx[y, x]))
    level = 0.0
    for k in (0.5, 1.0 / 3.0, 2.0, 3.0):
        ky, kx = v[0] * k, v[1] * k
        if not 0.02 <= math.hypot(ky, kx) <= 0.45:
            continue  # the lowest frequencies are the scene's layout; beyond 0.45 the multiple aliases
        row, col = round(ky * height) + height // 2, round(kx * 2 * (columns - 1))
        patch = residual[max(0, row - 1) : row + 2, max(0, col - 1) : col + 2]
        if patch.size:
            level = max(level, float(patch.max()))
    return level


def periodic_spread(grey: Image, y: int, x: int) -> tuple[float, float]:
    """How evenly the frequency of spectrum bin (y, x) is spread over the picture: the share of grid cells whose
    local amplitude of it (demodulated) is at least a third of the strong cells', and the median amplitude.

    Interference is laid over the whole picture, sky and walls included; windows, railings and brick are where the
    building is. Measured only for a candidate without a reference (a few frames), at the working size.
    """
    g = grey.astype(np.float32)
    height, width = g.shape
    fy, fx = _frequencies(height, width // 2 + 1)
    f = (float(fy[y, x]), float(fx[y, x]))
    radius = max(math.hypot(*f), 1e-3)
    # Take away the local mean at about the period's scale (it would leak into the demodulation), keep the bars.
    high = g - cv2.GaussianBlur(g, (0, 0), 0.5 / radius)
    yy, xx = _grid(height, width)
    phase = 2 * math.pi * (f[0] * yy + f[1] * xx)
    real = cells(high * np.cos(phase), GRID).mean(axis=1)
    imag = cells(high * np.sin(phase), GRID).mean(axis=1)
    amplitude = 2 * np.hypot(real, imag)
    strong = quantile(amplitude, 0.75)
    share = float(np.count_nonzero(amplitude >= strong / 3.0)) / amplitude.size if strong > 0 else 0.0
    return share, quantile(amplitude, 0.5)


@lru_cache(maxsize=4)
def _grid(height: int, width: int) -> tuple[Image, Image]:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return yy, xx


@lru_cache(maxsize=8)
def _hann(height: int, width: int) -> Image:
    # Constant per frame size; cached because building it costs as much as the FFT.
    return np.outer(np.hanning(height), np.hanning(width)).astype(np.float32)


_PEAK_KERNEL = np.ones((5, 5), np.uint8)


@lru_cache(maxsize=8)
def _band(height: int, columns: int) -> Image:
    """1 inside the band the peaks are looked for in, 0 outside, float32."""
    fy, fx = _frequencies(height, columns)
    radius = np.hypot(fy, fx)
    inside: Image = ((radius >= 0.03) & (radius <= 0.4)).astype(np.float32)
    return inside


@lru_cache(maxsize=8)
def _frequencies(height: int, columns: int) -> tuple[Image, Image]:
    yy, xx = np.mgrid[0:height, 0:columns].astype(np.float32)
    return (yy - height // 2) / height, xx / (2 * (columns - 1))


class _ReferenceCache:
    """Features of recently seen reference frames, keyed by their content (a camera's reference rarely changes, and
    measuring it is half the cost of a check). Keyed by a digest of the pixels, so `diagnose` stays a pure function."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.entries: OrderedDict[tuple[bytes, tuple[int, ...], Thresholds], Features] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, image: Image, th: Thresholds) -> Features:
        # Every 8th pixel of every 8th row (80x45 of a 640x360 frame): a camera picture's sensor noise and detail
        # make this as unique as the whole, and copying and hashing it costs a tenth of every other pixel's (which
        # took 0.4 ms of each check).
        pixels = np.ascontiguousarray(image[::8, ::8])
        key = (hashlib.blake2b(pixels.data, digest_size=16).digest(), image.shape, th)
        with self.lock:
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
                return found
        features = measure(image, th).settle()
        with self.lock:
            self.entries[key] = features
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        return features


_EMPTY = np.zeros((0, 0), np.uint8)
_REFERENCES = _ReferenceCache()


def reference_measure(image: Image, th: Thresholds) -> Features:
    return _REFERENCES.get(image, th)
