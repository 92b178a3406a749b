"""Pictures made by code, for the tests, the local harness and the benchmarks: photo-like content that compresses
as photos do, and the colour detail that only a whole-image check can see."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from handler.quality import search


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
