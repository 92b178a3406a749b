"""Quality curves for every corpus image: `python -m training.label [--corpus DIR]`.

For each image and each subsampling it binary-searches the oracle quality of every target and keeps
every (quality, score, bytes) point it measured, so labels for any target come from this one pass.
Appends to training/data/curves.csv and resumes where it stopped.
"""

from __future__ import annotations

import argparse
import csv
import os
from multiprocessing import Pool
from pathlib import Path

from handler.config import PRESETS
from training import corpus
from training.oracle import Curve, oracle_quality

DATA = Path(__file__).resolve().parent / "data"
CURVES = DATA / "curves.csv"
CURVE_FIELDS = ("name", "subsampling", "quality", "score", "bytes")
SUBSAMPLING_TARGETS = {"4:2:0": PRESETS, "4:4:4": PRESETS}


def label(path: Path, root: Path) -> list[dict[str, object]]:
    item = corpus.load(path, root)
    if item is None:
        return []
    subsamplings = ["4:2:0"] if item.pixels.mode == "L" else list(SUBSAMPLING_TARGETS)
    rows = []
    for subsampling in subsamplings:
        curve = Curve(item.pixels, subsampling)
        for target in SUBSAMPLING_TARGETS[subsampling]:
            oracle_quality(curve, target)
        rows += [
            {"name": item.name, "subsampling": subsampling, "quality": q, "score": round(s, 3), "bytes": b}
            for q, (s, b) in sorted(curve.points.items())
        ]
    return rows


def _label(args: tuple[Path, Path]) -> tuple[str, list[dict[str, object]]]:
    path, root = args
    return str(path.relative_to(root)), label(path, root)


def done_names() -> set[str]:
    if not CURVES.exists():
        return set()
    with CURVES.open() as f:
        return {row["name"] for row in csv.DictReader(f)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=corpus.DEFAULT_CORPUS)
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    args = parser.parse_args(argv)
    done = done_names()
    todo = [(p, args.corpus) for p in corpus.files(args.corpus) if str(p.relative_to(args.corpus)) not in done]
    # big images first, so that the pool does not end on one straggler
    todo.sort(key=lambda job: -job[0].stat().st_size)
    DATA.mkdir(exist_ok=True)
    new = not CURVES.exists()
    with CURVES.open("a", newline="") as f, Pool(args.jobs, maxtasksperchild=20) as pool:
        writer = csv.DictWriter(f, CURVE_FIELDS)
        if new:
            writer.writeheader()
        for count, (name, rows) in enumerate(pool.imap_unordered(_label, todo), 1):
            writer.writerows(rows)
            f.flush()
            print(f"{count}/{len(todo)} {name}: {len(rows)} points", flush=True)


if __name__ == "__main__":
    main()
