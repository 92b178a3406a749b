"""Entry point for S3 ObjectCreated notifications: sent straight to the function (template.yaml), or carried by
SQS or SNS (S3 -> SQS, S3 -> SNS, S3 -> SNS -> SQS), whose messages hold the same notification as JSON; and for
S3's "Object Created" events from EventBridge, straight or through SQS.

A record that holds no notification (another service's message, S3's test message) names no object: it is
answered and logged as ignored, never silently dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import unquote_plus

from handler import log
from handler.aws.pipeline import process_or_record
from handler.aws.versions import SourceVersion
from handler.aws.wiring import App, app

app()  # settings and model at import time: the cold start pays once, not the first record

IGNORED = "ignored"


class Ignored(ValueError):
    """A record with no object in it, and why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


class ObjectRef(NamedTuple):
    """An object an event names, and the version of it the event is about."""

    bucket: str
    key: str
    version: SourceVersion = SourceVersion()


def _text(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    return value if isinstance(value, str) else ""


def source_version(fields: dict[str, Any], etag: str, version_id: str) -> SourceVersion:
    """The version named by an event's object fields (a notification's eTag and versionId, EventBridge's etag
    and version-id; both call it sequencer). A sequencer that is not hexadecimal is left out: it cannot be
    ordered."""
    sequencer = _text(fields, "sequencer")
    hexadecimal = bool(sequencer) and all(c in "0123456789abcdefABCDEF" for c in sequencer)
    return SourceVersion(_text(fields, etag), _text(fields, version_id), sequencer if hexadecimal else "")


def object_ref(record: dict[str, Any]) -> ObjectRef:
    """The object of an S3 ObjectCreated notification record. S3 sends keys URL-encoded, spaces as '+'.
    Raises Ignored for S3's other notifications (removed, restored, ...), which a topic or queue shared with
    other consumers may carry."""
    event_name = str(record.get("eventName", "ObjectCreated:"))
    if not event_name.startswith("ObjectCreated:"):
        raise Ignored("not-object-created", f"S3's {event_name!r} notification: no new object to read")
    bucket, fields = record["s3"]["bucket"]["name"], record["s3"]["object"]
    return ObjectRef(bucket, unquote_plus(fields["key"]), source_version(fields, "eTag", "versionId"))


def eventbridge_ref(event: dict[str, Any]) -> ObjectRef:
    """The object of S3's "Object Created" event on EventBridge. Raises Ignored for S3's other events
    (deleted, restored, ...). Its key is the key itself, not URL-encoded as a notification's: AWS's examples
    show none, and a project that tried keys with '+', '%20' and spaces reports the same
    (aws-solutions-library-samples/guidance-for-medialake-on-aws, pull request 21); not tried against AWS here."""
    if event.get("detail-type") != "Object Created":
        raise Ignored("not-object-created", f"S3's {event.get('detail-type')!r} event: no new object to read")
    bucket, fields = event["detail"]["bucket"]["name"], event["detail"]["object"]
    return ObjectRef(bucket, fields["key"], source_version(fields, "etag", "version-id"))


def object_refs(record: dict[str, Any]) -> Iterator[ObjectRef]:
    """Each object a record names: an S3 notification record, S3's EventBridge event, or an SQS or SNS record
    whose message holds either. Raises Ignored where there is none."""
    if "s3" in record:
        yield object_ref(record)
    elif record.get("source") == "aws.s3":
        yield eventbridge_ref(record)
    else:
        source = record.get("eventSource") or record.get("EventSource") or "an unnamed source"
        sns = record.get("Sns") if source == "aws:sns" else None
        yield from message_refs(source, record.get("body") if source == "aws:sqs" else sns and sns.get("Message"))


def named_objects(record: object) -> list[ObjectRef]:
    """object_refs, with a record of a known shape that lacks a field it must have, or that names no object
    at all, also Ignored: every record gets an answer."""
    try:
        refs = list(object_refs(record))
    except (KeyError, TypeError, AttributeError) as exc:
        raise Ignored("malformed-record", f"a record that lacks what its shape needs ({exc!r})") from None
    if not refs:
        raise Ignored("malformed-record", "a record whose message lists no object")
    return refs


def message_refs(source: str, message: object) -> Iterator[ObjectRef]:
    """Each object named in the JSON `message` of an SQS or SNS record: an S3 notification,
    S3's EventBridge event, or (from SNS to SQS without raw delivery) SNS's envelope of either."""
    if not isinstance(message, str):
        raise Ignored("not-an-s3-notification", f"a record from {source}, not an S3 notification: no object to read")
    try:
        inner = json.loads(message)
    except ValueError:
        raise Ignored("malformed-message", f"a message from {source} that is not JSON: no object to read") from None
    if not isinstance(inner, dict):
        raise Ignored("not-an-s3-notification", f"a message from {source} that is not an S3 notification")
    if inner.get("Type") == "Notification":
        yield from message_refs("aws:sns", inner.get("Message"))
    elif inner.get("Event") == "s3:TestEvent":
        raise Ignored("s3-test-event", f"S3's test message, from {source}, sent when a notification is set up")
    elif inner.get("source") == "aws.s3":
        yield eventbridge_ref(inner)
    elif isinstance(inner.get("Records"), list):
        for inner_record in inner["Records"]:
            yield from object_refs(inner_record)
    else:
        raise Ignored("not-an-s3-notification", f"a message from {source} that is not an S3 notification")


RACES = frozenset({"missing-object"})
"""Permanent failures that are a normal race, not a fault: an upload deleted before its event was processed.
Recorded and logged, never sent to the on-failure destination."""


@dataclass(frozen=True)
class Failed:
    """One object of the event that got no output, and why."""

    bucket: str
    key: str
    reason: str
    detail: str
    transient: bool

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}: {self.reason} ({self.detail})"


