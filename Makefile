# Two commands on a fresh machine with Python 3.11, pip and make: `make serve` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
OUT ?= out
SAMPLE_SECONDS ?= 5

.PHONY: install serve demo services test lint typecheck unit bench lock clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
	$(UV) pip sync --quiet --compile-bytecode --python $(PY) requirements.lock
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	$(PY) -m compileall -q src >/dev/null
	rm -f $(VENV)/.installed-*
	touch $@

# The web service on http://127.0.0.1:8000 (NWBAGENT_HOST/NWBAGENT_PORT), SQLite, local executor, rules
# provider, with the bundled sample recording ready.
serve: install
	$(VENV)/bin/nwbagent serve

# The core pipeline alone, end to end on a synthetic Neuropixels recording.
demo: install
	$(VENV)/bin/nwbagent make-sample spikeglx $(OUT)/sample --seconds $(SAMPLE_SECONDS)
	$(VENV)/bin/nwbagent detect $(OUT)/sample
	$(VENV)/bin/nwbagent convert $(OUT)/sample -o $(OUT)/nwb --metadata examples/metadata.yaml --overwrite

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(VENV)/bin/pytest -q

# PostgreSQL and Redis (store and rate-limit tests) and poppler-utils (PDF reports): installed with apt as
# root and started when absent, skipped when present.
services:
	bash scripts/ensure-services.sh
	bash scripts/ensure-tools.sh

test: services lint typecheck unit

bench: install
	$(PY) bench/detect.py
	$(PY) bench/conversation.py
	$(PY) bench/health.py
	$(PY) bench/write.py

# Re-resolve the lock after changing dependencies in pyproject.toml.
lock:
	$(UV) pip compile pyproject.toml --extra dev -o requirements.lock --python-version 3.11 --universal

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .mypy_cache .ruff_cache
