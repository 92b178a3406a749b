"""The functional core: bytes and settings in, bytes and a result record out. No S3, no events, no Lambda."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from PIL import Image

from handler import pixels as px
from handler.config import Settings
from handler.errors import Rejected
from handler.features import features
from handler.model import Model
from handler.probe import Probe, mark, open_image, probe

OPTIMIZED = "optimized"
ORIGINAL_KEPT = "original-kept"
REJECTED = "rejected"

JPEG = "image/jpeg"

GREY_NOTE = "every pixel is grey: written as a greyscale JPEG"


@dataclass(frozen=True)
class Result:
    """What happened to one input. Its field names are the tag keys, log keys and JSON keys."""

    outcome: str
    reason: str
    detail: str
    target: int
    model_version: str
    bytes_in: int
    bytes_out: int
    quality: int | None = None
    predicted_quality: int | None = None
    score: float | None = None
    subsampling: str | None = None
    tables: str | None = None
    bpp: float | None = None
    source_quality: int | None = None
    format: str | None = None
    width: int | None = None
    height: int | None = None
    content_type: str | None = None

    @property
    def saving(self) -> float:
        return 1 - self.bytes_out / self.bytes_in if self.bytes_in else 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def tags(self) -> dict[str, str]:
        """The S3 object tags (at most 10; values within S3's allowed characters). `tables` says what `quality`
        scales: the same number means other quantisation with other tables."""
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "quality": "" if self.quality is None else str(self.quality),
            "tables": self.tables or "",
            "target": str(self.target),
            "bpp": "" if self.bpp is None else f"{self.bpp:.3f}",
            "bytes_in": str(self.bytes_in),
            "bytes_out": str(self.bytes_out),
            "model_version": self.model_version,
        }


@dataclass(frozen=True)
class Candidate:
    """One encoding of the pixels, and what the verifier thinks of it (None when not verified)."""

    data: bytes
    quality: int
    subsampling: str
    tables: str
    """The quantisation tables `quality` scales (a probe.TABLE_SETS name)."""
    score: float | None
    sampled: bool = False
    """The score is of a sample of the image, not of all of it (photos over verify.CONFIRM_MAX_PIXELS)."""


@dataclass(frozen=True)
class Bounds:
    """The qualities a chooser may pick from: the configured range, capped at the source's own quality."""

    low: int
    high: int

    @classmethod
    def of(cls, settings: Settings, info: Probe) -> Bounds:
        high = settings.max_quality if info.source_quality is None else min(settings.max_quality, info.source_quality)
        return cls(min(settings.min_quality, high), high)

    def clamp(self, quality: float) -> int:
        return min(max(round(quality), self.low), self.high)


Chooser = Callable[[Image.Image, int, Bounds, Settings, dict[str, object]], Candidate]
"""Given decoded pixels and the predicted quality (within bounds), settle on one encoding (see handler.verify)."""


def encode_predicted(
    pixels: Image.Image, quality: int, bounds: Bounds, settings: Settings, extra: dict[str, object]
) -> Candidate:
    """One encode at the predicted quality, unchecked: the seed's behaviour. It is coded with libjpeg's tables,
    those of the labels the model learnt: at an unchecked quality, other tables would be a guess on a guess."""
    return Candidate(px.encode(pixels, quality, "4:2:0", extra), quality, "4:2:0", px.ANNEX_K, None)


SERVED_AS = {"MPO": "JPEG"}
"""Formats whose Pillow MIME type browsers and CDNs do not take, as the format they do take for the same bytes:
a multi-picture JPEG (a camera's MPO, an Ultra HDR gain map) is image/jpeg to every reader, not image/mpo."""


def rejected(reason: str, detail: str, size: int, settings: Settings, model: Model) -> Result:
    """The record of an input of `size` bytes refused before it was looked at, and published as it came."""
    return Result(REJECTED, reason, detail, settings.target, model.version, bytes_in=size, bytes_out=size)


def too_large(size: int, settings: Settings, model: Model) -> Result:
    """The record of an input over MAX_INPUT_BYTES. It needs only the size, so a shell that knows the size
    first (S3's ContentLength) can decide without reading the bytes."""
    return rejected("too-large", f"{size} bytes is over the limit of {settings.max_input_bytes}", size, settings, model)


def optimize(data: bytes, settings: Settings, model: Model, choose: Chooser = encode_predicted) -> tuple[bytes, Result]:
    """Recompress `data` to the lowest quality predicted (and, with a verifying chooser, checked)
    to reach settings.target. Returns the bytes to publish (the original when that is better) and
    the record of why. Never raises for bad input: that is a 'rejected' record.

    Pillow reports the damage it works around (a corrupt EXIF tag, a malformed TIFF tag) as warnings,
    which would reach stderr with no object named: the record's detail keeps them instead."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        published, result = _optimize(data, settings, model, choose)
    notes = dict.fromkeys(f"warning: {' '.join(str(w.message).split())}" for w in caught)
    return published, replace(result, detail="; ".join([result.detail, *notes])) if notes else result


def _optimize(data: bytes, settings: Settings, model: Model, choose: Chooser) -> tuple[bytes, Result]:
    if len(data) > settings.max_input_bytes:
        return data, too_large(len(data), settings, model)
    base = {"target": settings.target, "model_version": model.version, "bytes_in": len(data)}
    try:
        image = open_image(data, settings.max_pixels)
        info = probe(image, len(data))
        described = {
            **base,
            "bpp": info.bpp,
            "source_quality": info.source_quality,
            "format": info.format,
            "width": info.width,
            "height": info.height,
        }
        return _recompress(data, image, info, settings, model, choose, described)
    except Rejected as exc:
        return data, Result(outcome=REJECTED, reason=exc.reason, detail=exc.detail, bytes_out=len(data), **base)


def _recompress(
    data: bytes,
    image: Image.Image,
    info: Probe,
    settings: Settings,
    model: Model,
    choose: Chooser,
    described: dict,
) -> tuple[bytes, Result]:
    mime = Image.MIME.get(SERVED_AS.get(info.format, info.format))
    if info.mark:
        detail = f"an output of this function ({info.mark}): optimising it again would add loss to loss"
        kept = Result(ORIGINAL_KEPT, "already-optimized", detail, bytes_out=len(data), content_type=mime, **described)
        return data, kept
    try:
        pixels = px.decode(image)
    except px.KeepOriginal as exc:
        return data, Result(ORIGINAL_KEPT, exc.reason, exc.detail, bytes_out=len(data), content_type=mime, **described)
    extra, notes = px.metadata(image, settings.metadata)
    if (grey := px.grey_as_l(pixels, extra)) is not pixels:
        pixels, notes = grey, "; ".join(filter(None, [GREY_NOTE, notes]))
    predicted = model.predict(features(info, pixels), settings.target)
    bounds = Bounds.of(settings, info)
    candidate = choose(pixels, bounds.clamp(predicted), bounds, settings, extra)
    chosen = {
        "quality": candidate.quality,
        "predicted_quality": round(predicted),
        "score": None if candidate.score is None else round(candidate.score, 2),
        "subsampling": None if pixels.mode == "L" else candidate.subsampling,
        "tables": candidate.tables,
    }
    if candidate.score is not None and candidate.score < settings.target:
        detail = f"quality {candidate.quality}, the highest allowed, scores {candidate.score:.1f} < {settings.target}"
        return data, Result(
            ORIGINAL_KEPT, "target-unreachable", detail, bytes_out=len(data), content_type=mime, **chosen, **described
        )
    leaner = px.leaner(pixels, candidate.quality, candidate.subsampling, candidate.tables, extra, candidate.data)
    output = px.with_mark(leaner, mark(settings.target, candidate.quality))
    if len(output) >= len(data):
        detail = f"quality {candidate.quality} gave {len(output)} bytes, not fewer than {len(data)}"
        return data, Result(
            ORIGINAL_KEPT, "not-smaller", detail, bytes_out=len(data), content_type=mime, **chosen, **described
        )
    reason = "predicted" if candidate.score is None else "verified-on-sample" if candidate.sampled else "verified"
    detail = f"quality {candidate.quality}, {len(data)} -> {len(output)} bytes" + (f"; {notes}" if notes else "")
    result = Result(OPTIMIZED, reason, detail, bytes_out=len(output), content_type=JPEG, **chosen, **described)
    return output, result
