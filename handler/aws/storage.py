"""The only module that talks to S3. Clients are made once per container and passed in."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError

from handler.errors import StorageError

# Botocore's standard retry mode retries throttling, 5xx and timeouts with backoff; what still fails
# after these attempts is reported as transient so that the caller can leave it to AWS's retries.
# Any other answer from S3 is a refusal, reported as permanent (_storage_error).
# In a client Config, max_attempts counts the retries only: 5 means 6 attempts in all.
RETRIES = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)

_PERMANENT = {
    "NoSuchKey": "missing-object",
    "404": "missing-object",
    "NoSuchBucket": "missing-bucket",
    "AccessDenied": "access-denied",
    "403": "access-denied",
    "InvalidObjectState": "archived-object",
    "PreconditionFailed": "precondition-failed",
    "412": "precondition-failed",
    "ConditionalRequestConflict": "precondition-failed",  # HTTP 409
}
"""Named reasons for the permanent refusals a caller can act on; any other permanent one is storage-refused."""
MISSING_OBJECT = "missing-object"
PRECONDITION_FAILED = "precondition-failed"
"""A conditional request whose condition no longer holds: the object changed since it was named (412), or a
concurrent conditional write to it is in progress (409 ConditionalRequestConflict). The caller re-reads."""

_TRANSIENT_CODES = frozenset(
    {"RequestTimeout", "SlowDown", "Throttling", "ThrottlingException", "RequestTimeTooSkewed"}
)
_TRANSIENT_STATUSES = frozenset({408, 429})


def client() -> object:
    """An S3 client; AWS_ENDPOINT_URL_S3 (read by boto3 itself) points it at a local server."""
    return boto3.client("s3", config=RETRIES)


METADATA_LIMIT = 2048
"""S3's limit on an object's user metadata, counted as metadata_size counts.
https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingMetadata.html"""


def metadata_size(metadata: dict[str, str]) -> int:
    """User metadata's size as S3 counts it: the UTF-8 bytes of every key and value."""
    return sum(len(key.encode("utf-8")) + len(value.encode("utf-8")) for key, value in metadata.items())


COPY_LIMIT = 5 * 1024**3
"""The largest object one CopyObject copies (5 GB).
https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html"""

CARRIED_HEADERS = ("CacheControl", "ContentDisposition", "ContentLanguage", "Expires")
"""The upload's HTTP headers that its output keeps, whatever bytes are published."""
ORIGINAL_HEADERS = ("ContentEncoding",)
"""The upload's HTTP headers that describe its bytes: the output keeps them only where it is those bytes."""


@dataclass(frozen=True)
class Fetched:
    size: int
    data: bytes | None
    """None where the object is over the size it was fetched with: its body is left unread."""
    metadata: dict[str, str]
    headers: dict[str, object]
    """CARRIED_HEADERS and ORIGINAL_HEADERS that the upload has, named as boto3 names them."""
    etag: str = ""
    """The ETag of the version read."""


@dataclass(frozen=True)
class Existing:
    """An object already at a key: its ETag (for a write conditional on it) and its user metadata."""

    etag: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class Envelope:
    """What an output carries besides its bytes."""

    content_type: str
    metadata: dict[str, str]
    tags: dict[str, str]
    headers: dict[str, object]

    def params(self) -> dict[str, object]:
        """The envelope as S3 request parameters (PutObject's, and CopyObject's with REPLACE directives)."""
        return {"ContentType": self.content_type, "Metadata": self.metadata, "Tagging": urlencode(self.tags),
                **self.headers}


Condition = dict[str, str]
"""A write's precondition on the object already at its key: {"IfMatch": etag}, {"IfNoneMatch": "*"} (none may
be there), or NONE (unconditional)."""
NONE: Condition = {}


def _storage_error(exc: Exception, action: str, bucket: str, key: str) -> StorageError:
    """Transient where S3 gave no answer (connection errors), a 5xx, 408 or 429, or a throttling or timeout code;
    any other answer is a refusal that a retry cannot change."""
    where = f"{action} s3://{bucket}/{key} failed"
    if not isinstance(exc, ClientError):
        return StorageError("storage-unavailable", f"{where}: {type(exc).__name__}", transient=True)
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    detail = f"{where}: S3 answered {code or 'no code'} (HTTP {status})"
    if status >= 500 or status in _TRANSIENT_STATUSES or code in _TRANSIENT_CODES:
        return StorageError("storage-unavailable", detail, transient=True)
    return StorageError(_PERMANENT.get(code, "storage-refused"), detail, transient=False)


