"""Entry point for S3 ObjectCreated notifications sent straight to the function (template.yaml).

A record of another shape (S3 notifications wrapped by SQS or SNS, say, after a change of wiring) names no
object this module can read: it is answered and logged as ignored, never silently dropped.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import unquote_plus

from handler import log
from handler.app import app
from handler.service import App, process_or_record

app()  # settings and model at import time: the cold start pays once, not the first record


def object_ref(record: dict[str, Any]) -> tuple[str, str] | None:
    """(bucket, key) of an S3 notification record, None for any other. S3 sends keys URL-encoded, spaces as '+'."""
    if "s3" not in record:
        return None
    return record["s3"]["bucket"]["name"], unquote_plus(record["s3"]["object"]["key"])


IGNORED = "ignored"


class TransientFailure(RuntimeError):
    """Raised after all records were tried, so that Lambda's asynchronous retry runs the event again.

    Outputs are deterministic and written in one request (PutObject, or CopyObject for an upload over
    MAX_INPUT_BYTES), so the records that succeeded before are
    rewritten identically on the retry.
    """


def lambda_handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    return handle(app(), event, context)


def handle(app: App, event: dict[str, Any], context: object = None) -> dict[str, Any]:
    """Every record is tried; one bad record does not stop the others."""
    results, transient = [], []
    for record in event.get("Records", []):
        ref = object_ref(record)
        if ref is None:
            source = record.get("eventSource") or record.get("EventSource")
            detail = f"a record from {source or 'an unnamed source'}, not an S3 notification: no object to read"
            log.emit(IGNORED, logging.WARNING, reason="not-an-s3-notification", detail=detail)
            results.append({"outcome": IGNORED, "reason": "not-an-s3-notification", "detail": detail})
            continue
        bucket, key = ref
        processed, error = process_or_record(app, bucket, key, context)
        if error is not None:
            results.append({"bucket": bucket, "key": key, "outcome": "failed", "reason": error.reason,
                            "detail": error.detail})
            if error.transient:
                transient.append(f"s3://{bucket}/{key}: {error.detail}")
        else:
            results.append(processed.as_dict())
    if transient:
        raise TransientFailure("; ".join(transient))
    return {"results": results}
