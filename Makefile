# Guardian: `make demo` and `make test` set everything up on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean system-deps

# The virtual environment is (re)built only when pyproject.toml changes. --no-compile:
# no bytecode for the ~13,000 modules installed; Python writes it for those imported.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing Guardian and its dependencies into $(VENV) (first time: a few minutes)…"
	@$(BIN)/python -m pip install --disable-pip-version-check --no-compile -e '.[dev]' > $(VENV)/pip.log 2>&1 \
		|| { tail -40 $(VENV)/pip.log; echo "pip install failed: see $(VENV)/pip.log"; exit 1; }
	@$(BIN)/python -c "import torch, torchvision, onnxruntime, guardian" \
		|| { echo "the environment in $(VENV) is broken: run 'make clean' and try again"; exit 1; }
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/guardian demo

lint: $(STAMP)
	$(BIN)/ruff check guardian tests bench
	$(BIN)/ruff format --check guardian tests bench
	$(BIN)/mypy

# Chromium, ChromeDriver and ffprobe for the review-page and clip tests (apt-get, once).
system-deps:
	@scripts/system-deps

test: lint system-deps
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/pipeline.py

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
