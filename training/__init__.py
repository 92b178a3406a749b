"""Labelling and training: run from the repo root with the dev virtualenv (see the Makefile)."""

# Work is spread over processes, one image each; BLAS threads inside them would only fight for the
# same cores (measured: matrix products up to 6x slower on a busy 2-core machine). Importing handler
# first sets one thread per process before numpy loads (handler/__init__.py).
import handler  # noqa: F401
