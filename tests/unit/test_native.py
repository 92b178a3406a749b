"""The C SSIMULACRA2 kernel (handler/quality/native) against the numpy implementation it reimplements
(handler/quality/ssim2.py, the reference), and the metric entry point that picks one (handler/quality/metric.py).

The kernel is built by `make native` (make test and make test-fast do it first). Under a bare `pytest` without
it, every test here that needs it fails saying so, rather than skipping: a skip would hide that the function
is running on the slower fallback. The fallback test needs no kernel.
"""

from __future__ import annotations

import gc
import importlib
import io
import os
import subprocess
import sys
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from handler import log
from handler.quality import metric, native, search, ssim2
from tests.conftest import FIXTURES, PHOTOS

# The two are float32 computations of the same sums in different orders (BLAS against the kernel's, FMA or
# not): they agree to about 1e-5, and to a few 1e-4 on flat images with noise, where var = blur(x^2) - mu^2
# cancels. 0.01 is what the function may rely on (scores are compared with targets in whole points).
TOLERANCE = 0.01
IMAGES = [
    *sorted((FIXTURES / "ssim2").glob("*.png")),
    *sorted(p for p in PHOTOS.iterdir() if p.suffix.lower() in {".png", ".jpg"}),
]
SIZES = [(1, 1), (7, 13), (8, 8), (9, 17), (33, 65), (100, 37), (255, 257)]


@pytest.fixture
def kernel():
    """The native module, failing the test loudly when the library is not built."""
    if not native.available():
        pytest.fail(f"the SSIMULACRA2 kernel is not loaded ({native.unavailable_reason()}): run make native",
                    pytrace=False)
    return native


def _agree(original: np.ndarray, distorted: np.ndarray) -> float:
    """Score with both implementations and check they agree; the native score."""
    expected = ssim2.Reference(original).score(distorted)
    got = native.Reference(original).score(distorted)
    assert got == pytest.approx(expected, abs=TOLERANCE)
    return got


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer).convert("RGB"))


def _content(kind: str, height: int, width: int, seed: int) -> np.ndarray:
    """Random pixels, or a smooth colour gradient with a soft blob."""
    rng = np.random.default_rng(seed)
    if kind == "random":
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    blob = 60 * np.exp(-((x - 0.4) ** 2 + (y - 0.6) ** 2) * 8)
    planes = [30 + 180 * x + blob, 200 - 150 * y, 90 + 60 * x * y + blob]
    return np.clip(np.stack(planes, axis=2), 0, 255).astype(np.uint8)


