"""Tune the verifier's sample on the train split: `make tune` (`python -m bench.sample_tuning`).

For each variant of the constants in handler/quality/search.py (tile size, the mosaic's share of the image, the
surplus that sends the whole-image check lower; and, to show why there is a whole-image check, the mosaic
alone with four margins), the function runs on train pictures at three targets beside the oracle: total
bytes vs the oracle's, the median speed-up over the oracle and over bisection (`bench.quality.bisection`),
and the share of outputs whose whole image reaches the target, with the worst score (a kept original
counts as 100). Sizes are of sequential
coding, like the oracle's, so that progressive coding does not hide what the sample changes. The values
in handler/quality/search.py were chosen from this table. Writes bench/results/train/sample-tuning.md; never run
on the test split.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

from bench import on_train_draw, publish, train_arguments
from bench.quality import bisection, oracle, output_score, published, sequential, shipped_model, timed
from handler.core import optimize
from handler.quality import search
from handler.quality.ssim2 import Reference
from handler.settings import Settings
from training import corpus

TARGETS = (70, 80, 85)
SHIPPED = {name: getattr(search, name) for name in ("TILE", "SAMPLE_SHARE", "SURPLUS", "SAMPLE_MARGIN",
                                                    "SAMPLE_SURPLUS", "CONFIRM_MAX_PIXELS")}
"""What each variant starts from: the constants as shipped."""
MOSAIC_ONLY = {"CONFIRM_MAX_PIXELS": 0, "SURPLUS": 2.0}
VARIANTS: dict[str, dict[str, float]] = {  # SAMPLE_SHARE 1 means always TILE; unnamed constants as shipped
    "tile 96, surplus 2": {"TILE": 96, "SAMPLE_SHARE": 1, "SAMPLE_MARGIN": 1.0, "SURPLUS": 2.0},
    "tile 96, surplus 1": {"TILE": 96, "SAMPLE_SHARE": 1, "SAMPLE_MARGIN": 1.0, "SURPLUS": 1.0},
    "tile 64, surplus 2": {"TILE": 64, "SAMPLE_SHARE": 1, "SAMPLE_MARGIN": 1.0, "SURPLUS": 2.0},
    "tile 64, surplus 1": {"TILE": 64, "SAMPLE_SHARE": 1, "SAMPLE_MARGIN": 1.0, "SURPLUS": 1.0},
    "tile 32-96 (1/8 of the image), surplus 2": {"TILE": 96, "SAMPLE_SHARE": 8, "SAMPLE_MARGIN": 1.0, "SURPLUS": 2.0},
    "tile 32-96 (1/4 of the image), surplus 2": {"TILE": 96, "SAMPLE_SHARE": 4, "SAMPLE_MARGIN": 1.0, "SURPLUS": 2.0},
    "margin 1, surplus 3": {"SAMPLE_MARGIN": 1.0, "SURPLUS": 3.0},
    "margin 1.5, surplus 3": {"SAMPLE_MARGIN": 1.5, "SURPLUS": 3.0},
    "margin 2, surplus 3": {"SAMPLE_MARGIN": 2.0, "SURPLUS": 3.0},
    "margin 2, surplus 4": {"SAMPLE_MARGIN": 2.0, "SURPLUS": 4.0},
    "margin 1.5, surplus 3, mosaic surplus 1": {"SAMPLE_MARGIN": 1.5, "SURPLUS": 3.0, "SAMPLE_SURPLUS": 1.0},
    "mosaic only (no whole-image check), margin 1": {**MOSAIC_ONLY, "SAMPLE_MARGIN": 1.0},
    "mosaic only (no whole-image check), margin 2": {**MOSAIC_ONLY, "SAMPLE_MARGIN": 2.0},
    "mosaic only (no whole-image check), margin 3": {**MOSAIC_ONLY, "SAMPLE_MARGIN": 3.0},
    "mosaic only (no whole-image check), margin 4": {**MOSAIC_ONLY, "SAMPLE_MARGIN": 4.0},
}


def measure(job: tuple[Path, Path]) -> list[dict[str, object]]:
    path, corpus_dir = job
    item = corpus.load(path, corpus_dir)
    if item is None:
        return []
    data, model, rows = path.read_bytes(), shipped_model(), []
    whole = Reference(np.asarray(item.pixels.convert("RGB")))
    for target in TARGETS:
        run, oracle_seconds = timed(oracle, item, target)
        oracle_bytes = published(run.data, data)
        bisection_seconds = timed(bisection, item, target)[1]
        for variant, constants in VARIANTS.items():
            for name, value in {**SHIPPED, **constants}.items():  # this worker process's copy of the module
                setattr(search, name, value)
            settings = Settings(target=target)
            (out, result), seconds = timed(optimize, data, settings, model, search.verified)
            kept = result.outcome != "optimized"
            rows.append({"target": target, "variant": variant, "oracle_bytes": oracle_bytes,
                         "bytes": len(data) if kept else sequential(item, result, settings),
                         "speedup": oracle_seconds / seconds, "bisection_speedup": bisection_seconds / seconds,
                         "score": 100.0 if kept else output_score(whole, out)})
    return rows


def table(rows: list[dict[str, object]]) -> list[str]:
    lines = ["| variant | " + " | ".join(f"bytes vs oracle, {t} | x faster, {t} | x faster than bisection, {t} "
                                          f"| pass, {t} | worst, {t}" for t in TARGETS) + " |",
             "|---|" + "---|---|---|---|---|" * len(TARGETS)]
    for variant in VARIANTS:
        cells = []
        for target in TARGETS:
            group = [r for r in rows if r["variant"] == variant and r["target"] == target]
            total = sum(r["bytes"] for r in group) / sum(r["oracle_bytes"] for r in group)
            passing = sum(r["score"] >= target for r in group) / len(group)
            cells += [f"{total:.3f}", f"{statistics.median(r['speedup'] for r in group):.2f}",
                      f"{statistics.median(r['bisection_speedup'] for r in group):.2f}", f"{passing:.0%}",
                      f"{min(r['score'] for r in group):.1f}"]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> None:
    args = train_arguments(__doc__).parse_args(argv)
    rows = on_train_draw(args, measure)[0]
    pictures_used = len(rows) // (len(VARIANTS) * len(TARGETS))
    lines = ["# Tuning the verifier's sample (train split)", "",
             (f"Command: `make tune` (`python -m bench.sample_tuning --pictures {args.pictures}`): {pictures_used} "
              f"train pictures, {args.jobs} worker processes. Sizes with sequential coding, as the oracle's."), ""]
    publish("train/sample-tuning.md", "\n".join(lines + table(rows) + [""]))


if __name__ == "__main__":
    main()
