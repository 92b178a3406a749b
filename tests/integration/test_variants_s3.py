"""FORMATS over S3: KEY.avif and KEY.webp beside the JPEG, typed and tagged, listed by the JPEG's record and tag;
a variant an earlier upload left is removed where the new upload gets none."""

from __future__ import annotations

import io
from dataclasses import replace

import boto3
import pytest
from PIL import Image

from handler.aws import s3_event
from handler.image.jpeg import MARKER
from scripts.s3events import put_event
from tests.conftest import encoded, photo_like
from tests.integration.test_s3_event import tags, upload

KEY = "photos/smooth.png"
TYPES = {"avif": "image/avif", "webp": "image/webp"}


def smooth(width: int = 320, height: int = 240, seed: int = 3) -> Image.Image:
    """A photo-like picture without per-pixel noise, on which AVIF and WebP beat the JPEG (tests/unit/test_variants)."""
    return photo_like(2 * width, 2 * height, seed=seed).resize((width, height), Image.Resampling.LANCZOS)


@pytest.fixture
def with_variants(app):
    return replace(app, settings=replace(app.settings, formats=("jpeg", "avif", "webp")))


def test_variants_are_written_beside_the_output_typed_tagged_and_listed(with_variants, buckets):
    source, output = buckets
    s3 = boto3.client("s3")
    record = s3_event.handle(with_variants, put_event(upload(source, KEY, encoded(smooth(), "PNG"))))["results"][0]
    assert record["outcome"] == "optimized" and record["variants"], record
    jpeg = s3.get_object(Bucket=output, Key=KEY)["Body"].read()
    assert tags(output, KEY)["variants"] == " ".join(f"{v['format']}:{v['bytes']}" for v in record["variants"])
    for variant in record["variants"]:
        got = s3.get_object(Bucket=output, Key=f"{KEY}.{variant['format']}")
        body = got["Body"].read()
        assert got["ContentType"] == TYPES[variant["format"]]
        assert len(body) == variant["bytes"] < len(jpeg)
        assert MARKER in got["Metadata"]  # never processed again, and ours to replace or remove
        assert Image.open(io.BytesIO(body)).format == variant["format"].upper()
        own = tags(output, f"{KEY}.{variant['format']}")
        assert (own["quality"], own["bytes_out"], own["tables"]) == (str(variant["quality"]), str(len(body)), "")


def test_a_stale_variant_is_removed_when_the_new_upload_gets_none(with_variants, buckets):
    source, output = buckets
    s3 = boto3.client("s3")
    first = s3_event.handle(with_variants, put_event(upload(source, KEY, encoded(smooth(), "PNG"))))["results"][0]
    assert any(v["format"] == "avif" for v in first["variants"])
    # the same key again, now a picture with transparency: kept as it is, so no variant may stay beside it
    rgba = smooth().convert("RGBA")
    rgba.putpixel((0, 0), (0, 0, 0, 0))
    second = s3_event.handle(with_variants, put_event(upload(source, KEY, encoded(rgba, "PNG"),
                                                             )))["results"][0]
    assert second["reason"] == "has-transparency" and not second["variants"]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=output).get("Contents", [])}
    assert keys == {KEY}


def test_formats_jpeg_writes_no_variant_and_no_variants_tag(app, buckets):
    source, output = buckets
    s3_event.handle(app, put_event(upload(source, KEY, encoded(smooth(), "PNG"))))
    keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=output).get("Contents", [])}
    assert keys == {KEY} and "variants" not in tags(output, KEY)
