"""Log lines as operators query them: JSON with the event, its fields, and the invocation's ids."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from handler import log
from tests.conftest import log_lines


@pytest.fixture(autouse=True)
def forget_the_invocation():
    """An invocation's keys stay on the (process-wide) logger until the next one: clear them after each test."""
    yield
    log.logger.clear_state()
    log.logger.set_correlation_id(None)


@dataclass
class Context:
    aws_request_id: str
    function_name: str = "OptimizeFunction"


def test_a_line_is_json_with_the_event_its_fields_the_service_and_the_calling_function():
    with log_lines() as lines:
        log.emit("processed", logging.WARNING, bucket="b", key="k", outcome="rejected")
    (line,) = lines
    assert {k: line[k] for k in ("event", "message", "level", "service", "bucket", "key", "outcome")} == {
        "event": "processed", "message": "processed", "level": "WARNING", "service": "optimal-image", "bucket": "b",
        "key": "k", "outcome": "rejected"}
    assert line["location"].startswith("test_a_line_is_json")  # where it was logged, not log.emit itself


def test_each_invocation_tags_its_lines_with_its_request_and_correlation_ids_and_forgets_them_after():
    @log.invocation(lambda event: event["id"])
    def handler(event, context):
        log.emit("inside")
        return {}

    with log_lines() as lines:
        handler({"id": "first"}, Context("req-1"))
        handler({"id": "second"}, None)
    first, second = lines
    assert (first["request_id"], first["function_name"], first["correlation_id"]) == (
        "req-1", "OptimizeFunction", "first")
    assert "request_id" not in second and second["correlation_id"] == "second"
    assert second["cold_start"] is False  # a warm container's later invocation
