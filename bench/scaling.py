"""Does the command line scale with its workers? `python -m bench.scaling` (part of `make bench`).

The command line (`python -m handler optimize`) recompresses the same held-out pictures at target 80 once with one
worker and once with one per core (`--jobs`, its default), each in a fresh process writing to an empty directory,
three times each; the figure is the ratio of the fastest wall-clock times (throughput with N workers over
throughput with one). Each worker runs one compute thread (handler/__init__.py), so N workers on N cores should
come close to N times one. Run it on an otherwise idle machine: other work on the cores lowers the ratio. Writes
bench/results/scaling.md.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import handler
from bench import corpus_arguments, publish
from training.label import pictures

RUNS = 3


def wall_seconds(inputs: list[Path], jobs: int) -> float:
    """The fastest of RUNS runs of the command line over `inputs` with `jobs` workers."""
    times = []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as out:
            command = [sys.executable, "-m", "handler", "optimize", *map(str, inputs), "--out", out,
                       "--target", "80", "--jobs", str(jobs)]
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = corpus_arguments(__doc__)
    parser.set_defaults(limit=40)
    args = parser.parse_args(argv)
    inputs = [args.corpus / name for name in pictures("test")][: args.limit]
    cores = handler.cores()
    one, many = wall_seconds(inputs, 1), wall_seconds(inputs, cores)
    lines = ["# Command-line throughput by workers", "",
             f"Command: `python -m bench.scaling --limit {args.limit}`: the first {len(inputs)} held-out pictures at "
             f"target 80, fastest of {RUNS} runs each, wall clock, on {cores} cores.", "",
             "| workers | seconds | pictures per second | throughput vs 1 worker |", "|---|---|---|---|",
             f"| 1 | {one:.2f} | {len(inputs) / one:.2f} | 1.00x |",
             f"| {cores} | {many:.2f} | {len(inputs) / many:.2f} | {one / many:.2f}x |", ""]
    publish("scaling.md", "\n".join(lines))


if __name__ == "__main__":
    main()
