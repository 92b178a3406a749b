"""SSIMULACRA2 in plain numpy (float32), matching the PyPI ``ssimulacra2`` 0.3.0 package.

The algorithm, constants and boundary handling follow that package, which is the
reference the project labels with, rather than libjxl's C++ tool: where the two
differ (the blur's boundaries, the weights used when an image has fewer than six
scales) this module does what the Python package does.

Speed comes from three things: float32; a 256-entry table for sRGB -> linear;
and the separable Gaussian blur done as small banded matrix products (BLAS)
instead of scipy's per-pixel correlation. The second blur pass is fused with the
SSIM and edge maps column block by column block, so the blurred planes are
never stored whole.

``Reference`` keeps the original's per-scale XYB planes, blurred means and
variances, so scoring many candidates against one original pays for them once.
"""

from __future__ import annotations

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
# Output rows/columns per banded block: big enough for BLAS to be efficient,
# small enough that the band (2 * _RADIUS extra inputs) wastes little work.
_BLOCK = 64

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


def _srgb_to_linear_table() -> np.ndarray:
    """Linear light for each 8-bit sRGB code, computed in float64 like the reference."""
    v = np.arange(256, dtype=np.float64) / 255.0
    linear = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    return linear.astype(np.float32)


_LINEAR = _srgb_to_linear_table()


def _as_rgb(image: np.ndarray) -> np.ndarray:
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


def _linear_planes(rgb: np.ndarray) -> np.ndarray:
    """8-bit sRGB HxWx3 -> linear RGB laid out (H, 3, W).

    Rows first keeps each channel row contiguous and lets the vertical blur treat
    a stripe of the image as one (H, 3 * w) matrix.
    """
    return np.take(_LINEAR, rgb.transpose(0, 2, 1))


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
_CBRT_BIAS = np.float32(np.cbrt(_OPSIN_BIAS))


def _xyb(linear: np.ndarray) -> np.ndarray:
    """Linear RGB (H, 3, W) -> the reference's 'positive' XYB, same layout."""
    mixed = np.matmul(_OPSIN32, linear)  # broadcasts the 3x3 mix over rows
    mixed += np.float32(_OPSIN_BIAS)
    np.maximum(mixed, 0, out=mixed)
    np.cbrt(mixed, out=mixed)
    mixed -= _CBRT_BIAS
    m0, m1, m2 = mixed[:, 0], mixed[:, 1], mixed[:, 2]
    out = np.empty_like(linear)
    x, y, b = out[:, 0], out[:, 1], out[:, 2]
    # MakePositiveXYB: X = 0.5 (m0 - m1) * 14 + 0.42, Y = 0.5 (m0 + m1) + 0.01, B = (m2 - Y) + 0.55,
    # where the Y inside B is before its + 0.01.
    np.subtract(m0, m1, out=x)
    x *= np.float32(0.5 * 14.0)
    x += np.float32(0.42)
    np.add(m0, m1, out=y)
    y *= np.float32(0.5)
    np.subtract(m2, y, out=b)
    b += np.float32(0.55)
    y += np.float32(0.01)
    return out


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
def _bands(length: int, mirror: bool) -> tuple[_Band, ...]:
    """The Gaussian blur along an axis of ``length``, as blocks of its banded matrix.

    The boundary is folded into the matrices. The reference stores its XYB planes
    transposed (it unpacks ``linear.T``), pads what is its axis 0 - the image's
    x - with zeros, and lets scipy reflect (``d c b a | a b c d``) along the
    image's y. So rows mirror, and columns see zeros beyond the edge with the
    kernel not renormalised there.
    """
    bands = []
    for start in range(0, length, _BLOCK):
        stop = min(start + _BLOCK, length)
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


def _blur_stripe(stripe: np.ndarray, columns: _Band) -> np.ndarray:
    """Blur (H, N, hi - lo) planes, the input columns of ``columns``, to (H, N, stop - start).

    Both passes are matrix products, which BLAS does far faster than shifted
    multiply-adds; working one stripe of columns at a time keeps the data in
    cache and never holds the blurred planes of the whole image.
    """
    height, count, width_in = stripe.shape
    width = columns.stop - columns.start
    horizontal = (stripe.reshape(height * count, width_in) @ columns.matrix.T).reshape(height, count * width)
    out = np.empty_like(horizontal)
    for rows in _bands(height, mirror=True):
        np.matmul(rows.matrix, horizontal[rows.lo : rows.hi], out=out[rows.start : rows.stop])
    return out.reshape(height, count, width)


def _pool(values: np.ndarray, sums: np.ndarray) -> None:
    """Add per-channel sums of v and v**4 over an (H, 3, w) block into sums[:, 0] and sums[:, 1].

    Columns are summed down in float32 (short, vectorised), the rest in float64.
    """
    square = values * values
    sums[:, 0] += values.sum(axis=0).sum(axis=1, dtype=np.float64)
    sums[:, 1] += np.einsum("hcw,hcw->cw", square, square).sum(axis=1, dtype=np.float64)


@dataclass
class _RefScale:
    """One scale of the original: its XYB planes, and per column stripe what the blur gives."""

    xyb: np.ndarray  # (H, 3, W)
    mu: list[np.ndarray]  # blurred xyb, per stripe (H, 3, w)
    variance_c2: list[np.ndarray]  # sigma^2 + C2
    inv_edge: list[np.ndarray]  # 1 / (1 + |xyb - mu|)


