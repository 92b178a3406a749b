"""How an answer's entropy coding is redone, and where progressive scans pay: `python -m bench.recode --pictures 80`
(train split, in `make tune`, run in .venv-enc for mozjpeg's recoder; without that package its row is left out).

For a fixed draw of train pictures, the function runs as shipped at every target, and each answer as the search
encoded it (Pillow's: optimized Huffman tables, one sequential scan; jpegli's: standard tables, one sequential scan)
is recoded every way compared here, whatever the thresholds: by the function's recoder (handler.image.recode) in one
sequential scan, in the shipped PROGRESSIVE_SCRIPT (its scans coded by the recoder; and, to compare the time, by
libjpeg, which codes each scan twice, to count and to write: the same bytes), in libjpeg's standard progressive
script (what Pillow writes with progressive=True), in a script of spectral bands only, and by mozjpeg's recoder (its
jpegtran tries several scripts per image and keeps the smallest). Per encoder and way: the bytes against the answer
as encoded, and the CPU time as a multiple of one decode + encode of the picture (bench.quality.baseline, CPU time
too). Then where the shipped script beats one sequential scan (Pillow's answer as it is; a jpegli answer recoded
sequentially): for answers from PROGRESSIVE_MIN_BYTES up by bits per pixel (it wins at nearly every rate, so there
is no floor by rate), and under PROGRESSIVE_MIN_BYTES, where it is not tried.
Writes bench/results/train/recode.md.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from bench import on_train_draw, publish, train_arguments
from bench.quality import baseline, shipped_model
from bench.stages import cpu_seconds
from handler.core import optimize
from handler.image import encode, jpegli, recode
from handler.image.recode import ALL
from handler.settings import PRESETS, Settings
from training import corpus

try:
    import mozjpeg_lossless_optimization
except ImportError:  # outside .venv-enc: the comparison is left out
    mozjpeg_lossless_optimization = None

SPECTRAL = ((0, 0, 0, 0, 0), (1, 0, 0, 0, 0), (2, 0, 0, 0, 0), (0, 1, 2, 0, 0), (0, 3, 9, 0, 0), (0, 10, 63, 0, 0),
            (1, 1, 2, 0, 0), (1, 3, 63, 0, 0), (2, 1, 2, 0, 0), (2, 3, 63, 0, 0))
"""PROGRESSIVE_SCRIPT's bands without successive approximation: fewer passes, each coefficient sent whole."""

LIBJPEG = ((ALL, 0, 0, 0, 1), (0, 1, 5, 0, 2), (2, 1, 63, 0, 1), (1, 1, 63, 0, 1), (0, 6, 63, 0, 2), (0, 1, 63, 2, 1),
           (ALL, 0, 0, 1, 0), (2, 1, 63, 1, 0), (1, 1, 63, 1, 0), (0, 1, 63, 1, 0))
"""libjpeg's jpeg_simple_progression for YCbCr: the scans of Pillow's progressive=True (a greyscale image keeps the
luma rows)."""

WAYS: dict[str, Callable[[bytes], bytes]] = {
    "one sequential scan": lambda jpeg: recode.recoded(jpeg, recode.SEQUENTIAL),
    "PROGRESSIVE_SCRIPT (shipped)": lambda jpeg: recode.recoded(jpeg, encode.PROGRESSIVE_SCRIPT),
    "PROGRESSIVE_SCRIPT, every scan coded by libjpeg": lambda jpeg: recode.recoded(
        jpeg, encode.PROGRESSIVE_SCRIPT, own_coding=False),
    "libjpeg's script (Pillow's progressive)": lambda jpeg: recode.recoded(jpeg, LIBJPEG),
    "spectral bands only": lambda jpeg: recode.recoded(jpeg, SPECTRAL),
}
if mozjpeg_lossless_optimization is not None:
    WAYS["mozjpeg's recoder"] = lambda jpeg: mozjpeg_lossless_optimization.optimize(
        jpeg, mozjpeg_lossless_optimization.COPY_MARKERS.ALL)
SHIPPED, SEQUENTIAL = "PROGRESSIVE_SCRIPT (shipped)", "one sequential scan"

BANDS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0, 2.0)
"""Lower edges of the bits-per-pixel bands the threshold table groups answers in."""

_answers: list[tuple[bytes, str]] = []
_shipped_leaner = encode.leaner


def _recorded(encoded: bytes, tables: str) -> bytes:
    """encode.leaner, keeping the answer as the search encoded it."""
    _answers.append((encoded, tables))
    return _shipped_leaner(encoded, tables)


