"""The S3 pipeline for one object: fetch, call the core, publish, log. Every entry point that reads S3 uses it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from handler import log
from handler.aws import metrics
from handler.aws.storage import (
    COPY_LIMIT,
    METADATA_LIMIT,
    MISSING_OBJECT,
    NONE,
    ORIGINAL_HEADERS,
    PRECONDITION_FAILED,
    Condition,
    Envelope,
    Existing,
    Fetched,
    metadata_size,
)
from handler.aws.versions import (
    RECORDED,
    SEQUENCER,
    VARIANT,
    VARIANTS,
    SourceVersion,
    is_older,
    listed,
    recorded,
)
from handler.aws.wiring import App
from handler.core import optimize, refused, too_large
from handler.errors import ConfigError, OptimalImageError, OutOfTime, StorageError
from handler.image.jpeg import MARKER
from handler.quality.model import Model
from handler.result import OPTIMIZED, REJECTED, Decision, Output, Result, jpeg_name
from handler.settings import FORMATS, Locations

SKIPPED = "skipped"
SUPERSEDED = "superseded"
"""The skip reason where a newer upload of the key exists: the event's version is no longer current, or the
output already holds a later upload's. That upload's own event makes (or made) the output."""
CURRENT = SourceVersion()
"""What a batch task or an API request names: the upload as it is now."""


@dataclass(frozen=True)
class Processed:
    bucket: str
    key: str
    output_key: str | None
    result: Result | None
    skipped: str | None = None
    metadata_dropped: bool = False
    """The upload's user metadata and the marker would be over S3's METADATA_LIMIT: the output has the marker only."""
    variant: str = ""
    """The format of the variant this is written as (beside: KEY.avif is "avif"); empty for the output itself."""

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


NOTHING = Decision(b"", None)


def _decide(app: App, bucket: str, key: str, target: int | None,
            version: SourceVersion = CURRENT) -> tuple[Processed, Decision, Fetched | None]:
    """The decision for s3://bucket/key (the version an event names, else the current one) and, unless it is
    skipped, the core's decision (no bytes where the upload is over MAX_INPUT_BYTES: it is copied unread) and the
    source."""
    locations = app.locations
    if is_own_output(locations, bucket, key):
        return Processed(bucket, key, None, None, skipped="own-output"), NOTHING, None
    if output_key(locations, key).startswith(BATCH_PREFIXES):
        return Processed(bucket, key, None, None, skipped="batch-prefix"), NOTHING, None
    try:
        fetched = app.storage.fetch(bucket, key, app.settings.max_input_bytes, version.read_params())
    except StorageError as exc:
        if exc.reason != PRECONDITION_FAILED:
            raise
        return Processed(bucket, key, None, None, skipped=SUPERSEDED), NOTHING, None
    if MARKER in fetched.metadata:
        return Processed(bucket, key, None, None, skipped="already-optimized"), NOTHING, None
    decision = _outcome(app, fetched, target)
    result = decision.result
    where = output_key(locations, key, result) if fetched.data is not None or fetched.size <= COPY_LIMIT else None
    stamp = stamped(version, fetched.etag, result)
    dropped = where is not None and metadata_size(marked(fetched.metadata, app.model, stamp)) > METADATA_LIMIT
    return Processed(bucket, key, where, result, metadata_dropped=dropped), decision, fetched


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


def marked(metadata: dict[str, str], model: Model, stamp: dict[str, str] | None = None) -> dict[str, str]:
    """The upload's user metadata with the marker, which keeps the output from being processed again, and the
    stamp of the upload's version (versions.recorded). Whatever the upload itself says under the stamp's names
    is dropped: an upload must not set the sequencer that orders later ones."""
    carried = {name: value for name, value in metadata.items() if name not in RECORDED}
    return {**carried, **(stamp or {}), MARKER: model.version}


def stamped(version: SourceVersion, etag: str, result: Result, variant: str = "") -> dict[str, str]:
    """versions.recorded, with what links an output and its variants: VARIANT on a variant (its format), VARIANTS on
    an output with variants beside it. A variant's stamp is never longer than its output's (VARIANT's name and
    one format against VARIANTS' name and at least that format), so the output's METADATA_LIMIT check covers both."""
    if variant:
        return {**recorded(version, etag), VARIANT: variant}
    formats = " ".join(v.format for v in result.variants)
    return {**recorded(version, etag), **({VARIANTS: formats} if formats else {})}


def unread_note(size: int) -> str:
    """What happens to an upload whose size S3 gave before any of it was read: copied unread, or, over
    COPY_LIMIT, not published at all."""
    if size > COPY_LIMIT:
        return f"rejected unread; not published: S3 copies at most {COPY_LIMIT} bytes in one CopyObject"
    return "rejected unread"


def envelope(app: App, processed: Processed, fetched: Fetched, version: SourceVersion = CURRENT) -> Envelope:
    """The upload's metadata with the marker and the version's stamp (those alone where all are over S3's
    limit), its headers (those about its bytes only where they are the ones published; its Content-Disposition
    unless the core chose one), and the result's type, disposition and tags."""
    result = processed.result
    stamp = stamped(version, fetched.etag, result, processed.variant)
    metadata = marked({} if processed.metadata_dropped else fetched.metadata, app.model, stamp)
    headers = {name: value for name, value in fetched.headers.items()
               if result.outcome != OPTIMIZED or name not in ORIGINAL_HEADERS}
    if result.content_disposition:
        headers["ContentDisposition"] = result.content_disposition
    return Envelope(result.content_type, metadata, result.tags(), headers)


WRITE_ATTEMPTS = 3
"""How often a conditional write is tried again after the output changed under it (another invocation wrote
it meanwhile, or a timed-out write of this one landed late) before the object is left to the event's retry."""


@dataclass(frozen=True)
class Written:
    """A write that landed, and the user metadata of the object it replaced where the write read that object first
    (None where there was none, or where the write was unconditional)."""

    replaced: dict[str, str] | None = None


def publish(app: App, processed: Processed, data: bytes, fetched: Fetched,
            version: SourceVersion = CURRENT) -> Written | None:
    """Write the output: `data` in one PutObject, or, for an upload left unread, a server-side copy of it.

    Without a sequencer (batch tasks, API requests) the write is unconditional. With an event's, it must not
    replace a later upload's output: it is first tried where no output exists yet (IfNoneMatch), the common
    case, which needs no read; where one does, it is read (HeadObject), and replaced only while it is still the
    one read (IfMatch on its ETag) and holds no later sequencer. None, nothing written, where it holds one."""
    condition: Condition | None = {"IfNoneMatch": "*"} if version.sequencer else NONE
    replaced: dict[str, str] | None = None
    for _ in range(WRITE_ATTEMPTS):
        try:
            _write(app, processed, data, fetched, version, condition)
            return Written(replaced)
        except StorageError as exc:
            if exc.reason != PRECONDITION_FAILED or not version.sequencer:
                raise
        existing = app.storage.existing(app.locations.output_bucket, processed.output_key)
        condition = _guard(existing, version)
        if condition is None:
            return None
        replaced = existing.metadata if existing else None
    where = f"s3://{app.locations.output_bucket}/{processed.output_key}"
    raise StorageError("write-conflict", f"{where} changed under each of {WRITE_ATTEMPTS} conditional writes",
                       transient=True)


def _guard(existing: Existing | None, version: SourceVersion) -> Condition | None:
    """The condition that writes over `existing`, the object now at the output's key, only while it is still there
    (IfMatch on its ETag), or only where there is none (IfNoneMatch); None where it holds a later upload's output."""
    if existing is None:
        return {"IfNoneMatch": "*"}
    if is_older(version.sequencer, existing.metadata.get(SEQUENCER, "")):
        return None
    return {"IfMatch": existing.etag}


def _write(app: App, processed: Processed, data: bytes, fetched: Fetched, version: SourceVersion,
           condition: Condition) -> None:
    where, carried = (app.locations.output_bucket, processed.output_key), envelope(app, processed, fetched, version)
    if fetched.data is None:
        pinned = fetched.etag if version.etag else ""  # the version the event names, not a later one
        app.storage.copy((processed.bucket, processed.key), *where, carried, pinned, condition)
    else:
        app.storage.publish(*where, data, carried, condition)


def variant_key(key: str, suffix: str) -> str:
    """Where a variant of the output at `key` is written: KEY.avif, KEY.webp, as nginx and CDN content negotiation
    look for them (docs/formats.md)."""
    return key + suffix


def beside(app: App, processed: Processed, variants: tuple[Output, ...], fetched: Fetched,
           version: SourceVersion = CURRENT, replaced: dict[str, str] | None = None) -> None:
    """Write each variant next to the output, under its own Content-Type, tags and VARIANT stamp, with the same
    conditions as the output (publish); then remove each variant of ours an earlier upload of the key may have left
    and this one did not write (`leftover`), so that a CDN never serves an older picture than the JPEG.

    A later upload's run may have replaced the output while these variants were written, and looked for leftovers
    before they landed: with a sequencer, the output is read once more, and where it now holds a later upload's,
    the variants just written are removed again (retire: only while they are still these)."""
    for output in variants:
        record = processed.result.of_variant(output)
        where = variant_key(processed.output_key, output.suffix)
        publish(app, replace(processed, output_key=where, result=record, variant=output.variant.format), output.data,
                fetched, version)
    overtaken = bool(variants) and bool(version.sequencer) and _guard(
        app.storage.existing(app.locations.output_bucket, processed.output_key), version) is None
    removed = [output.variant.format for output in variants] if overtaken else []
    for name in removed + leftover(app.settings.formats, replaced, variants):
        where = variant_key(processed.output_key, "." + name)
        if retire(app, where, name, version):
            log.emit("variant-removed", bucket=app.locations.output_bucket, key=where, format=name,
                     output_key=processed.output_key)


def leftover(formats: tuple[str, ...], replaced: dict[str, str] | None, written: tuple[Output, ...]) -> list[str]:
    """The variant formats that may hold an earlier upload's variant beside the output and got none now: those FORMATS
    lists, and those the replaced output's VARIANTS names where the write read it (so FORMATS=jpeg, which makes no
    variant, reads nothing more unless the output it replaced had some)."""
    named = set(formats[1:]) | set(listed(replaced or {}))
    made = {output.variant.format for output in written}
    return [name for name in FORMATS[1:] if name in named - made]


def retire(app: App, key: str, name: str, version: SourceVersion) -> bool:
    """Delete the object at `key` where it is this function's `name` variant of the output it sits beside (its
    VARIANT stamp says so: an upload's own output at KEY.avif has none) and holds no later upload's sequencer; the
    delete is conditional on the ETag read, so a variant written since (by a later upload's run) stays."""
    bucket = app.locations.output_bucket
    existing = app.storage.existing(bucket, key)
    if existing is None or MARKER not in existing.metadata or existing.metadata.get(VARIANT) != name:
        return False
    if is_older(version.sequencer, existing.metadata.get(SEQUENCER, "")):
        return False
    try:
        app.storage.delete(bucket, key, existing.etag)
    except StorageError as exc:
        if exc.reason not in (PRECONDITION_FAILED, MISSING_OBJECT):
            raise
        return False
    return True


def evaluate_object(app: App, bucket: str, key: str, target: int | None = None) -> Processed:
    """What process_object would decide for s3://bucket/key (same skip rules, same core call), with nothing
    written and nothing logged. Raises StorageError only."""
    return _decide(app, bucket, key, target)[0]


def process_object(app: App, bucket: str, key: str, target: int | None = None,
                   version: SourceVersion = CURRENT) -> Processed:
    """Optimize s3://bucket/key into the output bucket, at the caller's `target` if it chose one: the version an
    event names (skipped as superseded where a later upload replaced it), else the current one. Its metrics
    are written once it is done (handler.aws.metrics). Raises StorageError only; bad images are results."""
    start = time.perf_counter()
    processed = _process(app, bucket, key, target, version)
    metrics.handled(processed.as_dict(), time.perf_counter() - start)
    return processed


def _process(app: App, bucket: str, key: str, target: int | None, version: SourceVersion) -> Processed:
    processed, decision, fetched = _decide(app, bucket, key, target, version)
    if fetched is None:
        log.emit("skipped", bucket=bucket, key=key, reason=processed.skipped)
        return processed
    result = processed.result
    if processed.metadata_dropped:
        stamp = stamped(version, fetched.etag, result)
        log.emit("metadata-dropped", logging.WARNING, bucket=bucket, key=key, output_key=processed.output_key,
                 metadata_bytes=metadata_size(fetched.metadata),
                 marker_bytes=metadata_size(marked({}, app.model, stamp)), limit=METADATA_LIMIT)
    if processed.output_key is not None:
        written = publish(app, processed, decision.data, fetched, version)
        if written is None:
            detail = f"s3://{app.locations.output_bucket}/{processed.output_key} holds a later upload's output"
            log.emit("skipped", bucket=bucket, key=key, reason=SUPERSEDED, detail=detail)
            return Processed(bucket, key, None, None, skipped=SUPERSEDED)
        beside(app, processed, decision.variants, fetched, version, written.replaced)
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
    app: App, bucket: str, key: str, context: object | None = None, target: int | None = None,
    version: SourceVersion = CURRENT,
) -> tuple[Processed | None, OptimalImageError | None]:
    """process_object, with a storage failure logged and returned instead of raised. Near the timeout
    the object is not started: it comes back as a transient OutOfTime, for the caller's retry."""
    try:
        if out_of_time(context):
            raise OutOfTime("out-of-time", f"under {RESERVE_MS} ms left before the function's timeout")
        return process_object(app, bucket, key, target, version), None
    except (StorageError, OutOfTime) as exc:
        log.emit("failed", logging.ERROR, bucket=bucket, key=key, reason=exc.reason, detail=exc.detail,
                 transient=exc.transient)
        metrics.handled({"outcome": "failed", "reason": exc.reason}, 0.0)
        return None, exc
