"""What must survive recompression: the orientation, the colour profile and, with METADATA=keep, the rest.

The metadata goes into every encode the same way whichever chooser picks the quality, so these tests use
the one-encode chooser: fast, and always a recompressed output to inspect.
"""

from __future__ import annotations

import io
import struct
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps
from PIL.PngImagePlugin import PngInfo

from handler.core import optimize
from handler.image.jpeg import marked_quality
from handler.result import OPTIMIZED
from tests.conftest import PHOTOS, encoded, grey_photo, photo_like

ORIENTATION = 0x0112
MAKE = 0x010F
ARTIST = 0x013B
COPYRIGHT = 0x8298
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="Ana"/></rdf:RDF></x:xmpmeta>'
)

# Adobe RGB (1998): primaries adapted to the D50 connection space, as its published profile states them.
D50 = (0.9642, 1.0, 0.8249)
ADOBE_RGB_COLORANTS = {
    b"rXYZ": (0.60974, 0.31111, 0.01947),
    b"gXYZ": (0.20528, 0.62567, 0.06087),
    b"bXYZ": (0.14919, 0.06322, 0.74457),
}
PROFILE_NAME = "Adobe RGB-like test profile"


def _s15f16(values: tuple[float, ...]) -> bytes:
    return b"".join(struct.pack(">i", round(v * 65536)) for v in values)


def _xyz(values: tuple[float, float, float]) -> bytes:
    return b"XYZ " + bytes(4) + _s15f16(values)


def _text_description(text: str) -> bytes:
    """ICC v2 textDescriptionType: ASCII, an empty Unicode part, an empty ScriptCode part."""
    ascii_part = text.encode("ascii") + b"\0"
    return b"desc" + bytes(4) + struct.pack(">I", len(ascii_part)) + ascii_part + bytes(8) + bytes(3) + bytes(67)


