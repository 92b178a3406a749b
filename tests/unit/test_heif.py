"""HEIC/HEIF uploads (phones' format): decoded by pillow-heif, upright, with their ICC profile and EXIF, and
optimized into a JPEG like any photo; refused as unsupported-format only where pillow-heif is absent."""

from __future__ import annotations

import base64
import io
from dataclasses import replace

import pytest
from PIL import Image, ImageCms

from handler.core import optimize
from handler.image import intake
from handler.result import OPTIMIZED, ORIGINAL_KEPT, REJECTED
from tests.conftest import photo_like
from tests.unit.test_variants import CHROME, api_event

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
    """An sRGB profile; littleCMS stamps it with the time it is made, so one test compares a profile with itself."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_a_heic_photo_is_optimized_upright_with_its_icc_profile_and_exif(settings, fixed_model):
    stored = photo_like(96, 64)
    icc = srgb()
    data = heic(stored, ROTATED, icc)
    out, result = optimize(data, settings, fixed_model)
    assert (result.outcome, result.format) == (OPTIMIZED, "HEIF")
    output = Image.open(io.BytesIO(out))
    assert output.format == "JPEG"
    assert output.info["icc_profile"] == icc
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



def low_quality_heic() -> bytes:
    """A HEIC coded at a low quality (half pillow-heif's scale): no JPEG reaching target 80 is smaller, an AVIF is."""
    out = io.BytesIO()
    pillow_heif.from_pillow(photo_like(384, 256)).save(out, format="HEIF", quality=50)
    return out.getvalue()


def test_a_heic_smaller_than_its_jpeg_would_be_is_kept_with_a_smaller_avif_beside_it(settings, fixed_model):
    """The rule every upload is held to (an output is never larger than its input) keeps such a HEIC at its key,
    which most browsers cannot show; FORMATS gives them a verified variant smaller than the HEIC instead."""
    data = low_quality_heic()
    decision = optimize(data, replace(settings, formats=("jpeg", "avif")), fixed_model)
    assert (decision.result.outcome, decision.result.reason, decision.result.format) == (
        ORIGINAL_KEPT, "not-smaller", "HEIF")
    assert decision.data == data
    [avif] = decision.variants
    assert decision.result.variants == (avif.variant,)
    assert avif.variant.score >= settings.target and len(avif.data) == avif.variant.bytes < len(data)
    assert Image.open(io.BytesIO(avif.data)).format == "AVIF"
    record = decision.result.of_variant(avif)  # what its tags and log line say: not the HEIC's outcome
    assert (record.outcome, record.reason, record.content_type) == (OPTIMIZED, "verified", "image/avif")


def test_with_formats_jpeg_a_heic_kept_as_it_came_gets_no_variant(settings, fixed_model):
    decision = optimize(low_quality_heic(), settings, fixed_model)
    assert (decision.result.outcome, decision.result.reason) == (ORIGINAL_KEPT, "not-smaller")
    assert decision.variants == () and decision.result.variants_skipped == ()


@pytest.mark.parametrize(("accept", "expected"), [(CHROME, "image/avif"), ("*/*", "image/heif")])
def test_post_optimize_answers_a_kept_heic_with_its_avif_where_the_browser_names_avif(fixed_model, accept, expected):
    from handler.aws import api, wiring
    from handler.settings import Locations, Settings

    app = wiring.App(Settings(formats=("jpeg", "avif")), Locations(), fixed_model, storage=None)
    data = low_quality_heic()
    answer = api.handle(app, api_event(data, accept))
    assert answer["statusCode"] == 200, answer["body"]
    assert answer["headers"]["Content-Type"] == expected and answer["headers"]["Vary"] == "Accept"
    body = base64.b64decode(answer["body"])
    assert (body == data) == (expected == "image/heif") and len(body) <= len(data)
