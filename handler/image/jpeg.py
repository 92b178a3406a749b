"""JPEG bytes without Pillow's help: quantisation tables and the quality they imply, the mark every output
carries, and the marker segments of a header."""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np
from PIL import Image, JpegImagePlugin

from handler.image import jpegli

# libjpeg's base tables (ITU T.81 Annex K), in natural (row-major) order as Pillow reports them.
_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
], dtype=np.float64)  # fmt: skip
_CHROMA = np.array([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
] + [99] * 32, dtype=np.float64)  # fmt: skip

_ROBIDOUX = np.array([
    16, 16, 16, 18, 25, 37, 56, 85, 16, 17, 20, 27, 34, 40, 53, 75,
    16, 20, 24, 31, 43, 62, 91, 135, 18, 27, 31, 40, 53, 74, 106, 156,
    25, 34, 43, 53, 69, 94, 131, 189, 37, 40, 62, 74, 94, 124, 169, 238,
    56, 53, 91, 106, 131, 169, 226, 311, 85, 75, 135, 156, 189, 238, 311, 418,
], dtype=np.float64)  # fmt: skip
"""mozjpeg's default base table, by N. Robidoux (from ImageMagick), used for luma and chroma alike."""

ANNEX_K, ROBIDOUX = "annex-k", "robidoux"
TABLE_SETS = {ANNEX_K: (_LUMA, _CHROMA), ROBIDOUX: (_ROBIDOUX, _ROBIDOUX)}
"""The base tables (luma, chroma) an output may be coded with, by the name the record's `tables` gives. Either
is scaled by quality as libjpeg scales its own."""

SUBSAMPLING_NAMES = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}


def libjpeg_table(base: np.ndarray, quality: int) -> np.ndarray:
    """The table libjpeg (and so Pillow) writes for `quality`: base scaled, rounded, clamped to 1..255. The
    scale is libjpeg's integer one: 5000 / quality rounded down below 50."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip(np.floor((base * scale + 50) / 100), 1, 255)


_CANDIDATES = np.arange(1, 101)
_BY_QUALITY = {name: tuple(np.stack([libjpeg_table(base, q) for q in _CANDIDATES]) for base in bases)
               for name, bases in TABLE_SETS.items()}
_LUMA_BY_QUALITY, _CHROMA_BY_QUALITY = _BY_QUALITY[ANNEX_K]


def estimate_jpeg_quality(quantization: dict[int, list[int]]) -> int | None:
    """The libjpeg quality whose tables are nearest (least squares) to the file's own.

    Encoders with their own tables (mozjpeg, jpegli, cameras) get the nearest standard quality,
    which is what "never re-encode above the source's quality" needs.
    """
    if not quantization or 0 not in quantization:
        return None
    error = ((_LUMA_BY_QUALITY - np.asarray(quantization[0], dtype=np.float64)) ** 2).sum(axis=1)
    if 1 in quantization:
        error += ((_CHROMA_BY_QUALITY - np.asarray(quantization[1], dtype=np.float64)) ** 2).sum(axis=1)
    return int(_CANDIDATES[int(np.argmin(error))])


MARKER = "optimal-image"
"""The name every output carries, so that it is never optimized again: in the file, a JPEG comment (`mark`);
on S3, a user-metadata key (handler.aws.pipeline)."""

_MARK = re.compile(re.escape(MARKER).encode() + rb" target=(\d+) quality=(100|[1-9][0-9]?)")


def mark(target: int, quality: int) -> bytes:
    """The comment written into every optimized output. Re-encoding an output scores the new encoding
    against the output, not the original, so the loss would add up round after round (`python -m
    bench.rounds`)."""
    return f"{MARKER} target={target} quality={quality}".encode()


def marked_quality(comment: bytes) -> int | None:
    """The quality a comment written by `mark` states; None for any other comment."""
    found = _MARK.fullmatch(comment)
    return int(found[2]) if found else None


def _has_tables_of(quantization: dict[int, list[int]], quality: int) -> bool:
    """Whether the file's quantisation tables are those of `quality` in one of the TABLE_SETS (one table for
    greyscale), or jpegli's at `quality`."""
    count = len(quantization)
    return count in (1, 2) and (any(
        all(np.array_equal(quantization.get(i, ()), by_quality[i][quality - 1]) for i in range(count))
        for by_quality in _BY_QUALITY.values()
    ) or {i: list(table) for i, table in quantization.items()} == jpegli.tables(quality))


