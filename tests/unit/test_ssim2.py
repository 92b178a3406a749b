"""handler/quality/ssim2.py against the PyPI `ssimulacra2` reference, on small committed images.

The reference reads files (``Image.open(path).convert("RGB")``), so each case
hands it the fixture PNG and a JPEG written to tmp_path, and hands ours the
same files decoded the same way.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from ssimulacra2 import compute_ssimulacra2

from handler.quality import ssim2

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ssim2"
IMAGES = ("shapes.png", "texture.png", "grey_odd.png", "../photos/Sony_Cybershot_(6).jpg")
"""Under 256 pixels on the short side an image has at most 5 scales; the photo has all 6, and only at 6
does full resolution score the Y channel alone (see handler.quality.ssim2._PRUNE)."""
QUALITIES = (30, 60, 85, 95)


def rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def jpeg(path: Path, quality: int) -> bytes:
    out = io.BytesIO()
    Image.open(path).save(out, "JPEG", quality=quality)
    return out.getvalue()


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@pytest.mark.parametrize("quality", QUALITIES)
@pytest.mark.parametrize("name", IMAGES)
def test_score_agrees_with_reference_within_half_a_point(tmp_path: Path, name: str, quality: int) -> None:
    original = FIXTURES / name
    distorted = tmp_path / "distorted.jpg"
    distorted.write_bytes(jpeg(original, quality))

    expected = compute_ssimulacra2(str(original), str(distorted))
    actual = ssim2.score(rgb(original), rgb(distorted))

    assert actual == pytest.approx(expected, abs=0.5)


@pytest.mark.parametrize("name", IMAGES)
def test_identical_images_score_100(name: str) -> None:
    image = rgb(FIXTURES / name)
    assert ssim2.score(image, image.copy()) == pytest.approx(100.0, abs=1e-9)


@pytest.mark.parametrize("name", IMAGES)
def test_scores_fall_as_jpeg_quality_falls(name: str) -> None:
    original = FIXTURES / name
    reference = ssim2.Reference(rgb(original))
    scores = [reference.score(decoded(jpeg(original, quality))) for quality in (95, 80, 60, 40, 20)]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] - scores[-1] > 10


def test_a_reference_scores_many_candidates_exactly_as_score_does() -> None:
    original = FIXTURES / "shapes.png"
    reference = ssim2.Reference(rgb(original))
    for quality in (40, 90):
        candidate = decoded(jpeg(original, quality))
        assert reference.score(candidate) == ssim2.score(rgb(original), candidate)


def test_grey_input_scores_like_its_rgb_conversion() -> None:
    grey = np.asarray(Image.open(FIXTURES / "grey_odd.png"))
    assert grey.ndim == 2
    noisy = np.clip(grey.astype(int) + np.arange(grey.size).reshape(grey.shape) % 5 - 2, 0, 255).astype(np.uint8)
    as_rgb = np.repeat(grey[:, :, None], 3, axis=2), np.repeat(noisy[:, :, None], 3, axis=2)
    assert ssim2.score(grey, noisy) == ssim2.score(*as_rgb)


@pytest.mark.parametrize("size", [(1, 1), (7, 7), (7, 40), (40, 7)])
def test_images_under_8_pixels_on_a_side_score_100_as_in_the_reference(tmp_path: Path, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    a, b = (rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(2))
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(b).save(tmp_path / "b.png")

    assert compute_ssimulacra2(str(tmp_path / "a.png"), str(tmp_path / "b.png")) == 100.0
    assert ssim2.score(a, b) == 100.0


def test_an_8x8_image_gets_a_real_score_close_to_the_reference(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(b).save(tmp_path / "b.png")

    expected = compute_ssimulacra2(str(tmp_path / "a.png"), str(tmp_path / "b.png"))
    assert expected < 100.0
    assert ssim2.score(a, b) == pytest.approx(expected, abs=0.5)


def test_images_of_different_sizes_are_rejected() -> None:
    with pytest.raises(ValueError, match="size mismatch"):
        ssim2.score(np.zeros((16, 16, 3), np.uint8), np.zeros((16, 17, 3), np.uint8))


@pytest.mark.parametrize(
    "image, error",
    [(np.zeros((16, 16, 3), np.float32), TypeError), (np.zeros((16, 16, 4), np.uint8), ValueError)],
)
def test_pixels_other_than_8_bit_grey_or_rgb_are_rejected(image: np.ndarray, error: type[Exception]) -> None:
    with pytest.raises(error):
        ssim2.Reference(image)


@pytest.mark.slow
def test_the_module_loads_without_scipy_or_scikit_learn() -> None:
    """It runs in Lambda, where only numpy and Pillow are installed."""
    code = "import sys, handler.quality.ssim2; sys.exit(any(m in sys.modules for m in ('scipy', 'sklearn')))"
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root, check=False).returncode == 0
