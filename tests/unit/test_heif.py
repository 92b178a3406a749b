"""HEIC/HEIF uploads (phones' format): decoded by pillow-heif, upright, with their ICC profile and EXIF, and
optimized into a JPEG like any photo; refused as unsupported-format only where pillow-heif is absent."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from PIL import Image, ImageCms

from handler.core import optimize
from handler.image import intake
from handler.result import OPTIMIZED, ORIGINAL_KEPT, REJECTED
from tests.conftest import photo_like

pillow_heif = pytest.importorskip("pillow_heif")

ROTATED = 6
"""EXIF orientation 6: the stored picture is shown turned 90 degrees clockwise."""


def heic(image: Image.Image, orientation: int = 1, icc: bytes | None = None) -> bytes:
    """`image` as a HEIC file (pillow-heif's encoder), with the Make tag and `orientation` in its EXIF."""
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif[0x0112] = orientation
    out = io.BytesIO()
    pillow_heif.from_pillow(image).save(out, format="HEIF", quality=95, exif=exif.tobytes(),
                                        **({"icc_profile": icc} if icc else {}))
    return out.getvalue()


def srgb() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_a_heic_photo_is_optimized_upright_with_its_icc_profile_and_exif(settings, fixed_model):
    stored = photo_like(96, 64)
    data = heic(stored, ROTATED, srgb())
    out, result = optimize(data, settings, fixed_model)
    assert (result.outcome, result.format) == (OPTIMIZED, "HEIF")
    output = Image.open(io.BytesIO(out))
    assert output.format == "JPEG"
    assert output.info["icc_profile"] == srgb()
    exif = output.getexif()
    assert exif[0x010F] == "TestCam"
    # the HEIF's orientation is applied to the pixels on decoding, so the JPEG says 1 (or nothing): shown as
    # the phone showed it, never turned twice
    assert exif.get(0x0112, 1) == 1
    assert output.size == (64, 96) == (result.width, result.height)


def test_a_damaged_heic_is_rejected_by_name(settings, fixed_model):
    data = heic(photo_like(64, 48))
    _, result = optimize(data[: len(data) // 2], settings, fixed_model)
    assert result.outcome == REJECTED
    assert result.reason in ("corrupt", "truncated")
    assert "HEIF" in result.detail


def test_without_pillow_heif_a_heic_is_refused_as_an_unsupported_format(settings, fixed_model, monkeypatch):
    monkeypatch.setattr(intake, "heif_reader", lambda: False)
    monkeypatch.setattr(Image, "OPEN", {k: v for k, v in Image.OPEN.items() if k != "HEIF"})
    monkeypatch.setattr(Image, "ID", [name for name in Image.ID if name != "HEIF"])
    _, result = optimize(heic(photo_like(64, 48)), settings, fixed_model)
    assert (result.outcome, result.reason) == (REJECTED, "unsupported-format")
    assert "HEIC" in result.detail


def test_a_heif_of_several_pictures_is_optimized_as_its_primary_one_and_says_the_rest_is_left_out(
    settings, fixed_model
):
    """A HEIF collection shows its primary image (here the second stored): the JPEG is that picture, as for an MPO,
    not the original kept as if it were an animation."""
    first, primary = photo_like(96, 64, seed=1), photo_like(48, 80, seed=2)
    stored = io.BytesIO()
    first.save(stored, "HEIF", quality=95, save_all=True, append_images=[primary], primary_index=1)
    out, result = optimize(stored.getvalue(), settings, fixed_model)
    assert (result.outcome, result.format) == (OPTIMIZED, "HEIF")
    assert Image.open(io.BytesIO(out)).size == (48, 80) == (result.width, result.height)
    assert "the HEIF's 1 other picture (beside its primary image) left out" in result.detail


def test_a_heic_smaller_than_its_jpeg_would_be_is_kept_as_it_came_with_no_variant(settings, fixed_model):
    """The rule every upload is held to (an output is never larger than its input) holds for a HEIC coded at a
    low quality: the key keeps the HEIC, and the record says why."""
    out = io.BytesIO()
    pillow_heif.from_pillow(photo_like(256, 192)).save(out, format="HEIF", quality=30)
    data = out.getvalue()
    kept, result = optimize(data, replace(settings, formats=("jpeg", "avif", "webp")), fixed_model)
    assert (result.outcome, result.reason, result.format) == (ORIGINAL_KEPT, "not-smaller", "HEIF")
    assert kept == data
    assert result.variants == ()
