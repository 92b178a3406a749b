"""What one whole-image check costs, part by part: `python -m bench.check_cost` (in `make bench`).

A committed photo (tests/fixtures/photos) enlarged to 0.3, 1 and 12 MP (Lanczos, then light grain, as a camera's
picture has), and at each size: preparing the SSIMULACRA2 reference (search.Sample's constructor: the scored
pixels and metric.Reference), then the parts of one whole-image check as search.Sample.measure runs them -- the
encode at quality 80, the decode of the candidate into the block of memory the Sample reuses, its pixels handed
to the metric, and the score -- and, beside them, one plain decode + encode, the unit bench/results/stages.md's
ratios are in. Each figure is the median CPU time of --repeats runs in this process (time.process_time, so that
a busy machine slows it less than a wall clock), and the minor page faults of the median run: memory touched for
the first time, which is most of what a part costs beyond its arithmetic where the part allocates fresh buffers.
Writes bench/results/check_cost.md.
"""

from __future__ import annotations

import argparse
import io
import resource
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from bench import publish
from handler.image import encode
from handler.image import pixels as views
from handler.image.jpeg import ANNEX_K
from handler.image.metadata import NONE
from handler.quality import metric, search

PHOTO = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "photos" / "HP_PhotoSmart_735.png"
SIZES = {"0.3 MP": (640, 480), "1 MP": (1152, 864), "12 MP": (4000, 3000)}
QUALITY = 80


def photo(width: int, height: int) -> Image.Image:
    """The committed photo at this size, with grain (sigma 2) so that enlarging leaves no unnaturally flat areas."""
    enlarged = np.asarray(Image.open(PHOTO).convert("RGB").resize((width, height), Image.Resampling.LANCZOS))
    noise = np.random.default_rng(0).normal(0, 2, enlarged.shape)
    return Image.fromarray(np.clip(enlarged + noise, 0, 255).astype(np.uint8))


def timed(part: Callable[[], object], repeats: int) -> tuple[float, int]:
    """The median CPU seconds of `repeats` calls of `part`, and the minor page faults of that call."""
    runs = []
    for _ in range(repeats):
        faults, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time()
        part()
        runs.append((time.process_time() - start, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults))
    return sorted(runs)[len(runs) // 2]


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def parts(image: Image.Image, repeats: int) -> dict[str, tuple[float, int]]:
    """Each part's (CPU seconds, page faults) for `image`."""
    data = encode.encode(image, QUALITY, "4:2:0", NONE)
    sample = search.Sample(image, NONE, 80)

    def check() -> None:
        sample._tried.clear()  # so that each run encodes, decodes and scores (measure keeps what it tried)
        sample.measure(QUALITY, "4:2:0", ANNEX_K)

    block = views.decode_into(data, None).im  # as a Sample decodes every candidate after its first
    reference, candidate = metric.Reference(search.scored_pixels(image)), views.decode_into(data, block)
    pixels = search.scored_pixels(candidate)
    return {
        "prepare the reference": timed(lambda: search.Sample(image, NONE, 80), repeats),
        "encode": timed(lambda: encode.encode(image, QUALITY, "4:2:0", NONE), repeats),
        "decode (into the reused block)": timed(lambda: views.decode_into(data, block), repeats),
        "pixels (search.scored_pixels)": timed(lambda: search.scored_pixels(candidate), repeats),
        "score": timed(lambda: reference.score(pixels), repeats),
        "whole check (Sample.measure)": timed(check, repeats),
        "decode + encode": timed(lambda: encode.encode(decoded(data), QUALITY, "4:2:0", NONE), repeats),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    measured = {name: parts(photo(*size), args.repeats) for name, size in SIZES.items()}
    names = list(next(iter(measured.values())))
    lines = ["# What one whole-image check costs", "",
             f"Command: `python -m bench.check_cost` (median CPU time of {args.repeats} runs, one process; "
             f"{metric.IMPLEMENTATION} SSIMULACRA2). A check is the encode, the decode and the score; "
             "page faults are the minor faults of the median run (fresh memory touched). See bench/check_cost.py.",
             "", "| part | " + " | ".join(measured) + " |", "|---|" + "---|" * len(measured)]
    for name in names:
        cells = [f"{measured[size][name][0] * 1000:.1f} ms, {measured[size][name][1]} faults" for size in measured]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    ratio = [f"{measured[s]['whole check (Sample.measure)'][0] / measured[s]['decode + encode'][0]:.2f}x"
             for s in measured]
    lines.append("| whole check / (decode + encode) | " + " | ".join(ratio) + " |")
    publish("check_cost.md", "\n".join(lines + [""]))


if __name__ == "__main__":
    main()
