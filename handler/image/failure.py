"""What a failure of the image library makes of an upload: one named outcome, decided by where the failure was
raised and which step of the core made the call, not by a list of exception types or of files.

Pillow's readers are many (one plugin a format) and raise whatever their code meets on a hostile file: IndexError,
NotImplementedError, ZeroDivisionError, MemoryError, DecompressionBombError inside load()... A fault injection
over ten formats (tests/unit/test_library_faults.py) found exceptions escaping from fourteen call sites when only
a list of types was caught at three. So the core has one boundary, and this module names what crossed it.
"""

from __future__ import annotations

import importlib.util
import traceback
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

import handler
from handler.result import ORIGINAL_KEPT, REJECTED

PIL_DIR = str(Path(Image.__file__).parent)
_HEIF_SPEC = importlib.util.find_spec("pillow_heif")  # found, not imported: intake imports it for HEIF uploads only
LIBRARY_DIRS = (PIL_DIR, *(_HEIF_SPEC.submodule_search_locations or [] if _HEIF_SPEC else []))
"""Pillow's readers, and pillow-heif's HEIF reader that plugs into it: a failure raised from there is the library's."""
HANDLER_DIR = str(Path(handler.__file__).parent)

UPLOAD_STEPS = frozenset({"intake", "decode", "metadata", "jpeg"})
"""Modules whose library calls work on the upload's own bytes (open, probe, frame count, decode, convert, its
metadata): a failure there is the file's. Elsewhere (features, encode, the verifier) the library works on pixels
already decoded, so a failure is the encoder's and the original is kept, not refused."""

UNSUPPORTED_WORDS = ("unsupported", "not supported", "not implemented", "unimplemented")
"""How Pillow's readers (and OpenJPEG, libtiff through them) say a valid file uses a feature they lack: "Unsupported
BMP bitfields layout", "Unsupported BMP pixel depth", "Unsupported TIFF compression"..."""


@dataclass(frozen=True)
class Failure:
    """The outcome, reason and detail an exception that left the core's steps stands for."""

    outcome: str
    reason: str
    detail: str


def _frames(exc: BaseException) -> traceback.StackSummary:
    return traceback.extract_tb(exc.__traceback__)


def step(exc: BaseException) -> str:
    """The innermost function of ours on the traceback, as module.function: which step made the failing call."""
    ours = [frame for frame in _frames(exc) if frame.filename.startswith(HANDLER_DIR)]
    return f"{Path(ours[-1].filename).stem}.{ours[-1].name}" if ours else "optimize"


def raised_by_library(exc: BaseException) -> bool:
    """Whether Pillow raised it: a frame of Pillow's lies below our innermost one (C code Pillow calls raises
    from Pillow's frame; standard-library code Pillow calls lies below it too). An exception raised by our own
    code, or by numpy or the standard library called from ours, has no Pillow frame below ours."""
    frames = _frames(exc)
    ours = [at for at, frame in enumerate(frames) if frame.filename.startswith(HANDLER_DIR)]
    below = frames[ours[-1] + 1 :] if ours else frames
    return any(frame.filename.startswith(LIBRARY_DIRS) for frame in below)


def named(exc: BaseException) -> str:
    """The exception's type and message on one line (the message is shortened: it names the fault, not content)."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"


def unsupported(exc: BaseException) -> bool:
    """The library says the file is valid but uses something it does not implement."""
    message = str(exc).lower()
    return isinstance(exc, NotImplementedError) or any(words in message for words in UNSUPPORTED_WORDS)


def classify(exc: Exception) -> Failure:
    """The named outcome of `exc`, which the core's steps let through.

    - A decompression bomb found anywhere (Pillow's check runs again inside load() for formats that nest an
      image, as ICNS and ICO do): rejected, too-many-pixels.
    - A fault of our own code is original-kept/internal-error, never blamed on the upload: the upload still gets
      its one output (the original), and the core logs it at ERROR with the traceback, because only a fix of
      ours can make that upload work.
    - The library failing on the upload's bytes: rejected, unsupported-format when it says so, else truncated or
      corrupt. MemoryError included: Pillow raises it itself for an allocation the file asks for.
    - The library failing on pixels it decoded (encode, verify): original-kept, encode-failed.
    """
    where = step(exc)
    if isinstance(exc, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return Failure(REJECTED, "too-many-pixels", f"{where}: refused as a decompression bomb ({named(exc)})")
    if not raised_by_library(exc):
        return Failure(ORIGINAL_KEPT, "internal-error", f"{where}: {named(exc)}")
    if where.split(".")[0] not in UPLOAD_STEPS:
        return Failure(ORIGINAL_KEPT, "encode-failed", f"{where}: the image library failed ({named(exc)})")
    if unsupported(exc):
        return Failure(REJECTED, "unsupported-format", f"{where}: {named(exc)}")
    reason = "truncated" if "truncated" in str(exc).lower() else "corrupt"
    return Failure(REJECTED, reason, f"{where}: the image library failed ({named(exc)})")
