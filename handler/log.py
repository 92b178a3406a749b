"""Structured logs: one JSON line per event (AWS Lambda Powertools' Logger), so that CloudWatch Logs Insights can
query event, outcome, reason and key directly. Inside Lambda every line of an invocation also carries the
function's request id and whether it was a cold start (`invocation`), and an API call's line its API Gateway
request id as the correlation id."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable
from typing import Any, TextIO

from aws_lambda_powertools import Logger

SERVICE = "optimal-image"
"""The service name on every line and metric (Powertools' `service` key and dimension)."""

logger = Logger(service=SERVICE, level=os.environ.get("LOG_LEVEL", "INFO").upper())

_BY_LEVEL = {logging.DEBUG: logger.debug, logging.INFO: logger.info, logging.WARNING: logger.warning,
             logging.ERROR: logger.error}


def emit(event: str, level: int = logging.INFO, **fields: object) -> None:
    """Log `event` with `fields` (the line's `message` and `event` both name it). Never pass object content or
    credentials here: keys and numbers only."""
    _BY_LEVEL[level](event, stacklevel=3, extra={"event": event, **fields})


def use_stream(stream: TextIO) -> None:
    """Write the lines to `stream` instead of stdout (the command line keeps stdout for its records)."""
    logger.registered_handler.setStream(stream)


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def invocation(correlation_id: Callable[[dict[str, Any]], str | None] = lambda event: None) -> Callable[[Handler],
                                                                                                           Handler]:
    """Decorate a Lambda handler: each invocation's lines carry the context's request id and function name (where
    there is a context: the local run calls handlers without one) and `correlation_id(event)`. Keys from the
    previous invocation of a warm container are cleared first."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def invoked(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
            logger.clear_state()
            logger.append_keys(request_id=getattr(context, "aws_request_id", None),
                               function_name=getattr(context, "function_name", None), cold_start=_cold_start())
            logger.set_correlation_id(correlation_id(event) if isinstance(event, dict) else None)
            return handler(event, context)

        return invoked

    return decorate


_started = [False]


def _cold_start() -> bool:
    """True for the container's first invocation only."""
    first, _started[0] = not _started[0], True
    return first
