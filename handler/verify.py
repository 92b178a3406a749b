"""Check a predicted quality before committing to it, on a small sample of the picture.

The sample is a mosaic of tiles cut on the 16-pixel grid of 4:2:0 JPEG, so each tile is compressed
exactly as it is inside the full image. Scoring the mosaic with SSIMULACRA2 costs a few milliseconds
where scoring the whole image would cost seconds; the walk up or down stops after MAX_ENCODES encodes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image

from handler import pixels as px
from handler.config import Settings
from handler.core import Bounds, Candidate
from handler.ssim2 import Reference

TILE = 128
GRID = 4
"""GRID x GRID tiles of TILE pixels: a 512 x 512 mosaic, 0.26 MP, whatever the image's size."""

HIGH_TARGET = 85
"""From this target up, 4:4:4 is tried beside 4:2:0 (measured: it pays off only at high targets)."""

MAX_ENCODES = 6
SLOPE = 1.5
"""Quality steps per SSIMULACRA2 point, roughly, near the presets: sizes the first steps of the walk."""

def _tile_origins(size: int, count: int) -> list[int]:
    """`count` tile starts spread evenly over `size`, each on the 16-pixel grid."""
    span = size - TILE
    return sorted({(round(span * (i + 0.5) / count) // 16) * 16 for i in range(count)})


def sample(pixels: Image.Image) -> Image.Image:
    """The image itself when small, else a mosaic of evenly spread tiles."""
    width, height = pixels.size
    if width * height <= (TILE * GRID) ** 2 or width < TILE or height < TILE:
        return pixels
    xs, ys = _tile_origins(width, GRID), _tile_origins(height, GRID)
    mosaic = Image.new(pixels.mode, (TILE * len(xs), TILE * len(ys)))
    for row, y in enumerate(ys):
        for col, x in enumerate(xs):
            mosaic.paste(pixels.crop((x, y, x + TILE, y + TILE)), (col * TILE, row * TILE))
    return mosaic


def _rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


@dataclass(frozen=True)
class Settled:
    """Where the walk ended for one subsampling: the quality, its sample score and sample size."""

    subsampling: str
    quality: int
    score: float
    sample_bytes: int
    passes: bool


class Sample:
    """The mosaic, its SSIMULACRA2 reference (computed once), and every (quality, subsampling) tried."""

    def __init__(self, pixels: Image.Image) -> None:
        self.mosaic = sample(pixels)
        self._reference = Reference(_rgb(self.mosaic))
        self._tried: dict[tuple[int, str], tuple[float, int]] = {}

    def measure(self, quality: int, subsampling: str) -> tuple[float, int]:
        if (quality, subsampling) not in self._tried:
            encoded = px.encode(self.mosaic, quality, subsampling, {})
            score = self._reference.score(_rgb(Image.open(io.BytesIO(encoded))))
            self._tried[quality, subsampling] = (score, len(encoded))
        return self._tried[quality, subsampling]

    def settle(self, subsampling: str, start: int, bounds: Bounds, target: float) -> Settled:
        quality = walk(lambda q: self.measure(q, subsampling)[0], start, bounds, target)
        score, size = self.measure(quality, subsampling)
        return Settled(subsampling, quality, score, size, score >= target)


def walk(score: Callable[[int], float], start: int, bounds: Bounds, target: float) -> int:
    """Lowest quality whose sample score reaches `target`, searched from `start` in at most MAX_ENCODES.

    Steps sized by the score's distance from the target until the target is bracketed, then
    bisection. Returns bounds.high when even that fails (the caller sees the score).
    """
    failing, passing = bounds.low - 1, None
    quality = start
    for _ in range(MAX_ENCODES):
        distance = score(quality) - target
        if distance >= 0:
            passing = quality
        else:
            failing = quality
        if passing is not None and passing - failing <= 1:
            break
        if passing is None:
            if quality == bounds.high:
                break
            quality = min(bounds.high, quality + max(1, round(-distance * SLOPE)))
        elif failing >= bounds.low:
            quality = (passing + failing) // 2
        else:
            quality = max(bounds.low, quality - max(1, round(distance * SLOPE)))
    return bounds.high if passing is None else passing


def verified(
    pixels: Image.Image, quality: int, bounds: Bounds, settings: Settings, extra: dict[str, object]
) -> Candidate:
    """The predicted quality, moved up or down until the sample just reaches the target.

    4:2:0 first; 4:4:4 as well where chroma detail matters: at the high presets, or when 4:2:0
    cannot reach the target. The smaller sample that passes wins.
    """
    sample = Sample(pixels)
    options = [sample.settle("4:2:0", quality, bounds, settings.target)]
    if pixels.mode == "RGB" and (settings.target >= HIGH_TARGET or not options[0].passes):
        options.append(sample.settle("4:4:4", quality, bounds, settings.target))
    passing = [o for o in options if o.passes]
    best = min(passing, key=lambda o: o.sample_bytes) if passing else max(options, key=lambda o: o.score)
    data = px.encode(pixels, best.quality, best.subsampling, extra)
    return Candidate(data, best.quality, best.subsampling, best.score)
