"""Guards against doing work twice: repeated events, and the loop an output bucket shared with uploads could start.

Runs against the moto S3 server over HTTP, like AWS would be reached.
"""

from __future__ import annotations

import boto3
import pytest

from handler.aws import s3_event, wiring
from handler.aws.wiring import App
from handler.image.jpeg import MARKER
from handler.settings import Locations, Settings
from scripts.s3events import put_event, put_record
from tests.conftest import PHOTOS, encoded, photo_like
from tests.integration.test_s3_event import tags, upload

PREFIX = "optimized/"


def snapshot(bucket: str, key: str) -> dict[str, object]:
    """Everything a reader of the output sees: bytes, type, user metadata and tags."""
    got = boto3.client("s3").get_object(Bucket=bucket, Key=key)
    return {
        "body": got["Body"].read(),
        "content_type": got["ContentType"],
        "metadata": got["Metadata"],
        "tags": tags(bucket, key),
    }


def versions(bucket: str) -> dict[str, int]:
    """How many times each key was written (the bucket is versioned)."""
    counts: dict[str, int] = {}
    for version in boto3.client("s3").list_object_versions(Bucket=bucket).get("Versions", []):
        counts[version["Key"]] = counts.get(version["Key"], 0) + 1
    return counts


@pytest.fixture
def app(buckets) -> App:
    upload_bucket, output = buckets
    return wiring.build(Settings(), Locations(upload_bucket=upload_bucket, output_bucket=output))


@pytest.fixture
def shared(buckets) -> tuple[str, App]:
    """One versioned bucket for uploads and outputs, outputs under PREFIX, and an App set up for it."""
    bucket, _ = buckets
    boto3.client("s3").put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket, wiring.build(Settings(), Locations(upload_bucket=bucket, output_bucket=bucket, output_prefix=PREFIX))


def test_processing_the_same_upload_twice_writes_identical_bytes_and_tags(app, buckets):
    source, output = buckets
    event = put_event(upload(source, "twice.jpg", (PHOTOS / "Kodak_DC240.jpg").read_bytes()))
    s3_event.handle(app, event)
    first = snapshot(output, "twice.jpg")
    s3_event.handle(app, event)
    assert snapshot(output, "twice.jpg") == first
    assert first["tags"]["outcome"] == "optimized"


def upload_and_handle(app: App, bucket: str, key: str) -> dict:
    """Upload a photo-like JPEG under `key`, handle its event, and return the handler's record of it."""
    record = upload(bucket, key, encoded(photo_like(), quality=97))
    (result,) = s3_event.handle(app, put_event(record))["results"]
    return result


def test_with_one_bucket_the_output_is_written_under_the_prefix(shared):
    bucket, app = shared
    result = upload_and_handle(app, bucket, "photos/a.jpg")
    assert result["outcome"] == "optimized" and result["output_key"] == PREFIX + "photos/a.jpg"
    assert versions(bucket) == {"photos/a.jpg": 1, PREFIX + "photos/a.jpg": 1}


def test_with_one_bucket_the_event_of_an_output_is_skipped_and_writes_nothing(shared):
    bucket, app = shared
    upload_and_handle(app, bucket, "photos/a.jpg")
    head = boto3.client("s3").head_object(Bucket=bucket, Key=PREFIX + "photos/a.jpg")
    echo = put_record(bucket, PREFIX + "photos/a.jpg", head["ContentLength"], head["ETag"])  # what S3 sends next
    (result,) = s3_event.handle(app, put_event(echo))["results"]
    assert (result["outcome"], result["reason"], result["output_key"]) == ("skipped", "own-output", None)
    assert versions(bucket) == {"photos/a.jpg": 1, PREFIX + "photos/a.jpg": 1}


def test_an_object_carrying_the_marker_under_another_key_is_skipped_as_already_optimized(shared):
    bucket, app = shared
    record = upload(bucket, "elsewhere/b.jpg", encoded(photo_like(), quality=97), Metadata={MARKER: "any-version"})
    (result,) = s3_event.handle(app, put_event(record))["results"]
    assert (result["outcome"], result["reason"], result["output_key"]) == ("skipped", "already-optimized", None)
    assert versions(bucket) == {"elsewhere/b.jpg": 1}


def test_an_output_downloaded_and_uploaded_again_is_published_unchanged_as_already_optimized(app, buckets):
    """Without its S3 metadata an output is known by the mark in the file: re-encoding it would add loss to loss."""
    source, output = buckets
    s3 = boto3.client("s3")
    s3_event.handle(app, put_event(upload(source, "a.jpg", (PHOTOS / "Kodak_DC240.jpg").read_bytes())))
    first = s3.get_object(Bucket=output, Key="a.jpg")["Body"].read()
    (result,) = s3_event.handle(app, put_event(upload(source, "again/a.jpg", first)))["results"]
    assert (result["outcome"], result["reason"]) == ("original-kept", "already-optimized")
    assert s3.get_object(Bucket=output, Key="again/a.jpg")["Body"].read() == first
    assert tags(output, "again/a.jpg")["reason"] == "already-optimized"


def test_an_upload_whose_output_would_replace_a_batch_manifest_is_skipped_and_the_manifest_kept(app, buckets):
    source, output = buckets
    manifest = b"my-uploads,photos/a.jpg\n"
    boto3.client("s3").put_object(Bucket=output, Key="batch-manifests/manifest.csv", Body=manifest)
    result = upload_and_handle(app, source, "batch-manifests/manifest.csv")
    assert (result["outcome"], result["reason"], result["output_key"]) == ("skipped", "batch-prefix", None)
    assert boto3.client("s3").get_object(Bucket=output, Key="batch-manifests/manifest.csv")["Body"].read() == manifest
