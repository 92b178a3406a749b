"""API Gateway (REST, Lambda proxy) -> handler -> core or S3, with the sample events in events/ and a moto
S3 server over HTTP."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import boto3
import pytest
from PIL import Image

from handler.aws import api
from handler.settings import TARGET_METADATA
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


def with_query(event: dict, **query: str) -> dict:
    event["queryStringParameters"] = query or None
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()} or None
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
    return with_query(sample("api-quality"), **query)


def upload(app, key: str = KEY, data: bytes | None = None) -> bytes:
    body = (PHOTOS / "Kodak_DC240.jpg").read_bytes() if data is None else data
    boto3.client("s3").put_object(Bucket=app.locations.upload_bucket, Key=key, Body=body)
    return body


def output_keys(app) -> list[str]:
    listing = boto3.client("s3").list_objects_v2(Bucket=app.locations.output_bucket)
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


def test_a_kept_image_sent_as_svg_comes_back_under_its_detected_type_and_nosniff(app):
    tiny = encoded(Image.new("RGB", (16, 16), "red"), "PNG")
    response = api.handle(app, image_event(tiny, content_type="image/svg+xml"))
    assert response["statusCode"] == 200 and base64.b64decode(response["body"]) == tiny
    assert (response["headers"]["Content-Type"], response["headers"]["X-Content-Type-Options"]) == ("image/png",
                                                                                                   "nosniff")
    assert "Content-Disposition" not in response["headers"]


@pytest.mark.parametrize(("body", "sent"), [(b"<html><script>alert(1)</script></html>", "text/html"),
                                            (b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>',
                                             "image/svg+xml")])
def test_a_page_or_an_svg_sent_as_a_body_is_never_answered_with_its_bytes(app, body, sent):
    response = api.handle(app, image_event(body, content_type=sent))
    assert_error(response, 422, "not-an-image")
    assert response["headers"]["Content-Type"] == "application/json" and body not in response["body"].encode()


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
    assert f"s3://{app.locations.upload_bucket}/" in body["detail"]


def test_the_size_limit_counts_base64_and_the_envelope_against_lambda_and_the_raw_body_against_api_gateway():
    limit = (api.LAMBDA_SYNC_PAYLOAD_BYTES - api.ENVELOPE_BYTES) // 4 * 3
    assert api.fits(limit) and not api.fits(limit + 1)
    assert api.encoded_size(3) == 4 and api.encoded_size(4) == 8
    assert api.API_GATEWAY_PAYLOAD_BYTES == 10 * 1024 * 1024 and api.LAMBDA_SYNC_PAYLOAD_BYTES == 6 * 1024 * 1024


@pytest.mark.parametrize("target", ["70", "90"])
def test_a_request_can_ask_for_another_preset_and_the_output_reaches_it(app, target):
    data = (PHOTOS / "Kodak_DC240.jpg").read_bytes()
    response = api.handle(app, with_query(image_event(data, accept="application/json"), target=target))
    record = body_of(response)
    assert response["headers"]["X-Optimal-Image-Target"] == target and record["target"] == int(target)
    assert record["outcome"] == "optimized" and record["score"] >= int(target)


def test_a_higher_target_asked_for_gives_a_higher_quality_than_the_stacks(app):
    data = (PHOTOS / "Kodak_DC240.jpg").read_bytes()
    default = api.handle(app, image_event(data))["headers"]
    higher = api.handle(app, with_query(image_event(data), target="90"))["headers"]
    assert default["X-Optimal-Image-Target"] == "80"
    assert int(higher["X-Optimal-Image-Quality"]) > int(default["X-Optimal-Image-Quality"])
    assert int(higher["X-Optimal-Image-Bytes-Out"]) > int(default["X-Optimal-Image-Bytes-Out"])


@pytest.mark.parametrize(("query", "reason"), [({"target": "75"}, "bad-target"), ({"target": "high"}, "bad-target"),
                                               ({"quality": "50"}, "unknown-field")])
def test_a_target_that_is_not_a_preset_or_another_query_parameter_is_400(app, query, reason):
    response = api.handle(app, with_query(image_event(encoded(photo_like(), quality=97)), **query))
    body = assert_error(response, 400, reason)
    assert "70, 80, 85, 90" in body["detail"] if reason == "bad-target" else "quality" in body["detail"]


def test_an_uploads_own_preset_applies_to_a_key_request_unless_the_query_names_another(app):
    boto3.client("s3").put_object(Bucket=app.locations.upload_bucket, Key=KEY, Metadata={TARGET_METADATA: "90"},
                                  Body=(PHOTOS / "Kodak_DC240.jpg").read_bytes())
    own = api.handle(app, quality_event(key=KEY))
    asked = api.handle(app, quality_event(key=KEY, target="70"))
    assert body_of(own)["target"] == 90 and own["headers"]["X-Optimal-Image-Target"] == "90"
    assert body_of(asked)["target"] == 70 and asked["headers"]["X-Optimal-Image-Target"] == "70"


# ------------------------------------------------------------------------------------------ POST /optimize key


def test_the_sample_key_event_processes_that_upload_into_the_output_bucket(app):
    data = upload(app)
    response = api.handle(app, sample("api-optimize-key"))
    assert response["statusCode"] == 200
    record = body_of(response)
    assert (record["bucket"], record["key"], record["output_key"]) == (app.locations.upload_bucket, KEY, KEY)
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
        ('{"key": ' + "[" * 100_000 + "]" * 100_000 + "}", "malformed-json"),  # RecursionError in json.loads
        ('{"key": "a.jpg", "n": ' + "9" * 5_000 + "}", "malformed-json"),  # over int_max_str_digits: ValueError
    ],
    ids=["cut-short", "array", "empty", "empty-key", "number-key", "unknown-field", "deeply-nested", "long-integer"],
)
def test_a_malformed_key_request_is_400(app, body, reason):
    assert_error(api.handle(app, key_event(body)), 400, reason)


def test_a_key_request_takes_the_target_from_the_query_and_the_output_is_tagged_with_it(app, buckets):
    upload(app)
    record = body_of(api.handle(app, with_query(sample("api-optimize-key"), target="85")))
    tags = boto3.client("s3").get_object_tagging(Bucket=buckets[1], Key=KEY)["TagSet"]
    assert record["target"] == 85 and {"Key": "target", "Value": "85"} in tags


def test_a_target_in_the_json_body_is_400_and_says_it_goes_in_the_query(app):
    body = assert_error(api.handle(app, key_event({"key": KEY, "target": 85})), 400, "unknown-field")
    assert "?target=" in body["detail"]


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


def test_quality_answers_at_the_target_asked_for(app):
    upload(app)
    at_80 = body_of(api.handle(app, quality_event(key=KEY)))
    at_90 = body_of(api.handle(app, quality_event(key=KEY, target="90")))
    assert (at_80["target"], at_90["target"]) == (80, 90)
    assert at_90["score"] >= 90 and at_90["quality"] > at_80["quality"]


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
        ({"key": KEY, "target": "95"}, 400, "bad-target"),
        ({"key": KEY, "quality": "50"}, 400, "unknown-field"),
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


def test_an_unexpected_exception_is_a_500_json_without_a_stack_trace(app, monkeypatch):
    def broken(*args):
        raise RuntimeError("secret internals")

    # the core turns its own faults into an internal-error record (tests/unit/test_bad_input.py): break the edge
    monkeypatch.setattr(api, "optimize", broken)
    response = api.handle(app, image_event(encoded(photo_like(), quality=97)))
    body = assert_error(response, 500, "internal-error")
    assert "secret" not in response["body"] and "Traceback" not in response["body"]
    assert sample("api-optimize-image")["requestContext"]["requestId"] in body["detail"]
