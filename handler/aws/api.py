"""Entry point for API Gateway (REST API, Lambda proxy integration): a thin adapter over the core.

    POST /optimize  image body       -> the optimized image; with `Accept: application/json`, its record instead
    POST /optimize  {"key": "..."}   -> the S3 pipeline on the upload bucket; the record as JSON
    GET  /quality?key=...            -> what processing that upload would decide, with nothing written

Each takes `?target=` (70, 80, 85 or 90) for this request instead of the stack's TARGET, or instead of the
target an upload asks for in its metadata (handler.settings.TARGET_METADATA), and `?formats=` (jpeg,avif,webp)
instead of the stack's FORMATS. An image answer is the smallest verified variant the Accept header names (Vary:
Accept), else the JPEG.

Every answer that is not an image is JSON; every error is `{"error": reason, "detail": ...}`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from handler import log
from handler.aws import metrics
from handler.aws.pipeline import evaluate_object, process_object
from handler.aws.wiring import App, app
from handler.core import optimize
from handler.errors import ConfigError, OptimalImageError, StorageError
from handler.result import REJECTED, Decision, Result
from handler.settings import formats, preset

app()  # settings and model at import time: the cold start pays once, not the first request

MIB = 1024 * 1024
LAMBDA_SYNC_PAYLOAD_BYTES = 6 * MIB
"""Lambda's limit on a synchronous invocation's request and on its response: the whole JSON event or answer,
in which a binary body travels base64-encoded (4 characters per 3 bytes). An event over it never reaches the
function (API Gateway answers 413 itself, with its own body); the check here keeps a margin and guards the
response.
https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"""
API_GATEWAY_PAYLOAD_BYTES = 10 * MIB
"""API Gateway's limit on a REST API request body (it answers 413 itself above it).
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-execution-service-limits-table.html"""
ENVELOPE_BYTES = 64 * 1024
"""Room kept for what surrounds the body in the event or the answer: headers, request context, JSON."""

HEADER_PREFIX = "X-Optimal-Image-"
JSON = "application/json"


@log.invocation(lambda event: (event.get("requestContext") or {}).get("requestId"))
def lambda_handler(event: dict[str, Any], context: object = None) -> dict[str, Any]:
    return handle(app(), event)


class HttpError(OptimalImageError):
    """An answer other than success, with the HTTP status it maps to."""

    def __init__(self, status: int, reason: str, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(reason, detail)
        self.status = status
        self.headers = dict(headers or {})


# ------------------------------------------------------------------------------------------------ request


@dataclass(frozen=True)
class Request:
    """The parts of an API Gateway proxy event this API reads, header names lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    query: dict[str, str]
    body: str | None
    is_base64: bool

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> Request:
        return cls(
            method=str(event.get("httpMethod", "")).upper(),
            path=event.get("resource") or event.get("path") or "",
            headers=_merged(event.get("headers"), event.get("multiValueHeaders"), str.lower, ", ".join),
            query=_merged(
                event.get("queryStringParameters"), event.get("multiValueQueryStringParameters"), str, _last
            ),
            body=event.get("body"),
            is_base64=bool(event.get("isBase64Encoded")),
        )

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    def media_type(self) -> str:
        return _media_type(self.header("content-type"))

    def data(self) -> bytes:
        """The body's bytes (API Gateway base64-encodes every body here: BinaryMediaTypes is */*)."""
        if not self.body:
            raise HttpError(400, "missing-body", "send the image as the request body, or a JSON {\"key\": ...}")
        if not self.is_base64:
            return self.body.encode("utf-8")
        try:
            return base64.b64decode(self.body, validate=True)
        except binascii.Error as exc:
            raise HttpError(400, "bad-base64", f"the body is marked base64 but is not ({exc})") from exc

    def json(self) -> dict[str, Any]:
        try:
            fields = json.loads(self.data())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HttpError(400, "malformed-json", f"the body is not JSON ({exc})") from exc
        except RecursionError as exc:  # arrays or objects nested deeper than Python's recursion limit
            raise HttpError(400, "malformed-json", "the body nests JSON too deeply") from exc
        except ValueError as exc:  # an integer over Python's int_max_str_digits (4,300 digits)
            raise HttpError(400, "malformed-json", f"the body holds a number too long ({exc})") from exc
        if not isinstance(fields, dict):
            raise HttpError(400, "malformed-json", 'the body must be a JSON object: {"key": "..."}')
        return fields


def _last(values: list[str]) -> str:
    return values[-1]


def _merged(
    single: Mapping[str, str] | None,
    multi: Mapping[str, list[str]] | None,
    name: Callable[[str], str],
    join: Callable[[list[str]], str],
) -> dict[str, str]:
    """API Gateway's single-value map, overridden by its multi-value map where that has values."""
    merged = {name(k): v for k, v in (single or {}).items() if v is not None}
    merged.update({name(k): join(v) for k, v in (multi or {}).items() if v})
    return merged


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def _media_ranges(accept: str) -> Iterator[tuple[str, float]]:
    for part in accept.split(","):
        media, *params = part.split(";")
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media.strip():
            yield media.strip().lower(), quality


