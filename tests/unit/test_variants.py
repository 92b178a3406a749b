"""FORMATS: AVIF and WebP variants beside the JPEG, each reaching the target against the original, smaller than
the JPEG or absent; chosen by settings, the template, the API (with Accept negotiation) and the command line."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from handler.core import optimize
from handler.errors import ConfigError
from handler.quality import variants
from handler.quality.metric import Reference
from handler.result import OPTIMIZED
from handler.settings import FORMATS, Settings
from tests.conftest import encoded, photo_like

ALL = ("jpeg", "avif", "webp")
TYPES = {"avif": "image/avif", "webp": "image/webp"}


def smooth(width: int, height: int, seed: int) -> Image.Image:
    """photo_like at twice the size, scaled down: its noise averaged out, as in a phone's photo once resized. On
    photo_like itself (noise of 2 levels at every pixel) WebP and AVIF lose to the JPEG at the presets."""
    return photo_like(2 * width, 2 * height, seed=seed).resize((width, height), Image.Resampling.LANCZOS)


def decoded(data: bytes) -> Image.Image:
    """An upload's pixels: what the function scores its outputs against."""
    return Image.open(io.BytesIO(data)).convert("RGB")


def score(original: Image.Image, data: bytes) -> float:
    """SSIMULACRA2 of `data`, decoded by Pillow as a reader would, against `original`."""
    decoded = Image.open(io.BytesIO(data))
    assert decoded.size == original.size
    return Reference(np.asarray(original.convert("RGB"))).score(np.asarray(decoded.convert("RGB")))


@pytest.mark.parametrize("target", [70, 80, 90])
def test_variants_reach_the_target_and_are_smaller_than_the_jpeg_or_absent(settings, fixed_model, target):
    data = encoded(smooth(320, 240, 4), quality=97)
    original = decoded(data)
    decision = optimize(data, replace(settings, target=target, formats=ALL), fixed_model)
    assert decision.result.outcome == OPTIMIZED
    assert [v.variant for v in decision.variants] == list(decision.result.variants)
    assert decision.variants or target == 90, "a smooth photo should get at least its AVIF below 90"
    for output in decision.variants:
        assert len(output.data) < len(decision.data) and output.variant.bytes == len(output.data)
        assert output.content_type == TYPES[output.variant.format]
        assert Image.open(io.BytesIO(output.data)).format == output.variant.format.upper()
        assert score(original, output.data) >= target
    sizes = [len(v.data) for v in decision.variants]
    assert sizes == sorted(sizes)
    assert decision.result.tags()["variants"] == " ".join(f"{v.variant.format}:{len(v.data)}"
                                                           for v in decision.variants)


@pytest.mark.parametrize(("size", "target"), [((320, 240), 80), ((320, 240), 90), ((200, 6), 80)])
def test_each_format_asked_for_is_written_or_skipped_with_its_reason(settings, fixed_model, size, target):
    decision = optimize(encoded(smooth(*size, 6), quality=97), replace(settings, target=target, formats=ALL),
                        fixed_model)
    result = decision.result
    assert result.outcome == OPTIMIZED
    assert sorted([v.format for v in result.variants] + [s.format for s in result.variants_skipped]) == sorted(ALL[1:])
    for skipped in result.variants_skipped:
        too_small = min(size) < variants.search.MIN_SIDE
        assert skipped.reason == "too-small" if too_small else skipped.reason in ("not-smaller", "target-unreachable")
        assert (skipped.bytes is not None) == (skipped.reason == "not-smaller")
        assert skipped.bytes is None or skipped.bytes >= len(decision.data)


def test_an_upload_no_jpeg_reaches_the_target_for_is_kept_with_a_variant_that_does(settings, fixed_model):
    """MAX_QUALITY caps the JPEG, not AVIF's scale: where no JPEG up to it reaches the target, the upload stays at
    the key and an AVIF verified at the target, smaller than the upload, is written beside it."""
    data = encoded(smooth(320, 240, 4), "PNG")
    capped = replace(settings, target=90, min_quality=30, max_quality=50, formats=("jpeg", "avif"))
    decision = optimize(data, capped, fixed_model)
    assert (decision.result.outcome, decision.result.reason) == ("original-kept", "target-unreachable")
    assert decision.data == data
    (output,) = decision.variants
    assert len(output.data) < len(data) and score(decoded(data), output.data) >= 90


