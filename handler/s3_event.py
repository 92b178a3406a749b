"""Entry point for S3 ObjectCreated notifications (direct, or wrapped in SQS/EventBridge later)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from handler.app import app
from handler.service import App, process_or_record

app()  # settings and model at import time: the cold start pays once, not the first record


def object_refs(event: dict[str, Any]) -> list[tuple[str, str]]:
    """(bucket, key) of each record. S3 sends keys URL-encoded with spaces as '+'."""
    return [
        (record["s3"]["bucket"]["name"], unquote_plus(record["s3"]["object"]["key"]))
        for record in event.get("Records", [])
        if "s3" in record
    ]


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
    for bucket, key in object_refs(event):
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
