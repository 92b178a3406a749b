"""Measure an upload before deciding anything: format, size, bits per pixel, the source's own JPEG quality."""

from __future__ import annotations

import io
import re
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, JpegImagePlugin

from handler.errors import Rejected

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
"""The name every output carries, so that it is never optimised again: in the file, a JPEG comment (`mark`);
on S3, a user-metadata key (handler.storage)."""

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
    greyscale)."""
    count = len(quantization)
    return count in (1, 2) and any(
        all(np.array_equal(quantization.get(i, ()), by_quality[i][quality - 1]) for i in range(count))
        for by_quality in _BY_QUALITY.values()
    )


def own_mark(image: Image.Image) -> str | None:
    """The mark of an output of this function, where the file is still the encoding the mark describes (its
    tables are those of the marked quality). An output re-saved by an editor that keeps comments has other
    tables, and is optimised like any other upload."""
    if not isinstance(image, JpegImagePlugin.JpegImageFile):
        return None
    for name, payload in image.applist:
        quality = marked_quality(payload) if name == "COM" else None
        if quality and _has_tables_of(image.quantization, quality):
            return payload.decode()
    return None


@dataclass(frozen=True)
class Probe:
    """What the header says about an upload, read without decoding its pixels."""

    format: str
    width: int
    height: int
    mode: str
    bytes: int
    frames: int
    source_quality: int | None
    source_subsampling: str | None
    progressive: bool
    mark: str | None = None
    """This function's mark (`own_mark`): the upload is one of its outputs."""

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def bpp(self) -> float:
        """Bits per pixel of the file as uploaded: 8 x bytes / (width x height)."""
        return 8 * self.bytes / self.pixels


_SIGNATURES = (
    ("PNG", 0, b"\x89PNG\r\n\x1a\n"),
    ("JPEG", 0, b"\xff\xd8\xff"),
    ("GIF", 0, b"GIF8"),
    ("WebP", 8, b"WEBP"),
    ("AVIF", 4, b"ftypavif"),
)
"""Magic numbers of formats Pillow reads: a file that has one but does not open is damaged, not foreign."""

_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
"""ISO-BMFF major brands of HEIF/HEIC (phone cameras' format); Pillow decodes them only with pillow-heif."""


DECODE_ERRORS = (OSError, SyntaxError, ValueError, TypeError, EOFError, struct.error)
"""What Pillow's readers raise on a damaged file (a fuzz of 1,800 mutated files met SyntaxError and TypeError
beyond the first three). Anything else is left to raise: it is more likely a fault here than in the file."""


def damaged(fault: object, part: str) -> Rejected:
    """A file in a format Pillow reads whose `part` cannot be decoded: cut short, or otherwise corrupt.

    Pillow's message is kept (shortened) as the detail: it names the fault, not the object's content.
    """
    message = str(fault)[:160]
    reason = "truncated" if "truncated" in message.lower() else "corrupt"
    return Rejected(reason, f"{part} could not be decoded ({message})")


def frame_count(image: Image.Image) -> int:
    """How many frames the file holds. Pillow reads a TIFF's whole IFD chain for this, so a damaged
    chain (a next-IFD offset past the end) fails here, before any pixel is decoded."""
    try:
        return getattr(image, "n_frames", 1)
    except DECODE_ERRORS as exc:
        raise damaged(exc, "the frame index") from exc


def _riff_length(data: bytes) -> int:
    """The file length a RIFF header (WebP's container) declares: its size field plus the 8 bytes before it."""
    return 8 + int.from_bytes(data[4:8], "little")


def _unopenable(data: bytes, exc: Exception) -> Rejected:
    """Why Pillow could not open `data`: a format without a decoder here, a damaged image, or no image."""
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        brand = data[8:12].decode("ascii")
        return Rejected("unsupported-format", f"HEIF/HEIC (brand {brand}): no decoder for it in this build")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and _riff_length(data) > len(data):
        # Pillow's WebP decoder says only "could not create decoder object"; the RIFF header has the length.
        return Rejected("truncated", f"the WebP is cut short: {len(data)} of the {_riff_length(data)} bytes declared")
    # Pillow's UnidentifiedImageError names only the BytesIO object (with its address): say it plainly.
    fault = "no reader accepted it" if isinstance(exc, Image.UnidentifiedImageError) else exc
    for name, offset, magic in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return damaged(fault, f"the {name} header")
    return Rejected("not-an-image", "no image format recognised")


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


def _arithmetic_coded(data: bytes) -> bool:
    """Whether a JPEG's header declares arithmetic coding. Valid (jpegtran -arithmetic writes it), but the
    libjpeg-turbo in Pillow's wheels has no decoder for it."""
    return any(marker in _ARITHMETIC_MARKERS for marker, _ in header_segments(data))


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Open (lazily) with a deliberate pixel cap, so that a bomb is refused before any decoding."""
    if not data:
        raise Rejected("empty", "the object has no bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Rejected("too-many-pixels", f"refused as a decompression bomb: {exc}") from exc
    except (Image.UnidentifiedImageError, *DECODE_ERRORS) as exc:
        raise _unopenable(data, exc) from exc
    if isinstance(image, JpegImagePlugin.JpegImageFile) and _arithmetic_coded(data):
        raise Rejected("unsupported-format", "arithmetic-coded JPEG: no decoder for it in this build")
    if image.width < 1 or image.height < 1:
        raise Rejected("not-an-image", f"image has no pixels ({image.width}x{image.height})")
    if image.width * image.height > max_pixels:
        raise Rejected(
            "too-many-pixels", f"{image.width}x{image.height} is over the limit of {max_pixels} pixels"
        )
    return image


def probe(image: Image.Image, size: int) -> Probe:
    is_jpeg = isinstance(image, JpegImagePlugin.JpegImageFile)
    sampling = JpegImagePlugin.get_sampling(image) if is_jpeg else -1
    return Probe(
        format=image.format or "unknown",
        width=image.width,
        height=image.height,
        mode=image.mode,
        bytes=size,
        frames=frame_count(image),
        source_quality=estimate_jpeg_quality(getattr(image, "quantization", {})) if is_jpeg else None,
        source_subsampling=SUBSAMPLING_NAMES.get(sampling),
        progressive=bool(image.info.get("progressive") or image.info.get("progression")),
        mark=own_mark(image),
    )
