# The project's two commands: `make run` and `make test`. Both build .venv from the pins when missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1

.PHONY: run test lint serve viz clean-venv

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/kedro run

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

serve: $(STAMP)
	$(BIN)/uvicorn ml_lifecycle.serving.app:create_app --factory --host 127.0.0.1 --port $${PORT:-8000}

viz: $(STAMP)
	$(BIN)/kedro viz build --include-previews

clean-venv:
	rm -rf $(VENV)
