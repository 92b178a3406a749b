"""Shared fixtures: a real moto S3 server over HTTP for the session, small images made by code (scripts.images)."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.config import Config

from handler import log
from handler.aws import wiring
from handler.aws.storage import Storage
from handler.aws.wiring import App
from handler.quality import search
from handler.quality.model import Linear, Model
from handler.settings import Locations, Settings
from scripts.images import colour_detail_between_the_tiles, encoded, grey_photo, photo_like
from scripts.s3server import free_port, moto_server, point_boto3_at

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SERVER_FIXTURES = frozenset({"s3_url", "buckets", "app"})
PHOTOS = FIXTURES / "photos"


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def fixed_model() -> Model:
    """A model that always predicts quality 80: unit tests of the core need a prediction, not accuracy."""
    constant = Linear(("bpp",), np.zeros(1), 80.0, np.zeros(1), np.full(1, 100.0))
    return Model("test-fixed-80", {"all": constant})


@pytest.fixture
def pillow_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The search with Pillow's encoder alone (search.OFFER_JPEGLI off), for tests of what Pillow's encodings do
    (tables, subsampling, a JPEG larger than its variants); jpegli is tested in tests/unit/test_jpegli.py."""
    monkeypatch.setattr(search, "OFFER_JPEGLI", False)


@pytest.fixture(scope="session")
def s3_url() -> str:
    """URL of a moto S3 server, its own process on 127.0.0.1, for the whole test session."""
    with moto_server() as url:
        point_boto3_at(url)
        yield url


@pytest.fixture
def buckets(s3_url: str) -> tuple[str, str]:
    """A fresh (upload, output) pair of buckets on the local server."""
    s3 = boto3.client("s3")
    suffix = uuid.uuid4().hex[:8]
    upload, output = f"upload-{suffix}", f"output-{suffix}"
    s3.create_bucket(Bucket=upload)
    s3.create_bucket(Bucket=output)
    return upload, output


@pytest.fixture
def app(buckets: tuple[str, str]) -> App:
    """The app as the Lambda entry points build it, wired to the fresh pair of buckets on the local server."""
    upload, output = buckets
    return wiring.build(Settings(), Locations(upload_bucket=upload, output_bucket=output))


def unreachable(app: App) -> App:
    """The app with its storage pointed at a port nobody listens on: every S3 call fails transiently."""
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1),
    )
    return replace(app, storage=Storage(client))


class NearTimeout:
    """A Lambda context with only a few seconds of the invocation left."""

    def get_remaining_time_in_millis(self) -> int:
        return 2_000


@contextmanager
def log_lines(level: int = logging.INFO) -> Iterator[list[dict]]:
    """The JSON lines the function logs inside the block, at `level` and above, as dicts (filled when the block
    ends), formatted as the function's own handler formats them."""
    stream, found = io.StringIO(), []
    handler = logging.StreamHandler(stream)
    handler.setFormatter(log.logger.registered_formatter)
    logger = logging.getLogger(log.SERVICE)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
        found.extend(json.loads(line) for line in stream.getvalue().splitlines())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that reaches the S3 server (tests/integration, or a fixture that starts it) is slow: make
    test-fast leaves them out, make test runs them."""
    for item in items:
        if "integration" in item.path.parts or SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


__all__ = ["FIXTURES", "PHOTOS", "colour_detail_between_the_tiles", "encoded", "grey_photo", "photo_like"]