def own_mark(image: Image.Image) -> str | None:
    """The mark of an output of this function, where the file is still the encoding the mark describes (its
    tables are those of the marked quality, from either encoder). An output re-saved by an editor that keeps
    comments has other tables, and is optimized like any other upload."""
    if not isinstance(image, JpegImagePlugin.JpegImageFile):
        return None
    for name, payload in image.applist:
        quality = marked_quality(payload) if name == "COM" else None
        if quality and _has_tables_of(image.quantization, quality):
            return payload.decode()
    return None


_ARITHMETIC_MARKERS = frozenset({0xC9, 0xCA, 0xCB, 0xCC, 0xCD, 0xCE, 0xCF})
"""SOF9-SOF11 and SOF13-SOF15 (frames coded arithmetically) and DAC (their conditioning tables)."""


def header_segments(jpeg: bytes) -> Iterator[tuple[int, int]]:
    """(marker, offset) of each marker segment of a JPEG's header, from after SOI up to its first scan."""
    at = 2
    while at + 4 <= len(jpeg) and jpeg[at] == 0xFF:
        marker = jpeg[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0xDA:  # start of scan: the header is over
            return
        yield marker, at
        at += 2 + int.from_bytes(jpeg[at + 2 : at + 4], "big")


def arithmetic_coded(data: bytes) -> bool:
    """Whether a JPEG's header declares arithmetic coding. Valid (jpegtran -arithmetic writes it), but the
    libjpeg-turbo in Pillow's wheels has no decoder for it."""
    return any(marker in _ARITHMETIC_MARKERS for marker, _ in header_segments(data))


MAX_SCANS = 100
"""The most scans a JPEG may have. Each scan of a progressive JPEG makes libjpeg pass over every block of the image
again (about 30 ms at 49 MP for an empty refinement scan of under 100 bytes), so a small file of thousands of
scans decodes for minutes. Ordinary encoders write 10 (libjpeg-turbo progressive, YCbCr), 6 (greyscale) or
2 + 4 x components (other colour spaces: 18 for CMYK); 100 is ten times that, and bounds the worst case at 49 MP
to a few seconds beyond the pixels' own cost."""

_NEXT_MARKER = re.compile(rb"\xff(?=[^\x00\xd0-\xd7\xff])")
"""The 0xFF that starts the next marker after entropy-coded data: not a stuffed 0xFF00, a restart marker RST0-7,
or a fill byte (the last of a run of 0xFF is the one followed by the marker code)."""

_NO_LENGTH = frozenset({0x01, *range(0xD0, 0xD8)})
"""TEM and RST0-7: markers without a length field."""


def count_scans(jpeg: bytes, limit: int = MAX_SCANS) -> int:
    """How many scans (SOS markers) the JPEG's marker structure holds, counted up to limit + 1, before anything is
    decoded. It walks the segments by their lengths, so an EXIF thumbnail's scans (inside APP1) are skipped with
    it, and stops at the first EOI, so an MPO's later pictures are not counted. Entropy-coded data is skipped with
    one regular-expression search for the next real marker: 3 GB/s on ordinary files, under 300 MB/s in the worst
    case (a scan of stuffed 0xFF00 bytes), so well under a second at the input size limit. Damage stops the count
    where libjpeg stops decoding too, so a scan past it is neither counted nor decoded."""
    at, scans = 2, 0
    while at + 4 <= len(jpeg) and jpeg[at] == 0xFF and scans <= limit:
        marker = jpeg[at + 1]
        if marker == 0xD9:  # EOI
            break
        if marker == 0xFF or marker in _NO_LENGTH:  # a fill byte, or a marker of two bytes
            at += 1 if marker == 0xFF else 2
            continue
        at += 2 + int.from_bytes(jpeg[at + 2 : at + 4], "big")
        if marker == 0xDA:
            scans += 1
            found = _NEXT_MARKER.search(jpeg, at)  # past the scan's entropy-coded data, at C speed
            at = found.start() if found else len(jpeg)
    return scans


def with_mark(jpeg: bytes, mark: bytes) -> bytes:
    """`jpeg` with `mark` as a comment segment of its own, so that a comment carried from the source stays
    as it was (and stays the one Pillow reports: it reads the last)."""
    return with_segments(jpeg, 0xFE, (mark,))


def with_segments(jpeg: bytes, marker: int, payloads: tuple[bytes, ...]) -> bytes:
    """`jpeg` with `marker` segments of `payloads` inserted after the APP segments already at its start."""
    if not payloads:
        return jpeg
    at = next(offset for marker, offset in header_segments(jpeg) if not 0xE0 <= marker <= 0xEF)
    segments = b"".join(bytes([0xFF, marker]) + (len(p) + 2).to_bytes(2, "big") + p for p in payloads)
    return jpeg[:at] + segments + jpeg[at:]
