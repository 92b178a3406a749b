"""Whatever arrives at the S3 entry point, every record is answered and nothing escapes but FailedRecords, which
holds the answers too: property-based."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from handler.aws import s3_event

KEYS = ["Records", "s3", "bucket", "name", "object", "key", "eventSource", "EventSource", "body", "Sns", "Message",
        "Type", "Event", "source", "detail-type", "detail", "eventName"]
WORDS = ["aws:sqs", "aws:sns", "aws:s3", "aws.s3", "Notification", "Object Created", "Object Deleted",
         "s3:TestEvent", "ObjectCreated:Put", "ObjectRemoved:Delete", "never-uploaded.jpg", "a+b%20c.jpg"]

scalars = st.none() | st.booleans() | st.integers() | st.sampled_from(WORDS) | st.text(max_size=8)


def as_json(tree: object) -> str:
    return json.dumps(tree)


trees = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), inner, max_size=5)
        | inner.map(as_json)  # a message or body: JSON inside a string, as SQS and SNS carry it
    ),
    max_leaves=20,
)


@example(event={"Records": [{"eventSource": "aws:sqs", "body": '{"Records": []}'}]})  # a message naming nothing
@example(event={"Records": ["s3"]})
@settings(max_examples=300, deadline=None, derandomize=True,  # the same cases on every CI run
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(event=st.dictionaries(st.sampled_from(KEYS), trees, max_size=4) | st.fixed_dictionaries({"Records": trees}))
def test_any_event_gets_an_answer_for_each_record_and_raises_nothing_but_a_named_failure(app, event):
    try:
        results = s3_event.handle(app, event)["results"]
    except s3_event.FailedRecords as failed:  # an object named, and refused (a bucket that does not exist)
        results = failed.results
    records = event["Records"] if isinstance(event.get("Records"), list) else [event]
    assert len(results) >= len(records)
    assert all(r["outcome"] in {"ignored", "failed"} for r in results)
