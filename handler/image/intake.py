"""The safe-open gate and the measure of an upload before anything is decided: format, size, bits per pixel,
the source's own JPEG quality. Nothing here decodes pixels."""

from __future__ import annotations

import functools
import importlib
import io
import struct
import warnings
from dataclasses import dataclass

from PIL import EpsImagePlugin, Image, ImageFile, JpegImagePlugin

from handler.errors import Rejected
from handler.image.failure import named, unsupported
from handler.image.jpeg import (
    MAX_SCANS,
    SUBSAMPLING_NAMES,
    arithmetic_coded,
    count_scans,
    estimate_jpeg_quality,
    own_mark,
)


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


_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
"""ISO-BMFF major brands of HEIF/HEIC (phone cameras' format); Pillow decodes them only with pillow-heif."""


_SIGNATURES = (
    ("PNG", 0, b"\x89PNG\r\n\x1a\n"),
    ("JPEG", 0, b"\xff\xd8\xff"),
    ("GIF", 0, b"GIF8"),
    ("WebP", 8, b"WEBP"),
    ("AVIF", 4, b"ftypavif"),
    ("BMP", 0, b"BM"),
    ("TIFF", 0, b"II*\x00"),
    ("TIFF", 0, b"MM\x00*"),
    ("ICO", 0, b"\x00\x00\x01\x00"),
    ("CUR", 0, b"\x00\x00\x02\x00"),
    ("DDS", 0, b"DDS "),
    ("PSD", 0, b"8BPS"),
    ("ICNS", 0, b"icns"),
    ("JPEG 2000", 4, b"jP  "),
    ("JPEG 2000", 0, b"\xff\x4f\xff\x51"),
    ("EPS", 0, b"%!PS-Adobe"),
    ("EPS", 0, b"\xc5\xd0\xd3\xc6"),
    ("WMF", 0, b"\xd7\xcd\xc6\x9a"),
    ("EMF", 40, b" EMF"),
    *(("HEIF", 4, b"ftyp" + brand) for brand in sorted(_HEIF_BRANDS)),
)
"""Magic numbers of formats Pillow reads: a file that has one but does not open is damaged, or valid with a feature
the reader lacks (its message says "unsupported"), not foreign."""


def is_heif(data: bytes) -> bool:
    """The bytes start as a HEIF/HEIC file does (an ISO-BMFF ftyp box with one of _HEIF_BRANDS)."""
    return data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS


@functools.cache
def heif_reader() -> bool:
    """Register pillow-heif's HEIF reader with Pillow, once a process, the first time a HEIF upload is met; False
    where pillow-heif is not installed (HEIF is then refused as unsupported-format). Imported here, not at
    start: a JPEG-only function never pays for it (bench/results/formats.md has the import's cost)."""
    try:
        module = importlib.import_module("pillow_heif")
    except ImportError:
        return False
    module.register_heif_opener()
    return True


DECODE_ERRORS = (OSError, SyntaxError, ValueError, TypeError, EOFError, struct.error)
"""What Pillow's readers raise on a damaged file (a fuzz of 1,800 mutated files met SyntaxError and TypeError
beyond the first three). Anything else is left to raise: it is more likely a fault here than in the file."""


SHORT_READS = (EOFError, IndexError, struct.error)
"""What Pillow's frame readers raise when the bytes end where a frame's header should be (a read returns less than
asked for, and the header's fields are then unpacked or indexed): the file is cut short."""


def damaged(fault: object, part: str) -> Rejected:
    """A file in a format Pillow reads whose `part` cannot be decoded: cut short, otherwise corrupt, or valid but
    using a feature the reader lacks (unsupported-format).

    Pillow's message is kept (shortened) as the detail: it names the fault, not the object's content.
    """
    message = str(fault)[:160]
    if unsupported(fault):  # the reader recognised the file and names a feature it lacks
        return Rejected("unsupported-format", f"{part} uses what this build cannot decode ({message})")
    reason = "truncated" if "truncated" in message.lower() else "corrupt"
    return Rejected(reason, f"{part} could not be decoded ({message})")


SHOWN_PICTURE_FORMATS = {"MPO": "preview, depth or gain map", "HEIF": "beside its primary image"}
"""Formats whose several pictures go with one that viewers show (MPO: the first; HEIF: the primary image, where
pillow-heif opens the file), and what the others are: such a file is decoded as that picture, the others left
out (metadata.carried notes it). It is a photo sent to be shrunk; keeping such files whole would leave most
camera and phone photos as they came."""


def frame_count(image: Image.Image) -> int:
    """How many frames the file holds. Pillow reads a TIFF's whole IFD chain for this, so a damaged
    chain (a next-IFD offset past the end) fails here, before any pixel is decoded."""
    try:
        return getattr(image, "n_frames", 1)
    except Exception as exc:  # noqa: BLE001 - all Pillow's: a GIF cut inside a frame's descriptor raises IndexError
        rejected = damaged(named(exc), "the frame index")
        if isinstance(exc, SHORT_READS):
            rejected = Rejected("truncated", rejected.detail)
        raise rejected from exc


def _riff_length(data: bytes) -> int:
    """The file length a RIFF header (WebP's container) declares: its size field plus the 8 bytes before it."""
    return 8 + int.from_bytes(data[4:8], "little")


def _unopenable(data: bytes, exc: Exception) -> Rejected:
    """Why Pillow could not open `data`: a format without a decoder here, a damaged image, or no image."""
    if is_heif(data) and not heif_reader():
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


def _renderer_missing(image: Image.Image) -> str:
    """What this build lacks to render a file Pillow identified ("" when nothing): a stub format's handler (WMF and
    EMF, BUFR, GRIB, HDF5: Pillow reads their header and renders them only with a handler registered, as on
    Windows), or Ghostscript for EPS (not in the Lambda runtime)."""
    if isinstance(image, ImageFile.StubImageFile) and image._handler is None:
        return f"{image.format}: identified, but this build has no renderer for it"
    if isinstance(image, EpsImagePlugin.EpsImageFile) and not EpsImagePlugin.has_ghostscript():
        return "EPS: rendering it needs Ghostscript, which this build does not have"
    return ""


def _check_jpeg(data: bytes) -> None:
    """Refuse a JPEG (an MPO too) this build cannot decode, or that would take far longer than its pixels' cost."""
    if arithmetic_coded(data):
        raise Rejected("unsupported-format", "arithmetic-coded JPEG: no decoder for it in this build")
    if count_scans(data) > MAX_SCANS:
        raise Rejected("too-many-scans", f"over {MAX_SCANS} scans (a progressive JPEG has about 10): decoding each "
                                         "is another pass over all the pixels")


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Open (lazily) with a deliberate pixel cap, so that a bomb is refused before any decoding."""
    if not data:
        raise Rejected("empty", "the object has no bytes")
    if is_heif(data):
        heif_reader()
    try:
        with warnings.catch_warnings():
            # the header check below compares the same way and names the size; above twice the limit Pillow
            # still raises (the core sets its limit, handler.core.pixel_limit)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise Rejected("too-many-pixels", f"refused as a decompression bomb: {exc}") from exc
    except (Image.UnidentifiedImageError, *DECODE_ERRORS) as exc:
        raise _unopenable(data, exc) from exc
    if isinstance(image, JpegImagePlugin.JpegImageFile):
        _check_jpeg(data)
    if missing := _renderer_missing(image):
        raise Rejected("unsupported-format", missing)
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
