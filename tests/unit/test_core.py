"""The core: bytes and settings in, bytes and a result record out."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from handler.core import GREY_NOTE, optimize, published_type
from handler.image import encode as px
from handler.image.jpeg import TABLE_SETS, libjpeg_table
from handler.image.metadata import NONE
from handler.quality import search
from handler.quality.ssim2 import score
from handler.result import OPTIMIZED, ORIGINAL_KEPT, REJECTED
from tests.conftest import PHOTOS, colour_detail_between_the_tiles, encoded, grey_photo, photo_like


def test_a_high_quality_jpeg_is_recompressed_smaller_and_still_decodes(settings, fixed_model):
    data = encoded(photo_like(), quality=97)
    out, result = optimize(data, replace(settings, verify=False), fixed_model)
    assert result.outcome == OPTIMIZED
    assert len(out) == result.bytes_out < result.bytes_in == len(data)
    assert Image.open(io.BytesIO(out)).size == (256, 192)
    assert result.content_type == "image/jpeg"


def test_bits_per_pixel_are_measured_on_the_file_as_uploaded(settings, fixed_model):
    data = encoded(photo_like(200, 100), quality=95)
    _, result = optimize(data, replace(settings, verify=False), fixed_model)
    assert result.bpp == 8 * len(data) / (200 * 100)


def test_a_jpeg_is_never_reencoded_above_its_own_quality(settings, fixed_model):
    data = encoded(photo_like(), quality=60)
    _, result = optimize(data, replace(settings, verify=False), fixed_model)
    assert result.source_quality == 60
    assert result.quality <= 60


def test_the_quality_stays_within_the_configured_bounds(settings, fixed_model):
    data = encoded(photo_like(), quality=98)
    _, result = optimize(data, replace(settings, min_quality=85, max_quality=90, verify=False), fixed_model)
    assert result.quality == 85


def test_the_original_is_kept_when_the_result_would_not_be_smaller(settings, fixed_model):
    data = encoded(Image.new("RGB", (16, 16), "red"), "PNG")  # a few dozen bytes; any JPEG is bigger
    out, result = optimize(data, replace(settings, verify=False), fixed_model)
    assert result.outcome == ORIGINAL_KEPT and result.reason == "not-smaller"
    assert out == data and result.bytes_out == len(data)


def test_an_empty_object_is_rejected_with_a_reason(settings, fixed_model):
    out, result = optimize(b"", settings, fixed_model)
    assert (result.outcome, result.reason) == (REJECTED, "empty")
    assert out == b""


def test_text_is_rejected_as_not_an_image(settings, fixed_model):
    _, result = optimize(b"hello, world\n" * 50, settings, fixed_model)
    assert (result.outcome, result.reason) == (REJECTED, "not-an-image")


def test_verification_reaches_the_target_on_the_sample(settings, fixed_model):
    data = (PHOTOS / "Kodak_DC240.jpg").read_bytes()
    for target in (70, 90):
        _, result = optimize(data, replace(settings, target=target), fixed_model)
        assert result.reason == "verified" or result.outcome == ORIGINAL_KEPT
        assert result.score is not None and result.score >= target


def test_above_the_confirmation_limit_the_choice_is_checked_on_large_tiles_and_the_whole_image_encoded(
    settings, fixed_model, monkeypatch
):
    monkeypatch.setattr(search, "CONFIRM_MAX_PIXELS", 250_000)  # the photo has 307,200 pixels
    data = (PHOTOS / "Kodak_DC240.jpg").read_bytes()
    pixels = Image.open(io.BytesIO(data)).convert("RGB")
    checked, searched = search.check_sample(pixels), search.sample(pixels)
    assert searched.width * searched.height < checked.width * checked.height <= 250_000
    out, result = optimize(data, settings, fixed_model)
    assert (result.outcome, result.reason) == (OPTIMIZED, "verified-on-sample")
    assert Image.open(io.BytesIO(out)).size == pixels.size
    on_check = search.Sample(checked, NONE, settings.target).measure(result.quality, result.subsampling,
                                                                     result.tables)[0]
    assert on_check >= settings.target and round(on_check, 2) == result.score


@pytest.mark.slow  # whole-image scores of a 4:4:4 search: seconds each
@pytest.mark.parametrize("target", [70, 80])
def test_colour_detail_the_mosaic_missed_is_kept_with_full_chroma(settings, fixed_model, target):
    image = colour_detail_between_the_tiles()
    assert search.sample(image) is not image  # the search runs on the mosaic, the check on the whole image
    data = encoded(image, "PNG")
    out, result = optimize(data, replace(settings, target=target), fixed_model)
    assert (result.outcome, result.reason, result.subsampling) == (OPTIMIZED, "verified", "4:4:4")
    whole = search.Sample(image, NONE, target)
    in_full, halved = whole.measure(result.quality, "4:4:4", result.tables), whole.measure(95, "4:2:0", "annex-k")
    assert in_full[0] >= target > halved[0]
    assert len(out) < len(data)


def test_the_tags_name_quality_bpp_bytes_model_and_outcome(settings, fixed_model):
    _, result = optimize(encoded(photo_like(), quality=97), replace(settings, verify=False), fixed_model)
    tags = result.tags()
    assert set(tags) == {"outcome", "reason", "quality", "tables", "target", "bpp", "bytes_in", "bytes_out",
                         "model_version"}
    assert tags["model_version"] == "test-fixed-80" and tags["quality"] == str(result.quality)
    assert len(tags) <= 10


@pytest.mark.parametrize("quality, levels, least_bytes_per_pixel", [(90, 256, 1), (95, 256, 2), (100, 2, 3)])
def test_a_noisy_image_at_high_quality_with_full_chroma_still_gets_optimized_tables(
    quality, levels, least_bytes_per_pixel, capfd
):
    # Each output is larger than the buffer Pillow gives optimized coding (1 byte a pixel below quality 95,
    # 2 from 95); the last one is larger than the raw pixels too
    values = np.random.default_rng(0).integers(0, levels, (200, 200, 3)) * (255 // (levels - 1))
    noise = Image.fromarray(values.astype(np.uint8), "RGB")
    standard_tables = io.BytesIO()
    noise.save(standard_tables, "JPEG", quality=quality, subsampling="4:4:4")
    data = px.encode(noise, quality, "4:4:4", NONE)
    assert len(data) > least_bytes_per_pixel * 200 * 200 and len(data) < 0.95 * len(standard_tables.getvalue())
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), np.asarray(Image.open(standard_tables)))
    if quality < 100:  # no failed first try, so nothing from libjpeg in the log
        assert "Suspension" not in capfd.readouterr().err


def test_the_output_is_coded_progressively_where_that_is_smaller(settings, fixed_model):
    data = (PHOTOS / "Sony_Cybershot_(6).jpg").read_bytes()
    out, result = optimize(data, replace(settings, verify=False), fixed_model)
    assert result.outcome == OPTIMIZED and Image.open(io.BytesIO(out)).info.get("progressive")
    assert result.bytes_out == len(out) < len(data)


def test_a_grey_picture_stored_as_colour_is_written_as_a_smaller_greyscale_jpeg(settings, fixed_model):
    rgb = grey_photo()
    out, result = optimize(encoded(rgb, "PNG"), settings, fixed_model)
    assert result.outcome == OPTIMIZED and GREY_NOTE in result.detail and result.subsampling is None
    output = Image.open(io.BytesIO(out))
    assert output.mode == "L"
    colour = px.encode(rgb, result.quality, "4:2:0", NONE, tables=result.tables)
    as_colour = px.leaner(colour, result.tables)
    assert len(out) < len(as_colour), "one plane costs less than three"
    # the same pixels as the colour encoding at that quality, so the verified score holds for either
    assert np.array_equal(np.asarray(output.convert("RGB")), np.asarray(Image.open(io.BytesIO(as_colour))))


def test_one_coloured_pixel_keeps_a_picture_in_colour(settings, fixed_model):
    values = np.asarray(grey_photo()).copy()
    values[101, 203] = (200, 40, 40)  # off the sparse sample's grid: only the full comparison sees it
    out, result = optimize(encoded(Image.fromarray(values), "PNG"), settings, fixed_model)
    assert result.outcome == OPTIMIZED and GREY_NOTE not in result.detail
    assert Image.open(io.BytesIO(out)).mode == "RGB"



@pytest.mark.parametrize(
    ("target", "verify", "tables"),
    [(80, True, "robidoux"), (90, True, "annex-k"), (80, False, "annex-k")],
)
def test_the_output_is_quantised_with_the_tables_its_record_names(
    settings, fixed_model, target, verify, tables, pillow_only
):
    """Pillow's encodings: verified 4:2:0 below 90, Robidoux's tables; at 90, or unchecked (the model's labels are
    libjpeg's), libjpeg's. (jpegli's tables: tests/unit/test_jpegli.py.)"""
    data = (PHOTOS / "HP_PhotoSmart_735.png").read_bytes()
    out, result = optimize(data, replace(settings, target=target, verify=verify), fixed_model)
    assert result.outcome == OPTIMIZED and result.tables == result.tags()["tables"] == tables
    written = Image.open(io.BytesIO(out)).quantization
    expected = [libjpeg_table(base, result.quality) for base in TABLE_SETS[tables]]
    assert all(np.array_equal(written[i], table) for i, table in enumerate(expected))


@pytest.mark.parametrize("pixels", [photo_like(512, 384), Image.open(PHOTOS / "Kodak_DC240.jpg").convert("RGB")])
def test_a_jpeg_capped_at_its_own_quality_is_re_encoded_with_libjpegs_tables(settings, fixed_model, pixels):
    """Saved at 50 by libjpeg, the search cannot go above 50: Robidoux's tables requantise every block and miss
    the target there, libjpeg's keep the source's coefficients (the whole image, or the mosaic of a larger one)."""
    data = encoded(pixels, quality=50)
    source = Image.open(io.BytesIO(data)).convert("RGB")
    robidoux = px.encode(source, 50, "4:2:0", NONE, tables="robidoux")
    assert score(np.asarray(source), np.asarray(Image.open(io.BytesIO(robidoux)).convert("RGB"))) < settings.target
    out, result = optimize(data, settings, fixed_model)
    assert (result.outcome, result.tables, result.subsampling) == (OPTIMIZED, "annex-k", "4:2:0")
    assert result.quality <= 50 and len(out) < len(data)


@pytest.mark.parametrize(
    ("outcome", "image_format", "published"),
    [
        (OPTIMIZED, "PNG", ("image/jpeg", None)),
        (ORIGINAL_KEPT, "PNG", ("image/png", None)),
        (ORIGINAL_KEPT, "MPO", ("image/jpeg", None)),
        (ORIGINAL_KEPT, "EPS", ("application/octet-stream", "attachment")),  # application/postscript
        (ORIGINAL_KEPT, "DDS", ("application/octet-stream", "attachment")),  # no MIME type in Pillow
        (REJECTED, None, ("application/octet-stream", "attachment")),
    ],
)
def test_only_an_image_type_the_core_read_is_published_else_an_octet_stream_attachment(
    outcome, image_format, published
):
    Image.init()
    assert published_type(outcome, image_format) == published


def test_a_kept_original_declares_the_type_of_its_format_and_a_rejected_one_is_an_attachment(settings, fixed_model):
    _, kept = optimize(encoded(Image.new("RGB", (16, 16), "red"), "PNG"), settings, fixed_model)
    assert (kept.outcome, kept.content_type, kept.content_disposition) == (ORIGINAL_KEPT, "image/png", None)
    _, rejected = optimize(b"<html><script>alert(1)</script></html>", settings, fixed_model)
    assert (rejected.outcome, rejected.content_type, rejected.content_disposition) == (
        REJECTED, "application/octet-stream", "attachment")