def test_the_jpeg_alone_is_the_default_and_is_the_same_bytes_with_variants(settings, fixed_model):
    data = encoded(smooth(320, 240, 5), quality=97)
    alone = optimize(data, settings, fixed_model)
    both = optimize(data, replace(settings, formats=ALL), fixed_model)
    assert settings.formats == ("jpeg",) and alone.variants == () and "variants" not in alone.result.tags()
    assert alone.result.variants_skipped == ()
    assert both.data == alone.data
    output, result = both  # a Decision still unpacks as (data, result)
    assert output == alone.data and result.variants


def test_a_large_picture_is_searched_on_the_sample_and_checked_whole(settings, fixed_model):
    """Over search.WHOLE_MAX_PIXELS the walk runs on the mosaic; what is kept still reaches the target whole."""
    data = encoded(smooth(800, 600, 6), quality=97)
    original = decoded(data)
    decision = optimize(data, replace(settings, formats=("jpeg", "avif")), fixed_model)
    (output,) = decision.variants
    assert score(original, output.data) >= 80


def test_variants_are_stored_upright_with_the_icc_profile(settings, fixed_model):
    from PIL import ImageCms

    exif = Image.Exif()
    exif[0x0112] = 6
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encoded(smooth(240, 160, 7), quality=97, exif=exif.tobytes(), icc_profile=icc)
    stored = decoded(data)
    decision = optimize(data, replace(settings, formats=ALL), fixed_model)
    assert decision.variants
    for output in decision.variants:
        shown = Image.open(io.BytesIO(output.data))
        assert shown.size == (160, 240) and shown.getexif().get(0x0112, 1) == 1
        assert shown.info.get("icc_profile") == icc
        assert score(stored.transpose(Image.Transpose.ROTATE_270), output.data) >= 80


def test_kept_transparent_and_animated_pictures_get_no_variants(settings, fixed_model):
    rgba = photo_like(64, 48).convert("RGBA")
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    decision = optimize(encoded(rgba, "PNG"), replace(settings, formats=ALL), fixed_model)
    assert decision.result.reason == "has-transparency" and decision.variants == ()


def test_formats_is_read_from_the_environment_and_must_list_jpeg():
    assert Settings.from_env({"FORMATS": "webp, JPEG,avif"}).formats == ("jpeg", "avif", "webp")
    assert Settings.from_env({}).formats == ("jpeg",)
    for bad in ("avif", "jpeg,gif", "jpeg;avif"):
        with pytest.raises(ConfigError, match="FORMATS"):
            Settings.from_env({"FORMATS": bad})
    assert set(FORMATS) == {"jpeg", *variants.CODECS}


def test_the_template_offers_formats_and_passes_it_to_every_function():
    import yaml  # noqa: F401 - cfn-lint's dependency; the template tests read the template the same way

    text = (Path(__file__).resolve().parents[2] / "template.yaml").read_text()
    assert "FORMATS: !Ref Formats" in text
    assert 'AllowedValues: [jpeg, "jpeg,avif", "jpeg,webp", "jpeg,avif,webp"]' in text


# ------------------------------------------------------------------------------------------------ the API


def api_event(data: bytes, accept: str, **query: str) -> dict:
    return {"httpMethod": "POST", "resource": "/optimize", "headers": {"Content-Type": "image/jpeg", "Accept": accept},
            "queryStringParameters": query or None, "body": base64.b64encode(data).decode(), "isBase64Encoded": True,
            "requestContext": {"requestId": "test"}}


@pytest.fixture
def api_app(fixed_model):
    from handler.aws import api, wiring
    from handler.settings import Locations

    return api, wiring.App(Settings(formats=ALL), Locations(), fixed_model, storage=None)


CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"


@pytest.mark.parametrize(("accept", "expected"), [
    (CHROME, "image/avif"),
    ("image/webp,*/*", "image/webp"),
    ("image/avif;q=0,image/webp", "image/webp"),
    ("*/*", "image/jpeg"),
    ("image/*", "image/jpeg"),
    ("", "image/jpeg"),
])
def test_post_optimize_answers_the_smallest_verified_format_the_accept_header_names(
    api_app, accept, expected, pillow_only
):
    api, app = api_app
    # with its JPEG coded by Pillow, its WebP and AVIF are both smaller than the JPEG (jpegli's would be smaller)
    data = encoded(smooth(320, 240, 6), quality=97)
    original = decoded(data)
    answer = api.handle(app, api_event(data, accept))
    assert answer["statusCode"] == 200, answer["body"]
    assert answer["headers"]["Content-Type"] == expected and answer["headers"]["Vary"] == "Accept"
    body = base64.b64decode(answer["body"])
    assert answer["headers"]["X-Optimal-Image-Bytes-Out"] == str(len(body))
    assert score(original, body) >= 80


