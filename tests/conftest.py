"""Shared fixtures: a real moto S3 server over HTTP for the session, small images made by code."""

from __future__ import annotations

import io
import uuid
from dataclasses import replace
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.config import Config
from PIL import Image

from handler.aws import wiring
from handler.aws.storage import Storage
from handler.aws.wiring import App
from handler.quality import search
from handler.quality.model import Linear, Model
from handler.settings import Locations, Settings
from scripts.s3server import free_port, moto_server, point_boto3_at

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PHOTOS = FIXTURES / "photos"


def photo_like(width: int = 256, height: int = 192, seed: int = 0) -> Image.Image:
    """Smooth gradients, edges and fine noise: compresses like a photo, not like a flat test card."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 128 + 90 * np.sin(x / 23.0) * np.cos(y / 31.0)
    g = 110 + 80 * np.cos((x + y) / 40.0)
    b = np.where((x - width / 2) ** 2 + (y - height / 2) ** 2 < (min(width, height) / 3) ** 2, 200.0, 60.0)
    rgb = np.stack([r, g, b], axis=2) + rng.normal(0, 2, (height, width, 3))
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def grey_photo(width: int = 512, height: int = 384) -> Image.Image:
    """A photo-like picture whose every pixel is grey, stored as RGB (as scanners and many editors save them)."""
    return photo_like(width, height).convert("L").convert("RGB")


def colour_detail_between_the_tiles(width: int = 640, height: int = 480) -> Image.Image:
    """Noisy 1-pixel red and blue stripes, which 4:2:0 blurs to purple, except where the verifier's mosaic
    tiles lie: those are plain grey, so the mosaic passes at any quality in 4:2:0 and only the whole image
    shows what 4:2:0 loses. Made 256 rows at a time, so that a 48 MP one (bench.runtime) stays small."""
    stripes = np.where((np.arange(width) % 2 == 0)[:, None], np.int16([200, 30, 40]), np.int16([30, 60, 200]))
    values, noise = np.empty((height, width, 3), np.uint8), np.random.default_rng(0)
    for top in range(0, height, 256):
        band = values[top : top + 256]
        band[:] = np.clip(stripes + noise.integers(-12, 13, (len(band), width, 1), dtype=np.int16), 0, 255)
    side = search._tile_side(width, height)
    for y in search._tile_origins(height, search.GRID, side):
        for x in search._tile_origins(width, search.GRID, side):
            values[y : y + side, x : x + side] = 120
    return Image.fromarray(values, "RGB")


def encoded(image: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def fixed_model() -> Model:
    """A model that always predicts quality 80: unit tests of the core need a prediction, not accuracy."""
    constant = Linear(("bpp",), np.zeros(1), 80.0, np.zeros(1), np.full(1, 100.0))
    return Model("test-fixed-80", {"all": constant})


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
