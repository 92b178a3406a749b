"""SSIMULACRA2 in plain numpy (float32), matching the PyPI ``ssimulacra2`` 0.3.0 package.

The algorithm, constants and boundary handling follow that package, which is the
reference the project labels with, rather than libjxl's C++ tool: where the two
differ (the blur's boundaries, for one) this module does what the Python
package does.

Speed comes from float32; a 256-entry table for sRGB -> linear; the separable
Gaussian blur done as small banded matrix products (BLAS) instead of scipy's
per-pixel correlation; and working in stripes of 64 columns, so that the blurred
planes stay in cache and are never stored for the whole image.

Only the channels a scale's weights use are computed (see ``_PRUNE``): at full
resolution that is Y alone, and full resolution is three quarters of the work.

``Reference`` keeps the original's per-scale XYB planes, blurred means,
variances and edge strengths (about 27 bytes per pixel of the original), so
scoring many candidates against one original pays for them once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

__all__ = ["Reference", "score"]

_NUM_SCALES = 6
_MIN_SIZE = 8  # the reference stops at the first scale smaller than this
_C2 = np.float32(0.0009)

# The reference blurs with scipy.ndimage.gaussian_filter(sigma=1.5, truncate=3.33),
# whose kernel radius is int(truncate * sigma + 0.5) = 5.
_SIGMA = 1.5
_RADIUS = 5
# Outputs per block of the banded blur matrices: big enough for BLAS to be
# efficient, small enough that the band (2 * _RADIUS extra inputs per block)
# costs little. Column blocks are also the stripes the per-pixel maps are
# computed in, and wider ones make fewer, longer numpy calls.
_ROW_BLOCK = 32
_COLUMN_BLOCK = 64

_OPSIN_BIAS = 0.0037930732552754493
_OPSIN = np.array(
    [
        [0.30, 1.0 - 0.078 - 0.30, 0.078],
        [0.23, 1.0 - 0.078 - 0.23, 0.078],
        [
            0.24342268924547819,
            0.20476744424496821,
            1.0 - 0.24342268924547819 - 0.20476744424496821,
        ],
    ]
)

# fmt: off
_WEIGHTS = np.array([
    0.0, 0.0007376606707406586, 0.0, 0.0, 0.0007793481682867309, 0.0, 0.0,
    0.0004371155730107379, 0.0, 1.1041726426657346, 0.00066284834129271,
    0.00015231632783718752, 0.0, 0.0016406437456599754, 0.0, 1.8422455520539298,
    11.441172603757666, 0.0, 0.0007989109436015163, 0.000176816438078653, 0.0,
    1.8787594979546387, 10.94906990605142, 0.0, 0.0007289346991508072,
    0.9677937080626833, 0.0, 0.00014003424285435884, 0.9981766977854967,
    0.00031949755934435053, 0.0004550992113792063, 0.0, 0.0, 0.0013648766163243398,
    0.0, 0.0, 0.0, 0.0, 0.0, 7.466890328078848, 0.0, 17.445833984131262,
    0.0006235601634041466, 0.0, 0.0, 6.683678146179332, 0.00037724407979611296,
    1.027889937768264, 225.20515300849274, 0.0, 0.0, 19.213238186143016,
    0.0011401524586618361, 0.001237755635509985, 176.39317598450694, 0.0, 0.0,
    24.43300999870476, 0.28520802612117757, 0.0004485436923833408, 0.0, 0.0, 0.0,
    34.77906344483772, 44.835625328877896, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0008680556573291698, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0005313191874358747, 0.0,
    0.00016533814161379112, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0004179171803251336,
    0.0017290828234722833, 0.0, 0.0020827005846636437, 0.0, 0.0, 8.826982764996862,
    23.19243343998926, 0.0, 95.1080498811086, 0.9863978034400682, 0.9834382792465353,
    0.0012286405048278493, 171.2667255897307, 0.9807858872435379, 0.0, 0.0, 0.0,
    0.0005130064588990679, 0.0, 0.00010854057858411537,
])
# fmt: on


_PRUNE = 0.01
"""A channel is left out of a scale when all six of its weights there are below this. Their features
are norms of maps that lie in [0, 1] or near it, and the left-out weights sum to under 0.008, against
1 to 225 for those kept: scores stay within 0.0011 of the PyPI reference on 50 corpus pairs
(`python -m bench.ssim2_agreement`). Left out of full resolution are X and B (weights under 0.001):
two thirds of the costliest scale."""


def _channels(scales: int) -> tuple[tuple[int, ...], ...]:
    """Per scale, the XYB channels whose weights reach _PRUNE, for an image with `scales` scales.

    The weights are consumed in the order channel, scale, norm, map, so which weight falls on a
    channel and scale depends on how many scales the image has (see `_final_score`).
    """
    weights = _WEIGHTS[: 3 * scales * 6].reshape(3, scales, 6)
    return tuple(tuple(int(c) for c in np.flatnonzero(weights[:, s].max(axis=1) >= _PRUNE)) for s in range(scales))


def _scale_count(height: int, width: int) -> int:
    """How many scales the reference compares: it halves (rounding up) until a side is under _MIN_SIZE."""
    count = 0
    while count < _NUM_SCALES and min(height, width) >= _MIN_SIZE:
        count += 1
        height, width = -(-height // 2), -(-width // 2)
    return count


def _srgb_to_linear_table() -> np.ndarray:
    """Linear light for each 8-bit sRGB code, computed in float64 like the reference."""
    v = np.arange(256, dtype=np.float64) / 255.0
    linear = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    return linear.astype(np.float32)


_LINEAR = _srgb_to_linear_table()


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Validate an 8-bit image and return it as HxWx3 (grey is repeated, as Pillow's convert('RGB'))."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"expected uint8 pixels, got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 or HxW image, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError("empty image")
    return image


_ROWS = 64
"""Rows converted at a time (even, for the 2x2 downsampling), so that the conversions' temporaries
stay small beside the image: float32 RGB of a whole 24 MP image would be 288 MB."""


def _linear_planes(rgb: np.ndarray) -> np.ndarray:
    """8-bit sRGB HxWx3 -> linear RGB laid out (H, 3, W).

    Rows first keeps each channel row contiguous and lets the vertical blur treat
    a stripe of the image as one (H, 3 * w) matrix.
    """
    return np.ascontiguousarray(np.take(_LINEAR, rgb).transpose(0, 2, 1))  # faster than a transposed lookup


def _downsample(linear: np.ndarray) -> np.ndarray:
    """2x2 box average of (H, 3, W) linear RGB; a trailing odd row/column is averaged alone.

    Repeating the last row/column before averaging gives exactly the reference's
    mean over the pixels that exist.
    """
    if linear.shape[0] % 2:
        linear = np.concatenate([linear, linear[-1:]], axis=0)
    if linear.shape[2] % 2:
        linear = np.concatenate([linear, linear[:, :, -1:]], axis=2)
    rows = linear[0::2] + linear[1::2]
    out = rows[:, :, 0::2] + rows[:, :, 1::2]
    out *= np.float32(0.25)
    return out


_OPSIN32 = _OPSIN.astype(np.float32)


# After the cube root, MakePositiveXYB is affine in the three mixed channels:
# X = 14 * 0.5 (m0 - m1) + 0.42, Y = 0.5 (m0 + m1) + 0.01 and B = (m2 - Y) + 0.55
# with the Y before its + 0.01; the cube root of the bias, subtracted from
# each m, cancels in X and B.
_POSITIVE = np.array([[7.0, -7.0, 0.0], [0.5, 0.5, 0.0], [-0.5, -0.5, 1.0]], dtype=np.float32)
_POSITIVE_OFFSET = np.array([[0.42], [0.01 - np.cbrt(_OPSIN_BIAS)], [0.55]], dtype=np.float32)


def _xyb(linear: np.ndarray, channels: tuple[int, ...]) -> np.ndarray:
    """Linear RGB (H, 3, W) -> the `channels` of the reference's 'positive' XYB, as (H, len(channels), W).

    The reference clamps the mixed values at 0 before the cube root; with linear
    RGB in [0, 1], positive weights and a positive bias they never are below it.
    """
    mixes = 3 if 2 in channels else 2  # X and Y do not use the third mix
    positive = _POSITIVE[channels, :mixes]
    out = np.empty((linear.shape[0], len(channels), linear.shape[2]), dtype=np.float32)
    for top in range(0, linear.shape[0], _ROWS):
        mixed = np.matmul(_OPSIN32[:mixes], linear[top : top + _ROWS])  # broadcasts the mix over rows
        mixed += np.float32(_OPSIN_BIAS)
        np.cbrt(mixed, out=mixed)
        np.matmul(positive, mixed, out=out[top : top + _ROWS])
    out += _POSITIVE_OFFSET[channels,]
    return out


def _pyramid(rgb: np.ndarray, channels: tuple[tuple[int, ...], ...]) -> Iterator[np.ndarray | None]:
    """Each scale's XYB planes, of the channels kept there (None where there are none).

    A scale's linear planes are downsampled and freed before its XYB planes are handed out, so
    full-resolution RGB in float32 is never held while that scale is scored.
    """
    if not channels:
        return
    xyb, linear = _full_resolution(rgb, channels[0], len(channels) > 1)
    yield xyb
    for index, kept in enumerate(channels[1:], start=1):
        xyb = _xyb(linear, kept) if kept else None
        linear = _downsample(linear) if index + 1 < len(channels) else None
        yield xyb


def _full_resolution(
    rgb: np.ndarray, kept: tuple[int, ...], halve: bool
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The first scale's XYB planes and (if `halve`) the second scale's linear RGB, made _ROWS rows at
    a time, so that full-resolution linear RGB (12 bytes per pixel) is never held whole."""
    height, width = rgb.shape[:2]
    xyb = np.empty((height, len(kept), width), dtype=np.float32) if kept else None
    half = np.empty(((height + 1) // 2, 3, (width + 1) // 2), dtype=np.float32) if halve else None
    for top in range(0, height, _ROWS):
        linear = _linear_planes(rgb[top : top + _ROWS])
        if xyb is not None:
            xyb[top : top + _ROWS] = _xyb(linear, kept)
        if half is not None:
            half[top // 2 : (top + _ROWS) // 2] = _downsample(linear)
    return xyb, half


def _gaussian_taps() -> np.ndarray:
    """scipy's _gaussian_kernel1d(1.5, order 0, radius 5), in float64 as scipy computes it."""
    x = np.arange(-_RADIUS, _RADIUS + 1, dtype=np.float64)
    taps = np.exp(-0.5 / (_SIGMA * _SIGMA) * x * x)
    return taps / taps.sum()


_TAPS = _gaussian_taps()


@dataclass(frozen=True)
class _Band:
    """One block of a banded blur matrix: outputs [start, stop) read inputs [lo, hi)."""

    start: int
    stop: int
    lo: int
    hi: int
    matrix: np.ndarray  # (stop - start, hi - lo), float32


@lru_cache(maxsize=64)
def _bands(length: int, block: int, mirror: bool) -> tuple[_Band, ...]:
    """The Gaussian blur along an axis of ``length``, as blocks of its banded matrix.

    The boundary is folded into the matrices. The reference stores its XYB planes
    transposed (it unpacks ``linear.T``), pads what is its axis 0 - the image's
    x - with zeros, and lets scipy reflect (``d c b a | a b c d``) along the
    image's y. So rows mirror, and columns see zeros beyond the edge with the
    kernel not renormalised there.
    """
    bands = []
    for start in range(0, length, block):
        stop = min(start + block, length)
        lo, hi = max(start - _RADIUS, 0), min(stop + _RADIUS, length)
        out_idx = np.repeat(np.arange(start, stop), 2 * _RADIUS + 1)
        src = out_idx + np.tile(np.arange(-_RADIUS, _RADIUS + 1), stop - start)
        taps = np.tile(_TAPS, stop - start)
        if mirror:  # one reflection suffices: every scale is at least _MIN_SIZE > _RADIUS long
            src = np.where(src < 0, -src - 1, src)
            src = np.where(src >= length, 2 * length - 1 - src, src)
        else:
            keep = (src >= 0) & (src < length)
            out_idx, src, taps = out_idx[keep], src[keep], taps[keep]
        matrix = np.zeros((stop - start, hi - lo), dtype=np.float64)
        np.add.at(matrix, (out_idx - start, src - lo), taps)
        bands.append(_Band(start, stop, lo, hi, matrix.astype(np.float32)))
    return tuple(bands)


def _stripes(width: int) -> tuple[_Band, ...]:
    return _bands(width, _COLUMN_BLOCK, False)


def _blur_stripe(stripe: np.ndarray, columns: _Band) -> np.ndarray:
    """Blur (G, H, 3, hi - lo) planes, the input columns of ``columns``, to (G, H, 3, stop - start).

    Both passes are matrix products, which BLAS does far faster than shifted
    multiply-adds. Working one stripe of columns at a time keeps the data in
    cache and never holds the blurred planes of the whole image; keeping the G
    groups apart keeps each group's result contiguous for the per-pixel maps.
    """
    groups, height, channels, width_in = stripe.shape
    width = columns.stop - columns.start
    flat = stripe.reshape(-1, width_in)
    horizontal = (flat @ columns.matrix.T).reshape(groups, height, channels * width)
    out = np.empty_like(horizontal)
    for rows in _bands(height, _ROW_BLOCK, True):
        np.matmul(rows.matrix, horizontal[:, rows.lo : rows.hi], out=out[:, rows.start : rows.stop])
    return out.reshape(groups, height, channels, width)


def _pool(values: np.ndarray, sums: np.ndarray) -> None:
    """Add per-channel sums of v and v**4 over an (H, C, w) block into sums[:, 0] and sums[:, 1].

    The sums down the rows run in float32, vectorised across the stripe; the
    3 x w partial sums are then added in float64.
    """
    square = values * values
    sums[:, 0] += values.sum(axis=0).sum(axis=1, dtype=np.float64)
    sums[:, 1] += np.einsum("hcw,hcw->cw", square, square).sum(axis=1, dtype=np.float64)


@dataclass
class _RefScale:
    """One scale of the original: its XYB planes (the channels kept), and per column stripe what the blur gives."""

    xyb: np.ndarray  # (H, C, W)
    mu: list[np.ndarray]  # blurred xyb, per stripe (H, C, w)
    variance_c2: list[np.ndarray]  # sigma^2 + C2
    edge: list[np.ndarray]  # 1 + |xyb - mu|


def _reference_scale(xyb: np.ndarray) -> _RefScale:
    height, channels = xyb.shape[:2]
    scale = _RefScale(xyb, [], [], [])
    for columns in _stripes(xyb.shape[2]):
        window = xyb[:, :, columns.lo : columns.hi]
        stripe = np.empty((2, height, channels, window.shape[2]), dtype=np.float32)
        stripe[0] = window
        np.multiply(window, window, out=stripe[1])
        mu, variance = _blur_stripe(stripe, columns)
        variance -= mu * mu
        variance += _C2
        edge = np.abs(xyb[:, :, columns.start : columns.stop] - mu)
        edge += np.float32(1.0)
        scale.mu.append(mu)
        scale.variance_c2.append(variance)
        scale.edge.append(edge)
    return scale


def _ssim_map(
    mu1: np.ndarray, variance1_c2: np.ndarray, dmu: np.ndarray, blurred_delta_sq: np.ndarray, square2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The SSIM error map d and the candidate's blurred planes mu2, for one stripe.

    The reference computes
        d = max(0, 1 - (1 - (mu1 - mu2)^2) * (2 cov + C2) / (var1 + var2 + C2)).
    At high quality d is ~1e-4, while var and cov, each a difference of two
    numbers near 0.5, carry float32 rounding of ~1e-7, about 1e-4 of C2: the
    map would be mostly noise. With delta = x1 - x2, var1 + var2 - 2 cov equals
    var(delta) = blur(delta^2) - blur(delta)^2, computed from small numbers, so
        d = dmu^2 + (1 - dmu^2) * var(delta) / (var1 + var2 + C2),   dmu = blur(delta),
    is the same quantity with its rounding relative to d itself.
    ``blurred_delta_sq`` is overwritten.
    """
    mu2 = mu1 - dmu
    denom = mu2 * mu2
    np.subtract(square2, denom, out=denom)  # var2
    denom += variance1_c2
    dmu_sq = dmu * dmu
    d = np.subtract(blurred_delta_sq, dmu_sq, out=blurred_delta_sq)  # var(delta)
    d /= denom
    d *= np.float32(1.0) - dmu_sq
    d += dmu_sq
    np.maximum(d, 0, out=d)
    return d, mu2


def _edge_ratio(x2: np.ndarray, mu2: np.ndarray, edge1: np.ndarray) -> np.ndarray:
    """(1 + |x2 - mu2|) / (1 + |x1 - mu1|) - 1 for one stripe.

    Above 0 the candidate has structure the original lacks (ringing, blocking),
    below 0 it lost the original's detail (blur). Divided, as in the reference,
    so that an unchanged pixel gives exactly 0 and an identical image exactly 100.
    """
    ratio = x2 - mu2
    np.abs(ratio, out=ratio)
    ratio += np.float32(1.0)
    ratio /= edge1
    ratio -= np.float32(1.0)
    return ratio


def _candidate_stripe(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """The planes to blur for one stripe: delta = x1 - x2, delta^2 and x2^2, as (3, H, C, w)."""
    stripe = np.empty((3, *x1.shape), dtype=np.float32)
    np.subtract(x1, x2, out=stripe[0])
    np.multiply(stripe[0], stripe[0], out=stripe[1])
    np.multiply(x2, x2, out=stripe[2])
    return stripe


def _scale_features(ref: _RefScale, kept: tuple[int, ...], xyb: np.ndarray) -> np.ndarray:
    """The 18 pooled numbers of one scale, as (channel, norm L1/L4, map ssim/artifact/detail lost);
    0 for the channels left out (those not in `kept`)."""
    sums = np.zeros((len(kept), 2, 3), dtype=np.float64)
    for i, columns in enumerate(_stripes(xyb.shape[2])):
        window = slice(columns.lo, columns.hi)
        stripe = _candidate_stripe(ref.xyb[:, :, window], xyb[:, :, window])
        dmu, delta_sq, square2 = _blur_stripe(stripe, columns)
        d, mu2 = _ssim_map(ref.mu[i], ref.variance_c2[i], dmu, delta_sq, square2)
        _pool(d, sums[:, :, 0])
        ratio = _edge_ratio(xyb[:, :, columns.start : columns.stop], mu2, ref.edge[i])
        artifact = np.maximum(ratio, 0)
        _pool(artifact, sums[:, :, 1])
        _pool(np.subtract(artifact, ratio, out=ratio), sums[:, :, 2])  # max(-ratio, 0)
    sums /= xyb.shape[0] * xyb.shape[2]
    sums[:, 1] **= 0.25
    features = np.zeros((3, 2, 3), dtype=np.float64)
    features[kept,] = sums
    return features


def _final_score(features: list[np.ndarray]) -> float:
    """Weighted sum and the fitted nonlinearity of the reference's Msssim.score().

    As in the reference, weights are consumed in the order channel, scale, norm,
    map: with fewer than six scales (a side under 225 pixels) later weights
    shift onto the scales that exist rather than the missing ones being skipped.
    """
    if not features:
        return 100.0
    ordered = np.stack(features, axis=1)  # (channel, scale, norm, map)
    total = float(np.dot(_WEIGHTS[: ordered.size], np.abs(ordered).ravel()))
    total *= 0.9562382616834844
    total = 2.326765642916932 * total - 0.020884521182843837 * total**2 + 6.248496625763138e-05 * total**3
    if total <= 0:
        return 100.0
    return 100.0 - 10.0 * total**0.6276336467831387


class Reference:
    """An original image prepared once, to score any number of distorted versions of it."""

    def __init__(self, rgb: np.ndarray) -> None:
        """``rgb``: HxWx3 (or HxW grey) uint8 sRGB, as ``np.asarray(Image.convert('RGB'))``."""
        rgb = as_rgb(rgb)
        self.shape: tuple[int, int] = rgb.shape[:2]
        self._channels = _channels(_scale_count(*self.shape))
        pyramid = zip(_pyramid(rgb, self._channels), self._channels, strict=False)
        # None where no channel is kept at that scale
        self._scales: list[_RefScale | None] = [_reference_scale(xyb) if kept else None for xyb, kept in pyramid]

    def score(self, distorted: np.ndarray) -> float:
        """SSIMULACRA2 of ``distorted`` (same size, uint8) against this original; 100 = identical.

        Images under 8 pixels on a side have no scale to compare and, as in the
        reference, score 100.
        """
        distorted = as_rgb(distorted)
        if distorted.shape[:2] != self.shape:
            raise ValueError(f"size mismatch: reference {self.shape}, distorted {distorted.shape[:2]}")
        features = [
            _scale_features(ref, kept, xyb) if ref else np.zeros((3, 2, 3))
            for ref, kept, xyb in zip(self._scales, self._channels, _pyramid(distorted, self._channels), strict=False)
        ]
        return _final_score(features)


def score(reference: np.ndarray, distorted: np.ndarray) -> float:
    """SSIMULACRA2 of ``distorted`` against ``reference``: uint8 HxWx3 (or HxW) sRGB, same size."""
    return Reference(reference).score(distorted)
