"""Uploads over MAX_INPUT_BYTES: rejected unread. The output is a server-side copy of the upload (CopyObject),
tagged outcome=rejected reason=too-large, with the metadata, type and headers any output gets; the function
neither reads the body nor uploads it again. Through the moto S3 server over HTTP.
"""

from __future__ import annotations

import io
from dataclasses import replace

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from handler.aws import s3_event, wiring
from handler.aws.storage import COPY_LIMIT, RETRIES, Storage
from handler.aws.versions import SEQUENCER, SOURCE_ETAG
from handler.aws.wiring import App
from handler.image.jpeg import MARKER
from handler.settings import Locations, Settings
from scripts.s3events import put_event
from tests.conftest import encoded, photo_like
from tests.integration.test_s3_event import tags, upload

LIMIT = 1000
"""MAX_INPUT_BYTES in these tests: a small photo is over it."""


class Observed:
    """An S3 client with the shipped retries and hooks that only watch: which operations it sends, and each
    GetObject's body as the caller got it."""

    def __init__(self) -> None:
        self.client = boto3.client("s3", config=RETRIES)
        self.operations: list[str] = []
        self.bodies: list[object] = []
        self.client.meta.events.register("before-call.s3", lambda model, **_: self.operations.append(model.name))
        self.client.meta.events.register("after-call.s3.GetObject", lambda parsed, **_: self.bodies.append(
            parsed.get("Body")))


@pytest.fixture
def observed() -> Observed:
    return Observed()


@pytest.fixture
def app(buckets, observed) -> App:
    source, output = buckets
    built = wiring.build(Settings(max_input_bytes=LIMIT), Locations(upload_bucket=source, output_bucket=output))
    return replace(built, storage=Storage(observed.client))


def test_an_upload_over_the_limit_is_copied_unread_as_an_attachment_with_the_rejected_tags_metadata_and_headers(
    app, buckets, observed
):
    source, output = buckets
    data = encoded(photo_like(), quality=97)
    sent = {"ContentType": "image/jpeg", "CacheControl": "max-age=60", "ContentEncoding": "identity",
            "Metadata": {"owner": "ana"}}
    record = upload(source, "big.jpg", data, **sent)
    (result,) = s3_event.handle(app, put_event(record))["results"]
    assert (result["outcome"], result["reason"], result["output_key"]) == ("rejected", "too-large", "big.jpg")
    assert "rejected unread" in result["detail"]
    assert observed.operations == ["GetObject", "CopyObject"]  # no PutObject: the bytes were not sent again
    (body,) = observed.bodies
    assert body.tell() == 0  # not one byte of the body was read
    got = boto3.client("s3").get_object(Bucket=output, Key="big.jpg")
    assert got["Body"].read() == data
    made_from = {SOURCE_ETAG: record["s3"]["object"]["eTag"], SEQUENCER: record["s3"]["object"]["sequencer"]}
    assert got["Metadata"] == {"owner": "ana", MARKER: app.model.version, **made_from}
    # Unread, so not known to be an image: an attachment whatever it was sent as.
    assert (got["ContentType"], got["ContentDisposition"], got["CacheControl"], got["ContentEncoding"]) == (
        "application/octet-stream", "attachment", "max-age=60", "identity")
    size = str(len(data))
    assert tags(output, "big.jpg") == {"outcome": "rejected", "reason": "too-large", "quality": "", "tables": "",
                                       "target": "80", "bpp": "", "bytes_in": size, "bytes_out": size,
                                       "model_version": app.model.version}


def test_an_upload_at_the_limit_is_read_and_processed(app, buckets, observed):
    source, output = buckets
    data = encoded(photo_like(16, 16), "PNG")
    assert len(data) <= LIMIT
    (result,) = s3_event.handle(app, put_event(upload(source, "small.png", data)))["results"]
    assert result["outcome"] != "rejected" and observed.operations == ["GetObject", "PutObject"]


def answer_as_for_6_gib(request, **_) -> AWSResponse | None:
    """S3's answer to GetObject on a 6 GiB object, headers only (the body is never read). moto could hold such
    an object only in memory, so this before-send hook answers as S3 does; other requests go to moto."""
    if request.method != "GET" or not request.url.split("?")[0].endswith("/huge.bin"):
        return None
    headers = {"Content-Length": str(6 * 1024**3), "Content-Type": "application/zip", "ETag": '"0"'}
    return AWSResponse(request.url, 200, headers, io.BytesIO(b""))


def test_an_upload_over_what_s3_can_copy_is_recorded_and_nothing_is_published(app, buckets, observed):
    source, output = buckets
    observed.client.meta.events.register("before-send.s3.GetObject", answer_as_for_6_gib)
    (result,) = s3_event.handle(app, put_event(upload(source, "huge.bin", b"stand-in")))["results"]
    assert (result["outcome"], result["reason"], result["output_key"]) == ("rejected", "too-large", None)
    assert f"not published: S3 copies at most {COPY_LIMIT} bytes" in result["detail"]
    assert observed.operations == ["GetObject"]
    assert boto3.client("s3").list_objects_v2(Bucket=output).get("KeyCount") == 0
