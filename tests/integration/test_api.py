"""API Gateway (REST, Lambda proxy) -> handler -> core or S3, with the sample events in events/ and a moto
S3 server over HTTP."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace
from pathlib import Path

import boto3
import pytest
from PIL import Image

from handler import api
from tests.conftest import PHOTOS, encoded, photo_like, unreachable
from tests.integration.test_s3_event import keeping, multi_picture_jpeg

EVENTS = Path(__file__).resolve().parents[2] / "events"
KEY = "photos/my photo.jpg"


def sample(name: str) -> dict:
    return json.loads((EVENTS / f"{name}.json").read_text())


def set_header(event: dict, name: str, value: str | None) -> dict:
    """Replace (or, with None, remove) a header in both maps, whatever the case it was written in."""
    for field in ("headers", "multiValueHeaders"):
        headers = event.get(field) or {}
        for existing in [h for h in headers if h.lower() == name.lower()]:
            del headers[existing]
        if value is not None:
            headers[name] = value if field == "headers" else [value]
        event[field] = headers
    return event


def image_event(data: bytes, content_type: str = "image/jpeg", accept: str = "*/*") -> dict:
    event = sample("api-optimize-image")
    event["body"] = base64.b64encode(data).decode("ascii")
    set_header(event, "Content-Length", str(len(data)))
    set_header(event, "Content-Type", content_type)
    return set_header(event, "Accept", accept)


def key_event(fields: dict | str) -> dict:
    event = sample("api-optimize-key")
    body = fields if isinstance(fields, str) else json.dumps(fields)
    event["body"] = base64.b64encode(body.encode("utf-8")).decode("ascii")
    return event


def quality_event(**query: str) -> dict:
    event = sample("api-quality")
    event["queryStringParameters"] = query or None
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
    return event


def upload(app, key: str = KEY, data: bytes | None = None) -> bytes:
    body = (PHOTOS / "Kodak_DC240.jpg").read_bytes() if data is None else data
    boto3.client("s3").put_object(Bucket=app.settings.upload_bucket, Key=key, Body=body)
    return body


def output_keys(app) -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=app.settings.output_bucket)
    return [o["Key"] for o in listing.get("Contents", [])]


def body_of(response: dict) -> dict:
    assert response["headers"]["Content-Type"] == "application/json" and not response["isBase64Encoded"]
    return json.loads(response["body"])


def assert_error(response: dict, status: int, reason: str) -> dict:
    assert response["statusCode"] == status
    body = body_of(response)
    assert set(body) == {"error", "detail"} and body["error"] == reason
    return body


# ---------------------------------------------------------------------------------------- POST /optimize image


def test_the_sample_image_event_answers_with_an_image_in_base64_and_the_result_in_headers(app):
    event = sample("api-optimize-image")
    response = api.handle(app, event)
    assert response["statusCode"] == 200 and response["isBase64Encoded"] is True
    data = base64.b64decode(response["body"])
    headers = response["headers"]
    assert headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(data)).size == (16, 16)
    assert headers["X-Optimal-Image-Bytes-In"] == str(len(base64.b64decode(event["body"])))
    assert headers["X-Optimal-Image-Bytes-Out"] == str(len(data))
    assert headers["X-Optimal-Image-Model-Version"] == app.model.version


def test_a_photo_comes_back_smaller_with_quality_bpp_bytes_and_outcome_headers(app):
    data = (PHOTOS / "Kodak_DC240.jpg").read_bytes()
    response = api.handle(app, image_event(data))
    out = base64.b64decode(response["body"])
    assert len(out) < len(data)
    assert Image.open(io.BytesIO(out)).size == Image.open(io.BytesIO(data)).size
    headers = response["headers"]
    assert headers["X-Optimal-Image-Outcome"] == "optimized"
    assert headers["X-Optimal-Image-Reason"] in ("verified", "predicted")
    assert 1 <= int(headers["X-Optimal-Image-Quality"]) <= 100
    assert headers["X-Optimal-Image-Bpp"] == f"{8 * len(data) / (640 * 480):.3f}"
    assert (headers["X-Optimal-Image-Bytes-In"], headers["X-Optimal-Image-Bytes-Out"]) == (
        str(len(data)),
        str(len(out)),
    )


def test_sending_an_image_reads_and_writes_no_bucket(app):
    api.handle(app, image_event(encoded(photo_like(), quality=97)))
    assert output_keys(app) == []


def test_accept_application_json_answers_with_the_record_and_no_image(app):
    response = api.handle(app, sample("api-optimize-json"))
    assert response["statusCode"] == 200
    record = body_of(response)
    assert {"outcome", "reason", "quality", "bpp", "bytes_in", "bytes_out", "model_version"} <= set(record)
    assert response["headers"]["X-Optimal-Image-Outcome"] == record["outcome"]


@pytest.mark.parametrize("accept", ["image/jpeg, application/json;q=0.5", "*/*", "image/*"])
def test_an_accept_header_that_ranks_an_image_first_gets_the_image(app, accept):
    response = api.handle(app, image_event(encoded(photo_like(), quality=97), accept=accept))
    assert response["isBase64Encoded"] is True


@pytest.mark.parametrize("where", ["headers", "multiValueHeaders"])
def test_header_names_are_matched_in_any_case_in_either_map(app, where):
    event = image_event(encoded(photo_like(), quality=97))
    set_header(event, "Accept", None)
    event[where]["aCCePT"] = "application/json" if where == "headers" else ["application/json"]
    assert body_of(api.handle(app, event))["outcome"] == "optimized"


def test_an_image_that_cannot_be_made_smaller_comes_back_unchanged_with_its_own_type(app):
    tiny = encoded(Image.new("RGB", (16, 16), "red"), "PNG")
    response = api.handle(app, image_event(tiny, content_type="application/octet-stream"))
    assert response["statusCode"] == 200 and base64.b64decode(response["body"]) == tiny
    assert response["headers"]["Content-Type"] == "image/png"
    assert response["headers"]["X-Optimal-Image-Outcome"] == "original-kept"
    assert "X-Optimal-Image-Quality" in response["headers"]


@pytest.mark.parametrize("sent", ["image/jpeg", "application/octet-stream"])
def test_a_multi_picture_jpeg_comes_back_as_image_jpeg_never_image_mpo(app, sent):
    """Both when the original is published (kept) and when it is optimized."""
    for app_, outcome in ((keeping(app), "original-kept"), (app, "optimized")):
        response = api.handle(app_, image_event(multi_picture_jpeg(), content_type=sent))
        assert response["headers"]["X-Optimal-Image-Outcome"] == outcome
        assert response["headers"]["Content-Type"] == "image/jpeg"
        event = image_event(multi_picture_jpeg(), content_type=sent, accept="application/json")
        assert body_of(api.handle(app_, event))["content_type"] == "image/jpeg"


def test_quality_names_image_jpeg_for_a_multi_picture_jpeg(app):
    upload(app, data=multi_picture_jpeg())
    for app_ in (keeping(app), app):
        assert body_of(api.handle(app_, quality_event(key=KEY)))["content_type"] == "image/jpeg"


def test_a_body_that_is_not_an_image_is_422_with_the_cores_reason(app):
    response = api.handle(app, image_event(b"just some text", content_type="text/plain"))
    assert_error(response, 422, "not-an-image")
    assert response["headers"]["X-Optimal-Image-Outcome"] == "rejected"


def test_a_request_without_a_body_is_400(app):
    event = sample("api-optimize-image")
    event["body"] = None
    assert_error(api.handle(app, event), 400, "missing-body")


def test_a_body_whose_base64_is_over_the_lambda_payload_limit_is_413_and_names_the_bucket(app):
    limit = (api.LAMBDA_SYNC_PAYLOAD_BYTES - api.ENVELOPE_BYTES) // 4 * 3  # bytes whose base64 fits
    body = assert_error(api.handle(app, image_event(b"\xff" * (limit + 1))), 413, "too-large")
    assert limit < api.LAMBDA_SYNC_PAYLOAD_BYTES  # the limit is on the encoded size, not the raw one
    assert f"s3://{app.settings.upload_bucket}/" in body["detail"]


def test_the_size_limit_counts_base64_and_the_envelope_against_lambda_and_the_raw_body_against_api_gateway():
    limit = (api.LAMBDA_SYNC_PAYLOAD_BYTES - api.ENVELOPE_BYTES) // 4 * 3
    assert api.fits(limit) and not api.fits(limit + 1)
    assert api.encoded_size(3) == 4 and api.encoded_size(4) == 8
    assert api.API_GATEWAY_PAYLOAD_BYTES == 10 * 1024 * 1024 and api.LAMBDA_SYNC_PAYLOAD_BYTES == 6 * 1024 * 1024


# ------------------------------------------------------------------------------------------ POST /optimize key


def test_the_sample_key_event_processes_that_upload_into_the_output_bucket(app):
    data = upload(app)
    response = api.handle(app, sample("api-optimize-key"))
    assert response["statusCode"] == 200
    record = body_of(response)
    assert (record["bucket"], record["key"], record["output_key"]) == (app.settings.upload_bucket, KEY, KEY)
    assert record["outcome"] == "optimized" and record["bytes_in"] == len(data)
    assert output_keys(app) == [KEY]
    assert response["headers"]["X-Optimal-Image-Quality"] == str(record["quality"])


def test_a_key_request_that_names_a_bucket_is_400_and_reads_nothing(app, buckets):
    _, output = buckets
    response = api.handle(app, key_event({"bucket": output, "key": KEY}))
    assert_error(response, 400, "bucket-not-allowed")
    assert output_keys(app) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"key": "a.jpg"', "malformed-json"),
        ('["a.jpg"]', "malformed-json"),
        ("{}", "missing-key"),
        ('{"key": ""}', "missing-key"),
        ('{"key": 7}', "missing-key"),
        ('{"key": "a.jpg", "quality": 50}', "unknown-field"),
    ],
)
def test_a_malformed_key_request_is_400(app, body, reason):
    assert_error(api.handle(app, key_event(body)), 400, reason)


def test_a_key_that_is_not_in_the_upload_bucket_is_404(app):
    assert_error(api.handle(app, key_event({"key": "never-uploaded.jpg"})), 404, "missing-object")


def test_s3_out_of_reach_is_503(app):
    assert_error(api.handle(unreachable(app), key_event({"key": KEY})), 503, "storage-unavailable")


# ------------------------------------------------------------------------------------------------ GET /quality


def test_quality_answers_for_an_upload_and_writes_nothing(app):
    upload(app)
    response = api.handle(app, sample("api-quality"))
    record = body_of(response)
    assert response["statusCode"] == 200 and output_keys(app) == []
    assert record["key"] == KEY and record["outcome"] == "optimized"
    assert {"quality", "bpp", "score", "subsampling", "bytes_out"} <= set(record)


def test_quality_gives_the_decision_that_processing_then_makes(app):
    upload(app)
    predicted = body_of(api.handle(app, quality_event(key=KEY)))
    processed = body_of(api.handle(app, key_event({"key": KEY})))
    assert predicted == processed


@pytest.mark.parametrize(
    ("query", "status", "reason"),
    [
        ({}, 400, "missing-key"),
        ({"key": KEY, "bucket": "someone-elses"}, 400, "bucket-not-allowed"),
        ({"key": "never-uploaded.jpg"}, 404, "missing-object"),
    ],
)
def test_a_bad_quality_request_is_a_4xx_json_error(app, query, status, reason):
    assert_error(api.handle(app, quality_event(**query)), status, reason)


# ----------------------------------------------------------------------------------------------------- edges


def test_a_wrong_method_is_405_and_says_which_are_allowed(app):
    event = sample("api-quality")
    event["httpMethod"] = "DELETE"
    response = api.handle(app, event)
    assert_error(response, 405, "method-not-allowed")
    assert response["headers"]["Allow"] == "GET"


def test_an_unknown_route_is_404(app):
    event = sample("api-quality")
    event["resource"] = event["path"] = "/optimise"
    assert_error(api.handle(app, event), 404, "no-such-route")


def test_an_unexpected_exception_is_a_500_json_without_a_stack_trace(app):
    def broken_chooser(*args):
        raise RuntimeError("secret internals")

    response = api.handle(replace(app, choose=broken_chooser), image_event(encoded(photo_like(), quality=97)))
    body = assert_error(response, 500, "internal-error")
    assert "secret" not in response["body"] and "Traceback" not in response["body"]
    assert sample("api-optimize-image")["requestContext"]["requestId"] in body["detail"]
