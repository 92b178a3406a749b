"""Features of every corpus image, as the function computes them: `python -m training.measure`.

Writes training/data/images.csv (one row per image: name, split, features). Cheap (about a minute),
so it is redone whenever the features change, without relabelling.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from handler.quality.features import FEATURES, features
from training import corpus
from training.label import DATA

IMAGES = DATA / "images.csv"
IMAGE_FIELDS = ("name", "pixel_hash", "split", "format", "width", "height", "bytes", *FEATURES)


def row(item: corpus.Item) -> dict[str, object]:
    measured = features(item.info, item.pixels)
    return {
        "name": item.name,
        "pixel_hash": item.pixel_hash,
        "split": item.split,
        "format": item.info.format,
        "width": item.info.width,
        "height": item.info.height,
        "bytes": item.info.bytes,
        **{k: round(v, 5) for k, v in measured.items()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=corpus.DEFAULT_CORPUS)
    args = parser.parse_args(argv)
    DATA.mkdir(exist_ok=True)
    with IMAGES.open("w", newline="") as f:
        writer = csv.DictWriter(f, IMAGE_FIELDS)
        writer.writeheader()
        for item in corpus.items(args.corpus):
            writer.writerow(row(item))


if __name__ == "__main__":
    main()
