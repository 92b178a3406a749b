"""Decode an opened upload into pixels JPEG can hold (RGB or L), or say why JPEG is the wrong container."""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image, ImageChops, TiffImagePlugin

from handler.errors import KeepOriginal, Rejected
from handler.image.intake import DECODE_ERRORS, SHOWN_PICTURE_FORMATS, damaged, frame_count
from handler.image.metadata import Metadata

JPEG_MAX_SIDE = 65500
"""libjpeg's limit on either side: Pillow cannot write a larger JPEG (a PNG can be that long)."""


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


def _many_frames(image_format: str | None, frames: int) -> KeepOriginal:
    """Why a file of several frames is kept, named by what its frames are in its format: a TIFF's are pages (a
    scanned document: page one alone would lose the rest), a PSD's are layers besides the flattened picture (an
    editing file: a flat JPEG would lose them), a GIF's, WebP's or PNG's are an animation."""
    if image_format == "TIFF":
        return KeepOriginal("multi-page", f"{frames} pages; JPEG holds one")
    if image_format == "PSD":
        return KeepOriginal("layered", f"{frames} layers besides the flattened picture; JPEG holds only that")
    return KeepOriginal("animated", f"{frames} frames; JPEG holds one")


TIFF_SAMPLE_FORMATS = {1: "unsigned", 2: "signed", 3: "floating-point"}
"""TIFF's SampleFormat tag (339)."""


def _samples(image: Image.Image) -> str:
    """The source's samples in words, for a mode Pillow widens (a signed 16-bit TIFF opens as 32-bit mode I): from
    a TIFF's BitsPerSample and SampleFormat tags, else from the mode."""
    tags = getattr(image, "tag_v2", {})
    if 258 not in tags:
        return f"{image.mode} (32-bit) samples"
    bits, sample_format = (_first(tags.get(tag, 1)) for tag in (258, 339))
    kind = TIFF_SAMPLE_FORMATS.get(sample_format, "unknown")
    return f"{kind} {bits}-bit samples (TIFF BitsPerSample {bits}, SampleFormat {sample_format})"


def _first(value: object) -> object:
    """A TIFF tag's first value: Pillow gives a tuple for a tag of several values (one per sample)."""
    return value[0] if isinstance(value, tuple) and value else value


TIFF_UNPROBED = frozenset({"group3", "group4", "tiff_ccitt", "tiff_raw_16", "tiff_sgilog", "tiff_sgilog24",
                           "tiff_thunderscan"})
"""TIFF compressions libtiff decodes but cannot write from an RGB picture: `_tiff_codec_missing` cannot tell."""


@functools.cache
def _tiff_codec_missing(compression: str) -> bool:
    """Whether this build's libtiff lacks the codec of `compression` (a name of TiffImagePlugin.COMPRESSION_INFO):
    a 1x1 picture written and read back with it fails. Which codecs libtiff has is fixed when it is built (the
    wheel's has no WebP) and Pillow does not report it, so it is tried, once a process, and only after a TIFF
    of that compression failed to decode."""
    if compression in TIFF_UNPROBED or compression not in TiffImagePlugin.COMPRESSION_INFO_REV:
        return False
    try:
        out = io.BytesIO()
        Image.new("RGB", (1, 1)).save(out, "TIFF", compression=compression)
        Image.open(io.BytesIO(out.getvalue())).load()
    except Exception:  # noqa: BLE001 - any failure of the round trip means no codec
        return True
    return False


def _undecodable(image: Image.Image, exc: Exception) -> Rejected:
    """Why the pixel data did not decode: a TIFF compression without a codec in this build (libtiff says so only on
    stderr; Pillow says "decoder error -2"), else as intake.damaged says."""
    compression = image.info.get("compression", "") if image.format == "TIFF" else ""
    if compression and _tiff_codec_missing(compression):
        code = TiffImagePlugin.COMPRESSION_INFO_REV[compression]
        return Rejected("unsupported-format", f"TIFF compression {compression} ({code}): no codec for it in this build")
    return damaged(exc, "the pixel data")


def decode(image: Image.Image) -> Image.Image:
    """Fully decode into mode RGB or L, or say why JPEG is the wrong container for it.

    An MPO (a camera JPEG with a large preview, a stereo pair, a phone's Ultra HDR gain map) or a HEIF holding
    several pictures is decoded as the picture viewers show (intake.SHOWN_PICTURE_FORMATS).
    """
    if (frames := frame_count(image)) > 1 and image.format not in SHOWN_PICTURE_FORMATS:
        raise _many_frames(image.format, frames)
    if image.mode == "CMYK":
        raise KeepOriginal("cmyk", "CMYK cannot be converted to RGB without its press profile")
    if max(image.size) > JPEG_MAX_SIDE:
        raise KeepOriginal("too-big-for-jpeg", f"{image.width}x{image.height}: JPEG holds {JPEG_MAX_SIDE} px a side")
    try:
        image.load()
    except DECODE_ERRORS as exc:
        raise _undecodable(image, exc) from exc
    if _has_transparency(image):
        raise KeepOriginal("has-transparency", "JPEG has no alpha channel")
    if image.mode in SIXTEEN_BIT_GREY or (image.mode == "I" and image.format == "PPM"):
        # Pillow opens a PGM over 8 bits as mode I, already scaled from its maxval to 0..65535
        return _sixteen_bit_to_l(image)
    if image.mode in ("I", "F"):
        raise KeepOriginal("unsupported-depth", f"{_samples(image)} have no defined display range")
    if image.mode in ("L", "RGB"):
        return image
    return image.convert("L" if image.mode in ("1", "LA", "La") else "RGB")


def grey_as_l(pixels: Image.Image, metadata: Metadata) -> Image.Image:
    """RGB pixels that are all grey (R = G = B) as L. A greyscale JPEG codes one plane instead of three and
    decodes to the same pixels, so it scores the same at every quality, with fewer bytes. With an ICC
    profile kept (see handler.image.metadata) they stay RGB: an RGB profile does not describe a one-channel JPEG."""
    if pixels.mode != "RGB" or metadata.icc_profile or not _all_grey(pixels):
        return pixels
    return pixels.convert("L")


def _all_grey(pixels: Image.Image) -> bool:
    """R = G = B in every pixel. A sparse sample is tried first: it rules out most colour pictures at once."""
    sample = pixels.resize((min(64, pixels.width), min(64, pixels.height)), Image.Resampling.NEAREST)
    return all(_bands_equal(image) for image in (sample, pixels))


def _bands_equal(image: Image.Image) -> bool:
    red, green, blue = image.split()
    return all(ImageChops.difference(a, b).getbbox() is None for a, b in ((red, green), (green, blue)))
