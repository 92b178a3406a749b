"""Upload -> S3 event -> handler -> output bucket, through a moto S3 server over HTTP."""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
from PIL import Image

from handler.aws import s3_event
from handler.aws.versions import SEQUENCER, SOURCE_ETAG
from handler.aws.wiring import App
from handler.image.jpeg import MARKER
from handler.settings import TARGET_METADATA
from scripts.s3events import eventbridge_event, put_event, put_record, sns_envelope, sns_record, sqs_record
from tests.conftest import PHOTOS, NearTimeout, encoded, log_lines, photo_like

ROOT = Path(__file__).resolve().parents[2]


def upload(bucket: str, key: str, data: bytes, **extra) -> dict:
    response = boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=data, **extra)
    return put_record(bucket, key, len(data), response["ETag"])


def tags(bucket: str, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in boto3.client("s3").get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def test_an_upload_is_written_to_the_output_bucket_smaller_decodable_and_tagged(app, buckets):
    source, output = buckets
    data = (PHOTOS / "Kodak_DC240.jpg").read_bytes()
    result = s3_event.handle(app, put_event(upload(source, "photos/kodak.jpg", data)))["results"][0]
    got = boto3.client("s3").get_object(Bucket=output, Key="photos/kodak.jpg")
    body = got["Body"].read()
    assert len(body) < len(data)
    assert Image.open(io.BytesIO(body)).size == Image.open(io.BytesIO(data)).size
    assert got["ContentType"] == "image/jpeg"
    assert tags(output, "photos/kodak.jpg") == {
        "outcome": "optimized",
        "reason": result["reason"],
        "quality": str(result["quality"]),
        "tables": result["tables"],
        "target": "80",
        "bpp": f"{8 * len(data) / (640 * 480):.3f}",
        "bytes_in": str(len(data)),
        "bytes_out": str(len(body)),
        "model_version": app.model.version,
    }


def test_the_original_upload_is_left_unchanged(app, buckets):
    source, _ = buckets
    data = (PHOTOS / "Konica_Q-M100_(1).jpg").read_bytes()
    s3_event.handle(app, put_event(upload(source, "a.jpg", data)))
    s3 = boto3.client("s3")
    assert s3.get_object(Bucket=source, Key="a.jpg")["Body"].read() == data
    assert s3.get_object_tagging(Bucket=source, Key="a.jpg")["TagSet"] == []


def test_the_sources_user_metadata_is_carried_over_with_the_marker_and_the_version_it_was_made_from(app, buckets):
    source, output = buckets
    data = encoded(photo_like(), quality=97)
    record = upload(source, "m.jpg", data, Metadata={"owner": "ana"})
    s3_event.handle(app, put_event(record))
    metadata = boto3.client("s3").head_object(Bucket=output, Key="m.jpg")["Metadata"]
    made_from = {SOURCE_ETAG: record["s3"]["object"]["eTag"], SEQUENCER: record["s3"]["object"]["sequencer"]}
    assert metadata == {"owner": "ana", MARKER: app.model.version, **made_from}


def test_an_upload_that_asks_for_its_own_preset_in_its_metadata_is_made_and_tagged_at_it(app, buckets):
    source, output = buckets
    data = (PHOTOS / "Kodak_DC240.jpg").read_bytes()
    asked = {TARGET_METADATA: "90"}
    (default,) = s3_event.handle(app, put_event(upload(source, "a.jpg", data)))["results"]
    (high,) = s3_event.handle(app, put_event(upload(source, "b.jpg", data, Metadata=asked)))["results"]
    assert (high["outcome"], high["target"]) == ("optimized", 90) and high["score"] >= 90
    assert high["quality"] > default["quality"] and high["bytes_out"] > default["bytes_out"]
    assert tags(output, "b.jpg")["target"] == "90" and tags(output, "a.jpg")["target"] == "80"
    metadata = boto3.client("s3").head_object(Bucket=output, Key="b.jpg")["Metadata"]
    assert {name: metadata[name] for name in (*asked, MARKER)} == {**asked, MARKER: app.model.version}


def test_an_upload_that_asks_for_a_target_that_is_not_a_preset_is_published_unchanged_and_says_why(app, buckets):
    source, output = buckets
    data = (PHOTOS / "Kodak_DC240.jpg").read_bytes()
    record = upload(source, "a.jpg", data, Metadata={TARGET_METADATA: "95"})
    (result,) = s3_event.handle(app, put_event(record))["results"]
    assert (result["outcome"], result["reason"]) == ("rejected", "bad-target")
    assert "x-amz-meta-optimal-image-target='95'" in result["detail"] and "70, 80, 85, 90" in result["detail"]
    assert boto3.client("s3").get_object(Bucket=output, Key="a.jpg")["Body"].read() == data
    assert tags(output, "a.jpg")["reason"] == "bad-target"


@pytest.mark.parametrize("key", ["my photo.jpg", "a+b/c d+e.jpg", "fotos/café ñandú 東京.jpg"])
def test_keys_with_spaces_plus_signs_and_non_ascii_arrive_under_the_same_key(app, buckets, key):
    source, output = buckets
    record = upload(source, key, encoded(photo_like(), quality=97))
    assert record["s3"]["object"]["key"] != key  # encoded as AWS sends it
    (result,) = s3_event.handle(app, put_event(record))["results"]
    assert result["outcome"] == "optimized"
    assert boto3.client("s3").head_object(Bucket=output, Key=key)["ContentLength"] == result["bytes_out"]


def test_every_record_of_an_event_is_processed_and_a_bad_one_does_not_stop_the_others(app, buckets):
    source, output = buckets
    records = [
        upload(source, "one.jpg", encoded(photo_like(seed=1), quality=97)),
        upload(source, "notes.txt", b"not an image at all"),
        put_record(source, "never-uploaded.jpg", 10, "0"),
        upload(source, "two.png", encoded(photo_like(seed=2), "PNG")),
    ]
    results = s3_event.handle(app, put_event(*records))["results"]
    assert [(r["key"], r["outcome"]) for r in results] == [
        ("one.jpg", "optimized"),
        ("notes.txt", "rejected"),
        ("never-uploaded.jpg", "failed"),
        ("two.png", "optimized"),
    ]
    assert results[2]["reason"] == "missing-object"
    assert tags(output, "notes.txt")["reason"] == "not-an-image"


def test_near_the_timeout_records_are_left_for_the_retry_and_nothing_is_written(app, buckets):
    source, output = buckets
    record = upload(source, "late.jpg", encoded(photo_like(), quality=97))
    with pytest.raises(s3_event.TransientFailure, match="out-of-time|before the function's timeout"):
        s3_event.handle(app, put_event(record), NearTimeout())
    assert boto3.client("s3").list_objects_v2(Bucket=output).get("KeyCount") == 0
    (result,) = s3_event.handle(app, put_event(record))["results"]  # the retry, with time enough
    assert result["outcome"] == "optimized"


def test_an_output_is_never_larger_than_its_input(app, buckets):
    source, output = buckets
    tiny = encoded(Image.new("RGB", (16, 16), "red"), "PNG")
    (result,) = s3_event.handle(app, put_event(upload(source, "tiny.png", tiny)))["results"]
    body = boto3.client("s3").get_object(Bucket=output, Key="tiny.png")["Body"].read()
    assert body == tiny and result["outcome"] == "original-kept"
    assert boto3.client("s3").head_object(Bucket=output, Key="tiny.png")["ContentType"] == "image/png"


@pytest.mark.parametrize("name", ["s3-put", "sqs-s3-put", "sns-s3-put", "eventbridge-s3-put"])
def test_the_sample_events_in_events_folder_name_the_same_upload_however_it_is_delivered(name):
    event = json.loads((ROOT / "events" / f"{name}.json").read_text())
    refs = [ref for record in event.get("Records", [event]) for ref in s3_event.object_refs(record)]
    assert [(ref.bucket, ref.key, ref.version.etag) for ref in refs] == [
        ("optimal-image-upload", "photos/my photo.jpg", "0123456789abcdef0123456789abcdef")]
    assert refs[0].version.sequencer in ("0A1B2C3D4E5F678901", "617f08299329d189")


def test_an_eventbridge_object_created_event_is_processed_under_its_key_as_it_is_not_url_encoded(app, buckets):
    source, output = buckets
    data = encoded(photo_like(), quality=97)
    key = "a+b/my photo%20.jpg"
    etag = boto3.client("s3").put_object(Bucket=source, Key=key, Body=data)["ETag"]
    for event in (eventbridge_event("Object Created", source, key, etag),
                  {"Records": [sqs_record(eventbridge_event("Object Created", source, key, etag))]}):
        (result,) = s3_event.handle(app, event)["results"]
        assert (result["key"], result["outcome"]) == (key, "optimized")
    assert tags(output, key)["outcome"] == "optimized"


@pytest.mark.parametrize(
    "wrap",
    [sqs_record, sns_record, lambda notification: sqs_record(sns_envelope(notification))],
    ids=["s3-sqs", "s3-sns", "s3-sns-sqs"],
)
def test_a_notification_carried_by_sqs_or_sns_is_processed_as_one_sent_straight(app, buckets, wrap):
    source, output = buckets
    data = encoded(photo_like(), quality=97)
    notification = put_event(upload(source, "my photo.jpg", data), upload(source, "b.jpg", data))
    results = s3_event.handle(app, {"Records": [wrap(notification)]})["results"]
    assert [(r["key"], r["outcome"]) for r in results] == [("my photo.jpg", "optimized"), ("b.jpg", "optimized")]
    assert tags(output, "my photo.jpg")["outcome"] == "optimized"


def logged_results(app: App, records: list[dict]) -> tuple[list[dict], list[dict]]:
    with log_lines() as lines:
        results = s3_event.handle(app, {"Records": records})["results"]
    return results, lines


@pytest.mark.parametrize(
    ("record", "reason", "named"),
    [
        ({"eventSource": "aws:kinesis", "kinesis": {"data": "e30="}}, "not-an-s3-notification", "aws:kinesis"),
        (sqs_record({"order": 17}), "not-an-s3-notification", "aws:sqs"),
        (sqs_record("{not json"), "malformed-message", "aws:sqs"),
        (sqs_record({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}), "s3-test-event", "aws:sqs"),
        (sns_record({"Records": [{"eventSource": "aws:dynamodb"}]}), "not-an-s3-notification", "aws:dynamodb"),
        (eventbridge_event("Object Deleted", "b", "a.jpg"), "not-object-created", "Object Deleted"),
        (sns_record(put_event({**put_record("b", "a.jpg", 1, "e"), "eventName": "ObjectRemoved:Delete"})),
         "not-object-created", "ObjectRemoved:Delete"),
        (sqs_record({"Records": [{"s3": {"object": {"key": "a.jpg"}}}]}), "malformed-record", "bucket"),
        ({"source": "aws.s3", "detail-type": "Object Created", "detail": {}}, "malformed-record", "bucket"),
    ],
    ids=["kinesis", "sqs-other", "sqs-not-json", "s3-test-event", "sns-other", "eventbridge-deleted", "s3-removed",
         "no-bucket", "eventbridge-no-bucket"],
)
def test_a_record_that_holds_no_s3_notification_is_answered_and_logged_as_ignored(app, record, reason, named):
    """It must not vanish without a word, nor stop the records beside it."""
    results, logged = logged_results(app, [record, put_record(app.locations.upload_bucket, "never.jpg", 1, "e")])
    assert (results[0]["outcome"], results[0]["reason"]) == ("ignored", reason) and named in results[0]["detail"]
    assert (results[1]["outcome"], results[1]["reason"]) == ("failed", "missing-object")
    assert (logged[0]["event"], logged[0]["reason"]) == ("ignored", reason)


def test_a_record_naming_another_bucket_is_ignored_and_nothing_is_read_from_it_or_written(app, buckets):
    """The function may read more than the upload bucket (a policy written wider, a bucket of the same name in
    another account): only the upload bucket's objects are its to publish."""
    _, output = buckets
    foreign = f"foreign-{output}"
    boto3.client("s3").create_bucket(Bucket=foreign)
    results, logged = logged_results(app, [upload(foreign, "secret.jpg", encoded(photo_like(), quality=97))])
    assert (results[0]["outcome"], results[0]["reason"], results[0]["bucket"]) == ("ignored", "foreign-bucket",
                                                                                   foreign)
    assert (logged[0]["event"], logged[0]["reason"]) == ("ignored", "foreign-bucket")
    assert boto3.client("s3").list_objects_v2(Bucket=output).get("KeyCount") == 0


HEADERS = {
    "CacheControl": "public, max-age=31536000, immutable",
    "ContentDisposition": 'inline; filename="hero.jpg"',
    "ContentLanguage": "en",
    "Expires": datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
}


def headers_of(bucket: str, key: str) -> dict[str, object]:
    head = boto3.client("s3").head_object(Bucket=bucket, Key=key)
    return {name: head.get(name) for name in (*HEADERS, "ContentEncoding")}


def test_an_optimized_output_keeps_the_uploads_headers_but_not_its_content_encoding(app, buckets):
    source, output = buckets
    record = upload(source, "hero.jpg", encoded(photo_like(), quality=97), ContentEncoding="identity", **HEADERS)
    (result,) = s3_event.handle(app, put_event(record))["results"]
    assert result["outcome"] == "optimized"
    assert headers_of(output, "hero.jpg") == {**HEADERS, "ContentEncoding": None}


def test_a_published_original_keeps_the_uploads_headers_and_its_content_encoding(app, buckets):
    """Its Content-Disposition too, unless the core makes it an attachment (a rejected upload, as here)."""
    source, output = buckets
    record = upload(source, "notes.txt", gzip.compress(b"not an image"), ContentEncoding="gzip", **HEADERS)
    (result,) = s3_event.handle(app, put_event(record))["results"]
    assert result["outcome"] == "rejected"
    assert headers_of(output, "notes.txt") == {**HEADERS, "ContentDisposition": "attachment", "ContentEncoding": "gzip"}


SCRIPT = b"<script>alert(document.cookie)</script>"
HOSTILE = {
    "html": ("page.html", b"<!doctype html><html><body>" + SCRIPT + b"</body></html>", "text/html"),
    "svg": ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg">' + SCRIPT + b"</svg>", "image/svg+xml"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_an_upload_that_is_no_image_is_published_as_an_octet_stream_attachment_whatever_it_was_sent_as(
    app, buckets, name
):
    """An HTML page or an SVG republished as text/html or image/svg+xml would run its script on the origin
    that serves the output bucket: stored XSS."""
    source, output = buckets
    key, data, sent = HOSTILE[name]
    record = upload(source, key, data, ContentType=sent, ContentDisposition="inline")
    (result,) = s3_event.handle(app, put_event(record))["results"]
    assert (result["outcome"], result["content_type"], result["content_disposition"]) == (
        "rejected", "application/octet-stream", "attachment")
    got = boto3.client("s3").get_object(Bucket=output, Key=key)
    assert (got["ContentType"], got["ContentDisposition"], got["Body"].read()) == (
        "application/octet-stream", "attachment", data)


def test_a_kept_image_declared_as_html_is_published_under_its_detected_type(app, buckets):
    source, output = buckets
    tiny = encoded(Image.new("RGB", (16, 16), "red"), "PNG")
    record = upload(source, "tiny.png", tiny, ContentType="text/html", ContentDisposition='inline; filename="a.png"')
    (result,) = s3_event.handle(app, put_event(record))["results"]
    assert result["outcome"] == "original-kept"
    head = boto3.client("s3").head_object(Bucket=output, Key="tiny.png")
    assert (head["ContentType"], head["ContentDisposition"]) == ("image/png", 'inline; filename="a.png"')


def multi_picture_jpeg() -> bytes:
    """A JPEG with an MPF second picture (a camera's MPO, an Ultra HDR gain map): Pillow calls it image/mpo."""
    out = io.BytesIO()
    photo_like().save(out, "MPO", save_all=True, append_images=[photo_like(seed=1)])
    return out.getvalue()


def keeping(app: App) -> App:
    """The app with MIN_QUALITY and MAX_QUALITY 10, at which no photo reaches the target: every image is
    kept as target-unreachable and its original bytes are published."""
    return replace(app, settings=replace(app.settings, min_quality=10, max_quality=10))


@pytest.mark.parametrize("sent", [{"ContentType": "image/jpeg"}, {}, {"ContentType": "image/x-custom"}])
def test_a_published_original_has_the_served_type_of_its_format_never_the_uploaders(app, buckets, sent):
    source, output = buckets
    record = put_event(upload(source, "mpo.jpg", multi_picture_jpeg(), **sent))
    (result,) = s3_event.handle(keeping(app), record)["results"]
    assert result["outcome"] == "original-kept" and result["content_type"] == "image/jpeg"
    assert boto3.client("s3").head_object(Bucket=output, Key="mpo.jpg")["ContentType"] == "image/jpeg"


def test_an_optimized_output_is_image_jpeg_whatever_the_upload_was_sent_as(app, buckets):
    source, output = buckets
    record = upload(source, "p.png", encoded(photo_like(), "PNG"), ContentType="image/png")
    (result,) = s3_event.handle(app, put_event(record))["results"]
    assert result["outcome"] == "optimized"
    assert boto3.client("s3").head_object(Bucket=output, Key="p.png")["ContentType"] == "image/jpeg"


def test_an_optimized_png_keeps_its_key_by_default_a_drop_in_replacement(app, buckets):
    source, output = buckets
    (result,) = s3_event.handle(app, put_event(upload(source, "p/x.png", encoded(photo_like(), "PNG"))))["results"]
    assert (result["outcome"], result["output_key"]) == ("optimized", "p/x.png")
    assert boto3.client("s3").head_object(Bucket=output, Key="p/x.png")["ContentType"] == "image/jpeg"


def test_with_output_suffix_format_an_optimized_png_is_written_as_jpg_and_a_kept_original_keeps_its_key(app, buckets):
    source, output = buckets
    app = replace(app, locations=replace(app.locations, output_suffix="format"))
    records = [upload(source, "p/x.png", encoded(photo_like(), "PNG")), upload(source, "p/notes.txt", b"text")]
    optimized, rejected = s3_event.handle(app, put_event(*records))["results"]
    assert (optimized["outcome"], optimized["output_key"]) == ("optimized", "p/x.jpg")
    assert (rejected["outcome"], rejected["output_key"]) == ("rejected", "p/notes.txt")
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=output)["Contents"]]
    assert sorted(keys) == ["p/notes.txt", "p/x.jpg"]
    assert boto3.client("s3").head_object(Bucket=output, Key="p/x.jpg")["ContentType"] == "image/jpeg"
