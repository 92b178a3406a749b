# optimal-image: every command a user or CI runs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
STAMP := $(VENV)/.installed
SAM_STAMP := $(SAM_VENV)/.installed
ENC_VENV := .venv-enc
ENC_STAMP := $(ENC_VENV)/.installed
CORPUS ?= ../shared/corpus
# The native code, built from source, never committed: the SSIMULACRA2 kernel (handler/quality/native/; plain -O2,
# no -march: the AVX2+FMA path is chosen at run time, ssim2.h) and the JPEG recoder (handler/image/native/, compiled
# against the libjpeg API headers in its libjpeg/ folder; it calls Pillow's libjpeg at run time).
NATIVE_DIR := handler/quality/native
NATIVE_LIB := $(NATIVE_DIR)/_ssim2.so
NATIVE_SRC := $(NATIVE_DIR)/ssim2.c $(NATIVE_DIR)/ssim2_kernels.h $(NATIVE_DIR)/ssim2.h
RECODE_DIR := handler/image/native
RECODE_LIB := $(RECODE_DIR)/_recode.so
RECODE_SRC := $(RECODE_DIR)/recode.c $(wildcard $(RECODE_DIR)/libjpeg/*.h)
CC ?= cc
PEER_BIN := build/peers/bin/jpeg-recompress
NATIVE_CFLAGS ?= -O2 -Wall -Wextra -std=gnu11

.PHONY: help venv native run test test-fast lint model label bench tune load fuzz peers clean

help:
	@echo "make native       build the SSIMULACRA2 kernel and the JPEG recoder, $(NATIVE_LIB) and $(RECODE_LIB) (the targets that run the function do it first)"
	@echo "make run          the main job, locally: moto S3 server, both buckets, sample uploads, the handler"
	@echo "make test         lint, then every test (unit, integration over HTTP, template validation): what CI runs"
	@echo "make test-fast    the tests that need no S3 server, subprocess or worker processes (under a minute)"
	@echo "make lint         ruff: pyflakes, style, import order, bugbear, complexity cap (pyproject.toml)"
	@echo "make model        relabel (resumable) and retrain models/ from $(CORPUS)"
	@echo "make bench        runtime, --jobs scaling, SSIMULACRA2 agreement, quality/size/speed, where the time goes, photos over 25 MP, oracle scan, rounds, AVIF/WebP variants, jpeg-recompress side by side (where make peers built it)"
	@echo "make tune         quantisation tables, the verifier's sample variants, the recoder's scan script, the encoder chosen per picture, JPEG encoders on the train split (bench/results/train/)"
	@echo "make load         1,000 uploads through the local harness (bench/results/load.md)"
	@echo "make peers        build jpeg-recompress from source (scripts/build_peers.sh) and compare it with the function (bench/results/peers.md)"
	@echo "make fuzz         20,000 mutated JPEG/PNG/GIF/TIFF/WebP/BMP/ICO/TGA/MPO/AVIF/HEIC inputs through the core (bench/results/fuzz.md)"

$(STAMP): requirements-dev.txt handler/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

# The candidate encoders bench/encoders.py compares (`make tune`): a venv of its own, never the function's.
$(ENC_STAMP): requirements-enc.txt requirements-dev.txt handler/requirements.txt
	$(PYTHON) -m venv $(ENC_VENV)
	$(ENC_VENV)/bin/pip install -q --upgrade pip
	$(ENC_VENV)/bin/pip install -q -r requirements-enc.txt
	touch $@

$(SAM_STAMP): requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install -q --upgrade pip
	$(SAM_VENV)/bin/pip install -q -r requirements-sam.txt
	touch $@

venv: $(STAMP) $(SAM_STAMP)

native: $(NATIVE_LIB) $(RECODE_LIB)

$(NATIVE_LIB): $(NATIVE_SRC)
	$(CC) $(NATIVE_CFLAGS) -shared -fPIC -o $@ $(NATIVE_DIR)/ssim2.c -lm

$(RECODE_LIB): $(RECODE_SRC)
	$(CC) $(NATIVE_CFLAGS) -shared -fPIC -o $@ $(RECODE_DIR)/recode.c

run: $(STAMP) native
	$(PY) scripts/local_run.py

test: lint $(SAM_STAMP) native
	$(PY) -m pytest -q

test-fast: $(STAMP) native
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .

label: $(STAMP)
	$(PY) -m training.measure --corpus $(CORPUS)
	$(PY) -m training.label --corpus $(CORPUS)

model: label
	$(PY) -m training.train

bench: $(STAMP) native
	$(PY) -m bench.runtime
	$(PY) -m bench.scaling --corpus $(CORPUS)
	$(PY) -m bench.ssim2_agreement --corpus $(CORPUS)
	$(PY) -m bench.quality --corpus $(CORPUS)
	$(PY) -m bench.stages --corpus $(CORPUS)
	$(PY) -m bench.check_cost
	$(PY) -m bench.large --corpus $(CORPUS)
	$(PY) -m bench.oracle_scan --corpus $(CORPUS)
	$(PY) -m bench.rounds --corpus $(CORPUS)
	$(PY) -m bench.formats --corpus $(CORPUS)
	$(PY) -m bench.encoder_choice --corpus $(CORPUS) --split test --pictures 94
	$(PY) -m bench.peers --corpus $(CORPUS) --peer $(PEER_BIN)

tune: $(STAMP) $(ENC_STAMP) native
	$(PY) -m bench.tables --corpus $(CORPUS)
	$(PY) -m bench.sample_tuning --corpus $(CORPUS)
	$(ENC_VENV)/bin/python -m bench.recode --corpus $(CORPUS)
	$(PY) -m bench.encoder_choice --corpus $(CORPUS) --pictures 40
	$(ENC_VENV)/bin/python -m bench.encoders --corpus $(CORPUS) --pictures 40

load: $(STAMP) native
	$(PY) -m bench.load

fuzz: $(STAMP) native
	$(PY) -m bench.fuzz --examples 20000 --seed 0

# A benchmark peer, built from source into build/peers/ (gitignored); never part of the function or its package.
$(PEER_BIN): scripts/build_peers.sh
	scripts/build_peers.sh

peers: $(STAMP) native $(PEER_BIN)
	$(PY) -m bench.peers --corpus $(CORPUS) --peer $(PEER_BIN)

clean:
	rm -rf $(VENV) $(SAM_VENV) $(ENC_VENV) .aws-sam .pytest_cache $(NATIVE_LIB) $(RECODE_LIB)

-include build.mk
