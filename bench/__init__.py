"""Benchmarks: `make bench`. Results land in bench/results/."""

import os

# As in training/: one image per process, so BLAS threads would only fight for the same cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
