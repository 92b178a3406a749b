"""FORMATS over S3: KEY.avif and KEY.webp beside the JPEG, typed and tagged, listed by the JPEG's record and tag;
a variant an earlier upload left is removed where the new upload gets none."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace

import boto3
import pytest
from PIL import Image

from handler.aws import s3_event
from handler.aws.storage import NONE, Storage
from handler.aws.versions import SEQUENCER, VARIANTS
from handler.image.jpeg import MARKER
from scripts.s3events import put_event
from tests.conftest import encoded, photo_like
from tests.integration.test_s3_event import tags, upload
from tests.integration.test_versions import FIRST, SECOND, head
from tests.integration.test_versions import upload as versioned

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


def test_a_heic_kept_as_it_came_gets_an_avif_beside_it_that_browsers_can_show(with_variants, buckets):
    """A HEIC no JPEG beats stays at its key (never a larger output); Chrome and Firefox, which do not show HEIC,
    get KEY.avif, verified and smaller, recorded as optimized while the HEIC's record says not-smaller."""
    pytest.importorskip("pillow_heif")
    from tests.unit.test_heif import low_quality_heic

    source, output = buckets
    s3 = boto3.client("s3")
    key, data = "phone/IMG_0001.HEIC", low_quality_heic()
    record = s3_event.handle(with_variants, put_event(upload(source, key, data)))["results"][0]
    assert (record["outcome"], record["reason"]) == ("original-kept", "not-smaller"), record
    assert s3.get_object(Bucket=output, Key=key)["Body"].read() == data
    [avif] = [v for v in record["variants"] if v["format"] == "avif"]
    assert tags(output, key)["variants"].startswith("avif:")
    got = s3.get_object(Bucket=output, Key=key + ".avif")
    assert got["ContentType"] == "image/avif" and len(got["Body"].read()) == avif["bytes"] < len(data)
    own = tags(output, key + ".avif")
    assert (own["outcome"], own["reason"], own["quality"]) == ("optimized", "verified", str(avif["quality"]))


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


class Recording(Storage):
    """The S3 storage, noting each call's name and key; `after` runs a step (another run's write) once a call has
    been made on a key."""

    def __init__(self, s3: object, after: dict[tuple[str, str], Callable[[], None]] | None = None) -> None:
        super().__init__(s3)
        self.calls: list[tuple[str, str]] = []
        self._after = dict(after or {})

    def _noted(self, name: str, key: str, call: Callable[[], object]):
        self.calls.append((name, key))
        try:
            return call()
        finally:
            if step := self._after.pop((name, key), None):
                step()

    def existing(self, bucket, key):
        return self._noted("existing", key, lambda: super(Recording, self).existing(bucket, key))

    def publish(self, bucket, key, data, envelope, condition=NONE):
        return self._noted("publish", key, lambda: super(Recording, self).publish(bucket, key, data, envelope,
                                                                                   condition))

    def delete(self, bucket, key, etag=""):
        return self._noted("delete", key, lambda: super(Recording, self).delete(bucket, key, etag))


def recording(app, after=None) -> tuple[object, Recording]:
    storage = Recording(boto3.client("s3"), after)
    return replace(app, storage=storage), storage


def keys(bucket: str) -> set[str]:
    return {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])}


def test_turning_formats_back_to_jpeg_removes_the_variants_the_replaced_output_lists(with_variants, app, buckets):
    source, output = buckets
    (first,) = s3_event.handle(with_variants, put_event(versioned(source, KEY, encoded(smooth(), "PNG"), FIRST)))[
        "results"]
    formats = [v["format"] for v in first["variants"]]
    assert formats and head(output, KEY)["Metadata"][VARIANTS] == " ".join(formats)
    plain, storage = recording(app)
    s3_event.handle(plain, put_event(versioned(source, KEY, encoded(smooth(seed=4), "PNG"), SECOND)))
    assert keys(output) == {KEY} and VARIANTS not in head(output, KEY)["Metadata"]
    assert sorted(key for name, key in storage.calls if name == "delete") == sorted(f"{KEY}.{f}" for f in formats)


