"""Decode an opened upload into pixels JPEG can hold, and encode them back with the metadata kept."""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image, ImageChops, ImageFile, TiffImagePlugin

from handler.probe import (
    ANNEX_K,
    DECODE_ERRORS,
    ROBIDOUX,
    TABLE_SETS,
    damaged,
    frame_count,
    header_segments,
    marked_quality,
)

ORIENTATION = 0x0112

JPEG_MAX_SIDE = 65500
"""libjpeg's limit on either side: Pillow cannot write a larger JPEG (a PNG can be that long)."""


class KeepOriginal(Exception):
    """JPEG cannot hold this image faithfully; the original is the right output."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


ALPHA_MODES = ("RGBA", "LA", "La", "RGBa", "PA")


def _has_transparency(image: Image.Image) -> bool:
    """Any pixel less than opaque: by an alpha channel, or by a colour key (PNG tRNS names a palette entry, an RGB
    colour or a grey level), which Pillow's convert to an alpha mode applies."""
    if image.mode in ALPHA_MODES:
        alpha = image.getchannel(image.getbands()[-1])
    elif "transparency" in image.info:
        grey = len(image.getbands()) == 1 and image.mode != "P"
        alpha = image.convert("LA" if grey else "RGBA").getchannel("A")
    else:
        return False
    return alpha.getextrema()[0] < 255


SIXTEEN_BIT_GREY = ("I;16", "I;16B", "I;16L")


def _sixteen_bit_to_l(image: Image.Image) -> Image.Image:
    """Pillow's convert('L') clips 16-bit values at 255; scale 0..65535 to 0..255 instead, whatever the content
    (a dark frame that uses only the bottom of the range stays dark)."""
    array = np.asarray(image, dtype=np.float64)
    return Image.fromarray(np.round(array / 257).astype(np.uint8), "L")


def decode(image: Image.Image) -> Image.Image:
    """Fully decode into mode RGB or L, or say why JPEG is the wrong container for it.

    An MPO (a camera JPEG with a large preview, a stereo pair, a phone's Ultra HDR gain map) is decoded as its
    first picture, the one browsers show: it is a photo sent to be shrunk, and keeping such files whole would
    leave most camera and phone photos as they came. The other pictures are left out (metadata() notes it).
    """
    if (frames := frame_count(image)) > 1 and image.format != "MPO":
        raise KeepOriginal("animated", f"{frames} frames; JPEG holds one")
    if image.mode == "CMYK":
        raise KeepOriginal("cmyk", "CMYK cannot be converted to RGB without its press profile")
    if max(image.size) > JPEG_MAX_SIDE:
        raise KeepOriginal("too-big-for-jpeg", f"{image.width}x{image.height}: JPEG holds {JPEG_MAX_SIDE} px a side")
    try:
        image.load()
    except DECODE_ERRORS as exc:
        raise damaged(exc, "the pixel data") from exc
    if _has_transparency(image):
        raise KeepOriginal("has-transparency", "JPEG has no alpha channel")
    if image.mode in SIXTEEN_BIT_GREY or (image.mode == "I" and image.format == "PPM"):
        # Pillow opens a PGM over 8 bits as mode I, already scaled from its maxval to 0..65535
        return _sixteen_bit_to_l(image)
    if image.mode in ("I", "F"):
        raise KeepOriginal("unsupported-depth", f"{image.mode} (32-bit) samples have no defined display range")
    if image.mode in ("L", "RGB"):
        return image
    return image.convert("L" if image.mode in ("1", "LA", "La") else "RGB")


def grey_as_l(pixels: Image.Image, extra: dict[str, object]) -> Image.Image:
    """RGB pixels that are all grey (R = G = B) as L. A greyscale JPEG codes one plane instead of three and
    decodes to the same pixels, so it scores the same at every quality, with fewer bytes. With an ICC
    profile kept (see `metadata`) they stay RGB: an RGB profile does not describe a one-channel JPEG."""
    if pixels.mode != "RGB" or "icc_profile" in extra or not _all_grey(pixels):
        return pixels
    return pixels.convert("L")


