"""Check a predicted quality before committing to it: searched on a small sample, confirmed on the whole.

The sample is a mosaic of tiles cut on the 16-pixel grid of 4:2:0 JPEG, so each tile is compressed
exactly as it is inside the full image. Scoring the mosaic with SSIMULACRA2 costs a fraction of
scoring the whole image, which costs several encodes; so the search walks on the mosaic, and the
whole image is scored only to check the mosaic's answer and, where it is off, to correct it (see
`confirmed`). Above CONFIRM_MAX_PIXELS, where scoring the whole image would not fit in the function's
memory, the check runs on a mosaic of tiles a megapixel or more each, covering half the image or more.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from handler.image import encode as px
from handler.image import jpegli, recode
from handler.image import pixels as views
from handler.image.intake import Probe
from handler.image.jpeg import ANNEX_K
from handler.image.metadata import NONE, Metadata
from handler.quality.metric import Reference


@dataclass(frozen=True)
class Candidate:
    """One encoding of the pixels, and what the search thinks of it (None when not checked)."""

    data: bytes
    quality: int
    subsampling: str
    tables: str
    """The quantisation tables `quality` scales (a handler.image.jpeg.TABLE_SETS name)."""
    score: float | None
    sampled: bool = False
    """The score is of a sample of the image, not of all of it (photos over CONFIRM_MAX_PIXELS)."""
    whole_image_checks: int = 0
    """Encodings scored on the whole image (or, over CONFIRM_MAX_PIXELS, on its mosaic of large tiles): each
    costs an encode, a decode and a score, the search's main cost (bench/results/stages.md)."""


@dataclass(frozen=True)
class Bounds:
    """The qualities a search may pick from: the configured range, capped at the source's own quality."""

    low: int
    high: int
    source_capped: bool = False
    """`high` is a JPEG source's own quality, below the configured maximum (see `on_sample` for what that calls
    for)."""

    @classmethod
    def of(cls, min_quality: int, max_quality: int, info: Probe) -> Bounds:
        capped = info.source_quality is not None and info.source_quality < max_quality
        high = info.source_quality if capped else max_quality
        return cls(min(min_quality, high), high, capped)

    def clamp(self, quality: float) -> int:
        return min(max(round(quality), self.low), self.high)


def unchecked(pixels: Image.Image, quality: int, bounds: Bounds, target: int, metadata: Metadata) -> Candidate:
    """One encode at the predicted quality, unchecked (VERIFY=false). It is coded with libjpeg's tables, those of
    the labels the model learnt: at an unchecked quality, other tables would be a guess on a guess."""
    return Candidate(px.encode(pixels, quality, "4:2:0", metadata), quality, "4:2:0", ANNEX_K, None)


TILE = 96
MIN_TILE = 32
GRID = 4
SAMPLE_SHARE = 2
"""GRID x GRID tiles of MIN_TILE to TILE pixels: a mosaic of about 1/SAMPLE_SHARE of the image, at most
384 x 384 (0.15 MP), so the share matters only below about 0.3 MP, where a larger mosaic predicts the whole
image's score better and spares whole-image checks. Chosen with SAMPLE_MARGIN and SURPLUS on the train split
(`make tune`, bench/results/train/sample-tuning.md)."""

WHOLE_MAX_PIXELS = 256 * 256
"""Up to this size the search runs on the image itself, and needs no confirmation. Above it, where tiles of MIN_TILE
still leave the mosaic a quarter of the image or less, every step of a walk on the image itself would be a
whole-image check: walking on the mosaic and confirming once costs fewer (`make tune`,
bench/results/train/sample-tuning.md)."""

HIGH_TARGET = 85
"""From this target up, 4:4:4 is tried beside 4:2:0 (measured: it pays off only at high targets)."""

SUBSAMPLED_MAX = 95
"""Below HIGH_TARGET, a 4:2:0 answer above this quality is held back by its halved chroma: 4:4:4 is tried
too, as where 4:2:0 fails."""

