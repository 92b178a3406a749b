"""Variants: the same picture as AVIF or WebP beside the JPEG (FORMATS), each at its own lowest quality whose
SSIMULACRA2 score against the original reaches the same target, kept only where smaller than the JPEG.

The JPEG's search has already found where this picture sits (its verified quality), so a variant's walk starts
from that quality mapped to the codec's scale (`Codec.start`), runs on the same sample the JPEG search walks on
(handler.quality.search.sample: the image up to 0.26 MP, else a mosaic of small tiles), and is then checked on the
whole image, where an AVIF encode of a 12 MP photo costs seconds: at most CHECKS whole-image encodes, each
moved up by what the previous one missed. A variant that cannot be shown to reach the target is left out.

Variants are stored upright: the EXIF orientation is applied to the pixels and written as 1, so that no reader
has to honour it (AVIF's own rotation box or a WebP's EXIF), and what was scored is what is shown.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from PIL import Image

from handler.image.metadata import ORIENTATION, Metadata
from handler.quality import search
from handler.quality.metric import Reference
from handler.result import Output, Skipped, Variant


@dataclass(frozen=True)
class Codec:
    """How one variant format is encoded and where its quality search starts."""

    name: str
    """The word in FORMATS and the suffix of the variant's key (KEY.avif)."""
    pil_format: str
    content_type: str
    options: Mapping[str, object] = field(default_factory=dict)
    slope: float = 1.0
    """Variant quality steps per JPEG quality step, and `offsets` below: the variant's passing quality as a line in
    the JPEG's, one per preset, fitted on the train split (python -m bench.formats --tune --targets ...)."""
    offsets: Mapping[int, float] = field(default_factory=lambda: {80: 0.0})
    """Preset -> offset: the same JPEG quality maps to another variant quality at another target (see CODECS), so
    a target takes the nearest preset's."""
    low: int = 1
    high: int = 100
    surplus: float = search.SURPLUS
    """How far above the target a whole-image pass may score and still be kept without trying lower (`_confirmed`)."""
    refine_margin: float = search.SAMPLE_MARGIN
    """What a re-aim after a whole-image check asks of the sample above the target, its error at that check
    already corrected for (`_confirmed`)."""
    large: tuple[tuple[int, Mapping[str, object]], ...] = ()
    """(pixels, options) steps, fewest pixels first: a picture over `pixels` is encoded with `options` replacing
    `options` above (a faster encoder speed, the last step it is over winning), so that a 12 MP photo's variants
    stay well inside the function's timeout (bench/results/formats.md)."""

    def for_pixels(self, pixels: int) -> Codec:
        """The codec as a picture of `pixels` pixels is encoded with: the same settings for its sample and for the
        whole, so that the sample's walk predicts the whole image's encodes."""
        steps = [options for over, options in self.large if pixels > over]
        return replace(self, options={**self.options, **steps[-1]}) if steps else self

    def start(self, jpeg_quality: int, target: int) -> int:
        offset = self.offsets[min(self.offsets, key=lambda preset: abs(preset - target))]
        return min(self.high, max(self.low, round(offset + self.slope * jpeg_quality)))

    def encode(self, pixels: Image.Image, quality: int, metadata: Metadata) -> bytes:
        out = io.BytesIO()
        pixels.save(out, self.pil_format, quality=quality, **self.options, **_carried(metadata))
        return out.getvalue()


LARGE_PIXELS = 2_000_000
"""Above this, AVIF and WebP are encoded at a faster `large` step: at speed 6 one libaom encode of a 12 MP photo
takes well over ten seconds on one core (encode time per megapixel: bench/results/train/formats-tuning.md), and a
variant takes up to CHECKS of them."""

HUGE_PIXELS = 6_000_000
"""Above this, AVIF at speed 8 rather than 7, for the same reason: a 12 MP photo's variants with speed 7 would take
a large part of the function's timeout."""

