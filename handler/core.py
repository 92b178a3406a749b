"""The functional core: bytes and settings in, the decision out (the bytes to publish and the record of why).
Decode, measure, predict, encode, verify. No S3, no events, no Lambda."""

from __future__ import annotations

import logging
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from PIL import Image

from handler import log
from handler.errors import KeepOriginal, Rejected
from handler.image import decode, encode, failure, intake
from handler.image.jpeg import mark, with_mark
from handler.image.metadata import Metadata, carried
from handler.quality import search, variants
from handler.quality.features import features
from handler.quality.model import Model
from handler.result import ATTACHMENT, JPEG, OCTET_STREAM, OPTIMIZED, ORIGINAL_KEPT, REJECTED, Decision, Result
from handler.settings import Settings

GREY_NOTE = "every pixel is grey: written as a greyscale JPEG"

SERVED_AS = {"MPO": "JPEG"}
"""Formats whose Pillow MIME type browsers and CDNs do not take, as the format they do take for the same bytes:
a multi-picture JPEG (a camera's MPO, an Ultra HDR gain map) is image/jpeg to every reader, not image/mpo."""


def published_type(outcome: str, image_format: str | None) -> tuple[str, str | None]:
    """The Content-Type and Content-Disposition of what is published: JPEG for an optimized output; for the
    original bytes, the image type of the format the core read them as. Never the uploader's declared type: an
    HTML page or an SVG sent as text/html or image/svg+xml would be republished for a browser to run (stored
    XSS where the output bucket is served from the site's origin). What the core did not read as an image (any
    rejection, and formats without an image/* type, such as EPS) is application/octet-stream as an attachment,
    which no browser renders. The disposition None keeps the upload's own."""
    detected = Image.MIME.get(SERVED_AS.get(image_format, image_format), "") if image_format else ""
    if outcome == OPTIMIZED:
        return JPEG, None
    if outcome == ORIGINAL_KEPT and detected.startswith("image/"):
        return detected, None
    return OCTET_STREAM, ATTACHMENT


def refused(reason: str, detail: str, size: int, settings: Settings, model: Model) -> Result:
    """The record of an input of `size` bytes refused before it was looked at, and published as it came."""
    content_type, disposition = published_type(REJECTED, None)
    return Result(REJECTED, reason, detail, settings.target, model.version, bytes_in=size, bytes_out=size,
                  content_type=content_type, content_disposition=disposition)


def too_large(size: int, settings: Settings, model: Model, note: str = "") -> Result:
    """The record of an input over MAX_INPUT_BYTES. It needs only the size, so a shell that knows the size
    first (S3's ContentLength) can decide without reading the bytes; `note` says what the shell did instead."""
    detail = f"{size} bytes is over the limit of {settings.max_input_bytes}" + (f"; {note}" if note else "")
    return refused("too-large", detail, size, settings, model)


def optimize(data: bytes, settings: Settings, model: Model) -> Decision:
    """Recompress `data` to the lowest quality predicted (and, with VERIFY, checked) to reach settings.target.
    Returns the bytes to publish (the original when that is better) and the record of why, with the
    Content-Type and Content-Disposition to publish them under (published_type).
    Never raises for bad input: that is a 'rejected' record.

    Pillow reports the damage it works around (a corrupt EXIF tag, a malformed TIFF tag) as warnings,
    which would reach stderr with no object named: the record's detail keeps them instead."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decision = _optimize(data, settings, model)
    notes = dict.fromkeys(f"warning: {' '.join(str(w.message).split())}" for w in caught)
    if not notes:
        return decision
    return replace(decision, result=replace(decision.result, detail="; ".join([decision.result.detail, *notes])))


@contextmanager
def pixel_limit(max_pixels: int) -> Iterator[None]:
    """MAX_PIXELS as Pillow's decompression-bomb limit for the body of the block: the one limit, in open() and in
    the checks Pillow repeats inside load() for formats that nest an image (ICNS, ICO), which the core's own
    header check cannot see. Pillow warns above its limit and raises only above twice it, so the warning is made
    an error: the limit is then exactly `max_pixels`.

    Image.MAX_IMAGE_PIXELS is process-global, like the warning filters: it is set for the call and restored after
    it, so that the core obeys the Settings it is given (not the first ones of the process) and leaves Pillow as
    it found it for any other code in the process. Safe because one process works on one upload at a time (Lambda;
    the CLI's workers are processes), as warnings.catch_warnings already assumes."""
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _optimize(data: bytes, settings: Settings, model: Model) -> Decision:
    if len(data) > settings.max_input_bytes:
        return Decision(data, too_large(len(data), settings, model))
    try:
        with pixel_limit(settings.max_pixels):
            image = intake.open_image(data, settings.max_pixels)
            info = intake.probe(image, len(data))
            return _recompress(data, image, info, settings, model)
    except Rejected as exc:
        return Decision(data, refused(exc.reason, exc.detail, len(data), settings, model))
    except Exception as exc:  # noqa: BLE001 - the one boundary: named by failure.classify, never re-raised
        return Decision(data, _failed(exc, len(data), settings, model))


def _failed(exc: Exception, size: int, settings: Settings, model: Model) -> Result:
    """The record of an upload whose image work raised: whatever the library raises becomes a named outcome with
    the original published (handler.image.failure). BaseException that is not an Exception (KeyboardInterrupt,
    SystemExit, the runtime's own) passes: it is not about the upload."""
    found = failure.classify(exc)
    if found.reason == "internal-error":
        log.emit("internal-error", logging.ERROR, step=failure.step(exc), exception=type(exc).__name__,
                 traceback="".join(traceback.format_exception(exc)))
    content_type, disposition = published_type(found.outcome, None)
    return Result(found.outcome, found.reason, found.detail, settings.target, model.version, bytes_in=size,
                  bytes_out=size, content_type=content_type, content_disposition=disposition)


def _recompress(data: bytes, image: Image.Image, info: intake.Probe, settings: Settings, model: Model) -> Decision:
    described = {"target": settings.target, "model_version": model.version, "bytes_in": len(data), "bpp": info.bpp,
                 "source_quality": info.source_quality, "format": info.format, "width": info.width,
                 "height": info.height}

    def kept(reason: str, detail: str, **chosen: object) -> Decision:
        content_type, disposition = published_type(ORIGINAL_KEPT, info.format)
        record = Result(ORIGINAL_KEPT, reason, detail, bytes_out=len(data), content_type=content_type,
                        content_disposition=disposition, **chosen, **described)
        return Decision(data, record)

    if info.mark:
        return kept("already-optimized", f"an output of this function ({info.mark}): optimizing it again would add "
                                         "loss to loss")
    if info.source_quality is not None and info.source_quality < settings.min_quality:
        return kept("low-source-quality", f"the source's own quality is {info.source_quality}, below MIN_QUALITY "
                                          f"{settings.min_quality}: any output would be encoded below it")
    try:
        pixels = decode.decode(image)
    except KeepOriginal as exc:
        return kept(exc.reason, exc.detail)
    metadata, notes = carried(image, settings.metadata)  # read while the source is loaded: a PNG's text may follow IDAT
    if pixels is not image:
        image.close()  # the converted-from buffer (RGBA: 4 bytes a pixel) would sit idle under the verifier's work
    if (grey := decode.grey_as_l(pixels, metadata)) is not pixels:
        pixels, notes = grey, "; ".join(filter(None, [GREY_NOTE, notes]))
    predicted = model.predict(features(info, pixels), settings.target)
    bounds = search.Bounds.of(settings.min_quality, settings.max_quality, info)
    choose = search.verified if settings.verify else search.unchecked
    candidate = choose(pixels, bounds.clamp(predicted), bounds, settings.target, metadata)
    chosen = {
        "quality": candidate.quality,
        "predicted_quality": round(predicted),
        "score": None if candidate.score is None else round(candidate.score, 2),
        "subsampling": None if pixels.mode == "L" else candidate.subsampling,
        "tables": candidate.tables,
        "whole_image_checks": candidate.whole_image_checks,
    }
    if candidate.score is not None and candidate.score < settings.target:
        detail = f"quality {candidate.quality}, the highest allowed, scores {candidate.score:.1f} < {settings.target}"
        return with_variants(kept("target-unreachable", detail, **chosen), pixels, metadata, candidate.quality,
                             settings)
    leaner = encode.leaner(candidate.data, candidate.tables)
    output = with_mark(leaner, mark(settings.target, candidate.quality))
    if len(output) >= len(data):
        detail = f"quality {candidate.quality} gave {len(output)} bytes, not fewer than {len(data)}"
        return with_variants(kept("not-smaller", detail, **chosen), pixels, metadata, candidate.quality, settings)
    reason = "predicted" if candidate.score is None else "verified-on-sample" if candidate.sampled else "verified"
    detail = f"quality {candidate.quality}, {len(data)} -> {len(output)} bytes" + (f"; {notes}" if notes else "")
    optimized = Decision(output, Result(OPTIMIZED, reason, detail, bytes_out=len(output), content_type=JPEG,
                                        **chosen, **described))
    return with_variants(optimized, pixels, metadata, candidate.quality, settings)


def with_variants(decision: Decision, pixels: Image.Image, metadata: Metadata, jpeg_quality: int,
                  settings: Settings) -> Decision:
    """The decision with the variants FORMATS asks for that are smaller than what it publishes at the key: the JPEG,
    or the upload itself where no JPEG reaching the target was smaller or none reached it (a HEIC coded at a low
    quality, whose key browsers other than Safari cannot show, gets an AVIF or WebP they can). Searched from the
    JPEG's quality."""
    beside, skipped = variants.made(pixels, metadata, jpeg_quality, len(decision.data), settings.target,
                                    settings.formats)
    result = replace(decision.result, variants=tuple(v.variant for v in beside), variants_skipped=skipped)
    return replace(decision, result=result, variants=beside)
