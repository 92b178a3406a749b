"""Encode pixels as JPEG with the source's metadata: quantisation tables by policy, optimized Huffman coding, the
progressive pass where it pays."""

from __future__ import annotations

import io

from PIL import Image, ImageFile

from handler.image import jpegli
from handler.image.jpeg import ANNEX_K, ROBIDOUX, TABLE_SETS, header_segments, with_segments
from handler.image.metadata import Metadata

ROBIDOUX_BELOW = 90
"""Below this target, 4:2:0 and greyscale encodings are coded with the Robidoux tables; 4:4:4 ones, and all at 90,
with libjpeg's (Annex K): each set at its own lowest quality reaching the target, Robidoux's wrote fewer bytes in
4:2:0 below 90 and more at 90 and in 4:4:4 (`python -m bench.tables`, bench/results/train/tables.md). Their median
qualities agree within one step in 4:2:0, so the model, trained on libjpeg's, predicts for either."""


def tables_for(subsampling: str, target: int) -> str:
    """The TABLE_SETS name (handler.image.jpeg) an encoding at `subsampling` aimed at `target` is coded with."""
    return ROBIDOUX if subsampling != "4:4:4" and target < ROBIDOUX_BELOW else ANNEX_K


def encode(
    pixels: Image.Image,
    quality: int,
    subsampling: str,
    metadata: Metadata,
    progressive: bool = False,
    tables: str = ANNEX_K,
) -> bytes:
    """Baseline JPEG with optimized Huffman tables, as the oracle uses (progressive on request), quantised with
    the base `tables` (a TABLE_SETS name) scaled to `quality` (Pillow scales given tables as libjpeg its own); or,
    for `tables` JPEGLI, jpegli's sequential 4:2:0 coding of RGB pixels at `quality` on its own scale."""
    if tables == jpegli.JPEGLI:
        return with_segments(_with_header(jpegli.encode(pixels, quality), metadata), 0xED, metadata.app13)
    options: dict[str, object] = {} if pixels.mode == "L" else {"subsampling": subsampling}
    if tables != ANNEX_K:
        options["qtables"] = [base.astype(int).tolist() for base in TABLE_SETS[tables][: len(pixels.getbands())]]
    options.update(metadata.save_options())
    return with_segments(_encode(pixels, quality, progressive, options), 0xED, metadata.app13)


def _with_header(jpeg: bytes, metadata: Metadata) -> bytes:
    """`jpeg`, which has no APP or COM segment, with those Pillow writes for `metadata` (JFIF, EXIF, ICC, XMP, the
    comment), taken from its encoding of a few pixels: one writer of metadata for both encoders."""
    tiny = _save(Image.new("RGB", (8, 8)), **metadata.save_options())
    end = next(at for marker, at in header_segments(tiny) if not (0xE0 <= marker <= 0xEF or marker == 0xFE))
    return jpeg[:2] + tiny[2:end] + jpeg[2:]


def _encode(pixels: Image.Image, quality: int, progressive: bool, options: dict[str, object]) -> bytes:
    optimized = {"quality": quality, "optimize": True, "progressive": progressive, **options}
    # Optimized or progressive coding needs the whole output in one buffer, which Pillow sizes at 1 byte
    # a pixel below quality 95 (2 from 95): noisy images at high quality with 4:4:4 need more, and libjpeg
    # then fails, printing "Suspension not allowed here". The raw pixels' size holds any output up to
    # quality 95 (binary noise, the worst case tried, took 2.3 bytes a pixel with 4:4:4).
    try:
        return _save(pixels, pixels.width * pixels.height * len(pixels.getbands()), **optimized)
    except OSError:
        # Beyond it (binary noise at quality 100: 3.2 bytes a pixel), the standard tables have no such
        # limit, and their output bounds the optimized one, so it sizes the buffer for a second try.
        plain = _save(pixels, quality=quality, optimize=False, **options)
        try:
            return _save(pixels, len(plain) + BUFFER_SLACK, **optimized)
        except OSError:
            return plain


PROGRESSIVE_MIN_BYTES = 5000
"""Below this many bytes of baseline output the progressive encode is not tried: on such small outputs the progressive
scans' headers outweigh what they save, while the encode costs about two baseline ones (`make tune`,
bench/results/train/sample-tuning.md)."""

PROGRESSIVE_MIN_BPP = 0.4
"""Below this many bits per pixel of baseline output the progressive encode is not tried either: most blocks then
keep a few coefficients, each of the progressive scans pays its own end-of-block runs for them, and the baseline
encoding is nearly always the smaller (`python -m bench.progressive`, bench/results/train/progressive.md)."""


def leaner(
    pixels: Image.Image, quality: int, subsampling: str, tables: str, metadata: Metadata, encoded: bytes
) -> bytes:
    """`encoded`, or the same pixels coded progressively where that is smaller: a jpegli encoding recoded losslessly
    (jpegli.recoded), a Pillow one encoded again with progressive scans (tried from PROGRESSIVE_MIN_BYTES and
    PROGRESSIVE_MIN_BPP).

    Either way only the entropy coding changes: the decoded pixels, and so the verified score, are the same
    (tests/unit/test_core.py, tests/unit/test_jpegli.py); what it saves for one more encode is in
    bench/results/quality.md.
    """
    if tables == jpegli.JPEGLI:
        return min(encoded, jpegli.recoded(encoded), key=len) if jpegli.RECODE else encoded
    if len(encoded) < PROGRESSIVE_MIN_BYTES or 8 * len(encoded) < PROGRESSIVE_MIN_BPP * pixels.width * pixels.height:
        return encoded
    progressive = encode(pixels, quality, subsampling, metadata, progressive=True, tables=tables)
    return progressive if len(progressive) < len(encoded) else encoded


BUFFER_SLACK = 1 << 16
"""Room beyond the standard tables' output, for the optimized tables and progressive scans' headers."""


def _save(pixels: Image.Image, buffer: int = 0, **options: object) -> bytes:
    """Pillow's JPEG writer, with an output buffer of at least `buffer` bytes. Pillow reads the floor of its
    buffer from the module-level ImageFile.MAXBLOCK, so it is raised for this call only."""
    out = io.BytesIO()
    floor = ImageFile.MAXBLOCK
    ImageFile.MAXBLOCK = max(floor, buffer)
    try:
        pixels.save(out, "JPEG", **options)
    finally:
        ImageFile.MAXBLOCK = floor
    return out.getvalue()