def _read(response: dict, max_bytes: int, bucket: str, key: str) -> bytes | None:
    """The body of a GetObject answer, read through botocore's StreamingBody (never its raw urllib3 stream, which
    `with response["Body"]` yields): its read() turns a connection broken mid-body into ResponseStreamingError,
    checks the bytes against Content-Length (IncompleteReadError) and, where S3 sent a checksum, the checksum.
    Any failure while reading is transient: S3 answered, so the same GetObject is likely to succeed again.
    None, with nothing read, where the object is over max_bytes."""
    body = response["Body"]
    try:
        return body.read() if response["ContentLength"] <= max_bytes else None
    except (BotoCoreError, HTTPError, OSError) as exc:
        detail = f"GetObject s3://{bucket}/{key} failed while reading the body: {type(exc).__name__}: {exc}"
        raise StorageError("storage-unavailable", detail, transient=True) from exc
    finally:
        body.close()


class Storage:
    def __init__(self, s3: object) -> None:
        self._s3 = s3

    def fetch(self, bucket: str, key: str, max_bytes: int, version: dict[str, str] | None = None) -> Fetched:
        """The object, with its body only where S3 says it holds at most max_bytes; a bigger one is not read.
        `version`: GetObject's IfMatch or VersionId (SourceVersion.read_params); a version no longer current
        is a precondition-failed StorageError."""
        try:
            response = self._s3.get_object(Bucket=bucket, Key=key, **(version or {}))
        except (ClientError, BotoCoreError) as exc:
            raise _storage_error(exc, "GetObject", bucket, key) from exc
        data = _read(response, max_bytes, bucket, key)
        return Fetched(
            size=response["ContentLength"],
            data=data,
            metadata=response.get("Metadata", {}),
            headers={name: response[name] for name in CARRIED_HEADERS + ORIGINAL_HEADERS if response.get(name)},
            etag=response.get("ETag", ""),
        )

    def existing(self, bucket: str, key: str) -> Existing | None:
        """The object at bucket/key (HeadObject), or None where there is none."""
        try:
            response = self._s3.head_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as exc:
            error = _storage_error(exc, "HeadObject", bucket, key)
            if error.reason == MISSING_OBJECT:
                return None
            raise error from exc
        return Existing(response.get("ETag", ""), response.get("Metadata", {}))

    def publish(self, bucket: str, key: str, data: bytes, envelope: Envelope, condition: Condition = NONE) -> None:
        """One PutObject carrying the bytes, the metadata and the tags, so no reader sees an untagged output;
        `condition` makes it fail (precondition-failed) where the object at the key is no longer the one read."""
        try:
            self._s3.put_object(Bucket=bucket, Key=key, Body=data, **envelope.params(), **condition)
        except (ClientError, BotoCoreError) as exc:
            raise _conflict_or(_storage_error(exc, "PutObject", bucket, key), condition) from exc

    def delete(self, bucket: str, key: str, etag: str = "") -> None:
        """DeleteObject (a delete marker where the bucket is versioned); with `etag`, only while the object is still
        that one (IfMatch: precondition-failed where it was replaced since it was read, missing-object where it is
        gone)."""
        condition = {"IfMatch": etag} if etag else {}
        try:
            self._s3.delete_object(Bucket=bucket, Key=key, **condition)
        except (ClientError, BotoCoreError) as exc:
            raise _storage_error(exc, "DeleteObject", bucket, key) from exc

    def copy(self, source: tuple[str, str], bucket: str, key: str, envelope: Envelope, source_etag: str = "",
             condition: Condition = NONE) -> None:
        """One server-side CopyObject of the source's bytes (at most COPY_LIMIT), under the envelope's type,
        metadata, headers and tags instead of the source's: the bytes never pass through the function. With
        `source_etag`, only that version is copied; `condition` as for publish. (moto 5.2.5, which the tests
        run against, ignores both on CopyObject; S3 honours them.)"""
        pinned = {"CopySourceIfMatch": source_etag} if source_etag else {}
        try:
            self._s3.copy_object(
                CopySource={"Bucket": source[0], "Key": source[1]},
                Bucket=bucket,
                Key=key,
                MetadataDirective="REPLACE",
                TaggingDirective="REPLACE",
                **envelope.params(),
                **pinned,
                **condition,
            )
        except (ClientError, BotoCoreError) as exc:
            raise _conflict_or(_storage_error(exc, "CopyObject", bucket, key), condition) from exc


def _conflict_or(error: StorageError, condition: Condition) -> StorageError:
    """A write on IfMatch that finds no object (deleted since it was read) is a failed precondition too."""
    if "IfMatch" in condition and error.reason == MISSING_OBJECT:
        return StorageError(PRECONDITION_FAILED, error.detail, transient=False)
    return error
