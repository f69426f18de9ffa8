# Guardian: `make demo` and `make test` set everything up on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean

# The virtual environment is (re)built only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing Guardian and its dependencies into $(VENV) (first time: a few minutes)…"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 \
		| grep -v "is ignored: it is neither a file nor a directory" || true
	@$(BIN)/python -c "import guardian, ultralytics, torchvision" 
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/guardian demo

lint: $(STAMP)
	$(BIN)/ruff check guardian tests bench
	$(BIN)/ruff format --check guardian tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/pipeline.py

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache
