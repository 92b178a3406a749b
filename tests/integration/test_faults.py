"""S3 failing under the handler: through a fault-injecting proxy (scripts/faultproxy.py) in front of the moto
server, every upload still ends as exactly one output with the right bytes and tags.

Two layers of retry are at work, as on AWS: botocore's (handler.aws.storage.RETRIES) inside one invocation, and
Lambda's asynchronous retry of the whole event when the handler raises TransientFailure, emulated here.
"""

from __future__ import annotations

from dataclasses import replace

import boto3
import pytest
from botocore.config import Config
from botocore.retries.standard import ExponentialBackoff

from handler.aws import api, batch, s3_event, wiring
from handler.aws.storage import RETRIES, Storage
from handler.aws.wiring import App
from handler.core import optimize
from handler.settings import Locations, Settings
from scripts.faultproxy import INTERNAL_ERROR, KINDS, RESET_MID_BODY, FaultProxy
from scripts.s3events import put_event
from tests.conftest import encoded, log_lines, photo_like
from tests.integration.test_api import assert_error, key_event
from tests.integration.test_batch import batch_event, codes
from tests.integration.test_s3_event import tags, upload

UPLOADS = 20
READ_TIMEOUT = 1.0
"""Seconds before botocore gives up on an answer. The shipped 30 s would make each timeout fault cost 30 s."""

EVENT_RETRIES = 2
"""Lambda's asynchronous retries of a failed event (MaximumRetryAttempts in template.yaml)."""


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    """botocore's backoff sleeps, a hundred times shorter: which requests are retried is unchanged, and
    exhausting six attempts takes a fraction of a second instead of up to half a minute."""
    original = ExponentialBackoff.delay_amount
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: original(self, context) / 100)


def proxied(proxy: FaultProxy) -> object:
    """An S3 client with the shipped retries, talking through the proxy."""
    return boto3.client("s3", endpoint_url=proxy.url, config=RETRIES.merge(Config(read_timeout=READ_TIMEOUT)))


def through(client: object, settings: Settings, locations: Locations) -> App:
    """The App that build() makes, with `client` for its storage."""
    return replace(wiring.build(settings, locations), storage=Storage(client))


def invoke_async(app: App, event: dict) -> int:
    """Invoke as Lambda does for S3: after a failure, the same event again, at most EVENT_RETRIES more times.

    Returns how many invocations it took; fails the test if none succeeded (AWS would park the event in
    the on-failure queue and the upload would have no output).
    """
    for invocation in range(1, EVENT_RETRIES + 2):
        try:
            s3_event.handle(app, event)
            return invocation
        except s3_event.TransientFailure:
            continue
    pytest.fail(f"the event still failed after {EVENT_RETRIES} retries: {event}")


def images(count: int) -> dict[str, bytes]:
    """`count` distinct small uploads, JPEG and PNG, of varied sizes."""
    made = {}
    for i in range(count):
        image = photo_like(96 + 16 * (i % 5), 64 + 16 * (i % 3), seed=i)
        made[f"in/{i:02d}.png" if i % 4 == 0 else f"in/{i:02d}.jpg"] = (
            encoded(image, "PNG") if i % 4 == 0 else encoded(image, quality=90 + i % 8)
        )
    return made


def output_keys(bucket: str) -> list[str]:
    pages = boto3.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def assert_exactly_one_correct_output_each(app: App, uploads: dict[str, bytes], bucket: str) -> None:
    """One output per upload and nothing else; each with the bytes and tags the core gives without faults."""
    assert output_keys(bucket) == sorted(uploads)
    s3 = boto3.client("s3")
    for key, data in uploads.items():
        expected, result = optimize(data, app.settings, app.model)
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == expected, key
        assert tags(bucket, key) == result.tags(), key


def test_with_30_percent_of_requests_failing_every_upload_arrives_exactly_once_with_its_tags(s3_url, buckets):
    source, output = buckets
    uploads = images(UPLOADS)
    events = [put_event(upload(source, key, data)) for key, data in uploads.items()]
    with FaultProxy(s3_url, share=0.3, seed=5, delay=READ_TIMEOUT + 0.5, lifetime=600) as proxy:
        app = through(proxied(proxy), Settings(), Locations(upload_bucket=source, output_bucket=output))
        for event in events:
            invoke_async(app, event)
    assert {kind: proxy.plan.counts[kind] > 0 for kind in KINDS} == dict.fromkeys(KINDS, True)
    assert_exactly_one_correct_output_each(app, uploads, output)