CODECS: dict[str, Codec] = {
    "avif": Codec("avif", "AVIF", "image/avif", {"speed": 6, "subsampling": "4:4:4", "max_threads": 1,
                                                      "autotiling": False},
                  offsets={70: -14.0, 80: -16.0, 85: -8.0, 90: -1.0}, surplus=0.5, refine_margin=0.0,
                  large=((LARGE_PIXELS, {"speed": 7}), (HUGE_PIXELS, {"speed": 8}))),
    "webp": Codec("webp", "WEBP", "image/webp", {"method": 6}, offsets={70: 5.0, 80: 4.0, 85: 9.0, 90: 9.0},
                  large=((LARGE_PIXELS, {"method": 4}),)),
}
"""Encoder settings, each the smallest at the target on the train split that keeps a 12 MP photo's variants well
within the timeout (bench/results/train/formats-tuning.md, `python -m bench.formats --tune`; the 12 MP photo:
bench/results/formats.md). AVIF by libaom at speed 6 in 4:4:4, which is smaller than 4:2:0 at equal score, the
faster speeds over LARGE_PIXELS and HUGE_PIXELS trading a few percent of bytes for time; libavif already sets
libaom's `tune=iq`, and no other libaom option tried was smaller (docs/formats.md lists them). One thread, as a
function of 1769 MB has one vCPU; Pillow's autotiling off, since tiles only serve threads
(`python -m bench.avif_gap --fn-only --option autotiling=1` shows what they cost). WebP at method 6, smaller than
method 4 at equal score, method 4 over LARGE_PIXELS.
The offsets start each variant's search from the JPEG's quality: the median difference between the variant's and
the JPEG's lowest passing qualities at each preset (bench/results/train/formats-tuning-targets.md). They differ from
preset to preset (AVIF's quality scale is not JPEG's), so one offset for all would start the walk several steps off.
AVIF's score rises only about half a point a quality step near the presets, so its whole-image checks keep a pass
only within `surplus` of the target and re-aim at the target itself once the sample's error is known
(`refine_margin` 0): JPEG's margins would stop it steps above the lowest passing quality
(`python -m bench.avif_gap` compares the function with an exact search, bench/results/train/avif-gap.md)."""

CHECKS = 3
"""Whole-image encodes a variant may take to show it reaches the target and to come down to it."""


def _carried(metadata: Metadata) -> dict[str, object]:
    """What AVIF and WebP carry of the JPEG's metadata: ICC profile, EXIF (its orientation already applied) and XMP."""
    options: dict[str, object] = {}
    if metadata.icc_profile:
        options["icc_profile"] = metadata.icc_profile
    if metadata.exif:
        exif = Image.Exif()
        exif.load(metadata.exif)
        exif.pop(ORIENTATION, None)
        if exif:
            options["exif"] = exif.tobytes()
    if metadata.xmp:
        options["xmp"] = metadata.xmp
    return options


TRANSPOSES = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}
"""EXIF orientation -> the transpose that shows the stored pixels upright (as ImageOps.exif_transpose)."""


def upright(pixels: Image.Image, metadata: Metadata) -> Image.Image:
    """The pixels as a viewer shows them: the EXIF orientation applied."""
    if not metadata.exif:
        return pixels
    exif = Image.Exif()
    exif.load(metadata.exif)
    method = TRANSPOSES.get(exif.get(ORIENTATION, 1))
    return pixels.transpose(method) if method else pixels


class Scored:
    """One image (the sample or the whole) with its SSIMULACRA2 reference, scoring encodings of one codec."""

    def __init__(self, image: Image.Image, codec: Codec, metadata: Metadata) -> None:
        self.image, self._codec, self._metadata = image, codec, metadata
        self._reference = Reference(search.scored_pixels(image))
        self.tried: dict[int, tuple[float, bytes]] = {}

    def measure(self, quality: int) -> tuple[float, bytes]:
        if quality not in self.tried:
            data = self._codec.encode(self.image, quality, self._metadata)
            self.tried[quality] = (self._reference.score(search.scored_pixels(Image.open(io.BytesIO(data)))), data)
        return self.tried[quality]


def made(pixels: Image.Image, metadata: Metadata, jpeg_quality: int, output_bytes: int, target: int,
         wanted: tuple[str, ...]) -> tuple[tuple[Output, ...], tuple[Skipped, ...]]:
    """The variants of `wanted` (FORMATS words) that reach `target` with fewer bytes than the output, `output_bytes`
    (what the key holds: the JPEG, or the upload kept as it came), smallest first, and those that do not, with
    why. Pictures under search.MIN_SIDE pixels a side get none: SSIMULACRA2 cannot score them as they are."""
    codecs = [CODECS[name] for name in wanted if name in CODECS]
    if not codecs:
        return (), ()
    if min(pixels.size) < search.MIN_SIDE:
        return (), tuple(Skipped(codec.name, "too-small") for codec in codecs)
    shown = upright(pixels, metadata)
    found = {codec.name: one(shown, metadata, codec, jpeg_quality, target) for codec in codecs}
    kept = sorted((v for v in found.values() if v and len(v.data) < output_bytes), key=lambda v: len(v.data))
    skipped = tuple(Skipped(name, "target-unreachable") if v is None else Skipped(name, "not-smaller", len(v.data))
                    for name, v in found.items() if v not in kept)
    return tuple(kept), skipped


