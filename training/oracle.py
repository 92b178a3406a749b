"""The oracle: the lowest quality whose SSIMULACRA2 score reaches the target, found by a search.

`oracle_quality` brackets and interpolates (5-6 scores an image); `bisected_quality` is the plain binary
search the peers run, which the speed goal is stated against: the benchmark times both.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping

import numpy as np
from PIL import Image

from handler.image.encode import encode
from handler.image.jpeg import ANNEX_K
from handler.image.metadata import NONE
from handler.quality.search import interpolate
from handler.quality.ssim2 import Reference

LOWEST, HIGHEST = 1, 100


def _probe(lo: tuple[int, float] | None, hi: tuple[int, float], target: float) -> int:
    """Next quality to try inside the bracket: interpolated on the scores where both ends are known."""
    if lo is None:
        return (LOWEST + hi[0]) // 2
    return interpolate(lo, hi, target)


def oracle_quality(score: Callable[[int], float], target: float, known: Mapping[int, float] | None = None,
                   low: int = LOWEST, high: int = HIGHEST) -> int | None:
    """Smallest quality in [low, high] reaching `target`, taking the score as rising with quality.

    A bracketing search: the bracket is narrowed with every known point, and the next probe is
    interpolated between its ends, so that one image's four targets cost about a dozen encodes
    instead of four full binary searches. None if even `high` does not reach the target.
    """
    points = dict(known or {})
    points[high] = score(high)
    if points[high] < target:
        return None
    while True:
        passing = min(q for q, s in points.items() if s >= target and low <= q <= high)
        failing = [q for q, s in points.items() if s < target and low <= q < passing]
        lo = (max(failing), points[max(failing)]) if failing else None
        if passing == low or (lo is not None and passing - lo[0] == 1):
            return passing
        probe = _probe(lo, (passing, points[passing]), target)
        points[probe] = score(probe)


def bisected_quality(score: Callable[[int], float], target: float, low: int = LOWEST,
                     high: int = HIGHEST) -> int | None:
    """Smallest quality in [low, high] reaching `target` by bisection, taking the score as rising with quality.

    At most ceil(log2(high - low + 2)) scores: 7 over 1-100 (jpeg-recompress bisects 40-95 in 6). None if even
    `high` does not reach the target.
    """
    lo, hi = low, high + 1  # hi: the lowest quality known to pass; high + 1 while none is known
    while lo < hi:
        mid = (lo + hi) // 2
        if score(mid) >= target:
            hi = mid
        else:
            lo = mid + 1
    return hi if hi <= high else None


class Scored:
    """One encoder's outputs of one picture by quality, each encoded and scored once against the original."""

    def __init__(self, encoder: Callable[[int], bytes], reference: Reference) -> None:
        self._encoder, self._reference = encoder, reference
        self.points: dict[int, tuple[float, int]] = {}

    def scores(self) -> dict[int, float]:
        return {q: score for q, (score, _) in self.points.items()}

    def __call__(self, quality: int) -> float:
        if quality not in self.points:
            data = self._encoder(quality)
            decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            self.points[quality] = (self._reference.score(decoded), len(data))
        return self.points[quality][0]

    def lowest(self, target: float) -> tuple[int, int] | None:
        """(quality, bytes) at the lowest quality reaching `target`; None if none does."""
        quality = oracle_quality(self, target, self.scores())
        return None if quality is None else (quality, self.points[quality][1])


class Curve(Scored):
    """Pillow's encodings of `pixels` by quality, scored against the full-resolution original. The oracle's
    curves use libjpeg's tables; `bench.tables` compares others."""

    def __init__(self, pixels: Image.Image, subsampling: str, reference: Reference | None = None,
                 tables: str = ANNEX_K) -> None:
        self.pixels = pixels
        self.subsampling = subsampling
        self.tables = tables
        super().__init__(self.encoded, reference or Reference(np.asarray(pixels.convert("RGB"))))

    def encoded(self, quality: int) -> bytes:
        return encode(self.pixels, quality, self.subsampling, NONE, tables=self.tables)