def test_formats_jpeg_reads_and_deletes_nothing_beside_an_output_that_listed_no_variants(app, buckets):
    """FORMATS=jpeg costs what it cost before variants: no request about KEY.avif or KEY.webp, even on a re-upload,
    and an object there (here an upload's own output named KEY.avif, which carries the marker) is left alone."""
    source, output = buckets
    s3_event.handle(app, put_event(versioned(source, KEY + ".avif", encoded(smooth(), "PNG"), FIRST)))
    plain, storage = recording(app)
    for sequencer, seed in ((FIRST, 3), (SECOND, 4)):
        s3_event.handle(plain, put_event(versioned(source, KEY, encoded(smooth(seed=seed), "PNG"), sequencer)))
    assert keys(output) == {KEY, KEY + ".avif"}
    assert [name for name, key in storage.calls if key != KEY] == []
    assert [name for name, _ in storage.calls] == ["publish", "publish", "existing", "publish"]


def test_an_uploads_own_output_at_the_variants_key_is_not_taken_for_a_variant(with_variants, app, buckets):
    source, output = buckets
    s3_event.handle(app, put_event(versioned(source, KEY + ".avif", encoded(smooth(), "PNG"), FIRST)))
    assert MARKER in head(output, KEY + ".avif")["Metadata"]
    transparent = smooth().convert("RGBA")
    transparent.putpixel((0, 0), (0, 0, 0, 0))  # kept as it is: no variant, so KEY.avif is looked at
    s3_event.handle(with_variants, put_event(versioned(source, KEY, encoded(transparent, "PNG"), FIRST)))
    assert keys(output) == {KEY, KEY + ".avif"}


def test_a_later_uploads_variant_written_between_the_read_and_the_delete_stays(with_variants, buckets):
    """The delete is conditional on the ETag read (DeleteObject IfMatch): a variant another run wrote in between
    is not removed."""
    source, output = buckets
    s3_event.handle(with_variants, put_event(versioned(source, KEY, encoded(smooth(), "PNG"), FIRST)))
    meanwhile = b"a later run's variant"

    def later_write() -> None:
        metadata = {**head(output, f"{KEY}.avif")["Metadata"], SEQUENCER: SECOND}
        boto3.client("s3").put_object(Bucket=output, Key=f"{KEY}.avif", Body=meanwhile, Metadata=metadata)

    racing, storage = recording(with_variants, {("existing", f"{KEY}.avif"): later_write})
    transparent = smooth().convert("RGBA")
    transparent.putpixel((0, 0), (0, 0, 0, 0))
    s3_event.handle(racing, put_event(versioned(source, KEY, encoded(transparent, "PNG"), SECOND)))
    assert ("delete", f"{KEY}.avif") in storage.calls
    assert boto3.client("s3").get_object(Bucket=output, Key=f"{KEY}.avif")["Body"].read() == meanwhile
    assert f"{KEY}.webp" not in keys(output)


def test_variants_written_after_a_later_upload_replaced_the_output_are_removed_again(with_variants, buckets):
    """An older upload's run writes its variants after a later upload's run replaced the JPEG and looked for
    leftovers: it reads the output once more, sees the later sequencer and removes its own variants."""
    source, output = buckets
    newer_bytes = encoded(smooth(seed=4), "PNG")

    def later_upload() -> None:
        s3_event.handle(replace(with_variants, settings=replace(with_variants.settings, formats=("jpeg",))),
                        put_event(versioned(source, KEY, newer_bytes, SECOND)))

    racing, _ = recording(with_variants, {("publish", KEY): later_upload})
    s3_event.handle(racing, put_event(versioned(source, KEY, encoded(smooth(), "PNG"), FIRST)))
    assert keys(output) == {KEY} and head(output, KEY)["Metadata"][SEQUENCER] == SECOND
