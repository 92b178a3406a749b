"""Fuzzing the core, outside CI: `python -m bench.fuzz --examples 2000` (about 15 s; 20,000 take 2 minutes).

Hypothesis mutates small JPEG, PNG, GIF, TIFF, WebP, BMP, ICO, TGA, MPO, AVIF and HEIC files made by code (bit flips,
truncation, inserted bytes, header fields overwritten with edge values) and feeds each to core.optimize with a
fixed model and the verifying chooser, as the handler calls it. Every case must return (no exception escapes),
within its deadline (no hang), with an output never larger than its input. Prints how many cases ran and their
outcomes, and writes bench/results/fuzz.md. Exits 1 on the first failing case, after Hypothesis has shrunk it.
"""

from __future__ import annotations

import argparse
import io
import random
import signal
import sys
import time
import traceback
import warnings
from collections import Counter
from dataclasses import dataclass, field

import hypothesis
import numpy as np
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from PIL import Image

from bench import publish
from handler.core import optimize
from handler.quality.model import Linear, Model
from handler.result import OPTIMIZED, ORIGINAL_KEPT, REJECTED
from handler.settings import Settings
from scripts.images import encoded, photo_like

MODEL = Model("fuzz-fixed-80", {"all": Linear(("bpp",), np.zeros(1), 80.0, np.zeros(1), np.full(1, 100.0))})
SETTINGS = Settings()
EDGE_VALUES = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)


def camera_exif() -> bytes:
    """EXIF with an orientation, a make and a sub-IFD, so that mutations reach the EXIF parser too."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "FuzzCam"
    exif.get_ifd(0x8769)[0x9003] = "2024:01:01 12:00:00"
    return exif.tobytes()


def fixtures() -> dict[str, bytes]:
    """The small files every case starts from: each JPEG and PNG flavour the core treats differently, and each
    other format's plugin once or twice."""
    image = photo_like(64, 48)
    return {
        "jpeg": encoded(image, quality=90),
        "jpeg-progressive": encoded(image, quality=85, progressive=True),
        "jpeg-grey": encoded(image.convert("L"), quality=92),
        "jpeg-exif-icc": encoded(image, quality=90, exif=camera_exif(), icc_profile=b"\0" * 128),
        "png": encoded(image, "PNG"),
        "png-palette-alpha": encoded(image.convert("P", palette=Image.Palette.ADAPTIVE), "PNG", transparency=3),
        "png-16bit": encoded(Image.fromarray(np.asarray(image.convert("L"), dtype=np.uint16) * 257), "PNG"),
        "png-exif": encoded(image, "PNG", exif=camera_exif()),
        **other_formats(image),
    }


def other_formats(image: Image.Image) -> dict[str, bytes]:
    """The other formats uploads come in, each read by its own Pillow plugin (and libtiff, libwebp): an animated
    and a still GIF, TIFF (LZW, and a multi-page one), WebP (lossy and lossless), BMP, ICO, TGA and a two-picture
    MPO."""
    frames = [photo_like(64, 48, seed).quantize(32) for seed in range(3)]
    return {
        "gif-animated": encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0),
        "gif": encoded(frames[0], "GIF"),
        "tiff": encoded(image, "TIFF", compression="tiff_lzw", dpi=(300, 300)),
        "tiff-pages": encoded(image, "TIFF", save_all=True, append_images=[image.rotate(180)]),
        "webp": encoded(image, "WEBP", quality=90),
        "webp-lossless": encoded(image, "WEBP", lossless=True),
        "bmp": encoded(image, "BMP"),
        "ico": encoded(image, "ICO", sizes=[(48, 48)]),
        "tga": encoded(image, "TGA", compression="tga_rle"),
        "mpo": encoded(image, "MPO", quality=90, save_all=True, append_images=[image.rotate(180)]),
        "avif": encoded(image, "AVIF", quality=80),
        "heic": heic(image),
    }


