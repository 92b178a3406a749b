"""Entry point for S3 ObjectCreated notifications: sent straight to the function (template.yaml), or carried by
SQS or SNS (S3 -> SQS, S3 -> SNS, S3 -> SNS -> SQS), whose messages hold the same notification as JSON.

A record that holds no notification (another service's message, S3's test message) names no object: it is
answered and logged as ignored, never silently dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

from handler import log
from handler.app import app
from handler.service import App, process_or_record

app()  # settings and model at import time: the cold start pays once, not the first record

IGNORED = "ignored"


class Ignored(ValueError):
    """A record with no object in it, and why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def object_ref(record: dict[str, Any]) -> tuple[str, str] | None:
    """(bucket, key) of an S3 notification record, None for any other. S3 sends keys URL-encoded, spaces as '+'."""
    if "s3" not in record:
        return None
    return record["s3"]["bucket"]["name"], unquote_plus(record["s3"]["object"]["key"])


def carried(record: dict[str, Any]) -> tuple[str, object]:
    """The source of a record and the message it carries (None where it is neither SQS's nor SNS's)."""
    source = record.get("eventSource") or record.get("EventSource") or "an unnamed source"
    if source == "aws:sqs":
        return source, record.get("body")
    if source == "aws:sns":
        return source, (record.get("Sns") or {}).get("Message")
    return source, None


def object_refs(record: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(bucket, key) of each object a record names: itself an S3 notification record, or an SQS or SNS record
    whose message is an S3 notification (or, from SNS to SQS without raw delivery, an SNS envelope of one).
    Raises Ignored where there is none."""
    if (ref := object_ref(record)) is not None:
        yield ref
        return
    source, message = carried(record)
    if not isinstance(message, str):
        raise Ignored("not-an-s3-notification", f"a record from {source}, not an S3 notification: no object to read")
    try:
        inner = json.loads(message)
    except ValueError:
        raise Ignored("malformed-message", f"a message from {source} that is not JSON: no object to read") from None
    if isinstance(inner, dict) and inner.get("Type") == "Notification" and "Message" in inner:
        yield from object_refs({"EventSource": "aws:sns", "Sns": inner})
        return
    if isinstance(inner, dict) and inner.get("Event") == "s3:TestEvent":
        raise Ignored("s3-test-event", f"S3's test message, from {source}, sent when a notification is set up")
    records = inner.get("Records") if isinstance(inner, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) and "s3" in r for r in records):
        raise Ignored("not-an-s3-notification", f"a message from {source} that is not an S3 notification")
    for inner_record in records:
        yield from object_refs(inner_record)


class TransientFailure(RuntimeError):
    """Raised after all records were tried, so that the event runs again: by Lambda's asynchronous retry, or,
    for a batch from SQS, when its messages return to the queue.

    Outputs are deterministic and written in one request (PutObject, or CopyObject for an upload over
    MAX_INPUT_BYTES), so the records that succeeded before are rewritten identically on the retry. (A partial
    batch response would spare them, but where the event source mapping does not ask for one, Lambda would
    take it for success and delete the failed messages.)
    """


def lambda_handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    return handle(app(), event, context)


def handle(app: App, event: dict[str, Any], context: object = None) -> dict[str, Any]:
    """Every record is tried; one bad record does not stop the others."""
    results, transient = [], []
    for record in event.get("Records", []):
        try:
            refs = list(object_refs(record))
        except Ignored as exc:
            log.emit(IGNORED, logging.WARNING, reason=exc.reason, detail=exc.detail)
            results.append({"outcome": IGNORED, "reason": exc.reason, "detail": exc.detail})
            continue
        for bucket, key in refs:
            result, failure = attempt(app, bucket, key, context)
            results.append(result)
            transient.extend(failure)
    if transient:
        raise TransientFailure("; ".join(transient))
    return {"results": results}


def attempt(app: App, bucket: str, key: str, context: object) -> tuple[dict[str, Any], list[str]]:
    """The record of one object, and the transient failure to retry it for, if any."""
    processed, error = process_or_record(app, bucket, key, context)
    if error is None:
        return processed.as_dict(), []
    failed = {"bucket": bucket, "key": key, "outcome": "failed", "reason": error.reason, "detail": error.detail}
    return failed, [f"s3://{bucket}/{key}: {error.detail}"] if error.transient else []
