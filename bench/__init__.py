"""Benchmarks: `make bench`. Results land in bench/results/."""

import os

# As in training/: one image per process, so BLAS threads would only fight for the same cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def publish(name: str, text: str) -> None:
    """Write one benchmark's markdown into bench/results/ and print it."""
    from pathlib import Path

    results = Path(__file__).resolve().parent / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / name).write_text(text)
    print(text)
