"""Encode pixels as JPEG with the source's metadata: quantisation tables by policy, optimized Huffman coding; the
answer's entropy coding redone where that saves bytes (`leaner`)."""

from __future__ import annotations

import io

from PIL import Image, ImageFile

from handler.image import jpegli, recode
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
    tables: str = ANNEX_K,
) -> bytes:
    """Baseline JPEG with optimized Huffman tables, as the oracle uses, quantised with the base `tables` (a TABLE_SETS
    name) scaled to `quality` (Pillow scales given tables as libjpeg its own); or, for `tables` JPEGLI, jpegli's
    sequential 4:2:0 coding of RGB pixels at `quality` on its own scale."""
    if tables == jpegli.JPEGLI:
        return with_segments(_with_header(jpegli.encode(pixels, quality), metadata), 0xED, metadata.app13)
    options: dict[str, object] = {} if pixels.mode == "L" else {"subsampling": subsampling}
    if tables != ANNEX_K:
        options["qtables"] = [base.astype(int).tolist() for base in TABLE_SETS[tables][: len(pixels.getbands())]]
    options.update(metadata.save_options())
    return with_segments(_encode(pixels, quality, options), 0xED, metadata.app13)


def _with_header(jpeg: bytes, metadata: Metadata) -> bytes:
    """`jpeg`, which has no APP or COM segment, with those Pillow writes for `metadata` (JFIF, EXIF, ICC, XMP, the
    comment), taken from its encoding of a few pixels: one writer of metadata for both encoders."""
    tiny = _save(Image.new("RGB", (8, 8)), **metadata.save_options())
    end = next(at for marker, at in header_segments(tiny) if not (0xE0 <= marker <= 0xEF or marker == 0xFE))
    return jpeg[:2] + tiny[2:end] + jpeg[2:]


def _encode(pixels: Image.Image, quality: int, options: dict[str, object]) -> bytes:
    optimized = {"quality": quality, "optimize": True, **options}
    # Optimized coding needs the whole output in one buffer, which Pillow sizes at 1 byte
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
"""Below this many bytes of output the progressive scans are not tried: on such small outputs their headers outweigh
what they save. Above it they win at nearly every bit rate (`python -m bench.recode`,
bench/results/train/recode.md)."""

PROGRESSIVE_SCRIPT: tuple[recode.Scan, ...] = (
    (0, 0, 0, 0, 0), (1, 0, 0, 0, 0), (2, 0, 0, 0, 0), (0, 1, 2, 0, 0), (0, 3, 9, 0, 1), (0, 10, 63, 0, 1),
    (1, 1, 2, 0, 0), (1, 3, 63, 0, 0), (2, 1, 2, 0, 0), (2, 3, 63, 0, 0), (0, 3, 63, 1, 0))
"""The progressive scans an answer is recoded in: each component's DC coefficients in a scan of its own (so each gets
its own Huffman table); the first component's (luma's) AC coefficients 1-2 whole, 3-9 and 10-63 without their
lowest bit, then that bit for 3-63; each chroma component's AC coefficients 1-2, then 3-63. Chosen among fixed
scripts on answers of a train draw: fewer bytes than libjpeg's standard script (Pillow's progressive=True) from
jpegli's answers and about as few from Pillow's, in less time; mozjpeg's recoder, which tries several scripts per
picture, writes a little fewer in several times the time (`python -m bench.recode`, another train draw,
bench/results/train/recode.md)."""


def leaner(encoded: bytes, tables: str) -> bytes:
    """`encoded`, or the same coefficients recoded losslessly into fewer bytes (handler.image.recode): optimized
    Huffman tables in PROGRESSIVE_SCRIPT's scans from PROGRESSIVE_MIN_BYTES up; below it a jpegli encoding (standard
    Huffman tables) in one sequential scan with optimized ones, a Pillow one (optimized already) as it is.

    Only the entropy coding changes: the decoded pixels, and so the verified score, are the same
    (tests/unit/test_recode.py). Without the recoder (recode.active()), `encoded` is published as it is. Where libjpeg
    refuses to recode (not seen on either encoder's output), `encoded` is still a valid, verified answer.
    """
    if not recode.active():
        return encoded
    small = len(encoded) < PROGRESSIVE_MIN_BYTES
    if small and tables != jpegli.JPEGLI:
        return encoded
    try:
        recoded = recode.recoded(encoded, recode.SEQUENTIAL if small else PROGRESSIVE_SCRIPT)
    except recode.RecodeError:
        return encoded
    return recoded if len(recoded) < len(encoded) else encoded


BUFFER_SLACK = 1 << 16
"""Room beyond the standard tables' output, for the optimized tables' headers."""


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
