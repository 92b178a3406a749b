"""The SSIMULACRA2 the search scores with: one entry point, ``Reference(rgb)`` with ``.score(distorted)``.

It is the C kernel (handler.quality.native) where its shared library loads, else the numpy implementation
(handler.quality.ssim2), which stays the reference the kernel is tested against and the fallback. The two
agree to about 1e-4. A fallback is logged once per process, at import, as a "metric-fallback" warning with
the reason (the library not built, or built for another machine): the function still works, only each score
costs several times more (bench/results/ssim2_agreement.md).
"""

from __future__ import annotations

import logging

from handler import log
from handler.quality import native, ssim2

__all__ = ["IMPLEMENTATION", "Reference"]


def _choose() -> tuple[type, str]:
    if native.available():
        return native.Reference, "native"
    log.emit("metric-fallback", logging.WARNING, using="numpy", reason=native.unavailable_reason(),
             detail="the SSIMULACRA2 kernel did not load; scoring with the numpy implementation (slower)")
    return ssim2.Reference, "numpy"


Reference, IMPLEMENTATION = _choose()
"""``Reference``: the class scores are made with; ``IMPLEMENTATION``: "native" or "numpy", which one it is."""
