"""Picture diagnosis: a pure function from one camera frame (plus its previous and reference frames) to labels.

`decode` reads a 1280x720 JPEG at half size (DCT scaling); the measurements (video/measures.py) are taken on a 320 px
copy, sensor noise (on the middle half across), edge widths and the comparison with the previous frame on the 640 px
one. A measurement is taken only when a check gets to it (edge widths, for one, only without a reference, and the
spectrum, noise, colour and sharpness only if no earlier check decided), so the metrics of a fault are those its
decision and the checks before it looked at; a healthy frame has them all. The checks, in the order decided:

- `no_signal`: nothing decodable, or a screen: nearly all pixels in a few exactly flat colours; or, with the noise of
  an analogue path, one uniform colour with a caption on it (or the classic blue), or colour bars.
- `black`: nearly every pixel near 0, no structure and no caption, not even small print (a lens cap, a dead sensor).
- `frozen`: the previous frame is pixel-identical in most of a 16x9 grid (only the burned-in clock changed): a live
  camera always has sensor noise, so exact equality is the signal, and a static scene with noise is not frozen; or
  re-encoded by a recorder: the median textured cell changed less than fresh sensor noise changes it, or (when that
  is ambiguous: a lower quality changes as much) the previous frame's JPEG block means, requantised with the current
  frame's DC step, match the current frame's in nearly every block.
- `bright` / `dark`: clipped or high / low luminance, on absolute levels (a camera at dusk is darker than its
  daytime reference and sound); without a reference, a dark frame must also lack highlights (a night scene has
  lights).
- `occlusion`: cells that lost their texture (or plain cells that changed brightness) where the reference had it,
  while the rest still looks like the reference, or (video/compare.py) cells whose edges no longer agree with the
  reference's and lost their fine detail while what still agrees stayed sharp (a cover right in front of the lens
  is far out of focus: leaves, cloth, a hand); without a reference, uniform all over, or one uniform surface
  without even fine texture beside textured picture that is not the scene's own background: not darkness (a night
  sky), not a layer from edge to edge with a level border (sky, a wall, a ceiling above; ground, a floor below).
- `scene_change`: phase correlation finds one clear shift of the whole picture (moved; also against the previous
  frame when there is no reference), or fewer than `same_scene_cells` of the reference's textured cells agree in
  gradient orientation (gain-invariant: dusk, clouds and the IR switch keep the edges; a passer-by is a few cells).
- `stripes`: an isolated peak of the 2-D spectrum (interference bars in any direction) that is not one of a
  harmonic series (brick courses, lines of text) and, with a reference, not in the reference and with interference's
  amplitude over the picture (a dim reference hardly shows a facade that dusk or the IR lamp brings out); without one,
  it must also be a sinusoid (nothing at its fractions or multiples, where windows, railings and tiles have their
  energy) spread evenly over the whole picture, sky and walls included. Rolling horizontal bands: a periodic
  component of the row profile that every column strip shares (against the reference's profile; alone, without
  harmonics and in phase over the picture).
- `noise`: Immerkaer noise sigma of the luminance (flattest half of the pixels) or of the colour differences;
  without a reference only the white part of the luminance's counts (white noise halves when the picture is halved,
  the fine texture of grass and gravel does not).
- `color_cast`: with a reference, the mean Lab (a, b) moved and the highlights are tinted, keeping most of the
  reference's highlight colour (dusk fades colours, an IR picture has none); without one, even the most neutral
  mid-tones are coloured and the highlights more so (a lawn filling the frame is one colour all over).
- `blur`: fine detail over mid-band contrast in the textured cells (so exposure and plain scenes do not matter),
  median over cells and leaving out the top and bottom bands where OSD text sits, so a crisp clock on a blurred
  picture does not make it look sharp; against the reference's own value. Without one: the strongest edges are
  wide (their gradient over their local range, at 640 px) and the fine-detail measure is low too.

One label per frame, the most specific (scoring is exact-match on the set, and one cause usually explains the
rest): stripes fake noise and blur measures, noise fakes sharpness, a cast changes how channels mix into grey.
A fault opens only after several consecutive failing checks: that counting is the caller's (the scheduler's) job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from video.compare import Agreement, agreement, band_spread, band_strength, structure
from video.labels import Label
from video.measures import (
    FINE_WIDTH,
    GRID,
    Features,
    Image,
    cell_stats,
    cell_sums,
    measure,
    periodic_spread,
    prepare,
    quantile,
    reference_measure,
    small,
)
from video.thresholds import Thresholds

__all__ = ["Diagnosis", "Label", "Thresholds", "decode", "diagnose", "prepare"]


@dataclass(frozen=True)
class Diagnosis:
    """The labels of one check and the measurements behind them."""

    labels: tuple[Label, ...]
    metrics: dict[str, float]

    @property
    def ok(self) -> bool:
        return self.labels == (Label.HEALTHY,)

    def as_json(self) -> dict[str, Any]:
        return {"labels": [str(label) for label in self.labels], "metrics": dict(self.metrics)}


def decode(data: bytes) -> Image | None:
    """Decode JPEG/PNG bytes at half size (JPEG DCT scaling: a 1280x720 snapshot comes out 640x360, as cheap as a
    quarter-size decode); None if undecodable."""
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size == 0:
        return None
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_REDUCED_COLOR_2)
        if image is not None and image.shape[1] < FINE_WIDTH:
            # A small picture: decode at full size instead (reduced decoding would throw detail away).
            image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    except cv2.error:
        return None
    if image is None or image.size == 0:
        return None
    return image


def _frozen_share(diff: Image, th: Thresholds) -> float:
    """Share of 16x9 grid cells in which two frames are identical (their uint8 absolute difference `diff`, at
    FINE_WIDTH, within frozen_cell_diff everywhere in the cell): cells without a single pixel beyond it, counted per
    cell by `cell_sums` of the thresholded uint8 difference (cheaper than converting it to float first; cv2.reduce's
    maximum is not: it took 0.7 ms)."""
    _, beyond = cv2.threshold(diff, th.frozen_cell_diff, 1, cv2.THRESH_BINARY)
    return float(np.count_nonzero(cell_sums(beyond, (16, 9)) == 0)) / 144.0


def _change(diff: Image, g: Image, th: Thresholds) -> float:
    """The median over the textured 16x9 cells of the mean absolute grey difference `diff` (uint8, at FINE_WIDTH;
    inf: too little texture). Only textured cells (of the frame's float32 grey `g` at the working size: the scene's
    texture, not its noise): JPEG flattens sensor noise in plain ones (sky, a wall), where two live frames may come
    out alike."""
    shape = (16, 9)
    height, width = diff.shape[0] // shape[1], diff.shape[1] // shape[0]
    change = cell_sums(diff, shape) / float(height * width)
    spread = cell_stats(g, shape)[1]
    textured = spread >= th.change_texture_min
    if np.count_nonzero(textured) < 0.25 * textured.size:
        return math.inf
    return quantile(change[textured], 0.5)


def _block_dc(grey: Image) -> Image:
    """The JPEG DC coefficients (8 x the block mean, level-shifted) of a picture `decode` read at half size: each 4x4
    block of it is one 8x8 block of the JPEG, decoded from its DCT coefficients by DCT scaling, so its mean is the
    dequantised DC coefficient over 8 (give or take the rounding of the colour conversion)."""
    height, width = grey.shape[0] // 4 * 4, grey.shape[1] // 4 * 4
    means = cv2.resize(
        grey[:height, :width].astype(np.float32), (width // 4, height // 4), interpolation=cv2.INTER_AREA
    )
    dc: Image = means * 8.0 - 1024.0
    return dc


def _dc_step(dc: Image) -> int:
    """The DC quantisation step the frame was encoded with: the lattice its DC coefficients lie on most clearly beyond
    chance (a multiple of the step scores less: fewer values on it; a divisor too: chance covers more of it). Steps
    of 3 to 13, JPEG quality 60 to about 90 (finer steps requantise too little to tell anything)."""
    best, score = 1, 0.0
    for step in range(3, 14):
        ratio = dc / step
        excess = float(np.count_nonzero(np.abs(ratio - np.round(ratio)) * step <= 1.01)) / dc.size - 3.0 / step
        if excess > score:
            best, score = step, excess
    return best


def _requantised(grey: Image, before: Image) -> float:
    """Share of JPEG blocks whose DC coefficient differs from the previous frame's requantised with the current
    frame's step (grey uint8 at FINE_WIDTH, both). A recorder re-encoding the same picture requantises the same
    coefficients, which then match bar the odd rounding; fresh sensor noise moves a block mean across a step's
    boundary in a tenth of the blocks or more (a fifth, mostly), whatever the quality."""
    dc, previous = _block_dc(grey), _block_dc(before)
    step = _dc_step(dc)
    requantised = np.round(previous / step) * step
    return float(np.count_nonzero(np.abs(dc - requantised) > step / 2.0)) / dc.size


def _largest_patch(uniform: Image, cell_mean: Image, step: float) -> Image:
    """The largest 4-connected patch of uniform cells (rows x columns of the GRID) in which neighbours differ in
    brightness by at most `step`: one surface (a hand in front of the sky is not part of the sky)."""
    columns, rows = GRID
    means = cell_mean.reshape(rows, columns)
    free = uniform.reshape(rows, columns).copy()
    best = np.zeros((rows, columns), bool)
    for start in zip(*np.nonzero(free), strict=True):
        if not free[start]:
            continue
        patch = np.zeros((rows, columns), bool)
        stack = [start]
        free[start], patch[start] = False, True
        while stack:
            r, c = stack.pop()
            for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                if 0 <= nr < rows and 0 <= nc < columns and free[nr, nc]:
                    if abs(float(means[nr, nc]) - float(means[r, c])) <= step:
                        free[nr, nc], patch[nr, nc] = False, True
                        stack.append((nr, nc))
        if patch.sum() > best.sum():
            best = patch
    return best


def _background(uniform: Image, cell_mean: Image, th: Thresholds) -> bool:
    """Whether the largest patch of uniform cells (of the GRID) looks like part of the scene rather than something in
    front of the lens: too small on its own, darkness (a night sky, space), or a layer from the left edge to the right
    one: sky, a wall or a ceiling at the top and brighter than the rest, ground or a floor at the bottom and darker."""
    patch = _largest_patch(uniform, cell_mean, th.patch_step)
    if not patch.any():
        return True
    if float(patch.mean()) < th.occluded_cells_min_no_reference:
        return True
    flat = patch.ravel()
    region = float(cell_mean[flat].mean())
    if region < th.dark_region_mean:
        return True
    rest = float(cell_mean[~flat].mean())
    # A layer runs from the left edge to the right one (an occluder enters from one side; the OSD clock may hide a
    # corner of the top or bottom row, so the two outer rows count).
    across = bool(patch[:, 0].any() and patch[:, -1].any())
    # ... with a roughly level edge: an occluder is a blob, reaching much further into the frame in the middle
    # columns than at the two sides.
    depth = patch.sum(axis=0).astype(np.float32)
    middle = GRID[0] // 2
    across &= float(depth[middle - 2 : middle + 2].mean() - (depth[0] + depth[-1]) / 2) < th.layer_dome_max
    sky = across and bool(patch[:2].any()) and not patch[-1].any() and region >= rest
    ground = across and bool(patch[-2:].any()) and not patch[0].any() and region <= rest
    return sky or ground


def _white_noise(sigma: float, scaling: float, texture_scaling: float) -> float:
    """The white-noise part of a noise estimate `sigma` that measures `scaling` times as much at half the width.

    Both are noise and texture added in quadrature: s^2 = w^2 + t^2 at full width, (s * scaling)^2 = w^2 / 4 + (k t)^2
    at half, with white noise halving and texture scaling by k, taken as the least a texture does (`texture_scaling`)
    so that texture alone comes out at about 0 and white noise alone at `sigma`.
    """
    k2 = texture_scaling * texture_scaling
    return math.sqrt(max(0.0, sigma * sigma * (k2 - scaling * scaling) / (k2 - 0.25)))


def _view(agree: Agreement, cur: Features, ref: Features, th: Thresholds, m: dict[str, float]) -> str:
    """What the frame shows against the reference: "same" scene (whatever the light; a passer-by leaves most cells
    agreeing), "moved" (one clear shift explains it), "covered" (the cells that disagree lost their fine detail: an
    object right in front of the lens is far out of focus) or "other" (another scene, in focus)."""
    textured = agree.textured
    judged = max(1, int(textured.sum()))
    agreeing = textured & (agree.cells >= th.cell_agreement_min)
    m["orientation_agreement"] = agree.overall
    m["cells_agreeing"] = share = float(agreeing.sum()) / judged
    m["shift"] = shift = math.hypot(*agree.shift)
    m["shift_response"] = agree.response
    disagreeing = int((textured & ~agreeing).sum())
    if shift >= th.moved_shift and agree.response >= th.moved_response:
        return "moved"
    # Covered first: a cover over a third of the picture leaves the rest agreeing, as a passer-by does, but what
    # disagrees is out of focus. (Only if enough cells disagree to be soft_cells_min of them: else the fine detail,
    # a tenth of a healthy check's time, is not needed.)
    if float(disagreeing) / judged >= th.soft_cells_min:
        # Out of focus: the fine detail gone. (Plain cells, a uniform hand or cloth, are the texture-lost rule's.)
        softened = cur.fine_detail < th.soft_ratio * ref.fine_detail
        soft = textured & ~agreeing & softened
        # ... while what still agrees kept its fine detail (a blurred picture agrees, and is soft all over).
        # (A handful of agreeing cells is chance: an occluder's own edges.)
        sharp_rest = share < 0.15 or float((agreeing & ~softened).sum()) >= 0.5 * float(agreeing.sum())
        m["soft_cells"] = soft_share = float(soft.sum()) / judged
        if (
            soft_share >= th.soft_cells_min
            and float(soft.sum()) >= th.soft_disagreeing_min * disagreeing
            and sharp_rest
        ):
            return "covered"
    if share >= th.same_scene_cells:
        return "same"
    # Aligned with the reference at zero shift, yet the edges disagree: something laid over the same scene (bars).
    if shift < 1.0 and agree.response >= th.aligned_response:
        return "same"
    return "other"


def _correlation(cur: Features, ref: Features, m: dict[str, float]) -> float:
    """How well the coarse (64x36) pictures correlate: a translucent layer over the reference's scene still does."""
    m["scene_correlation"] = correlation = float((cur.thumb * ref.thumb).sum())
    return correlation