def _all_grey(pixels: Image.Image) -> bool:
    """R = G = B in every pixel. A sparse sample is tried first: it rules out most colour pictures at once."""
    sample = pixels.resize((min(64, pixels.width), min(64, pixels.height)), Image.Resampling.NEAREST)
    return all(_bands_equal(image) for image in (sample, pixels))


def _bands_equal(image: Image.Image) -> bool:
    red, green, blue = image.split()
    return all(ImageChops.difference(a, b).getbbox() is None for a, b in ((red, green), (green, blue)))


APP13 = "app13"
"""The key in metadata()'s save arguments for the source's APP13 segments, which Pillow's writer has no
option for: encode() inserts them after the segments Pillow writes."""

SEGMENT_LIMITS = {"exif": 65533, "xmp": 65533 - 29, "comment": 65533}
"""What one JPEG marker segment holds for each (XMP loses 29 bytes to its namespace header). Pillow raises
on more; PNG, WebP and GIF sources can carry more. ICC profiles are split over several segments."""


_EXIF_ERRORS = (SyntaxError, OSError, struct.error, ValueError, TypeError, KeyError, OverflowError)
"""What Pillow raises for damaged EXIF: its reader on a bad header or IFD, its writer on a parsed value that
does not fit its declared type."""

EXIF_UNREADABLE = "the EXIF could not be read and is left out"


def _orientation_only(exif: Image.Exif) -> dict[str, object]:
    orientation = exif.get(ORIENTATION, 1)
    if not isinstance(orientation, int) or not 2 <= orientation <= 8:
        return {}
    minimal = Image.Exif()
    minimal[ORIENTATION] = orientation
    return {"exif": minimal.tobytes()}


def _all_exif(exif: Image.Exif) -> dict[str, object]:
    """The whole EXIF block; nothing when it is damaged beyond rewriting (the orientation is then kept alone)."""
    try:
        return {"exif": exif.tobytes()} if exif else {}
    except _EXIF_ERRORS:
        return {}


TIFF_LAYOUT_TAGS = frozenset({
    254, 255, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 284, 317, 320, 322, 323, 324, 325, 338, 339, 347,
    530, 532, 700, 34377, 34675,
})  # fmt: skip
"""Tags of a TIFF's first IFD that describe the TIFF file itself (size, compression, strips and tiles, samples)
or hold what is carried separately (XMP, Photoshop, ICC): wrong or redundant in a JPEG's EXIF."""


def _source_exif(image: Image.Image) -> Image.Exif | None:
    """The EXIF the source really has; None when it is too damaged to read (the pixels may still be fine).

    Not getexif() as it is: that adds an orientation found only in the XMP, which browsers ignore on the
    source but would apply to the output's EXIF. A TIFF's EXIF is its first IFD, less its layout tags.
    """
    try:
        if isinstance(image, TiffImagePlugin.TiffImageFile):
            return _tiff_exif(image)
        exif = Image.Exif()
        if image.info.get("exif"):
            exif.load(image.info["exif"])
        return exif
    except _EXIF_ERRORS:
        return None


def _tiff_exif(image: TiffImagePlugin.TiffImageFile) -> Image.Exif:
    exif = image.getexif()
    for tag in TIFF_LAYOUT_TAGS | ({ORIENTATION} - set(image.tag_v2)):
        exif.pop(tag, None)
    return exif


PNG_TEXT_EXIF = {"Copyright": 0x8298, "Author": 0x013B}
"""PNG text keywords and the EXIF tags of the same meaning (Copyright, Artist)."""


