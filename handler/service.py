"""Process one S3 object: fetch, call the core, publish, log. Every entry point that reads S3 uses this."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from handler import log
from handler.config import Settings
from handler.core import Chooser, Result, optimize
from handler.errors import StorageError
from handler.model import Model
from handler.storage import MARKER, Storage

SKIPPED = "skipped"


@dataclass(frozen=True)
class App:
    """What a warm container keeps: settings, model, storage and the quality chooser, made once."""

    settings: Settings
    model: Model
    storage: Storage
    choose: Chooser


@dataclass(frozen=True)
class Processed:
    bucket: str
    key: str
    output_key: str | None
    result: Result | None
    skipped: str | None = None

    def as_dict(self) -> dict[str, object]:
        record = {"bucket": self.bucket, "key": self.key, "output_key": self.output_key}
        if self.result is not None:
            record.update(self.result.as_dict())
        if self.skipped:
            record.update(outcome=SKIPPED, reason=self.skipped)
        return record


def output_key(settings: Settings, key: str) -> str:
    return settings.output_prefix + key


def is_own_output(settings: Settings, bucket: str, key: str) -> bool:
    """True where the output location overlaps the upload bucket and this key lies inside it.

    With one bucket for both, outputs are written under OUTPUT_PREFIX, and every key there is ours.
    """
    return bucket == settings.output_bucket and key.startswith(settings.output_prefix)


def process_object(app: App, bucket: str, key: str) -> Processed:
    """Optimise s3://bucket/key into the output bucket. Raises StorageError only; bad images are results."""
    settings = app.settings
    if is_own_output(settings, bucket, key):
        log.emit("skipped", bucket=bucket, key=key, reason="own-output")
        return Processed(bucket, key, None, None, skipped="own-output")
    fetched = app.storage.fetch(bucket, key)
    if MARKER in fetched.metadata:
        log.emit("skipped", bucket=bucket, key=key, reason="already-optimized")
        return Processed(bucket, key, None, None, skipped="already-optimized")
    data, result = optimize(fetched.data, settings, app.model, app.choose)
    target_key = output_key(settings, key)
    metadata = {**fetched.metadata, MARKER: app.model.version}
    content_type = result.content_type or fetched.content_type
    app.storage.publish(settings.output_bucket, target_key, data, content_type, metadata, result.tags())
    level = logging.WARNING if result.outcome == "rejected" else logging.INFO
    log.emit("processed", level, bucket=bucket, key=key, output_key=target_key, **result.as_dict())
    return Processed(bucket, key, target_key, result)


def process_or_record(app: App, bucket: str, key: str) -> tuple[Processed | None, StorageError | None]:
    """process_object, with a storage failure logged and returned instead of raised."""
    try:
        return process_object(app, bucket, key), None
    except StorageError as exc:
        log.emit("failed", logging.ERROR, bucket=bucket, key=key, reason=exc.reason, detail=exc.detail,
                 transient=exc.transient)
        return None, exc