def _strong_enough(cur: Features, y: int, x: int, th: Thresholds, m: dict[str, float]) -> bool:
    """Whether the frequency of spectrum bin (y, x) has interference's amplitude over the picture (the median
    cell's, `periodic_spread`, against the threshold of the check without a reference). Not its spread as well:
    rolling bands are a gain, faint over the dark parts of a picture."""
    m["stripes_spread"], m["stripes_amplitude"] = periodic_spread(cur.grey, y, x)
    return m["stripes_amplitude"] >= th.stripes_amplitude_min


def _interference(cur: Features, th: Thresholds) -> float:
    """Without a reference: the spread over the grid (0-1) of the best spectrum peak that looks like interference,
    i.e. high, a sinusoid (no harmonics) and strong enough; 0 when there is none."""
    best = 0.0
    for (value, y, x), harmonic in zip(cur.peaks, cur.harmonics, strict=True):
        if value >= th.stripes_peak_min and harmonic < th.stripes_harmonic_max:
            spread, amplitude = periodic_spread(cur.grey, y, x)
            if amplitude >= th.stripes_amplitude_min:
                best = max(best, spread)
    return best


def diagnose(
    frame: Image | None,
    previous: Image | None = None,
    reference: Image | None = None,
    thresholds: Thresholds = Thresholds(),  # noqa: B008 - frozen dataclass, safe as a default
) -> Diagnosis:
    """Labels for `frame` (None: no picture) given the camera's previous frame and its known-good reference."""
    th = thresholds
    if frame is None or min(frame.shape[:2], default=0) < 16:  # nothing, or no picture a camera would send
        return Diagnosis((Label.NO_SIGNAL,), {})
    cur = measure(frame, th)
    # The measurements each decision is taken on; those taken only when a check gets that far are added there.
    m: dict[str, float] = {
        "mean": cur.mean,
        "black_share": cur.black_share,
        "clipped_share": cur.clipped_share,
        "flat_share": cur.flat_share,
        "highlights": cur.highlights,
        "plain_cells": cur.plain,
        "bar_columns": cur.bars,
    }

    def done(*labels: Label) -> Diagnosis:
        # Finite values only: the metrics go out as JSON, which has no NaN.
        return Diagnosis(labels or (Label.HEALTHY,), {k: round(v, 4) for k, v in m.items() if math.isfinite(v)})

    if (
        cur.black_share >= th.black_share_min
        and cur.caption_share <= th.black_caption_max
        and cur.detail < th.black_detail
    ):
        return done(Label.BLACK)
    synthetic = cur.flat_share >= th.synthetic_flat_min and cur.colours_cover >= th.synthetic_colours_cover_min
    if cur.flat_share >= th.synthetic_flat_min:
        m["colours_cover"] = cur.colours_cover
    if synthetic and cur.mean < th.bright_mean:  # a flat white frame is blown out, not a screen
        return done(Label.NO_SIGNAL)
    if cur.bars >= th.screen_share_min and float(np.std(cur.cell_mean)) >= th.bars_contrast_min:
        return done(Label.NO_SIGNAL)  # colour bars, with the noise of an analogue path
    if cur.plain >= th.screen_share_min and (
        cur.chroma[1] <= th.screen_blue_b or cur.caption_share > th.caption_share_max
    ):
        # One uniform colour nearly everywhere, and a caption on it or the classic blue: a screen, with the noise of
        # an analogue path. Without either it is judged below (something in front of the lens, or a dark scene).
        return done(Label.NO_SIGNAL)

    before = cv2.cvtColor(prepare(previous), cv2.COLOR_BGR2GRAY) if previous is not None and previous.size else None
    if before is not None and before.shape == cur.fine_grey.shape:
        diff = cv2.absdiff(cur.fine_grey, before)
        m["frozen_cells"] = _frozen_share(diff, th)
        if m["frozen_cells"] >= th.frozen_cells_min:
            return done(Label.FROZEN)
        # A recorder that repeats its last picture encodes it again: new bytes, but the only change left is the
        # requantisation, far below the fresh sensor noise of two live frames (the median cell, so the clock and a
        # passer-by do not count).
        m["change"] = _change(diff, cur.g, th)
        if m["change"] <= th.reencoded_change_max:
            return done(Label.FROZEN)
        if m["change"] <= th.requantised_change_max:
            # Live static scenes and repeats re-encoded at a low quality overlap here: requantising the previous
            # frame's block means with the current frame's step tells them apart (`_requantised`).
            m["requantised"] = _requantised(cur.fine_grey, before)
            if m["requantised"] <= th.requantised_max:
                return done(Label.FROZEN)
    elif before is not None:
        m["frozen_cells"], m["change"] = 0.0, math.inf

    ref = reference_measure(reference, th) if reference is not None and reference.size else None
    if ref is None and previous is not None and previous.size:
        # No reference yet: a camera knocked aside since the previous check still shows as one clear shift of the
        # whole picture (a passer-by or a change of light does not shift it).
        prev_grey = cv2.cvtColor(small(previous), cv2.COLOR_BGR2GRAY)
        moved = agreement(cur.structure, structure(prev_grey), th.moved_shift)
        m["previous_shift"], m["previous_shift_response"] = math.hypot(*moved.shift), moved.response
        if m["previous_shift"] >= th.moved_shift and moved.response >= th.moved_response:
            return done(Label.SCENE_CHANGE)
    if ref is not None:
        m["reference_mean"] = ref.mean
        gain = cur.mean / max(ref.mean, 1.0)
        # Where the edges are and which way they run, whatever the light: the same scene, moved, covered, or another.
        view = _view(agreement(cur.structure, ref.structure, th.moved_shift), cur, ref, th, m)
        # Dark on absolute luminance: a camera at dusk is darker than its daytime reference and still sound.
        too_dark = cur.mean < th.dark_mean_with_reference and gain < th.dark_ratio
        clipped = (
            cur.clipped_share >= th.bright_clipped_with_reference
            and cur.clipped_share >= ref.clipped_share + th.bright_clipped_gain
        ) or (cur.mean >= th.bright_mean and ref.mean < th.bright_mean - 20.0)
        brighter = gain >= th.bright_ratio and cur.mean >= th.bright_mean_with_reference and view == "same"
        # Occlusion: cells that lost their texture, allowing for an exposure change (texture scales with the gain).
        textured = ref.cell_std >= th.reference_texture_min
        expected = ref.cell_std * min(gain, 1.0)
        lost = textured & (cur.cell_std < th.uniform_ratio * expected)
        # Plain areas (sky, walls) cannot lose texture, but an occluder over them changes their brightness.
        covered = ~textured & (cur.cell_std < th.uniform_std)
        covered &= np.abs(cur.cell_mean - ref.cell_mean * gain) >= th.covered_mean_change
        judged = int(textured.sum()) + int(covered.sum())
        occluded = float(lost.sum() + covered.sum()) / max(1, judged)
        # What is not covered must still be the reference's scene; otherwise the camera looks somewhere else.
        rest = textured & ~lost
        # (The frame's gain is skewed by the occluder itself, so either the raw or the gain-corrected brightness.)
        alike = (np.abs(cur.cell_mean - ref.cell_mean) <= th.rest_mean_change) | (
            np.abs(cur.cell_mean - ref.cell_mean * gain) <= th.rest_mean_change
        )
        alike &= (cur.cell_std >= 0.5 * expected) & (cur.cell_std <= 2.0 * ref.cell_std * max(gain, 1.0))
        m["rest_alike"] = rest_alike = float((rest & alike).sum()) / max(1, int(rest.sum()))
        occlusion = view == "covered" or (
            judged >= 6
            and occluded >= th.occluded_cells_min
            and (
                occluded >= th.occluded_cells_most
                or (
                    view != "other"
                    and (rest_alike >= th.rest_alike_min or _correlation(cur, ref, m) >= th.occluded_correlation_min)
                )
            )
        )
        if view == "moved":
            return done(Label.SCENE_CHANGE)  # a clear shift explains the picture; what looks covered was moved out
    else:
        too_dark = (
            cur.mean < th.dark_mean
            and cur.highlights < th.dark_highlights
            and cur.highlights < th.dark_contrast_max * max(cur.mean, 1.0)
        )
        clipped = cur.clipped_share >= th.bright_clipped_min or cur.mean >= th.bright_mean
        brighter = False
        # Without a reference: a uniform blob next to clearly textured picture (or uniform all over), that is not the
        # scene's own plain background (sky, a wall, darkness).
        uniform = (cur.cell_std < th.uniform_std) & (cur.cell_fine_std < th.uniform_fine_std)
        occluded = float(uniform.mean())
        textured_share = float((cur.cell_std >= th.reference_texture_min).mean())
        occlusion = occluded >= th.occluded_cells_full or (
            occluded >= th.occluded_cells_min_no_reference
            and textured_share >= th.textured_rest_min
            and not _background(uniform, cur.cell_mean, th)
        )
        # A dark frame's cells look uniform in absolute terms; relative to its mean it keeps the scene's contrast,
        # where a surface in front of the lens has only some shading.
        if too_dark and cur.detail >= th.dark_relative_detail * cur.mean:
            occlusion = False
    m["occluded_cells"] = occluded
    # Clipping first (blown-out areas have lost their texture too), then occlusion (an occluder close to the lens
    # may be brighter than the scene), then a brighter or darker picture of the same scene.
    if clipped:
        return done(Label.BRIGHT)
    if occlusion:
        return done(Label.OCCLUSION)
    if brighter:
        return done(Label.BRIGHT)
    if too_dark:
        return done(Label.DARK)

    # One label, the most specific, so each check below is measured only if none before it decided: stripes and
    # noise each fake the other measures (fine detail, chroma spread). Against a reference a cast is the surer
    # finding (it changes how channels mix into grey, which can fake blur); without one, the chroma test is the
    # weaker (a red sunset) and blur goes first.
    m["bands"], m["band_coherence"], m["band_harmonics"], frequency = band_strength(
        cur.structure if ref is not None else cur.profile, ref.structure if ref is not None else None
    )
    m["stripes_peak"] = max((p[0] for p in cur.peaks), default=0.0)
    if ref is not None:
        # Against the reference the scene's own rows cancel out: what is left is the bands.
        bands = m["bands"] >= th.bands_with_reference and m["band_coherence"] >= th.bands_coherence_min
        # A new peak: one the reference does not have at that frequency, as strong as interference is (a brighter
        # picture than the reference, at dusk or in IR, brings out a faint pattern, a facade's rows of windows, that
        # the darker reference hardly had).
        if ref.spectrum.shape == cur.spectrum.shape:
            gains = sorted(((v - float(ref.spectrum[y, x]), y, x) for v, y, x in cur.peaks), reverse=True)
            candidates = [(y, x) for gain, y, x in gains if gain >= th.stripes_peak_gain]
            gained = gains[0][0] if gains else 0.0
        else:  # a reference of another shape: its spectrum cannot be compared bin by bin
            candidates = [(y, x) for v, y, x in cur.peaks if v >= th.stripes_peak_min]
            gained = 0.0
        stripes = any(_strong_enough(cur, y, x, th, m) for y, x in candidates)
        m["stripes_gain"] = gained
        if view == "other" and not stripes:
            return done(Label.SCENE_CHANGE)
    else:
        bands = m["bands"] >= th.bands_min and m["band_harmonics"] <= th.bands_harmonics_max
        if bands:
            m["band_spread"], m["band_local"] = band_spread(cur.grey, frequency)
            bands = m["band_spread"] >= th.bands_spread_min
        m["stripes_spread"] = spread = _interference(cur, th)
        stripes = spread >= th.stripes_spread_min
    if stripes or bands:
        return done(Label.STRIPES)

    m["noise"], m["chroma_noise"] = cur.noise, cur.chroma_noise
    if ref is not None:
        noisy = (
            cur.chroma_noise >= th.chroma_noise_sigma and cur.chroma_noise >= ref.chroma_noise * th.noise_ratio
        ) or (cur.noise >= ref.noise * th.noise_ratio + th.noise_add and cur.noise >= th.noise_sigma_with_reference)
    else:
        m["noise_scaling"] = cur.noise_scaling
        m["white_noise"] = white = _white_noise(cur.noise, cur.noise_scaling, th.texture_scaling_min)
        grainy = white >= th.noise_sigma or cur.noise >= th.noise_sigma_textured
        noisy = cur.chroma_noise >= th.chroma_noise_sigma or grainy
    if noisy:
        return done(Label.NOISE)

    if ref is not None:
        if _cast_against(cur, ref, th, m):
            return done(Label.COLOR_CAST)
        m["sharpness"] = cur.sharpness
        m["blur_ratio"] = cur.sharpness / ref.sharpness if ref.sharpness > 0 else 1.0
        return done(Label.BLUR) if m["blur_ratio"] < th.blur_ratio else done()
    if _blurred_alone(cur, th, m):
        return done(Label.BLUR)
    return done(Label.COLOR_CAST) if _cast_alone(cur, th, m) else done()


