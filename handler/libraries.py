"""Loading the project's C libraries (built by `make native`), each of which the function can run without."""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from pathlib import Path


def loaded(bind: Callable[[Path], ctypes.CDLL], path: Path) -> tuple[ctypes.CDLL | None, str]:
    """`bind(path)` and "" where the library loads and binds, else None and why not: a missing or unloadable file
    (OSError), a library without the functions declared (AttributeError)."""
    try:
        return bind(path), ""
    except (OSError, AttributeError) as exc:
        return None, str(exc)
