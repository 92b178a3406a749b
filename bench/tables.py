"""Quantisation tables on the train split: `make tune` (`python -m bench.tables`).

For each picture, subsampling and table set (handler/image/jpeg.py TABLE_SETS: libjpeg's Annex K tables and
mozjpeg's default, N. Robidoux's), the oracle search finds the lowest quality reaching each preset
(whole-image SSIMULACRA2, sequential coding, no metadata). The table compares total bytes of the two
table sets at their own lowest passing qualities, over the pictures where both reach the target.
`pixels.tables_for` was chosen from it. Writes bench/results/train/tables.md; never run on the test split.
"""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np

from bench import on_train_draw, publish, train_arguments
from handler.image.jpeg import ANNEX_K, ROBIDOUX
from handler.quality.ssim2 import Reference
from handler.settings import PRESETS
from training import corpus
from training.oracle import Curve, oracle_quality

CODINGS = ("4:2:0", "4:4:4")


def measure(job: tuple[Path, Path]) -> list[dict[str, object]]:
    """One row per target and subsampling: each table set's lowest passing quality and its bytes."""
    path, corpus_dir = job
    item = corpus.load(path, corpus_dir)
    if item is None:
        return []
    reference, rows = Reference(np.asarray(item.pixels.convert("RGB"))), []
    for subsampling in CODINGS[: 1 if item.pixels.mode == "L" else None]:
        curves = {tables: Curve(item.pixels, subsampling, reference, tables) for tables in (ANNEX_K, ROBIDOUX)}
        for target in PRESETS:
            found = {tables: oracle_quality(curve, target, curve.scores()) for tables, curve in curves.items()}
            if None not in found.values():
                rows.append({"target": target, "subsampling": subsampling,
                             **{tables: (q, curves[tables].points[q][1]) for tables, q in found.items()}})
    return rows


def table(rows: list[dict[str, object]]) -> list[str]:
    lines = ["| target | subsampling | pictures | bytes, Robidoux vs libjpeg | pictures smaller with Robidoux "
             "| median quality, libjpeg | median quality, Robidoux |", "|---|---|---|---|---|---|---|"]
    for target in PRESETS:
        for subsampling in CODINGS:
            group = [r for r in rows if r["target"] == target and r["subsampling"] == subsampling]
            if not group:  # a quick look (--limit) may hold only greyscale pictures, or none reaching the target
                lines.append(f"| {target} | {subsampling} | 0 | - | - | - | - |")
                continue
            ratio = sum(r[ROBIDOUX][1] for r in group) / sum(r[ANNEX_K][1] for r in group)
            smaller = sum(r[ROBIDOUX][1] < r[ANNEX_K][1] for r in group)
            medians = [statistics.median(r[tables][0] for r in group) for tables in (ANNEX_K, ROBIDOUX)]
            lines.append(f"| {target} | {subsampling} | {len(group)} | {ratio:.3f} | {smaller} "
                         f"| {medians[0]:g} | {medians[1]:g} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    args = train_arguments(__doc__).parse_args(argv)
    rows, drawn = on_train_draw(args, measure)
    head = ["# Quantisation tables (train split)", "",
            f"Command: `make tune` (`python -m bench.tables --pictures {args.pictures}`): {drawn} train pictures, "
            f"{args.jobs} worker processes. Bytes of each table set at its own lowest quality reaching the target "
            "(oracle search, whole image, sequential coding, no metadata), over the pictures where both reach it.",
            ""]
    publish("train/tables.md", "\n".join(head + table(rows) + [""]))


if __name__ == "__main__":
    main()
