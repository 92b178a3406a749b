"""Whatever the image library raises, wherever in the core it is called, the upload gets one output: the original
published with a named reason (issue 23, point 1).

The fault injector numbers every call into Pillow's Python code during one optimize() (sys.settrace, 'call'
events whose code lies in the PIL package) and, in a second run, raises a chosen exception type at call k: from
the callee's first line, so that the fault comes from inside Pillow's frame as Pillow's own do. Raising from a
trace function unsets it, so each run has one fault. The calls are spread over the whole run: open, probe, frame
count, decode, convert, metadata, features, encode and the verifier's decodes are all hit.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import numpy as np
import pytest
from PIL import Image

from handler.core import optimize
from handler.result import OPTIMIZED, Decision
from tests.conftest import encoded, photo_like

PIL_DIR = str(Path(Image.__file__).parent)
FAULTS = (RuntimeError, KeyError, MemoryError, NotImplementedError, IndexError, ZeroDivisionError, OSError, TypeError)
POINTS = 10
"""Faults a run per (input, type), evenly spaced over its calls into Pillow."""


def inputs() -> dict[str, bytes]:
    """One small picture in each format the fuzz covers, made by code."""
    photo = photo_like(64, 48)
    frames = [photo_like(64, 48, seed).quantize(32) for seed in range(3)]
    return {
        "jpeg": encoded(photo, quality=90),
        "png-opaque-rgba": encoded(photo.convert("RGBA"), "PNG"),
        "gif-animated": encoded(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "gif-still": encoded(frames[0], "GIF"),
        "tiff": encoded(photo, "TIFF", compression="tiff_lzw"),
        "webp": encoded(photo, "WEBP", quality=90),
        "bmp": encoded(photo, "BMP"),
        "ico": encoded(photo, "ICO", sizes=[(48, 48)]),
        "tga": encoded(photo, "TGA"),
        "mpo": encoded(photo, "MPO", save_all=True, append_images=[photo.transpose(0)]),
    }


INPUTS = inputs()


class Injector:
    """A trace function that counts calls into Pillow, and raises `fault` at the `at`-th (never when at is 0)."""

    def __init__(self, fault: type[BaseException] = RuntimeError, at: int = 0) -> None:
        self.fault, self.at, self.calls = fault, at, 0

    def __call__(self, frame: FrameType, event: str, arg: object) -> Callable | None:
        if event != "call" or not frame.f_code.co_filename.startswith(PIL_DIR):
            return None
        self.calls += 1
        return self._raise_inside if self.calls == self.at else None

    def _raise_inside(self, frame: FrameType, event: str, arg: object) -> None:
        raise self.fault(f"injected at call {self.at} ({frame.f_code.co_name})")


def traced(data: bytes, settings, model, injector: Injector) -> Decision:
    sys.settrace(injector)
    try:
        return optimize(data, settings, model)
    finally:
        sys.settrace(None)


@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("name", INPUTS)
def test_whatever_pillow_raises_the_original_is_published_with_a_reason(settings, fixed_model, name, fault):
    data = INPUTS[name]
    counter = Injector()
    traced(data, settings, fixed_model, counter)
    for at in sorted(set(np.linspace(1, counter.calls, POINTS).round().astype(int))):
        out, result = traced(data, settings, fixed_model, Injector(fault, int(at)))
        assert len(out) == result.bytes_out <= result.bytes_in == len(data), (at, result)
        assert result.reason != "internal-error", (at, result)  # a library failure is not blamed on our code
        if result.outcome != OPTIMIZED:
            assert out == data, (at, result)
