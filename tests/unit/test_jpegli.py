"""jpegli, the second encoder the search weighs per picture: its outputs keep what Pillow's keep (metadata, the
mark, the source-quality cap, never larger than the input), and an output it coded is recognised when it comes back."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from handler.core import optimize
from handler.image import encode as px
from handler.image import jpegli
from handler.image.jpeg import ANNEX_K, header_segments, mark, own_mark, with_mark
from handler.image.metadata import NONE, carried
from handler.quality import search
from handler.quality.model import load
from handler.quality.ssim2 import score
from handler.result import OPTIMIZED, ORIGINAL_KEPT
from tests.conftest import PHOTOS, encoded, grey_photo
from tests.unit.test_fidelity import IPTC, MAKE, ORIENTATION, XMP, adobe_rgb_like_icc, exif_with, with_app13

KODAK = Image.open(PHOTOS / "Kodak_DC240.jpg").convert("RGB")
"""A camera photo jpegli codes in fewer bytes than Pillow at targets 70 and 80."""


def camera_jpeg(quality: int) -> bytes:
    """KODAK as a camera might save it, with every kind of metadata the function carries."""
    data = encoded(KODAK, quality=quality, icc_profile=adobe_rgb_like_icc(), exif=exif_with(6, make="TestCam"),
                   xmp=XMP, comment=b"taken by Ana")
    return with_app13(data, IPTC)


def segments(jpeg: bytes) -> list[bytes]:
    """The APP and COM segments of a JPEG's header, whole, in order."""
    found = [(marker, at) for marker, at in header_segments(jpeg) if 0xE0 <= marker <= 0xEF or marker == 0xFE]
    return [jpeg[at : at + 2 + int.from_bytes(jpeg[at + 2 : at + 4], "big")] for _, at in found]


def test_jpegli_writes_the_metadata_segments_pillow_writes(settings):
    metadata, _ = carried(Image.open(io.BytesIO(camera_jpeg(95))), "keep")
    assert metadata.app13 and metadata.xmp and metadata.icc_profile and metadata.comment
    by_jpegli = px.encode(KODAK, 80, "4:2:0", metadata, tables=jpegli.JPEGLI)
    assert segments(by_jpegli) == segments(px.encode(KODAK, 80, "4:2:0", metadata, tables=ANNEX_K))
    assert Image.open(io.BytesIO(by_jpegli)).quantization == jpegli.tables(80)


def test_jpegli_codes_rgb_only_so_a_grey_picture_is_coded_by_pillow(settings, fixed_model):
    with pytest.raises(ValueError, match="mode L"):
        jpegli.encode(grey_photo().convert("L"), 80)
    out, result = optimize(encoded(grey_photo(), "PNG"), settings, fixed_model)
    assert result.outcome == OPTIMIZED and result.tables != jpegli.JPEGLI
    assert Image.open(io.BytesIO(out)).mode == "L"


@pytest.mark.parametrize("target", [70, 80])
def test_a_jpegli_output_keeps_the_metadata_carries_the_mark_and_is_kept_when_uploaded_again(settings, target):
    data, model = camera_jpeg(90), load()
    out, result = optimize(data, replace(settings, target=target), model)
    assert (result.outcome, result.tables, result.subsampling) == (OPTIMIZED, jpegli.JPEGLI, "4:2:0")
    assert result.quality <= result.source_quality == 90 and len(out) < len(data)
    output = Image.open(io.BytesIO(out))
    assert output.info.get("icc_profile") == adobe_rgb_like_icc() and output.info.get("xmp") == XMP
    assert output.getexif()[ORIENTATION] == 6 and output.getexif()[MAKE] == "TestCam"
    assert [p for m, p in output.applist if m == "APP13"] == [IPTC]
    assert [p for m, p in output.applist if m == "COM"] == [mark(target, result.quality), b"taken by Ana"]
    assert own_mark(output) == mark(target, result.quality).decode()
    assert score(np.asarray(KODAK), np.asarray(output.convert("RGB"))) >= target
    again, second = optimize(out, settings, model)
    assert (second.outcome, second.reason, again) == (ORIGINAL_KEPT, "already-optimized", out)


def test_a_mark_on_jpeglis_tables_of_another_quality_is_not_recognised():
    coded = px.encode(KODAK, 60, "4:2:0", NONE, tables=jpegli.JPEGLI)
    assert own_mark(Image.open(io.BytesIO(with_mark(coded, mark(80, 60))))) == mark(80, 60).decode()
    assert own_mark(Image.open(io.BytesIO(with_mark(coded, mark(80, 61))))) is None


@pytest.mark.parametrize("cap", [60, 70])
def test_the_jpegli_walk_stays_at_or_below_the_sources_quality(monkeypatch, cap):
    """The cap applies to jpegli's own quality number, which keeps a little less than libjpeg's same number: a walk
    whose goal is out of reach ends at the cap, never above it."""
    coded, plain = [], jpegli.encode
    monkeypatch.setattr(jpegli, "encode", lambda pixels, quality: coded.append(quality) or plain(pixels, quality))
    tiles = search.Sample(search.sample(KODAK), NONE, 80)
    settled = tiles.settle(jpegli.SUBSAMPLING, cap - 5, search.Bounds(50, cap), 95.0, tables=jpegli.JPEGLI)
    assert settled.quality == cap and not settled.passes
    assert max(coded) == cap


def test_jpeglis_tables_do_not_depend_on_the_pixels():
    """What own_mark relies on: the tables of an encoding of 16 x 16 pixels are those of any picture."""
    flat = Image.open(io.BytesIO(jpegli.encode(Image.new("RGB", (640, 480), "teal"), 75))).quantization
    assert Image.open(io.BytesIO(jpegli.encode(KODAK, 75))).quantization == flat == jpegli.tables(75)
