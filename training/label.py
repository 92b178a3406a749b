"""Quality curves for every corpus image: `python -m training.label [--corpus DIR]`.

For each picture it searches the oracle quality of every target (`training.oracle.oracle_quality`; Pillow,
optimize=True, 4:2:0, as the oracle is defined) and keeps every (quality, score, bytes) point it measured,
so labels for any target come from this one pass.
Appends to training/data/curves.csv and resumes where it stopped.
"""

from __future__ import annotations

import argparse
import csv
from multiprocessing import Pool
from pathlib import Path

import handler
from handler.settings import PRESETS
from training import corpus
from training.oracle import Curve, oracle_quality

DATA = Path(__file__).resolve().parent / "data"
CURVES = DATA / "curves.csv"
CURVE_FIELDS = ("name", "subsampling", "quality", "score", "bytes")
SUBSAMPLING = "4:2:0"


def label(path: Path, root: Path) -> list[dict[str, object]]:
    item = corpus.load(path, root)
    if item is None:
        return []
    curve = Curve(item.pixels, SUBSAMPLING)
    for target in PRESETS:
        oracle_quality(curve, target, curve.scores())
    return [
        {"name": item.name, "subsampling": SUBSAMPLING, "quality": q, "score": round(s, 3), "bytes": b}
        for q, (s, b) in sorted(curve.points.items())
    ]


def _label(args: tuple[Path, Path]) -> tuple[str, list[dict[str, object]]]:
    path, root = args
    return str(path.relative_to(root)), label(path, root)


def pictures(split: str | None = None) -> list[str]:
    """One corpus name per picture (copies with other EXIF count once), of one split or of all, from
    training/data/images.csv (written by training.measure)."""
    with (DATA / "images.csv").open() as f:
        rows = [row for row in csv.DictReader(f) if split is None or row["split"] == split]
    return sorted({row["pixel_hash"]: row["name"] for row in rows}.values())


def done_names() -> set[str]:
    if not CURVES.exists():
        return set()
    with CURVES.open() as f:
        return {row["name"] for row in csv.DictReader(f)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=corpus.DEFAULT_CORPUS)
    parser.add_argument("--jobs", type=int, default=handler.cores())
    args = parser.parse_args(argv)
    done = done_names()
    todo = [(args.corpus / name, args.corpus) for name in pictures() if name not in done]
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
