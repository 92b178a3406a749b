# Lambda packaging for `sam build` (included by the top-level Makefile).
#
# Every function in template.yaml has CodeUri "." and `Metadata: BuildMethod: makefile`. For each one,
# SAM runs `make -f <CodeUri>/Makefile build-<LogicalId>` (the Makefile must sit in CodeUri, i.e. the
# repository root) with ARTIFACTS_DIR set to that function's build folder. The three functions ship the
# same package, so they share one recipe:
#   handler/ (without __pycache__) and models/ (model.joblib, model_card.md) at the package root, next to
#   the runtime dependencies of handler/requirements.txt, as manylinux wheels for CPython 3.12 (LAMBDA_ARCH).
# The libraries' own test suites (numpy's, joblib's) are left out: nothing imports them, and they would take a
# sixth of the package budget.
# samconfig.toml sets build_in_source, so make runs in the work tree instead of a copy of it (which would
# include the virtualenvs).
#
# The SSIMULACRA2 kernel is compiled from handler/quality/native/ssim2.c into the artifact's
# handler/quality/native/_ssim2.so (a copy of a locally built one is replaced). It needs only libc and libm
# (built on Debian 12, symbol versions up to GLIBC_2.29; the runtime has 2.34: `objdump -T` shows them); the
# x86_64 library is plain x86-64 code that picks its AVX2 path at run time. Where the library is missing or does
# not load, the function still runs, on the numpy implementation, logging one "metric-fallback" warning.
# The JPEG recoder is compiled the same way from handler/image/native/recode.c into handler/image/native/_recode.so;
# it needs only libc (symbol versions GLIBC_2.2.5) and takes libjpeg's functions from Pillow's bundled libjpeg-turbo
# at run time (handler/image/recode.py). Without it, answers are published as the search encoded them, larger,
# logging one "recode-fallback" warning.
#
# LAMBDA_ARCH picks the processor the package is for, as the template's Architecture parameter picks the
# functions': x86_64 (default) or arm64 (Graviton), for which pip fetches aarch64 wheels and the native code is
# cross-compiled (NATIVE_CC, aarch64-linux-gnu-gcc by default on an x86_64 host: Debian's gcc-aarch64-linux-gnu).
# SAM passes make nothing but ARTIFACTS_DIR, so both are said, once each:
#   LAMBDA_ARCH=arm64 sam build && sam deploy --parameter-overrides Architecture=arm64 ...

LAMBDA_FUNCTIONS := OptimizeFunction ApiFunction BatchFunction
LAMBDA_ARCH ?= x86_64
WHEEL_ARCH := $(if $(filter arm64,$(LAMBDA_ARCH)),aarch64,x86_64)
NATIVE_CC ?= $(if $(filter $(WHEEL_ARCH),$(shell uname -m)),cc,$(WHEEL_ARCH)-linux-gnu-gcc)
# pip only fetches wheels built for the target platform and Python (LAMBDA_PIP_TARGET), so any Python 3 runs it,
# with --no-compile: byte code is written afterwards by a Python 3.12 only (the runtime's; scripts/python312.sh
# finds one that really runs, past pyenv shims of versions not selected), so the package never carries .pyc
# files of another version. Without a Python 3.12 it ships none, and says so: the runtime then compiles each
# module at every cold start (its /var/task is read-only).
LAMBDA_PYTHON ?= $(shell scripts/python312.sh)
PIP_PYTHON ?= $(or $(LAMBDA_PYTHON),python3)
# The python3.12 runtime runs on Amazon Linux 2023 (glibc 2.34). Pillow 13 publishes only manylinux_2_28
# wheels (no manylinux2014 ones), and pip does not widen one manylinux tag to the other, so both are listed:
# pip then takes the wheel that matches either.
LAMBDA_PIP_TARGET := --platform manylinux2014_$(WHEEL_ARCH) --platform manylinux_2_28_$(WHEEL_ARCH) \
	--python-version 3.12 --implementation cp --only-binary=:all:

.PHONY: $(addprefix build-,$(LAMBDA_FUNCTIONS))
$(addprefix build-,$(LAMBDA_FUNCTIONS)):
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set: run this target through 'sam build'" >&2; exit 2; }
	@test -f models/model.joblib || { echo "models/model.joblib is missing: the package needs the model" >&2; exit 2; }
	mkdir -p "$(ARTIFACTS_DIR)"
	cp -R handler models "$(ARTIFACTS_DIR)/"
	find "$(ARTIFACTS_DIR)/handler" "$(ARTIFACTS_DIR)/models" -name __pycache__ -type d -prune -exec rm -rf {} +
	rm -f "$(ARTIFACTS_DIR)/$(NATIVE_LIB)" "$(ARTIFACTS_DIR)/$(RECODE_LIB)"
	$(NATIVE_CC) $(NATIVE_CFLAGS) -shared -fPIC -o "$(ARTIFACTS_DIR)/$(NATIVE_LIB)" $(NATIVE_DIR)/ssim2.c -lm
	$(NATIVE_CC) $(NATIVE_CFLAGS) -shared -fPIC -o "$(ARTIFACTS_DIR)/$(RECODE_LIB)" $(RECODE_DIR)/recode.c
	$(PIP_PYTHON) -m pip install --quiet --disable-pip-version-check --no-compile \
		--target "$(ARTIFACTS_DIR)" -r handler/requirements.txt $(LAMBDA_PIP_TARGET)
	find "$(ARTIFACTS_DIR)/numpy" -type d -name tests -prune -exec rm -rf {} +
	rm -rf "$(ARTIFACTS_DIR)/joblib/test"
	@if [ -n "$(LAMBDA_PYTHON)" ]; then \
		$(LAMBDA_PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash "$(ARTIFACTS_DIR)"; \
	else echo "build.mk: no Python 3.12 found (scripts/python312.sh): the package ships no byte code" >&2; fi
