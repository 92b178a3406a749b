"""The S3 pipeline for one object, with an in-memory storage in place of S3: what is fetched, decided, written and
skipped. (tests/integration/ runs the same pipeline against the local S3 server over HTTP.)"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from handler.aws import metrics, pipeline
from handler.aws.storage import Envelope, Existing, Fetched
from handler.aws.wiring import App
from handler.image.jpeg import MARKER
from handler.settings import TARGET_METADATA, Locations, Settings
from scripts.images import encoded, photo_like


@dataclass
class FakeStorage:
    """Storage's calls over dicts of (bucket, key) -> (bytes, user metadata); writes are unconditional here
    (tests/integration/test_versions.py shows the conditions against the local S3 server)."""

    objects: dict[tuple[str, str], tuple[bytes, dict[str, str]]] = field(default_factory=dict)
    written: dict[tuple[str, str], tuple[bytes | None, Envelope]] = field(default_factory=dict)

    def fetch(self, bucket: str, key: str, max_bytes: int, version: dict[str, str] | None = None) -> Fetched:
        data, metadata = self.objects[bucket, key]
        return Fetched(len(data), data if len(data) <= max_bytes else None, metadata, {})

    def existing(self, bucket: str, key: str) -> Existing | None:
        return None if (bucket, key) not in self.written else Existing("etag", self.written[bucket, key][1].metadata)

    def publish(self, bucket: str, key: str, data: bytes, envelope: Envelope, condition: object = None) -> None:
        self.written[bucket, key] = (data, envelope)

    def copy(self, source: tuple[str, str], bucket: str, key: str, envelope: Envelope, source_etag: str = "",
             condition: object = None) -> None:
        self.written[bucket, key] = (None, envelope)


@pytest.fixture
def storage() -> FakeStorage:
    return FakeStorage()


@pytest.fixture
def fake_app(storage, fixed_model) -> App:
    return App(Settings(verify=False), Locations("upload", "output"), fixed_model, storage)


PHOTO = encoded(photo_like(), quality=97)


def test_an_upload_is_written_under_its_key_with_the_marker_its_metadata_and_the_tags(fake_app, storage):
    storage.objects["upload", "a.jpg"] = (PHOTO, {"author": "me"})
    processed = pipeline.process_object(fake_app, "upload", "a.jpg")
    data, envelope = storage.written["output", "a.jpg"]
    assert processed.result.outcome == "optimized" and len(data) < len(PHOTO)
    assert envelope.metadata == {"author": "me", MARKER: fake_app.model.version}
    assert envelope.tags == processed.result.tags() and envelope.content_type == "image/jpeg"


def test_an_output_of_this_function_is_skipped_without_a_write(fake_app, storage):
    storage.objects["upload", "a.jpg"] = (PHOTO, {MARKER: "some-model"})
    assert pipeline.process_object(fake_app, "upload", "a.jpg").skipped == "already-optimized"
    assert storage.written == {}


@pytest.mark.parametrize(("locations", "key", "skipped"), [
    (Locations("upload", "upload", "small/"), "small/a.jpg", "own-output"),
    (Locations("upload", "output"), "batch-manifests/a.jpg", "batch-prefix"),
])
def test_a_key_the_function_writes_itself_is_never_read_again(fake_app, storage, locations, key, skipped):
    app = App(fake_app.settings, locations, fake_app.model, storage)
    assert pipeline.process_object(app, "upload", key).skipped == skipped
    assert storage.written == {}


def test_the_callers_target_beats_the_uploads_which_beats_the_configured_one(fake_app, storage):
    storage.objects["upload", "a.jpg"] = (PHOTO, {TARGET_METADATA: "90"})
    assert pipeline.evaluate_object(fake_app, "upload", "a.jpg").result.target == 90
    assert pipeline.evaluate_object(fake_app, "upload", "a.jpg", target=70).result.target == 70
    assert storage.written == {}  # evaluate_object decides without writing


def test_an_upload_asking_for_a_target_that_is_not_a_preset_is_published_unchanged_as_rejected(fake_app, storage):
    storage.objects["upload", "a.jpg"] = (PHOTO, {TARGET_METADATA: "95"})
    result = pipeline.process_object(fake_app, "upload", "a.jpg").result
    assert (result.outcome, result.reason) == ("rejected", "bad-target") and TARGET_METADATA in result.detail
    assert storage.written["output", "a.jpg"][0] == PHOTO


def test_an_upload_over_max_input_bytes_is_copied_unread_and_says_so(fake_app, storage):
    app = App(Settings(max_input_bytes=100), fake_app.locations, fake_app.model, storage)
    storage.objects["upload", "a.jpg"] = (PHOTO, {})
    result = pipeline.process_object(app, "upload", "a.jpg").result
    assert (result.reason, result.bytes_out) == ("too-large", len(PHOTO)) and "rejected unread" in result.detail
    assert storage.written["output", "a.jpg"][0] is None  # a server-side copy: the bytes never pass through


def emf_documents(stdout: str) -> list[dict]:
    """The EMF documents among the lines, each metric's value taken out of the list EMF allows for it."""
    documents = [doc for doc in map(json.loads, filter(None, stdout.splitlines())) if "_aws" in doc]
    return [{k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in doc.items()} for doc in documents]


