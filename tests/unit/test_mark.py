"""Every optimized output carries a mark, a JPEG comment, so that it is never optimized a second time.

Re-encoding an output is scored against the output, not the original, so the loss would add up round
after round (`python -m bench.rounds`, bench/results/rounds.md). An output comes back more often than one
would think: downloaded and uploaded again, posted to the API, or a command line run pointed at its own
output folder.
"""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from handler.core import optimize
from handler.image.jpeg import marked_quality
from handler.quality.model import load
from handler.quality.ssim2 import score
from handler.result import OPTIMIZED, ORIGINAL_KEPT
from tests.conftest import PHOTOS, encoded, photo_like


def marks(data: bytes) -> list[bytes]:
    return [p for m, p in Image.open(io.BytesIO(data)).applist if m == "COM" and marked_quality(p) is not None]


def rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.mark.parametrize("metadata", ["keep", "strip"])
def test_an_optimized_output_carries_one_mark_naming_its_target_and_quality(settings, fixed_model, metadata):
    out, result = optimize(encoded(photo_like(), quality=97), replace(settings, metadata=metadata), fixed_model)
    assert result.outcome == OPTIMIZED
    assert marks(out) == [f"optimal-image target=80 quality={result.quality}".encode()]


def test_an_output_uploaded_again_is_kept_as_it_is_so_its_score_against_the_original_holds(settings):
    original, model = (PHOTOS / "Kodak_DC240.jpg").read_bytes(), load()
    first, result = optimize(original, settings, model)
    again, second = optimize(first, settings, model)
    assert (result.outcome, second.outcome, second.reason) == (OPTIMIZED, ORIGINAL_KEPT, "already-optimized")
    assert again == first and second.bytes_out == len(first)
    assert f"target=80 quality={result.quality}" in second.detail
    assert score(rgb(original), rgb(again)) >= settings.target


@pytest.mark.parametrize("source_quality", [30, 45])
def test_an_output_below_quality_50_is_recognised_too(settings, fixed_model, source_quality):
    """Below 50 libjpeg scales its tables by 5000 // quality, an integer: a mark is checked against those. Outputs
    below 50 come from a MIN_QUALITY below 50 (a source below MIN_QUALITY is kept as it is)."""
    settings = replace(settings, min_quality=10)
    first, result = optimize(encoded(photo_like(), quality=source_quality), settings, fixed_model)
    _, second = optimize(first, settings, fixed_model)
    assert result.outcome == OPTIMIZED and result.quality <= source_quality
    assert (second.outcome, second.reason) == (ORIGINAL_KEPT, "already-optimized")


@pytest.mark.parametrize("target", [70, 90])
def test_an_output_is_kept_at_any_other_target_too(settings, fixed_model, target):
    first, _ = optimize(encoded(photo_like(), quality=97), settings, fixed_model)
    _, second = optimize(first, replace(settings, target=target), fixed_model)
    assert (second.outcome, second.reason) == (ORIGINAL_KEPT, "already-optimized")


def test_an_output_re_saved_by_an_editor_that_keeps_comments_is_optimized_again_with_a_fresh_mark(
    settings, fixed_model
):
    """The editor's encoding has other quantisation tables than the mark says: it is a new picture."""
    first, _ = optimize(encoded(photo_like(), quality=97), settings, fixed_model)
    (stale,) = marks(first)
    edited = encoded(Image.open(io.BytesIO(first)), quality=98, comment=stale)
    out, result = optimize(edited, settings, fixed_model)
    assert result.outcome == OPTIMIZED
    assert marks(out) == [f"optimal-image target=80 quality={result.quality}".encode()]


def test_the_users_comment_stays_beside_the_mark_and_is_the_one_pillow_reports(settings, fixed_model):
    out, _ = optimize(encoded(photo_like(), quality=97, comment=b"taken by Ana"), settings, fixed_model)
    assert len(marks(out)) == 1 and Image.open(io.BytesIO(out)).info["comment"] == b"taken by Ana"


@pytest.mark.parametrize("quality", ["0", "101", "86x"])
def test_a_mark_naming_no_real_quality_is_not_taken_for_one(settings, fixed_model, quality):
    forged = encoded(photo_like(), quality=97, comment=f"optimal-image target=80 quality={quality}".encode())
    _, result = optimize(forged, settings, fixed_model)
    assert result.outcome == OPTIMIZED


def test_a_users_comment_that_only_begins_like_the_mark_is_carried(settings, fixed_model):
    out, _ = optimize(encoded(photo_like(), quality=97, comment=b"optimal-image of our team"), settings, fixed_model)
    assert Image.open(io.BytesIO(out)).info["comment"] == b"optimal-image of our team"