def _cpu(function: Callable[[bytes], bytes], data: bytes) -> tuple[bytes, float]:
    """`function(data)` and the CPU seconds it took."""
    start = time.process_time()
    out = function(data)
    return out, time.process_time() - start


def measure(job: tuple[Path, Path]) -> list[dict[str, object]]:
    path, corpus_dir = job
    if corpus.load(path, corpus_dir) is None:
        return []
    data, rows = path.read_bytes(), []
    base = min(cpu_seconds(baseline, data) for _ in range(3))
    _answers.clear()
    for target in PRESETS:
        optimize(data, Settings(target=target), shipped_model())
    for encoded, tables in _answers:
        width, height = Image.open(io.BytesIO(encoded)).size
        row: dict[str, object] = {"encoder": "jpegli" if tables == jpegli.JPEGLI else "Pillow", "bytes": len(encoded),
                                  "bpp": 8 * len(encoded) / (width * height)}
        for way, function in WAYS.items():
            out, seconds = _cpu(function, encoded)
            row[way], row[f"{way} s"] = len(out), seconds / base
        rows.append(row)
    return rows


def ways_table(rows: list[dict[str, object]]) -> list[str]:
    lines = ["| encoder | answers | way | bytes vs as encoded | x decode+encode (median) |", "|---|---|---|---|---|"]
    for encoder in ("Pillow", "jpegli"):
        group = [r for r in rows if r["encoder"] == encoder]
        for way in WAYS:
            lines.append(f"| {encoder} | {len(group)} | {way} | "
                         f"{sum(r[way] for r in group) / sum(r['bytes'] for r in group):.4f} | "
                         f"{statistics.median(r[f'{way} s'] for r in group):.2f} |")
    return lines


def band(bpp: float) -> str:
    low = max(edge for edge in BANDS if edge <= bpp)
    following = [edge for edge in BANDS if edge > low]
    return f"{low:.1f}-{following[0]:.1f}" if following else f"{low:.1f} and up"


def _sequential(row: dict[str, object]) -> int:
    """The answer in one sequential scan with optimized tables: Pillow's as encoded, jpegli's recoded."""
    return row["bytes"] if row["encoder"] == "Pillow" else min(row["bytes"], row[SEQUENTIAL])


def _progressive_against_sequential(rows: list[dict[str, object]]) -> tuple[int, int, int]:
    """In how many of `rows` the shipped script is the smaller; the bytes it saves there and adds elsewhere."""
    gains = [_sequential(r) - r[SHIPPED] for r in rows]
    return sum(g > 0 for g in gains), sum(g for g in gains if g > 0), -sum(g for g in gains if g <= 0)


def threshold_table(rows: list[dict[str, object]]) -> list[str]:
    total_seconds = sum(r[f"{SHIPPED} s"] for r in rows)
    lines = ["| bits per pixel | answers | progressive smaller in | bytes it saves where smaller | "
             "bytes it adds where larger | share of the progressive recodes' CPU time |", "|---|---|---|---|---|---|"]
    for name in dict.fromkeys(band(edge) for edge in BANDS):
        group = [r for r in rows if band(r["bpp"]) == name]
        wins, saved, added = _progressive_against_sequential(group)
        lines.append(f"| {name} | {len(group)} | {wins} | {saved:,} | {added:,} | "
                     f"{sum(r[f'{SHIPPED} s'] for r in group) / total_seconds:.1%} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    args = train_arguments(__doc__).parse_args(argv)
    encode.leaner = _recorded  # before the workers fork, so that each runs the recording leaner
    rows, drawn = on_train_draw(args, measure)
    tried = [r for r in rows if r["bytes"] >= encode.PROGRESSIVE_MIN_BYTES]
    small = [r for r in rows if r["bytes"] < encode.PROGRESSIVE_MIN_BYTES]
    wins, saved, added = _progressive_against_sequential(small)
    lines = ["# Recoding the answer: scan scripts, and where progressive scans pay", "",
             f"Command: `python -m bench.recode --pictures {drawn}` ({drawn} train pictures, targets "
             f"{', '.join(map(str, PRESETS))}: {len(rows)} answers). Every answer recoded every way:", "",
             *ways_table(rows), "",
             f"The shipped script against one sequential scan, answers from PROGRESSIVE_MIN_BYTES = "
             f"{encode.PROGRESSIVE_MIN_BYTES} bytes up ({len(tried)}):", "", *threshold_table(tried), "",
             f"Under PROGRESSIVE_MIN_BYTES ({len(small)} answers), where progressive scans are not tried, they would "
             f"have been smaller in {wins}, saving {saved:,} bytes there and adding {added:,} elsewhere.", ""]
    publish("train/recode.md", "\n".join(lines))


if __name__ == "__main__":
    main()