def _everything(image: Image.Image, exif: Image.Exif) -> dict[str, object]:
    """What METADATA=keep adds: all EXIF, the XMP, the dpi, the comment and a JPEG's APP13 (Photoshop's IPTC:
    the caption, credit and copyright of news and agency photos). A PNG's text chunks have no JPEG segment:
    its Comment (else Description) becomes the comment, its Copyright and Author the EXIF tags of those
    meanings where the EXIF has none."""
    info = image.info
    for keyword, tag in PNG_TEXT_EXIF.items():
        if info.get(keyword) and tag not in exif:
            exif[tag] = str(info[keyword])
    extra = {**_all_exif(exif), **{name: info[name] for name in ("xmp", "dpi") if info.get(name)}}
    comment = info.get("comment") or info.get("Comment") or info.get("Description")
    comment = comment.encode() if isinstance(comment, str) else comment
    if comment and marked_quality(comment) is None:  # an earlier output's mark is not the user's comment
        extra["comment"] = comment
    app13 = tuple(filter(None, (_iptc_only(payload) for marker, payload in getattr(image, "applist", ())
                                if marker == "APP13")))
    return {**extra, APP13: app13} if app13 else extra


PHOTOSHOP = b"Photoshop 3.0\x00"
IPTC_RESOURCES = frozenset({0x0404, 0x0425})
"""The IPTC-NAA record and its digest. Photoshop's other resources in APP13 are editing state and a thumbnail
of the original pixels (4-5 KB on camera files), stale once the pixels are re-encoded."""


def _iptc_only(payload: bytes) -> bytes:
    """An APP13 payload reduced to its IPTC resources; b"" when it has none (or is not Photoshop's)."""
    if not payload.startswith(PHOTOSHOP):
        return b""
    kept, at = [], len(PHOTOSHOP)
    while at + 12 <= len(payload) and payload[at : at + 4] == b"8BIM":
        name_length = payload[at + 6] + 1
        size_at = at + 6 + name_length + name_length % 2  # the Pascal name is padded to an even length
        size = int.from_bytes(payload[size_at : size_at + 4], "big")
        end = size_at + 4 + size + size % 2
        if int.from_bytes(payload[at + 4 : at + 6], "big") in IPTC_RESOURCES:
            kept.append(payload[at:end])
        at = end
    return PHOTOSHOP + b"".join(kept) if kept else b""


def metadata(image: Image.Image, keep: str) -> tuple[dict[str, object], str]:
    """Save arguments that carry the source's metadata over, and a note of what could not be ("" if none).

    The ICC profile and the EXIF orientation decide how the image displays, so they are kept even
    with keep='strip'; 'keep' also carries all EXIF, XMP and the comment, each as far as a JPEG
    segment holds it (an EXIF block too long for one keeps its orientation, as with 'strip'). EXIF too
    damaged to read is left out: a picture whose pixels decode is still worth optimising.
    """
    info = image.info
    extra: dict[str, object] = {}
    if info.get("icc_profile"):
        extra["icc_profile"] = info["icc_profile"]
    exif = _source_exif(image)
    notes = [] if exif is not None else [EXIF_UNREADABLE]
    if image.format == "MPO":
        others = frame_count(image) - 1
        notes.append(f"the MPO's {others} other picture{'s' * (others > 1)} (preview, depth or gain map) left out")
    exif = Image.Exif() if exif is None else exif
    if keep == "keep":
        extra.update(_everything(image, exif))
    for name, limit in SEGMENT_LIMITS.items():
        if len(extra.get(name, b"")) > limit:
            del extra[name]
    if "exif" not in extra:
        extra.update(_orientation_only(exif))
    return extra, "; ".join(notes)


ROBIDOUX_BELOW = 90
"""Below this target, 4:2:0 and greyscale encodings are coded with the Robidoux tables; 4:4:4 ones, and all at 90,
with libjpeg's (Annex K). Each at its own lowest quality reaching the target, on 80 train pictures, Robidoux's took
7.7% fewer bytes than libjpeg's in 4:2:0 at 70, 4.8% at 80 and 2.0% at 85, but 1.6% more at 90, and 1-14% more in
4:4:4 (`python -m bench.tables`, bench/results/train/tables.md). Their median qualities are the same within one
step in 4:2:0, so the model, trained on libjpeg's, predicts for either."""


