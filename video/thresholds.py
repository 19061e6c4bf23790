"""Every decision threshold of the picture diagnosis, in one frozen dataclass: apart from the diagnosis (which
re-exports it) so that the measurements (video/measures.py) can take it without importing the decisions."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    """Every decision threshold of `diagnose`; luminance values are 0-255 at the working size (320 px wide)."""

    # no_signal: share of pixels in exactly flat areas (|Laplacian| <= 1) and in the few dominant colours.
    synthetic_flat_min: float = 0.90
    synthetic_colours_cover_min: float = 0.90
    synthetic_colours_max: int = 16
    # black: share of pixels below black_level, and at most this share above caption_level outside the OSD bands
    # (a caption there, "NO SIGNAL", means a screen).
    black_level: float = 24.0
    black_share_min: float = 0.98
    caption_level: float = 100.0
    caption_share_max: float = 0.002
    # ... of which a black frame may have this much: a recorder's "no video" screen in small print has 0.0009.
    black_caption_max: float = 0.0005
    # ... and no structure left (low-pass standard deviation below this): a very dark frame with detail is `dark`.
    black_detail: float = 2.5
    # frozen: share of grid cells (16x9) identical to the previous frame (max abs difference <= frozen_cell_diff).
    frozen_cell_diff: float = 1.0
    frozen_cells_min: float = 0.70
    # ... or re-encoded: the median cell's mean absolute difference at 640 px at most this (two live frames of a
    # camera with sensor noise sigma 1-3 at 720p: 0.65-1.25 measured; a repeat re-encoded at quality 80-95: 0.2-0.55,
    # at 60-70: up to 1.2, which this misses).
    reencoded_change_max: float = 0.5
    # ... or, up to requantised_change_max, the previous frame requantised with the current one's DC step matches in
    # all but requantised_max of the blocks (`_requantised`; tuning cameras in that range: repeats re-encoded at
    # quality 60-95 0.005-0.08 but one at 0.24, live frames 0.11 (a chessboard in a plain scene) and otherwise 0.18
    # and up).
    requantised_change_max: float = 1.5
    requantised_max: float = 0.09
    change_texture_min: float = 8.0  # grey standard deviation of a cell that counts (a quarter of them needed)
    # no_signal with sensor noise: screen_share_min of the cells uniform and within screen_mean_spread of the median
    # cell's brightness, with a caption or blue (Lab b at most screen_blue_b); or that share of columns constant
    # top to bottom with cell brightness varying at least bars_contrast_min (colour bars).
    screen_share_min: float = 0.80
    screen_mean_spread: float = 4.0
    screen_blue_b: float = -30.0
    bars_contrast_min: float = 25.0
    # dark: mean luminance below dark_mean (without a reference), or below dark_ratio x the reference's mean and
    # below dark_mean_with_reference; bright: clipped share (>= 250) or mean above the limits, likewise.
    dark_mean: float = 45.0  # (55 read a camera at dusk, mean 50-55, as dark; underexposure is 14-35)
    dark_mean_with_reference: float = 45.0
    dark_ratio: float = 0.6
    # Without a reference an underexposed frame also has no highlights (its 99th percentile is below this); a night
    # scene has lights.
    dark_highlights: float = 120.0
    # ... nor highlights far above its mean: a night scene's lights are many times its mean, an underexposed
    # picture keeps its usual contrast, only lower.
    dark_contrast_max: float = 5.0
    dark_relative_detail: float = 0.25  # low-pass standard deviation over mean: a dark scene, not an occluder
    bright_clipped_min: float = 0.25
    bright_mean: float = 210.0
    # with a reference: clipped share at least bright_clipped_with_reference and bright_clipped_gain above the
    # reference's, or the mean up by bright_ratio and at least bright_mean_with_reference.
    bright_clipped_with_reference: float = 0.22
    bright_ratio: float = 1.4
    bright_mean_with_reference: float = 150.0
    bright_clipped_gain: float = 0.15
    # occlusion: a cell is uniform when its low-pass standard deviation is below uniform_std (or, against the
    # reference, below uniform_ratio x the reference cell's scaled by the exposure change, which must have had
    # reference_texture_min; a plain reference cell counts when it stays uniform but its brightness moves by
    # covered_mean_change); the share of such cells needed with a reference, and without one: occluded_cells_full, or
    # occluded_cells_min_no_reference with at least textured_rest_min of the cells clearly textured.
    uniform_std: float = 3.0
    uniform_ratio: float = 0.30
    reference_texture_min: float = 6.0
    occluded_cells_min: float = 0.20
    occluded_cells_min_no_reference: float = 0.35
    textured_rest_min: float = 0.25
    occluded_cells_full: float = 0.90
    covered_mean_change: float = 30.0
    # ... and, against a reference, rest_alike_min of the cells left uncovered must still look like the reference's
    # (brightness within rest_mean_change, texture within a factor of 2), unless occluded_cells_most are covered.
    rest_mean_change: float = 20.0
    rest_alike_min: float = 0.5
    occluded_cells_most: float = 0.75
    # ... or the coarse picture still correlates this well with the reference (a translucent layer, paint spray).
    occluded_correlation_min: float = 0.45
    # Without a reference a uniform cell must also lack fine texture (standard deviation at the working size, no
    # low-pass): grass and gravel lose theirs in the low-pass, an out-of-focus occluder has none. And the uniform
    # cells must not look like the scene's own background (`_background`): one connected patch of them (one surface:
    # neighbours within patch_step) as large as occluded_cells_min_no_reference, not darkness (a night sky: mean below
    # dark_region_mean), not a layer from edge to edge with a level border (sky, ceiling, ground, floor; a blob
    # reaches layer_dome_max rows further in the middle). With these, textured_rest_min could come down from 0.35.
    uniform_fine_std: float = 6.0
    patch_step: float = 15.0  # a sky's gradient changes less from cell to cell; a hand in front of it more
    dark_region_mean: float = 25.0
    layer_dome_max: float = 1.5
    # scene_change: correlation of the coarse (64x36) grey pictures below this; a darker or brighter picture against
    # a reference needs at least exposure_correlation_min (else it is another scene).
    exposure_correlation_min: float = 0.3
    scene_correlation_min: float = 0.80
    # stripes: an isolated spectrum peak (not one of a harmonic series) this far above its surroundings (log units),
    # candidates from stripes_candidate; against the reference, a candidate stripes_peak_gain above the reference's
    # spectrum at that frequency is enough.
    stripes_candidate: float = 2.0
    stripes_peak_min: float = 2.8
    stripes_peak_gain: float = 1.5
    # Without a reference, interference must also look like it: a sinusoid (its half, third, double and triple
    # frequencies below stripes_harmonic_max, where windows, railings, brick and tiles have theirs) spread over
    # stripes_spread_min of the grid cells, sky and walls included, with a median amplitude of stripes_amplitude_min.
    stripes_harmonic_max: float = 2.3
    stripes_spread_min: float = 0.9
    stripes_amplitude_min: float = 8.0
    # noise: estimated sigma (Immerkaer, at FINE_WIDTH) of the colour differences, or of the luminance on its flattest
    # half (where texture such as grass also counts, hence the higher bar); with a reference: above reference x ratio.
    chroma_noise_sigma: float = 4.0
    noise_sigma: float = 4.5
    # ... without a reference, the white part of it (`_white_noise`: sensor noise and impulses halve when the picture
    # is halved; fine texture, grass, gravel, keeps at least texture_scaling_min of its level, 1.3-3 measured), or
    # the whole of it when at least noise_sigma_textured (beyond any texture measured: 5.6 at most).
    texture_scaling_min: float = 1.3
    noise_sigma_textured: float = 8.0
    noise_sigma_with_reference: float = 2.5
    noise_ratio: float = 1.5
    noise_add: float = 1.0
    # color_cast: without a reference, the 5th percentile of mid-tone chroma at least cast_neutral_chroma (Lab units:
    # even the most neutral pixels are coloured) and the highlights' median chroma at least cast_highlight_chroma;
    # with a reference, the shift of the mean (a, b) from the reference's.
    cast_neutral_chroma: float = 15.0
    cast_highlight_chroma: float = 32.0
    # ... and the highlights more coloured than the mid-tones by cast_highlight_margin: a cast scales the channels, so
    # it colours bright neutrals most; a scene of one coloured material (a lawn filling the frame) is even all over.
    cast_highlight_margin: float = 4.0
    cast_shift: float = 8.0
    cast_highlight_kept: float = 0.8  # ... and at least this share of the reference's (dusk fades them)
    cast_highlight_with_reference: float = 20.0  # Lab chroma of the highlights (a cast's: 33-77; dusk's: 13 at most)
    # blur: with a reference, sharpness (fine over mid-band contrast) below blur_ratio x the reference's. Without one,
    # wide edges: the strongest edges' steepness (about one over their width at FINE_WIDTH) below edge_slope_max, i.e.
    # 5-6 px wide, and the sharpness at most sharpness_soft (the largest of a blurred tuning picture was 0.32): a
    # zoomed crop in focus keeps steep edges (brick mortar 0.19-0.2), a lawn or gravel its fine detail. (The former
    # absolute floor, sharpness below 0.22 or 0.27 when anisotropic, read soft zooms as blur: 0.15-0.22 measured.)
    blur_ratio: float = 0.80
    edge_slope_max: float = 0.18
    sharpness_soft: float = 0.33
    # ... or streaked (motion blur): the edges across the steepest orientation below streak_slope_max and at most
    # 1 / streak_ratio_min as steep (motion blur 1.9-2.9 times; a zoomed crop 1.5 at most, a wall's notice board
    # beside a soft floor keeps steep edges both ways).
    streak_slope_max: float = 0.16
    streak_ratio_min: float = 1.8
    # cells with less mid-band contrast than this carry no sharpness information (sky, walls).
    texture_min: float = 2.0
    # Against the reference (video/compare.py): a cell agrees when its gradient orientations correlate at least
    # cell_agreement_min; the same scene when same_scene_cells of the reference's textured cells agree (a passer-by
    # or a car is a few cells); moved when phase correlation finds a shift of moved_shift coarse pixels (160 px
    # wide) with a peak of moved_response; covered when soft_cells_min of the textured cells disagree and kept less
    # than soft_ratio of their fine detail (soft_disagreeing_min of the disagreeing cells).
    cell_agreement_min: float = 0.4
    same_scene_cells: float = 0.4
    moved_shift: float = 3.0
    moved_response: float = 0.2
    soft_ratio: float = 0.6
    soft_cells_min: float = 0.25
    soft_disagreeing_min: float = 0.6  # ... and most of the cells that disagree are soft
    # ... and the same scene with something laid over it when phase correlation still aligns it at zero shift this
    # clearly (stripes over the picture: 0.97-1.0 measured; another scene: 0.5 at most).
    aligned_response: float = 0.7
    # Rolling horizontal bands (a gain varying with the row, video/compare.py `band_strength`): against the reference
    # the row profile's strongest component of bands_with_reference (log units) shared by the column strips with a
    # coherence of bands_coherence_min; without one, bands_min with harmonics at most bands_harmonics_max (brick
    # courses, lines of text have them) spread in phase over bands_spread_min of the picture (`band_spread`).
    bands_with_reference: float = 0.08
    bands_coherence_min: float = 0.9
    bands_min: float = 0.11
    bands_harmonics_max: float = 0.18
    bands_spread_min: float = 0.75
