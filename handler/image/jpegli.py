"""google/jpegli through pyjpegli: a second JPEG encoder the search may choose per picture.

pyjpegli takes packed RGB and a quality, nothing else: it writes a sequential 4:2:0 JPEG with jpegli's own
quantisation tables (fixed by the quality, whatever the pixels: its adaptive quantisation acts on the
coefficients, not the tables), standard Huffman tables and no APP or COM segment. So it codes RGB pictures only,
the metadata is spliced in by handler.image.encode, and the answer's entropy coding is redone losslessly
(handler.image.recode).
"""

from __future__ import annotations

import io
from functools import lru_cache

import pyjpegli
from PIL import Image

JPEGLI = "jpegli"
"""The record's `tables` for an output jpegli coded: its own tables at `quality` on its own scale."""

SUBSAMPLING = "4:2:0"
"""The only chroma subsampling pyjpegli writes."""

QUALITY_OFFSET = 2
"""jpegli's quality scale sits above libjpeg's: the median lowest quality reaching each preset on the train split
was 2 or 3 steps higher for jpegli than for Pillow with libjpeg's tables in 4:2:0 (`python -m bench.encoders`,
bench/results/train/encoders.md). A jpegli walk starts this much above the quality Pillow's walk settled on; the
record's quality stays on jpegli's scale (where the same number keeps a little less than libjpeg's, so the cap at
the source's own quality holds for it too)."""


def encode(pixels: Image.Image, quality: int) -> bytes:
    """`pixels` (RGB) coded by jpegli at `quality`, with no metadata."""
    if pixels.mode != "RGB":
        raise ValueError(f"jpegli codes RGB pixels only, not mode {pixels.mode}")
    return pyjpegli.encode(pixels.tobytes(), pixels.width, pixels.height, quality)


@lru_cache(maxsize=None)
def tables(quality: int) -> dict[int, list[int]]:
    """The quantisation tables jpegli writes at `quality`, as Pillow reports a file's (`quantization`): read back
    from an encoding of 16 x 16 pixels, since they do not depend on the pixels."""
    coded = Image.open(io.BytesIO(encode(Image.new("RGB", (16, 16)), quality)))
    return {index: list(table) for index, table in coded.quantization.items()}
