"""The S3 pipeline for one object: fetch, call the core, publish, log. Every entry point that reads S3 uses it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from handler import log
from handler.aws.storage import COPY_LIMIT, METADATA_LIMIT, ORIGINAL_HEADERS, Envelope, Fetched, metadata_size
from handler.aws.wiring import App
from handler.core import optimize, refused, too_large
from handler.errors import ConfigError, OptimalImageError, OutOfTime, StorageError
from handler.image.jpeg import MARKER
from handler.quality.model import Model
from handler.result import OPTIMIZED, REJECTED, Decision, Result, jpeg_name
from handler.settings import Locations

SKIPPED = "skipped"


@dataclass(frozen=True)
class Processed:
    bucket: str
    key: str
    output_key: str | None
    result: Result | None
    skipped: str | None = None
    metadata_dropped: bool = False
    """The upload's user metadata and the marker would be over S3's METADATA_LIMIT: the output has the marker only."""

    def as_dict(self) -> dict[str, object]:
        record = {"bucket": self.bucket, "key": self.key, "output_key": self.output_key}
        if self.result is not None:
            record.update(self.result.as_dict())
        if self.skipped:
            record.update(outcome=SKIPPED, reason=self.skipped)
        if self.metadata_dropped:
            record.update(metadata_dropped=True)
        return record


BATCH_PREFIXES = ("batch-manifests/", "batch-reports/")
"""Where the output bucket holds S3 Batch Operations' manifests, inventory reports and completion reports
(template.yaml). An output is never written there: an upload keyed batch-manifests/... would replace a
manifest."""


def output_key(locations: Locations, key: str, result: Result | None = None) -> str:
    """Where the output of `key` is written: under OUTPUT_PREFIX, and, with OUTPUT_SUFFIX=format, named as a
    JPEG's where `result` says it is optimized (x.png -> x.jpg). An original kept or rejected keeps its key."""
    where = locations.output_prefix + key
    if result is not None and result.outcome == OPTIMIZED and locations.output_suffix == "format":
        return jpeg_name(where)
    return where


def is_own_output(locations: Locations, bucket: str, key: str) -> bool:
    """True where the output location overlaps the upload bucket and this key lies inside it.

    With one bucket for both, outputs are written under OUTPUT_PREFIX, and every key there is ours.
    """
    return bucket == locations.output_bucket and key.startswith(locations.output_prefix)


def _decide(app: App, bucket: str, key: str, target: int | None) -> tuple[Processed, bytes, Fetched | None]:
    """The decision for s3://bucket/key and, unless it is skipped, the bytes to publish (none where the upload
    is over MAX_INPUT_BYTES: it is copied unread) and the source."""
    locations = app.locations
    if is_own_output(locations, bucket, key):
        return Processed(bucket, key, None, None, skipped="own-output"), b"", None
    if output_key(locations, key).startswith(BATCH_PREFIXES):
        return Processed(bucket, key, None, None, skipped="batch-prefix"), b"", None
    fetched = app.storage.fetch(bucket, key, app.settings.max_input_bytes)
    if MARKER in fetched.metadata:
        return Processed(bucket, key, None, None, skipped="already-optimized"), b"", None
    data, result = _outcome(app, fetched, target)
    where = output_key(locations, key, result) if fetched.data is not None or fetched.size <= COPY_LIMIT else None
    dropped = where is not None and metadata_size(marked(fetched.metadata, app.model)) > METADATA_LIMIT
    return Processed(bucket, key, where, result, metadata_dropped=dropped), data, fetched


def _outcome(app: App, fetched: Fetched, target: int | None) -> Decision:
    """The bytes to publish and the record, at the caller's `target`, else the one the upload asks for in its
    metadata (Settings.for_call). A target it asks for that is not a preset rejects it, as bad input does."""
    try:
        settings = app.settings.for_call(target, fetched.metadata)
    except ConfigError as exc:
        return Decision(fetched.data or b"", refused("bad-target", str(exc), fetched.size, app.settings, app.model))
    if fetched.data is None:
        return Decision(b"", too_large(fetched.size, settings, app.model, unread_note(fetched.size)))
    return optimize(fetched.data, settings, app.model)