def tables_for(subsampling: str, target: int) -> str:
    """The TABLE_SETS name (handler.probe) an encoding at `subsampling` aimed at `target` is coded with."""
    return ROBIDOUX if subsampling != "4:4:4" and target < ROBIDOUX_BELOW else ANNEX_K


def encode(
    pixels: Image.Image,
    quality: int,
    subsampling: str,
    extra: dict[str, object],
    progressive: bool = False,
    tables: str = ANNEX_K,
) -> bytes:
    """Baseline JPEG with optimised Huffman tables, as the oracle uses (progressive on request), quantised with
    the base `tables` (a TABLE_SETS name) scaled to `quality` (Pillow scales given tables as libjpeg its own)."""
    options: dict[str, object] = {} if pixels.mode == "L" else {"subsampling": subsampling}
    if tables != ANNEX_K:
        options["qtables"] = [base.astype(int).tolist() for base in TABLE_SETS[tables][: len(pixels.getbands())]]
    # Pillow's JPEG writer falls back to the pixels' own info["comment"]: only `extra` may add one.
    options.update({"comment": b"", **{name: value for name, value in extra.items() if name != APP13}})
    return _with_segments(_encode(pixels, quality, progressive, options), 0xED, extra.get(APP13, ()))


def _encode(pixels: Image.Image, quality: int, progressive: bool, options: dict[str, object]) -> bytes:
    optimised = {"quality": quality, "optimize": True, "progressive": progressive, **options}
    # Optimised or progressive coding needs the whole output in one buffer, which Pillow sizes at 1 byte
    # a pixel below quality 95 (2 from 95): noisy images at high quality with 4:4:4 need more, and libjpeg
    # then fails, printing "Suspension not allowed here". The raw pixels' size holds any output up to
    # quality 95 (binary noise, the worst case tried, took 2.3 bytes a pixel with 4:4:4).
    try:
        return _save(pixels, pixels.width * pixels.height * len(pixels.getbands()), **optimised)
    except OSError:
        # Beyond it (binary noise at quality 100: 3.2 bytes a pixel), the standard tables have no such
        # limit, and their output bounds the optimised one, so it sizes the buffer for a second try.
        plain = _save(pixels, quality=quality, optimize=False, **options)
        try:
            return _save(pixels, len(plain) + BUFFER_SLACK, **optimised)
        except OSError:
            return plain


def leaner(
    pixels: Image.Image, quality: int, subsampling: str, tables: str, extra: dict[str, object], encoded: bytes
) -> bytes:
    """`encoded`, or the same pixels coded progressively where that is smaller.

    Progressive coding changes only the entropy coding: the decoded pixels, and so the verified
    score, are the same (tests/unit/test_core.py); on the corpus it saved about 3% for one more
    encode (bench/results/quality.md).
    """
    progressive = encode(pixels, quality, subsampling, extra, progressive=True, tables=tables)
    return progressive if len(progressive) < len(encoded) else encoded


BUFFER_SLACK = 1 << 16
"""Room beyond the standard tables' output, for the optimised tables and progressive scans' headers."""


def with_mark(jpeg: bytes, mark: bytes) -> bytes:
    """`jpeg` with `mark` as a comment segment of its own, so that a comment carried from the source stays
    as it was (and stays the one Pillow reports: it reads the last)."""
    return _with_segments(jpeg, 0xFE, (mark,))


def _with_segments(jpeg: bytes, marker: int, payloads: tuple[bytes, ...]) -> bytes:
    """`jpeg` with `marker` segments of `payloads` inserted after the APP segments already at its start."""
    if not payloads:
        return jpeg
    at = next(offset for marker, offset in header_segments(jpeg) if not 0xE0 <= marker <= 0xEF)
    segments = b"".join(bytes([0xFF, marker]) + (len(p) + 2).to_bytes(2, "big") + p for p in payloads)
    return jpeg[:at] + segments + jpeg[at:]


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