class FailedRecords(RuntimeError):
    """Raised after all records were tried, so that the event fails: Lambda retries it (MaximumRetryAttempts in
    template.yaml) and then hands it, with this message, to the on-failure destination; for a batch from SQS,
    its messages return to the queue. The message names each object that failed and why; `failures` and
    `results` hold them as values.

    Outputs are deterministic and written in one request (PutObject, or CopyObject for an upload over
    MAX_INPUT_BYTES), so the records that succeeded before are rewritten identically on the retry. (A partial
    batch response would spare them, but where the event source mapping does not ask for one, Lambda would
    take it for success and delete the failed messages.)
    """

    def __init__(self, failures: list[Failed], results: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(map(str, failures)))
        self.failures, self.results = failures, results


class TransientFailure(FailedRecords):
    """At least one object failed in a way a retry may change (S3 unreachable, throttling, out of time)."""


class PermanentFailure(FailedRecords):
    """Every failure is a refusal a retry cannot change (access denied, a missing output bucket, an archived
    upload, ...): raised all the same, so that the event reaches the on-failure destination (and its alarm)
    instead of being lost with a success return. Lambda's asynchronous retries cannot tell it from a transient
    failure and try it again first; a refusal fixed meanwhile (a policy corrected) then succeeds."""


@log.invocation()
def lambda_handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    return handle(app(), event, context)


def handle(app: App, event: dict[str, Any], context: object = None) -> dict[str, Any]:
    """Every record is tried; one bad record does not stop the others. An event without records (EventBridge's)
    is its own one record. Raises a FailedRecords where any object failed, except in one of the RACES."""
    results, failures = [], []
    for record in event["Records"] if isinstance(event.get("Records"), list) else [event]:
        try:
            refs = named_objects(record)
        except Ignored as exc:
            log.emit(IGNORED, logging.WARNING, reason=exc.reason, detail=exc.detail)
            results.append({"outcome": IGNORED, "reason": exc.reason, "detail": exc.detail})
            continue
        for ref in refs:
            result, failure = attempt(app, ref, context)
            results.append(result)
            failures.extend(failure)
    if any(failure.transient for failure in failures):
        raise TransientFailure(failures, results)
    if failures:
        raise PermanentFailure(failures, results)
    return {"results": results}


def attempt(app: App, ref: ObjectRef, context: object) -> tuple[dict[str, Any], list[Failed]]:
    """The record of one object, and its failure to fail the event for, if any. Only the upload bucket is
    read: a record naming another (a notification set up on another bucket, a message put on a shared queue)
    is ignored, so an event cannot make the function copy another bucket's objects into the output bucket."""
    bucket, key = ref.bucket, ref.key
    upload_bucket = app.locations.upload_bucket
    if bucket != upload_bucket:
        detail = f"s3://{bucket} is not the upload bucket: only s3://{upload_bucket} is processed"
        log.emit(IGNORED, logging.WARNING, bucket=bucket, key=key, reason="foreign-bucket", detail=detail)
        return {"bucket": bucket, "key": key, "outcome": IGNORED, "reason": "foreign-bucket", "detail": detail}, []
    processed, error = process_or_record(app, bucket, key, context, version=ref.version)
    if error is None:
        return processed.as_dict(), []
    failed = {"bucket": bucket, "key": key, "outcome": "failed", "reason": error.reason, "detail": error.detail}
    if error.reason in RACES:
        return failed, []
    return failed, [Failed(bucket, key, error.reason, error.detail, error.transient)]
