"""Entry point for S3 Batch Operations (LambdaInvoke, invocation schema 1.0 or 2.0): the backfill of objects
already in the upload bucket, each task through handler.aws.pipeline like an upload.

Result codes: Succeeded whenever the object was handled and recorded (optimized, original kept, rejected or
skipped); PermanentFailure where retrying cannot help (missing object, access denied, an archived object, any
other refusal by S3, a bucket other than the upload bucket, bad job arguments); TemporaryFailure where S3 failed
transiently, so that Batch retries the task.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from handler import log
from handler.aws.pipeline import process_or_record
from handler.aws.wiring import App, app
from handler.errors import ConfigError
from handler.settings import preset

app()  # settings and model at import time: the cold start pays once, not the first task

SUCCEEDED = "Succeeded"
TEMPORARY_FAILURE = "TemporaryFailure"
PERMANENT_FAILURE = "PermanentFailure"
SCHEMA_VERSIONS = ("1.0", "2.0")
USER_ARGUMENTS = ("target",)
"""Schema 2.0 jobs may set these (as strings) in the LambdaInvoke operation's UserArguments."""
SUMMARY_FIELDS = ("outcome", "reason", "quality", "bytes_in", "bytes_out")
"""What a Succeeded task's resultString says."""


@dataclass(frozen=True)
class Task:
    task_id: str
    bucket: str
    key: str

    @classmethod
    def of(cls, task: Mapping[str, Any]) -> Task:
        """Schema 2.0 names the bucket (s3Bucket), 1.0 gives its ARN (s3BucketArn, arn:aws:s3:::name).

        Keys arrive URL-encoded as S3 Inventory reports and event notifications encode them, a space as '+'
        and a '+' as %2B, so unquote_plus (as AWS's Python example for Batch Operations and Powertools do).
        """
        bucket = task.get("s3Bucket") or str(task["s3BucketArn"]).split(":::", 1)[-1]
        return cls(task["taskId"], bucket, unquote_plus(task["s3Key"]))


@log.invocation(lambda event: event.get("invocationId"))
def lambda_handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    return handle(app(), event, context)


def handle(app: App, event: dict[str, Any], context: object = None) -> dict[str, Any]:
    """One result per task, in the response schema Batch Operations expects."""
    version = event.get("invocationSchemaVersion")
    if version not in SCHEMA_VERSIONS:
        raise ValueError(f"invocationSchemaVersion {version!r} is not one of {SCHEMA_VERSIONS}")
    tasks = [Task.of(task) for task in event.get("tasks", [])]
    try:
        target = job_target((event.get("job") or {}).get("userArguments") or {})
    except ConfigError as exc:
        log.emit("failed", logging.ERROR, reason="bad-user-arguments", detail=str(exc))
        failed = {"outcome": "failed", "reason": "bad-user-arguments", "detail": str(exc)}
        results = [answer(task, PERMANENT_FAILURE, **failed) for task in tasks]
    else:
        results = [run(app, task, context, target) for task in tasks]
    return {
        "invocationSchemaVersion": version,
        "treatMissingKeysAs": PERMANENT_FAILURE,
        "invocationId": event["invocationId"],
        "results": results,
    }


def job_target(arguments: Mapping[str, str]) -> int | None:
    """The target this job's UserArguments choose, if any; ConfigError for an unknown or invalid argument."""
    unknown = sorted(set(arguments) - set(USER_ARGUMENTS))
    if unknown:
        raise ConfigError(f"unknown user arguments {', '.join(unknown)}; known: {', '.join(USER_ARGUMENTS)}")
    return preset(arguments["target"]) if "target" in arguments else None


def run(app: App, task: Task, context: object = None, target: int | None = None) -> dict[str, str]:
    upload_bucket = app.locations.upload_bucket
    if task.bucket != upload_bucket:
        log.emit("failed", logging.WARNING, bucket=task.bucket, key=task.key, reason="foreign-bucket")
        return answer(task, PERMANENT_FAILURE, outcome="failed", reason="foreign-bucket",
                      detail=f"only s3://{upload_bucket} is processed")
    processed, error = process_or_record(app, task.bucket, task.key, context, target)
    if error is not None:
        code = TEMPORARY_FAILURE if error.transient else PERMANENT_FAILURE
        return answer(task, code, outcome="failed", reason=error.reason)
    record = processed.as_dict()
    return answer(task, SUCCEEDED, **{field: record.get(field) for field in SUMMARY_FIELDS})


def answer(task: Task, code: str, **summary: object) -> dict[str, str]:
    """A task's result. resultString is short compact JSON (the completion report row already names the
    bucket and key, and Batch truncates long strings)."""
    fields = {k: v for k, v in summary.items() if v is not None}
    return {"taskId": task.task_id, "resultCode": code, "resultString": json.dumps(fields, separators=(",", ":"))}
