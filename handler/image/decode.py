"""Decode an opened upload into pixels JPEG can hold (RGB or L), or say why JPEG is the wrong container."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageChops

from handler.errors import KeepOriginal
from handler.image.intake import DECODE_ERRORS, damaged, frame_count
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


def decode(image: Image.Image) -> Image.Image:
    """Fully decode into mode RGB or L, or say why JPEG is the wrong container for it.

    An MPO (a camera JPEG with a large preview, a stereo pair, a phone's Ultra HDR gain map) is decoded as its
    first picture, the one browsers show: it is a photo sent to be shrunk, and keeping such files whole would
    leave most camera and phone photos as they came. The other pictures are left out (`carried` notes it).
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