def _reference_scale(xyb: np.ndarray) -> _RefScale:
    scale = _RefScale(xyb, [], [], [])
    for columns in _bands(xyb.shape[2], mirror=False):
        window = xyb[:, :, columns.lo : columns.hi]
        blurred = _blur_stripe(np.concatenate([window, window * window], axis=1), columns)
        mu, variance = blurred[:, :3], blurred[:, 3:]
        variance -= mu * mu
        variance += _C2
        inv_edge = np.abs(xyb[:, :, columns.start : columns.stop] - mu)
        inv_edge += np.float32(1.0)
        np.reciprocal(inv_edge, out=inv_edge)
        scale.mu.append(mu)
        scale.variance_c2.append(variance)
        scale.inv_edge.append(inv_edge)
    return scale


def _scale_features(ref: _RefScale, xyb: np.ndarray) -> np.ndarray:
    """The 18 pooled numbers of one scale, as (channel, norm L1/L4, map ssim/artifact/detail).

    The reference computes the SSIM map as
        d = 1 - (1 - (mu1 - mu2)^2) * (2 cov + C2) / (var1 + var2 + C2).
    At high quality d is ~1e-4, and var and cov, each a difference of two
    numbers near 0.5, carry float32 rounding of ~1e-7, about 1e-4 of C2: the
    map would be mostly noise. With delta = x1 - x2, var1 + var2 - 2 cov equals
    var(delta) = blur(delta^2) - blur(delta)^2, computed from small numbers, so
        d = dmu^2 + (1 - dmu^2) * var(delta) / (var1 + var2 + C2),   dmu = blur(delta),
    is the same quantity with its rounding relative to d itself.
    """
    height = xyb.shape[0]
    sums = np.zeros((3, 2, 3), dtype=np.float64)
    for i, columns in enumerate(_bands(xyb.shape[2], mirror=False)):
        x1, x2 = ref.xyb[:, :, columns.lo : columns.hi], xyb[:, :, columns.lo : columns.hi]
        stripe = np.empty((height, 9, x1.shape[2]), dtype=np.float32)
        delta = np.subtract(x1, x2, out=stripe[:, 0:3])
        np.multiply(delta, delta, out=stripe[:, 3:6])
        np.multiply(x2, x2, out=stripe[:, 6:9])
        blurred = _blur_stripe(stripe, columns)
        dmu, delta_sq, square2 = blurred[:, 0:3], blurred[:, 3:6], blurred[:, 6:9]
        mu2 = ref.mu[i] - dmu

        denom = mu2 * mu2
        np.subtract(square2, denom, out=denom)
        denom += ref.variance_c2[i]
        dmu_sq = dmu * dmu
        d = np.subtract(delta_sq, dmu_sq, out=delta_sq)  # var(delta)
        d /= denom
        d *= np.float32(1.0) - dmu_sq
        d += dmu_sq
        np.maximum(d, 0, out=d)
        _pool(d, sums[:, :, 0])

        # Edges: a ratio above 1 means structure the original lacks (ringing,
        # blocking), below 1 detail it lost (blur).
        excess = xyb[:, :, columns.start : columns.stop] - mu2
        np.abs(excess, out=excess)
        excess += np.float32(1.0)
        excess *= ref.inv_edge[i]
        excess -= np.float32(1.0)
        artifact = np.maximum(excess, 0)
        _pool(artifact, sums[:, :, 1])
        lost = np.subtract(artifact, excess, out=excess)  # max(-excess, 0)
        _pool(lost, sums[:, :, 2])

    sums /= height * xyb.shape[2]
    sums[:, 1] **= 0.25
    return sums


def _final_score(features: list[np.ndarray]) -> float:
    """Weighted sum and the fitted nonlinearity of the reference's Msssim.score().

    Like the reference (and libjxl), weights are consumed in order channel, scale,
    norm, map; with fewer than six scales the later weights simply shift onto
    the scales that exist instead of being skipped.
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
        rgb = _as_rgb(rgb)
        self.shape: tuple[int, int] = rgb.shape[:2]
        self._scales: list[_RefScale] = []
        linear = _linear_planes(rgb)
        for index in range(_NUM_SCALES):
            if index:
                linear = _downsample(linear)
            if linear.shape[0] < _MIN_SIZE or linear.shape[2] < _MIN_SIZE:
                break
            self._scales.append(_reference_scale(_xyb(linear)))

    def score(self, distorted: np.ndarray) -> float:
        """SSIMULACRA2 of ``distorted`` (same size, uint8) against this original; 100 = identical.

        Images under 8 pixels on a side have no scale to compare and, as in the
        reference, score 100.
        """
        distorted = _as_rgb(distorted)
        if distorted.shape[:2] != self.shape:
            raise ValueError(f"size mismatch: reference {self.shape}, distorted {distorted.shape[:2]}")
        features = []
        linear = _linear_planes(distorted)
        for index, ref in enumerate(self._scales):
            if index:
                linear = _downsample(linear)
            features.append(_scale_features(ref, _xyb(linear)))
        return _final_score(features)


def score(reference: np.ndarray, distorted: np.ndarray) -> float:
    """SSIMULACRA2 of ``distorted`` against ``reference``: uint8 HxWx3 (or HxW) sRGB, same size."""
    return Reference(reference).score(distorted)