def heic(image: Image.Image) -> bytes:
    """A phone camera's format, read through pillow-heif's libheif: its parser, not Pillow's, meets the mutations."""
    from handler.image.intake import heif_reader

    heif_reader()  # registers the writer too
    return encoded(image, "HEIF", quality=80)


FIXTURES = fixtures()


def header_end(data: bytes) -> int:
    """Where the header ends: a JPEG's first scan (SOS), a PNG's first IDAT, a GIF's first image descriptor, a
    WebP's bitstream chunk, an AVIF's or HEIC's media data box (its boxes before it describe the picture); else
    the first 64 bytes (BMP, ICO, TGA headers and a TIFF's first IFD written at its end by Pillow lie within or
    are reached by the other mutations). Mutations there hit the parsers."""
    for marker in (b"\xff\xda", b"IDAT", b"\x2c\x00\x00\x00\x00", b"VP8", b"mdat"):
        if (found := data.find(marker)) > 0:
            return found + len(marker)
    return min(len(data), 64)


@dataclass(frozen=True)
class Mutation:
    kind: str  # flip, truncate, insert, field
    where: float  # 0..1, scaled to the data it is applied to
    payload: bytes = b""
    bit: int = 0

    def apply(self, data: bytes) -> bytes:
        if not data:
            return data + self.payload if self.kind == "insert" else data
        at = min(int(self.where * len(data)), len(data) - 1)
        if self.kind == "flip":
            return data[:at] + bytes([data[at] ^ (1 << self.bit)]) + data[at + 1 :]
        if self.kind == "truncate":
            return data[:at]
        if self.kind == "insert":
            return data[:at] + self.payload + data[at:]
        at = min(int(self.where * header_end(data)), len(data) - 1)  # field: overwrite bytes in the header
        return data[:at] + self.payload + data[at + len(self.payload) :]


def mutations() -> st.SearchStrategy[Mutation]:
    # Spread over the whole file: Hypothesis's floats (and randoms) crowd near 0, onto the format's signature.
    where = st.integers(0, 2**64 - 1).map(lambda n: random.Random(n).random())
    value = st.sampled_from(EDGE_VALUES) | st.integers(0, 2**32 - 1)
    header_field = st.builds(lambda v, width: v.to_bytes(8, "big")[-width:], value, st.sampled_from((1, 2, 4)))
    return st.one_of(
        st.builds(Mutation, st.just("flip"), where, bit=st.integers(0, 7)),
        st.builds(Mutation, st.just("truncate"), where),
        st.builds(Mutation, st.just("insert"), where, st.binary(min_size=1, max_size=32)),
        st.builds(Mutation, st.just("field"), where, header_field),
    )


class Hang(Exception):
    """One case ran past twice its deadline: a hang, interrupted (a deadline is otherwise checked on return)."""


def _alarm(signum: int, frame: object) -> None:
    raise Hang("case ran past twice its deadline")


@dataclass(frozen=True)
class Deadline:
    """Seconds one case may take. A mutated header can declare megapixels (a 64 x 65,328 JPEG from a
    1.5 kB file), whose work legitimately takes seconds, so the deadline grows with the declared size."""

    base: float
    per_megapixel: float

    def of(self, data: bytes) -> float:
        try:
            width, height = Image.open(io.BytesIO(data)).size
        except Exception:  # noqa: BLE001 - an unreadable header declares no pixels
            return self.base
        return self.base + self.per_megapixel * min(width * height, SETTINGS.max_pixels) / 1e6


@dataclass
class Tally:
    cases: int = 0
    slowest: float = 0.0
    slowest_case: str = ""
    outcomes: Counter[str] = field(default_factory=Counter)