def _noisy(rgb: np.ndarray, amplitude: int, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(-amplitude, amplitude + 1, rgb.shape)
    return np.clip(rgb.astype(np.int16) + noise, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------- agreement
@pytest.mark.parametrize("path", IMAGES, ids=lambda p: p.name)
def test_the_kernel_agrees_with_numpy_on_the_fixtures_against_jpeg(kernel, path: Path) -> None:
    original = np.asarray(Image.open(path).convert("RGB"))
    numpy_ref, native_ref = ssim2.Reference(original), kernel.Reference(original)
    for quality in (30, 60, 90):
        distorted = _jpeg(original, quality)
        assert native_ref.score(distorted) == pytest.approx(numpy_ref.score(distorted), abs=TOLERANCE), quality


@pytest.mark.parametrize("kind", ["random", "smooth"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_kernel_agrees_on_odd_sizes(kernel, size: tuple[int, int], kind: str) -> None:
    original = _content(kind, *size, seed=size[0] * 1000 + size[1])
    _agree(original, _noisy(original, 6, seed=1))
    _agree(original, _jpeg(original, 50))


@pytest.mark.parametrize("size", [*SIZES, (192, 256)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_identical_images_score_100(kernel, size: tuple[int, int]) -> None:
    original = _content("smooth", *size, seed=3)
    assert _agree(original, original.copy()) == ssim2.score(original, original) == 100.0


def test_under_8_pixels_on_a_side_scores_100_as_numpy_does(kernel) -> None:
    original = _content("random", 7, 300, seed=4)
    assert kernel.score(original, 255 - original) == ssim2.score(original, 255 - original) == 100.0


def test_grey_and_strided_inputs(kernel) -> None:
    """HxW grey is taken as RGB, and a crop (rows further apart) needs no copy, as in numpy."""
    grey = _content("smooth", 60, 70, seed=5)[:, :, 0]
    _agree(grey, _noisy(grey, 5, seed=6))
    big = _content("random", 80, 90, seed=7)
    crop, distorted = big[10:70, 5:75], _noisy(big[10:70, 5:75], 8, seed=8)
    assert not crop.flags.c_contiguous
    assert kernel.Reference(crop).score(distorted) == kernel.Reference(crop.copy()).score(distorted)
    _agree(crop, distorted)
    _agree(big[::2, ::-1], _noisy(big[::2, ::-1], 8, seed=9))  # needs the copy


def test_bad_input_raises_as_numpy_does(kernel) -> None:
    ref = kernel.Reference(_content("smooth", 20, 20, seed=1))
    with pytest.raises(ValueError):
        ref.score(_content("smooth", 20, 21, seed=1))
    with pytest.raises(TypeError):
        ref.score(np.zeros((20, 20, 3), dtype=np.float32))
    with pytest.raises(ValueError):
        kernel.Reference(np.zeros((0, 5, 3), dtype=np.uint8))
    with pytest.raises(ValueError):
        kernel.Reference(np.zeros((5, 5, 4), dtype=np.uint8))


def test_the_avx2_and_baseline_paths_agree(kernel) -> None:
    if kernel.set_path(kernel.AVX2) != kernel.AVX2:
        kernel.set_path(kernel.AUTO)
        pytest.skip("this CPU has no AVX2+FMA: only the baseline path runs here")
    photo = np.asarray(Image.open(PHOTOS / "HP_PhotoSmart_735.png").convert("RGB"))
    cases = [(_content("smooth", 120, 170, seed=1), _noisy(_content("smooth", 120, 170, seed=1), 6, seed=3)),
             (_content("random", 33, 65, seed=2), _noisy(_content("random", 33, 65, seed=2), 20, seed=3)),
             (photo, _jpeg(photo, 40))]
    try:
        for original, distorted in cases:
            scores = []
            for path in (kernel.AVX2, kernel.BASELINE):
                assert kernel.set_path(path) == path
                scores.append(kernel.Reference(original).score(distorted))
            assert scores[0] == pytest.approx(scores[1], abs=1e-3)
    finally:
        kernel.set_path(kernel.AUTO)


# ------------------------------------------------------------------------------------------- memory
def test_a_reference_owns_the_kernels_memory_and_frees_it_when_collected(kernel) -> None:
    original = _content("smooth", 40, 40, seed=1)
    ref = kernel.Reference(original)
    ref.score(_noisy(original, 5, seed=2))
    buffers = [weakref.ref(ref._memory), weakref.ref(ref._scratch.buffer)]
    del ref
    gc.collect()
    assert [buffer() for buffer in buffers] == [None, None]


def test_threads_scoring_one_reference_at_once_each_get_their_own_scratch(kernel) -> None:
    original = _content("random", 200, 300, seed=3)
    distorted = [_jpeg(original, quality) for quality in (20, 40, 60, 80)] * 3
    ref = kernel.Reference(original)
    alone = [ref.score(d) for d in distorted]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(ref.score, distorted)) == alone


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc")
def test_nothing_a_score_allocates_outlives_it(kernel) -> None:
    original = _content("smooth", 300, 400, seed=2)
    distorted = _jpeg(original, 70)
    ref = kernel.Reference(original)
    for _ in range(20):  # let the allocator reach its steady state
        ref.score(distorted)
    before = _rss_bytes()
    for _ in range(200):
        ref.score(distorted)
    assert _rss_bytes() - before < 2 << 20


# ------------------------------------------------------------------------------------------- the entry point
def test_the_search_scores_with_the_kernel(kernel) -> None:
    assert metric.IMPLEMENTATION == "native"
    assert metric.Reference is kernel.Reference
    assert search.Reference is metric.Reference


def test_without_the_library_the_metric_is_numpy_with_one_warning(tmp_path: Path, monkeypatch) -> None:
    warnings = []
    monkeypatch.setattr(log, "emit", lambda event, level=None, **fields: warnings.append((event, level, fields)))
    try:
        assert not native.load(tmp_path / "missing" / "_ssim2.so")
        importlib.reload(metric)
        assert metric.Reference is ssim2.Reference and metric.IMPLEMENTATION == "numpy"
        original = _content("smooth", 40, 50, seed=1)
        for quality in (50, 90):  # scoring logs nothing more
            metric.Reference(original).score(_jpeg(original, quality))
        [(event, level, fields)] = warnings
        assert event == "metric-fallback" and level == log.logging.WARNING
        assert fields["using"] == "numpy" and "missing" in fields["reason"]
        with pytest.raises(RuntimeError, match="run make native"):
            native.Reference(original)
    finally:
        native.load()
        importlib.reload(metric)


@pytest.mark.slow
def test_ssim2_force_baseline_starts_a_process_on_the_baseline_path(kernel) -> None:
    code = "from handler.quality import native; print(native.get_path())"
    env = {**os.environ, "SSIM2_FORCE_BASELINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert int(out.stdout) == kernel.BASELINE
