"""Labelling and training: run from the repo root with the dev virtualenv (see the Makefile)."""

import os

# Work is spread over processes, one image each; BLAS threads inside them would only fight for the
# same cores (measured: matrix products up to 6x slower on a busy 2-core machine). Set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