def test_the_record_lists_the_variants_and_formats_can_be_asked_per_request(api_app):
    api, app = api_app
    data = encoded(smooth(320, 240, 9), quality=97)
    record = json.loads(api.handle(app, api_event(data, "application/json"))["body"])
    assert {v["format"] for v in record["variants"]} <= {"avif", "webp"} and record["variants"]
    assert set(record["variants"][0]) == {"format", "quality", "score", "bytes"}
    only_jpeg = api.handle(app, api_event(data, CHROME, formats="jpeg"))
    assert only_jpeg["headers"]["Content-Type"] == "image/jpeg"
    refused = api.handle(app, api_event(data, CHROME, formats="gif"))
    assert refused["statusCode"] == 400 and json.loads(refused["body"])["error"] == "bad-formats"


# ------------------------------------------------------------------------------------------ command line


@pytest.mark.slow  # worker processes
def test_the_command_line_writes_the_variants_beside_the_outputs(tmp_path):
    from contextlib import redirect_stderr, redirect_stdout

    from handler.cli import main

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(encoded(smooth(320, 240, 10), "PNG"))
    stdout = io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(io.StringIO()):
        code = main(["optimize", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--formats", "jpeg,avif,webp",
                     "--jobs", "1"])
    (record,) = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert code == 0 and record["output"] == str(tmp_path / "out" / "a.jpg")
    assert record["variants"]
    for variant in record["variants"]:
        written = tmp_path / "out" / f"a.jpg.{variant['format']}"
        assert written.stat().st_size == variant["bytes"] < (tmp_path / "out" / "a.jpg").stat().st_size
    assert {p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")} == {
        "a.jpg", *(f"a.jpg.{v['format']}" for v in record["variants"])}


class Line:
    """A stand-in for variants.Scored whose score is a line in the quality: 0.5 a step, as AVIF's near 80."""

    def __init__(self, offset: float) -> None:
        self.offset, self.tried = offset, {}

    def measure(self, quality: int) -> tuple[float, bytes]:
        self.tried[quality] = (50 + 0.5 * quality + self.offset, bytes(quality))
        return self.tried[quality]


@pytest.mark.parametrize("error", [-3.0, 3.0])
def test_the_whole_image_check_comes_down_to_the_lowest_passing_quality(error):
    """The sample scoring `error` off the whole image: once one whole-image check has shown that error, the next
    aims at the target itself, and a pass more than the codec's surplus above it is not kept without trying lower.
    (Kept at a pass within 2 points and aimed 1 point above, AVIF stopped about 3 steps, 0.02-0.04x, too high.)"""
    whole, sampled, codec = Line(0.0), Line(error), variants.CODECS["avif"]
    start = variants.lowest(lambda q: sampled.measure(q)[0], 50, variants.search.Bounds(1, 100), 81)
    found = variants._confirmed(whole, sampled, start, variants.search.Bounds(1, 100), 80, codec)
    assert found.variant.quality == 60 and found.variant.score == 80
    assert len(whole.tried) <= 2


@pytest.mark.parametrize(("pixels", "speed", "method"), [(1_000_000, 6, 6), (3_000_000, 7, 4), (12_000_000, 8, 4)])
def test_larger_pictures_are_encoded_faster_in_steps(pixels, speed, method):
    """AVIF at speed 6 up to 2 MP, 7 up to 6 MP, 8 above (speed 9 gave up 0.03-0.08x on train pictures over 2 MP);
    WebP at method 6 up to 2 MP, 4 above."""
    assert variants.CODECS["avif"].for_pixels(pixels).options["speed"] == speed
    assert variants.CODECS["avif"].for_pixels(pixels).options["subsampling"] == "4:4:4"
    assert variants.CODECS["avif"].for_pixels(pixels).options["autotiling"] is False
    assert variants.CODECS["webp"].for_pixels(pixels).options["method"] == method


def test_the_walk_starts_from_the_jpeg_quality_mapped_by_the_nearest_presets_offset():
    codec = variants.tuned(variants.CODECS["avif"], offsets={70: -10.0, 90: 5.0})
    assert [codec.start(60, target) for target in (70, 79, 81, 90)] == [50, 50, 65, 65]
    assert codec.start(99, 90) == codec.high and codec.start(5, 70) == codec.low