def marked(metadata: dict[str, str], model: Model) -> dict[str, str]:
    """The upload's user metadata with the marker, which keeps the output from being processed again."""
    return {**metadata, MARKER: model.version}


def unread_note(size: int) -> str:
    """What happens to an upload whose size S3 gave before any of it was read: copied unread, or, over
    COPY_LIMIT, not published at all."""
    if size > COPY_LIMIT:
        return f"rejected unread; not published: S3 copies at most {COPY_LIMIT} bytes in one CopyObject"
    return "rejected unread"


def envelope(app: App, processed: Processed, fetched: Fetched) -> Envelope:
    """The upload's metadata with the marker (the marker alone where both are over S3's limit), its headers
    (those about its bytes only where they are the ones published; its Content-Disposition unless the core
    chose one), and the result's type, disposition and tags."""
    result = processed.result
    metadata = marked({} if processed.metadata_dropped else fetched.metadata, app.model)
    headers = {name: value for name, value in fetched.headers.items()
               if result.outcome != OPTIMIZED or name not in ORIGINAL_HEADERS}
    if result.content_disposition:
        headers["ContentDisposition"] = result.content_disposition
    return Envelope(result.content_type, metadata, result.tags(), headers)


def publish(app: App, processed: Processed, data: bytes, fetched: Fetched) -> None:
    """Write the output: `data` in one PutObject, or, for an upload left unread, a server-side copy of it."""
    where, carried = (app.locations.output_bucket, processed.output_key), envelope(app, processed, fetched)
    if fetched.data is None:
        app.storage.copy(processed.bucket, processed.key, *where, carried)
    else:
        app.storage.publish(*where, data, carried)


def evaluate_object(app: App, bucket: str, key: str, target: int | None = None) -> Processed:
    """What process_object would decide for s3://bucket/key (same skip rules, same core call), with nothing
    written and nothing logged. Raises StorageError only."""
    return _decide(app, bucket, key, target)[0]


def process_object(app: App, bucket: str, key: str, target: int | None = None) -> Processed:
    """Optimize s3://bucket/key into the output bucket, at the caller's `target` if it chose one. Raises
    StorageError only; bad images are results."""
    processed, data, fetched = _decide(app, bucket, key, target)
    if fetched is None:
        log.emit("skipped", bucket=bucket, key=key, reason=processed.skipped)
        return processed
    result = processed.result
    if processed.metadata_dropped:
        log.emit("metadata-dropped", logging.WARNING, bucket=bucket, key=key, output_key=processed.output_key,
                 metadata_bytes=metadata_size(fetched.metadata), marker_bytes=metadata_size(marked({}, app.model)),
                 limit=METADATA_LIMIT)
    if processed.output_key is not None:
        publish(app, processed, data, fetched)
    level = logging.WARNING if result.outcome == REJECTED else logging.INFO
    log.emit("processed", level, bucket=bucket, key=key, output_key=processed.output_key, **result.as_dict())
    return processed


RESERVE_MS = 30_000
"""No object is started with less than this left before the function's timeout: more than the slowest image
measured, a 49 MP picture that takes the search's longest path, needs (bench/results/runtime.md), so what is
started also finishes."""


def out_of_time(context: object | None) -> bool:
    """True when the Lambda context says fewer than RESERVE_MS remain (never outside Lambda)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return remaining is not None and remaining() < RESERVE_MS


def process_or_record(
    app: App, bucket: str, key: str, context: object | None = None, target: int | None = None
) -> tuple[Processed | None, OptimalImageError | None]:
    """process_object, with a storage failure logged and returned instead of raised. Near the timeout
    the object is not started: it comes back as a transient OutOfTime, for the caller's retry."""
    try:
        if out_of_time(context):
            raise OutOfTime("out-of-time", f"under {RESERVE_MS} ms left before the function's timeout")
        return process_object(app, bucket, key, target), None
    except (StorageError, OutOfTime) as exc:
        log.emit("failed", logging.ERROR, bucket=bucket, key=key, reason=exc.reason, detail=exc.detail,
                 transient=exc.transient)
        return None, exc
