"""The model's inputs, computed the same way for training and at run time."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from handler.image.intake import Probe

FEATURES = (
    "bpp",
    "source_quality",
    "is_jpeg",
    "subsampled",
    "log_megapixels",
    "flat_share",
    "texture",
    "edge",
    "chroma",
)
"""Every feature a model may use; a model names the subset it was trained on."""

_ANALYSIS_SIDE = 384
"""Content measures are taken on a copy at most this many pixels across: cheap, and stable across sizes."""


def _analysis_copy(pixels: Image.Image) -> np.ndarray:
    """Float YCbCr (or Y) array of a box-downscaled copy; integer `reduce` keeps it fast.

    The factor rounds up, so the copy is never over _ANALYSIS_SIDE: rounded down, a 640 x 480 photo (the
    corpus's median size) was measured whole, which took longer than decoding and encoding it."""
    factor = -(-max(pixels.size) // _ANALYSIS_SIDE)
    small = pixels.reduce(factor) if factor > 1 else pixels
    if small.mode == "RGB":
        small = small.convert("YCbCr")
    array = np.asarray(small, dtype=np.float32)
    return array if array.ndim == 3 else array[:, :, None]


def _block_std(luma: np.ndarray) -> np.ndarray:
    """Standard deviation of each 8x8 block, from block sums of x and x^2 (numpy's std is 5x slower)."""
    h, w = (luma.shape[0] // 8) * 8, (luma.shape[1] // 8) * 8
    if h == 0 or w == 0:
        return np.array([float(luma.std())], dtype=np.float32)
    blocks = luma[:h, :w]
    mean = blocks.reshape(h // 8, 8, w // 8, 8).sum(axis=(1, 3)) / 64
    square = (blocks * blocks).reshape(h // 8, 8, w // 8, 8).sum(axis=(1, 3)) / 64
    return np.sqrt(np.maximum(square - mean * mean, 0)).ravel()


def content_measures(pixels: Image.Image) -> dict[str, float]:
    """How flat, textured, edgy and colourful the picture is: what decides how visible JPEG artifacts are."""
    array = _analysis_copy(pixels)
    luma = array[:, :, 0]
    stds = _block_std(luma)
    gx = np.abs(np.diff(luma, axis=1)).mean() if luma.shape[1] > 1 else 0.0
    gy = np.abs(np.diff(luma, axis=0)).mean() if luma.shape[0] > 1 else 0.0
    chroma = float(np.mean([array[:, :, c].std() for c in (1, 2)])) if array.shape[2] == 3 else 0.0
    return {
        "flat_share": float((stds < 2.0).mean()),
        "texture": float(np.log1p(np.median(stds))),
        "edge": float(np.log1p((gx + gy) / 2)),
        "chroma": float(np.log1p(chroma)),
    }


def features(info: Probe, pixels: Image.Image) -> dict[str, float]:
    is_jpeg = info.format == "JPEG"
    return {
        "bpp": info.bpp,
        "source_quality": float(info.source_quality) if info.source_quality else 100.0,
        "is_jpeg": 1.0 if is_jpeg else 0.0,
        "subsampled": 1.0 if info.source_subsampling in ("4:2:0", "4:2:2") else 0.0,
        "log_megapixels": math.log(info.pixels / 1e6),
        **content_measures(pixels),
    }
