"""S3 refusing a request for good: every entry point records it as permanent, so nothing retries it in vain.

An upload stored in an archive class (DEEP_ARCHIVE, GLACIER) cannot be read until restored; the moto S3
server answers GetObject on it with InvalidObjectState (HTTP 403), as S3 does.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import boto3
import pytest

from handler.aws import api, batch, s3_event
from handler.aws.wiring import App
from scripts.s3events import put_event, put_record
from tests.conftest import encoded, photo_like
from tests.integration.test_api import assert_error, quality_event
from tests.integration.test_batch import batch_event, codes
from tests.integration.test_s3_event import upload

KEY = "cold.jpg"


@pytest.fixture(params=["GLACIER", "DEEP_ARCHIVE"])
def archived(request, buckets) -> dict:
    """The S3 event record of an upload stored straight into an archive class."""
    source, _ = buckets
    return upload(source, KEY, encoded(photo_like(), quality=97), StorageClass=request.param)


def test_an_archived_upload_is_recorded_as_archived_object_and_the_event_fails_as_permanent(app, buckets, archived):
    with pytest.raises(s3_event.PermanentFailure) as failure:
        s3_event.handle(app, put_event(archived))
    (result,) = failure.value.results
    assert (result["outcome"], result["reason"]) == ("failed", "archived-object")
    assert "InvalidObjectState" in result["detail"] and KEY in result["detail"]
    assert f"s3://{buckets[0]}/{KEY}: archived-object" in str(failure.value)
    assert boto3.client("s3").list_objects_v2(Bucket=buckets[1]).get("KeyCount") == 0


def without_output_bucket(app: App) -> App:
    """The app writing to a bucket that does not exist: every PutObject is refused (NoSuchBucket, HTTP 404),
    as S3 refuses a write to a bucket deleted or misnamed in the stack's parameters."""
    return replace(app, locations=replace(app.locations, output_bucket=f"gone-{uuid.uuid4().hex[:8]}"))


def test_a_refused_write_fails_the_event_after_every_record_is_tried_naming_each_object_and_reason(app, buckets):
    """Lambda then retries it and hands it to the on-failure destination: a success return would lose it."""
    source, _ = buckets
    records = [upload(source, name, encoded(photo_like(seed=n), quality=97)) for n, name in enumerate("ab")]
    with pytest.raises(s3_event.PermanentFailure) as failure:
        s3_event.handle(without_output_bucket(app), put_event(*records))
    assert [(f.key, f.reason, f.transient) for f in failure.value.failures] == [
        ("a", "missing-bucket", False), ("b", "missing-bucket", False)]
    message = str(failure.value)
    assert f"s3://{source}/a: missing-bucket" in message and f"s3://{source}/b: missing-bucket" in message
    assert "PutObject" in message and "NoSuchBucket" in message


class RunningOut:
    """A Lambda context with time for the first object only: the next one is left for the retry."""

    def __init__(self) -> None:
        self.asked = 0

    def get_remaining_time_in_millis(self) -> int:
        self.asked += 1
        return 60_000 if self.asked == 1 else 2_000


def test_a_permanent_and_a_transient_failure_in_one_event_fail_it_as_transient_naming_both(app, buckets):
    source, _ = buckets
    records = [upload(source, name, encoded(photo_like(), quality=97)) for name in ("refused.jpg", "late.jpg")]
    with pytest.raises(s3_event.TransientFailure) as failure:
        s3_event.handle(without_output_bucket(app), put_event(*records), RunningOut())
    assert [(f.key, f.reason, f.transient) for f in failure.value.failures] == [
        ("refused.jpg", "missing-bucket", False), ("late.jpg", "out-of-time", True)]


def test_an_upload_deleted_before_its_event_is_processed_is_recorded_and_the_event_succeeds(app, buckets):
    (result,) = s3_event.handle(app, put_event(put_record(buckets[0], "deleted.jpg", 1, "e")))["results"]
    assert (result["outcome"], result["reason"]) == ("failed", "missing-object")


def test_an_archived_upload_is_a_permanent_failure_in_a_batch_job(app, buckets, archived):
    ((_, code, summary),) = codes(batch.handle(app, batch_event("2.0", (buckets[0], KEY))))
    assert (code, summary["reason"]) == ("PermanentFailure", "archived-object")


def test_the_api_does_not_ask_to_retry_an_archived_upload(app, archived):
    body = assert_error(api.handle(app, quality_event(key=KEY)), 502, "archived-object")
    assert "InvalidObjectState" in body["detail"]
