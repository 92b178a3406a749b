"""S3 limits an object's user metadata to 2 KB (the UTF-8 bytes of its keys and values). An upload near that
limit still gets an output: where its metadata, the marker and the source version's stamp would be over it, the
output has the marker and the stamp alone.

moto does not enforce the limit, so a botocore before-send hook puts S3's rule in front of the moto server: a
PutObject or CopyObject with more user metadata than that is answered as S3 answers it (400 MetadataTooLarge);
everything else goes to moto over HTTP.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import replace

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from handler.aws import batch, s3_event
from handler.aws.storage import METADATA_LIMIT, RETRIES, Storage, metadata_size
from handler.aws.versions import SEQUENCER, SOURCE_ETAG
from handler.aws.wiring import App
from handler.image.jpeg import MARKER
from scripts.s3events import put_event
from tests.conftest import encoded, photo_like
from tests.integration.test_batch import batch_event, codes
from tests.integration.test_s3_event import put_record

META = "x-amz-meta-"
TOO_LARGE = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>MetadataTooLarge</Code>"
             b"<Message>Your metadata headers exceed the maximum allowed metadata size.</Message></Error>")


class Body(io.BytesIO):
    """An answer's body as botocore reads it from urllib3."""

    def stream(self, **_):
        yield self.read()


def s3_metadata_rule(request, **_) -> AWSResponse | None:
    """S3's answer to a write whose user metadata is over METADATA_LIMIT; None (on to moto) otherwise."""
    size = sum(len(name[len(META):].encode()) + len(value if isinstance(value, bytes) else value.encode())
               for name, value in request.headers.items() if name.lower().startswith(META))
    if request.method != "PUT" or size <= METADATA_LIMIT:
        return None
    return AWSResponse(request.url, 400, {"Content-Type": "application/xml"}, Body(TOO_LARGE))


@pytest.fixture
def s3() -> object:
    client = boto3.client("s3", config=RETRIES)
    client.meta.events.register("before-send.s3", s3_metadata_rule)
    return client


@pytest.fixture
def ruled(app, s3) -> App:
    return replace(app, storage=Storage(s3))


def near_the_limit(s3, bucket: str, key: str) -> tuple[dict, dict[str, str]]:
    """Upload a photo with user metadata just under S3's limit (S3 takes it); its event record and metadata."""
    metadata = {"caption": "x" * (METADATA_LIMIT - len("caption") - 11)}
    response = s3.put_object(Bucket=bucket, Key=key, Body=encoded(photo_like(), quality=97), Metadata=metadata)
    return put_record(bucket, key, 0, response["ETag"]), metadata


def test_the_rule_refuses_what_s3_refuses(s3, buckets):
    with pytest.raises(s3.exceptions.ClientError, match="MetadataTooLarge"):
        s3.put_object(Bucket=buckets[0], Key="k", Body=b"", Metadata={"a": "x" * METADATA_LIMIT})


def test_an_upload_whose_metadata_and_marker_are_over_the_limit_gets_an_output_with_the_marker_alone(
    ruled, s3, buckets
):
    source, output = buckets
    record, _ = near_the_limit(s3, source, "full.jpg")
    (result,) = s3_event.handle(ruled, put_event(record))["results"]
    assert (result["outcome"], result["metadata_dropped"]) == ("optimized", True)
    assert s3.head_object(Bucket=output, Key="full.jpg")["Metadata"] == {MARKER: ruled.model.version,
                                                                         **stamp(record)}


def test_a_batch_task_for_such_an_upload_succeeds(ruled, s3, buckets):
    source, _ = buckets
    near_the_limit(s3, source, "full.jpg")
    ((_, code, summary),) = codes(batch.handle(ruled, batch_event("2.0", (source, "full.jpg"))))
    assert (code, summary["outcome"]) == ("Succeeded", "optimized")


def stamp(record: dict) -> dict[str, str]:
    """What the output records of the upload an event record names: its ETag and the event's sequencer."""
    fields = record["s3"]["object"]
    return {SOURCE_ETAG: fields["eTag"], SEQUENCER: fields["sequencer"]}


def test_metadata_that_fits_with_the_marker_and_the_stamp_is_kept_and_not_flagged(ruled, s3, buckets):
    source, output = buckets
    body = encoded(photo_like(), quality=97)
    ours = metadata_size({MARKER: ruled.model.version, **stamp(put_record(source, "fits.jpg", 0, md5(body)))})
    metadata = {"caption": "x" * (METADATA_LIMIT - len("caption") - ours)}
    response = s3.put_object(Bucket=source, Key="fits.jpg", Body=body, Metadata=metadata)
    record = put_record(source, "fits.jpg", 0, response["ETag"])
    (result,) = s3_event.handle(ruled, put_event(record))["results"]
    assert result["outcome"] == "optimized" and "metadata_dropped" not in result
    assert s3.head_object(Bucket=output, Key="fits.jpg")["Metadata"] == {**metadata, MARKER: ruled.model.version,
                                                                         **stamp(record)}


def md5(data: bytes) -> str:
    """The ETag S3 gives an object uploaded in one PutObject."""
    return hashlib.md5(data).hexdigest()
