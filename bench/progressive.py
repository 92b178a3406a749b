"""Where the progressive re-encode pays: `python -m bench.progressive --pictures 80` (train split, in `make tune`).

The function encodes its answer once more, progressively, and keeps whichever encoding is smaller
(handler.image.encode.leaner). That encode costs about two baseline ones. For a fixed draw of train pictures at
every target, this benchmark records each final answer's baseline size and what the progressive encode of it would
weigh and cost (CPU time), tried whatever the thresholds, grouped by the baseline output's bits per pixel. It
chooses encode.PROGRESSIVE_MIN_BPP: below it progressive coding rarely wins, so the encode is not tried.
Writes bench/results/train/progressive.md.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench import on_train_draw, publish, train_arguments
from bench.quality import shipped_model
from handler.core import optimize
from handler.image import encode
from handler.settings import PRESETS, Settings
from training import corpus

BANDS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 2.0)
"""Lower edges of the bits-per-pixel bands the table groups answers in."""

_found: list[dict[str, float]] = []
_shipped = encode.leaner


def _recorded(pixels, quality, subsampling, tables, metadata, encoded):
    """encode.leaner, recording what the progressive encode of `encoded` weighs and costs, tried or not."""
    start = time.process_time()
    progressive = encode.encode(pixels, quality, subsampling, metadata, progressive=True, tables=tables)
    _found.append({"bytes": len(encoded), "progressive": len(progressive), "seconds": time.process_time() - start,
                   "bpp": 8 * len(encoded) / (pixels.width * pixels.height)})
    return _shipped(pixels, quality, subsampling, tables, metadata, encoded)


def measure(job: tuple[Path, Path]) -> list[dict[str, float]]:
    path, corpus_dir = job
    if corpus.load(path, corpus_dir) is None:
        return []
    _found.clear()
    data = path.read_bytes()
    for target in PRESETS:
        optimize(data, Settings(target=target), shipped_model())
    return list(_found)


def band(bpp: float) -> str:
    low = max(edge for edge in BANDS if edge <= bpp)
    following = [edge for edge in BANDS if edge > low]
    return f"{low:.1f}-{following[0]:.1f}" if following else f"{low:.1f} and up"


def table(rows: list[dict[str, float]]) -> list[str]:
    total_seconds = sum(r["seconds"] for r in rows)
    lines = ["| bits per pixel (baseline) | answers | progressive smaller in | bytes it saves where smaller | "
             "bytes it adds where larger | share of the progressive encodes' CPU time |", "|---|---|---|---|---|---|"]
    for name in dict.fromkeys(band(edge) for edge in BANDS):
        group = [r for r in rows if band(r["bpp"]) == name]
        saved = sum(r["bytes"] - r["progressive"] for r in group if r["progressive"] < r["bytes"])
        added = sum(r["progressive"] - r["bytes"] for r in group if r["progressive"] >= r["bytes"])
        share = sum(r["seconds"] for r in group) / total_seconds
        lines.append(f"| {name} | {len(group)} | {sum(r['progressive'] < r['bytes'] for r in group)} | {saved:,} | "
                     f"{added:,} | {share:.1%} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    args = train_arguments(__doc__).parse_args(argv)
    encode.leaner = _recorded  # before the workers fork, so that each runs the recording leaner
    found, drawn = on_train_draw(args, measure)
    tried = [r for r in found if r["bytes"] >= encode.PROGRESSIVE_MIN_BYTES]
    skipped = [r for r in tried if r["bpp"] < encode.PROGRESSIVE_MIN_BPP]
    lost = sum(r["bytes"] - r["progressive"] for r in skipped if r["progressive"] < r["bytes"])
    kept = sum(min(r["bytes"], r["progressive"]) if r in tried else r["bytes"] for r in found)
    lines = ["# Where the progressive re-encode pays", "",
             f"Command: `python -m bench.progressive --pictures {drawn}` ({drawn} train pictures, targets "
             f"{', '.join(map(str, PRESETS))}: {len(found)} answers, {len(tried)} of them from "
             f"PROGRESSIVE_MIN_BYTES = {encode.PROGRESSIVE_MIN_BYTES} bytes up). Each answer's baseline encoding "
             "against its progressive encoding, answers from PROGRESSIVE_MIN_BYTES up:", "", *table(tried), "",
             f"Not trying the progressive encode below PROGRESSIVE_MIN_BPP = {encode.PROGRESSIVE_MIN_BPP} spares "
             f"{sum(r['seconds'] for r in skipped) / sum(r['seconds'] for r in tried):.1%} of these encodes' CPU "
             f"time ({len(skipped)} answers, progressive smaller in "
             f"{sum(r['progressive'] < r['bytes'] for r in skipped)}) for {lost:,} bytes more of {kept:,} published "
             f"({lost / kept:.4%}).", ""]
    publish("train/progressive.md", "\n".join(lines))


if __name__ == "__main__":
    main()
