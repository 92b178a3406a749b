"""Where the verified function's time goes, stage by stage: `python -m bench.stages` (in `make bench`).

On the held-out split, at each target, the function as shipped runs on every picture with each stage timed:
the decode, the features and prediction, preparing and scoring the sample the walk runs on (the mosaic),
preparing and scoring the whole image (each score encodes, decodes and scores one candidate), the final
encode (the answer's lossless recoding, encode.leaner), and the rest. It also counts the whole-image scores per
picture: of all pictures, and of those over search.WHOLE_MAX_PIXELS, where they are confirmations of the mosaic's
answer (at or below it, the walk runs on the whole image, and each of its steps counts).

The floor is the function's time less every whole-image score after the first and less the whole sample
walk: what the same code would cost if the prediction were so good that one whole-image score settled
every picture. Its ratio to one decode + encode (`bench.quality.baseline`) is the least any verifier that
scores the whole image with this SSIMULACRA2 could reach. Stage times are wrapped around the shipped
functions in each worker process (measurement only; nothing the function does is changed). Times are the worker's
CPU time (time.process_time: user and system, page faults included), the baseline's too, so that other work on the
machine inflates them less than a wall clock would.
Writes bench/results/stages.md.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections import Counter
from collections.abc import Callable
from multiprocessing import Pool
from pathlib import Path

from bench import corpus_arguments, publish
from bench.quality import baseline, shipped_model
from handler import core
from handler.core import optimize
from handler.image import decode, encode
from handler.quality import search
from handler.settings import PRESETS, Settings
from training import corpus
from training.label import pictures

STAGES = ("decode", "features + prediction", "sample: prepare", "sample: scores", "whole: prepare",
          "whole: scores", "final encode", "rest")

_clock: Counter[str] = Counter()
_whole_size: list[tuple[int, int]] = [(0, 0)]
"""The size of the picture being run: a Sample of that size is the whole image."""


def _timed(stage: Callable[[tuple], str], function: Callable) -> Callable:
    """`function`, adding its seconds to _clock under the stage `stage(args)` names."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        start = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            _clock[stage(args)] += time.process_time() - start

    return run


def _part(sample: search.Sample) -> str:
    return "whole" if sample.image.size == _whole_size[0] else "sample"


_SHIPPED_MEASURE = search.Sample.measure


def _measure(sample: search.Sample, quality: int, subsampling: str, tables: str) -> tuple[float, bytes]:
    """Sample.measure, timed and counted only where it encodes and scores (a repeat is a cache lookup)."""
    if (quality, subsampling, tables) in sample._tried:
        return _SHIPPED_MEASURE(sample, quality, subsampling, tables)
    part, start = _part(sample), time.process_time()
    try:
        return _SHIPPED_MEASURE(sample, quality, subsampling, tables)
    finally:
        _clock[f"{part}: scores"] += time.process_time() - start
        _clock[f"{part}: count"] += 1


def _instrument() -> None:
    """Wrap the stages in this worker process's copies of the modules."""
    search.Sample.__init__ = _timed(lambda args: f"{_part(args[0])}: prepare", search.Sample.__init__)
    search.Sample.measure = _measure
    decode.decode = _timed(lambda args: "decode", decode.decode)
    encode.leaner = _timed(lambda args: "final encode", encode.leaner)
    core.features = _timed(lambda args: "features + prediction", core.features)
    model_type = type(shipped_model())
    model_type.predict = _timed(lambda args: "features + prediction", model_type.predict)


def cpu_seconds(function: Callable, *args: object) -> float:
    start = time.process_time()
    function(*args)
    return time.process_time() - start


