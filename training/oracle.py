"""The oracle: the lowest quality whose SSIMULACRA2 score reaches the target, found by binary search."""

from __future__ import annotations

import io
from typing import Callable

import numpy as np
from PIL import Image

from handler import pixels as px
from handler.ssim2 import Reference

LOWEST, HIGHEST = 1, 100


def oracle_quality(score: Callable[[int], float], target: float, low: int = LOWEST, high: int = HIGHEST) -> int | None:
    """Smallest quality in [low, high] reaching `target` (score taken as rising with quality); None if none does."""
    if score(high) < target:
        return None
    while low < high:
        middle = (low + high) // 2
        if score(middle) >= target:
            high = middle
        else:
            low = middle + 1
    return high


class Curve:
    """Encodes `pixels` on demand and scores each quality once against the full-resolution original."""

    def __init__(self, pixels: Image.Image, subsampling: str) -> None:
        self.pixels = pixels
        self.subsampling = subsampling
        self._reference = Reference(np.asarray(pixels.convert("RGB")))
        self.points: dict[int, tuple[float, int]] = {}

    def encoded(self, quality: int) -> bytes:
        return px.encode(self.pixels, quality, self.subsampling, {})

    def __call__(self, quality: int) -> float:
        if quality not in self.points:
            data = self.encoded(quality)
            decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            self.points[quality] = (self._reference.score(decoded), len(data))
        return self.points[quality][0]