def check(data: bytes, deadline: float, tally: Tally, name: str) -> None:
    """One case: optimize must return within `deadline`, with an output no larger than the input, and not by way of
    an internal error (a fault of ours that the core's boundary recorded instead of raising)."""
    signal.setitimer(signal.ITIMER_REAL, 2 * deadline)
    start = time.perf_counter()
    try:
        out, result = optimize(data, SETTINGS, MODEL)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    elapsed = time.perf_counter() - start
    tally.cases += 1
    tally.outcomes[f"{result.outcome} ({result.reason})"] += 1
    if elapsed > tally.slowest:
        size = f"{result.width}x{result.height}" if result.width else "no size"
        tally.slowest, tally.slowest_case = elapsed, f"{name}, {size}, {result.outcome} ({result.reason})"
    assert elapsed <= deadline, f"took {elapsed:.1f} s, deadline {deadline:.1f} s"
    assert result.outcome in (OPTIMIZED, ORIGINAL_KEPT, REJECTED), result
    # the core's boundary turns a fault of ours into a record too: here it is the finding it would be in production
    assert result.reason != "internal-error", result
    assert len(out) == result.bytes_out <= len(data), (len(out), len(data), result)


def run(examples: int, deadline: Deadline, seed: int, tally: Tally) -> None:
    @hypothesis.seed(seed)
    @hypothesis.settings(max_examples=examples, deadline=None, database=None,
                         phases=(Phase.generate, Phase.shrink), suppress_health_check=list(HealthCheck))
    @given(name=st.sampled_from(sorted(FIXTURES)), changes=st.lists(mutations(), min_size=1, max_size=3))
    def case(name: str, changes: list[Mutation]) -> None:
        data = FIXTURES[name]
        for change in changes:
            data = change.apply(data)
        check(data, deadline.of(data), tally, f"{name} {changes}")

    case()


def report(args: argparse.Namespace, tally: Tally, seconds: float, failure: str | None) -> str:
    command = (f"python -m bench.fuzz --examples {args.examples} --deadline {args.deadline}"
               f" --per-megapixel {args.per_megapixel} --seed {args.seed}")
    verdict = f"FAILED: {failure}" if failure else ("no exception escaped, no internal error, no hang, no output larger"
                                                    " than its input")
    lines = [
        "# Fuzzing the core", "",
        f"Command: `{command}`",
        "",
        f"Fixtures (64x48, made by code): {', '.join(sorted(FIXTURES))}.",
        "",
        "Each case applies 1-3 mutations to one: bit flips, truncation, inserted bytes, header fields overwritten",
        "with edge values; then core.optimize with a fixed model (quality 80) and the verifying chooser. Deadline",
        f"per case: {args.deadline} s + {args.per_megapixel} s per megapixel its header declares.",
        "",
        f"- cases run: {tally.cases} in {seconds:.0f} s",
        f"- slowest case: {tally.slowest:.2f} s, {tally.slowest_case}",
        f"- result: {verdict}",
        "",
        "| outcome (reason) | cases |", "|---|---|",
        *(f"| {name} | {count} |" for name, count in tally.outcomes.most_common()),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--deadline", type=float, default=5.0, help="seconds a case may take, plus ...")
    parser.add_argument("--per-megapixel", type=float, default=5.0, help="... this per megapixel it declares")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGALRM, _alarm)
    warnings.simplefilter("ignore", UserWarning)  # Pillow's "Corrupt EXIF data" and the like, thousands of them
    tally, failure, start = Tally(), None, time.perf_counter()
    try:
        run(args.examples, Deadline(args.deadline, args.per_megapixel), args.seed, tally)
    except Exception as exc:  # noqa: BLE001 - any escape is the finding
        traceback.print_exception(exc)  # with Hypothesis's note naming the shrunk falsifying case
        notes = " ".join(getattr(exc, "__notes__", []))
        failure = f"{type(exc).__module__}.{type(exc).__name__}: {str(exc)[:300]} {notes}"
    text = report(args, tally, time.perf_counter() - start, failure)
    publish("fuzz.md", text)
    return 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main())