def adobe_rgb_like_icc() -> bytes:
    """A small valid ICC v2 RGB display profile: Adobe RGB primaries, gamma 2.2 (~2.199), D50 white."""
    gamma = b"curv" + bytes(4) + struct.pack(">IH", 1, round(2.2 * 256)) + bytes(2)
    tags = {
        b"desc": _text_description(PROFILE_NAME),
        b"cprt": b"text" + bytes(4) + b"No copyright: made by the tests\0",
        b"wtpt": _xyz(D50),
        **{sig: _xyz(xyz) for sig, xyz in ADOBE_RGB_COLORANTS.items()},
        b"rTRC": gamma,
        b"gTRC": gamma,
        b"bTRC": gamma,
    }
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags.items():
        data += bytes(-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (
        struct.pack(">I", size) + bytes(4) + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0) + b"acsp" + bytes(24) + struct.pack(">I", 0) + _s15f16(D50)
    )
    header += bytes(128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body


def test_the_hand_made_profile_is_a_valid_non_srgb_profile():
    profile = ImageCms.ImageCmsProfile(io.BytesIO(adobe_rgb_like_icc()))
    assert ImageCms.getProfileDescription(profile).strip() == PROFILE_NAME
    srgb = ImageCms.createProfile("sRGB")
    orange = Image.new("RGB", (1, 1), (200, 120, 40))
    red, _, blue = ImageCms.profileToProfile(orange, profile, srgb).getpixel((0, 0))
    assert red > 210 and blue < 35  # the same numbers are a more saturated orange in the wider gamut


def asymmetric() -> Image.Image:
    """A picture that no flip or rotation maps onto itself: a white block in the top-left corner."""
    image = photo_like(96, 64)
    image.paste((255, 255, 255), (4, 4, 28, 20))
    return image


def exif_with(orientation: int | None = None, make: str | None = None) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    if make is not None:
        exif[MAKE] = make
    return exif.tobytes()


def recompressed(data: bytes, settings, model) -> Image.Image:
    out, result = optimize(data, replace(settings, verify=False), model)
    assert result.outcome == OPTIMIZED
    return Image.open(io.BytesIO(out))


def upright(image: Image.Image) -> np.ndarray:
    return np.asarray(ImageOps.exif_transpose(image).convert("RGB"), dtype=np.float64)


@pytest.mark.parametrize("metadata", ["keep", "strip"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_exif_orientation_is_kept_so_the_output_displays_like_the_input(
    settings, fixed_model, orientation, metadata
):
    data = encoded(asymmetric(), quality=97, exif=exif_with(orientation, make="TestCam"))
    output = recompressed(data, replace(settings, metadata=metadata), fixed_model)
    assert output.getexif().get(ORIENTATION, 1) == orientation
    shown_in, shown_out = upright(Image.open(io.BytesIO(data))), upright(output)
    assert shown_in.shape == shown_out.shape
    assert np.abs(shown_in - shown_out).mean() < 4


@pytest.mark.parametrize("metadata", ["keep", "strip"])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_non_srgb_icc_profile_is_carried_over_byte_for_byte(settings, fixed_model, fmt, metadata):
    icc = adobe_rgb_like_icc()
    options = {"quality": 97} if fmt == "JPEG" else {}
    data = encoded(photo_like(), fmt, icc_profile=icc, **options)
    output = recompressed(data, replace(settings, metadata=metadata), fixed_model)
    assert output.info.get("icc_profile") == icc


def camera_jpeg() -> bytes:
    """A JPEG as a camera might write it: a colour profile, orientation 6, the camera's make, XMP."""
    return encoded(
        photo_like(), quality=97, icc_profile=adobe_rgb_like_icc(), exif=exif_with(6, make="TestCam"), xmp=XMP
    )


def test_metadata_strip_keeps_the_profile_and_orientation_and_drops_the_camera_make_and_xmp(settings, fixed_model):
    output = recompressed(camera_jpeg(), replace(settings, metadata="strip"), fixed_model)
    assert output.info.get("icc_profile") == adobe_rgb_like_icc()
    assert dict(output.getexif()) == {ORIENTATION: 6}
    assert "xmp" not in output.info


def test_metadata_keep_keeps_the_camera_make_and_xmp_too(settings, fixed_model):
    output = recompressed(camera_jpeg(), replace(settings, metadata="keep"), fixed_model)
    assert output.info.get("icc_profile") == adobe_rgb_like_icc()
    assert output.getexif()[MAKE] == "TestCam" and output.getexif()[ORIENTATION] == 6
    assert output.info.get("xmp") == XMP


def user_comments(image: Image.Image) -> list[bytes]:
    """The JPEG comments of `image` other than this function's mark (tests/unit/test_mark.py)."""
    return [payload for marker, payload in image.applist if marker == "COM" and marked_quality(payload) is None]


@pytest.mark.parametrize(("metadata", "kept"), [("strip", []), ("keep", [b"taken by Ana"])])
def test_the_jpeg_comment_is_dropped_by_metadata_strip_and_kept_by_keep(settings, fixed_model, metadata, kept):
    data = encoded(photo_like(), quality=97, comment=b"taken by Ana")
    output = recompressed(data, replace(settings, metadata=metadata), fixed_model)
    assert user_comments(output) == kept


IPTC = b"Photoshop 3.0\x00" + b"8BIM\x04\x04\x00\x00\x00\x00\x00\x14" + b"\x1c\x02\x74\x00\x0f(c) Agency 2026"
"""An APP13 payload as Photoshop writes it: one IPTC record, the copyright notice (dataset 2:116)."""
THUMBNAIL = b"8BIM\x04\x0c\x00\x00\x00\x00\x00\x05thumb\x00"
"""Photoshop's thumbnail resource (odd length, padded), which describes the old pixels."""


def with_app13(jpeg: bytes, payload: bytes) -> bytes:
    """`jpeg` with an APP13 segment right after its SOI."""
    return jpeg[:2] + b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


@pytest.mark.parametrize(("metadata", "kept"), [("strip", []), ("keep", [IPTC])])
def test_iptc_is_carried_over_by_keep_and_dropped_by_strip(settings, fixed_model, metadata, kept):
    """News and agency photos carry their caption, credit and copyright in IPTC (APP13); Photoshop's thumbnail
    beside it is not carried."""
    data = with_app13(camera_jpeg(), IPTC[:14] + THUMBNAIL + IPTC[14:] + THUMBNAIL)
    output = recompressed(data, replace(settings, metadata=metadata), fixed_model)
    assert [payload for marker, payload in output.applist if marker == "APP13"] == kept
    assert output.getexif()[ORIENTATION] == 6 and output.info.get("icc_profile") == adobe_rgb_like_icc()


XMP_ROTATED = XMP.replace(
    b'dc:creator="Ana"', b'dc:creator="Ana" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"'
)


@pytest.mark.parametrize("metadata", ["keep", "strip"])
def test_an_orientation_only_the_xmp_states_does_not_become_an_exif_orientation(settings, fixed_model, metadata):
    """Browsers apply the EXIF orientation only: the source shows unrotated, so the output must too."""
    data = encoded(photo_like(), quality=97, xmp=XMP_ROTATED)
    output = recompressed(data, replace(settings, metadata=metadata), fixed_model)
    exif = Image.Exif()  # not output.getexif(), which would read the orientation from the output's XMP
    if output.info.get("exif"):
        exif.load(output.info["exif"])
    assert ORIENTATION not in exif


def test_a_tiff_keeps_its_exif_tags_but_not_its_layout_tags(settings, fixed_model):
    data = encoded(photo_like(), "TIFF", tiffinfo={MAKE: "TestCam"})
    exif = recompressed(data, settings, fixed_model).getexif()
    assert exif[MAKE] == "TestCam"
    assert not {256, 257, 259, 273, 279} & set(exif)


def png_with_text(exif_artist: str | None = None) -> bytes:
    text = PngInfo()
    for keyword, value in (("Comment", "shot for client X"), ("Copyright", "(c) 2024 Ana"), ("Author", "Ana")):
        text.add_text(keyword, value)
    if exif_artist is None:
        return encoded(photo_like(), "PNG", pnginfo=text)
    exif = Image.Exif()
    exif[ARTIST] = exif_artist
    return encoded(photo_like(), "PNG", pnginfo=text, exif=exif.tobytes())


@pytest.mark.parametrize("metadata", ["keep", "strip"])
def test_a_pngs_comment_copyright_and_author_become_the_jpeg_comment_and_exif_under_keep(
    settings, fixed_model, metadata
):
    output = recompressed(png_with_text(), replace(settings, metadata=metadata), fixed_model)
    exif = output.getexif()
    carried = (user_comments(output), exif.get(COPYRIGHT), exif.get(ARTIST))
    assert carried == (([b"shot for client X"], "(c) 2024 Ana", "Ana") if metadata == "keep" else ([], None, None))


def test_a_pngs_author_does_not_replace_the_exif_artist(settings, fixed_model):
    output = recompressed(png_with_text(exif_artist="Ana Lopez"), settings, fixed_model)
    assert output.getexif()[ARTIST] == "Ana Lopez"


def test_an_app13_without_iptc_is_not_carried(settings, fixed_model):
    data = with_app13(camera_jpeg(), IPTC[:14] + THUMBNAIL)
    output = recompressed(data, replace(settings, metadata="keep"), fixed_model)
    assert [marker for marker, _ in output.applist if marker == "APP13"] == []


def test_a_grey_picture_with_a_colour_profile_stays_in_colour_with_its_profile(settings, fixed_model):
    icc = adobe_rgb_like_icc()
    out, result = optimize(encoded(grey_photo(), "PNG", icc_profile=icc), replace(settings, verify=False), fixed_model)
    output = Image.open(io.BytesIO(out))
    assert result.outcome == OPTIMIZED and output.mode == "RGB" and output.info.get("icc_profile") == icc


def test_a_cameras_resolution_is_carried_over_without_a_note(settings, fixed_model):
    """Pillow reads a JPEG's EXIF resolution as IFDRational, not float: it is a valid dpi all the same."""
    out, result = optimize((PHOTOS / "Kodak_DC240.jpg").read_bytes(), replace(settings, verify=False), fixed_model)
    assert result.outcome == OPTIMIZED and "resolution" not in result.detail
    assert Image.open(io.BytesIO(out)).info["dpi"] == pytest.approx((192, 192))
