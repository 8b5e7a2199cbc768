# The project's two commands: `make run` and `make test`. Both build .venv from the pins when missing.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export KEDRO_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1

.PHONY: run test lint serve retrain demo-loop promote rollback viz clean-venv

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/kedro run

test: $(STAMP)
	scripts/ensure-chromium
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

# make serve [HOST=0.0.0.0] [PORT=8080]: defaults serving.host / serving.port; off loopback it needs a service token (docs/serving.md).
serve: $(STAMP)
	$(BIN)/python -m ml_lifecycle.serving $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

# Champion-challenger retraining on the labelled rows monitoring saw (docs/monitoring.md); run monitoring first.
retrain: $(STAMP)
	$(BIN)/kedro run --pipeline=retraining

# The closed loop on the simulation, step by step (docs/monitoring.md): drift -> retrain -> shadow -> promote -> fault -> rollback.
demo-loop: $(STAMP)
	$(BIN)/python -m ml_lifecycle.loop_demo

# make promote VERSION=v3 REASON="why" [FORCE=1] (the release gate decides unless FORCE) / make rollback [VERSION=v1] [REASON="why"]
promote: $(STAMP)
	$(BIN)/kedro champion promote $(VERSION) --reason "$(REASON)" $(if $(FORCE),--force)

rollback: $(STAMP)
	$(BIN)/kedro champion rollback $(if $(VERSION),--to $(VERSION)) --reason "$(or $(REASON),rollback)"

viz: $(STAMP)
	$(BIN)/kedro viz build --include-previews

clean-venv:
	rm -rf $(VENV)