def test_each_object_handled_writes_its_metrics_by_outcome_and_reason(fake_app, storage, capsys):
    storage.objects["upload", "a.jpg"] = (PHOTO, {})
    result = pipeline.process_object(fake_app, "upload", "a.jpg").result
    (document,) = emf_documents(capsys.readouterr().out)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "optimal-image"
    assert set(directive["Dimensions"][0]) == {"service", "outcome", "reason"}
    assert (document["outcome"], document["reason"], document["Uploads"]) == ("optimized", result.reason, 1.0)
    assert document["BytesSaved"] == result.bytes_in - result.bytes_out > 0
    assert document["Quality"] == result.quality and document["WholeImageChecks"] == 0  # VERIFY=false: none
    assert document["MillisecondsPerMegapixel"] > 0


def test_each_variant_written_or_skipped_is_counted_by_format_with_its_bytes_against_the_jpeg(capsys):
    record = {"outcome": "optimized", "reason": "verified", "bytes_in": 9000, "bytes_out": 4000,
              "variants": [{"format": "avif", "quality": 60, "score": 80.3, "bytes": 3000}],
              "variants_skipped": [{"format": "webp", "reason": "not-smaller", "bytes": 5000}]}
    metrics.handled(record, 1.0)
    upload, avif, webp = emf_documents(capsys.readouterr().out)
    assert upload["Uploads"] == 1.0 and "Variants" not in upload
    for document in (avif, webp):
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert set(directive["Dimensions"][0]) == {"service", "format", "outcome", "reason"}
        assert document["Variants"] == 1.0 and "Uploads" not in document
    assert (avif["format"], avif["outcome"], avif["reason"]) == ("avif", "written", "verified")
    assert (avif["VariantBytesRatio"], avif["VariantBytesSaved"]) == (0.75, 1000)
    assert (webp["format"], webp["outcome"], webp["reason"]) == ("webp", "skipped", "not-smaller")
    assert webp["VariantBytesRatio"] == 1.25 and "VariantBytesSaved" not in webp


def test_an_upload_without_variants_writes_one_metrics_document(capsys):
    metrics.handled({"outcome": "optimized", "reason": "verified", "bytes_in": 9000, "bytes_out": 4000,
                     "variants": [], "variants_skipped": []}, 1.0)
    assert len(emf_documents(capsys.readouterr().out)) == 1


def test_a_skipped_object_is_counted_under_its_reason(fake_app, storage, capsys):
    storage.objects["upload", "a.jpg"] = (PHOTO, {MARKER: "some-model"})
    pipeline.process_object(fake_app, "upload", "a.jpg")
    (document,) = emf_documents(capsys.readouterr().out)
    assert (document["outcome"], document["reason"], document["Uploads"]) == ("skipped", "already-optimized", 1.0)
    assert "BytesIn" not in document
