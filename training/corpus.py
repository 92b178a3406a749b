"""The corpus as the model sees it: images decoded exactly as the function decodes them, with a fixed split.

The split is by a hash of the decoded pixels, so copies of one picture with other EXIF (the corpus
has them) always land on the same side, and it never changes when files are added.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from handler.errors import KeepOriginal, Rejected
from handler.image.decode import decode
from handler.image.intake import Probe, open_image, probe

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"
HELD_OUT_SHARE = 4
"""One image in HELD_OUT_SHARE (by pixel hash) is held out for reporting; the rest tune and train."""

MAX_PIXELS = 100_000_000


@dataclass
class Item:
    path: Path
    name: str
    pixel_hash: str
    split: str
    info: Probe
    image: Image.Image
    pixels: Image.Image


def pixel_hash(pixels: Image.Image) -> str:
    return hashlib.sha1(np.asarray(pixels).tobytes()).hexdigest()[:16]


def split_of(hash_: str) -> str:
    return "test" if int(hash_, 16) % HELD_OUT_SHARE == 0 else "train"


def files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix.lower() != ".md")


def load(path: Path, corpus: Path) -> Item | None:
    """The item, or None where the function itself would not recompress it (kept or rejected)."""
    data = path.read_bytes()
    try:
        image = open_image(data, MAX_PIXELS)
        info = probe(image, len(data))
        pixels = decode(image)
    except (Rejected, KeepOriginal):
        return None
    hash_ = pixel_hash(pixels)
    return Item(path, str(path.relative_to(corpus)), hash_, split_of(hash_), info, image, pixels)


def items(corpus: Path) -> Iterator[Item]:
    for path in files(corpus):
        item = load(path, corpus)
        if item is not None:
            yield item
