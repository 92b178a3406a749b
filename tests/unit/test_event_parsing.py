"""The S3 entry point's event parser, tested directly: every delivery shape names the same object, and every
record without one is told apart by its reason. (tests/integration/test_s3_event.py runs the same shapes through
the local S3 server.)"""

from __future__ import annotations

import pytest

from handler.aws.s3_event import Ignored, named_objects
from scripts.s3events import eventbridge_event, put_event, put_record, sns_envelope, sns_record, sqs_record

KEY = "holiday photos/beach +1 é.jpg"
NOTIFICATION = put_record("upload", KEY, 1234, "abc")


@pytest.mark.parametrize(
    "record",
    [
        NOTIFICATION,
        sqs_record(put_event(NOTIFICATION)),
        sns_record(put_event(NOTIFICATION)),
        sqs_record(sns_envelope(put_event(NOTIFICATION))),
        eventbridge_event("Object Created", "upload", KEY),
        sqs_record(eventbridge_event("Object Created", "upload", KEY)),
    ],
    ids=["s3", "s3-sqs", "s3-sns", "s3-sns-sqs", "eventbridge", "eventbridge-sqs"],
)
def test_every_delivery_shape_names_the_upload_under_its_decoded_key(record):
    assert [tuple(ref)[:2] for ref in named_objects(record)] == [("upload", KEY)]


def test_a_message_listing_several_notifications_names_each_object():
    message = put_event(put_record("upload", "a.jpg", 1, "e"), put_record("upload", "b.jpg", 1, "e"))
    assert [tuple(ref)[:2] for ref in named_objects(sqs_record(message))] == [("upload", "a.jpg"), ("upload", "b.jpg")]


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"eventSource": "aws:kinesis", "kinesis": {"data": "e30="}}, "not-an-s3-notification"),
        (sqs_record("{not json"), "malformed-message"),
        (sqs_record({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}), "s3-test-event"),
        (eventbridge_event("Object Deleted", "b", "a.jpg"), "not-object-created"),
        ({**NOTIFICATION, "eventName": "ObjectRemoved:Delete"}, "not-object-created"),
        (sqs_record({"Records": [{"s3": {"object": {"key": "a.jpg"}}}]}), "malformed-record"),
        (sqs_record({"Records": []}), "malformed-record"),
        ("not even a mapping", "malformed-record"),
    ],
    ids=["kinesis", "not-json", "test-event", "eventbridge-deleted", "s3-removed", "no-bucket", "no-object", "str"],
)
def test_a_record_without_a_new_object_is_ignored_with_its_reason(record, reason):
    with pytest.raises(Ignored) as ignored:
        named_objects(record)
    assert ignored.value.reason == reason and ignored.value.detail
