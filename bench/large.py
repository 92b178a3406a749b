"""Photos over CONFIRM_MAX_PIXELS: is the check on large tiles worth it? `python -m bench.large` (part of
`make bench`).

The corpus has no photo that large, so the benchmark makes them from held-out pictures (the test split,
never trained or tuned on; `--split train` makes others to tune on): the largest ones side by side,
2 x 2 and 3 x 3, and the largest one enlarged to 40 MP (as a camera's digital zoom would). Each is saved
as a JPEG at quality 92, the upload. For each target the function runs twice: as shipped (the mosaic's
answer checked on a mosaic of large tiles, about CONFIRM_MAX_PIXELS) and with the check turned off
(CONFIRM_MAX_PIXELS = 0: the small mosaic's verdict stands, as it did before). Both outputs are scored
on the whole image, as is the oracle's. Writes bench/results/large.md (bench/results/train/large.md for --split train).
"""

from __future__ import annotations

import argparse
import io
import math
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from bench.quality import RESULTS, output_score, published
from handler.core import optimize
from handler.quality import model as model_module
from handler.quality import search
from handler.quality.ssim2 import Reference
from handler.result import Result
from handler.settings import Settings
from training import corpus
from training.label import pictures
from training.oracle import Curve, oracle_quality

TARGETS = (70, 80)
UPLOAD_QUALITY = 92
ENLARGED_PIXELS = 40_000_000
"""Between CONFIRM_MAX_PIXELS and the default MAX_PIXELS (50 MP), which refuses anything larger."""


def _scaled(size: tuple[int, int], pixels: int) -> tuple[int, int]:
    factor = math.sqrt(pixels / (size[0] * size[1]))
    return round(size[0] * factor), round(size[1] * factor)


def _largest_pictures(corpus_dir: Path, split: str, count: int) -> list[Image.Image]:
    """The `count` largest JPEG photos of a split, decoded as the function decodes them."""
    items = [corpus.load(corpus_dir / name, corpus_dir) for name in pictures(split)]
    photos = sorted((i for i in items if i is not None and i.info.format == "JPEG"),
                    key=lambda i: (-i.info.pixels, i.name))
    return [item.pixels.convert("RGB") for item in photos[:count]]


def side_by_side(photos: list[Image.Image], across: int, tile: tuple[int, int]) -> Image.Image:
    """`across` x `across` photos, each cropped to the tile's shape and scaled to it."""
    canvas = Image.new("RGB", (tile[0] * across, tile[1] * across))
    for index, photo in enumerate(photos[: across * across]):
        fitted = ImageOps.fit(photo, tile, Image.Resampling.LANCZOS)
        canvas.paste(fitted, ((index % across) * tile[0], (index // across) * tile[1]))
    return canvas


def uploads(corpus_dir: Path, split: str) -> dict[str, bytes]:
    photos = _largest_pictures(corpus_dir, split, 13)
    largest = photos[0]
    made = {
        "4 photos, 2 x 2": side_by_side(photos[:4], 2, (3600, 2700)),
        "9 photos, 3 x 3": side_by_side(photos[4:13], 3, (2688, 2016)),
        "the largest, enlarged": largest.resize(_scaled(largest.size, ENLARGED_PIXELS), Image.Resampling.LANCZOS),
    }
    out = {}
    for name, image in made.items():
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=UPLOAD_QUALITY)
        out[f"{name} ({image.width}x{image.height}, {image.width * image.height / 1e6:.0f} MP)"] = buffer.getvalue()
    return out


def run(data: bytes, target: int, confirm_max_pixels: int, model: model_module.Model) -> tuple[bytes, Result, float]:
    """The function with CONFIRM_MAX_PIXELS set for this run only; output b'' when the input is kept."""
    shipped, search.CONFIRM_MAX_PIXELS = search.CONFIRM_MAX_PIXELS, confirm_max_pixels
    try:
        start = time.perf_counter()
        out, result = optimize(data, Settings(target=target), model)
        return (out if result.outcome == "optimized" else b""), result, time.perf_counter() - start
    finally:
        search.CONFIRM_MAX_PIXELS = shipped


def measure(name: str, data: bytes, model: model_module.Model) -> list[str]:
    pixels = Image.open(io.BytesIO(data)).convert("RGB")
    whole = Reference(np.asarray(pixels))
    curve = Curve(pixels, "4:2:0", whole)
    rows = []
    for target in TARGETS:
        best = oracle_quality(curve, target, curve.scores())
        oracle_bytes = published(curve.encoded(best) if best is not None else b"", data)
        for label, limit in (("checked on large tiles (shipped)", search.CONFIRM_MAX_PIXELS),
                             ("sample's verdict (check off)", 0)):
            out, result, seconds = run(data, target, limit, model)
            score = output_score(whole, out) if out else 100.0
            passed = "yes" if score >= target else "no"
            rows.append(f"| {name} | {target} | {label} | {result.quality} | {best} | {result.score} | {score:.2f} | "
                        f"{passed} | {published(out, data) / oracle_bytes:.3f} | {seconds:.1f} |")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=corpus.DEFAULT_CORPUS)
    parser.add_argument("--split", choices=("test", "train"), default="test",
                        help="test (held out: the figures to report) or train (to tune on)")
    args = parser.parse_args(argv)
    model = model_module.load()
    lines = ["# Photos over CONFIRM_MAX_PIXELS", "",
             (f"Command: `python -m bench.large --split {args.split}` ({search.CONFIRM_MAX_PIXELS / 1e6:.0f} MP "
              f"limit; uploads made from pictures of the {args.split} split, JPEG quality {UPLOAD_QUALITY}). "
              "Score: SSIMULACRA2 of the whole output (handler/quality/ssim2.py); bytes vs the oracle's output (4:2:0, "
              "no metadata); seconds in one process."), "",
             ("| upload | target | method | quality | oracle quality | score on the last sample checked "
              "| whole-image score | reaches target | bytes vs oracle | seconds |"),
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, data in uploads(args.corpus, args.split).items():
        lines += measure(name, data, model)
        print(lines[-1], flush=True)
    results = RESULTS if args.split == "test" else RESULTS / "train"
    results.mkdir(parents=True, exist_ok=True)
    (results / "large.md").write_text("\n".join(lines + [""]))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