SAMPLE_MARGIN = 1.0
"""The mosaic tends to score above the whole image: the sample walk aims this much higher, so that
the confirmation on the whole image usually passes at once. Larger margins spare second whole-image scores but
cost more bytes than the time they save (`make tune`, bench/results/train/sample-tuning.md)."""

CONFIRM_MAX_PIXELS = 25_000_000
"""The largest confirmation: the whole image up to this size (24 MP photos are below it), else a mosaic of
GRID x GRID tiles of about this many pixels, half a 48 MP photo or more. Memory grows with the pixels
confirmed: peak memory by size is in bench/results/runtime.md (`python -m bench.runtime`). 0 turns the
confirmation off, so that the sample's verdict stands: `make tune` does it to show what the confirmation is for."""

SURPLUS = 2.0
"""A whole-image score this many points or more above the target is worth one more whole-image score
lower down (about 3 quality steps to gain); a pass by less is kept (see `confirmed` and `walk`)."""

SAMPLE_SURPLUS = 0.0
"""A mosaic score passing its goal by less than this ends the mosaic walk; 0 walks on until the
passing and failing qualities are adjacent."""

OFFER_JPEGLI = True
"""Walk jpegli (handler.image.jpegli) beside Pillow on RGB pictures, the smaller passing encoding winning. Off, the
search is Pillow's alone: `python -m bench.encoder_choice` turns it off to measure what jpegli gives and costs
(bench/results/train/encoder-choice.md)."""

MAX_ENCODES = 6
SLOPE = 1.5
"""Quality steps per SSIMULACRA2 point, roughly, near the presets: sizes the first steps of the walk."""

MIN_SIDE = 8
"""SSIMULACRA2 (handler.quality.metric) has no scale to compare below 8 pixels on a side and scores such images
100 whatever the damage. Smaller samples are scored enlarged (nearest neighbour), so their colour and block errors
count."""