def test_a_record_failing_after_all_retries_fails_the_event_and_its_retry_completes_it(s3_url, buckets):
    source, output = buckets
    uploads = {"one.jpg": encoded(photo_like(seed=1), quality=95), "two.jpg": encoded(photo_like(seed=2), quality=95),
               "three.png": encoded(photo_like(seed=3), "PNG")}
    event = put_event(*(upload(source, key, data) for key, data in uploads.items()))
    with FaultProxy(s3_url, share=0.0, seed=0) as proxy:
        client = proxied(proxy)
        attempts = client.meta.config.retries["total_max_attempts"]  # botocore's: the first, then the retries
        proxy.plan.fail_next(attempts, INTERNAL_ERROR, path_contains="/two.jpg")  # every attempt of one GetObject
        app = through(client, Settings(), Locations(upload_bucket=source, output_bucket=output))
        assert invoke_async(app, event) == 2
    assert proxy.plan.counts[INTERNAL_ERROR] == attempts
    assert_exactly_one_correct_output_each(app, uploads, output)


def reset_on_reading(proxy: FaultProxy, bucket: str, key: str, settings: Settings, locations: Locations) -> App:
    """The app through the proxy, with the next GetObject of s3://bucket/key cut mid-body."""
    proxy.plan.fail_next(1, RESET_MID_BODY, path_contains=f"/{bucket}/{key}")
    return through(proxied(proxy), settings, locations)


def logged(app: App, event: dict) -> list[dict]:
    """The JSON lines the handler logs for `event`; the TransientFailure it raises is expected."""
    with log_lines() as lines, pytest.raises(s3_event.TransientFailure, match="s3://.*/cut.jpg"):
        s3_event.handle(app, event)
    return lines


def test_a_connection_reset_while_reading_an_upload_is_logged_as_transient_and_the_events_retry_completes_it(
        s3_url, buckets):
    source, output = buckets
    uploads = {"cut.jpg": encoded(photo_like(seed=4), quality=95)}
    event = put_event(upload(source, "cut.jpg", uploads["cut.jpg"]))
    with FaultProxy(s3_url, share=0.0, seed=0) as proxy:
        app = reset_on_reading(proxy, source, "cut.jpg", Settings(), Locations(source, output))
        (failed,) = [line for line in logged(app, event) if line["event"] == "failed"]
        assert proxy.plan.counts[RESET_MID_BODY] == 1 and output_keys(output) == []
        assert invoke_async(app, event) == 1  # Lambda's retry of the event
    assert (failed["key"], failed["reason"], failed["transient"]) == ("cut.jpg", "storage-unavailable", True)
    assert f"s3://{source}/cut.jpg" in failed["detail"]
    assert_exactly_one_correct_output_each(app, uploads, output)


def test_a_connection_reset_while_reading_is_a_temporary_failure_in_a_batch_job(s3_url, buckets):
    source, output = buckets
    upload(source, "cut.jpg", encoded(photo_like(seed=4), quality=95))
    with FaultProxy(s3_url, share=0.0, seed=0) as proxy:
        app = reset_on_reading(proxy, source, "cut.jpg", Settings(), Locations(source, output))
        ((_, code, summary),) = codes(batch.handle(app, batch_event("2.0", (source, "cut.jpg"))))
    assert (code, summary["reason"]) == ("TemporaryFailure", "storage-unavailable")


def test_a_connection_reset_while_reading_is_a_503_from_the_api(s3_url, buckets):
    source, output = buckets
    upload(source, "cut.jpg", encoded(photo_like(seed=4), quality=95))
    with FaultProxy(s3_url, share=0.0, seed=0) as proxy:
        app = reset_on_reading(proxy, source, "cut.jpg", Settings(), Locations(source, output))
        body = assert_error(api.handle(app, key_event({"key": "cut.jpg"})), 503, "storage-unavailable")
    assert f"s3://{source}/cut.jpg" in body["detail"]
