"""Lossless recoding of a JPEG's entropy coding, through the C library `native/_recode.so` (built from
native/recode.c by `make native`; the package's copy by build.mk's `sam build` recipe; never committed).

The library drives Pillow's own libjpeg-turbo (the one in the wheel's pillow.libs, already loaded by Pillow): it
reads the quantised coefficients and writes them again with optimized Huffman tables, either sequentially or with a
fixed progressive scan script, copying every APP and COM segment; a script of one component per scan it codes
itself, in one pass over the coefficients, instead of libjpeg's two passes per scan (the same bytes; see
native/recode.c). The pixels decoded from the result are the input's, so a score verified on the input holds for the
output (tests/unit/test_recode.py). Against libjpeg's standard script (what Pillow's progressive encode writes) and
mozjpeg's recoder (which searches scan scripts per picture), what it writes and costs:
bench/results/train/recode.md.

``available()`` says whether it loaded and ``unavailable_reason()`` why not. Without it the function publishes what
the search encoded (`handler.image.encode.leaner`): valid and verified, only larger; that is logged once per
process, at import, as a "recode-fallback" warning with the reason.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from pathlib import Path

import PIL

from handler import log
from handler.libraries import loaded

LIBRARY = Path(__file__).resolve().parent / "native" / "_recode.so"
_MESSAGE = 200
"""Bytes of the library's error message buffer (libjpeg's JMSG_LENGTH_MAX)."""

Scan = tuple[int, int, int, int, int]
"""One progressive scan: the component (ALL for the DC scan of every component), the first and last coefficient
(Ss, Se), and the high and low bit of successive approximation (Ah, Al), as in libjpeg's jpeg_scan_info."""
ALL = -1

SEQUENTIAL: tuple[Scan, ...] = ()
"""No script: one sequential scan, with optimized Huffman tables."""

ENABLED = True
"""Recode answers (handler.image.encode.leaner). Off, an answer is published as the search encoded it:
`python -m bench.encoder_choice` turns it off to measure what the recoding gives and costs."""

_lib: ctypes.CDLL | None = None
_reason = "not loaded yet"


class RecodeError(ValueError):
    """libjpeg refused the input; the message is libjpeg's."""


def libjpeg_path() -> str | None:
    """The libjpeg Pillow decodes with: the one its wheel bundles (pillow.libs beside PIL), else the system's."""
    bundled = sorted((Path(PIL.__file__).resolve().parent.parent / "pillow.libs").glob("libjpeg-*.so*"))
    return str(bundled[0]) if bundled else ctypes.util.find_library("jpeg")


def _bound(path: Path) -> ctypes.CDLL:
    """The library at `path`, declared and handed libjpeg's functions."""
    libjpeg = libjpeg_path()
    if libjpeg is None:
        raise OSError("no libjpeg found beside Pillow or on the system")
    lib, jpeg = ctypes.CDLL(str(path)), ctypes.CDLL(libjpeg)
    lib.recode_function.argtypes, lib.recode_function.restype = [ctypes.c_size_t], ctypes.c_char_p
    names = []
    while (name := lib.recode_function(len(names))) is not None:
        names.append(name.decode())
    functions = (ctypes.c_void_p * len(names))(*(ctypes.cast(getattr(jpeg, n), ctypes.c_void_p) for n in names))
    lib.recode_bind.argtypes, lib.recode_bind.restype = [ctypes.c_void_p, ctypes.c_size_t], ctypes.c_int
    if lib.recode_bind(functions, len(names)):
        raise OSError(f"{path.name} did not take {len(names)} libjpeg functions")
    u8p = ctypes.POINTER(ctypes.c_uint8)
    lib.recode.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_int), ctypes.c_int,
                           ctypes.c_int, ctypes.POINTER(u8p), ctypes.c_char_p]
    lib.recode.restype = ctypes.c_ulong
    lib.recode_free.argtypes, lib.recode_free.restype = [u8p], None
    return lib


def load(path: Path = LIBRARY) -> bool:
    """(Re)load the library from `path` and bind it to Pillow's libjpeg; whether that worked. Called once at
    import; the tests call it with a missing path to see the function without it."""
    global _lib, _reason
    _lib, _reason = loaded(_bound, path)
    return _lib is not None


def available() -> bool:
    """Whether the recoder is loaded."""
    return _lib is not None


def active() -> bool:
    """Whether answers are recoded: the library is loaded and ENABLED is on."""
    return ENABLED and _lib is not None


def unavailable_reason() -> str:
    """Why the recoder is not loaded ("" when it is)."""
    return _reason


def recoded(jpeg: bytes, script: tuple[Scan, ...], own_coding: bool = True) -> bytes:
    """`jpeg` with optimized Huffman tables, in the progressive scans of `script` (its scans of components the image
    has not are left out) or, for SEQUENTIAL, in one scan. RecodeError where libjpeg refuses the input (not a JPEG,
    corrupt data) or the script (a coefficient never sent); RuntimeError where the library is not loaded.

    `own_coding`: where every scan of `script` holds one component, the library codes all of a component's scans in
    one pass over its coefficients instead of libjpeg's two passes per scan (recode.c): the same bytes in less time.
    Off, it is libjpeg's way, kept to compare with (tests/unit/test_recode.py, bench.recode)."""
    if _lib is None:
        raise RuntimeError(f"the JPEG recoder is not loaded ({_reason}): run make native")
    rows = (ctypes.c_int * (5 * len(script)))(*(number for scan in script for number in scan))
    output, message = ctypes.POINTER(ctypes.c_uint8)(), ctypes.create_string_buffer(_MESSAGE)
    length = _lib.recode(jpeg, len(jpeg), rows, len(script), own_coding, ctypes.byref(output), message)
    if not length:
        raise RecodeError(message.value.decode(errors="replace") or "libjpeg wrote nothing")
    try:
        return ctypes.string_at(output, length)
    finally:
        _lib.recode_free(output)


if not load():
    log.emit("recode-fallback", logging.WARNING, reason=_reason,
             detail="the JPEG recoder did not load; answers are published as encoded (larger)")
