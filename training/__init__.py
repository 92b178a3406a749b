"""Labelling and training: run from the repo root with the dev virtualenv (see the Makefile)."""
