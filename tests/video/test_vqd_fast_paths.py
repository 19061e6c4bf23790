"""The picture diagnosis's fast paths give what the plain NumPy they replaced gives: exact order statistics, cell
statistics and table lookups, and the same labels whether or not the reference's features are already cached."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from video.compare import _log1p, median, structure
from video.diagnosis import diagnose
from video.measures import (
    _SIGMA,
    _band,
    _flat_sigma,
    _frequencies,
    _half_magnitude,
    _immerkaer,
    _sobel,
    _top,
    byte_quantile,
    cell_stats,
    cell_sums,
    cells,
    quantile,
)


@pytest.mark.parametrize("size", [1, 2, 3, 10, 101, 1000, 43200])
def test_order_statistics_match_numpy(size: int) -> None:
    rng = np.random.default_rng(size)
    values = rng.normal(50, 20, size).astype(np.float32)
    levels = rng.integers(0, 256, size).astype(np.uint8)
    for q in (0.0, 0.05, 0.5, 0.9, 0.99, 1.0):
        assert quantile(values, q) == pytest.approx(float(np.percentile(values, 100 * q)), rel=1e-6, abs=1e-6)
        assert byte_quantile(levels, q) == pytest.approx(float(np.percentile(levels, 100 * q)), abs=1e-9)
    for share in (0.96, 0.99, 0.995):
        rank = int(share * (size - 1))
        assert _top(values, share) == float(np.sort(values)[rank])


def test_the_top_share_is_exact_when_the_sample_misleads() -> None:
    # Every value the every-8th sample sees is large and all the others are 0: the bound it gives leaves too few
    # candidates for the top half percent, and the whole array is sorted instead (the bound is checked, not trusted).
    values = np.zeros(8000, np.float32)
    values[::8] = np.arange(1000, dtype=np.float32) + 1.0
    for share in (0.96, 0.99, 0.995):
        assert _top(values, share) == float(np.sort(values)[int(share * (values.size - 1))])


def test_cell_statistics_match_a_numpy_reduction() -> None:
    rng = np.random.default_rng(1)
    picture = cv2.GaussianBlur(rng.uniform(0, 255, (180, 320)).astype(np.float32), (0, 0), 2.0)
    for grid in ((8, 6), (16, 9), (8, 4)):
        means, stds = cell_stats(picture, grid)
        blocks = cells(picture, grid)
        np.testing.assert_allclose(means, blocks.mean(axis=1), rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(stds, blocks.std(axis=1), rtol=1e-3, atol=1e-2)


def test_log_table_is_the_logarithm() -> None:
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(_log1p(grey), np.log1p(grey.astype(np.float32)))


def test_a_cached_reference_gives_the_same_diagnosis() -> None:
    rng = np.random.default_rng(2)
    reference = cv2.GaussianBlur(rng.uniform(0, 255, (360, 640, 3)).astype(np.float32), (0, 0), 1.5).astype(np.uint8)
    frame = np.clip(reference.astype(np.int16) + rng.integers(-3, 4, reference.shape), 0, 255).astype(np.uint8)
    first = diagnose(frame, reference, reference.copy())
    again = diagnose(frame, reference, reference.copy())
    assert first == again


def test_uint8_cell_reductions_match_numpy() -> None:
    rng = np.random.default_rng(3)
    for shape in ((360, 640), (361, 643), (100, 170)):
        picture = rng.integers(0, 4, shape).astype(np.uint8)  # small differences, as two frames' give
        for grid in ((16, 9), (8, 6)):
            blocks = cells(picture, grid)
            np.testing.assert_array_equal(cell_sums(picture, grid), blocks.sum(axis=1, dtype=np.int64))


def test_flat_sigma_matches_a_numpy_comparison() -> None:
    rng = np.random.default_rng(4)
    grey = cv2.GaussianBlur(rng.uniform(0, 255, (270, 640)).astype(np.float32), (0, 0), 1.0)
    grey = np.clip(grey + rng.normal(0, 3, grey.shape), 0, 255).astype(np.uint8)
    gradients = _sobel(grey)
    response = _immerkaer(grey)[1:-1, 1:-1].astype(np.float64)
    gradient = cv2.add(cv2.convertScaleAbs(gradients[0]), cv2.convertScaleAbs(gradients[1]))[1:-1, 1:-1]
    flattest = gradient <= byte_quantile(gradient[::4, ::4], 0.5)
    plain = _SIGMA * float(np.abs(response[flattest]).sum()) / int(flattest.sum())
    assert _flat_sigma(grey, gradients) == pytest.approx(plain, rel=1e-12)


def test_the_top_share_is_exact_with_many_ties() -> None:
    # A black frame's gradients: nearly all 0, a few hundred distinct levels above (the histogram narrows twice).
    rng = np.random.default_rng(5)
    values = np.zeros(43200, np.float32)
    values[rng.choice(values.size, 1500, replace=False)] = np.sqrt(rng.integers(1, 5000, 1500)).astype(np.float32)
    for share in (0.9, 0.96, 0.99, 0.995):
        assert _top(values, share) == float(np.sort(values)[int(share * (values.size - 1))])
    spread = (np.sqrt(rng.integers(0, 3000, 43200)) / 8.0).astype(np.float32)  # few distinct values, as gradients
    for share in (0.5, 0.96, 0.995):
        assert _top(spread, share) == float(np.sort(spread)[int(share * (spread.size - 1))])


def test_row_profile_matches_numpy() -> None:
    rng = np.random.default_rng(6)
    for shape in ((180, 320), (181, 325)):
        grey = rng.integers(0, 256, shape).astype(np.uint8)
        log = np.log1p(grey.astype(np.float32))
        width = shape[1] // 8
        expected = log[:, : 8 * width].reshape(shape[0], 8, width).mean(axis=2)
        np.testing.assert_allclose(structure(grey, full=False).rows, expected, rtol=1e-6, atol=1e-6)


def test_flat_indices_split_like_nonzero() -> None:
    # The spectrum's peak positions (video/measures.py _spectrum_peaks) come from flat indices split by the width.
    rng = np.random.default_rng(7)
    for density in (0.0, 0.001, 0.3):
        mask = rng.random((180, 161)) < density
        ys, xs = np.divmod(np.flatnonzero(mask), mask.shape[1])
        expected = np.nonzero(mask)
        np.testing.assert_array_equal(ys, expected[0])
        np.testing.assert_array_equal(xs, expected[1])


@pytest.mark.parametrize("size", [1, 2, 7, 10, 48])
def test_median_is_numpys(size: int) -> None:
    rng = np.random.default_rng(size)
    for values in (rng.lognormal(5, 2, size), rng.integers(0, 5, size).astype(np.float64)):
        assert median(values) == float(np.median(values))


def test_band_mask_multiplication_equals_the_assignment() -> None:
    height, columns = 180, 161
    fy, fx = _frequencies(height, columns)
    radius = np.hypot(fy, fx)
    residual = np.random.default_rng(8).normal(0, 3, (height, columns)).astype(np.float32)
    plain = residual.copy()
    plain[(radius < 0.03) | (radius > 0.4)] = 0.0
    fast = residual * _band(height, columns)
    np.testing.assert_array_equal(fast, plain)  # (-0 equals 0)
    assert np.array_equal(
        fast == cv2.dilate(fast, np.ones((5, 5), np.uint8)), plain == cv2.dilate(plain, np.ones((5, 5), np.uint8))
    )


@pytest.mark.parametrize("shape", [(180, 320), (8, 6), (90, 160)])
def test_the_packed_spectrum_gives_the_complex_one(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(4)
    picture = rng.normal(0, 30, shape).astype(np.float32)
    planes = cv2.dft(picture, flags=cv2.DFT_COMPLEX_OUTPUT)[:, : shape[1] // 2 + 1]
    expected = np.hypot(planes[..., 0], planes[..., 1])
    np.testing.assert_allclose(_half_magnitude(cv2.dft(picture)), expected, rtol=1e-5, atol=1e-3)


def test_a_healthy_frame_reports_every_measurement_and_a_fault_those_it_was_decided_on() -> None:
    # The later measures are taken only when a check gets to them: a healthy frame gets to all of them.
    rng = np.random.default_rng(5)
    reference = cv2.GaussianBlur(rng.uniform(0, 255, (360, 640, 3)).astype(np.float32), (0, 0), 2.0).astype(np.uint8)
    frame = np.clip(reference.astype(np.int16) + rng.integers(-3, 4, reference.shape), 0, 255).astype(np.uint8)
    every = {"mean", "stripes_peak", "noise", "chroma_noise", "chroma", "highlight_chroma", "sharpness"}
    against = diagnose(frame, None, reference)
    assert against.ok, against.metrics
    assert every | {"stripes_gain", "chroma_shift", "blur_ratio", "cells_agreeing"} <= set(against.metrics)
    alone = diagnose(frame)
    assert alone.ok, alone.metrics
    assert every | {"noise_scaling", "white_noise", "neutral_chroma", "edge_slope", "stripes_spread"} <= set(
        alone.metrics
    )
    black = diagnose(np.zeros((360, 640, 3), np.uint8))
    assert str(black.labels[0]) == "black"
    assert "mean" in black.metrics
    assert "noise" not in black.metrics
    assert "sharpness" not in black.metrics
