"""SSIMULACRA2 through the C kernel `_ssim2.so`, built from ssim2.c in this folder (`make native`; the package's
copy by build.mk's `sam build` recipe). The shared library is never committed.

The same interface as the numpy module (handler/quality/ssim2.py), which stays the reference: ``Reference(rgb)``
with ``.score(distorted)``, and ``score(reference, distorted)``; the scores agree to about 1e-4
(tests/unit/test_native.py holds them within 0.01). ``available()`` says whether the library loaded and
``unavailable_reason()`` why not; handler.quality.metric picks this module or the numpy one from that.

The kernel is one fused pass per scale (blur, error maps and pooling), with its hot loops compiled twice, for
baseline x86-64 and for AVX2+FMA, the path chosen at run time from the CPU (ssim2.h). The kernel allocates
nothing: every buffer it works in is a numpy array owned by the Python Reference and passed in -- the prepared
original's planes, and one scratch buffer per thread that scores, reused by every score of that thread -- so
nothing outlives the Reference, and a score touches no fresh memory (fresh pages are what made each score's own
allocations cost: `python -m bench.check_cost`, bench/results/check_cost.md). The C calls release the GIL
(ctypes.CDLL), so threads can score in parallel, on one Reference or several.
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import numpy as np

from handler.libraries import loaded
from handler.quality.ssim2 import as_rgb

__all__ = ["AUTO", "AVX2", "BASELINE", "LIBRARY", "Reference", "available", "get_path", "load", "score",
           "set_path", "unavailable_reason"]

LIBRARY = Path(__file__).resolve().parent / "_ssim2.so"

# Code paths, as in ssim2.h.
AUTO, BASELINE, AVX2 = 0, 1, 2
_ERRORS = {-1: "invalid arguments", -3: "size mismatch"}

_lib: ctypes.CDLL | None = None
_reason = "not loaded yet"


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    size, u8p, memory = ctypes.c_size_t, ctypes.POINTER(ctypes.c_uint8), ctypes.c_void_p
    for sizing in (lib.ssim2_ref_bytes, lib.ssim2_work_bytes):
        sizing.argtypes, sizing.restype = [size, size], size
    lib.ssim2_ref_init.argtypes = [memory, size, u8p, size, size, size, size, memory, size]
    lib.ssim2_ref_init.restype = ctypes.c_int
    lib.ssim2_score.argtypes = [memory, u8p, size, size, size, size, memory, size, ctypes.POINTER(ctypes.c_double)]
    lib.ssim2_score.restype = ctypes.c_int
    lib.ssim2_set_path.argtypes = [ctypes.c_int]
    lib.ssim2_set_path.restype = ctypes.c_int
    lib.ssim2_get_path.argtypes = []
    lib.ssim2_get_path.restype = ctypes.c_int
    return lib


def load(path: Path = LIBRARY) -> bool:
    """(Re)load the kernel from `path`; whether it loaded. Called once at import; the tests call it with a
    missing path to see the fallback. A Reference keeps the library it was made with."""
    global _lib, _reason
    _lib, _reason = loaded(lambda where: _declare(ctypes.CDLL(str(where))), path)
    return _lib is not None


def available() -> bool:
    """Whether the compiled kernel is loaded."""
    return _lib is not None


def unavailable_reason() -> str:
    """Why the kernel is not loaded ("" when it is)."""
    return _reason


def _library() -> ctypes.CDLL:
    if _lib is None:
        raise RuntimeError(f"the SSIMULACRA2 kernel is not loaded ({_reason}): run make native")
    return _lib


def set_path(path: int) -> int:
    """Choose the code path (AUTO, BASELINE or AVX2); returns the one in use (AVX2 only where the CPU has it).
    Process-wide: not to be changed while another thread scores."""
    return _library().ssim2_set_path(path)


def get_path() -> int:
    """The code path in use: BASELINE or AVX2 (SSIM2_FORCE_BASELINE=1 in the environment starts on BASELINE)."""
    return _library().ssim2_get_path()


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """The image validated as the numpy module validates it (ssim2.as_rgb), with each row's pixels 3 or 4 bytes
    apart (rows may be further apart: a crop, or a view of Pillow's RGBX memory, passes without a copy)."""
    image = as_rgb(image)
    pixel = image.strides[1]
    rows_ok = image.strides[2] == 1 and pixel in (3, 4) and image.strides[0] >= pixel * image.shape[1]
    return image if rows_ok else np.ascontiguousarray(image)


def _pixels(image: np.ndarray) -> tuple[ctypes.POINTER(ctypes.c_uint8), int, int, int, int]:
    height, width = image.shape[:2]
    pointer = image.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
    return pointer, height, width, image.strides[0], image.strides[1]


def _raise(status: int, what: str) -> None:
    if status:
        raise ValueError(f"SSIMULACRA2 {what}: {_ERRORS.get(status, status)}")


class Reference:
    """An original image prepared once, to score any number of distorted versions of it.

    It owns all the memory the kernel works in: its planes (numpy, allocated here, freed with the Reference), and
    for each thread that scores, a scratch buffer made on that thread's first score and reused by its next ones.
    The kernel keeps no pointer to either past a call (ssim2.h).
    """

    def __init__(self, rgb: np.ndarray) -> None:
        """``rgb``: HxWx3 (or HxW grey) uint8 sRGB, as ``np.asarray(Image.convert('RGB'))``."""
        lib = self._lib = _library()
        rgb = _as_rgb(rgb)
        self.shape: tuple[int, int] = rgb.shape[:2]
        self._memory = np.empty(lib.ssim2_ref_bytes(*self.shape), np.uint8)
        self._scratch = threading.local()
        status = lib.ssim2_ref_init(self._memory.ctypes.data, self._memory.size, *_pixels(rgb),
                                    *self._work())
        _raise(status, "reference")

    def _work(self) -> tuple[int, int]:
        """This thread's scratch buffer (address, bytes), made on its first use."""
        buffer = getattr(self._scratch, "buffer", None)
        if buffer is None:
            buffer = self._scratch.buffer = np.empty(self._lib.ssim2_work_bytes(*self.shape), np.uint8)
        return buffer.ctypes.data, buffer.size

    def score(self, distorted: np.ndarray) -> float:
        """SSIMULACRA2 of ``distorted`` (same size, uint8) against this original; 100 = identical.

        Images under 8 pixels on a side have no scale to compare and, as in the reference, score 100.
        """
        distorted = _as_rgb(distorted)
        if distorted.shape[:2] != self.shape:
            raise ValueError(f"size mismatch: reference {self.shape}, distorted {distorted.shape[:2]}")
        result = ctypes.c_double()
        status = self._lib.ssim2_score(self._memory.ctypes.data, *_pixels(distorted), *self._work(),
                                       ctypes.byref(result))
        _raise(status, "score")
        return result.value


def score(reference: np.ndarray, distorted: np.ndarray) -> float:
    """SSIMULACRA2 of ``distorted`` against ``reference``: uint8 HxWx3 (or HxW) sRGB, same size."""
    return Reference(reference).score(distorted)


load()
