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
from handler.core import Bounds, Candidate, Chooser, encode_predicted
from handler.ssim2 import Reference

TILE = 128
GRID = 4
"""GRID x GRID tiles of TILE pixels: a 512 x 512 mosaic, 0.26 MP, whatever the image's size."""

HIGH_TARGET = 85
"""From this target up, 4:4:4 is tried beside 4:2:0 (measured: it pays off only at high targets)."""

SAMPLE_MARGIN = 1.0
"""The mosaic scores about one point above the whole image (measured on the train split): the sample
walk aims that much higher, so that the confirmation on the whole image usually passes at once."""

CONFIRM_MAX_PIXELS = 12_500_000
"""Above this (12 MP phone photos are below it), the whole-image confirmation is skipped and the
sample's verdict stands: it holds about 100 bytes per pixel, and a 16 MP confirmation peaked at 1.76 GB,
over the function's memory (see bench/results/runtime.md)."""

MAX_ENCODES = 6
SLOPE = 1.5
"""Quality steps per SSIMULACRA2 point, roughly, near the presets: sizes the first steps of the walk."""

MIN_SIDE = 8
"""handler.ssim2 has no scale to compare below 8 pixels on a side and scores such images 100 whatever
the damage. Smaller samples are scored enlarged (nearest neighbour), so their colour and block errors count."""


def _tile_origins(size: int, count: int, tile: int) -> list[int]:
    """`count` starts of `tile`-long tiles spread evenly over `size`, each on the 16-pixel grid."""
    span = size - tile
    return sorted({(round(span * (i + 0.5) / count) // 16) * 16 for i in range(count)})


def _layout(width: int, height: int) -> tuple[int, int]:
    """Tiles across and down: GRID x GRID, or all in one row or column for a strip narrower than a tile
    (scoring a 127 x 65500 strip whole took 19 s and 1.7 GB)."""
    if width < TILE:
        return 1, GRID * GRID
    if height < TILE:
        return GRID * GRID, 1
    return GRID, GRID


def sample(pixels: Image.Image) -> Image.Image:
    """The image itself up to the mosaic's size (512 x 512 pixels), else a mosaic of evenly spread tiles."""
    width, height = pixels.size
    if width * height <= (TILE * GRID) ** 2:
        return pixels
    across, down = _layout(width, height)
    tile_w, tile_h = min(TILE, width), min(TILE, height)
    xs, ys = _tile_origins(width, across, tile_w), _tile_origins(height, down, tile_h)
    mosaic = Image.new(pixels.mode, (tile_w * len(xs), tile_h * len(ys)))
    for row, y in enumerate(ys):
        for col, x in enumerate(xs):
            mosaic.paste(pixels.crop((x, y, x + tile_w, y + tile_h)), (col * tile_w, row * tile_h))
    return mosaic


def _rgb(image: Image.Image) -> np.ndarray:
    """The pixels SSIMULACRA2 is given: RGB, and at least MIN_SIDE pixels on a side."""
    factor = -(-MIN_SIDE // min(image.size))
    if factor > 1:
        image = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    return np.asarray(image.convert("RGB"))


@dataclass(frozen=True)
class Settled:
    """Where a walk ended for one subsampling: the quality, its score and its encoding."""

    subsampling: str
    quality: int
    score: float
    encoded: bytes
    passes: bool


class Sample:
    """An image to score encodings of, its SSIMULACRA2 reference (computed once), and what was tried."""

    def __init__(self, image: Image.Image, extra: dict[str, object]) -> None:
        self.image = image
        self._extra = extra
        self._reference = Reference(_rgb(image))
        self._tried: dict[tuple[int, str], tuple[float, bytes]] = {}

    def measure(self, quality: int, subsampling: str) -> tuple[float, bytes]:
        if (quality, subsampling) not in self._tried:
            encoded = px.encode(self.image, quality, subsampling, self._extra)
            score = self._reference.score(_rgb(Image.open(io.BytesIO(encoded))))
            self._tried[quality, subsampling] = (score, encoded)
        return self._tried[quality, subsampling]

    def settle(self, subsampling: str, start: int, bounds: Bounds, goal: float) -> Settled:
        quality = walk(lambda q: self.measure(q, subsampling)[0], start, bounds, goal)
        score, encoded = self.measure(quality, subsampling)
        return Settled(subsampling, quality, score, encoded, score >= goal)


def walk(score: Callable[[int], float], start: int, bounds: Bounds, target: float) -> int:
    """Lowest quality whose score reaches `target`, searched from `start` in at most MAX_ENCODES.

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


def on_sample(tiles: Sample, quality: int, bounds: Bounds, goal: float) -> Settled:
    """The lowest passing quality on the sample: 4:2:0 first; 4:4:4 as well where chroma detail
    matters (the high presets, or when 4:2:0 cannot reach the goal). The smaller passing one wins."""
    options = [tiles.settle("4:2:0", quality, bounds, goal)]
    if tiles.image.mode == "RGB" and (goal >= HIGH_TARGET or not options[0].passes):
        options.append(tiles.settle("4:4:4", quality, bounds, goal))
    passing = [o for o in options if o.passes]
    return min(passing, key=lambda o: len(o.encoded)) if passing else max(options, key=lambda o: o.score)


def verified(
    pixels: Image.Image, quality: int, bounds: Bounds, settings: Settings, extra: dict[str, object]
) -> Candidate:
    """The predicted quality, moved until it just reaches the target: first on the sample (cheap),
    then confirmed on the whole image (exact), stepping up from there if the whole image falls short."""
    tiles = sample(pixels)
    whole = tiles is pixels
    goal = settings.target if whole else settings.target + SAMPLE_MARGIN
    settled = on_sample(Sample(tiles, extra if whole else {}), quality, bounds, goal)
    if settled.passes and not whole and pixels.width * pixels.height <= CONFIRM_MAX_PIXELS:
        confirmed = Sample(pixels, extra).settle(
            settled.subsampling, settled.quality, Bounds(settled.quality, bounds.high), settings.target
        )
        return Candidate(confirmed.encoded, confirmed.quality, confirmed.subsampling, confirmed.score)
    data = settled.encoded if whole else px.encode(pixels, settled.quality, settled.subsampling, extra)
    return Candidate(data, settled.quality, settled.subsampling, settled.score)


def chooser(settings: Settings) -> Chooser:
    """The check VERIFY asks for: `verified`, or the unchecked prediction."""
    return verified if settings.verify else encode_predicted