def _tile_origins(size: int, count: int, tile: int) -> list[int]:
    """`count` starts of `tile`-long tiles spread evenly over `size`, each on the 16-pixel grid."""
    span = size - tile
    return sorted({(round(span * (i + 0.5) / count) // 16) * 16 for i in range(count)})


def _tile_side(width: int, height: int) -> int:
    """Tiles of at most TILE pixels, smaller where the image is small, so that the mosaic stays about
    1/SAMPLE_SHARE of the image: each probe on it costs that share of a whole-image score."""
    side = math.isqrt(width * height // SAMPLE_SHARE) // GRID // 16 * 16
    return min(TILE, max(MIN_TILE, side))


def _layout(width: int, height: int, tile: int) -> tuple[int, int]:
    """Tiles across and down: GRID x GRID, or all in one row or column for a strip narrower than a tile
    (scored whole, a long strip costs as much time and memory as a large photo)."""
    if width < tile:
        return 1, GRID * GRID
    if height < tile:
        return GRID * GRID, 1
    return GRID, GRID


def sample(pixels: Image.Image) -> Image.Image:
    """What the search walks on: the image itself up to WHOLE_MAX_PIXELS, else a mosaic of small tiles."""
    width, height = pixels.size
    if width * height <= WHOLE_MAX_PIXELS:
        return pixels
    return mosaic(pixels, _tile_side(width, height))


def check_sample(pixels: Image.Image) -> Image.Image:
    """What the search's answer is confirmed on: the image itself up to CONFIRM_MAX_PIXELS, else a mosaic
    of tiles as large as that allows (each at least a megapixel), so that the check stays exact on most
    of the picture while its memory stays bounded."""
    if pixels.width * pixels.height <= CONFIRM_MAX_PIXELS:
        return pixels
    return mosaic(pixels, math.isqrt(CONFIRM_MAX_PIXELS) // GRID // 16 * 16)


def mosaic(pixels: Image.Image, tile: int) -> Image.Image:
    """GRID x GRID tiles of `tile` pixels (see `_layout` for strips), spread evenly over the image."""
    width, height = pixels.size
    across, down = _layout(width, height, tile)
    tile_w, tile_h = min(tile, width), min(tile, height)
    xs, ys = _tile_origins(width, across, tile_w), _tile_origins(height, down, tile_h)
    out = Image.new(pixels.mode, (tile_w * len(xs), tile_h * len(ys)))
    for row, y in enumerate(ys):
        for col, x in enumerate(xs):
            out.paste(pixels.crop((x, y, x + tile_w, y + tile_h)), (col * tile_w, row * tile_h))
    return out


def scored_pixels(image: Image.Image) -> np.ndarray:
    """The pixels SSIMULACRA2 is given: RGB, and at least MIN_SIDE pixels on a side."""
    factor = -(-MIN_SIDE // min(image.size))
    if factor > 1:
        image = image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    return views.view(image if image.mode == "RGB" else image.convert("RGB"))  # convert() would copy an RGB image


@dataclass(frozen=True)
class Settled:
    """Where a walk ended for one subsampling: the quality, its score and its encoding."""

    subsampling: str
    tables: str
    quality: int
    score: float
    encoded: bytes
    passes: bool


class Sample:
    """An image to score encodings of, its SSIMULACRA2 reference (computed once), and what was tried. Walks are
    coded with the tables the target calls for (`encode.tables_for`) unless told otherwise."""

    def __init__(self, image: Image.Image, metadata: Metadata, target: int) -> None:
        self.image = image
        self._metadata = metadata
        self._target = target
        self._reference = Reference(scored_pixels(image))
        self._tried: dict[tuple[int, str, str], tuple[float, bytes]] = {}
        self._block: Image.core.ImagingCore | None = None
        """The memory every candidate is decoded into (pixels.decode_into): one block, reused."""

    @property
    def scored(self) -> int:
        """How many encodings were scored (each once: `measure` keeps what it tried)."""
        return len(self._tried)

    def highest(self, subsampling: str) -> float:
        """The highest score of the encodings tried in `subsampling` (-inf when none was)."""
        return max((score for (_, sub, _), (score, _) in self._tried.items() if sub == subsampling), default=-math.inf)

    def measure(self, quality: int, subsampling: str, tables: str) -> tuple[float, bytes]:
        if (quality, subsampling, tables) not in self._tried:
            encoded = px.encode(self.image, quality, subsampling, self._metadata, tables=tables)
            candidate = views.decode_into(encoded, self._block)
            self._block = candidate.im
            score = self._reference.score(scored_pixels(candidate))
            self._tried[quality, subsampling, tables] = (score, encoded)
        return self._tried[quality, subsampling, tables]

    def settle(
        self, subsampling: str, start: int, bounds: Bounds, goal: float, enough: float = 0.0, tables: str = ""
    ) -> Settled:
        """The walk for one subsampling, coded with `tables` (by default those the target calls for)."""
        tables = tables or px.tables_for(subsampling, self._target)
        quality = walk(lambda q: self.measure(q, subsampling, tables)[0], start, bounds, goal, enough)
        score, encoded = self.measure(quality, subsampling, tables)
        return Settled(subsampling, tables, quality, score, encoded, score >= goal)


def walk(score: Callable[[int], float], start: int, bounds: Bounds, target: float, enough: float = 0.0) -> int:
    """Lowest quality whose score reaches `target`, searched from `start` in at most MAX_ENCODES.

    Steps sized by the score's distance from the target until the target is bracketed, then
    interpolation between the two sides (`interpolate`, as `confirmed` does), which on a smooth score
    curve lands next to the answer where bisection would halve the gap; a quality passing by less
    than `enough` ends the search early. Returns bounds.high when even that fails (the caller sees
    the score).
    """
    failing: tuple[int, float] | None = None  # (quality, score) closest below the target
    passing: tuple[int, float] | None = None  # and closest above it
    quality = start
    for _ in range(MAX_ENCODES):
        value = score(quality)
        distance = value - target
        if distance >= 0:
            passing = (quality, value)
            if distance < enough:
                break
        else:
            failing = (quality, value)
        if passing and failing and passing[0] - failing[0] <= 1:
            break
        if passing is None:
            if quality == bounds.high:
                break
            quality = min(bounds.high, quality + max(1, round(-distance * SLOPE)))
        elif failing:
            quality = interpolate(failing, passing, target)
        elif quality == bounds.low:
            break
        else:
            quality = max(bounds.low, quality - max(1, round(distance * SLOPE)))
    return bounds.high if passing is None else passing[0]


def on_sample(tiles: Sample, quality: int, bounds: Bounds, goal: float, enough: float = 0.0) -> Settled:
    """The lowest passing quality on the sample (see `walk` for `enough`): 4:2:0 first, and with libjpeg's
    tables too where the target's tables cannot reach the goal; 4:4:4 as well where chroma detail matters
    (the high presets, or when 4:2:0 cannot reach the goal by SUBSAMPLED_MAX). The smallest passing one wins.

    libjpeg's tables rescue a JPEG whose own quality caps the search (bounds.source_capped): re-encoded with its
    own tables at or near that quality, it keeps most of its coefficients and scores high, while other tables
    requantise every block and can miss the target at every quality the cap allows. Without that cap they
    rescue nothing (other tables can go higher), and trying them would cost whole-image checks for nothing.

    jpegli (RGB only) is walked where Pillow's 4:2:0 passes, from the quality that walk settled on: it codes 4:2:0
    only, and on 40 train pictures walking it where Pillow's 4:2:0 fails too changed no target's total bytes at
    three decimals (`python -m bench.encoder_choice`, with and without this rule)."""
    subsampled = [tiles.settle("4:2:0", quality, bounds, goal, enough)]
    if not subsampled[0].passes and subsampled[0].tables != ANNEX_K and bounds.source_capped:
        subsampled.append(tiles.settle("4:2:0", quality, bounds, goal, enough, ANNEX_K))
    if OFFER_JPEGLI and tiles.image.mode == "RGB" and subsampled[0].passes:
        start = bounds.clamp(subsampled[0].quality + jpegli.QUALITY_OFFSET)
        subsampled.append(tiles.settle(jpegli.SUBSAMPLING, start, bounds, goal, enough, jpegli.JPEGLI))
    best = _best(subsampled)
    held_back = not best.passes or best.quality > SUBSAMPLED_MAX
    if tiles.image.mode == "RGB" and (goal >= HIGH_TARGET or held_back):
        best = _best([best, tiles.settle("4:4:4", quality, bounds, goal, enough)])
    return best


JPEGLI_WEIGHT = 0.89
"""What a jpegli encoding's bytes count for beside Pillow's when the search compares them: the answer's entropy coding
is redone afterwards (encode.leaner), which saves a jpegli encoding (standard Huffman tables, sequential scan) more
than a Pillow one (optimized tables already). Chosen on 40 train pictures by
`python -m bench.encoder_choice --pictures 40` with this constant changed: 0.86, 0.89, 0.92 and 0.95 gave totals
within 1% of each other at every preset, none the smallest at all four (0.86: 1% fewer bytes at 70, 0.5% more at
90); 1.0 (no discount) wrote up to 1.4% more (at 80), and 0.2% fewer only at 85."""


def weighed(encoded: bytes, tables: str) -> float:
    """An encoding's size as the search ranks it: its bytes, a jpegli one's discounted by JPEGLI_WEIGHT."""
    return len(encoded) * (JPEGLI_WEIGHT if tables == jpegli.JPEGLI and recode.active() else 1.0)


def _best(options: list[Settled]) -> Settled:
    """The smallest passing option (`weighed`), else the one scoring highest."""
    passing = [o for o in options if o.passes]
    return min(passing, key=lambda o: weighed(o.encoded, o.tables)) if passing else max(options, key=lambda o: o.score)


def verified(pixels: Image.Image, quality: int, bounds: Bounds, target: int, metadata: Metadata) -> Candidate:
    """The predicted quality, moved until it just reaches the target: searched on the sample (cheap),
    then confirmed on the whole image (exact), or above CONFIRM_MAX_PIXELS on a mosaic of large tiles,
    the image itself then encoded at the quality the check settled on."""
    tiles = sample(pixels)
    if tiles is pixels:  # every score is of the whole image: a pass within SURPLUS is kept, as in `confirmed`
        whole = Sample(pixels, metadata, target)
        settled = on_sample(whole, quality, bounds, target, SURPLUS)
        return Candidate(settled.encoded, settled.quality, settled.subsampling, settled.tables, settled.score,
                         whole_image_checks=whole.scored)
    searched = Sample(tiles, NONE, target)
    settled = on_sample(searched, quality, bounds, target + SAMPLE_MARGIN, SAMPLE_SURPLUS)
    checked = check_sample(pixels) if CONFIRM_MAX_PIXELS else None
    if checked is pixels:
        whole = Sample(pixels, metadata, target)
        chosen = either_confirmed(whole, searched, settled, quality, bounds, target)
        return replace(chosen, whole_image_checks=whole.scored)
    whole = None if checked is None else Sample(checked, NONE, target)
    chosen = settled if whole is None else either_confirmed(whole, searched, settled, quality, bounds, target)
    checks = whole.scored if whole else 0
    # The samples' references, scratch and candidate memory go before the encode of the whole image, which needs
    # memory of its own: the peak is that of the larger of the two (bench/results/runtime.md).
    del whole, searched
    data = px.encode(pixels, chosen.quality, chosen.subsampling, metadata, tables=chosen.tables)
    return Candidate(data, chosen.quality, chosen.subsampling, chosen.tables, chosen.score, sampled=True,
                     whole_image_checks=checks)


def either_confirmed(
    whole: Sample, mosaic: Sample, settled: Settled, start: int, bounds: Bounds, target: float
) -> Candidate:
    """`confirmed`, and where the whole image cannot reach the target though the mosaic did, or reaches it only
    above SUBSAMPLED_MAX (as `on_sample` weighs it), the same with libjpeg's tables (see `on_sample`), then in
    4:4:4: fine colour detail that the tiles missed (coloured text or lines between them) is what halving the
    chroma destroys. The smallest passing candidate wins; of failures, the one scoring highest."""
    candidate = confirmed(whole, mosaic, settled, bounds, target)
    others = [("4:2:0", ANNEX_K)] if settled.tables != ANNEX_K and bounds.source_capped else []
    if settled.subsampling != "4:4:4" and whole.image.mode == "RGB":
        others.append(("4:4:4", ""))
    for subsampling, tables in others:
        if candidate.score >= target and (candidate.quality <= SUBSAMPLED_MAX or candidate.subsampling == "4:4:4"):
            break
        retry = mosaic.settle(subsampling, start, bounds, target + SAMPLE_MARGIN, tables=tables)
        candidate = _better(candidate, confirmed(whole, mosaic, retry, bounds, target), target)
    if candidate.subsampling == "4:4:4" and mosaic.highest("4:2:0") < target + SAMPLE_MARGIN:
        candidate = _subsampled_after_all(whole, mosaic, candidate, bounds, target)
    return candidate


def _subsampled_after_all(whole: Sample, mosaic: Sample, chosen: Candidate, bounds: Bounds, target: float) -> Candidate:
    """`chosen` (4:4:4, where the mosaic saw no 4:2:0 encoding pass), or 4:2:0 where the whole image shows the
    mosaic misjudged it.

    A mosaic samples the picture's middle, and where that is its busiest part (bare branches against the sky, the
    road and lawn left out) it scores every encoding well below the whole image, 4:2:0 most of all: on one such
    photo the mosaic gave 4:2:0 58.7 at quality 81 and the whole image 80.6. Where the whole image outscores the
    mosaic by SURPLUS or more at the chosen quality, 4:2:0 is checked on the whole image there, and if it passes,
    brought down to the target as any mosaic answer is (`confirmed`): one whole-image check more, only then."""
    if chosen.score - mosaic.measure(chosen.quality, "4:4:4", chosen.tables)[0] < SURPLUS:
        return chosen
    tables = px.tables_for("4:2:0", round(target))
    settled = Settled("4:2:0", tables, chosen.quality, -math.inf, b"", False)
    return _better(chosen, confirmed(whole, mosaic, settled, bounds, target), target)


def _better(one: Candidate, other: Candidate, target: float) -> Candidate:
    """The smaller of two passing candidates (`weighed`), a passing one over a failing one, else the one scoring
    higher."""
    if (one.score >= target) != (other.score >= target):
        return one if one.score >= target else other
    if one.score >= target:
        return min(one, other, key=lambda c: weighed(c.data, c.tables))
    return max(one, other, key=lambda c: c.score)


def confirmed(whole: Sample, mosaic: Sample, settled: Settled, bounds: Bounds, target: float) -> Candidate:
    """The mosaic's quality, checked on the whole image and corrected with what that check shows.

    After the first whole-image score, the mosaic's error at that quality is known, so the next try is
    the mosaic walk aimed by that much: higher where the whole image fell short, lower where it passed
    by SURPLUS or more (the mosaic under-scored it). Once whole-image scores lie on both sides of the
    target, the mosaic is no longer needed: the next try is interpolated between them, since a
    mosaic's error can change with quality (on smooth gradients, a lot). A pass within
    SURPLUS of the target is kept without closing the bracket: one whole-image score costs about as
    much as the whole mosaic walk. Without a pass, the last try is the highest allowed quality, so
    that an unreachable target is told apart from an exhausted budget.
    """
    subsampling, tables, quality = settled.subsampling, settled.tables, settled.quality
    failing: tuple[int, float] | None = None  # whole-image (quality, score) closest below the target
    passing: tuple[int, float] | None = None  # and closest above it
    kept: Candidate | None = None
    for attempt in range(1, MAX_ENCODES + 1):
        score, encoded = whole.measure(quality, subsampling, tables)
        if score >= target:
            passing, kept = (quality, score), Candidate(encoded, quality, subsampling, tables, score)
            if score < target + SURPLUS:
                break
        else:
            failing = (quality, score)
        open_range = Bounds(failing[0] + 1 if failing else bounds.low, passing[0] - 1 if passing else bounds.high)
        if open_range.low > open_range.high:
            break
        if failing and passing:
            quality = interpolate(failing, passing, target + SAMPLE_MARGIN)
        else:
            goal = target + mosaic.measure(quality, subsampling, tables)[0] - score + SAMPLE_MARGIN
            start = open_range.clamp(quality)
            quality = mosaic.settle(subsampling, start, open_range, goal, SAMPLE_SURPLUS, tables).quality
        if passing is None and attempt == MAX_ENCODES - 1:
            quality = bounds.high
    return kept or Candidate(encoded, quality, subsampling, tables, score)


def interpolate(low: tuple[int, float], high: tuple[int, float], goal: float) -> int:
    """The quality strictly between two (quality, score) points where the line through them reaches `goal`."""
    (q0, s0), (q1, s1) = low, high
    guess = q0 + (goal - s0) * (q1 - q0) / (s1 - s0) if s1 > s0 else (q0 + q1) / 2
    return min(max(round(guess), q0 + 1), q1 - 1)
