"""Two uploads of one key whose events are processed out of order: the newer upload's output stays.

S3 delivers events in no particular order. Each event names its upload's eTag and its place in the key's
history (sequencer); the handler reads that version only (GetObject IfMatch) and writes only over an output of
an earlier upload (PutObject IfMatch / IfNoneMatch), which moto 5.2.5 honours over HTTP as S3 does.
"""

from __future__ import annotations

import boto3

from handler.aws import batch, s3_event
from handler.aws.versions import SEQUENCER, SOURCE_ETAG
from handler.settings import TARGET_METADATA
from scripts.s3events import put_event, put_record
from tests.conftest import encoded, photo_like
from tests.integration.test_batch import batch_event, codes
from tests.integration.test_s3_event import tags

FIRST, SECOND = "0055AED6DCD90281E5", "0055AED6DCD90281F0"
"""Sequencers of two uploads of one key, the second later."""


def upload(bucket: str, key: str, data: bytes, sequencer: str, **extra) -> dict:
    response = boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=data, **extra)
    return put_record(bucket, key, len(data), response["ETag"], sequencer)


def head(bucket: str, key: str) -> dict:
    return boto3.client("s3").head_object(Bucket=bucket, Key=key)


def test_a_stale_event_whose_upload_was_replaced_is_skipped_as_superseded_and_writes_nothing(app, buckets):
    source, output = buckets
    older = upload(source, "k.jpg", encoded(photo_like(seed=1), quality=97), FIRST)
    newer = upload(source, "k.jpg", encoded(photo_like(seed=2), quality=97), SECOND)
    (made,) = s3_event.handle(app, put_event(newer))["results"]
    (stale,) = s3_event.handle(app, put_event(older))["results"]
    assert made["outcome"] == "optimized"
    assert (stale["outcome"], stale["reason"], stale["output_key"]) == ("skipped", "superseded", None)
    assert head(output, "k.jpg")["Metadata"][SOURCE_ETAG] == newer["s3"]["object"]["eTag"]
    assert head(output, "k.jpg")["ContentLength"] == made["bytes_out"]


def test_two_uploads_processed_in_order_leave_the_newer_ones_output(app, buckets):
    source, output = buckets
    older = upload(source, "k.jpg", encoded(photo_like(seed=1), quality=97), FIRST)
    s3_event.handle(app, put_event(older))
    newer = upload(source, "k.jpg", encoded(photo_like(seed=2), quality=97), SECOND)
    (made,) = s3_event.handle(app, put_event(newer))["results"]
    assert made["outcome"] == "optimized"
    assert head(output, "k.jpg")["Metadata"][SEQUENCER] == SECOND
    assert head(output, "k.jpg")["ContentLength"] == made["bytes_out"]


def test_an_older_event_never_replaces_the_output_of_a_later_upload_of_the_same_bytes(app, buckets):
    """The same bytes uploaded again with other metadata keep their eTag, so the older event still reads the
    upload: the sequencer stored on the output is what stops it."""
    source, output = buckets
    data = encoded(photo_like(), quality=97)
    older = upload(source, "k.jpg", data, FIRST)
    newer = upload(source, "k.jpg", data, SECOND, Metadata={TARGET_METADATA: "90"})
    assert older["s3"]["object"]["eTag"] == newer["s3"]["object"]["eTag"]
    s3_event.handle(app, put_event(newer))
    (stale,) = s3_event.handle(app, put_event(older))["results"]
    assert (stale["outcome"], stale["reason"]) == ("skipped", "superseded")
    assert head(output, "k.jpg")["Metadata"][SEQUENCER] == SECOND and tags(output, "k.jpg")["target"] == "90"


def test_the_same_event_again_rewrites_its_output(app, buckets):
    """A retried event (Lambda's retry, an SQS message seen twice) is not its own later upload."""
    source, output = buckets
    record = upload(source, "k.jpg", encoded(photo_like(), quality=97), FIRST)
    (first,) = s3_event.handle(app, put_event(record))["results"]
    (again,) = s3_event.handle(app, put_event(record))["results"]
    assert first["outcome"] == again["outcome"] == "optimized"
    assert head(output, "k.jpg")["Metadata"][SEQUENCER] == FIRST


def test_an_upload_cannot_set_the_sequencer_that_orders_later_uploads(app, buckets):
    source, output = buckets
    forged = {SEQUENCER: "F" * 40, SOURCE_ETAG: "forged"}
    record = upload(source, "k.jpg", encoded(photo_like(seed=1), quality=97), FIRST, Metadata=forged)
    s3_event.handle(app, put_event(record))
    assert head(output, "k.jpg")["Metadata"][SEQUENCER] == FIRST
    newer = upload(source, "k.jpg", encoded(photo_like(seed=2), quality=97), SECOND)
    (made,) = s3_event.handle(app, put_event(newer))["results"]
    assert made["outcome"] == "optimized" and head(output, "k.jpg")["Metadata"][SEQUENCER] == SECOND


def test_a_batch_task_reads_the_current_upload_and_writes_over_an_events_output(app, buckets):
    source, output = buckets
    s3_event.handle(app, put_event(upload(source, "k.jpg", encoded(photo_like(seed=1), quality=97), SECOND)))
    current = boto3.client("s3").put_object(Bucket=source, Key="k.jpg", Body=encoded(photo_like(seed=2), quality=97))
    ((_, code, summary),) = codes(batch.handle(app, batch_event("2.0", (source, "k.jpg"))))
    assert (code, summary["outcome"]) == ("Succeeded", "optimized")
    metadata = head(output, "k.jpg")["Metadata"]
    assert metadata[SOURCE_ETAG] == current["ETag"].strip('"') and SEQUENCER not in metadata