def _chroma_metrics(cur: Features, m: dict[str, float]) -> None:
    m["chroma"] = math.hypot(cur.chroma[0], cur.chroma[1])
    m["highlight_chroma"] = cur.chroma[3]


def _cast_against(cur: Features, ref: Features, th: Thresholds, m: dict[str, float]) -> bool:
    """A colour cast against the reference: it scales the channels, so it colours the highlights most (they keep at
    least most of the reference's colour); dusk fades colours, an IR picture has none."""
    _chroma_metrics(cur, m)
    m["chroma_shift"] = math.hypot(cur.chroma[0] - ref.chroma[0], cur.chroma[1] - ref.chroma[1])
    return (
        m["chroma_shift"] >= th.cast_shift
        and cur.chroma[3] >= th.cast_highlight_with_reference
        and cur.chroma[3] >= th.cast_highlight_kept * ref.chroma[3]
    )


def _cast_alone(cur: Features, th: Thresholds, m: dict[str, float]) -> bool:
    """A colour cast without a reference: even the most neutral mid-tones are coloured, the highlights more so."""
    _chroma_metrics(cur, m)
    m["neutral_chroma"] = cur.chroma[2]
    return (
        cur.chroma[2] >= th.cast_neutral_chroma
        and cur.chroma[3] >= th.cast_highlight_chroma
        and cur.chroma[3] >= cur.chroma[2] + th.cast_highlight_margin
    )


def _blurred_alone(cur: Features, th: Thresholds, m: dict[str, float]) -> bool:
    """Blur without a reference: it widens even the strongest edges (or, motion blur, those across one direction);
    a soft scene in focus keeps steep ones, or fine detail."""
    m["sharpness"] = cur.sharpness
    m["edge_slope"] = cur.edge_slope
    m["edge_slope_steepest"], m["edge_slope_across"] = steepest, across = cur.edge_slopes
    wide = 0.0 < cur.edge_slope < th.edge_slope_max and cur.sharpness < th.sharpness_soft
    streaked = 0.0 < across < th.streak_slope_max and steepest >= th.streak_ratio_min * across
    return (wide or streaked) and cur.textured_share > 0.0