def measure(job: tuple[Path, Path, tuple[int, ...]]) -> list[dict[str, object]]:
    path, corpus_dir, targets = job
    item = corpus.load(path, corpus_dir)
    if item is None:
        return []
    data, rows = path.read_bytes(), []
    base = min(cpu_seconds(baseline, data) for _ in range(3))
    _whole_size[0] = item.pixels.size
    for target in targets:
        _clock.clear()
        start = time.process_time()
        optimize(data, Settings(target=target), shipped_model())
        seconds = time.process_time() - start
        stages = {stage: _clock[stage] for stage in STAGES[:-1]}
        stages["rest"] = seconds - sum(stages.values())
        whole_scores = _clock["whole: count"]
        extra = _clock["whole: scores"] * (1 - 1 / whole_scores) if whole_scores else 0.0
        floor = seconds - extra - stages["sample: prepare"] - stages["sample: scores"]
        rows.append({"target": target, "seconds": seconds, "baseline": base, "whole_scores": whole_scores,
                     "walked_whole": item.pixels.width * item.pixels.height <= search.WHOLE_MAX_PIXELS,
                     "sample_scores": _clock["sample: count"], "floor": floor, **stages})
    return rows


def summary(rows: list[dict[str, object]], target: int) -> list[str]:
    group = [r for r in rows if r["target"] == target]
    total = sum(r["seconds"] for r in group)
    counts = Counter(min(r["whole_scores"], 4) for r in group)
    histogram = ", ".join(f"{'4 or more' if n == 4 else n}: {counts[n]}" for n in sorted(counts))
    confirmed = [r["whole_scores"] for r in group if not r["walked_whole"]]
    return [f"| {target} | {len(group)} | {statistics.median(r['seconds'] / r['baseline'] for r in group):.2f} | "
            + " | ".join(f"{sum(r[stage] for r in group) / total:.0%}" for stage in STAGES)
            + f" | {statistics.mean(r['whole_scores'] for r in group):.2f} ({histogram}) | "
            f"{statistics.mean(confirmed) if confirmed else 0:.2f} ({len(confirmed)}) | "
            f"{statistics.mean(r['sample_scores'] for r in group):.1f} | "
            f"{statistics.median(r['final encode'] / r['baseline'] for r in group):.2f} | "
            f"{statistics.median(r['floor'] / r['baseline'] for r in group):.2f} |"]


def main(argv: list[str] | None = None) -> None:
    parser = corpus_arguments(__doc__)
    parser.add_argument("--targets", type=int, nargs="+", default=list(PRESETS))
    parser.add_argument("--split", choices=("test", "train"), default="test",
                        help="test (the report, bench/results/) or train (for tuning, bench/results/train/)")
    args = parser.parse_args(argv)
    names = pictures(args.split)[: args.limit]
    jobs = [(args.corpus / name, args.corpus, tuple(args.targets)) for name in names]
    with Pool(args.jobs, _instrument) as pool:
        rows = [row for found in pool.imap_unordered(measure, jobs) for row in found]
    command = "`make bench` (`python -m bench.stages`)" if args.split == "test" else (
        f"`python -m bench.stages --split train{f' --limit {args.limit}' if args.limit else ''}`")
    lines = ["# Where the time goes", "",
             (f"Command: {command}, {len(rows) // len(args.targets)} pictures of the {args.split} split, "
              f"{args.jobs} worker processes, CPU time. Stage shares are of the summed time; the ratios to one "
              "decode + encode are medians per picture. Floor: the time less every whole-image score after the "
              "first and less the sample walk (see bench/stages.py)."), "",
             "| target | pictures | x decode+encode | " + " | ".join(STAGES)
             + " | whole-image scores per picture (how many pictures) | the same over 256 x 256, where the walk is "
               "on the mosaic (pictures) | sample scores per picture | final encode, x decode+encode | floor, "
               "x decode+encode |",
             "|---|---|---|" + "---|" * len(STAGES) + "---|---|---|---|---|"]
    for target in args.targets:
        lines += summary(rows, target)
    publish("stages.md" if args.split == "test" else "train/stages.md", "\n".join(lines + [""]))


if __name__ == "__main__":
    main()
