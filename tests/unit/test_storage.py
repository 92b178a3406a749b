"""How S3's failures are classified: transient (a retry may succeed) or a permanent refusal, with a reason."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from handler.aws.storage import _storage_error


def refusal(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


@pytest.mark.parametrize(
    ("code", "status", "reason"),
    [
        ("MetadataTooLarge", 400, "storage-refused"),
        ("EntityTooLarge", 400, "storage-refused"),
        ("KeyTooLongError", 400, "storage-refused"),
        ("InvalidTag", 400, "storage-refused"),
        ("InvalidRequest", 400, "storage-refused"),
        ("InvalidObjectState", 403, "archived-object"),
        ("AccessDenied", 403, "access-denied"),
        ("NoSuchBucket", 404, "missing-bucket"),
        ("PreconditionFailed", 412, "precondition-failed"),
        ("412", 412, "precondition-failed"),  # HeadObject's: no body, so botocore names the code by the status
        ("ConditionalRequestConflict", 409, "precondition-failed"),
    ],
)
def test_a_refusal_is_permanent_and_says_what_failed_for_which_object_and_the_code(code, status, reason):
    error = _storage_error(refusal(code, status), "PutObject", "out", "a/b.jpg")
    assert (error.reason, error.transient) == (reason, False)
    assert "PutObject s3://out/a/b.jpg" in error.detail and code in error.detail and str(status) in error.detail


@pytest.mark.parametrize(
    ("code", "status"),
    [("InternalError", 500), ("ServiceUnavailable", 503), ("SlowDown", 503), ("RequestTimeout", 400),
     ("RequestTimeTooSkewed", 403), ("Throttling", 400), ("ThrottlingException", 400), ("TooManyRequests", 429),
     ("Anything", 408)],
)
def test_server_errors_throttling_and_timeouts_are_transient(code, status):
    error = _storage_error(refusal(code, status), "GetObject", "up", "k")
    assert (error.reason, error.transient) == ("storage-unavailable", True)


def test_no_answer_at_all_is_transient():
    error = _storage_error(EndpointConnectionError(endpoint_url="http://x"), "GetObject", "up", "k")
    assert (error.reason, error.transient) == ("storage-unavailable", True)
    assert "GetObject s3://up/k failed: EndpointConnectionError" == error.detail