def prefers_json(accept: str) -> bool:
    """True where the client ranks application/json first (by q, then by order) in its Accept header."""
    ranked = sorted(_media_ranges(accept), key=lambda r: -r[1])
    return bool(ranked) and ranked[0][0] == JSON


def is_json(media_type: str) -> bool:
    return media_type == JSON or media_type.endswith("+json")


def only(fields: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    """Refuse any field but `allowed`: a misspelt or unsupported one would otherwise be ignored unseen."""
    if "bucket" in fields:
        raise HttpError(400, "bucket-not-allowed", "only the configured upload bucket is read: send the key alone")
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        hint = " (the target goes in the query: ?target=85)" if "target" in unknown else ""
        detail = f"unexpected {', '.join(unknown)} in the {where}, which takes {', '.join(allowed)}{hint}"
        raise HttpError(400, "unknown-field", detail)


def requested_target(request: Request, allowed: tuple[str, ...]) -> int | None:
    """The target the query asks for (`?target=85`, one of the presets), if any; without it, the upload's own
    (where one is read and asks for one), else the stack's."""
    only(request.query, (*allowed, "target"), "query")
    if "target" not in request.query:
        return None
    try:
        return preset(request.query["target"])
    except ConfigError as exc:
        raise HttpError(400, "bad-target", str(exc)) from exc


def requested_formats(app: App, request: Request) -> App:
    """The app with the formats the query asks for (`?formats=jpeg,avif`, as FORMATS), else as it is."""
    if "formats" not in request.query:
        return app
    try:
        wanted = formats(request.query["formats"], "formats")
    except ConfigError as exc:
        raise HttpError(400, "bad-formats", str(exc)) from exc
    return replace(app, settings=replace(app.settings, formats=wanted))


def accepted(accept: str, content_type: str) -> bool:
    """Whether the Accept header names `content_type` itself with a q above 0. A wildcard (*/*, image/*) is not
    enough: curl and many clients send */* without being able to show AVIF, and browsers that can name it."""
    return any(media == content_type and quality > 0 for media, quality in _media_ranges(accept))


def negotiated(decision: Decision, accept: str) -> tuple[bytes, Result]:
    """The smallest of the output and its verified variants that the Accept header allows (the output, a JPEG or the
    original, is always allowed: it is what a client that names no variant type gets)."""
    for output in decision.variants:  # smallest first, each smaller than the output
        if accepted(accept, output.content_type):
            return output.data, decision.result.of_variant(output)
    return decision.data, decision.result


VARY = {"Vary": "Accept"}
"""POST /optimize with an image answers by the Accept header (the record, a variant or the JPEG): caches key on it."""


def requested_key(fields: Mapping[str, Any]) -> str:
    """The upload's key: the bucket is always the configured upload bucket."""
    key = fields.get("key")
    if not isinstance(key, str) or not key:
        raise HttpError(400, "missing-key", 'name the upload: {"key": "..."} or ?key=...')
    if len(key.encode("utf-8")) > 1024:
        raise HttpError(400, "bad-key", "an S3 key is at most 1024 bytes")
    return key


# ----------------------------------------------------------------------------------------------- response


def encoded_size(size: int) -> int:
    """Length of `size` bytes in base64."""
    return 4 * ((size + 2) // 3)


def fits(size: int) -> bool:
    """Whether a body of `size` bytes passes API Gateway and, base64-encoded with its envelope, Lambda."""
    return size <= API_GATEWAY_PAYLOAD_BYTES and encoded_size(size) + ENVELOPE_BYTES <= LAMBDA_SYNC_PAYLOAD_BYTES


def require_fit(app: App, size: int, what: str) -> None:
    """413, pointing at the upload bucket (which takes any size), where `size` bytes cannot be carried."""
    if not fits(size):
        where = app.locations
        raise HttpError(
            413,
            "too-large",
            f"the {what} ({size} bytes) is over what a synchronous API call can carry: upload the image to "
            f"s3://{where.upload_bucket}/ instead; its optimized copy appears in "
            f"s3://{where.output_bucket}/{where.output_prefix} under the same key",
        )


def result_headers(result: Result | None) -> dict[str, str]:
    """X-Optimal-Image-<Field> for each field the output's tags carry: one name per field of Result."""
    if result is None:
        return {}
    return {
        HEADER_PREFIX + "-".join(word.capitalize() for word in field.split("_")): value
        for field, value in result.tags().items()
        if value != ""
    }


def json_response(status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {**(headers or {}), "Content-Type": JSON},
        "body": json.dumps(body, default=str),
        "isBase64Encoded": False,
    }


def error_response(error: HttpError) -> dict[str, Any]:
    return json_response(error.status, {"error": error.reason, "detail": error.detail}, error.headers)


def image_response(data: bytes, result: Result, headers: Mapping[str, str]) -> dict[str, Any]:
    """The published bytes under the type and disposition the core chose, never the type they were sent with;
    nosniff keeps a browser from guessing another."""
    disposition = {"Content-Disposition": result.content_disposition} if result.content_disposition else {}
    return {
        "statusCode": 200,
        "headers": {**headers, **disposition, "Content-Type": result.content_type, "X-Content-Type-Options": "nosniff"},
        "body": base64.b64encode(data).decode("ascii"),
        "isBase64Encoded": True,
    }


def storage_error(exc: StorageError) -> HttpError:
    """A missing upload is the caller's 404; S3 being unreachable is 503 (retry); S3 refusing us is 502."""
    if exc.reason == "missing-object":
        return HttpError(404, exc.reason, "no such key in the upload bucket")
    return HttpError(503 if exc.transient else 502, exc.reason, exc.detail)


# ------------------------------------------------------------------------------------------------- routes


def optimize_route(app: App, request: Request) -> dict[str, Any]:
    if is_json(request.media_type()):
        return optimize_key(app, request)
    return optimize_body(app, request)


def optimize_body(app: App, request: Request) -> dict[str, Any]:
    """The core on the request's bytes; nothing read from or written to S3. The answer is the record (Accept
    prefers JSON), else the smallest verified image the Accept header allows (`negotiated`)."""
    target = requested_target(request, ("formats",))
    app = requested_formats(app, request)
    data = request.data()
    require_fit(app, len(data), "request body")
    settings = app.settings.for_call(target, {})
    start = time.perf_counter()
    decision = optimize(data, settings, app.model)
    result = decision.result
    metrics.handled(result.as_dict(), time.perf_counter() - start)
    log.emit("processed", logging.INFO, source="api", **result.as_dict())
    headers = {**result_headers(result), **VARY}
    if result.outcome == REJECTED:
        raise HttpError(422, result.reason, result.detail, headers)
    if prefers_json(request.header("accept")):
        return json_response(200, result.as_dict(), headers)
    output, served = negotiated(decision, request.header("accept"))
    require_fit(app, len(output), "optimized image")  # outputs are never larger than inputs: a safety net
    return image_response(output, served, {**result_headers(result), **result_headers(served), **VARY})


def optimize_key(app: App, request: Request) -> dict[str, Any]:
    target = requested_target(request, ("formats",))
    app = requested_formats(app, request)
    fields = request.json()
    only(fields, ("key",), "body")
    key = requested_key(fields)
    processed = process_object(app, app.locations.upload_bucket, key, target)
    return json_response(200, processed.as_dict(), result_headers(processed.result))


def quality_route(app: App, request: Request) -> dict[str, Any]:
    target = requested_target(request, ("key", "formats"))
    app = requested_formats(app, request)
    key = requested_key(request.query)
    processed = evaluate_object(app, app.locations.upload_bucket, key, target)
    return json_response(200, processed.as_dict(), result_headers(processed.result))


Route = Callable[[App, Request], dict[str, Any]]
ROUTES: dict[str, dict[str, Route]] = {
    "/optimize": {"POST": optimize_route},
    "/quality": {"GET": quality_route},
}


def route(request: Request) -> Route:
    methods = ROUTES.get(request.path)
    if methods is None:
        raise HttpError(404, "no-such-route", f"{request.path} is not a route: POST /optimize, GET /quality")
    if request.method not in methods:
        allowed = ", ".join(methods)
        raise HttpError(405, "method-not-allowed", f"{request.path} takes {allowed}", {"Allow": allowed})
    return methods[request.method]


def handle(app: App, event: dict[str, Any]) -> dict[str, Any]:
    """The one place where failures become answers: expected ones as 4xx/5xx JSON, anything else as a 500
    that names the request id (the stack trace goes to the log, never to the caller)."""
    request_id = str((event.get("requestContext") or {}).get("requestId") or "?")
    try:
        request = Request.of(event)
        return route(request)(app, request)
    except StorageError as exc:
        log.emit("failed", logging.ERROR if exc.transient else logging.WARNING, request_id=request_id,
                 reason=exc.reason, detail=exc.detail, transient=exc.transient)
        return error_response(storage_error(exc))
    except HttpError as exc:
        log.emit("refused", logging.INFO, request_id=request_id, status=exc.status, reason=exc.reason)
        return error_response(exc)
    except Exception as exc:  # noqa: BLE001 - the edge: nothing unexpected may leave as a stack trace
        log.emit("failed", logging.ERROR, request_id=request_id, error=type(exc).__name__,
                 traceback=traceback.format_exc())
        detail = f"unexpected error; the function's log has it under request id {request_id}"
        return error_response(HttpError(500, "internal-error", detail))
