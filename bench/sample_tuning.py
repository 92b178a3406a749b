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
from collections.abc import Callable

from bench import on_train_draw, publish, train_arguments
from bench.quality import bisection, oracle, output_score, per_picture, published, sequential, shipped_model, timed
from handler.core import optimize
from handler.image import encode
from handler.quality import search
from handler.quality.ssim2 import Reference
from handler.settings import Settings
from training import corpus

TARGETS = (70, 80, 85)
MODULES = {"search": search, "encode": encode}
BASE = {"TILE": 96, "SAMPLE_SHARE": 4, "SURPLUS": 2.0, "SAMPLE_MARGIN": 1.0, "SAMPLE_SURPLUS": 0.0,
        "CONFIRM_MAX_PIXELS": 25_000_000, "WHOLE_MAX_PIXELS": 256 * 256, "encode.PROGRESSIVE_MIN_BYTES": 0}
"""What each variant starts from (constants of handler/quality/search.py unless a module is named), whatever is
shipped, so that the table reruns the same: a mosaic of 1/4 of the image from 64K pixels up, the progressive
encode always tried."""
MOSAIC_ONLY = {"CONFIRM_MAX_PIXELS": 0, "SURPLUS": 2.0}
VARIANTS: dict[str, dict[str, float]] = {  # unnamed constants as shipped
    "before: whole walk to 0.26 MP, tiles 32-96 (1/4 of the image)": {"WHOLE_MAX_PIXELS": 512 * 512, "TILE": 96,
                                                                      "SAMPLE_SHARE": 4},
    "whole walk to 128K pixels (362 x 362), mosaic above": {"WHOLE_MAX_PIXELS": 2 ** 17},
    "whole walk to 64K pixels (256 x 256), mosaic above": {"TILE": 96, "SAMPLE_SHARE": 4},
    "whole walk to 64K, mosaic 1/2 of the image": {"TILE": 96, "SAMPLE_SHARE": 2},
    "whole walk to 64K, tiles to 128": {"TILE": 128, "SAMPLE_SHARE": 4},
    "whole walk to 64K, tiles to 192, 1/2 of the image": {"TILE": 192, "SAMPLE_SHARE": 2},
    "whole walk to 64K, progressive tried from 5 KB": {"encode.PROGRESSIVE_MIN_BYTES": 5000},
    "before, progressive tried from 5 KB": {"WHOLE_MAX_PIXELS": 512 * 512, "encode.PROGRESSIVE_MIN_BYTES": 5000},
    "whole walk to 64K, margin 1.5, surplus 3, mosaic surplus 1": {"SAMPLE_MARGIN": 1.5, "SURPLUS": 3.0,
                                                                   "SAMPLE_SURPLUS": 1.0},
    "mosaic only (no whole-image check), margin 2": {**MOSAIC_ONLY, "SAMPLE_MARGIN": 2.0},
    "mosaic only (no whole-image check), margin 4": {**MOSAIC_ONLY, "SAMPLE_MARGIN": 4.0},
}


@per_picture
def measure(item: corpus.Item, data: bytes, whole: Reference, base: float) -> list[dict[str, object]]:
    model, rows = shipped_model(), []
    for target in TARGETS:
        run, oracle_seconds = timed(oracle, item, target)
        oracle_bytes = published(run.data, data)
        bisection_seconds = timed(bisection, item, target)[1]
        for variant, constants in VARIANTS.items():
            for name, value in {**BASE, **constants}.items():  # this worker process's copy of the module
                module, _, name = name.rpartition(".")
                setattr(MODULES[module or "search"], name, value)
            settings = Settings(target=target)
            (out, result), seconds = timed(optimize, data, settings, model)
            kept = result.outcome != "optimized"
            rows.append({"target": target, "variant": variant, "oracle_bytes": oracle_bytes,
                         "bytes": len(data) if kept else sequential(item, result, settings),
                         "published": published(out, data), "checks": result.whole_image_checks or 0,
                         "speedup": oracle_seconds / seconds, "bisection_speedup": bisection_seconds / seconds,
                         "decode_encode": seconds / base, "score": 100.0 if kept else output_score(whole, out)})
    return rows


def _by_variant(rows: list[dict[str, object]], columns: tuple[str, ...],
                cells: Callable[[list[dict[str, object]], int], list[str]]) -> list[str]:
    """A markdown table with a row per variant and, per target, a cell for each of `columns` (`cells` makes them
    from the rows of that variant and target)."""
    lines = ["| variant | " + " | ".join(f"{column}, {t}" for t in TARGETS for column in columns) + " |",
             "|---|" + "---|" * (len(columns) * len(TARGETS))]
    for variant in VARIANTS:
        row = [cell for target in TARGETS
               for cell in cells([r for r in rows if r["variant"] == variant and r["target"] == target], target)]
        lines.append(f"| {variant} | " + " | ".join(row) + " |")
    return lines


def table(rows: list[dict[str, object]]) -> list[str]:
    def cells(group: list[dict[str, object]], target: int) -> list[str]:
        total = sum(r["bytes"] for r in group) / sum(r["oracle_bytes"] for r in group)
        passing = sum(r["score"] >= target for r in group) / len(group)
        return [f"{total:.3f}", f"{statistics.median(r['speedup'] for r in group):.2f}",
                f"{statistics.median(r['bisection_speedup'] for r in group):.2f}", f"{passing:.0%}",
                f"{min(r['score'] for r in group):.1f}"]

    return _by_variant(rows, ("bytes vs oracle", "x faster", "x faster than bisection", "pass", "worst"), cells)


def cost_table(rows: list[dict[str, object]]) -> list[str]:
    """Per variant and target: the mean whole-image checks per picture, the median time as a multiple of one
    decode + encode (`bench.quality.baseline`), and the bytes published (progressive where kept) vs the oracle's."""
    def cells(group: list[dict[str, object]], target: int) -> list[str]:
        return [f"{statistics.mean(r['checks'] for r in group):.2f}",
                f"{statistics.median(r['decode_encode'] for r in group):.2f}",
                f"{sum(r['published'] for r in group) / sum(r['oracle_bytes'] for r in group):.3f}"]

    return _by_variant(rows, ("checks per picture", "x decode+encode", "published bytes vs oracle"), cells)


def main(argv: list[str] | None = None) -> None:
    parser = train_arguments(__doc__)
    parser.add_argument("--variants", nargs="+", help="only the variants whose names contain one of these")
    args = parser.parse_args(argv)
    if args.variants:  # a quick look at some variants; the committed table runs them all
        for name in [v for v in VARIANTS if not any(part in v for part in args.variants)]:
            del VARIANTS[name]
    rows = on_train_draw(args, measure)[0]
    pictures_used = len(rows) // (len(VARIANTS) * len(TARGETS))
    lines = ["# Tuning the verifier's sample (train split)", "",
             (f"Command: `make tune` (`python -m bench.sample_tuning --pictures {args.pictures}`): {pictures_used} "
              f"train pictures, {args.jobs} worker processes. Sizes with sequential coding, as the oracle's."), ""]
    costs = ["", "Whole-image checks per picture (mean), time per picture as a multiple of one decode + encode "
             "(median) and bytes as published (progressive coding where it is smaller) vs the oracle's:", ""]
    text = "\n".join(lines + table(rows) + costs + cost_table(rows) + [""])
    if args.variants:
        print(text)
    else:
        publish("train/sample-tuning.md", text)


if __name__ == "__main__":
    main()
