"""S3 Batch Operations (LambdaInvoke) -> handler -> output bucket, through a moto S3 server over HTTP."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import boto3
import pytest

from handler.aws import batch
from scripts.s3events import encode_key
from tests.conftest import NearTimeout, encoded, photo_like, unreachable

EVENTS = Path(__file__).resolve().parents[2] / "events"


def batch_event(version: str, *objects: tuple[str, str], **user_arguments: str) -> dict:
    """The sample event of that schema version, with one task per (bucket, key), keys URL-encoded."""
    event = json.loads((EVENTS / f"batch-v{version[0]}.json").read_text())
    sample = event["tasks"][0]
    event["tasks"] = []
    for n, (bucket, key) in enumerate(objects):
        task = {**copy.deepcopy(sample), "taskId": f"task-{n}", "s3Key": encode_key(key)}
        task.update({"s3BucketArn": f"arn:aws:s3:::{bucket}"} if version == "1.0" else {"s3Bucket": bucket})
        event["tasks"].append(task)
    if user_arguments:
        event["job"]["userArguments"] = user_arguments
    return event


def put(bucket: str, key: str, data: bytes | None = None) -> None:
    body = encoded(photo_like(), quality=97) if data is None else data
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=body)


def tags(bucket: str, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in boto3.client("s3").get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def codes(response: dict) -> list[tuple[str, str, dict]]:
    return [(r["taskId"], r["resultCode"], json.loads(r["resultString"])) for r in response["results"]]


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_the_sample_events_name_the_upload_bucket_and_a_decoded_key(version):
    event = json.loads((EVENTS / f"batch-v{version[0]}.json").read_text())
    assert event["invocationSchemaVersion"] == version
    (task,) = [batch.Task.of(t) for t in event["tasks"]]
    assert (task.bucket, task.key) == ("optimal-image-upload", "photos/my photo.jpg")


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_a_task_is_processed_and_answered_in_the_batch_response_schema(app, buckets, version):
    upload, output = buckets
    put(upload, "photos/my photo.jpg")
    event = batch_event(version, (upload, "photos/my photo.jpg"))
    response = batch.handle(app, event)
    assert {k: response[k] for k in ("invocationSchemaVersion", "treatMissingKeysAs", "invocationId")} == {
        "invocationSchemaVersion": version,
        "treatMissingKeysAs": "PermanentFailure",
        "invocationId": event["invocationId"],
    }
    ((task_id, code, summary),) = codes(response)
    assert (task_id, code, summary["outcome"]) == ("task-0", "Succeeded", "optimized")
    assert summary["bytes_out"] < summary["bytes_in"] and summary["quality"] > 0
    assert len(response["results"][0]["resultString"]) < 200
    assert tags(output, "photos/my photo.jpg")["outcome"] == "optimized"


def test_a_schema_2_0_job_can_set_the_target_in_its_user_arguments(app, buckets):
    upload, output = buckets
    put(upload, "a.jpg")
    ((_, code, _),) = codes(batch.handle(app, batch_event("2.0", (upload, "a.jpg"), target="85")))
    assert code == "Succeeded" and tags(output, "a.jpg")["target"] == "85"


@pytest.mark.parametrize("arguments", [{"target": "99"}, {"target": "high"}, {"quality": "70"}])
def test_bad_user_arguments_fail_every_task_permanently_and_nothing_is_written(app, buckets, arguments):
    upload, output = buckets
    put(upload, "a.jpg")
    put(upload, "b.jpg")
    response = batch.handle(app, batch_event("2.0", (upload, "a.jpg"), (upload, "b.jpg"), **arguments))
    assert [(code, s["reason"]) for _, code, s in codes(response)] == [("PermanentFailure", "bad-user-arguments")] * 2
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket=output)


@pytest.mark.parametrize("key", ["my photo.jpg", "a+b/c d+e.jpg", "fotos/café ñandú 東京.jpg", "100%.jpg"])
def test_url_encoded_keys_are_decoded_to_the_same_key(app, buckets, key):
    upload, output = buckets
    put(upload, key)
    ((_, code, _),) = codes(batch.handle(app, batch_event("1.0", (upload, key))))
    assert code == "Succeeded"
    boto3.client("s3").head_object(Bucket=output, Key=key)


def test_an_object_that_is_not_an_image_is_handled_and_recorded_so_it_succeeds(app, buckets):
    upload, output = buckets
    put(upload, "notes.txt", b"not an image")
    ((_, code, summary),) = codes(batch.handle(app, batch_event("1.0", (upload, "notes.txt"))))
    assert (code, summary["outcome"], summary["reason"]) == ("Succeeded", "rejected", "not-an-image")
    assert tags(output, "notes.txt")["outcome"] == "rejected"


def test_a_missing_key_is_a_permanent_failure(app, buckets):
    upload, _ = buckets
    ((_, code, summary),) = codes(batch.handle(app, batch_event("2.0", (upload, "never-uploaded.jpg"))))
    assert (code, summary) == ("PermanentFailure", {"outcome": "failed", "reason": "missing-object"})


def test_a_task_for_a_bucket_other_than_the_upload_bucket_is_a_permanent_failure(app, buckets):
    _, output = buckets
    put(output, "elsewhere.jpg")
    ((_, code, summary),) = codes(batch.handle(app, batch_event("1.0", (output, "elsewhere.jpg"))))
    assert (code, summary["reason"]) == ("PermanentFailure", "foreign-bucket")
    assert app.locations.upload_bucket in summary["detail"]


def test_s3_out_of_reach_is_a_temporary_failure_so_batch_retries(app, buckets):
    upload, _ = buckets
    ((_, code, summary),) = codes(batch.handle(unreachable(app), batch_event("2.0", (upload, "a.jpg"))))
    assert (code, summary["reason"]) == ("TemporaryFailure", "storage-unavailable")


def test_near_the_timeout_no_task_is_started_and_each_is_a_temporary_failure(app, buckets):
    upload, output = buckets
    put(upload, "late.jpg")
    ((_, code, summary),) = codes(batch.handle(app, batch_event("2.0", (upload, "late.jpg")), NearTimeout()))
    assert (code, summary["reason"]) == ("TemporaryFailure", "out-of-time")
    assert boto3.client("s3").list_objects_v2(Bucket=output).get("KeyCount") == 0


def test_every_task_of_an_invocation_gets_its_own_result_in_order(app, buckets):
    upload, output = buckets
    put(upload, "one.jpg")
    response = batch.handle(app, batch_event("1.0", (upload, "one.jpg"), (upload, "gone.jpg"), (output, "x.jpg")))
    assert [(task_id, code) for task_id, code, _ in codes(response)] == [
        ("task-0", "Succeeded"),
        ("task-1", "PermanentFailure"),
        ("task-2", "PermanentFailure"),
    ]


def test_an_unknown_schema_version_is_refused(app):
    event = batch_event("1.0")
    event["invocationSchemaVersion"] = "3.0"
    with pytest.raises(ValueError, match="3.0"):
        batch.handle(app, event)
