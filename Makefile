# Cutout's commands. `make run` and `make test` install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MODEL ?= u2netp
MODEL_FILE := layers/model/build/models/$(MODEL).onnx
HOST ?= 127.0.0.1
PORT ?= 8000
DATASET ?= ../shared/eval/grabcut
PYTEST_ARGS ?=

.PHONY: install model run test eval clean
install: $(STAMP) node_modules/.bin/dynalite $(MODEL_FILE)

$(STAMP): requirements-dev.txt layers/deps/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

node_modules/.bin/dynalite: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

model: $(MODEL_FILE)
$(MODEL_FILE): layers/model/fetch_model.py layers/cutout/python/cutout/models.json
	$(MAKE) -C layers/model MODEL=$(MODEL) PYTHON=$(PYTHON)

run: install
	CUTOUT_ALLOW_ANONYMOUS=$${CUTOUT_ALLOW_ANONYMOUS:-1} HOST=$(HOST) PORT=$(PORT) $(BIN)/cutout serve

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

eval: install
	$(BIN)/cutout eval $(DATASET)

clean:
	rm -rf $(VENV) node_modules .cutout .pytest_cache
	$(MAKE) -C layers/model clean