def one(pixels: Image.Image, metadata: Metadata, codec: Codec, jpeg_quality: int, target: int) -> Output | None:
    """The lowest quality of `codec` reaching `target` on the sample, confirmed on the whole image; None where
    CHECKS whole-image encodes do not reach it."""
    tiles = search.sample(pixels)
    codec = codec.for_pixels(pixels.width * pixels.height)
    bounds = search.Bounds(codec.low, codec.high)
    start = codec.start(jpeg_quality, target)
    whole = Scored(pixels, codec, metadata)
    if tiles is pixels:
        quality = lowest(lambda q: whole.measure(q)[0], start, bounds, target)
        return None if quality is None else _as_variant(codec, quality, *whole.measure(quality), target)
    sampled = Scored(tiles, codec, Metadata())
    quality = lowest(lambda q: sampled.measure(q)[0], start, bounds, target + search.SAMPLE_MARGIN)
    return None if quality is None else _confirmed(whole, sampled, quality, bounds, target, codec)


TRIES = 8
"""Encodes a variant's search may spend on the sample (or on an image of at most search.WHOLE_MAX_PIXELS)."""


def lowest(score: Callable[[int], float], start: int, bounds: search.Bounds, goal: float) -> int | None:
    """The lowest quality scoring at least `goal`, within TRIES scores: steps doubling away from `start` until the
    goal is bracketed, then bisection. Not search.walk, whose steps are sized for JPEG's score curve: AVIF's
    rises several times more slowly with quality near the presets, and its steps would fall short. None where
    even bounds.high fails."""
    passing: int | None = None
    failing: int | None = None
    quality, step = start, 4
    for _ in range(TRIES):
        if score(quality) >= goal:
            passing = quality
        else:
            failing = quality
        if passing is not None and failing is not None:
            if passing - failing <= 1 or failing > passing:
                break
            quality = (passing + failing) // 2
        elif (passing is None and quality == bounds.high) or (failing is None and quality == bounds.low):
            break
        else:
            quality = bounds.clamp(quality + step if passing is None else quality - step)
            step *= 2
    return passing


def _confirmed(whole: Scored, sampled: Scored, quality: int, bounds: search.Bounds, target: int,
               codec: Codec) -> Output | None:
    """The sample's answer checked on the whole image, CHECKS times at most. After each check the sample's error at
    that quality is known (its score minus the whole image's), so the next try is the sample's lowest quality
    reaching the target moved by that error: higher where the whole image fell short, lower where it passed by
    search.SURPLUS or more (AVIF's score on the mosaic's seams runs several points off the whole image's). The
    lowest quality that passed on the whole image is kept."""
    best: int | None = None
    for _ in range(CHECKS):
        score = whole.measure(quality)[0]
        if score >= target:
            best = quality if best is None else min(best, quality)
            if score < target + codec.surplus:
                break
        goal = target + sampled.measure(quality)[0] - score + codec.refine_margin
        aimed = lowest(lambda q: sampled.measure(q)[0], quality, bounds, goal) or bounds.high
        aimed = max(aimed, quality + 1) if score < target else min(aimed, quality - 1)
        if aimed in whole.tried or not bounds.low <= aimed <= bounds.high or (best is not None and aimed > best):
            break
        quality = aimed
    return None if best is None else _as_variant(codec, best, *whole.measure(best), target)


def _as_variant(codec: Codec, quality: int, score: float, data: bytes, target: int) -> Output | None:
    if score < target:
        return None
    return Output(Variant(codec.name, quality, round(score, 2), len(data)), codec.content_type, data)


def tuned(codec: Codec, **changes: object) -> Codec:
    """`codec` with other settings (the tuning benchmark tries several)."""
    return replace(codec, **changes)
