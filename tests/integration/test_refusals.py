"""S3 refusing a request for good: every entry point records it as permanent, so nothing retries it in vain.

An upload stored in an archive class (DEEP_ARCHIVE, GLACIER) cannot be read until restored; the moto S3
server answers GetObject on it with InvalidObjectState (HTTP 403), as S3 does.
"""

from __future__ import annotations

import boto3
import pytest

from handler.aws import api, batch, s3_event
from scripts.s3events import put_event
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


def test_an_archived_upload_is_recorded_as_archived_object_and_the_event_is_not_retried(app, buckets, archived):
    (result,) = s3_event.handle(app, put_event(archived))["results"]  # no TransientFailure: Lambda does not retry
    assert (result["outcome"], result["reason"]) == ("failed", "archived-object")
    assert "InvalidObjectState" in result["detail"] and KEY in result["detail"]
    assert boto3.client("s3").list_objects_v2(Bucket=buckets[1]).get("KeyCount") == 0


def test_an_archived_upload_is_a_permanent_failure_in_a_batch_job(app, buckets, archived):
    ((_, code, summary),) = codes(batch.handle(app, batch_event("2.0", (buckets[0], KEY))))
    assert (code, summary["reason"]) == ("PermanentFailure", "archived-object")


def test_the_api_does_not_ask_to_retry_an_archived_upload(app, archived):
    body = assert_error(api.handle(app, quality_event(key=KEY)), 502, "archived-object")
    assert "InvalidObjectState" in body["detail"]
